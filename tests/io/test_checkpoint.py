import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnkit.errors import CheckpointError
from rnnkit.io import atomic, checkpoint
from rnnkit.io.checkpoint import read_checkpoint, tensor_hash, validate_tensors, write_checkpoint

CONFIG = {"cell": "lstm", "hidden_size": 4, "meta": {"vocab": "ab\n", "ids": [0, 1]}}
COMPANIONS = ["model.safetensors", "config.json", "state.safetensors", "state.json"]
ALL_FILES = COMPANIONS + ["manifest.json"]


def _model(seed: int = 0, dtype=np.float32) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "weight_ih_l0": rng.standard_normal((16, 3)).astype(dtype),
        "weight_hh_l0": rng.standard_normal((16, 4)).astype(dtype),
        "bias_ih_l0": rng.standard_normal(16).astype(dtype),
    }


def _extra(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "step": 7,
        "best_loss": float("inf"),
        "rng": rng.bit_generator.state,  # 128-bit integers
        "adam": {"m": {"weight_ih_l0": rng.standard_normal((16, 3))}, "t": 3},
        "mask": np.array([True, False]),
        "history": [1.5, 2.5],
        "note": "ünïcode",
    }


def _assert_bit_equal(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == np.ascontiguousarray(want).tobytes()


def _assert_same_tree(got, want) -> None:
    """Equal JSON values, with arrays compared bit for bit (so NaN payloads count too)."""
    if isinstance(want, np.ndarray):
        assert isinstance(got, np.ndarray)
        _assert_bit_equal(got, want)
    elif isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want)
        for k in want:
            _assert_same_tree(got[k], want[k])
    elif isinstance(want, (list, tuple)):
        assert isinstance(got, list) and len(got) == len(want)
        for g, w in zip(got, want):
            _assert_same_tree(g, w)
    else:
        assert got == want and type(got) is type(want)


def _forge_manifest(directory: Path) -> None:
    """Rewrite the manifest to match the files as they are now (as a forger would)."""
    path = directory / "manifest.json"
    manifest = json.loads(path.read_text())
    for name in manifest["files"]:
        manifest["files"][name] = hashlib.sha256((directory / name).read_bytes()).hexdigest()
    path.write_text(json.dumps(manifest))


def _flip_byte(path: Path, index: int) -> None:
    data = bytearray(path.read_bytes())
    data[index] ^= 0x01
    path.write_bytes(bytes(data))


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    directory = tmp_path / "ckpt"
    write_checkpoint(directory, _model(), CONFIG, _extra())
    return directory


# ----------------------------------------------------------------------------- round trip

LAYOUTS = {
    "contiguous": lambda a: a,
    "transposed": lambda a: a.T,
    "strided": lambda a: a[::2, 1::2],
    "reversed": lambda a: a[::-1, ::-1],
    "fortran": np.asfortranarray,
    "big_endian": lambda a: a.astype(a.dtype.newbyteorder(">")),
}
DTYPES = [np.float32, np.float64, np.float16, np.int32, np.int64, np.int8, np.uint8, np.bool_]


def _values(dtype, rng: np.random.Generator) -> np.ndarray:
    if np.dtype(dtype).kind == "f":
        a = rng.standard_normal((6, 5)).astype(dtype)
        a.flat[:3] = [-0.0, np.finfo(dtype).smallest_subnormal, np.finfo(dtype).max]
        return a
    if np.dtype(dtype).kind == "b":
        return rng.random((6, 5)) < 0.5
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=(6, 5), dtype=dtype, endpoint=True)


@pytest.mark.parametrize("layout", LAYOUTS, ids=list(LAYOUTS))
@pytest.mark.parametrize("dtype", DTYPES, ids=[np.dtype(d).name for d in DTYPES])
def test_round_trip_is_bit_exact(tmp_path, dtype, layout):
    rng = np.random.default_rng(1)
    tensors = {"w": LAYOUTS[layout](_values(dtype, rng)), "scalar": np.array(3, dtype=dtype)}
    write_checkpoint(tmp_path, tensors, CONFIG)
    got = read_checkpoint(tmp_path)
    assert set(got.tensors) == {"w", "scalar"}
    for name, want in tensors.items():
        assert got.tensors[name].dtype == want.dtype.newbyteorder("=")
        assert got.tensors[name].shape == want.shape
        assert np.array_equal(got.tensors[name], want)
        assert got.tensors[name].tobytes() == want.astype(got.tensors[name].dtype).tobytes()
    assert got.config == CONFIG
    assert got.extra is None


