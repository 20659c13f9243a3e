"""The recurrent layer: a cell unrolled over time, ``num_layers`` deep, optionally bidirectional.

Parameters carry PyTorch's names — ``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``,
``bias_hh_l{k}`` and ``…_reverse`` for the backward direction — so weights move to and from
``torch.nn.RNN``/``LSTM``/``GRU`` without reshuffling.  Cell-specific extras (peepholes, layer
norm gains, Jordan's output layer ``weight_hy_l0``/``bias_hy_l0``) follow the same pattern.

Shapes (time-major unless ``batch_first``): ``x: [T, B, I]`` — or ``[T, B]`` integer token ids,
which stand for one-hot rows of width I (a fused kernel reads row id of W_ih instead of
multiplying by the one-hot row) — outputs ``[T, B, D·O]`` with
``D`` = 2 if bidirectional else 1, state ``[L·D, B, S]`` per state array — one array for
Elman/Jordan/FRNN/GRU, the pair ``(h, c)`` for LSTM, as PyTorch.  Layer ``k > 0`` reads the
concatenated outputs of layer ``k − 1``; between layers, dropout (training only).

A stacked Jordan layer: every layer is a Jordan net with the same O = ``output_size`` output
units (the state ``[L·D, B, O]`` holds one width), each feeding back its own y_{t−1}; layer
``k > 0`` reads layer ``k − 1``'s outputs y.  In a ``Model`` the top layer's y is the network's
output and O is the model's ``output_size``, so a lower layer passes on only O values per step.

Variable lengths: pass ``lengths [B]`` or ``mask [T, B]`` (``[B, T]`` if batch_first).  A finished
sequence keeps its last state, its outputs are 0, and it receives no gradient; the reverse
direction of a bidirectional layer starts at each sequence's last real step.
"""

from types import ModuleType
from typing import Any, NamedTuple, Protocol

import numpy as np

from .. import kernels
from ..cells import get_cell, unroll
from ..config import RecurrentConfig  # noqa: F401  (re-exported: the layer's configuration)
from ..errors import ConfigError, ShapeError
from .embedding import check_ids, one_hot


class TimeLoop(Protocol):
    """An object with the time-loop functions of ``rnnkit.cells.unroll`` standing in for a
    kernel module (e.g. ``memory_bptt``'s loop that recomputes its caches)."""

    def forward(self, *args: Any, **kwargs: Any) -> Any: ...

    def backward(self, *args: Any, **kwargs: Any) -> Any: ...


class Uniforms(Protocol):
    """What dropout draws its uniforms from: a ``numpy.random.Generator``, or a stand-in that
    answers ``random(shape)`` (e.g. one replaying a stream's held recurrent masks)."""

    def random(self, size: tuple[int, ...], /) -> np.ndarray: ...


class LayerCache(NamedTuple):
    """Saved by ``Recurrent.forward`` for ``backward``; opaque to callers."""

    caches: list  # [layer][direction] -> unroll.SequenceCache
    drop_masks: list  # [layer] -> inter-layer dropout mask [T, B, D·O] or None
    single_state: bool  # the caller's state was one array rather than a tuple


