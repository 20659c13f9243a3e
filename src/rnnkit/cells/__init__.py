"""Recurrent cells: one module per cell, its forward step and hand-written backward step side by side.

The cell contract
-----------------
Every cell module (``elman``, ``jordan``, ``fully_recurrent``, ``lstm``, ``gru``) defines::

    param_shapes(I, H, opts) -> dict[str, tuple]      # PyTorch base names: weight_ih, weight_hh, ...
    init_params(I, H, opts, rng, dtype) -> dict[str, ndarray]
    state_sizes(H, opts) -> tuple[int, ...]           # one entry per state array: (H,) or (H, H)
    output_size(H, opts) -> int                        # width of the per-step output
    step_forward(p, ax, state, opts, drop) -> (out, state, cache)
    step_backward(p, dout, dstate, cache, opts) -> (dax, dstate_prev, dstep)
    param_grads(p, caches, dsteps, opts) -> dict[str, ndarray]   # every parameter but weight_ih

Shapes: ``ax: [B, G]`` is the input projection x_t W_ihᵀ *without* bias (``G`` = rows of
``weight_ih``); the driver computes it for all steps in one matrix product before the time
loop and forms ``dweight_ih`` and ``dxs`` in one product after it.  ``state`` is a tuple of
``[B, ·]`` arrays with the sizes of ``state_sizes``; ``out: [B, output_size]``.  ``drop`` is
the variational recurrent-dropout mask ``[B, S]`` (S = ``state_sizes(H, opts)[0]``, the width
of the recurrent input; already scaled by 1/(1−p)) applied to the recurrent input of every
step, or ``None``.  ``cache`` and ``dstep`` are NamedTuples of ``[B, ·]`` arrays (or ``None``
for a field an option switches off); the driver stacks each field over time (``[T, B, ·]``) and hands the stacks
to ``param_grads``, which forms the weight gradients with one matrix product per weight.
``dout`` and ``dstate`` arrive from the output at t and from step t+1; the step adds them
where the output *is* part of the state.  Nothing is mutated in place.

The time loop, masks, reversal and state carry live once, in ``unroll``.
"""

from dataclasses import dataclass
from importlib import import_module
from types import ModuleType

from ..errors import ConfigError

CELL_NAMES = ("elman", "jordan", "fully_recurrent", "lstm", "gru")
"""Every cell rnnkit implements; also the accepted values of ``--cell``."""

JORDAN_FEEDBACK = ("output", "softmax")
"""What a Jordan cell feeds back: its output y_{t−1} itself, or softmax(y_{t−1})."""

ALIASES = {"rnn": "elman", "frnn": "fully_recurrent", "fully-recurrent": "fully_recurrent"}


@dataclass(frozen=True, kw_only=True)
class CellOptions:
    """Options of one recurrent cell; each cell reads the fields that concern it."""

    nonlinearity: str = "tanh"  # elman / jordan / fully_recurrent: "tanh" | "relu"
    init: str = "uniform"  # recurrent weights: "uniform" (PyTorch) | "orthogonal" | "identity" (IRNN)
    peepholes: bool = False  # lstm: diagonal peepholes (i, f see c_{t-1}; o sees c_t)
    forget_bias: float = 0.0  # lstm: added to the forget gate's bias_ih at initialisation
    chrono_init: int = 0  # lstm / gru: > 0 sets the gate biases for lags up to this (Tallec 2018)
    reset_after: bool = True  # gru: r ⊙ (W_hn h + b_hn) (PyTorch, default) or W_hn (r ⊙ h) (Cho v3)
    layer_norm: bool = False  # lstm / gru: layer normalisation of each gate (Ba et al. 2016)
    output_size: int = 0  # jordan / fully_recurrent: number of output units (0: same as hidden)
    jordan_feedback: str = "output"  # jordan: y_{t-1} fed back as is ("output") | "softmax"
    linear_outputs: bool = False  # fully_recurrent: output units y = a (hidden units act(a))

    def __post_init__(self) -> None:
        if self.nonlinearity not in ("tanh", "relu"):
            raise ConfigError(f"nonlinearity must be 'tanh' or 'relu', got {self.nonlinearity!r}")
        if self.init not in ("uniform", "orthogonal", "identity"):
            raise ConfigError(
                f"init must be 'uniform', 'orthogonal' or 'identity', got {self.init!r}"
            )
        if self.chrono_init < 0 or 0 < self.chrono_init < 3:
            raise ConfigError(f"chrono_init must be 0 (off) or >= 3, got {self.chrono_init}")
        if self.chrono_init and self.forget_bias:
            raise ConfigError("chrono_init sets the forget-gate bias itself; leave forget_bias 0")
        if self.jordan_feedback not in JORDAN_FEEDBACK:
            raise ConfigError(f"jordan_feedback must be 'output' or 'softmax', "
                              f"got {self.jordan_feedback!r}")
        if self.output_size < 0:
            raise ConfigError(f"output_size must be >= 0, got {self.output_size}")


def canonical_name(name: str) -> str:
    """The registry name of a cell, accepting aliases such as ``rnn`` and ``frnn``."""
    key = ALIASES.get(name.lower(), name.lower())
    if key not in CELL_NAMES:
        choices = ", ".join(CELL_NAMES)
        raise ConfigError(f"unknown cell {name!r}; choose one of: {choices}")
    return key


def get_cell(name: str) -> ModuleType:
    """The module implementing cell ``name`` (imported on first use)."""
    return import_module(f"{__name__}.{canonical_name(name)}")
