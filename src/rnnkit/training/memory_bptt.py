"""Memory-bounded BPTT: keep the state only at segment starts, recompute each segment's forward.

Full BPTT keeps every step's cache (gates, states) until the backward, so its memory grows
with T.  Here the forward pass keeps only the state where each segment of ``k`` steps starts
(k = ⌈√T⌉ by default, Chen et al. 2016; or the longest segment that fits a byte budget, as in
Gruslys et al. 2016, "Memory-Efficient Backpropagation Through Time").  The backward walks the
segments last to first: it re-runs one segment's forward from its saved start state, which
rebuilds that segment's cache, and back-propagates it with the ∂L/∂state handed back by the
segment after it::

    forward:   s_0 = state;  s_{j+1} = F(x[a_j : b_j], s_j)       keep s_0 … s_{n−1} only
    backward:  for j = n−1 … 0:  cache_j = F(x[a_j : b_j], s_j)   (recomputed; kept for j = n−1)
                                 grads += Fᵀ(cache_j, dy[a_j : b_j], ds_{j+1}) → ds_j

Each step runs forward twice and backward once (≈ 4/3 of full BPTT's arithmetic; measured by
``python -m rnnkit.bench.memory_bptt``, no slower at T = 1 000 and faster at T = 10 000, where
full BPTT's gigabytes of fresh caches cost more than the recomputation); the memory is n states
plus one segment's cache, ≈ 2√(T·s·c) for states of s bytes and c cache bytes a step.
The gradients are full BPTT's: every step sees the same arithmetic, and only the sums over
time of the weight gradients are split by segment (float64: within 1e-12; ∂L/∂state_0 and the
loss gradients at every step are the same bits).

Two ways to cut the sequence, chosen by the model:

* one-directional (any depth): the whole model — input, every layer, readout, loss — runs a
  segment at a time, so nothing of length T is held but the input ``x`` itself;
* bidirectional: the reverse direction needs the whole sequence before its first output, so
  each layer runs over the whole sequence as usual (its inputs and outputs are kept) and only
  the time loop inside each direction keeps segment starts and recomputes its caches.

Dropout masks are the ones full BPTT draws from the same generator (the recurrent mask once
per layer and direction, the inter-layer masks laid out over all T steps), so both give the
same gradients and leave the generator in the same state.

Example
-------
>>> import numpy as np, rnnkit
>>> model = rnnkit.Model(rnnkit.ModelConfig.for_tokens(5, cell="lstm", hidden_size=8),
...                      rng=np.random.default_rng(0))
>>> ids = np.random.default_rng(1).integers(0, 5, (2, 50))
>>> step = checkpointed_bptt(model, ids[:, :-1], ids[:, 1:])        # segments of ⌈√49⌉ = 7
>>> sorted(step.grads) == sorted(model.params)
True
"""

import copy
import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from ..cells import unroll
from ..errors import ConfigError, ShapeError
from ..layers import losses
from ..models.model import Model, ModelCache, _last_steps
from .bptt import Step, full_bptt

# -- the segment length -------------------------------------------------------------------------


def segment_length(
    T: int,
    *,
    segment: int | None = None,
    budget_bytes: int | None = None,
    step_bytes: int = 0,
    state_bytes: int = 0,
) -> int:
    """Steps per segment: ``segment``, or the longest that fits ``budget_bytes``, or ⌈√T⌉.

    With a budget, memory(k) = ⌈T/k⌉ · state_bytes + k · step_bytes (the checkpoints plus one
    live segment) must fit; longer segments mean fewer, larger products, so the longest wins.
    """
    if segment is not None and budget_bytes is not None:
        raise ConfigError("pass segment or budget_bytes, not both")
    if segment is not None:
        if segment < 1:
            raise ConfigError(f"segment must be >= 1 step, got {segment}")
        return min(int(segment), T)
    if budget_bytes is None:
        return math.isqrt(T - 1) + 1  # ⌈√T⌉
    k = np.arange(1, T + 1, dtype=np.float64)
    memory = np.ceil(T / k) * state_bytes + k * step_bytes
    fits = np.flatnonzero(memory <= budget_bytes)
    if fits.size == 0:
        best = int(np.argmin(memory))
        raise ConfigError(
            f"budget_bytes={budget_bytes} is below the least this batch needs with one level of "
            f"recomputation: {int(memory[best])} bytes (segments of {best + 1} steps); raise it"
        )
    return int(fits[-1]) + 1


