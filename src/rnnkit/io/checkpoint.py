"""The checkpoint directory: tensors in safetensors, configuration in JSON, no pickle.

Layout of a checkpoint directory (format version 1)::

    model.safetensors   the model tensors; header metadata: format, format_version,
                        role = "model", sha256 = tensor hash (below)
    config.json         the model config (a JSON object, standard JSON: no NaN/Infinity)
    state.safetensors   optional: the NumPy arrays of ``extra`` (role = "state")
    state.json          optional: the rest of ``extra`` (JSON; NaN/Infinity allowed,
                        e.g. ``best_loss = inf``)
    manifest.json       written LAST: {"format": "rnnkit-checkpoint", "format_version": 1,
                        "files": {file name: SHA-256 of its bytes}} for every file above

Tensor hash (lowercase hex SHA-256; u64 = 8-byte little-endian unsigned integer) over
the tensors in order of their names' UTF-8 bytes, each contributing::

    u64(len(name)) ‖ name (UTF-8) ‖ u64(len(dtype)) ‖ dtype (NumPy name, ASCII: "float32")
    ‖ u64(ndim) ‖ u64(shape[0]) ‖ … ‖ u64(shape[ndim−1]) ‖ u64(nbytes) ‖ data

where ``data`` is the array's bytes in C order, little-endian.  The hash travels inside
the safetensors file, so a ``model.safetensors`` can be checked on its own; the manifest's
file hashes bind the files of one write together.

Writing: every file is serialised and checked in memory first (a NaN/Inf model tensor,
an unsupported dtype or a non-JSON config is refused before the directory is touched),
then each file is written atomically (``atomic.write_atomic``: temporary file, fsync,
``os.replace``, fsync of the directory), the manifest last.  Into a directory the
write creates, each file is written and fsynced under its own name, the manifest last,
then the directory is fsynced: until the manifest is there the directory does not load.
A write over an existing checkpoint interrupted part way leaves new files beside the old
manifest, whose hashes no longer match: the directory refuses to load rather than mix
two checkpoints (a run directory never writes over one: see ``model_files.save_in_run``).
State files of an earlier write that the new one does not have are removed after the manifest.

``extra`` is a dict (nested dicts allowed, string keys) whose NumPy arrays go to
``state.safetensors`` under their key path joined by "/" (so keys leading to an array
are non-empty and hold no "/"; arrays cannot sit inside lists) and whose other values
go to ``state.json``; NumPy scalars are stored as their Python value, tuples as lists.

Reading trusts nothing: the manifest, then each listed file's hash, then the
safetensors header, its metadata and the tensor hash, then the JSON.  Only the fixed
file names above are ever opened; nothing is unpickled or executed.  Every failure is a
``CheckpointError`` naming the file and what to do.
"""

import hashlib
import json
import re
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import safetensors.numpy

from ..errors import CheckpointError
from .atomic import fsync_directory, remove_durably, write_atomic, write_new

FORMAT = "rnnkit-checkpoint"
FORMAT_VERSION = 1

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
STATE_TENSORS_FILE = "state.safetensors"
STATE_JSON_FILE = "state.json"
MANIFEST_FILE = "manifest.json"

_MODEL_FILES = frozenset({MODEL_FILE, CONFIG_FILE})
_STATE_FILES = frozenset({STATE_TENSORS_FILE, STATE_JSON_FILE})
_DTYPES = frozenset(
    "bool int8 int16 int32 int64 uint8 uint16 uint32 uint64 float16 float32 float64".split()
)
_SHA256 = re.compile(r"[0-9a-f]{64}")
_REWRITE = "write the checkpoint again or restore it from a copy"


class Checkpoint(NamedTuple):
    tensors: dict[str, np.ndarray]  # name → array, as written (own, writable copies)
    config: dict[str, Any]  # the model config
    extra: dict[str, Any] | None  # arrays and JSON values saved beside it, or None


def tensor_hash(tensors: dict[str, np.ndarray]) -> str:
    """The SHA-256 of ``tensors`` as defined in the module docstring (hex)."""
    h = hashlib.sha256()
    for name in sorted(tensors, key=lambda n: n.encode("utf-8")):
        a = _c_order_little_endian(tensors[name])
        for text in (name, a.dtype.name):
            raw = text.encode("utf-8")
            h.update(len(raw).to_bytes(8, "little") + raw)
        h.update(a.ndim.to_bytes(8, "little"))
        for n in a.shape:
            h.update(n.to_bytes(8, "little"))
        h.update(a.nbytes.to_bytes(8, "little"))
        h.update(a.data)
    return h.hexdigest()


