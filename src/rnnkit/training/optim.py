"""Optimizers that update a dict of parameter arrays in place, and gradient clipping.

Every update follows ``torch.optim`` term for term (same eps placement, same first step), so
the two agree to rounding.  ``g`` is the gradient, ``θ`` the parameter, ``η`` the step's
learning rate, ``λ`` the weight decay, ``k`` the parameter's update count (1 on the first)::

    all but AdamW  g ← g + λ θ                                          (L2 penalty, if λ > 0)
    SGD            b ← g (k = 1),  b ← μ b + (1 − τ) g (k > 1)          (if μ > 0; τ dampening)
                   d = g + μ b (Nesterov) | b | g (μ = 0);   θ ← θ − η d
    RMSprop        v ← α v + (1 − α) g²;   ḡ ← ḡ + (1 − α)(g − ḡ)        (ḡ only if centered)
                   s = √(v − ḡ²) (centered) | √v;   s ← s + ε
                   b ← μ b + g / s;  θ ← θ − η b   (μ > 0)   |   θ ← θ − η g / s
    Adagrad        η_k = η / (1 + (k − 1) δ);  S ← S + g²;  θ ← θ − η_k g / (√S + ε)
    Adam, AdamW    θ ← θ (1 − η λ)                                      (AdamW only)
                   m ← m + (1 − β₁)(g − m);   v ← β₂ v + (1 − β₂) g²
                   θ ← θ − η/(1 − β₁ᵏ) · m / (√v / √(1 − β₂ᵏ) + ε)

Adam's update of a C-contiguous float32/float64 parameter runs as one compiled pass
(``kernels/adam.py``, chosen by ``kernels.resolve_op``) that is bit-identical to the NumPy form
below it; ``RNNKIT_BACKEND=reference`` keeps to the NumPy form.

Making an optimizer is where training starts: it sets glibc's malloc to keep freed memory
for the next step's arrays (``kernels.keep_freed_memory``, once per process; not with
``RNNKIT_KEEP_FREED_MEMORY=0`` or glibc's own ``MALLOC_*_`` / ``GLIBC_TUNABLES``).

The learning rate is a per-step value: ``step(params, grads, lr)`` uses ``lr`` (from a
schedule) or, when it is None, the optimizer's base ``lr``.

Parameters that are never updated (their state is not created either):

* a parameter whose gradient is missing from ``grads`` or is None;
* a parameter named in the optimizer's ``frozen`` set;
* a fixed structural array whose name (after the last dot) starts with one of
  ``FIXED_PREFIXES`` — the fully recurrent cell's ``connection_mask`` — so that neither
  weight decay nor momentum ever moves it, whatever its gradient.

``state_dict()`` returns the optimizer's name and hyper-parameters as JSON scalars, each
parameter's update count under ``"steps"`` and its state arrays (copies) under
``"state"``::

    {"optimizer": "adam", "lr": 0.002, "beta1": 0.9, …,
     "steps": {"head.weight": 12, …}, "state": {"exp_avg": {"head.weight": array, …}, …}}

``load_state_dict`` restores all of it, so a checkpointed run resumes bit for bit.

Clipping, applied to the gradients in place before the update (as
``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_``)::

    ‖g‖ = √(Σ_arrays ‖g_a‖²);   g ← g · min(1, c / (‖g‖ + 1e-6))        (returns ‖g‖)
    g ← clamp(g, −c, c)                                                (by value)
"""

import inspect
import math
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import numpy as np

from ..errors import CheckpointError, ConfigError, ShapeError
from ..kernels import keep_freed_memory, resolve_op

FIXED_PREFIXES = ("connection_mask",)
"""Name prefixes (after the last dot) of arrays stored with the parameters but never trained."""


