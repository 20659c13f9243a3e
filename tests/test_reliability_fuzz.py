"""Malformed inputs to every loader: a library error with a message, or a clean result — never
another exception, never a hang, never unbounded memory.

Each property runs a few hundred examples in ``make test``; the ``slow`` twins run thousands.
Inputs: random bytes, truncations, bit flips, wrong headers and huge declared sizes, made
from valid files so that they reach deep into the parsers; for checkpoints, also with the
manifest's hash recomputed so that a change passes the hash check and reaches the parser.
"""

import hashlib
import io
import json
import tempfile
import tracemalloc
import zipfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnkit.config import ModelConfig, TrainConfig, option_types, read_config_file
from rnnkit.data.corpus import read_texts
from rnnkit.data.text import CharStream, CharVocab
from rnnkit.errors import RnnkitError
from rnnkit.io import checkpoint
from rnnkit.io.model_files import load_with_state, save
from rnnkit.models.model import Model
from rnnkit.training import Engine, Optimization, Truncated
from rnnkit.training.batches import Batch

MEMORY_LIMIT = 64 << 20  # bytes a single malformed input may make a loader allocate
FAST = settings(
    max_examples=200,
    deadline=timedelta(seconds=10),
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
THOROUGH = settings(
    max_examples=3000, deadline=timedelta(seconds=10), suppress_health_check=[HealthCheck.too_slow]
)


def _rejects_cleanly(load, *args) -> None:
    """``load(*args)`` returns or raises an RnnkitError with a message, within the memory limit."""
    tracemalloc.start()
    try:
        load(*args)
    except RnnkitError as e:
        assert str(e).strip(), "an error without a message"
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < MEMORY_LIMIT, f"{peak / 1e6:.0f} MB allocated"


# ----------------------------------------------------------------------------- mutations


@st.composite
def mutated(draw, data: bytes) -> bytes:
    """``data`` truncated, bit-flipped, spliced with random bytes, or replaced by them."""
    kind = draw(st.sampled_from(["truncate", "flip", "splice", "random"]))
    if kind == "random" or not data:
        return draw(st.binary(max_size=4096))
    if kind == "truncate":
        return data[: draw(st.integers(0, len(data) - 1))]
    out = bytearray(data)
    if kind == "flip":
        for _ in range(draw(st.integers(1, 8))):
            k = draw(st.integers(0, len(out) - 1))
            out[k] ^= 1 << draw(st.integers(0, 7))
        return bytes(out)
    k = draw(st.integers(0, len(out)))
    return bytes(out[:k]) + draw(st.binary(min_size=1, max_size=64)) + bytes(out[k + 8 :])


def _huge_safetensors_header(data: bytes) -> bytes:
    """A safetensors file whose header declares a tensor far larger than the file."""
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    name = next(k for k in header if k != "__metadata__")
    header[name]["shape"] = [1 << 40]
    header[name]["data_offsets"] = [0, 4 << 40]
    raw = json.dumps(header).encode()
    return len(raw).to_bytes(8, "little") + raw + data[8 + size :]


# ----------------------------------------------------------------------------- checkpoints


@pytest.fixture(scope="module")
def checkpoint_files(tmp_path_factory) -> dict[str, bytes]:
    """The files of a valid checkpoint with training state (an engine's, as ``last`` holds)."""
    model = Model(
        ModelConfig.for_tokens(5, cell="lstm", hidden_size=3),
        rng=np.random.default_rng(0),
        meta={"vocab": CharVocab("abcde").to_dict()},
    )
    engine = _engine(model)
    ids = np.random.default_rng(1).integers(0, 5, 200)
    for x, y, _, _ in [next(iter(CharStream(ids, 2, 4))) for _ in range(2)]:
        engine.update(Batch(x, y))
    directory = tmp_path_factory.mktemp("ckpt") / "last"
    save(model, directory, extra={"step": engine.step, "engine": engine.state_dict()})
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def _original_manifest(files: dict[str, bytes]) -> bytes | None:
    """The manifest if it is unchanged (parses and lists hashes), else None."""
    try:
        manifest = json.loads(files[checkpoint.MANIFEST_FILE])
        return files[checkpoint.MANIFEST_FILE] if set(manifest["files"]) <= set(files) else None
    except (ValueError, KeyError, TypeError):
        return None


def _write(directory: Path, files: dict[str, bytes], rehash: bool) -> None:
    if rehash and files[checkpoint.MANIFEST_FILE] == _original_manifest(files):
        manifest = json.loads(files[checkpoint.MANIFEST_FILE])
        for name in manifest["files"]:
            manifest["files"][name] = hashlib.sha256(files[name]).hexdigest()
        files = {**files, checkpoint.MANIFEST_FILE: json.dumps(manifest).encode()}
    directory.mkdir()
    for name, data in files.items():
        (directory / name).write_bytes(data)


def _load_and_resume_state(directory: Path) -> None:
    model, state = load_with_state(directory)
    if state is not None:  # the training state too must be refused cleanly, not later
        _engine(model).load_state_dict(state["engine"])


def _engine(model: Model) -> Engine:
    config = TrainConfig(steps=3, seq_len=4, batch_size=2, bptt_steps=6)
    return Engine(
        model, Truncated(4, 6), Optimization.of(config), np.random.default_rng(0), batch_size=2
    )


@st.composite
def damaged_checkpoint(draw, files: dict[str, bytes]):
    name = draw(st.sampled_from(sorted(files)))
    if name.endswith(".safetensors") and draw(st.booleans()):
        data = _huge_safetensors_header(files[name])
    else:
        data = draw(mutated(files[name]))
    return {**files, name: data}, draw(st.booleans())


def _check_checkpoint(checkpoint_files, data) -> None:
    files, rehash = data.draw(damaged_checkpoint(checkpoint_files))
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "ckpt"
        _write(directory, files, rehash)
        _rejects_cleanly(_load_and_resume_state, directory)


@FAST
@given(data=st.data())
def test_damaged_checkpoints_are_refused_cleanly(checkpoint_files, data):
    _check_checkpoint(checkpoint_files, data)


@pytest.mark.slow
@THOROUGH
@given(data=st.data())
def test_damaged_checkpoints_are_refused_cleanly_thoroughly(checkpoint_files, data):
    _check_checkpoint(checkpoint_files, data)


def test_a_directory_of_other_files_is_not_a_checkpoint(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(RnnkitError, match="manifest.json: missing"):
        load_with_state(tmp_path)


# ----------------------------------------------------------------------------- configs

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
TRAIN_KEYS = sorted(option_types(TrainConfig))
CONFIG_OBJECT = st.dictionaries(
    st.sampled_from(TRAIN_KEYS + ["hidden_size", "cell", "bogus"]), JSON, max_size=6
)
VALID_CONFIG = json.dumps({"hidden_size": 16, "lr": 0.01, "cell": "gru", "steps": 5}).encode()
CONFIG_BYTES = st.one_of(
    mutated(VALID_CONFIG),
    CONFIG_OBJECT.map(lambda d: json.dumps(d).encode()),
    JSON.map(lambda d: json.dumps(d).encode()),
)


def _read_config_bytes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.json"
        path.write_bytes(data)
        kinds = {**option_types(TrainConfig), "hidden_size": int, "cell": str}
        read_config_file(path, kinds)


def _configs(d) -> None:
    try:
        TrainConfig.from_dict(d)
    finally:
        ModelConfig.from_dict({"rnn": d, "output_size": 3} if isinstance(d, dict) else d)


@FAST
@given(data=CONFIG_BYTES, d=st.one_of(CONFIG_OBJECT, JSON))
def test_malformed_configs_are_refused_cleanly(data, d):
    _rejects_cleanly(_read_config_bytes, data)
    _rejects_cleanly(_configs, d)


@pytest.mark.slow
@THOROUGH
@given(data=CONFIG_BYTES, d=st.one_of(CONFIG_OBJECT, JSON))
def test_malformed_configs_are_refused_cleanly_thoroughly(data, d):
    _rejects_cleanly(_read_config_bytes, data)
    _rejects_cleanly(_configs, d)


# ----------------------------------------------------------------------------- text

TEXT = "héllo\r\nwörld € ✓\n".encode() * 20
TEXT_BYTES = st.one_of(st.binary(max_size=2048), mutated(TEXT))
STREAM_STATE = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {
            k: st.one_of(st.integers(-5, 300), JSON)
            for k in ("cursor", "epoch", "batch_size", "seq_len", "length", "checksum")
        }
    ),
)