def _nbytes(obj: Any) -> int:
    """Bytes of every array in a (nested) cache of tuples, lists and NamedTuples."""
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if isinstance(obj, (tuple, list)):
        return sum(_nbytes(o) for o in obj)
    return 0


def _probe(model: Model, x: np.ndarray, state: Any) -> tuple[int, int]:
    """(bytes a step of cache and backward work takes, bytes of one state) from a short run."""
    t = min(x.shape[1], 8)
    _, final, cache = model.forward(x[:, :t], state)
    return 2 * _nbytes(cache) // t, _nbytes(final)  # the backward's work arrays ≈ the cache


# -- the public function ------------------------------------------------------------------------


def checkpointed_bptt(
    model: Model,
    x: np.ndarray,
    targets: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    lengths: np.ndarray | None = None,
    state: Any = None,
    train: bool = True,
    rng: np.random.Generator | None = None,
    segment: int | None = None,
    budget_bytes: int | None = None,
) -> Step:
    """Loss and gradients of one batch as ``rnnkit.training.bptt.full_bptt`` in memory of order √T.

    ``x: [B, T]`` ids or ``[B, T, I]``; ``targets``, ``mask: [B, T]``, ``lengths: [B]``,
    ``state``, ``train`` and ``rng`` as in ``full_bptt``.  ``segment`` fixes the steps per
    segment; ``budget_bytes`` picks the longest segment whose checkpoints and live cache fit
    (see ``segment_length``); neither: ⌈√T⌉.
    """
    x = np.asarray(x)
    if x.ndim < 2 or 0 in x.shape[:2]:
        raise ShapeError(f"x must be [B, T] ids or [B, T, I] with B, T >= 1, got shape {x.shape}")
    T = x.shape[1]
    step_bytes = state_bytes = 0
    if budget_bytes is not None:
        step_bytes, state_bytes = _probe(model, x, state)
    k = segment_length(
        T,
        segment=segment,
        budget_bytes=budget_bytes,
        step_bytes=step_bytes,
        state_bytes=state_bytes,
    )
    if model.rnn.num_directions == 2:
        return full_bptt(
            _recomputing_view(model, k),
            x,
            targets,
            mask=mask,
            lengths=lengths,
            state=state,
            train=train,
            rng=rng,
        )
    return _segmented(model, x, targets, mask, lengths, state, train, rng, k)


# -- one-directional models: the whole model a segment at a time --------------------------------


class _Segments(NamedTuple):
    bounds: list  # [(a, b)] steps of each segment
    steps: np.ndarray | None  # [B, T] bool: real steps (None: all)
    keep: np.ndarray | None  # [B, T] bool: positions the loss counts (every-step readout)
    last: np.ndarray | None  # [B] last real step of each sequence (last-step readout)
    counted: int  # positions the loss counts
    norm: int  # N_w of the loss: positions, times O for MSE