def test_round_trip_keeps_extra_arrays_and_json_values(tmp_path):
    extra = _extra()
    extra["adam"]["v"] = {"weight_hh_l0": np.full((2, 3), np.nan)[:, ::2]}  # NaN allowed in state
    extra["empty"] = {}
    write_checkpoint(tmp_path, _model(), CONFIG, extra)
    got = read_checkpoint(tmp_path)
    _assert_same_tree(got.tensors, _model())
    _assert_same_tree(got.extra, extra)


def test_loaded_tensors_are_writable_copies(saved):
    got = read_checkpoint(saved)
    got.tensors["bias_ih_l0"][0] = 1.0  # the model layer updates its parameters in place
    assert got.tensors["bias_ih_l0"].flags.owndata


def test_tensor_hash_covers_names_dtypes_shapes_and_bytes():
    a = np.arange(6, dtype=np.float32)
    base = tensor_hash({"a": a})
    assert tensor_hash({"a": a.copy()}) == base
    assert tensor_hash({"b": a}) != base
    assert tensor_hash({"a": a.view(np.int32)}) != base
    assert tensor_hash({"a": a.reshape(2, 3)}) != base
    assert tensor_hash({"a": a + np.float32(1e-6)}) != base


# ----------------------------------------------------------------------------- corruption


def test_tampered_tensor_byte_is_a_hash_mismatch(saved):
    _flip_byte(saved / "model.safetensors", -1)
    with pytest.raises(CheckpointError, match=r"model\.safetensors: file hash mismatch"):
        read_checkpoint(saved)


@pytest.mark.parametrize("name", ["model.safetensors", "state.safetensors"])
def test_tampered_tensor_byte_with_forged_manifest_is_a_tensor_hash_mismatch(saved, name):
    _flip_byte(saved / name, -1)
    _forge_manifest(saved)
    with pytest.raises(CheckpointError, match=rf"{name}: tensor hash mismatch"):
        read_checkpoint(saved)


@pytest.mark.parametrize("forge", [False, True], ids=["manifest_kept", "manifest_forged"])
@pytest.mark.parametrize("keep", [0, 5, 100, -1], ids=["empty", "5_bytes", "100_bytes", "minus_1"])
@pytest.mark.parametrize("name", ["model.safetensors", "state.safetensors"])
def test_truncated_tensor_file_is_refused(saved, name, keep, forge):
    path = saved / name
    path.write_bytes(path.read_bytes()[:keep])
    if forge:
        _forge_manifest(saved)
    with pytest.raises(CheckpointError, match=rf"{name}"):
        read_checkpoint(saved)


@pytest.mark.parametrize("name", ["config.json", "state.json", "manifest.json"])
def test_truncated_json_file_is_refused(saved, name):
    path = saved / name
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(CheckpointError, match=rf"{name}"):
        read_checkpoint(saved)


@pytest.mark.parametrize("forge", [False, True], ids=["manifest_kept", "manifest_forged"])
@pytest.mark.parametrize("size", [3, 64, 4096])
def test_random_bytes_as_model_file_are_refused(saved, size, forge):
    (saved / "model.safetensors").write_bytes(np.random.default_rng(size).bytes(size))
    if forge:
        _forge_manifest(saved)
    with pytest.raises(CheckpointError, match=r"model\.safetensors"):
        read_checkpoint(saved)


def test_safetensors_file_without_rnnkit_metadata_is_refused(saved):
    import safetensors.numpy

    (saved / "model.safetensors").write_bytes(safetensors.numpy.save(_model()))
    _forge_manifest(saved)
    with pytest.raises(CheckpointError, match=r"model\.safetensors: not written by rnnkit"):
        read_checkpoint(saved)


@pytest.mark.parametrize("name", ALL_FILES)
def test_missing_file_is_refused(saved, name):
    (saved / name).unlink()
    with pytest.raises(CheckpointError, match=rf"{name}: missing"):
        read_checkpoint(saved)


def test_missing_directory_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint directory"):
        read_checkpoint(tmp_path / "nowhere")


