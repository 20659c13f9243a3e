"""``rnnkit train``, ``sample`` and ``info`` end to end, through ``main(argv)``."""

import numpy as np
import pytest

import rnnkit
from rnnkit.cli import main

SMALL = ["--hidden-size", "16", "--seq-len", "20", "--batch-size", "4", "--eval-every", "5",
         "--sample-every", "0", "--checkpoint-every", "5"]


@pytest.fixture
def text_file(tmp_path):
    rng = np.random.default_rng(0)
    words = ["def", "return", "self", "import", "class", "(x)", ":", "\n", "    "]
    path = tmp_path / "corpus.txt"
    path.write_text(" ".join(rng.choice(words, 4000)), encoding="utf-8")
    return path


def test_train_then_sample_then_info(text_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(text_file), "--steps", "30", "--out", str(out), *SMALL]) == 0
    printed = capsys.readouterr()
    assert "validation" in printed.out and "generated text" in printed.out
    assert "bits/char" in printed.err  # progress goes to stderr
    assert (out / "last" / "model.safetensors").exists() and (out / "best").is_dir()
    assert main(["sample", str(out), "--prime", "def", "--length", "40", "--seed", "1"]) == 0
    first = capsys.readouterr().out
    assert first.startswith("def") and len(first) == len("def") + 40 + 1
    assert main(["sample", str(out), "--prime", "def", "--length", "40", "--seed", "1"]) == 0
    assert capsys.readouterr().out == first  # same seed, same text
    assert main(["info", str(out)]) == 0
    assert "lstm" in capsys.readouterr().out


def test_resumed_run_ends_bit_identical_to_an_uninterrupted_one(text_file, tmp_path, capsys):
    straight, split = tmp_path / "straight", tmp_path / "split"
    common = [str(text_file), *SMALL, "--bptt-steps", "30", "--dropout", "0.1",
              "--num-layers", "2"]
    assert main(["train", *common, "--steps", "20", "--out", str(straight)]) == 0
    assert main(["train", *common, "--steps", "10", "--out", str(split)]) == 0
    assert main(["train", "--resume", "--steps", "20", "--out", str(split)]) == 0
    capsys.readouterr()
    a = rnnkit.load(straight / "last").state_dict()
    b = rnnkit.load(split / "last").state_dict()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_known_errors_print_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"caf\xe9\n" * 10)
    assert main(["train", str(bad), "--steps", "1", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "latin1.txt" in err[0] and "line 1" in err[0]
    assert main(["sample", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.startswith("rnnkit: error:")


def test_sample_names_characters_outside_the_vocabulary(text_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(text_file), "--steps", "2", "--out", str(out), *SMALL]) == 0
    capsys.readouterr()
    assert main(["sample", str(out), "--prime", "zebra€"]) == 2
    assert "€" in capsys.readouterr().err