# ----------------------------------------------------------------------------- writing


def write_checkpoint(
    directory: str | Path,
    tensors: dict[str, np.ndarray],
    config: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint of ``tensors`` (finite), ``config`` and ``extra`` to ``directory``.

    Creates ``directory`` if needed and replaces a checkpoint already there; returns the
    directory.  Nothing is written if any input is refused (``CheckpointError``).
    """
    directory = Path(directory)
    files = {
        MODEL_FILE: _tensor_file(tensors, "model", directory / MODEL_FILE, finite=True),
        CONFIG_FILE: _config_file(config, directory / CONFIG_FILE),
    }
    if extra is not None:
        arrays, values = _split_extra(extra, directory / STATE_JSON_FILE)
        files[STATE_TENSORS_FILE] = _tensor_file(arrays, "state", directory / STATE_TENSORS_FILE)
        files[STATE_JSON_FILE] = _json_bytes(values, directory / STATE_JSON_FILE, allow_nan=True)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
    }
    try:
        _write_files(directory, files, json.dumps(manifest, indent=1).encode())
    except OSError as e:
        raise CheckpointError(
            f"{directory}: could not write the checkpoint ({e}); "
            "check the path, its permissions and the free disk space"
        ) from e
    return directory


def _write_files(directory: Path, files: dict[str, bytes], manifest: bytes) -> None:
    try:
        directory.mkdir(parents=True)
    except FileExistsError:
        pass
    else:  # a new directory: no old checkpoint to protect, so no temporary names needed
        for name, data in files.items():
            write_new(directory / name, data)
        write_new(directory / MANIFEST_FILE, manifest)  # last: commits the checkpoint
        fsync_directory(directory)
        fsync_directory(directory.parent)
        return
    for name, data in files.items():
        write_atomic(directory / name, data)
    write_atomic(directory / MANIFEST_FILE, manifest)  # last: commits the new checkpoint
    for name in _STATE_FILES - files.keys():
        remove_durably(directory / name)


def _tensor_file(tensors: Any, role: str, path: Path, finite: bool = False) -> bytes:
    """``tensors`` as safetensors bytes with format metadata and the tensor hash."""
    if not isinstance(tensors, dict):
        raise CheckpointError(f"{path}: tensors must be a dict of name → NumPy array")
    arrays = {name: _checked_array(name, a, path, finite) for name, a in tensors.items()}
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "role": role,
        "sha256": tensor_hash(arrays),
    }
    try:
        return safetensors.numpy.save(arrays, metadata=metadata)
    except Exception as e:
        raise CheckpointError(f"{path}: safetensors could not serialise the tensors ({e})") from e


def _checked_array(name: Any, a: Any, path: Path, finite: bool) -> np.ndarray:
    """``a`` as a C-contiguous little-endian array, after checking name, type and dtype."""
    if not isinstance(name, str) or not name or name == "__metadata__":
        raise CheckpointError(f"{path}: tensor names must be non-empty strings, got {name!r}")
    if not isinstance(a, np.ndarray):
        kind = type(a).__name__
        raise CheckpointError(f"{path}: tensor {name!r} is a {kind}, not a NumPy array")
    if a.dtype.name not in _DTYPES:
        raise CheckpointError(
            f"{path}: tensor {name!r} has dtype {a.dtype}; "
            f"checkpoints hold {', '.join(sorted(_DTYPES))}"
        )
    if finite and a.dtype.kind == "f" and not np.isfinite(a).all():
        raise CheckpointError(
            f"{path}: tensor {name!r} holds NaN or Inf; refusing to write a broken model "
            "(the checkpoint already in the directory is unchanged); lower the learning "
            "rate or clip gradients, and save an earlier state"
        )
    return _c_order_little_endian(a)


def _c_order_little_endian(a: np.ndarray) -> np.ndarray:
    """``a`` as a C-contiguous little-endian array of the same shape (no copy if it is one).

    safetensors.numpy.save reads the raw buffer: a strided or transposed view would be
    saved scrambled.  (``np.ascontiguousarray`` turns a 0-d array into shape [1]: reshape.)
    """
    return np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).reshape(a.shape)


def _config_file(config: Any, path: Path) -> bytes:
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: the config must be a dict, got {type(config).__name__}")
    arrays: dict[str, np.ndarray] = {}
    values = _split(config, (), arrays, path)
    if arrays:
        raise CheckpointError(
            f"{path}: the config holds NumPy arrays ({', '.join(arrays)}); "
            "put arrays in the tensors or in extra"
        )
    return _json_bytes(values, path, allow_nan=False)


def _json_bytes(value: Any, path: Path, allow_nan: bool) -> bytes:
    try:
        return json.dumps(value, indent=1, ensure_ascii=False, allow_nan=allow_nan).encode()
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot be written as JSON ({e})") from e


def _split_extra(extra: Any, path: Path) -> tuple[dict[str, np.ndarray], Any]:
    """(arrays by "/"-joined key path, the JSON-able rest of ``extra``)."""
    if not isinstance(extra, dict):
        raise CheckpointError(f"{path}: extra must be a dict, got {type(extra).__name__}")
    arrays: dict[str, np.ndarray] = {}
    return arrays, _split(extra, (), arrays, path)


def _split(node: Any, keys: tuple[str, ...], arrays: dict, path: Path, in_list=False) -> Any:
    """``node`` with its arrays moved into ``arrays`` (dicts kept, even if emptied)."""
    where = "/".join(keys) or "the top level"
    if isinstance(node, np.ndarray):
        if in_list:
            raise CheckpointError(
                f"{path}: {where} holds an array inside a list; use a dict of named arrays"
            )
        if any(not k or "/" in k for k in keys):
            raise CheckpointError(
                f"{path}: array key path {keys!r} has an empty key or one holding '/'"
            )
        arrays["/".join(keys)] = node
        return None
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if not isinstance(k, str):
                raise CheckpointError(f"{path}: key {k!r} under {where} is not a string")
            value = _split(v, keys + (k,), arrays, path, in_list)
            if not isinstance(v, np.ndarray):
                out[k] = value
        return out
    if isinstance(node, (list, tuple)):
        return [_split(v, keys, arrays, path, in_list=True) for v in node]
    if isinstance(node, np.generic):
        return node.item()
    return node


# ----------------------------------------------------------------------------- reading


def read_checkpoint(directory: str | Path) -> Checkpoint:
    """The checkpoint in ``directory``, verified (see module docstring); else CheckpointError."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: no such checkpoint directory; check the path")
    listed = _read_manifest(directory / MANIFEST_FILE)
    blobs = {name: _read_listed(directory / name, digest) for name, digest in listed.items()}
    tensors = _parse_tensors(blobs[MODEL_FILE], "model", directory / MODEL_FILE)
    config = _parse_json(blobs[CONFIG_FILE], directory / CONFIG_FILE, allow_nan=False)
    if not isinstance(config, dict):
        raise CheckpointError(f"{directory / CONFIG_FILE}: not a JSON object; {_REWRITE}")
    extra = None
    if STATE_TENSORS_FILE in blobs:
        arrays = _parse_tensors(blobs[STATE_TENSORS_FILE], "state", directory / STATE_TENSORS_FILE)
        values = _parse_json(blobs[STATE_JSON_FILE], directory / STATE_JSON_FILE, allow_nan=True)
        extra = _join_extra(values, arrays, directory / STATE_JSON_FILE)
    return Checkpoint(tensors, config, extra)


