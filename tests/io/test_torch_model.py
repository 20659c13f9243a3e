"""PyTorch export of whole models: the written module reproduces rnnkit exactly (float64),
gradients included, needs only torch, and its weights come back bit for bit."""

import ast

import numpy as np
import pytest

import rnnkit
from rnnkit.config import ModelConfig
from rnnkit.errors import ConfigError, ShapeError
from rnnkit.io.torch_model import (
    MODULE_FILE,
    MODULE_SOURCE,
    export_torch,
    load_torch_module,
    model_from_state_dict,
    model_from_torch,
)
from rnnkit.layers.recurrent import RecurrentConfig
from rnnkit.models.model import Model
from tests.conftest import torch_or_skip

pytestmark = pytest.mark.torch

EXACT = 1e-12  # float64 on both sides: only the order of summation differs
B, T = 3, 6
LENGTHS = np.array([6, 2, 4])

CASES = {  # native: computed by torch.nn.RNN/LSTM/GRU; the rest by rnnkit's loop in torch
    "elman-tanh": dict(cell="elman"),
    "elman-relu": dict(cell="elman", nonlinearity="relu"),
    "lstm": dict(cell="lstm"),
    "lstm-peepholes": dict(cell="lstm", peepholes=True),
    "lstm-layer-norm": dict(cell="lstm", layer_norm=True, peepholes=True),
    "lstm-recurrent-dropout": dict(cell="lstm", recurrent_dropout=0.3),
    "gru-reset-after": dict(cell="gru"),
    "gru-reset-before": dict(cell="gru", reset_after=False),
    "gru-layer-norm": dict(cell="gru", layer_norm=True),
    "gru-reset-before-layer-norm": dict(cell="gru", reset_after=False, layer_norm=True),
    "jordan": dict(cell="jordan"),
    "jordan-softmax": dict(cell="jordan", jordan_feedback="softmax", recurrent_dropout=0.3),
    "fully-recurrent": dict(cell="fully_recurrent", output_size=3),
    "fully-recurrent-linear": dict(cell="fully_recurrent", output_size=3, linear_outputs=True),
}
SHAPES = {
    "one-layer": dict(num_layers=1, bidirectional=False),
    "stacked-bidirectional": dict(num_layers=2, bidirectional=True, dropout=0.2),
}


def make_model(
    rnn: dict, *, inputs: str = "vectors", readout: str = "every_step", dtype: str = "float64"
) -> Model:
    """A random model; a Jordan model reads one direction (its output is what it feeds back)."""
    if rnn.get("cell") == "jordan":
        rnn = {**rnn, "bidirectional": False}
    vocab = 0 if inputs == "vectors" else 7
    emb = 4 if inputs == "embedding" else 0
    config = ModelConfig(
        rnn=RecurrentConfig(input_size=emb or vocab or 3, hidden_size=5, **rnn),
        output_size=4,
        vocab_size=vocab,
        embedding_dim=emb,
        readout=readout,
        dtype=dtype,
    )
    return Model(config, rng=np.random.default_rng(0), meta={"note": "exported"})


def random_input(model: Model, rng: np.random.Generator) -> np.ndarray:
    c = model.config
    if c.vocab_size:
        return rng.integers(0, c.vocab_size, (B, T))
    return rng.standard_normal((B, T, c.rnn.input_size)).astype(c.dtype)


def as_tuple(state) -> tuple:
    return state if isinstance(state, tuple) else (state,)


def assert_torch_matches(model, module, x, lengths, rng, torch) -> None:
    """Outputs, final state and every parameter gradient of Σ y ⊙ w agree within EXACT."""
    y, state, cache = model.forward(x, lengths=lengths)
    t_len = None if lengths is None else torch.from_numpy(lengths)
    yt, state_t = module(torch.from_numpy(x), lengths=t_len)
    assert np.abs(yt.detach().numpy() - y).max() < EXACT
    for a, b in zip(as_tuple(state), as_tuple(state_t), strict=True):
        assert np.abs(b.detach().numpy() - a).max() < EXACT
    w = rng.standard_normal(y.shape)
    grads, _ = model.backward(cache, w)
    (yt * torch.from_numpy(w)).sum().backward()
    names = dict(module.named_parameters())
    assert set(names) == set(grads) - {n for n in grads if "connection_mask" in n}
    for name, p in names.items():
        assert np.abs(p.grad.numpy() - grads[name]).max() < EXACT, name


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(model, module) per case and shape, exported once for the module's tests."""
    cache = {}

    def get(case: str, shape: str, **model_options):
        key = (case, shape, tuple(sorted(model_options.items())))
        if key not in cache:
            model = make_model({**CASES[case], **SHAPES[shape]}, **model_options)
            directory = export_torch(model, tmp_path_factory.mktemp("export"))
            cache[key] = model, load_torch_module(directory), directory
        return cache[key]

    return get


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("case", CASES)
def test_module_reproduces_outputs_states_and_gradients(case, shape, exported, rng):
    torch = torch_or_skip()
    model, module, _ = exported(case, shape)
    x = random_input(model, rng)
    assert_torch_matches(model, module, x, LENGTHS, rng, torch)


@pytest.mark.parametrize("readout", ["every_step", "last_step"])
@pytest.mark.parametrize("inputs", ["vectors", "one-hot", "embedding"])
@pytest.mark.parametrize("case", ["lstm", "jordan", "jordan-softmax"])  # nn.LSTM; rnnkit's loop
def test_inputs_and_readouts_with_and_without_lengths(case, inputs, readout, exported, rng):
    torch = torch_or_skip()
    model, module, _ = exported(case, "stacked-bidirectional", inputs=inputs, readout=readout)
    x = random_input(model, rng)
    for lengths in (LENGTHS, None):
        module.zero_grad()
        assert_torch_matches(model, module, x, lengths, rng, torch)


