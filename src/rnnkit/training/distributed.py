"""Data-parallel training: K processes (ranks) share each update, one communicator between them.

Launched as ``mpiexec -n K rnnkit train …``, every rank holds the whole model and builds the
same global batch ``[B, T]`` from the same seeded stream; rank r trains on the contiguous rows
``[lo_r, hi_r)`` (``row_range``: the first B mod K ranks take one row more).  Each rank's loss
is the mean over its own n_r tokens, so the global mean and its gradient are the shares

    L = Σ_r (n_r / N) L_r          g = Σ_r (n_r / N) g_r          N = Σ_r n_r

summed by one all-reduce of a flat buffer per update (``pack`` / ``unpack``).  Every rank then
clips and steps the same way and keeps the same parameters.

``connect()`` returns the communicator: ``Local`` (rank 0 of 1) unless the environment says
the process was started by ``mpiexec`` with K > 1 (``PMI_SIZE`` from MPICH's Hydra,
``OMPI_COMM_WORLD_SIZE`` from Open MPI), in which case ``MPIComm`` over mpi4py.  A plain run
never imports mpi4py.  Values broadcast between ranks travel as JSON, arrays as raw buffers:
nothing is unpickled.
"""

import json
import os
import sys
import time
import zlib
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import numpy as np

from ..errors import ConfigError, RnnkitError

SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE")
"""Environment variables through which ``mpiexec`` tells a process how many ranks it started."""

INSTALL_HINT = "pip install 'rnnkit[mpi]'"
ABORT_GRACE = 0.5  # seconds a rank's last line has to leave before an abort ends the run


class Disagreement(RnnkitError):
    """The ranks found that they hold different values; raised on every rank at once."""


class Local:
    """The communicator of a single process: rank 0 of 1; every collective is the identity."""

    rank, size = 0, 1

    def allreduce_sum(self, buf: np.ndarray) -> np.ndarray:
        """Σ over ranks of ``buf`` (here: ``buf`` itself), in place."""
        return buf

    def allreduce_max(self, values: np.ndarray) -> np.ndarray:
        """Elementwise maximum over ranks of ``values: [n]`` int64 (here: ``values``)."""
        return np.asarray(values, dtype=np.int64)

    def bcast(self, value: Any) -> Any:
        """Rank 0's JSON-able ``value`` on every rank."""
        return value

    def any(self, flag: bool) -> bool:
        """True on every rank if ``flag`` is true on any."""
        return bool(flag)

    def gather_rows(self, a: np.ndarray, axis: int) -> np.ndarray | None:
        """Every rank's rows of ``a`` joined along ``axis`` in rank order on rank 0 (else None)."""
        return a

    def abort(self, message: str, code: int = 2) -> NoReturn:
        raise RnnkitError(message)


LOCAL = Local()