class Optimizer:
    """Base class: per-parameter state, the frozen-parameter rule, state dicts.

    Subclasses set ``name`` and ``slots`` and implement ``_update``.
    """

    name: ClassVar[str] = ""
    slots: ClassVar[tuple[str, ...]] = ()  # names of the per-parameter state arrays

    def __init__(
        self, lr: float, *, weight_decay: float = 0.0, frozen: Iterable[str] = ()
    ) -> None:
        _require(lr > 0, f"lr must be > 0, got {lr}")
        _require(weight_decay >= 0, f"weight_decay must be >= 0, got {weight_decay}")
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.frozen = frozenset(frozen)
        self.steps: dict[str, int] = {}  # k per parameter
        self.state: dict[str, dict[str, np.ndarray]] = {}  # slot arrays per parameter
        keep_freed_memory()  # training starts: the next steps' arrays reuse freed memory

    def is_frozen(self, name: str) -> bool:
        """True if ``name`` is never updated (listed as frozen, or a fixed structural array)."""
        return name in self.frozen or name.rsplit(".", 1)[-1].startswith(FIXED_PREFIXES)

    def step(
        self,
        params: dict[str, np.ndarray],
        grads: Mapping[str, np.ndarray | None],
        lr: float | None = None,
    ) -> None:
        """Update every trainable ``params[name]`` in place from ``grads[name]`` (same shapes)."""
        lr = self.lr if lr is None else float(lr)
        _require(lr >= 0 and math.isfinite(lr), f"the step's lr must be finite and >= 0, got {lr}")
        unknown = sorted(set(grads) - set(params))
        if unknown:
            raise ShapeError(f"gradients for parameters that do not exist: {unknown}")
        for name, theta in params.items():
            g = grads.get(name)
            if g is None or self.is_frozen(name):
                continue
            g = np.asarray(g)
            if g.shape != theta.shape:
                raise ShapeError(
                    f"gradient of {name} has shape {g.shape}, parameter {theta.shape}"
                )
            g = g.astype(theta.dtype, copy=False)
            self.steps[name] = k = self.steps.get(name, 0) + 1
            self._update(theta, g, self.state.setdefault(name, {}), k, lr)

    def _update(
        self, theta: np.ndarray, g: np.ndarray, st: dict[str, np.ndarray], k: int, lr: float
    ) -> None:
        raise NotImplementedError

    def hyperparameters(self) -> dict[str, float | bool]:
        """The optimizer's settings as JSON scalars (constructor keyword → value)."""
        names = inspect.signature(type(self).__init__).parameters
        return {n: getattr(self, n) for n in names if n not in ("self", "frozen")}

    def state_dict(self) -> dict[str, Any]:
        """Name, hyper-parameters, update counts and state arrays (copies); see the module doc."""
        state: dict[str, dict[str, np.ndarray]] = {slot: {} for slot in self.slots}
        for pname, st in self.state.items():
            for slot, a in st.items():
                state[slot][pname] = a.copy()
        return {
            "optimizer": self.name,
            **self.hyperparameters(),
            "steps": dict(self.steps),
            "state": state,
        }

    def load_state_dict(self, d: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned (the hyper-parameters included)."""
        if d.get("optimizer") != self.name:
            raise CheckpointError(
                f"optimizer state is for {d.get('optimizer')!r}, not {self.name!r}; "
                "resume with the optimizer the run was started with"
            )
        hyper = self.hyperparameters()
        unknown = sorted(set(d) - set(hyper) - {"optimizer", "steps", "state"})
        unknown += sorted(f"state/{s}" for s in d.get("state", {}) if s not in self.slots)
        if unknown:
            raise CheckpointError(f"unexpected entries in {self.name} optimizer state: {unknown}")
        state: dict[str, dict[str, np.ndarray]] = {}
        for slot, arrays in d.get("state", {}).items():
            for pname, a in arrays.items():
                state.setdefault(pname, {})[slot] = np.array(a, copy=True)
        for n, v in hyper.items():
            setattr(self, n, type(v)(d.get(n, v)))
        self.steps = {pname: int(k) for pname, k in d.get("steps", {}).items()}
        self.state = state


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay."""

    name = "sgd"
    slots = ("momentum_buffer",)

    def __init__(
        self,
        lr: float,
        *,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        frozen: Iterable[str] = (),
    ) -> None:
        super().__init__(lr, weight_decay=weight_decay, frozen=frozen)
        _require(momentum >= 0, f"momentum must be >= 0, got {momentum}")
        _require(
            not nesterov or (momentum > 0 and dampening == 0),
            "Nesterov momentum needs momentum > 0 and dampening = 0",
        )
        self.momentum, self.dampening, self.nesterov = float(momentum), float(dampening), nesterov

    def _update(self, theta, g, st, k, lr):
        if self.weight_decay:
            g = g + self.weight_decay * theta  # g + λθ
        if self.momentum:
            b = st.get("momentum_buffer")
            if b is None:
                b = st["momentum_buffer"] = g.copy()  # b ← g on the first step
            else:
                b *= self.momentum
                b += (1 - self.dampening) * g  # b ← μ b + (1 − τ) g
            g = g + self.momentum * b if self.nesterov else b
        theta -= lr * g  # θ ← θ − η d


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e; Graves 2013 when centered), optional momentum."""

    name = "rmsprop"
    slots = ("square_avg", "grad_avg", "momentum_buffer")

    def __init__(
        self,
        lr: float,
        *,
        alpha: float = 0.99,
        eps: float = 1e-8,
        momentum: float = 0.0,
        centered: bool = False,
        weight_decay: float = 0.0,
        frozen: Iterable[str] = (),
    ) -> None:
        super().__init__(lr, weight_decay=weight_decay, frozen=frozen)
        _require(0 <= alpha <= 1, f"alpha must be in [0, 1], got {alpha}")
        _require(eps >= 0, f"eps must be >= 0, got {eps}")
        _require(momentum >= 0, f"momentum must be >= 0, got {momentum}")
        self.alpha, self.eps, self.momentum = float(alpha), float(eps), float(momentum)
        self.centered = centered

    def _update(self, theta, g, st, k, lr):
        if self.weight_decay:
            g = g + self.weight_decay * theta  # g + λθ
        v = _slot(st, "square_avg", theta)
        v *= self.alpha
        v += (1 - self.alpha) * g * g  # v ← α v + (1 − α) g²
        if self.centered:
            gbar = _slot(st, "grad_avg", theta)
            _lerp(gbar, g, 1 - self.alpha)  # ḡ ← ḡ + (1 − α)(g − ḡ)
            s = np.sqrt(v - gbar * gbar)  # √(v − ḡ²)
        else:
            s = np.sqrt(v)
        s += self.eps
        if self.momentum > 0:
            b = _slot(st, "momentum_buffer", theta)
            b *= self.momentum
            b += g / s  # b ← μ b + g / s
            theta -= lr * b
        else:
            theta += -lr * (g / s)  # θ ← θ − η g / s


class Adagrad(Optimizer):
    """Adagrad (Duchi et al. 2011): per-element steps shrink with the summed squared gradient."""

    name = "adagrad"
    slots = ("sum",)

    def __init__(
        self,
        lr: float,
        *,
        lr_decay: float = 0.0,
        eps: float = 1e-10,
        initial_accumulator_value: float = 0.0,
        weight_decay: float = 0.0,
        frozen: Iterable[str] = (),
    ) -> None:
        super().__init__(lr, weight_decay=weight_decay, frozen=frozen)
        _require(lr_decay >= 0, f"lr_decay must be >= 0, got {lr_decay}")
        _require(eps >= 0, f"eps must be >= 0, got {eps}")
        _require(
            initial_accumulator_value >= 0,
            f"initial_accumulator_value must be >= 0, got {initial_accumulator_value}",
        )
        self.lr_decay, self.eps = float(lr_decay), float(eps)
        self.initial_accumulator_value = float(initial_accumulator_value)

    def _update(self, theta, g, st, k, lr):
        if self.weight_decay:
            g = g + self.weight_decay * theta  # g + λθ
        lr_k = lr / (1 + (k - 1) * self.lr_decay)  # η_k = η / (1 + (k − 1) δ)
        S = _slot(st, "sum", theta, self.initial_accumulator_value)
        S += g * g  # S ← S + g²
        theta += -lr_k * (g / (np.sqrt(S) + self.eps))  # θ ← θ − η_k g / (√S + ε)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with weight decay as an L2 penalty added to the gradient."""

    name = "adam"
    slots = ("exp_avg", "exp_avg_sq")
    decoupled: ClassVar[bool] = False

    def __init__(
        self,
        lr: float,
        *,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        frozen: Iterable[str] = (),
    ) -> None:
        super().__init__(lr, weight_decay=weight_decay, frozen=frozen)
        for label, beta in (("beta1", beta1), ("beta2", beta2)):
            _require(0 <= beta < 1, f"{label} must be in [0, 1), got {beta}")
        _require(eps >= 0, f"eps must be >= 0, got {eps}")
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        # load the compiled update now: in the first update it cost ≈ 10 ms, or ≈ 0.5 s where
        # no compiled kernel had loaded Numba yet (a Jordan or fully recurrent net with MSE)
        resolve_op("adam", np.float32)

    def _update(self, theta, g, st, k, lr):
        if self.weight_decay and self.decoupled:
            theta *= 1 - lr * self.weight_decay  # θ ← θ (1 − η λ)
        elif self.weight_decay:
            g = g + self.weight_decay * theta  # g + λθ
        m, v = _slot(st, "exp_avg", theta), _slot(st, "exp_avg_sq", theta)
        adam = resolve_op("adam", theta.dtype)  # (loaded when the optimizer was made)
        if adam is not None and adam.supports(theta, g, m, v):  # the same operations, one pass
            w, s = 1 - self.beta1, lr / (1 - self.beta1**k)
            c = theta.dtype.type
            adam.adam_step(
                theta.reshape(-1),
                g.reshape(-1),
                m.reshape(-1),
                v.reshape(-1),
                c(w),
                c(1 - w),
                c(self.beta2),
                c(1 - self.beta2),
                c((1 - self.beta2**k) ** 0.5),
                c(self.eps),
                c(-s),
            )
            return
        _lerp(m, g, 1 - self.beta1)  # m ← m + (1 − β₁)(g − m)
        v *= self.beta2
        t = np.multiply(g, 1 - self.beta2)  # (in place from here: one scratch array)
        t *= g
        v += t  # v ← β₂ v + (1 − β₂) g²
        step_size = lr / (1 - self.beta1**k)  # η / (1 − β₁ᵏ)
        denom = np.sqrt(v, out=t)
        denom /= (1 - self.beta2**k) ** 0.5  # √v / √(1 − β₂ᵏ)
        denom += self.eps
        update = np.divide(m, denom, out=t)
        update *= -step_size
        theta += update  # θ ← θ − η / (1 − β₁ᵏ) · m / (√v / √(1 − β₂ᵏ) + ε)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019): θ shrinks by η λ each step."""

    name = "adamw"
    decoupled = True

    def __init__(
        self,
        lr: float,
        *,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        frozen: Iterable[str] = (),
    ) -> None:
        super().__init__(
            lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay, frozen=frozen
        )


OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.name: cls for cls in (SGD, RMSprop, Adagrad, Adam, AdamW)
}
"""Every optimizer by name; also the accepted values of ``--optimizer``."""


def make_optimizer(name: str, lr: float, **options: Any) -> Optimizer:
    """The optimizer ``name`` (sgd | rmsprop | adagrad | adam | adamw) with base rate ``lr``.

    ``options`` are its keyword arguments (``betas=(β₁, β₂)`` is accepted for Adam/AdamW).
    An option the optimizer does not take is ignored when it is off (0, False or None), so
    one config can pass e.g. ``momentum=0.0`` to any optimizer; otherwise it is an error.
    """
    cls = OPTIMIZERS.get(name.lower())
    if cls is None:
        raise ConfigError(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZERS)}")
    if not lr > 0:
        raise ConfigError(f"lr must be > 0, got {lr}")
    if "betas" in options:
        options["beta1"], options["beta2"] = options.pop("betas")
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "lr"}
    wrong = sorted(n for n, v in options.items() if n not in accepted and v not in (0, None))
    if wrong:
        raise ConfigError(
            f"{name} does not take {', '.join(wrong)}; "
            f"its options are: {', '.join(sorted(accepted))}"
        )
    return cls(lr, **{n: v for n, v in options.items() if n in accepted})


