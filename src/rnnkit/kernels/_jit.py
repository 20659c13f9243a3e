"""What the fused (Numba-compiled) kernels share: how they are compiled, and a float32 tanh.

A fused kernel does one time step's elementwise work in a single compiled pass instead of a
sequence of NumPy calls (each a separate pass over the step's arrays, with its own call
overhead); the matrix products stay with BLAS (NumPy's, or SciPy's from a compiled time loop
where Numba has it: ``BLAS``).  Functions are compiled for explicit
signatures when their module is imported, and cached on disk (``cache=True``), so only the
first import on a machine pays the compilation and no training step ever does.

The cache: Numba writes it next to the source (``kernels/__pycache__``), or where that is not
writable under ``NUMBA_CACHE_DIR`` or the user's cache directory (``~/.cache/numba``); each
file is written under a temporary name and renamed into place, so processes compiling at once
(``pytest -n 2``, MPI ranks) leave whole files.  An entry is used only for the same Numba
version, processor and source: Numba keys it by a hash of the kernel's own file, and
``compiled`` adds one of this file, whose helpers (``tanh32``, ``exp32``, the token rows) are
compiled into the kernels of the other files — without it, an edited helper would leave them
running their old machine code.

Compile options:

* ``error_model="numpy"``: a division by zero gives inf/nan instead of raising; Python's
  check would keep the loops from vectorising;
* the fast-math flags allow contraction into FMAs, reciprocal approximation and
  reassociation, but not ``nnan``/``ninf``: a NaN or inf still propagates, so a diverging
  run is still seen as diverging.

``tanh32`` is a rational approximation, tanh(x) ≈ x P(x²) / Q(x²) with x clamped to ±7.9053
(beyond it tanh is 1 in float32), with the minimax coefficients of Eigen's float ``tanh``.
It is arithmetic only, so a loop of it vectorises (NumPy's ``tanh`` is a call per element
in compiled code); its largest error over float32 is 2–4e-7 absolute (``tests/kernels``).

``exp32`` is exp(x) = 2ⁿ exp(r) with n = round(x / ln 2), r = x − n ln 2 (|r| ≤ ½ ln 2, ln 2
in two parts so r is exact) and exp(r) its Taylor polynomial to r⁷ (remainder < 5e-9); 2ⁿ is
built from its exponent bits.  x is clamped below at −87.34 (exp of it is float32's smallest
normal number; nothing lower is needed where it is used, on x − max ≤ 0).  Largest relative
error 3e-7 over [−87, 0].
Under ``NUMBA_DISABLE_JIT=1`` everything here runs as plain Python (for coverage).
"""

import hashlib
import math
from pathlib import Path
from typing import Literal, NotRequired, TypedDict

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

FLAGS = {"contract", "arcp", "afn", "reassoc", "nsz"}  # fast math without nnan / ninf


def _numba_blas() -> bool:
    """Whether compiled code can call BLAS (``np.dot`` in Numba goes through SciPy's BLAS,
    ``scipy.linalg.cython_blas``; without SciPy it cannot).  Under ``NUMBA_DISABLE_JIT`` it
    is NumPy's ``np.dot``."""
    if numba.config.DISABLE_JIT:  # type: ignore[attr-defined]
        return True
    try:
        from numba.np.linalg import ensure_blas

        ensure_blas()
    except ImportError:
        return False
    return True


BLAS = _numba_blas()
"""Whether a kernel may run its whole time loop compiled, with its recurrent products done by
``np.dot`` from compiled code (else a Python loop calls NumPy's product each step)."""


class JitOptions(TypedDict):
    """Keyword options of ``numba.njit`` used by the kernels."""

    fastmath: NotRequired[set[str]]
    error_model: Literal["python", "numpy"]
    cache: bool
    nogil: bool


OPTIONS: JitOptions = {"fastmath": FLAGS, "error_model": "numpy", "cache": True, "nogil": True}


ARRAY1, ARRAY2, ARRAY3 = "float32[::1]", "float32[:, ::1]", "float32[:, :, ::1]"  # C order
IDS = "int64[:, ::1]"  # token ids [T, B]


SOURCE_HASH = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
"""This file's content, part of the cache key of every kernel ``compiled`` makes."""


def compiled(signature: str):
    """Decorator: compile for ``signature`` at import, with the options above, cached on disk
    (keyed also by this file's content); no other signature is compiled later."""
    return jit([signature], OPTIONS)


def jit(signatures: list[str], options: JitOptions):
    """Decorator: compile for ``signatures`` at import with ``options``, and with
    ``options["cache"]`` cached on disk, keyed also by ``SOURCE_HASH``.  Where no cache
    directory is writable (see above) the functions are compiled in every process instead of
    failing at import."""

    def decorate(func):
        if numba.config.DISABLE_JIT:  # type: ignore[attr-defined]
            return numba.njit(signatures, **options)(func)
        lazy = options.copy()
        lazy["cache"] = False
        dispatcher = numba.njit(**lazy)(func)
        if options["cache"]:
            try:
                dispatcher._cache = _Cache(func)  # what ``cache=True`` sets, key extended
            except RuntimeError:  # Numba found no writable directory for the cache
                pass
        for signature in signatures:
            dispatcher.compile(signature)
        dispatcher.disable_compile()
        return dispatcher

    return decorate