@pytest.mark.parametrize("name", COMPANIONS)
def test_torn_write_mixing_two_checkpoints_is_refused(tmp_path, name):
    old, new = tmp_path / "old", tmp_path / "new"
    write_checkpoint(old, _model(0), CONFIG, _extra(0))
    write_checkpoint(new, _model(1), CONFIG | {"hidden_size": 5}, _extra(1) | {"step": 8})
    shutil.copy2(new / name, old / name)  # one file of the newer write landed, the rest did not
    with pytest.raises(CheckpointError, match=rf"{name}: file hash mismatch"):
        read_checkpoint(old)


@pytest.mark.parametrize("files_written", [1, 2, 3, 4], ids=lambda n: f"{n}_of_4_files")
def test_write_interrupted_before_the_manifest_does_not_load(saved, monkeypatch, files_written):
    calls = []

    def crash_after(path, data):
        if len(calls) == files_written:
            raise OSError("simulated power cut")
        calls.append(path)
        atomic.write_atomic(path, data)

    monkeypatch.setattr(checkpoint, "write_atomic", crash_after)
    with pytest.raises(CheckpointError, match="could not write the checkpoint"):
        write_checkpoint(saved, _model(1), CONFIG, _extra(1))
    with pytest.raises(CheckpointError, match="file hash mismatch"):
        read_checkpoint(saved)


def test_newer_format_version_is_refused_with_upgrade_hint(saved):
    path = saved / "manifest.json"
    path.write_text(path.read_text().replace('"format_version": 1', '"format_version": 2'))
    with pytest.raises(CheckpointError, match="newer rnnkit.*upgrade rnnkit"):
        read_checkpoint(saved)


@pytest.mark.parametrize("listed", ["../outside.json", "/etc/passwd", "notes.txt"])
def test_manifest_listing_other_files_is_refused(saved, listed):
    path = saved / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["files"][listed] = hashlib.sha256(b"").hexdigest()
    path.write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="malformed manifest"):
        read_checkpoint(saved)


# A protocol-0 pickle that calls open(SENTINEL, "w") when unpickled: a file appears.
def _pickle_that_creates(sentinel: Path) -> bytes:
    return b"cbuiltins\nopen\n(V" + str(sentinel).encode() + b"\nVw\ntR."


@pytest.mark.parametrize("forge", [False, True], ids=["manifest_kept", "manifest_forged"])
def test_pickle_named_model_safetensors_is_refused_without_unpickling(saved, tmp_path, forge):
    sentinel = tmp_path / "unpickled"
    (saved / "model.safetensors").write_bytes(_pickle_that_creates(sentinel))
    if forge:
        _forge_manifest(saved)
    with pytest.raises(CheckpointError, match=r"model\.safetensors"):
        read_checkpoint(saved)
    assert not sentinel.exists()


# ----------------------------------------------------------------------------- writing


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "minus_inf"])
def test_non_finite_tensor_is_refused_and_previous_checkpoint_kept(saved, bad):
    before = _snapshot(saved)
    broken = _model(1)
    broken["weight_hh_l0"][2, 3] = bad
    with pytest.raises(CheckpointError, match="'weight_hh_l0' holds NaN or Inf"):
        write_checkpoint(saved, broken, CONFIG, _extra(1))
    assert _snapshot(saved) == before
    _assert_same_tree(read_checkpoint(saved).tensors, _model())


def test_write_leaves_exactly_the_checkpoint_files(tmp_path):
    write_checkpoint(tmp_path, _model(), CONFIG, _extra())
    assert sorted(os.listdir(tmp_path)) == sorted(ALL_FILES)
    write_checkpoint(tmp_path, _model(1), CONFIG)  # no extra: the old state files go
    assert sorted(os.listdir(tmp_path)) == ["config.json", "manifest.json", "model.safetensors"]
    assert read_checkpoint(tmp_path).extra is None


