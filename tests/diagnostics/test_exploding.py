"""The exploding-gradient set-up: without clipping the loss spikes or overflows; with it, not."""

import math

import numpy as np
import pytest

from rnnkit.diagnostics.exploding import SPIKE_FACTOR, ExplodingSetup, build, compare, table

# small and fast; still η · 2H = 3.2 > 2, so once the units saturate the readout overshoots
FAST = ExplodingSetup(hidden_size=16, seq_len=50, lr=0.1, steps=20)


@pytest.fixture(scope="module")
def fast_runs():
    return compare(FAST)


def test_the_set_up_has_the_requested_spectral_radius():
    W = build(FAST).params["rnn.weight_hh_l0"]
    assert np.abs(np.linalg.eigvals(W)).max() == pytest.approx(FAST.radius, rel=1e-6)


def test_the_gradient_grows_going_back_in_time_at_initialisation(fast_runs):
    assert all(run.initial_rate > 0 for run in fast_runs)
    assert fast_runs[0].grad_norms[0] > 1e3 * FAST.clip


def test_without_clipping_the_loss_overflows_or_spikes(fast_runs):
    unclipped = fast_runs[0]
    assert unclipped.clip == 0
    assert unclipped.outcome in ("non-finite", "spiking")
    assert unclipped.nonfinite_steps or unclipped.max_loss > SPIKE_FACTOR * unclipped.losses[0]


def test_with_clipping_every_loss_is_finite_and_no_step_moves_the_weights_more_than_lr_times_c(
    fast_runs,
):
    clipped = fast_runs[1]
    assert clipped.clip == FAST.clip and clipped.outcome == "stable"
    assert np.all(np.isfinite(clipped.losses))
    # each SGD step moves θ by η · min(‖g‖, c) ≤ η c; n steps by at most n η c in all
    assert clipped.displacement <= FAST.steps * FAST.lr * FAST.clip
    assert fast_runs[0].displacement > 1e3 * FAST.steps * FAST.lr * FAST.clip or math.isnan(
        fast_runs[0].displacement
    )


def test_both_runs_start_from_the_same_weights_and_batches(fast_runs):
    assert fast_runs[0].losses[0] == fast_runs[1].losses[0]
    assert fast_runs[0].grad_norms[0] == fast_runs[1].grad_norms[0]


def test_the_table_has_one_row_per_run_with_its_outcome(fast_runs):
    text = table(fast_runs, FAST)
    lines = text.splitlines()
    assert "spectral radius 3" in lines[0]
    assert lines[-2].split()[0] == "none" and lines[-2].split()[-1] == fast_runs[0].outcome
    assert lines[-1].split()[:2] == ["norm", "1"] and lines[-1].split()[-1] == "stable"


@pytest.mark.slow
def test_the_default_set_up_spikes_without_clipping_and_is_stable_with_it():
    unclipped, clipped = compare(ExplodingSetup())
    assert unclipped.outcome in ("non-finite", "spiking")
    assert clipped.outcome == "stable"


@pytest.mark.parametrize(
    "change, named",
    [
        ({"steps": 0}, "steps >= 1"),
        ({"hidden_size": 0}, "hidden_size >= 1"),
        ({"seq_len": 1}, "seq_len >= 2"),
        ({"lr": math.nan}, "lr > 0"),
        ({"clip": 0.0}, "clip > 0"),
        ({"radius": -1.0}, "radius > 0"),
    ],
)
def test_a_set_up_that_cannot_run_is_refused_naming_the_value(change, named):
    from rnnkit.errors import ConfigError

    with pytest.raises(ConfigError, match=named):
        ExplodingSetup(**change)