if not numba.config.DISABLE_JIT:  # type: ignore[attr-defined]
    from numba.core.caching import FunctionCache

    class _Cache(FunctionCache):
        """Numba's on-disk cache of one kernel, its entries keyed also by ``SOURCE_HASH``."""

        def _index_key(self, sig, codegen):
            return (*super()._index_key(sig, codegen), SOURCE_HASH)


f32 = np.float32
CLAMP = f32(7.90531110763549805)  # |x| beyond which tanh(x) rounds to ±1 in float32
P1, P3, P5, P7, P9, P11, P13 = (
    f32(c)
    for c in (
        4.89352455891786e-03,
        6.37261928875436e-04,
        1.48572235717979e-05,
        5.12229709037114e-08,
        -8.60467152213735e-11,
        2.00018790482477e-13,
        -2.76076847742355e-16,
    )
)
Q0, Q2, Q4, Q6 = (
    f32(c)
    for c in (
        4.89352518554385e-03,
        2.26843463243900e-03,
        1.18534705686654e-04,
        1.19825839466702e-06,
    )
)
HALF, ONE = f32(0.5), f32(1.0)


@numba.njit(inline="always", fastmath=FLAGS, error_model="numpy")
def tanh32(x):
    """tanh(x) for a float32 x, as x P(x²) / Q(x²) (NaN in, NaN out)."""
    x = CLAMP if x > CLAMP else (-CLAMP if x < -CLAMP else x)
    x2 = x * x
    p = ((((((P13 * x2 + P11) * x2 + P9) * x2 + P7) * x2 + P5) * x2 + P3) * x2 + P1) * x
    q = ((Q6 * x2 + Q4) * x2 + Q2) * x2 + Q0
    return p / q


LOG2E, LN2_HI, LN2_LO = f32(1.4426950408889634), f32(0.693359375), f32(-2.12194440e-4)
EXP_LOWEST = f32(-87.33654)  # exp(EXP_LOWEST) = 2⁻¹²⁶, the smallest normal float32
E0, E1, E2, E3, E4, E5, E6, E7 = (f32(1 / math.factorial(k)) for k in range(8))


if numba.config.DISABLE_JIT:  # type: ignore[attr-defined]  # set from the environment at import

    def _pow2(n):
        """2ⁿ as float32 for an integer-valued n in [−126, 127]."""
        return f32(math.ldexp(1.0, int(n)))
else:

    @intrinsic
    def _float32_from_bits(typingctx, bits):
        """The float32 whose IEEE bits are the int32 ``bits``."""

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], context.get_value_type(types.float32))

        return types.float32(types.int32), codegen

    @numba.njit(inline="always", fastmath=FLAGS, error_model="numpy")
    def _pow2(n):
        return _float32_from_bits(np.int32((np.int32(n) + np.int32(127)) << np.int32(23)))


@numba.njit(inline="always", fastmath=FLAGS, error_model="numpy")
def exp32(x):
    """exp(x) for a float32 x ≥ −87.34 (clamped there), as 2ⁿ exp(r)."""
    x = EXP_LOWEST if x < EXP_LOWEST else x
    n = np.floor(x * LOG2E + HALF)  # n = round(x / ln 2)
    r = x - n * LN2_HI - n * LN2_LO
    p = ((((((E7 * r + E6) * r + E5) * r + E4) * r + E3) * r + E2) * r + E1) * r + E0
    return p * _pow2(n)


@numba.njit(inline="always", fastmath=FLAGS, error_model="numpy")
def copy_token_rows(P, ids, t, dst):
    """dst[t, b] = P[ids[t, b]] for every row b: step t's x W_ihᵀ + b for token ids.

    An explicit loop (a slice assignment is 3× slower), called in a pass of its own before
    the gate loop (a token test inside that loop makes it 20 % slower for vectors).
    """
    for b in range(ids.shape[1]):
        row, out = P[ids[t, b]], dst[t, b]
        for k in range(out.shape[0]):
            out[k] = row[k]


@numba.njit(inline="always", fastmath=FLAGS, error_model="numpy")
def add_token_rows(da, ids, t, dW_ihT):
    """dW_ihᵀ[ids[t, b]] += da[t, b] for every row b: step t's share of dW_ih for token ids."""
    for b in range(ids.shape[1]):
        w, d = dW_ihT[ids[t, b]], da[t, b]
        for k in range(d.shape[0]):
            w[k] += d[k]


@compiled(f"void({ARRAY2}, {ARRAY2}, {ARRAY1}, {ARRAY2})")
def project_narrow(x, WT, b, out):
    """out = x Wᵀ + b for a narrow input, x: [N, I], Wᵀ: [I, G], b: [G], out: [N, G]: row n is
    b + Σ_i x[n, i] Wᵀ[i], one pass over out (BLAS is slower for I ≤ 4: ``seq.NARROW``)."""
    N, I = x.shape
    G = b.shape[0]
    for n in range(N):
        o = out[n]
        for g in range(G):
            o[g] = b[g]
        for i in range(I):
            xi, w = x[n, i], WT[i]
            for g in range(G):
                o[g] += xi * w[g]


@compiled("void(float32[::1], float32[::1])")
def tanh32_array(x, out):
    """out = tanh32(x) elementwise (for tests and for measuring the approximation)."""
    for k in range(x.shape[0]):
        out[k] = tanh32(x[k])


@compiled("void(float32[::1], float32[::1])")
def exp32_array(x, out):
    """out = exp32(x) elementwise (for tests and for measuring the approximation)."""
    for k in range(x.shape[0]):
        out[k] = exp32(x[k])