def _segmented(model: Model, x, targets, mask, lengths, state, train, rng, k: int) -> Step:
    B, T = x.shape[:2]
    plan = _plan(model, x, targets, mask, lengths, k)
    view = _every_step_view(model)
    draws = _DropoutDraws(model, B, T, len(plan.bounds), rng) if train else None
    starts, s = [], state
    for j, (a, b) in enumerate(plan.bounds[:-1]):
        starts.append(s)
        s = _advance(view, x[:, a:b], s, _cut(plan.steps, a, b), train, _rng(draws, j, rng))
    starts.append(s)
    a, b = plan.bounds[-1]
    y, final, cache = view.forward(
        x[:, a:b],
        s,
        _cut(plan.steps, a, b),
        train=train,
        rng=_rng(draws, len(plan.bounds) - 1, rng),
    )
    kept: tuple[np.ndarray, ModelCache] | None = (y, cache)  # the last segment's forward
    del y, cache
    grads, dstate, loss = None, None, 0.0
    for j in reversed(range(len(plan.bounds))):
        a, b = plan.bounds[j]
        if kept is None:  # recompute this segment's forward from its saved start
            y, _, cache = view.forward(
                x[:, a:b], starts[j], _cut(plan.steps, a, b), train=train, rng=_rng(draws, j, rng)
            )
        else:
            (y, cache), kept = kept, None
        part, dy = _segment_objective(model, plan, y, targets, a, b)
        g, dstate = view.backward(cache, dy, dstate)
        del y, cache, dy  # free the segment before the next one is built
        loss += part
        grads = _accumulate(grads, g)
    assert grads is not None  # at least one segment
    return Step(loss, grads, final, plan.counted)


def _accumulate(total: dict | None, g: dict) -> dict:
    """total += g name by name (a copy of g the first time, so no array is ever shared)."""
    if total is None:
        return {n: w.copy() for n, w in g.items()}
    for n in total:
        total[n] += g[n]
    return total


def _advance(view: Model, x: np.ndarray, state: Any, steps, train: bool, rng) -> Any:
    """The state after running ``x`` (the segment's cache is dropped on return)."""
    return view.forward(x, state, steps, train=train, rng=rng)[1]


def _cut(a2: np.ndarray | None, a: int, b: int) -> np.ndarray | None:
    return None if a2 is None else a2[:, a:b]


def _rng(draws: "_DropoutDraws | None", j: int, rng):
    return rng if draws is None or not draws.active else draws.segment(j)


def _every_step_view(model: Model) -> Model:
    """The model with its readout at every step (same parameter arrays): a last-step model's
    readout at each sequence's last step is then one of the segment's outputs."""
    if model.config.readout == "every_step":
        return model
    view = copy.copy(model)
    view.config = model.config.replace(readout="every_step")
    return view


def _plan(model: Model, x, targets, mask, lengths, k: int) -> _Segments:
    B, T = x.shape[:2]
    if mask is not None and np.shape(mask) != (B, T):
        raise ShapeError(f"mask must have shape [B, T] = [{B}, {T}], got {np.shape(mask)}")
    m = model.rnn._time_major_mask(None if mask is None else np.asarray(mask).T, lengths, T, B)
    steps = None if m is None else np.ascontiguousarray(m.T)  # [B, T]
    c = model.config
    last = keep = None
    if c.readout == "last_step":
        last, count = _last_steps(m, lengths, T, B), B
    else:
        keep, count = steps, (B * T if steps is None else int(np.count_nonzero(steps)))
    _check_targets(model, targets, B, T, keep)
    norm = count * (c.output_size if c.loss == "mse" else 1)
    bounds = [(a, min(a + k, T)) for a in range(0, T, k)]
    return _Segments(bounds, steps, keep, last, count, norm)


def _check_targets(model: Model, targets, B: int, T: int, keep) -> None:
    c = model.config
    lead = (B,) if c.readout == "last_step" else (B, T)
    shape = lead + ((c.output_size,) if c.loss == "mse" else ())
    y = np.asarray(targets)
    if y.shape != shape:
        raise ShapeError(f"targets must have shape {list(shape)}, got {list(y.shape)}")
    if c.loss == "cross_entropy":
        if not np.issubdtype(y.dtype, np.integer):
            raise ShapeError(f"targets must be integer class ids, got dtype {y.dtype}")
        bad = (y < 0) | (y >= c.output_size)
        bad = bad if keep is None else bad & keep
        if bad.any():
            pos = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ShapeError(
                f"targets{list(pos)} = {int(y[pos])} is not a class id in [0, {c.output_size})"
            )