@pytest.mark.parametrize("case", ["gru-reset-after", "fully-recurrent", "lstm-layer-norm"])
def test_weights_come_back_bit_for_bit_after_training_in_torch(case, exported):
    torch = torch_or_skip()
    model, module, _ = exported(case, "stacked-bidirectional")
    back = model_from_torch(module)
    assert back.config == model.config and back.meta == model.meta
    for name, w in model.params.items():
        assert back.params[name].dtype == w.dtype
        np.testing.assert_array_equal(back.params[name], w)
    with torch.no_grad():  # a step of training in torch, then back
        for p in module.parameters():
            p.add_(0.125 * torch.sign(p))
    state_dict = module.state_dict()
    again = model_from_state_dict(state_dict, model.config.to_dict())
    for name, w in state_dict.items():
        np.testing.assert_array_equal(again.params[name], w.numpy())


def test_export_directory_is_also_an_rnnkit_checkpoint(exported):
    model, _, directory = exported("lstm-peepholes", "one-layer")
    assert (directory / MODULE_FILE).is_file()
    loaded = rnnkit.load(directory)
    for name, w in model.params.items():
        np.testing.assert_array_equal(loaded.params[name], w)


def test_module_file_imports_only_torch_and_the_standard_library():
    imported = set()
    for node in ast.walk(ast.parse(MODULE_SOURCE)):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert imported == {"json", "pathlib", "torch"}


def test_module_file_loads_in_a_fresh_namespace_without_rnnkit(exported, monkeypatch, rng):
    """Importing the file and reading the weights works with rnnkit and safetensors blocked."""
    torch = torch_or_skip()
    import importlib.util
    import sys

    model, _, directory = exported("jordan", "one-layer")
    for blocked in ("rnnkit", "safetensors", "numpy"):
        monkeypatch.setitem(sys.modules, blocked, None)
    spec = importlib.util.spec_from_file_location("fresh_rnnkit_model", directory / MODULE_FILE)
    namespace = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(namespace)
    module = namespace.RnnkitModel.from_directory(directory)
    monkeypatch.undo()
    assert not module.training
    x = random_input(model, rng)
    y = module(torch.from_numpy(x))[0].detach().numpy()
    assert np.abs(y - model.predict(x)).max() < EXACT


def test_a_jordan_module_has_no_head_and_feeds_back_its_output(exported, rng):
    torch = torch_or_skip()
    model, module, _ = exported("jordan-softmax", "one-layer")
    assert not hasattr(module, "head")
    assert not any(name.startswith("head.") for name in module.state_dict())
    x = torch.from_numpy(random_input(model, rng))
    y, final = module(x)
    torch.testing.assert_close(final[0], y[:, -1], rtol=0, atol=0)  # the state is y


def test_native_cells_run_on_torch_nn_modules(exported):
    torch = torch_or_skip()
    kinds = {
        case: type(exported(case, "one-layer")[1].rnn)
        for case in ("elman-relu", "lstm", "gru-reset-after", "lstm-peepholes", "gru-reset-before")
    }
    assert kinds["elman-relu"] is torch.nn.RNN
    assert kinds["lstm"] is torch.nn.LSTM and kinds["gru-reset-after"] is torch.nn.GRU
    assert kinds["lstm-peepholes"].__name__ == kinds["gru-reset-before"].__name__ == "Unrolled"


def test_recurrent_dropout_applies_only_in_training_mode(exported, rng):
    torch = torch_or_skip()
    model, module, _ = exported("lstm-recurrent-dropout", "one-layer")
    x = torch.from_numpy(random_input(model, rng))
    torch.manual_seed(0)
    module.train()
    try:
        assert not torch.equal(module(x)[0], module(x)[0])  # a fresh mask per call
    finally:
        module.eval()
    assert torch.equal(module(x)[0], module(x)[0])


def test_a_float32_model_exports_in_float32(tmp_path, rng):
    torch = torch_or_skip()
    model = make_model(CASES["gru-reset-before"], dtype="float32")
    module = load_torch_module(export_torch(model, tmp_path / "e"))
    assert module.head.weight.dtype == torch.float32
    x = random_input(model, rng)
    y = module(torch.from_numpy(x), lengths=torch.from_numpy(LENGTHS))[0].detach().numpy()
    assert np.abs(y - model.predict(x, lengths=LENGTHS)).max() < 1e-6


def test_a_state_dict_of_another_dtype_or_module_is_refused(exported):
    torch_or_skip()
    model, module, _ = exported("lstm", "one-layer")
    with pytest.raises(ShapeError, match="float32.*float64"):
        model_from_state_dict(module.float().state_dict(), model.config)
    module.double()
    with pytest.raises(ConfigError, match="RnnkitModel"):
        model_from_torch(module.rnn)


def test_a_directory_without_a_module_file_is_refused(tmp_path):
    rnnkit.save(make_model(CASES["lstm"]), tmp_path / "m")
    with pytest.raises(ConfigError, match="rnnkit export torch"):
        load_torch_module(tmp_path / "m")


def test_anything_but_a_recurrent_model_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="recurrent rnnkit Model, got dict"):
        export_torch({"head.weight": np.zeros((2, 2))}, tmp_path / "e")
    assert not (tmp_path / "e").exists()
