"""``rnnkit influence``: a character model's text coloured by influence, and the adding problem."""

import argparse
import json

import numpy as np
import pytest

import rnnkit
from rnnkit.cli import influence as influence_cli
from rnnkit.config import ModelConfig
from rnnkit.data.text import CharVocab
from rnnkit.diagnostics.influence import influence
from rnnkit.errors import CheckpointError, ConfigError, VocabularyError
from rnnkit.models.model import Model

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT = "def f(x):\n    return x"


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    influence_cli.add_arguments(parser)
    return influence_cli.run(parser.parse_args(argv))


@pytest.fixture(scope="module")
def char_model(tmp_path_factory):
    vocab = CharVocab.from_text(TEXT + "abcdeghijklmnopqstuvwyz<&")
    config = ModelConfig.for_tokens(vocab.size, cell="lstm", hidden_size=8)
    model = Model(config, rng=np.random.default_rng(0), meta={"vocab": vocab.to_dict()})
    path = tmp_path_factory.mktemp("runs") / "char"
    rnnkit.save(model, path)
    return path, model, vocab


def test_prints_one_digit_per_character_for_the_true_next_characters_logit(char_model, capsys):
    path, model, vocab = char_model
    assert _run([str(path), "--text", TEXT, "--position", "14"]) == 0
    out = capsys.readouterr().out
    assert "'e'" in out.splitlines()[0]  # TEXT[15] is the character predicted after position 14
    ids = vocab.encode(TEXT)
    expected = influence(model, ids[None, :15], -1, int(ids[15]))[0]
    digits = out.splitlines()[2]
    assert digits == "".join(str(int(d)) for d in np.rint(9 * expected / expected.max()))
    assert len(out.splitlines()[1]) == 15 and "↵" in out.splitlines()[1]


def test_after_the_last_character_the_most_probable_next_one_is_explained(char_model, capsys):
    path, model, vocab = char_model
    assert _run([str(path), "--text", TEXT, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    ids = vocab.encode(TEXT)
    best = int(np.argmax(model.predict(ids[None])[0, -1]))
    assert result["target"] == vocab.decode([best]) and result["position"] == len(TEXT) - 1
    np.testing.assert_allclose(result["influence"], influence(model, ids[None], -1, best)[0])


def test_html_colours_every_character(char_model, tmp_path, capsys):
    path, _, _ = char_model
    html = tmp_path / "influence.html"
    assert _run([str(path), "--text", "a<b&c", "--html", str(html)]) == 0
    page = html.read_text(encoding="utf-8")
    assert page.count('<span style="background: rgba(') == 5
    assert "&lt;" in page and "&amp;" in page
    assert f"written to {html}" in capsys.readouterr().out


def test_png_is_written_and_is_a_png(char_model, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path, _, _ = char_model
    png = tmp_path / "influence.png"
    assert _run([str(path), "--text", TEXT, "--png", str(png)]) == 0
    data = png.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 100


@pytest.mark.parametrize(
    "argv, error, message",
    [
        (["--text", "xyz€"], VocabularyError, "€"),
        (["--text", "abc", "--position", "3"], ConfigError, "outside the text"),
        (["--text", "abc", "--target", "ab"], ConfigError, "one character"),
        (["--text", ""], ConfigError, "at least one character"),
    ],
)
def test_bad_input_raises_a_named_error(char_model, argv, error, message):
    path, _, _ = char_model
    with pytest.raises(error, match=message):
        _run([str(path), *argv])


def test_a_model_without_vocabulary_is_refused(tmp_path):
    config = ModelConfig.for_tokens(5, cell="gru", hidden_size=4)
    rnnkit.save(Model(config, rng=np.random.default_rng(0)), tmp_path / "m")
    with pytest.raises(CheckpointError, match="not a character model"):
        _run([str(tmp_path / "m"), "--text", "a"])


def test_without_a_model_or_adding_it_says_what_to_give():
    with pytest.raises(ConfigError, match="--adding"):
        _run([])


def test_adding_reports_accuracy_peaks_and_writes_a_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "adding.png"
    argv = [
        "--adding",
        "--T",
        "22",
        "--steps",
        "3",
        "--hidden-size",
        "4",
        "--test-size",
        "8",
        "--png",
        str(png),
    ]
    assert _run(argv) == 0
    out = capsys.readouterr()
    assert "of 8 test sequences" in out.out and "marked positions" in out.out
    assert "step 3: loss" in out.err
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    assert _run([*argv[:-2], "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["example"]["influence"]) == 22 and len(result["example"]["marks"]) == 2


@pytest.mark.slow
def test_a_trained_adding_lstm_draws_its_prediction_from_the_two_marked_inputs(capsys):
    # y = 0.5 + (X1 + X2)/4: a model that solves the task has ∂ŷ/∂v = 1/4 at the two marked
    # steps and 0 elsewhere, so its two largest influences are the marks
    assert _run(["--adding", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["test_accuracy"] >= 0.9
    assert result["top2_at_marks"] >= 0.9