def _segment_objective(
    model: Model, plan: _Segments, y: np.ndarray, targets, a: int, b: int
) -> tuple[float, np.ndarray]:
    """(the segment's share of the batch's mean loss L, ∂L/∂y [B, b−a, O]).

    Each share is divided by the whole batch's N_w, so every step's gradient is the same
    bits as one loss over all steps, and the shares add up to L.
    """
    cross_entropy = model.config.loss == "cross_entropy"
    objective = losses.softmax_cross_entropy if cross_entropy else losses.mse
    if plan.last is None:
        w = None if plan.keep is None else plan.keep[:, a:b]
        return objective(y, np.asarray(targets)[:, a:b], w, normalizer=plan.norm)
    rows = np.flatnonzero((plan.last >= a) & (plan.last < b))
    dy = np.zeros_like(y)
    if rows.size == 0:
        return 0.0, dy
    cols = plan.last[rows] - a
    part, dy[rows, cols] = objective(
        y[rows, cols], np.asarray(targets)[rows], normalizer=plan.norm
    )
    return part, dy


# -- dropout: full BPTT's draws, served a segment at a time -------------------------------------


class _DropoutDraws:
    """The uniforms ``Recurrent.forward`` draws for dropout over the whole sequence, per segment.

    Over T steps the layer draws, layer by layer: the recurrent mask u[B, S] (once), then the
    inter-layer mask u[T, B, O] (layers but the last).  The recurrent masks are drawn here; for
    each inter-layer mask a copy of the generator is kept where its block starts, read forward
    segment by segment, and its state saved at every segment start for the recomputation.
    The caller's generator ends where one whole-sequence forward leaves it.
    """

    def __init__(
        self, model: Model, B: int, T: int, n_segments: int, rng: np.random.Generator | None
    ) -> None:
        c = model.rnn.config
        self.active = bool(c.dropout or c.recurrent_dropout) and rng is not None
        self.recurrent: list = []  # [layer] u[B, S] or None
        self.cursors: list = []  # [layer] generator at the inter-layer block, or None
        self.saved: list = [None] * n_segments  # [segment] cursor states at its start
        if not self.active or rng is None:  # (active only with an rng)
            return
        S, O = model.rnn.state_sizes[0], model.rnn.output_size
        for layer in range(c.num_layers):
            self.recurrent.append(rng.random((B, S)) if c.recurrent_dropout else None)
            cursor = None
            if c.dropout and layer < c.num_layers - 1:
                cursor = _clone(rng)
                _skip(rng, T * B * O)
            self.cursors.append(cursor)

    def segment(self, j: int) -> "_Replay":
        """A stand-in generator that gives the segment's forward exactly these draws."""
        if self.saved[j] is None:  # first visit (the forward pass, in order)
            self.saved[j] = [None if g is None else g.bit_generator.state for g in self.cursors]
            cursors = self.cursors
        else:
            cursors = [None if s is None else _clone_state(s) for s in self.saved[j]]
        queue = []  # in the layer's draw order: recurrent mask, then inter-layer mask
        for u, cursor in zip(self.recurrent, cursors):
            queue += [src for src in (u, cursor) if src is not None]
        return _Replay(queue)


class _Replay:
    """Answers ``random(shape)`` with the next expected draw; any other call order is an error."""

    def __init__(self, queue: list) -> None:
        self.queue = queue  # arrays to hand out as they are, or generators to read from

    def random(self, shape) -> np.ndarray:
        shape = tuple(shape)
        src = self.queue.pop(0) if self.queue else None
        if isinstance(src, np.ndarray) and src.shape == shape:
            return src
        if isinstance(src, np.random.Generator) and len(shape) == 3:
            return src.random(shape)  # the segment's [b − a, B, O] of the layer's block
        raise RuntimeError(f"unexpected dropout draw of shape {shape}")


