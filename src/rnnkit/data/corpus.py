"""Text corpora: the user's files, and the default — the Python standard library's own source.

``read_texts(paths)`` is strict, for the user's text: a missing file, bytes that are not UTF-8
or a NUL byte (binary data, UTF-16; named by file, line and column), no text at all, or a
text of one repeated character is a ``DataError``.

``default_corpus()`` is the text a character model trains on when the user gives none: the
``.py`` files of the running Python's standard library (about 10 MB on CPython 3.11, the way
char-rnn trained on the Linux source), without its test suites and without ``site-packages``.
It is read at run time through ``read_corpus``, the lenient twin of ``read_texts``: the corpus
is rnnkit's choice, not the user's, so a library file that is not UTF-8 is skipped and counted
rather than fatal.

Both read files in the order given and normalise the text as Python's text mode does: a leading
byte-order mark is dropped and ``\\r\\n`` and ``\\r`` become ``\\n``.  Files are joined end to
end, with a ``\\n`` added after a file whose text does not end in one.
"""

import logging
import os
import sysconfig
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from ..errors import ConfigError, DataError

log = logging.getLogger(__name__)

EXCLUDED_DIRS = frozenset({"site-packages", "dist-packages", "idle_test", "__pycache__"})
"""Directories of the standard library that are not its own source (besides ``test*``)."""


class Corpus(NamedTuple):
    text: str
    files: int  # files read (the last perhaps only in part, at ``max_chars``)
    skipped: tuple[Path, ...]  # files left out because they are not valid UTF-8


def stdlib_source_files() -> list[Path]:
    """The standard library's own ``.py`` files, sorted by their path inside the library.

    Leaves out every directory named ``test*`` (``test``, ``tests``, ``lib2to3/tests``, ...),
    ``idlelib/idle_test``, ``site-packages`` and ``dist-packages``.
    """
    root = Path(sysconfig.get_paths()["stdlib"])
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not (d.startswith("test") or d in EXCLUDED_DIRS)]
        found += [Path(folder, name) for name in names if name.endswith(".py")]
    if not found:
        raise DataError(
            f"no Python standard-library source found under {root} (this Python may ship its"
            " library compiled only); train on a text file of your own instead"
        )
    return sorted(found, key=lambda path: path.relative_to(root).as_posix())


def read_texts(paths: Iterable[str | os.PathLike]) -> str:
    """The text of UTF-8 files, joined in order; ``DataError`` on any file that can't be used."""
    files = [Path(p) for p in paths]
    if not files:
        raise DataError("no text files given; name at least one UTF-8 text file")
    texts = []
    for path in files:
        data = _read_bytes(path)
        try:
            texts.append(_normalise(data.decode("utf-8")))
        except UnicodeDecodeError as error:
            raise DataError(_not_utf8_message(path, data, error.start)) from None
        if b"\0" in data:  # valid UTF-8, but text files hold no NUL: binary data or UTF-16
            raise DataError(_binary_message(path, data, data.index(b"\0")))
    text = _join(texts)
    names = ", ".join(map(str, files[:3])) + (", ..." if len(files) > 3 else "")
    if not text:
        raise DataError(f"the text files hold no text ({names}); give a non-empty text file")
    check_distinct(text, names)
    return text


def check_distinct(text: str, source: str) -> None:
    """DataError unless ``text`` has at least two distinct characters.

    With one, every next character is certain: a model of it learns nothing and reports a
    perfect 0 bits per character.
    """
    if text and text.count(text[0]) == len(text):
        raise DataError(
            f"{source}: the text holds one distinct character ({text[0]!r}, "
            f"{len(text):,} times); a character model needs at least two"
        )


def read_corpus(paths: Iterable[str | os.PathLike], max_chars: int | None = None) -> Corpus:
    """The text of ``paths`` joined in order, skipping (and counting) files that are not UTF-8.

    Stops reading once ``max_chars`` characters are in hand and cuts the text to that length.
    A missing file, or no text at all, is still a ``DataError``.
    """
    if max_chars is not None and (not isinstance(max_chars, int) or max_chars < 1):
        raise ConfigError(f"max_chars must be a positive integer or None, got {max_chars!r}")
    texts, skipped, length, open_line = [], [], 0, False
    for path in map(Path, paths):
        try:
            text = _normalise(_read_bytes(path).decode("utf-8"))
        except UnicodeDecodeError:
            skipped.append(path)
            continue
        texts.append(text)
        if text:  # keep length = len(_join(texts)): _join adds "\n" after an open last line
            length += len(text) + open_line
            open_line = not text.endswith("\n")
        if max_chars is not None and length >= max_chars:
            break
    text = _join(texts)[:max_chars]
    if not text:
        raise DataError("the corpus holds no text; give a non-empty text file")
    return Corpus(text, len(texts), tuple(skipped))


def default_corpus(max_chars: int | None = None) -> str:
    """The standard library's source text (the first ``max_chars`` characters of it)."""
    corpus = read_corpus(stdlib_source_files(), max_chars)
    if corpus.skipped:
        log.info("default corpus: skipped %d library files not in UTF-8", len(corpus.skipped))
    return corpus.text


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"text file not found: {path}; check the path") from None
    except IsADirectoryError:
        raise DataError(f"{path} is a directory; name the text files inside it") from None
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror}; check the file") from None


def _not_utf8_message(path: Path, data: bytes, offset: int) -> str:
    """Names the file, the line and column (in bytes, from 1) of the first bad byte."""
    line = data.count(b"\n", 0, offset) + 1
    column = offset - data.rfind(b"\n", 0, offset)
    return (
        f"{path}: line {line}, column {column} (byte offset {offset}): byte 0x{data[offset]:02x}"
        " is not valid UTF-8; convert the file to UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        " or leave it out"
    )


def _binary_message(path: Path, data: bytes, offset: int) -> str:
    """Names the file, the line and column (in bytes, from 1) of the first NUL byte."""
    line = data.count(b"\n", 0, offset) + 1
    column = offset - data.rfind(b"\n", 0, offset)
    return (
        f"{path}: line {line}, column {column} (byte offset {offset}): a NUL byte (0x00); "
        "this is binary data or UTF-16, not UTF-8 text; convert it to UTF-8 "
        "(e.g. iconv -f utf-16 -t utf-8) or leave it out"
    )


def _normalise(text: str) -> str:
    text = text.removeprefix("\ufeff")
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _join(texts: list[str]) -> str:
    parts: list[str] = []
    for text in filter(None, texts):
        if parts and not parts[-1].endswith("\n"):
            parts.append("\n")
        parts.append(text)
    return "".join(parts)
