"""``rnnkit export onnx|torch DIR --out PATH`` end to end, through ``main(argv)``."""

import numpy as np
import pytest

import rnnkit
from rnnkit.cli import COMMANDS, main
from rnnkit.config import ModelConfig
from tests.cli.test_sample import _seq2seq_dir as seq2seq_dir


@pytest.fixture(autouse=True)
def registered(monkeypatch):
    """The export command in the registry (a no-op once it is registered there)."""
    monkeypatch.setitem(
        COMMANDS,
        "export",
        COMMANDS.get("export", ("rnnkit.cli.export", "export a saved model to ONNX or PyTorch")),
    )


def saved(tmp_path, **rnn) -> str:
    config = ModelConfig.for_tokens(6, cell=rnn.pop("cell", "lstm"), hidden_size=5, **rnn)
    path = tmp_path / "model"
    rnnkit.save(rnnkit.Model(config, rng=np.random.default_rng(0)), path)
    return str(path)


@pytest.mark.parametrize("cell", ["lstm", "gru", "jordan"])
def test_onnx_export_writes_a_file_and_verifies_it(cell, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "m.onnx"
    both = cell != "jordan"  # a Jordan model reads one direction
    assert (
        main(
            [
                "export",
                "onnx",
                saved(tmp_path, cell=cell, bidirectional=both),
                "--out",
                str(out),
                "--verify",
                "--state",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert out.is_file() and lines[0] == f"wrote {out}"
    assert float(lines[1].rsplit(":", 1)[1]) < 1e-5


def test_torch_export_writes_the_state_dict_and_module(tmp_path, capsys):
    out = tmp_path / "torch"
    assert main(["export", "torch", saved(tmp_path, peepholes=True), "--out", str(out)]) == 0
    assert "rnnkit_model.py" in capsys.readouterr().out
    names = {p.name for p in out.iterdir()}
    assert {"model.safetensors", "config.json", "rnnkit_model.py"} <= names


@pytest.mark.parametrize(
    "argv, message",
    [
        (["onnx", "{model_ln}", "--out", "{tmp}/ln.onnx"], "layer-normalised LSTM"),
        (["onnx", "{model}", "--out", "{tmp}/new.onnx", "--opset", "30"], "opset must be"),
        (["onnx", "{model}", "--out", "{tmp}/file.onnx"], "exists; pass --overwrite"),
        (["onnx", "{model}", "--out", "{model}", "--overwrite"], "is a directory"),
        (["torch", "{model}", "--out", "{tmp}/file.onnx", "--overwrite"], "is a file"),
        (["onnx", "{tmp}/nothing", "--out", "{tmp}/new.onnx"], "nothing"),
    ],
)
def test_known_errors_print_one_line_and_exit_2(argv, message, tmp_path, capsys):
    pytest.importorskip("onnx")
    model, model_ln = saved(tmp_path), saved(tmp_path / "ln", layer_norm=True)
    (tmp_path / "file.onnx").write_bytes(b"")
    args = [a.format(model=model, model_ln=model_ln, tmp=tmp_path) for a in argv]
    assert main(["export", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rnnkit: error:")
    if message:
        assert message in err[0]


@pytest.mark.parametrize("kind", ["onnx", "torch"])
def test_export_of_a_model_it_cannot_export_is_one_line_naming_its_kind(kind, tmp_path, capsys):
    out = tmp_path / ("m.onnx" if kind == "onnx" else "m")
    assert main(["export", kind, str(seq2seq_dir(tmp_path)), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "takes a recurrent rnnkit Model, got Seq2Seq" in err[0]
    assert not out.exists()
