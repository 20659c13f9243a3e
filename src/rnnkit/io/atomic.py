"""Atomic file writing: a file is either its old content or its new content, never a mix.

``write_atomic(path, data)``:

    1. create a temporary file ``.<name>.<random>.tmp`` in the same directory
       (same file system, so the rename below is atomic; created with mode 0o666
       so the umask applies as for any new file);
    2. write, flush and ``fsync`` it, so its bytes are on disk before it has a name;
    3. ``os.replace`` it over ``path`` (atomic on POSIX and Windows);
    4. ``fsync`` the directory, so the rename itself survives a power cut.

If anything fails the temporary file is removed and the error propagates; ``path`` keeps
its old content.  A crash between steps 1 and 3 can leave a ``.*.tmp`` file behind; it
is never read by rnnkit and may be deleted.

``point_atomic(link, target)`` makes the symbolic link ``link`` point at ``target`` the same
way (a new link under a temporary name, ``os.replace``, directory fsync): a reader follows
either the old target or the new one, never a missing or half-made name.  It is how a run
directory switches its ``last`` and ``best`` checkpoints, which are directories of several
files, in one atomic step.
"""

import os
import secrets
from pathlib import Path

_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


def temp_name(path: Path) -> Path:
    """A fresh temporary path beside ``path`` (hidden, ``.tmp`` suffix)."""
    return path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")


def fsync_directory(directory: Path) -> None:
    """Flush ``directory``'s entries (new names, renames, removals) to disk.

    A no-op where directories cannot be opened (Windows), where the rename is durable
    once ``os.replace`` returns.
    """
    if not hasattr(os, "O_DIRECTORY"):  # pragma: no cover - Windows
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Replace the file at ``path`` with ``data`` atomically and durably (see module doc)."""
    path = Path(path)
    tmp = temp_name(path)
    fd = os.open(tmp, _OPEN_FLAGS, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def write_new(path: str | os.PathLike, data: bytes) -> None:
    """Create the file ``path`` (which must not exist) holding ``data``, fsynced.

    For a directory made for one write, where there is no old content to protect: the
    caller fsyncs the directory once after its last file.
    """
    fd = os.open(path, _OPEN_FLAGS, 0o666)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def remove_durably(path: str | os.PathLike) -> None:
    """Delete ``path`` if it exists and flush the directory entry."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        path.unlink()
        fsync_directory(path.parent)


def point_atomic(link: str | os.PathLike, target: str) -> None:
    """Make ``link`` a symbolic link to ``target`` (relative to ``link``'s directory), atomically.

    ``link`` may be missing or an existing symbolic link; a real file or directory there is
    an error (``IsADirectoryError`` / ``FileExistsError``), never silently replaced.
    """
    link = Path(link)
    if link.exists() and not link.is_symlink():
        kind = IsADirectoryError if link.is_dir() else FileExistsError
        raise kind(f"{link} exists and is not a symbolic link")
    tmp = temp_name(link)
    os.symlink(target, tmp)
    try:
        os.replace(tmp, link)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_directory(link.parent)
