"""``rnnkit one-to-many``: sequences generated from a class or a value, end to end."""

import argparse
import re

import numpy as np
import pytest

from rnnkit.cli import _run
from rnnkit.cli import one_to_many
from rnnkit.errors import ConfigError


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    one_to_many.add_arguments(parser)
    return _run(one_to_many, parser.parse_args(argv), debug=False)


def test_each_word_is_generated_from_its_class_alone(capsys):
    assert _main(["words", "--words", "cat,cart,dog", "--steps", "300", "--hidden-size",
                  "16"]) == 0
    out = capsys.readouterr().out
    assert "exact: 3/3" in out
    assert re.search(r"class 1: 'cart' +target 'cart' +exact", out)


@pytest.mark.parametrize("condition", ["class", "value"])
def test_sine_prints_truth_and_generated_waves_per_condition(capsys, condition):
    argv = ["sine", "--condition", condition, "--classes", "3", "--steps", "150",
            "--length", "24", "--hidden-size", "16"]
    assert _main(argv) == 0
    out = capsys.readouterr().out
    rmses = [float(v) for v in re.findall(r"rmse (\d+\.\d+)", out)]
    assert len(rmses) == (3 if condition == "class" else 4)
    generated = [line.split(maxsplit=1)[1] for line in out.splitlines()
                 if line.strip().startswith("generated")]
    assert all(len(g) == 24 and set(g) <= set(one_to_many.BLOCKS) for g in generated)


def test_the_sine_plot_is_a_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "waves.png"
    assert _main(["sine", "--classes", "2", "--steps", "5", "--length", "12",
                  "--plot", str(path)]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sine_waves_start_one_step_after_zero_phase():
    waves = one_to_many.sine_waves([8.0, 16.0], 8)
    assert waves.shape == (2, 8, 1)
    np.testing.assert_allclose(waves[0, :, 0], np.sin(2 * np.pi * np.arange(1, 9) / 8))


@pytest.mark.parametrize("argv, message", [
    (["words", "--words", "cat,cat"], "distinct"),
    (["words", "--words", "a.b"], "without '.'"),
    (["words", "--condition", "value"], "conditioned on their class"),
    (["sine", "--length", "0"], "--length"),
    (["sine", "--steps", "0"], "--steps and --batch-size must be >= 1"),
    (["sine", "--lr", "nan"], "--lr > 0"),
])
def test_nonsense_is_one_line_and_exit_2(capsys, argv, message):
    assert _main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