def _read_manifest(path: Path) -> dict[str, str]:
    """{file name: SHA-256} from a manifest that matches format version 1 exactly."""
    m = _parse_json(_read_bytes(path), path, allow_nan=False)
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an rnnkit checkpoint manifest; {_REWRITE}")
    version = m.get("format_version")
    if type(version) is int and version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: written by a newer rnnkit (format version {version}, this one reads "
            f"{FORMAT_VERSION}); upgrade rnnkit to load it"
        )
    files = m.get("files")
    if (
        version != FORMAT_VERSION
        or type(version) is not int
        or set(m) != {"format", "format_version", "files"}
        or not isinstance(files, dict)
        or set(files) not in (_MODEL_FILES, _MODEL_FILES | _STATE_FILES)
        or not all(isinstance(d, str) and _SHA256.fullmatch(d) for d in files.values())
    ):
        raise CheckpointError(
            f"{path}: malformed manifest (format version {FORMAT_VERSION}); {_REWRITE}"
        )
    return files


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(
            f"{path}: missing; the directory is not an rnnkit checkpoint or a write to it "
            f"did not finish; {_REWRITE}"
        ) from None
    except OSError as e:
        raise CheckpointError(f"{path}: cannot be read ({e})") from e


def _read_listed(path: Path, digest: str) -> bytes:
    data = _read_bytes(path)
    if hashlib.sha256(data).hexdigest() != digest:
        raise CheckpointError(
            f"{path}: file hash mismatch with {MANIFEST_FILE}: the file was changed or comes "
            f"from another write (an interrupted save); {_REWRITE}"
        )
    return data


