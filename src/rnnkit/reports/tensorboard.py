"""The report's curves as TensorBoard event files (``rnnkit report --tensorboard DIR``),
written without TensorBoard or TensorFlow installed.

Each network gets ``DIR/<label>/events.out.tfevents.<time>.rnnkit`` (its label's ``/``
becoming a directory level, so TensorBoard lists one run per network), holding one scalar
event per metrics record and quantity: the tags ``train_loss``, each ``val_*`` metric,
``lr`` and ``grad_norm`` at the record's step.  Wall times are the log's own (``time``,
seconds since the run started) counted from when the log was last written, less its last
``time``.

The file format is TensorFlow's record file of ``Event`` protocol buffers:

    record   u64 length ‖ u32 masked CRC-32C of the length ‖ data ‖ u32 masked CRC-32C of data
    mask     ((crc >> 15) | (crc << 17)) + 0xA282EAD8  (mod 2³²)
    Event    wall_time = 1 (double), step = 2 (int64), file_version = 3 (string),
             summary = 5 (Summary: value = 1 (Value: tag = 1 (string), simple_value = 2 (float)))

The first event names the version (``brain.Event:2``).
"""

import math
import struct
import time
from pathlib import Path
from typing import Any

from .html import quantities
from .runs import Network

VERSION = "brain.Event:2"


def _crc_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``: ``crc32c(b"123456789") == 0xE3069283``."""
    crc = 0xFFFFFFFF
    table = _TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def record(data: bytes) -> bytes:
    """``data`` framed as one record of a TensorFlow record file."""
    length = struct.pack("<Q", len(data))
    return (
        length + struct.pack("<I", masked_crc(length)) + data + struct.pack("<I", masked_crc(data))
    )


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # int64 as two's complement
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _bytes_field(number: int, data: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def event(wall_time: float, step: int = 0, scalars: dict[str, float] | None = None) -> bytes:
    """An ``Event``: the file version when ``scalars`` is None, else a summary of them."""
    data = _varint(1 << 3 | 1) + struct.pack("<d", wall_time)
    if scalars is None:
        return data + _bytes_field(3, VERSION.encode())
    data += _varint(2 << 3 | 0) + _varint(step)
    values = b"".join(
        _bytes_field(1, _bytes_field(1, tag.encode()) + _varint(2 << 3 | 5) + struct.pack("<f", v))
        for tag, v in scalars.items()
    )
    return data + _bytes_field(5, values)


def write_events(out: str | Path, networks: list[Network]) -> list[Path]:
    """One event file per network with records in ``out``; their paths."""
    out = Path(out)
    found = quantities(networks)
    written = []
    for n in networks:
        if not n.records:
            continue
        start = _start(n)
        chunks = [record(event(start))]
        for r in n.records:
            step = r.get("step")
            scalars = {tag: float(r[key]) for tag, key, _ in found if _finite(r.get(key))}
            if isinstance(step, int) and scalars:
                wall = start + (r["time"] if _finite(r.get("time")) else 0.0)
                chunks.append(record(event(wall, step, scalars)))
        folder = out.joinpath(*n.label.split("/"))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"events.out.tfevents.{int(start)}.rnnkit"
        from ..io.atomic import write_atomic

        write_atomic(path, b"".join(chunks))
        written.append(path)
    return written


def _start(n: Network) -> float:
    """The wall time of the network's start: its log's last write less its last ``time``."""
    log = n.path / "metrics.jsonl"
    try:
        end = log.stat().st_mtime
    except OSError:
        end = time.time()
    last = n.records[-1].get("time")
    return end - (float(last) if isinstance(last, (int, float)) and _finite(last) else 0.0)


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