def global_norm(grads: Mapping[str, np.ndarray | None]) -> float:
    """‖g‖ = √(Σ_a ‖g_a‖²) over every gradient array, computed in float64."""
    norms = [
        np.linalg.norm(g.astype(np.float64, copy=False).ravel())
        for g in grads.values()
        if g is not None
    ]
    return float(np.linalg.norm(norms)) if norms else 0.0


def clip_grad_norm(grads: Mapping[str, np.ndarray | None], max_norm: float) -> float:
    """Scale every gradient in place so the global L2 norm is at most ``max_norm``.

    Returns the norm before clipping, computed in float64.  A non-finite norm leaves the
    gradients unchanged (the caller decides whether to skip the update).
    """
    _require(max_norm > 0, f"max_norm must be > 0, got {max_norm}")
    total = global_norm(grads)
    coef = max_norm / (total + 1e-6)
    if coef < 1 and math.isfinite(total):
        for g in grads.values():
            if g is not None:
                g *= coef  # g ← g · c / (‖g‖ + 1e-6)
    return total


def clip_grad_value(grads: Mapping[str, np.ndarray | None], clip_value: float) -> None:
    """Clamp every gradient element in place to [−clip_value, clip_value]."""
    _require(clip_value > 0, f"clip_value must be > 0, got {clip_value}")
    for g in grads.values():
        if g is not None:
            np.clip(g, -clip_value, clip_value, out=g)


def _slot(st: dict, name: str, like: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """The state array ``name`` of one parameter, made on its first update (filled with
    ``fill``, shaped like it): made only then, not as a throw-away default every update."""
    a = st.get(name)
    if a is None:
        a = st[name] = np.full_like(like, fill)
    return a


def _lerp(a: np.ndarray, b: np.ndarray, w: float) -> None:
    """a ← a + w (b − a) in place, rounded as ``torch.lerp`` rounds it."""
    d = np.subtract(b, a)  # b − a
    if w < 0.5:
        d *= w
        a += d
    else:
        d *= 1 - w
        np.subtract(b, d, out=a)


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)