def test_failed_atomic_write_keeps_old_content_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    atomic.write_atomic(path, b"old")

    def failing_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk full"):
        atomic.write_atomic(path, b"new")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_atomic_write_gives_new_files_the_umask_mode(tmp_path):
    path = tmp_path / "f.bin"
    atomic.write_atomic(path, b"x")
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize(
    "tensors, match",
    [
        ({"w": np.zeros(2, np.complex128)}, "dtype complex128"),
        ({"w": np.array(["a"])}, "dtype <U1"),
        ({"w": [1.0, 2.0]}, "is a list, not a NumPy array"),
        ({"": np.zeros(2)}, "non-empty strings"),
    ],
    ids=["complex", "strings", "list", "empty_name"],
)
def test_unwritable_tensors_are_refused(tmp_path, tensors, match):
    with pytest.raises(CheckpointError, match=match):
        write_checkpoint(tmp_path, tensors, CONFIG)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "config, extra, match",
    [
        (CONFIG | {"lr": float("nan")}, None, r"config\.json: cannot be written as JSON"),
        (CONFIG | {"itos": {0: "a"}}, None, "key 0 under itos is not a string"),
        (CONFIG | {"w": np.zeros(2)}, None, "config holds NumPy arrays"),
        (CONFIG, {"moments": [np.zeros(2)]}, "array inside a list"),
        (CONFIG, {"a/b": np.zeros(2)}, "holding '/'"),
        (CONFIG, {"when": object()}, r"state\.json: cannot be written as JSON"),
    ],
    ids=["nan_config", "int_key", "array_in_config", "array_in_list", "slash_key", "object"],
)
def test_unwritable_config_or_extra_is_refused(tmp_path, config, extra, match):
    with pytest.raises(CheckpointError, match=match):
        write_checkpoint(tmp_path, _model(), config, extra)
    assert os.listdir(tmp_path) == []


def test_unwritable_directory_is_a_checkpoint_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(CheckpointError, match="could not write the checkpoint"):
        write_checkpoint(tmp_path / "file", _model(), CONFIG)


# ----------------------------------------------------------------------------- validate_tensors


def test_validate_tensors_names_every_problem_in_one_message():
    tensors = {"a": np.zeros((2, 3), np.float32), "b": np.zeros(4, np.float64), "x": np.zeros(1)}
    expected = {"a": ((3, 2), np.float32), "b": ((4,), np.float32), "c": ((1,), np.float32)}
    with pytest.raises(CheckpointError) as info:
        validate_tensors(tensors, expected, "ckpt/model.safetensors")
    message = str(info.value)
    assert message.startswith("ckpt/model.safetensors: ")
    for part in [
        "missing c",
        "unexpected x",
        "a has shape [2, 3], expected [3, 2]",
        "b has dtype float64, expected float32",
    ]:
        assert part in message


def test_validate_tensors_accepts_matching_tensors():
    validate_tensors(_model(), {n: (a.shape, a.dtype) for n, a in _model().items()}, "here")


# ----------------------------------------------------------------------------- fuzzing


@pytest.fixture(scope="module")
def original(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("original")
    extra = _extra() | {"nan_state": np.array([np.nan, 1.0])}
    write_checkpoint(directory, _model(), CONFIG, extra)
    return directory


def _corrupt(data: bytes, kind: str, draw) -> bytes:
    if kind == "replace":
        return draw(st.binary(max_size=300))
    if kind == "truncate":
        return data[: draw(st.integers(0, len(data) - 1))]
    if kind == "append":
        return data + draw(st.binary(min_size=1, max_size=20))
    flipped = bytearray(data)
    flipped[draw(st.integers(0, len(data) - 1))] ^= 1 << draw(st.integers(0, 7))
    return bytes(flipped)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(ALL_FILES),
    kind=st.sampled_from(["replace", "flip", "truncate", "append"]),
    forge=st.booleans(),
    data=st.data(),
)
def test_corrupted_checkpoint_loads_exactly_or_raises_checkpoint_error(
    original, name, kind, forge, data
):
    want = read_checkpoint(original)
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch) / "ckpt"
        shutil.copytree(original, directory)
        path = directory / name
        path.write_bytes(_corrupt(path.read_bytes(), kind, data.draw))
        # A forged manifest reaches the inner checks; only the tensor files carry an inner
        # hash, so only for them must a forged-but-changed file still be caught.
        if forge and name.endswith(".safetensors"):
            _forge_manifest(directory)
        try:
            got = read_checkpoint(directory)
        except CheckpointError:
            return
    _assert_same_tree(got.tensors, want.tensors)
    _assert_same_tree(got.config, want.config)
    _assert_same_tree(got.extra, want.extra)