def _read_text_bytes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.txt"
        path.write_bytes(data)
        CharVocab.from_text(read_texts([path]))


def _text_state(vocab, stream_state) -> None:
    CharVocab.from_dict(vocab)
    CharStream(np.arange(200) % 7, 2, 8).load_state_dict(stream_state)


@FAST
@given(data=TEXT_BYTES, vocab=JSON, stream_state=STREAM_STATE)
def test_malformed_text_and_text_state_are_refused_cleanly(data, vocab, stream_state):
    _rejects_cleanly(_read_text_bytes, data)
    _rejects_cleanly(_text_state, vocab, stream_state)


@pytest.mark.slow
@THOROUGH
@given(data=TEXT_BYTES, vocab=JSON, stream_state=STREAM_STATE)
def test_malformed_text_and_text_state_are_refused_cleanly_thoroughly(data, vocab, stream_state):
    _rejects_cleanly(_read_text_bytes, data)
    _rejects_cleanly(_text_state, vocab, stream_state)


# ----------------------------------------------------------------------------- tables

tables = pytest.importorskip("rnnkit.data.tables")

VALID_CSV = b"time,a,b\n0,1.5,2\n1,2.5,NA\n2,3.5,4\n3,-1e3,5\n"


def _npz_bytes(compressed: bool, **arrays) -> bytes:
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