class MPIComm:
    """The communicator of ``mpiexec -n K``: mpi4py's ``COMM_WORLD``."""

    def __init__(self, comm: Any) -> None:
        from mpi4py import MPI

        self._MPI, self._comm = MPI, comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()

    def allreduce_sum(self, buf: np.ndarray) -> np.ndarray:
        """Σ over ranks of the contiguous ``buf``, in place (one MPI_Allreduce)."""
        self._comm.Allreduce(self._MPI.IN_PLACE, buf, op=self._MPI.SUM)
        return buf

    def allreduce_max(self, values: np.ndarray) -> np.ndarray:
        out = np.ascontiguousarray(values, dtype=np.int64).copy()
        self._comm.Allreduce(self._MPI.IN_PLACE, out, op=self._MPI.MAX)
        return out

    def bcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank, sent as JSON (no pickle)."""
        data = json.dumps(value).encode() if self.rank == 0 else b""
        size = np.array([len(data)], dtype=np.int64)
        self._comm.Bcast(size, root=0)
        buf = bytearray(data) if self.rank == 0 else bytearray(int(size[0]))
        self._comm.Bcast(buf, root=0)
        return json.loads(buf.decode())

    def any(self, flag: bool) -> bool:
        return bool(self.allreduce_max(np.array([int(bool(flag))]))[0])

    def gather_rows(self, a: np.ndarray, axis: int) -> np.ndarray | None:
        """Rows of every rank along ``axis`` (their counts may differ), joined on rank 0."""
        rows = np.ascontiguousarray(np.moveaxis(np.asarray(a), axis, 0))
        counts = np.empty(self.size, dtype=np.int64) if self.rank == 0 else None
        self._comm.Gather(np.array([rows.size], dtype=np.int64), counts, root=0)
        if self.rank != 0:
            self._comm.Gatherv(rows, None, root=0)
            return None
        assert counts is not None  # allocated on rank 0
        per_row = max(int(np.prod(rows.shape[1:])), 1)
        out = np.empty((int(counts.sum()) // per_row,) + rows.shape[1:], dtype=rows.dtype)
        self._comm.Gatherv(rows, (out, counts), root=0)
        return np.moveaxis(out, 0, axis)

    def abort(self, message: str, code: int = 2) -> NoReturn:
        """Print ``message`` and end every rank (none is left waiting in a collective).

        mpiexec forwards a rank's output through a pipe, and an abort ends its forwarding
        at once: the pause lets the one line reach the terminal first (it was lost now and
        then on a loaded machine)."""
        print(message, file=sys.stderr, flush=True)
        time.sleep(ABORT_GRACE)
        self._comm.Abort(code)
        raise SystemExit(code)  # not reached: Abort ends the process


Comm = Local | MPIComm


def launched_size(env: Mapping[str, str] | None = None) -> int:
    """K, the number of ranks ``mpiexec`` started (1 when not started by it)."""
    env = os.environ if env is None else env
    for name in SIZE_VARIABLES:
        value = env.get(name, "").strip()
        if value:
            if not value.isdigit() or int(value) < 1:
                raise ConfigError(
                    f"the environment variable {name}={value!r} is not a "
                    "number of processes; unset it, or launch with mpiexec"
                )
            return int(value)
    return 1


def connect(env: Mapping[str, str] | None = None) -> Comm:
    """``Local`` for a plain run, ``MPIComm`` under ``mpiexec -n K`` with K > 1."""
    size = launched_size(env)
    if size == 1:
        return LOCAL
    try:
        from mpi4py import MPI
    except ImportError:
        raise RnnkitError(
            f"started by mpiexec as one of {size} processes, but mpi4py is not "
            f"installed; install it with: {INSTALL_HINT}"
        ) from None
    comm = MPIComm(MPI.COMM_WORLD)
    if comm.size != size:
        raise RnnkitError(
            f"mpiexec announced {size} processes but MPI sees {comm.size}; "
            "launch with the mpiexec of the MPI that mpi4py uses (the venv's own)"
        )
    return comm


# ----------------------------------------------------------------------------- rows of a batch


def row_range(batch: int, rank: int, size: int) -> tuple[int, int]:
    """``(lo, hi)``: the contiguous rows of a ``batch``-row batch that ``rank`` of ``size`` owns.

    ``batch = q·size + m``: ranks 0 … m−1 take q + 1 rows, the others q.

    >>> [row_range(5, r, 2) for r in range(2)]
    [(0, 3), (3, 5)]
    """
    if not 0 <= rank < size:
        raise ConfigError(f"rank {rank} is not one of {size} ranks")
    if batch < size:
        raise ConfigError(
            f"a batch of {batch} rows cannot be split over {size} processes; "
            f"use --batch-size >= {size} or fewer processes"
        )
    q, m = divmod(batch, size)
    lo = rank * q + min(rank, m)
    return lo, lo + q + (rank < m)


class RowRandom:
    """Random draws for the whole global batch, of which this rank keeps its rows.

    A dropout mask drawn this way is exactly the single-process mask's rows ``[lo, hi)``,
    and the generator advances as in a single process.  The batch axis is axis 0 of a
    ``[B, S]`` draw (recurrent dropout) and axis 1 of a ``[T, B, F]`` draw (dropout between
    layers).  Only ``random`` is offered: any other draw fails loudly rather than differ.
    """

    def __init__(self, rng: np.random.Generator, rows: tuple[int, int], batch: int) -> None:
        self.rng, self.rows, self.batch = rng, rows, batch

    def random(self, shape: Sequence[int]) -> np.ndarray:
        shape = tuple(shape)
        axis = 0 if len(shape) == 2 else 1
        lo, hi = self.rows
        if len(shape) not in (2, 3) or shape[axis] != hi - lo:
            raise RnnkitError(
                f"a random draw of shape {shape} has no batch axis of this "
                f"rank's {hi - lo} rows; data-parallel training cannot draw it"
            )
        full = shape[:axis] + (self.batch,) + shape[axis + 1 :]
        return self.rng.random(full)[(slice(None),) * axis + (slice(lo, hi),)]


# ----------------------------------------------------------------------------- flat buffers


def pack(arrays: Mapping[str, np.ndarray], extra: Sequence[float], dtype: Any) -> np.ndarray:
    """One flat ``dtype`` buffer: every array raveled in order, then the ``extra`` scalars."""
    sizes = [a.size for a in arrays.values()]
    buf = np.empty(sum(sizes) + len(extra), dtype=dtype)
    at = 0
    for a, n in zip(arrays.values(), sizes):
        buf[at : at + n] = a.reshape(-1)
        at += n
    buf[at:] = extra
    return buf


def unpack(
    buf: np.ndarray, like: Mapping[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``pack``'s inverse: (arrays shaped like ``like``, as views of ``buf``; the extras)."""
    out, at = {}, 0
    for name, a in like.items():
        out[name] = buf[at : at + a.size].reshape(a.shape)
        at += a.size
    return out, buf[at:]


def fingerprint(arrays: Mapping[str, np.ndarray]) -> int:
    """CRC-32 of the arrays' bytes, to check cheaply that every rank holds the same values."""
    crc = 0
    for a in arrays.values():
        crc = zlib.crc32(np.ascontiguousarray(a).data, crc)
    return crc


def same_on_all(comm: Comm, value: int) -> bool:
    """True on every rank if ``value`` is the same on all of them (max = min)."""
    top = comm.allreduce_max(np.array([value, -value], dtype=np.int64))
    return int(top[0]) == -int(top[1])
