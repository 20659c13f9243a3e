"""The engine's update: gradients → non-finite guard → clipping → optimizer at the scheduled rate.

``Engine`` owns everything an update changes — the model's parameters (in place), the
optimizer's moments, the run's one generator, what the gradient function carries between
batches, the update count and the non-finite bookkeeping — and saves and restores all of
it (``state_dict``), so a resumed run continues bit for bit.  The schedule is a pure
function of the update count.

Non-finite values.  Before each update the loss and the global gradient norm are checked.
A NaN/Inf one is handled as ``Optimization.on_nonfinite`` says:

    skip        the update is not applied (counted in ``skipped``); carried state is reset
    reduce-lr   as skip, and every later rate is multiplied by ``nonfinite_lr_factor``
    stop        ``TrainingDiverged`` naming the update

``max_nonfinite`` such updates in a row stop the run too.  After each update the parameters
are checked: a NaN/Inf parameter stops the run at once (and is never saved).

Data-parallel (``rnnkit.training.distributed``).  With a communicator of K ranks every rank is
given the global batch and computes the gradients of its own rows ``[lo_r, hi_r)``; the mean
loss and gradients over all N positions are the count-weighted sums

    L = Σ_r (n_r / N) L_r          g = Σ_r (n_r / N) g_r          N = Σ_r n_r

(one all-reduce of [n_r g_r, n_r L_r, n_r]), made before the non-finite checks and the
clipping, so every rank decides alike and keeps the same parameters.  Dropout masks are
drawn for all B rows (``RowRandom``), as one process draws them.
"""

import math
from typing import Any

import numpy as np

from ..errors import CheckpointError, RnnkitError
from .batches import Batch
from .distributed import LOCAL, Comm, RowRandom, pack, row_range, unpack
from .optim import clip_grad_norm, clip_grad_value, global_norm, make_optimizer
from .options import Optimization
from .schedules import make_schedule


class TrainingDiverged(RnnkitError):
    """A loss, gradient or parameter was not finite and the configuration says stop."""