VALID_NPZ = [
    _npz_bytes(c, x=np.ones((4, 5, 2)), lengths=np.array([5, 3, 2, 1]), y=np.array([0, 1, 1, 0]))
    for c in (False, True)
]


def _huge_npz() -> bytes:
    """An .npz whose x declares 2⁴⁰ float64 values but holds a few bytes."""
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776,), }"
    header += b" " * (118 - len(header)) + b"\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr(
            "x.npy",
            b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\x00" * 64,
        )
    return buffer.getvalue()


ARRAYS = st.dictionaries(
    st.sampled_from(["x", "y", "lengths", "other"]),
    st.sampled_from(["f8", "f4", "i8", "u1", "c16", "U3", "S2", "?", "V4"]).flatmap(
        lambda dtype: st.lists(st.integers(0, 4), max_size=4).map(
            lambda shape: np.zeros(shape, dtype=dtype)
        )
    ),
    max_size=4,
)
NPZ_BYTES = st.one_of(
    st.sampled_from(VALID_NPZ).flatmap(mutated), ARRAYS.map(lambda a: _npz_bytes(False, **a))
)
CSV_BYTES = st.one_of(
    mutated(VALID_CSV),
    st.binary(max_size=1024),
    st.text(alphabet=st.sampled_from(list('0123456789.,-e "\nNaxy')), max_size=300).map(
        str.encode
    ),
)


def _read_table_bytes(suffix: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"t.{suffix}"
        path.write_bytes(data)
        if suffix == "csv":
            tables.read_csv(path, missing="keep")
            tables.read_csv(path)
        else:
            tables.read_npz_sequences(path)


@FAST
@given(csv=CSV_BYTES, npz=NPZ_BYTES)
def test_malformed_tables_are_refused_cleanly(csv, npz):
    _rejects_cleanly(_read_table_bytes, "csv", csv)
    _rejects_cleanly(_read_table_bytes, "npz", npz)


@pytest.mark.slow
@THOROUGH
@given(csv=CSV_BYTES, npz=NPZ_BYTES)
def test_malformed_tables_are_refused_cleanly_thoroughly(csv, npz):
    _rejects_cleanly(_read_table_bytes, "csv", csv)
    _rejects_cleanly(_read_table_bytes, "npz", npz)


def test_an_npz_declaring_a_huge_array_is_refused_without_allocating_it():
    _rejects_cleanly(_read_table_bytes, "npz", _huge_npz())


def test_a_damaged_compressed_npz_is_refused_cleanly():
    data = bytearray(VALID_NPZ[1])
    data[55] ^= 0x10  # inside x.npy's deflate stream: "invalid distance too far back"
    _rejects_cleanly(_read_table_bytes, "npz", bytes(data))
