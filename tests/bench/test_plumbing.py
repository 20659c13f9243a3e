"""The benchmark's plumbing at tiny sizes: timing loop, floor, steps, tables, JSON, command."""

import argparse
import json

import numpy as np
import pytest

from rnnkit.bench import configs, report, run, steps, system
from rnnkit.bench.floor import floor_step
from rnnkit.bench.timing import interleaved


class FakeClock:
    """A clock that advances only when a timed function says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_interleaved_rotates_the_order_and_waits_before_every_timed_call():
    clock, calls, sleeps = FakeClock(), [], []

    def fn(name, cost):
        def call():
            calls.append(name)
            clock.now += cost

        return call

    times = interleaved(
        {"a": fn("a", 1.0), "b": fn("b", 3.0)},
        reps=3,
        gap=0.5,
        warmup=1,
        clock=clock,
        sleep=sleeps.append,
    )
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]  # warm-up, then rotated rounds
    assert sleeps == [0.5] * 6
    assert times["a"].median == 1.0 and times["b"].max == 3.0 and times["b"].n == 3


def test_interleaved_divides_by_the_calls_per_repetition():
    clock = FakeClock()

    def call():
        clock.now += 10.0

    times = interleaved({"x": call}, reps=1, gap=0, per=5, clock=clock, sleep=lambda s: None)
    assert times["x"].median == 2.0


@pytest.mark.parametrize("cell", configs.CELLS)
@pytest.mark.parametrize("name", list(configs.CONFIGS))
def test_floor_and_rnnkit_step_run_at_quick_sizes(name, cell):
    c = configs.quick(configs.CONFIGS[name])
    rng = np.random.default_rng(0)
    floor_step(cell, c, rng)()
    steps.training_step(cell, c, rng)()


def test_a_training_step_changes_every_parameter():
    step = steps.training_step(
        "lstm", configs.quick(configs.CONFIGS["A"]), np.random.default_rng(0)
    )
    before = step.model.state_dict()
    step()
    assert all(not np.array_equal(before[n], w) for n, w in step.model.params.items())


def quick_results(sections, peers=()) -> dict:
    options = run.Options(
        configs=("B",),
        cells=("gru",),
        peers=tuple(peers),
        sections=tuple(sections),
        reps=1,
        gap=0.0,
        quick=True,
    )
    return run.run(options)


def test_report_has_ratios_to_the_floor_and_a_json_round_trip():
    results = quick_results(["train", "stream", "infer", "memory"])
    text = report.text(results)
    assert "training step, ms" in text and "ours/floor" in text and "BLAS:" in text
    row = results["train"][0]
    assert set(row["times"]) == {"rnnkit", "floor"}
    data = json.loads(report.to_json(results))
    assert data["train"][0]["times"]["rnnkit"]["n"] == 1
    assert data["memory"][0]["bytes"]["rnnkit"] > 0


def test_a_missing_peer_is_skipped_with_a_note(monkeypatch):
    def missing(name):
        raise ImportError(f"No module named {name!r}")

    monkeypatch.setattr(run, "_peer", missing)
    results = quick_results(["train"], peers=("torch", "jax"))
    assert set(results["train"][0]["times"]) == {"rnnkit", "floor"}
    assert any(n.startswith("torch skipped") for n in results["notes"])
    assert "note: jax skipped" in report.text(results)


@pytest.mark.slow  # torch's threads take seconds to settle on a busy 2-core host
@pytest.mark.torch
def test_torch_peer_joins_the_table():
    pytest.importorskip("torch")
    results = quick_results(["train"], peers=("torch",))
    assert "torch" in results["train"][0]["times"]
    assert "(torch)" in report.text(results)


def test_machine_reports_the_blas_variables_without_changing_them(monkeypatch):
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "1234")
    info = system.machine()
    assert info["env"]["OPENBLAS_L2_SIZE"] == "1234"
    assert info["cores"] >= 1


def test_command_options_reject_unknown_names():
    from rnnkit.cli import bench

    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(["--configs", "A,B", "--cells", "gru", "--quick"])
    assert args.configs == ("A", "B") and args.cells == ("gru",) and args.quick
    with pytest.raises(SystemExit):
        parser.parse_args(["--configs", "Z"])


def test_command_prints_the_table_and_writes_json(tmp_path, capsys):
    from rnnkit.cli import bench

    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    out = tmp_path / "bench.json"
    args = parser.parse_args(
        [
            "--quick",
            "--configs",
            "B",
            "--cells",
            "elman",
            "--peers",
            "onnx",
            "--sections",
            "train",
            "--json",
            str(out),
        ]
    )
    assert bench.run(args) == 0
    assert "training step" in capsys.readouterr().out
    assert json.loads(out.read_text())["train"][0]["cell"] == "elman"


def test_layer_section_times_the_layer_alone_against_its_floor():
    results = quick_results(["layer"])
    row = results["layer"][0]
    assert set(row["times"]) == {"rnnkit", "floor"} and row["cell"] == "gru"
    assert "recurrent layer alone" in report.text(results)


def test_layer_step_runs_forward_and_bptt_through_the_public_layer_api():
    c = configs.quick(configs.LAYER)
    step = steps.layer_step("lstm", c, np.random.default_rng(0))
    dx, _, grads = step()
    assert dx.shape == (c.T, c.B, c.I) and dx.dtype == np.float32
    assert set(grads) == set(step.layer.params)


@pytest.mark.parametrize("cell", ["irnn", "jordan", "fully_recurrent"])
def test_cold_cells_beyond_the_three_train_at_quick_sizes(cell):
    step = steps.training_step(cell, configs.quick(configs.CONFIGS["A"]), np.random.default_rng(0))
    step()
    if cell == "irnn":
        rnn = step.model.rnn.config
        assert (rnn.cell, rnn.nonlinearity, rnn.init) == ("elman", "relu", "identity")


def test_cold_section_reports_a_new_process_per_cell_with_its_ratio_spread():
    options = run.Options(
        configs=("B",),
        cold_cells=("elman",),
        peers=(),
        sections=("cold",),
        reps=1,
        gap=0.0,
        quick=True,
    )
    results = run.run(options)
    [d] = results["cold"]["first_step"]
    assert (d["config"], d["cell"]) == ("B", "elman")
    assert d["first_s"] > 0 and d["steady_s"] > 0 and d["setup_s"] > 0
    assert d["ratio"]["min"] <= d["ratio"]["median"] <= d["ratio"]["max"]
    assert d["compiled"] == 0 and not d["numba_loaded_by_step"]  # cached, loaded at set-up
    text = report.text(results)
    assert "rnnkit --help" in text and "per process" in text