class Recurrent:
    """A stacked, optionally bidirectional recurrent layer with hand-written BPTT.

    Example
    -------
    >>> import numpy as np
    >>> layer = Recurrent(RecurrentConfig(cell="gru", input_size=3, hidden_size=5),
    ...                   rng=np.random.default_rng(0))
    >>> out, h, cache = layer.forward(np.ones((7, 2, 3), np.float32))
    >>> out.shape, h.shape
    ((7, 2, 5), (1, 2, 5))
    >>> dx, dh0, grads = layer.backward(cache, np.ones_like(out))
    >>> dx.shape, sorted(grads)[:2]
    ((7, 2, 3), ['bias_hh_l0', 'bias_ih_l0'])
    """

    def __init__(
        self,
        config: RecurrentConfig,
        *,
        rng: np.random.Generator | None = None,
        dtype: Any = np.float32,
        params: dict[str, np.ndarray] | None = None,
        backend: str | None = None,
    ) -> None:
        self.config = config
        self.cell = get_cell(config.cell)
        self.opts = config.cell_options()
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ConfigError(f"dtype must be float32 or float64, got {self.dtype}")
        # the implementation of the time loop: a fast kernel or the reference (see rnnkit.kernels)
        self.impl: ModuleType | TimeLoop = kernels.resolve(
            config.cell, self.opts, self.dtype, backend
        )
        self.num_directions = 2 if config.bidirectional else 1
        H = config.hidden_size
        self.state_sizes = self.cell.state_sizes(H, self.opts)
        self.output_size = self.num_directions * self.cell.output_size(H, self.opts)
        if params is None:
            if rng is None:
                raise ConfigError("Recurrent needs rng= (a numpy.random.Generator) or params=")
            params = self._init_params(rng)
        self.params: dict[str, np.ndarray] = {}
        self.load_state_dict(params)

    # -- parameters ---------------------------------------------------------------------------

    def _layer_input_size(self, layer: int) -> int:
        return self.config.input_size if layer == 0 else self.output_size

    def _directions(self):
        """Yield (layer, direction, name suffix) in PyTorch's parameter order."""
        for layer in range(self.config.num_layers):
            for d in range(self.num_directions):
                yield layer, d, f"_l{layer}" + ("_reverse" if d else "")

    def _init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        params = {}
        for layer, _, suffix in self._directions():
            p = self.cell.init_params(
                self._layer_input_size(layer), self.config.hidden_size, self.opts, rng, self.dtype
            )
            params.update({name + suffix: w for name, w in p.items()})
        return params

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Name → shape of every parameter, in PyTorch's order."""
        shapes = {}
        for layer, _, suffix in self._directions():
            cell_shapes = self.cell.param_shapes(
                self._layer_input_size(layer), self.config.hidden_size, self.opts
            )
            shapes.update({name + suffix: tuple(s) for name, s in cell_shapes.items()})
        return shapes

    def state_dict(self) -> dict[str, np.ndarray]:
        """The parameters as NumPy arrays under their PyTorch names (copies)."""
        return {name: w.copy() for name, w in self.params.items()}

    def load_state_dict(self, params: dict[str, np.ndarray]) -> None:
        """Replace the parameters, checking names and shapes; arrays are copied and cast."""
        expected = self.param_shapes()
        missing = sorted(set(expected) - set(params))
        unexpected = sorted(set(params) - set(expected))
        if missing or unexpected:
            raise ShapeError(
                f"parameter names do not match a {self.config.cell} layer: "
                f"missing {missing}, unexpected {unexpected}"
            )
        for name, shape in expected.items():
            w = np.asarray(params[name])
            if w.shape != shape:
                raise ShapeError(f"parameter {name} must have shape {shape}, got {w.shape}")
        self.params = {n: np.array(params[n], dtype=self.dtype, order="C") for n in expected}

    def _cell_params(self, layer: int, suffix: str) -> dict[str, np.ndarray]:
        """The parameters of one layer and direction under the cell's base names."""
        names = self.cell.param_shapes(
            self._layer_input_size(layer), self.config.hidden_size, self.opts
        )
        return {name: self.params[name + suffix] for name in names}

    # -- forward and backward through time ----------------------------------------------------

    def forward(
        self,
        x: np.ndarray,
        state: np.ndarray | tuple[np.ndarray, ...] | None = None,
        mask: np.ndarray | None = None,
        *,
        lengths: np.ndarray | None = None,
        train: bool = False,
        rng: Uniforms | None = None,
    ) -> tuple[np.ndarray, Any, LayerCache]:
        """Run the layer over ``x: [T, B, I]`` (``[B, T, I]`` if batch_first), or over integer
        token ids ``x: [T, B]`` (``[B, T]``) standing for one-hot rows of width I.

        ``state`` is ``[L·D, B, S]`` (a pair for LSTM) or None for zeros.  With ``train=True``
        and an ``rng``, dropout and recurrent dropout are sampled from ``rng``.
        Returns (outputs ``[T, B, D·O]``, final state shaped like ``state``, cache).
        """
        xs = self._check_input(x)
        T, B = xs.shape[:2]
        if xs.ndim == 2 and not getattr(self.impl, "TOKEN_IDS", False):
            xs = one_hot(xs, self.config.input_size, self.dtype)
        m = self._time_major_mask(mask, lengths, T, B)
        states, single = self._split_state(state, B)
        if train and rng is None and (self.config.dropout or self.config.recurrent_dropout):
            raise ConfigError("training with dropout needs rng= (a numpy.random.Generator)")
        caches, drop_masks, finals = [], [], []
        layer_in = xs
        for layer in range(self.config.num_layers):
            outs, layer_caches = [], []
            for d in range(self.num_directions):
                k = layer * self.num_directions + d
                suffix = f"_l{layer}" + ("_reverse" if d else "")
                p = self._cell_params(layer, suffix)
                drop = self._recurrent_mask(B, train, rng)
                seq, seq_mask = (layer_in, m) if d == 0 else (layer_in[::-1], _flip(m))
                out, final, cache = self.impl.forward(
                    self.cell, p, seq, tuple(s[k] for s in states), self.opts, seq_mask, drop
                )
                outs.append(out if d == 0 else out[::-1])
                layer_caches.append(cache)
                finals.append(final)
            layer_out = outs[0] if len(outs) == 1 else np.concatenate(outs, axis=-1)
            drop_mask = None
            if train and self.config.dropout and layer < self.config.num_layers - 1:
                assert rng is not None  # checked above: dropout in training needs rng
                drop_mask = _dropout_mask(rng, layer_out.shape, self.config.dropout, self.dtype)
                layer_out = layer_out * drop_mask
            caches.append(layer_caches)
            drop_masks.append(drop_mask)
            layer_in = layer_out
        final_state = tuple(np.stack([f[j] for f in finals]) for j in range(len(states)))
        outputs = layer_in.swapaxes(0, 1) if self.config.batch_first else layer_in
        return outputs, _join_state(final_state, single), LayerCache(caches, drop_masks, single)

    def backward(
        self,
        cache: LayerCache,
        d_outputs: np.ndarray,
        d_final_state: np.ndarray | tuple[np.ndarray, ...] | None = None,
        *,
        need_dx: bool = True,
    ) -> tuple[np.ndarray | None, Any, dict[str, np.ndarray]]:
        """Backpropagate through time.

        ``d_outputs`` is ∂L/∂outputs (shaped like the outputs), ``d_final_state`` ∂L/∂(final
        state) or None.  Returns (∂L/∂x shaped like x, ∂L/∂state0 shaped like the state,
        grads keyed by the PyTorch parameter names).  With ``need_dx=False`` the caller has
        no use for ∂L/∂x (e.g. one-hot input): it is returned as None, and a fast kernel
        skips computing it.  For token ids, ∂L/∂x is with respect to their one-hot rows.
        """
        d_out = np.asarray(d_outputs, dtype=self.dtype)
        if self.config.batch_first:
            d_out = d_out.swapaxes(0, 1)
        first = cache.caches[0][0].xs
        T, B = first.shape[:2]
        expected = (T, B, self.output_size)
        if d_out.shape != expected:
            raise ShapeError(
                f"d_outputs must have shape {expected} (time-major), got {d_out.shape}"
            )
        d_finals, _ = self._split_state(d_final_state, B)
        d_states0 = [np.zeros_like(s) for s in d_finals]
        grads: dict[str, np.ndarray] = {}
        O = self.output_size // self.num_directions
        for layer in reversed(range(self.config.num_layers)):
            if cache.drop_masks[layer] is not None:
                d_out = d_out * cache.drop_masks[layer]
            d_in: np.ndarray | None = None
            skip_dx = layer == 0 and not need_dx
            kw = {"need_dx": False} if skip_dx and self.impl is not unroll else {}
            for d in range(self.num_directions):
                k = layer * self.num_directions + d
                suffix = f"_l{layer}" + ("_reverse" if d else "")
                d_seq = d_out[..., d * O : (d + 1) * O]
                dxs, ds0, g = self.impl.backward(
                    self.cell,
                    self._cell_params(layer, suffix),
                    cache.caches[layer][d],
                    d_seq if d == 0 else d_seq[::-1],
                    tuple(s[k] for s in d_finals),
                    self.opts,
                    **kw,
                )
                if not skip_dx:
                    dxs = dxs if d == 0 else dxs[::-1]
                    d_in = dxs if d_in is None else d_in + dxs
                for j, ds in enumerate(ds0):
                    d_states0[j][k] = ds
                grads.update({name + suffix: w for name, w in g.items()})
            if d_in is not None:  # None only below layer 0, when ∂L/∂x is not needed
                d_out = d_in
        d_x = d_in.swapaxes(0, 1) if self.config.batch_first and d_in is not None else d_in
        grads = {name: grads[name] for name in self.params}  # PyTorch's order
        return d_x, _join_state(tuple(d_states0), cache.single_state), grads

    # -- input checks and plumbing ------------------------------------------------------------

    def _check_input(self, x: np.ndarray) -> np.ndarray:
        """``x`` time-major and C-contiguous: ``[T, B, I]`` in the layer's dtype, or token ids
        ``[T, B]`` as int64 (checked to lie in [0, I))."""
        x = np.asarray(x)
        layout = "[B, T" if self.config.batch_first else "[T, B"
        I = self.config.input_size
        if x.ndim == 2 and np.issubdtype(x.dtype, np.integer):
            x = check_ids(x, I).astype(np.int64, copy=False)
        elif x.ndim != 3 or x.shape[-1] != I:
            raise ShapeError(
                f"x must be {layout}, I] with I = {I} (or {layout}] token ids), "
                f"got shape {x.shape}"
            )
        elif not np.issubdtype(x.dtype, np.number):
            raise ShapeError(f"x must be numeric, got dtype {x.dtype}")
        else:
            x = x.astype(self.dtype, copy=False)
        if 0 in x.shape[:2]:
            raise ShapeError(f"x must have at least one step and one sequence, got {x.shape}")
        return np.ascontiguousarray(x.swapaxes(0, 1) if self.config.batch_first else x)

    def _time_major_mask(self, mask, lengths, T: int, B: int) -> np.ndarray | None:
        if mask is not None and lengths is not None:
            raise ConfigError("pass either mask or lengths, not both")
        if lengths is not None:
            lengths = np.asarray(lengths)
            if lengths.shape != (B,) or not np.issubdtype(lengths.dtype, np.integer):
                raise ShapeError(
                    f"lengths must be {B} integers, got {lengths.dtype} {lengths.shape}"
                )
            if lengths.min() < 1 or lengths.max() > T:
                raise ShapeError(
                    f"lengths must lie in [1, {T}], got {lengths.min()}..{lengths.max()}"
                )
            return np.arange(T)[:, None] < lengths[None, :]
        if mask is None:
            return None
        mask = np.asarray(mask)
        if self.config.batch_first:
            mask = mask.T if mask.ndim == 2 else mask
        if mask.shape != (T, B):
            want = f"[{B}, {T}]" if self.config.batch_first else f"[{T}, {B}]"
            raise ShapeError(f"mask must have shape {want}, got {np.asarray(mask).shape}")
        if not np.isin(mask, (0, 1)).all():
            raise ShapeError("mask must hold only 0 (padding) and 1 (real step)")
        return mask.astype(bool)

    def _split_state(self, state, B: int) -> tuple[tuple[np.ndarray, ...], bool]:
        """The state as a tuple of [L·D, B, S] arrays (zeros if None) and whether it was single."""
        LD = self.config.num_layers * self.num_directions
        shapes = [(LD, B, s) for s in self.state_sizes]
        single = len(shapes) == 1
        if state is None:
            return tuple(np.zeros(s, dtype=self.dtype) for s in shapes), single
        parts = (state,) if single and not isinstance(state, (tuple, list)) else tuple(state)
        if len(parts) != len(shapes):
            raise ShapeError(f"state must hold {len(shapes)} arrays, got {len(parts)}")
        out = []
        for part, shape in zip(parts, shapes):
            part = np.asarray(part, dtype=self.dtype)
            if part.shape != shape:
                raise ShapeError(
                    f"state arrays must have shape {shape} [L·D, B, S], got {part.shape}"
                )
            out.append(part)
        return tuple(out), single

    def _recurrent_mask(self, B: int, train: bool, rng: Uniforms | None) -> np.ndarray | None:
        if not (train and self.config.recurrent_dropout):
            return None
        assert rng is not None  # forward refuses training with dropout and no rng
        return _dropout_mask(
            rng, (B, self.state_sizes[0]), self.config.recurrent_dropout, self.dtype
        )


def _dropout_mask(rng: Uniforms, shape: tuple[int, ...], p: float, dtype) -> np.ndarray:
    """Inverted dropout: 0 with probability p, else 1/(1 − p)."""
    keep = rng.random(shape) >= p
    return keep.astype(dtype) / dtype.type(1.0 - p)


def _flip(mask: np.ndarray | None) -> np.ndarray | None:
    return None if mask is None else mask[::-1]


def _join_state(state: tuple[np.ndarray, ...], single: bool):
    return state[0] if single else state