class Engine:
    """One run's model, optimizer, schedule, generator and update count."""

    def __init__(
        self,
        model: Any,
        gradients: Any,
        optimization: Optimization,
        rng: np.random.Generator,
        *,
        total_steps: int = 0,
        comm: Comm = LOCAL,
        batch_size: int = 0,
    ) -> None:
        o = optimization
        self.batch_size = batch_size  # B of every batch, when fixed: carried state is checked
        if batch_size and comm.size > 1:
            row_range(batch_size, comm.rank, comm.size)  # refused now if B < K, not mid-run
        self.model, self.gradients, self.options, self.rng, self.comm = (
            model,
            gradients,
            o,
            rng,
            comm,
        )
        self.optimizer = make_optimizer(
            o.optimizer, o.lr, momentum=o.momentum, weight_decay=o.weight_decay
        )
        self.schedule = make_schedule(o.schedule, o.lr, **_schedule_options(o, total_steps))
        self.step = 0  # updates applied
        self.skipped = 0  # updates not applied because the loss or a gradient was not finite
        self.nonfinite_run = 0  # of them, in a row up to now
        self.lr_scale = 1.0  # product of the reduce-lr factors applied so far

    def lr(self) -> float:
        """The rate of the next update: η_s · (product of the reductions)."""
        return self.schedule.lr_at(self.step) * self.lr_scale

    def update(self, batch: Batch) -> tuple[float, float, int]:
        """One update from ``batch``: (loss, gradient norm before clipping, positions scored).

        The update is not applied when the loss or the norm is not finite (see the module's
        docstring); then ``self.step`` does not advance.
        """
        if batch.restart:
            self.gradients.reset()
        loss, grads, count = self._gradients(batch)
        o = self.options
        norm = clip_grad_norm(grads, o.clip) if o.clip else global_norm(grads)
        if not (math.isfinite(loss) and math.isfinite(norm)):
            self._nonfinite(loss, norm)
            return loss, norm, count
        self.nonfinite_run = 0
        if o.clip_value:
            clip_grad_value(grads, o.clip_value)
        self.optimizer.step(self.model.params, grads, lr=self.lr())
        self.step += 1
        bad = self.nonfinite_params()
        if bad:
            raise TrainingDiverged(
                f"parameter(s) {', '.join(bad[:3])} became NaN/Inf at step {self.step} "
                "although the gradients were finite; nothing was saved from this point on; "
                "resume from the last checkpoint with a lower --lr or with --clip"
            )
        return loss, norm, count

    def _gradients(self, batch: Batch) -> tuple[float, dict[str, np.ndarray], int]:
        if self.comm.size == 1:
            s = self.gradients(self.model, batch, self.rng)
            return s.loss, s.grads, s.count
        lo, hi = row_range(batch.size, self.comm.rank, self.comm.size)
        rng = RowRandom(self.rng, (lo, hi), batch.size)
        s = self.gradients(self.model, batch.rows(lo, hi), rng)
        dtype = next(iter(s.grads.values())).dtype
        buf = pack(s.grads, [s.loss, 1.0], dtype)
        buf *= dtype.type(s.count)  # n_r g_r, n_r L_r, n_r
        grads, extra = unpack(self.comm.allreduce_sum(buf), s.grads)
        total = float(extra[1])
        for g in grads.values():
            g /= g.dtype.type(total)
        return float(extra[0]) / total, grads, int(round(total))

    def _nonfinite(self, loss: float, norm: float) -> None:
        """Apply the ``on_nonfinite`` policy to an update whose loss or gradient is NaN/Inf."""
        o = self.options
        what = f"loss is {loss}" if not math.isfinite(loss) else f"gradient norm is {norm}"
        self.skipped += 1
        self.nonfinite_run += 1
        self.gradients.reset()  # a non-finite state must not be carried on
        if o.on_nonfinite == "stop":
            raise TrainingDiverged(
                f"the {what} at step {self.step} (--on-nonfinite stop); the update was not "
                "applied; lower --lr or set --clip, or use --on-nonfinite skip|reduce-lr"
            )
        if o.on_nonfinite == "reduce-lr":
            self.lr_scale *= o.nonfinite_lr_factor
        if self.nonfinite_run > o.max_nonfinite:
            raise TrainingDiverged(
                f"the {what} at step {self.step}, the {self.nonfinite_run}th non-finite "
                f"update in a row (--on-nonfinite {o.on_nonfinite}); lower --lr or set --clip"
            )

    def nonfinite_params(self) -> list[str]:
        """Names of the parameters holding a NaN or Inf (none, normally)."""
        return [n for n, w in self.model.params.items() if not np.isfinite(w).all()]

    # -- saving and restoring --------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything but the parameters that an exact resume needs (arrays and JSON values).

        With K ranks this is a collective: the carried state is gathered whole to rank 0.
        """
        return {
            "step": self.step,
            "skipped": self.skipped,
            "nonfinite_run": self.nonfinite_run,
            "lr_scale": self.lr_scale,
            "rng": self.rng.bit_generator.state,
            "optimizer": self.optimizer.state_dict(),
            "carried": self._whole_carried_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned; ``CheckpointError`` if it is damaged."""
        try:
            step, skipped = _count(state["step"]), _count(state["skipped"])
            run, scale = _count(state["nonfinite_run"]), float(state["lr_scale"])
            if not 0.0 < scale <= 1.0:
                raise ValueError(f"lr_scale {scale}")
            self.optimizer.load_state_dict(state["optimizer"])
            self.gradients.load_state_dict(self._own_carried_state(state["carried"]))
            self.rng.bit_generator.state = state["rng"]
        except CheckpointError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise CheckpointError(
                f"the saved training state is damaged ({type(e).__name__}: {e}); "
                "resume from another checkpoint or start afresh"
            ) from None
        self.step, self.skipped, self.nonfinite_run, self.lr_scale = step, skipped, run, scale

    def _whole_carried_state(self) -> dict[str, Any]:
        local = self.gradients.state_dict()
        if self.comm.size == 1:
            return local
        out = {}
        for k, v in local.items():
            axis = self.gradients.row_axis(k)
            out[k] = v if axis is None else self.comm.gather_rows(v, axis)
        return out

    def _own_carried_state(self, saved: dict[str, Any]) -> dict[str, Any]:
        """This rank's rows of a saved carried state of all B rows."""
        out = {}
        for k, v in saved.items():
            axis = self.gradients.row_axis(k)
            if axis is not None:
                v = np.asarray(v)
                B = self.batch_size or v.shape[axis]
                if v.ndim <= axis or v.shape[axis] != B:
                    raise ValueError(f"carried {k} of shape {v.shape} is not for {B} rows")
                lo, hi = row_range(B, self.comm.rank, self.comm.size)
                v = v[(slice(None),) * axis + (slice(lo, hi),)]
            out[k] = v
        return out


def _count(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"expected a count, got {value!r}")
    return value


def _schedule_options(o: Optimization, total_steps: int) -> dict[str, Any]:
    """The options ``make_schedule`` takes for the configured schedule."""
    if o.schedule == "cosine":
        return {"total_steps": total_steps, "warmup_steps": o.warmup_steps, "min_lr": o.min_lr}
    if o.schedule == "step":
        return {"total_steps": total_steps, "step_size": o.step_size or None, "gamma": o.gamma}
    return {}
