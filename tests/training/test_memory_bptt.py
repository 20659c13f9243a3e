"""Memory-bounded BPTT gives full BPTT's loss, gradients, final state and random stream."""

import numpy as np
import pytest

from rnnkit.bench.memory_bptt import peak_bytes
from rnnkit.cells import CELL_NAMES
from rnnkit.config import ModelConfig
from rnnkit.errors import ConfigError, ShapeError
from rnnkit.layers.recurrent import Recurrent, RecurrentConfig
from rnnkit.models.model import Model
from rnnkit.training.bptt import full_bptt
from rnnkit.training.memory_bptt import _Recomputing, checkpointed_bptt, segment_length
from tests.conftest import assert_equal_to_rounding

V, B, T = 5, 3, 23
# sequential roundings in a forward: T steps, each summing the widest input of a layer (the
# 2·H outputs of a bidirectional layer below) and the H recurrent inputs
FORWARD_OPERATIONS = T * (2 * 4 + 4)
LAYOUTS = {
    "one layer": (1, False),
    "stacked": (2, False),
    "bidirectional": (1, True),
    "stacked bidirectional": (2, True),
}


def _model(
    cell: str,
    layers: int = 1,
    bidirectional: bool = False,
    *,
    readout="every_step",
    dtype="float64",
    **rnn,
) -> Model:
    config = ModelConfig.for_tokens(
        V, cell=cell, hidden_size=4, num_layers=layers, bidirectional=bidirectional, **rnn
    )
    return Model(config.replace(dtype=dtype, readout=readout), rng=np.random.default_rng(0))


def _batch(readout: str, seed: int = 1):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, V, (B, T))
    return x, rng.integers(0, V, (B, T) if readout == "every_step" else (B,))


def _assert_same_step(full, ck):
    assert ck.loss == pytest.approx(full.loss, rel=1e-14, abs=1e-15)
    assert ck.count == full.count
    for name, g in full.grads.items():  # only the sums over time are split by segment
        scale = max(np.max(np.abs(g)), 1e-300)
        assert np.max(np.abs(ck.grads[name] - g)) <= 1e-12 * scale, name
    full_state = full.state if isinstance(full.state, tuple) else (full.state,)
    ck_state = ck.state if isinstance(ck.state, tuple) else (ck.state,)
    for a, b in zip(full_state, ck_state, strict=True):
        # the same arithmetic step for step, but a layer's input product is made per segment
        # ([k·B, I]) instead of once ([T·B, I]): BLAS may block the two shapes differently
        assert_equal_to_rounding(b, a, operations=FORWARD_OPERATIONS, err_msg="final state")


# a Jordan model feeds back its one output, so it has no bidirectional form (a ConfigError)
MODELS = [
    (cell, layout)
    for cell in CELL_NAMES
    for layout in LAYOUTS
    if not (cell == "jordan" and LAYOUTS[layout][1])
]


@pytest.mark.parametrize(("cell", "layout"), MODELS)
@pytest.mark.parametrize("readout", ["every_step", "last_step"])
def test_checkpointed_bptt_equals_full_bptt_with_variable_lengths(cell, layout, readout):
    model = _model(cell, *LAYOUTS[layout], readout=readout)
    x, y = _batch(readout)
    lengths = np.array([T, 7, 15])
    full = full_bptt(model, x, y, lengths=lengths)
    _assert_same_step(full, checkpointed_bptt(model, x, y, lengths=lengths, segment=5))


@pytest.mark.parametrize("segment", [1, 2, 5, T - 1, T, None])
@pytest.mark.parametrize("layout", ["stacked", "bidirectional"])
def test_every_segment_length_gives_full_bptt(segment, layout):
    model = _model("lstm", *LAYOUTS[layout])
    x, y = _batch("every_step")
    mask = np.ones((B, T), int)
    mask[1, 4:] = 0
    _assert_same_step(
        full_bptt(model, x, y, mask=mask),
        checkpointed_bptt(model, x, y, mask=mask, segment=segment),
    )


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
@pytest.mark.parametrize("readout", ["every_step", "last_step"])
def test_vector_inputs_with_a_carried_state_give_full_bptt(loss, readout):
    config = ModelConfig(
        rnn=RecurrentConfig(cell="gru", input_size=3, hidden_size=4),
        output_size=2,
        loss=loss,
        readout=readout,
        dtype="float64",
    )
    model = Model(config, rng=np.random.default_rng(0))
    rng = np.random.default_rng(2)
    x, state = rng.standard_normal((B, T, 3)), rng.standard_normal((1, B, 4))
    lead = (B, T) if readout == "every_step" else (B,)
    y = rng.standard_normal(lead + (2,)) if loss == "mse" else rng.integers(0, 2, lead)
    _assert_same_step(
        full_bptt(model, x, y, state=state), checkpointed_bptt(model, x, y, state=state, segment=4)
    )


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("cell", ["lstm", "gru", "elman"])
def test_dropout_masks_are_full_bptts_and_the_generator_ends_in_the_same_state(cell, layout):
    model = _model(cell, *LAYOUTS[layout], dropout=0.3, recurrent_dropout=0.4)
    x, y = _batch("every_step")
    rng_full, rng_ck = np.random.default_rng(9), np.random.default_rng(9)
    full = full_bptt(model, x, y, rng=rng_full)
    _assert_same_step(full, checkpointed_bptt(model, x, y, rng=rng_ck, segment=4))
    assert rng_full.bit_generator.state == rng_ck.bit_generator.state