def _clone(rng: np.random.Generator) -> np.random.Generator:
    return _clone_state(rng.bit_generator.state)


def _clone_state(state: Mapping[str, Any]) -> np.random.Generator:
    bit_generator = getattr(np.random, state["bit_generator"])()
    bit_generator.state = state
    return np.random.Generator(bit_generator)


def _skip(rng: np.random.Generator, n: int) -> None:
    """Move ``rng`` past n float64 draws (n 64-bit outputs)."""
    if isinstance(rng.bit_generator, np.random.PCG64):
        rng.bit_generator.advance(n)
        return
    while n > 0:
        m = min(n, 1 << 20)
        rng.random(m)
        n -= m


# -- bidirectional models: each direction's time loop recomputes its caches ---------------------


def _recomputing_view(model: Model, k: int) -> Model:
    """The model whose recurrent layer runs each direction through ``_Recomputing``."""
    layer = copy.copy(model.rnn)
    layer.impl = _Recomputing(model.rnn.impl, k)
    view = copy.copy(model)
    view.rnn = layer
    return view


class _Checkpoints(NamedTuple):
    xs: np.ndarray  # [T, B, I] the direction's input (kept by the layer anyway)
    mask: np.ndarray | None  # [T, B]
    drop: np.ndarray | None  # recurrent dropout mask [B, S]
    starts: tuple  # the state at each segment's start
    bounds: list  # [(a, b)]
    last: Any  # the last segment's cache, kept from the forward


class _Recomputing:
    """A time loop with the contract of ``rnnkit.cells.unroll`` that wraps another one (the
    reference or a kernel), keeping only segment-start states and recomputing in the backward."""

    def __init__(self, inner: Any, k: int) -> None:
        self.inner, self.k = inner, k
        self.TOKEN_IDS = getattr(inner, "TOKEN_IDS", False)  # token ids pass through to it

    def forward(
        self,
        cell,
        p: dict,
        xs: np.ndarray,
        state0: tuple,
        opts,
        mask: np.ndarray | None = None,
        drop: np.ndarray | None = None,
    ):
        """(outs [T, B, O], state_T, checkpoints) — the inner loop's results."""
        T = xs.shape[0]
        bounds = [(a, min(a + self.k, T)) for a in range(0, T, self.k)]
        outs, starts, state, cache = None, [], state0, None
        for a, b in bounds:
            starts.append(state)
            out, state, cache = self.inner.forward(
                cell, p, xs[a:b], state, opts, _rows(mask, a, b), drop
            )
            if outs is None:
                outs = np.empty((T,) + out.shape[1:], out.dtype)
            outs[a:b] = out
            cache = cache if b == T else None
        return outs, state, _Checkpoints(xs, mask, drop, tuple(starts), bounds, cache)

    def backward(
        self,
        cell,
        p: dict,
        ck: _Checkpoints,
        douts: np.ndarray,
        dstate: tuple,
        opts,
        *,
        need_dx: bool = True,
    ):
        """(dxs [T, B, I] or None, ∂L/∂state_0, grads) — segment by segment, last to first."""
        kw = {} if need_dx or self.inner is unroll else {"need_dx": False}
        dxs = np.empty_like(ck.xs) if need_dx else None
        grads, cache = None, ck.last
        for (a, b), start in zip(reversed(ck.bounds), reversed(ck.starts)):
            if cache is None:
                cache = self.inner.forward(
                    cell, p, ck.xs[a:b], start, opts, _rows(ck.mask, a, b), ck.drop
                )[2]
            dx, dstate, g = self.inner.backward(cell, p, cache, douts[a:b], dstate, opts, **kw)
            if dxs is not None:  # need_dx
                dxs[a:b] = dx
            cache = dx = None
            grads = _accumulate(grads, g)
        return dxs, dstate, grads


def _rows(mask: np.ndarray | None, a: int, b: int) -> np.ndarray | None:
    return None if mask is None else mask[a:b]