def _parse_json(data: bytes, path: Path, allow_nan: bool) -> Any:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise ValueError("duplicate key")
        return dict(pairs)

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not standard JSON")

    parse_constant = None if allow_nan else no_constant  # None: NaN and ±Infinity as floats
    try:
        return json.loads(
            data.decode("utf-8"), object_pairs_hook=no_duplicates, parse_constant=parse_constant
        )
    except Exception as e:  # UnicodeDecodeError, JSONDecodeError, RecursionError, ...
        raise CheckpointError(f"{path}: not valid JSON ({e}); {_REWRITE}") from e


def _parse_tensors(data: bytes, role: str, path: Path) -> dict[str, np.ndarray]:
    """The tensors of a safetensors file, after checking its metadata and tensor hash."""
    digest = _check_metadata(_safetensors_header(data, path).get("__metadata__"), role, path)
    try:
        loaded = safetensors.numpy.load(data)
    except BaseException as e:  # safetensors may also raise pyo3's PanicException
        if not isinstance(e, Exception) and type(e).__name__ != "PanicException":
            raise
        raise CheckpointError(f"{path}: not a valid safetensors file ({e}); {_REWRITE}") from None
    tensors = {name: np.array(a) for name, a in loaded.items()}
    if tensor_hash(tensors) != digest:
        raise CheckpointError(
            f"{path}: tensor hash mismatch: the tensors are not the ones written; {_REWRITE}"
        )
    return tensors


def _safetensors_header(data: bytes, path: Path) -> dict:
    """The JSON header of safetensors bytes: u64 length, then that many bytes of JSON."""
    size = int.from_bytes(data[:8], "little")
    if len(data) < 8 or size > len(data) - 8:
        raise CheckpointError(
            f"{path}: truncated or not a safetensors file (header of {size} bytes, "
            f"file of {len(data)}); {_REWRITE}"
        )
    header = _parse_json(data[8 : 8 + size], path, allow_nan=False)
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: safetensors header is not a JSON object; {_REWRITE}")
    return header


def _check_metadata(metadata: Any, role: str, path: Path) -> str:
    """The tensor hash recorded in safetensors ``metadata``, after checking the rest."""
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: not written by rnnkit (no checkpoint metadata); {_REWRITE}"
        )
    version = metadata.get("format_version")
    if isinstance(version, str) and version.isdigit() and int(version) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: written by a newer rnnkit (format version {version}); upgrade rnnkit"
        )
    expected = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "role": role}
    digest = metadata.get("sha256")
    if (
        set(metadata) != {*expected, "sha256"}
        or any(metadata[k] != v for k, v in expected.items())
        or not (isinstance(digest, str) and _SHA256.fullmatch(digest))
    ):
        raise CheckpointError(f"{path}: unexpected checkpoint metadata {metadata!r}; {_REWRITE}")
    return digest


def _join_extra(values: Any, arrays: dict[str, np.ndarray], path: Path) -> dict[str, Any]:
    """Inverse of ``_split_extra``: put each array back at its "/"-joined key path."""
    if not isinstance(values, dict):
        raise CheckpointError(f"{path}: not a JSON object; {_REWRITE}")
    for name, a in arrays.items():
        *parents, leaf = name.split("/")
        node = values
        for k in parents:
            node = node.setdefault(k, {}) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf in node:
            raise CheckpointError(f"{path}: array {name!r} collides with a JSON value; {_REWRITE}")
        node[leaf] = a
    return values


# ----------------------------------------------------------------------------- checking


def validate_tensors(
    tensors: dict[str, np.ndarray],
    expected: dict[str, tuple[tuple[int, ...], Any]],
    source: str,
) -> None:
    """Check ``tensors`` against ``expected`` {name: (shape, dtype)}.

    Raises one CheckpointError naming, from ``source``, every missing name, unexpected
    name, wrong shape and wrong dtype.
    """
    problems = []
    missing = [n for n in expected if n not in tensors]
    unexpected = [n for n in tensors if n not in expected]
    if missing:
        problems.append(f"missing {', '.join(missing)}")
    if unexpected:
        problems.append(f"unexpected {', '.join(unexpected)}")
    for name, (shape, dtype) in expected.items():
        if name not in tensors:
            continue
        a = tensors[name]
        if tuple(a.shape) != tuple(shape):
            problems.append(f"{name} has shape {list(a.shape)}, expected {list(shape)}")
        if np.dtype(a.dtype) != np.dtype(dtype):
            problems.append(f"{name} has dtype {np.dtype(a.dtype)}, expected {np.dtype(dtype)}")
    if problems:
        raise CheckpointError(
            f"{source}: tensors do not match the model config: {'; '.join(problems)}; "
            "load the checkpoint with the config it was saved with"
        )