def test_dropout_with_a_generator_that_cannot_jump_is_skipped_by_drawing():
    model = _model("gru", 3, dropout=0.5)
    x, y = _batch("every_step")
    rng_full = np.random.Generator(np.random.MT19937(3))
    rng_ck = np.random.Generator(np.random.MT19937(3))
    _assert_same_step(
        full_bptt(model, x, y, rng=rng_full), checkpointed_bptt(model, x, y, rng=rng_ck, segment=6)
    )
    assert np.array_equal(rng_full.random(8), rng_ck.random(8))  # the same place in the stream


@pytest.mark.parametrize("backend", ["reference", "fast"])
@pytest.mark.parametrize("cell", CELL_NAMES)
def test_recomputing_time_loop_gives_the_same_bits_for_inputs_and_initial_state(cell, backend):
    config = RecurrentConfig(
        cell=cell, input_size=3, hidden_size=4, num_layers=2, bidirectional=True
    )
    layer = Recurrent(config, rng=np.random.default_rng(0), dtype=np.float64, backend=backend)
    rng = np.random.default_rng(1)
    x, d_out = rng.standard_normal((T, B, 3)), rng.standard_normal((T, B, layer.output_size))
    lengths = np.array([T, 9, 1])
    out, final, cache = layer.forward(x, lengths=lengths)
    dx, ds0, grads = layer.backward(cache, d_out)
    layer.impl = _Recomputing(layer.impl, 4)
    out2, final2, cache2 = layer.forward(x, lengths=lengths)
    dx2, ds02, grads2 = layer.backward(cache2, d_out)
    # per-segment input products ([k·B, I] against [T·B, I]): equal to rounding, not to the bit
    assert_equal_to_rounding(out2, out, operations=FORWARD_OPERATIONS, err_msg="outputs")
    assert_equal_to_rounding(dx2, dx, operations=2 * FORWARD_OPERATIONS, err_msg="dx")
    for a, b in zip(
        np.atleast_1d(ds0) if not isinstance(ds0, tuple) else ds0,
        np.atleast_1d(ds02) if not isinstance(ds02, tuple) else ds02,
    ):
        assert_equal_to_rounding(b, a, operations=2 * FORWARD_OPERATIONS, err_msg="dstate0")
    for name, g in grads.items():
        np.testing.assert_allclose(grads2[name], g, rtol=1e-12, atol=1e-14, err_msg=name)


def test_float32_fast_kernels_give_full_bptts_forward_bits_and_gradients_to_rounding():
    model = _model("lstm", dtype="float32")
    x, y = _batch("every_step")
    full, ck = full_bptt(model, x, y), checkpointed_bptt(model, x, y, segment=5)
    for a, b in zip(full.state, ck.state, strict=True):
        # one layer on token ids has no input product: both sides make the same [B, H] × [H, G]
        # recurrent product every step, so the forward is the same calls on the same shapes
        assert np.array_equal(a, b)
    for name, g in full.grads.items():  # float32 sums split in two orders
        np.testing.assert_allclose(ck.grads[name], g, rtol=1e-5, atol=1e-7, err_msg=name)


@pytest.mark.parametrize(("T_", "k"), [(1, 1), (2, 2), (1000, 32), (10_000, 100), (100_000, 317)])
def test_default_segment_is_the_ceiling_of_the_square_root(T_, k):
    assert segment_length(T_) == k


def test_a_budget_picks_the_longest_segment_that_fits():
    # memory(k) = ⌈100/k⌉ · 10 + k · 4 bytes
    assert segment_length(100, budget_bytes=200, step_bytes=4, state_bytes=10) == 42
    assert segment_length(100, budget_bytes=10**9, step_bytes=4, state_bytes=10) == 100


def test_a_budget_too_small_names_the_least_that_works():
    with pytest.raises(ConfigError, match=r"least .* 128 bytes \(segments of 17 steps\)"):
        segment_length(100, budget_bytes=100, step_bytes=4, state_bytes=10)


def test_segment_and_budget_together_are_refused():
    with pytest.raises(ConfigError, match="not both"):
        segment_length(10, segment=2, budget_bytes=100)


def test_checkpointed_bptt_with_a_budget_gives_full_bptt():
    model = _model("gru", 2)
    x, y = _batch("every_step")
    _assert_same_step(full_bptt(model, x, y), checkpointed_bptt(model, x, y, budget_bytes=20_000))


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        (np.zeros((B, T - 1), int), r"targets must have shape \[3, 23\]"),
        (np.full((B, T), V), r"targets\[0, 0\] = 5 is not a class id in \[0, 5\)"),
        (np.zeros((B, T)), "integer class ids"),
    ],
)
def test_bad_targets_are_refused_with_their_shape_or_position(targets, message):
    x, _ = _batch("every_step")
    with pytest.raises(ShapeError, match=message):
        checkpointed_bptt(_model("elman"), x, targets)


def test_a_mask_of_the_wrong_shape_is_refused():
    x, y = _batch("every_step")
    with pytest.raises(ShapeError, match=r"mask must have shape \[B, T\]"):
        checkpointed_bptt(_model("elman"), x, y, mask=np.ones((T, B)))


def test_peak_memory_grows_with_the_square_root_of_the_length_not_the_length():
    config = ModelConfig.for_tokens(8, cell="lstm", hidden_size=16)
    model = Model(config, rng=np.random.default_rng(0))
    ids = np.random.default_rng(1).integers(0, 8, (2, 401))
    x, y = ids[:, :-1], ids[:, 1:]
    full = peak_bytes(lambda: full_bptt(model, x, y))
    ck = peak_bytes(lambda: checkpointed_bptt(model, x, y))
    assert ck < full / 5


def test_the_benchmark_command_prints_a_row_per_length(capsys):
    from rnnkit.bench.memory_bptt import main

    assert main(["--T", "9", "16", "--batch", "2", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "| 9 | 2 | 3 |" in out and "| 16 | 2 | 4 |" in out
