"""``rnnkit experiment`` through its add_arguments/run: a tiny run prints a table or JSON."""

import argparse
import json

import pytest

from rnnkit.cli import experiment
from rnnkit.errors import ConfigError

TINY = [
    "--steps",
    "2",
    "--T",
    "22",
    "--parameters",
    "300",
    "--test-size",
    "16",
    "--eval-every",
    "1",
    "--batch-size",
    "4",
]


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    experiment.add_arguments(parser)
    return experiment.run(parser.parse_args(argv))


def test_a_tiny_adding_run_prints_a_table_with_progress_on_stderr(capsys):
    assert _run(["adding", "--cells", "elman", "lstm", *TINY]) == 0
    out, err = capsys.readouterr()
    assert "adding problem" in out and "the test set (16 sequences) is scored once" in out
    assert [
        line.split()[0] for line in out.splitlines() if line.startswith(("elman", "lstm"))
    ] == ["elman", "lstm"]
    assert "validation" in err


def test_json_output_parses_and_quiet_silences_progress(capsys):
    assert _run(["temporal-order", "--cells", "gru", "--json", "--quiet", *TINY]) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert data["experiment"] == "temporal-order" and data["settings"]["T"] == 22
    row = data["rows"][0]
    assert row["cell"] == "gru" and row["steps"] == 2
    assert row["stopped"] in ("criterion", "steps") and row["finished"] is True
    assert row["result"] in ("pass", "fail") and data["claims"] in ("hold", "do not hold")
    assert isinstance(row["val_metric"], float) and isinstance(row["test_metric"], float)
    assert data["settings"]["minutes"] is None  # no time cap unless asked for
    assert err == ""


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--steps", "0"], "--steps"),
        (["--cells", "cnn"], "unknown cells"),
        (["--curriculum", "-1"], "--curriculum"),
        (["--minutes", "0"], "--minutes"),
        (["--lr", "-1"], "--lr"),
        (["--resume"], "give --out"),
    ],
)
def test_bad_options_raise_a_known_error(flags, message):
    with pytest.raises(ConfigError, match=message):
        _run(["copy", *TINY, *flags])


@pytest.mark.parametrize("optimizer, shown", [("rmsprop", "RMSprop lr"), ("sgd", "SGD lr")])
def test_the_optimizer_can_be_chosen_and_is_named_in_the_table(capsys, optimizer, shown):
    assert _run(["copy", "--cells", "lstm", "--quiet", "--optimizer", optimizer, *TINY]) == 0
    assert shown in capsys.readouterr().out


def test_the_curriculum_can_be_switched_off(capsys):
    assert _run(["copy", "--cells", "lstm", "--quiet", "--curriculum", "0", *TINY]) == 0
    out = capsys.readouterr().out
    assert "curriculum" not in out
    assert next(line for line in out.splitlines() if line.startswith("lstm")).split()[4] == "22"


def test_out_writes_a_run_directory_per_cell_and_resume_reprints_the_same_table(tmp_path, capsys):
    argv = [
        "adding",
        "--cells",
        "elman",
        "gru",
        "--json",
        "--quiet",
        *TINY,
        "--out",
        str(tmp_path),
    ]
    assert _run(argv) == 0
    first = json.loads(capsys.readouterr().out)
    for cell in ("elman", "gru"):
        assert {"last", "best", "metrics.jsonl", "row.json"} <= {
            p.name for p in (tmp_path / cell).iterdir()
        }
    assert _run([*argv, "--resume"]) == 0
    assert json.loads(capsys.readouterr().out) == first  # scored rows are read back


def test_a_signal_saves_the_running_cell_and_exits_128_plus_its_number(
    tmp_path, capsys, monkeypatch
):
    import signal

    from rnnkit.training import signals

    class Requested(signals.StopRequest):
        calls = 0

        def __call__(self):  # SIGTERM arrives during the first update
            Requested.calls += 1
            return "SIGTERM" if Requested.calls == 2 else None

    monkeypatch.setattr(signals, "StopRequest", Requested)
    status = _run(["adding", "--cells", "elman", "--quiet", *TINY, "--out", str(tmp_path)])
    assert status == 128 + signal.SIGTERM
    assert "elman saved at update 1" in capsys.readouterr().err
    assert (tmp_path / "elman" / "last").exists()
