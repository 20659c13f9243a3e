"""The report's curves as TensorBoard event files, read back by a decoder of their format."""

import struct

import pytest

from rnnkit.reports import read_runs
from rnnkit.reports.tensorboard import crc32c, masked_crc, write_events

from .making import make_run, records


def read_records(data: bytes) -> list[bytes]:
    """The records of a TensorFlow record file, their CRCs checked."""
    out, at = [], 0
    while at < len(data):
        length = data[at : at + 8]
        (n,) = struct.unpack("<Q", length)
        assert struct.unpack("<I", data[at + 8 : at + 12])[0] == masked_crc(length)
        body = data[at + 12 : at + 12 + n]
        assert struct.unpack("<I", data[at + 12 + n : at + 16 + n])[0] == masked_crc(body)
        out.append(body)
        at += 16 + n
    return out


def fields(data: bytes) -> list[tuple[int, object]]:
    """(field number, value) of a protocol buffer message: varints as ints, 64-bit as
    doubles, 32-bit as floats, length-delimited as bytes."""
    out, at = [], 0

    def varint() -> int:
        nonlocal at
        value, shift = 0, 0
        while True:
            b = data[at]
            at += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return value

    while at < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            out.append((number, varint()))
        elif wire == 1:
            out.append((number, struct.unpack("<d", data[at : at + 8])[0]))
            at += 8
        elif wire == 5:
            out.append((number, struct.unpack("<f", data[at : at + 4])[0]))
            at += 4
        else:
            assert wire == 2, f"wire type {wire}"
            n = varint()
            out.append((number, data[at : at + n]))
            at += n
    return out


def scalars(event: bytes) -> tuple[int, dict[str, float]]:
    """(step, {tag: value}) of a summary event."""
    f = dict(fields(event))
    values = {}
    for number, value in fields(f[5]):  # type: ignore[arg-type]
        assert number == 1
        v = dict(fields(value))  # type: ignore[arg-type]
        values[v[1].decode()] = v[2]  # type: ignore[union-attr]
    return f[2], values  # type: ignore[return-value]


def test_crc32c_matches_the_standard_check_value():
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0


def test_each_network_gets_an_event_file_with_its_scalars_per_step(tmp_path):
    a = make_run(tmp_path / "runs" / "a", records(6, eval_every=3))
    b = make_run(tmp_path / "runs" / "b" / "gru", records(4)).parent
    make_run(tmp_path / "runs" / "b" / "empty", None, {"lr": 1.0})
    written = write_events(tmp_path / "tb", [n for r in read_runs([a, b]) for n in r.networks])
    assert [p.parent.relative_to(tmp_path / "tb").as_posix() for p in written] == ["a", "b/gru"]
    events = read_records(written[0].read_bytes())
    assert len(events) == 1 + 6
    first = dict(fields(events[0]))
    assert first[3] == b"brain.Event:2"
    step, values = scalars(events[3])
    assert step == 3
    assert values == {
        "train_loss": pytest.approx(1.0),
        "val_loss": pytest.approx(2 + 1 / 3),
        "lr": pytest.approx(1e-3),
        "grad_norm": pytest.approx(1.0),
    }
    assert "val_loss" not in scalars(events[1])[1]
    walls = [dict(fields(e))[1] for e in events[1:]]
    assert walls == sorted(walls) and walls[-1] - walls[0] == pytest.approx(0.5)
