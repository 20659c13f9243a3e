"""``rnnkit.cli.main``: a reader that closes the pipe early ends every command quietly."""

import io
import os
import subprocess
import sys

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.config import ModelConfig
from rnnkit.data.text import CharVocab
from rnnkit.io.model_files import save
from rnnkit.models.model import Model


@pytest.fixture
def model_dir(tmp_path):
    vocab = CharVocab.from_text("abc \n")
    model = Model(
        ModelConfig.for_tokens(vocab.size, cell="gru", hidden_size=4),
        rng=np.random.default_rng(0),
        meta={"vocab": vocab.to_dict()},
    )
    return save(model, tmp_path / "model")


def _into_a_closed_pipe(argv: list[str]) -> subprocess.CompletedProcess:
    """``rnnkit ARGV`` with stdout a pipe nobody reads from any more (``| head -0``)."""
    read, write = os.pipe()
    os.close(read)  # every write now fails with EPIPE
    try:
        return subprocess.run(
            [sys.executable, "-m", "rnnkit", *argv],
            stdout=write,
            stderr=subprocess.PIPE,
            timeout=120,
        )
    finally:
        os.close(write)


@pytest.mark.parametrize(
    "argv",
    [
        ["info", "{model}"],
        ["info", "{model}", "--json"],
        ["sample", "{model}", "--length", "20000"],
        ["train", "--help"],
        ["--help"],
    ],
    ids=["info", "info_json", "sample", "subcommand_help", "help"],
)
def test_a_closed_stdout_ends_the_command_quietly_with_status_0(model_dir, argv):
    done = _into_a_closed_pipe([a.replace("{model}", str(model_dir)) for a in argv])
    assert done.stderr.decode() == "" and done.returncode == 0


class _ClosedPipe(io.TextIOBase):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_pipe_closed_while_training_prints_no_error(tmp_path, monkeypatch, capsys):
    text = tmp_path / "t.txt"
    text.write_text("abc def\n" * 400, encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    argv = [
        "train",
        str(text),
        "--steps",
        "2",
        "--hidden-size",
        "4",
        "--seq-len",
        "8",
        "--batch-size",
        "2",
        "--sample-every",
        "0",
        "--out",
        str(tmp_path / "run"),
    ]
    assert main(argv) == 0
    assert "error" not in capsys.readouterr().err
