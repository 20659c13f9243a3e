"""The training loop: truncated BPTT over a token stream, clipping, optimizer, schedule,
evaluation, samples and checkpoints.

``Trainer`` owns everything one run changes — the model's parameters, the optimizer's
moments, the generator, the carried truncated-BPTT state (with the stream's recurrent-dropout
masks, held from one epoch's start to the next), the step, the learning-rate
reductions and the best validation loss — and saves and restores all of it
(``state_dict``), so a resumed run continues exactly where it stopped: with the stream's
cursor, which ``save_run`` stores beside it, the resumed run's parameters end bit-identical
to an uninterrupted run's.  The schedule is a pure function of the step.

Non-finite values.  Before each update the loss and the global gradient norm are checked.
A NaN/Inf one is handled as ``TrainConfig.on_nonfinite`` says:

    skip        the update is not applied (counted in ``skipped``); the carried state is reset
    reduce-lr   as skip, and every later rate is multiplied by ``nonfinite_lr_factor``
    stop        ``TrainingDiverged`` naming the step

``max_nonfinite`` such updates in a row stop the run too.  After each update the parameters
are checked: a NaN/Inf parameter stops the run at once and is never saved.

Stopping.  ``fit_text`` checks a stop request (``stop_on_signals``: SIGINT, SIGTERM)
between updates, never inside the handler, then writes the last checkpoint and returns.

Data-parallel (``rnnkit.distributed``).  A ``Trainer`` given a communicator of K ranks takes
the global chunk ``[B, k1]`` and trains on its own rows; loss and gradients are summed over
the ranks before the non-finite checks and the clipping, so every rank decides alike and
keeps the same parameters.  The carried truncated-BPTT state stays per row on the rank that
owns the row; ``state_dict`` gathers it whole to rank 0 and ``load_state_dict`` takes this
rank's rows, so a run saved with K ranks resumes with any other K.  Stop decisions (time
budget, signals) are agreed by all ranks; rank 0 alone writes checkpoints and samples.
"""

import math
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .bptt import DRAW_KEY, TruncatedBPTT, objective
from .config import TrainConfig
from .data.text import CharStream, CharVocab
from .distributed import (LOCAL, Comm, Disagreement, RowRandom, fingerprint, pack, row_range,
                          same_on_all, unpack)
from .errors import CheckpointError, RnnkitError
from .sampling import generate
from .io.model_files import save_in_run
from .model import Model
from .optim import clip_grad_norm, clip_grad_value, global_norm, make_optimizer
from .progress import Progress
from .schedules import make_schedule

LN2 = math.log(2)


class TrainingDiverged(RnnkitError):
    """A loss, gradient or parameter was not finite and the configuration says stop."""


class Trainer:
    """One training run of a model on chunks of a token stream."""

    def __init__(self, model: Model, config: TrainConfig, rng: np.random.Generator,
                 comm: Comm = LOCAL) -> None:
        self.model, self.config, self.rng, self.comm = model, config, rng, comm
        self.rows = row_range(config.batch_size, comm.rank, comm.size)  # this rank's [lo, hi)
        self.optimizer = make_optimizer(
            config.optimizer, config.lr, momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
        self.schedule = make_schedule(config.schedule, config.lr, **_schedule_options(config))
        self.tbptt = TruncatedBPTT(config.seq_len, config.bptt_steps or config.seq_len)
        self.step = 0  # updates applied
        self.best_val = math.inf  # best validation loss so far (nats per token)
        self.skipped = 0  # updates skipped because the loss or a gradient was not finite
        self.nonfinite_run = 0  # of them, in a row up to now
        self.lr_scale = 1.0  # product of the reduce-lr factors applied so far

    def lr(self) -> float:
        """The rate of the next update: η_s · (product of the reductions)."""
        return self.schedule.lr_at(self.step) * self.lr_scale

    def update(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """One update from the chunk ``x, y: [B, k1]``; returns (loss, gradient norm).

        With K ranks, ``x, y`` are the global chunk and this rank trains on its rows.
        """
        if self.comm.size == 1:
            result = self.tbptt.step(self.model, x, y, rng=self.rng)
            loss, grads = result.loss, result.grads
        else:
            loss, grads = self._data_parallel_step(x, y)
        c = self.config
        norm = clip_grad_norm(grads, c.clip) if c.clip else global_norm(grads)
        if not (math.isfinite(loss) and math.isfinite(norm)):
            self._nonfinite(loss, norm)
            return loss, norm
        self.nonfinite_run = 0
        if c.clip_value:
            clip_grad_value(grads, c.clip_value)
        self.optimizer.step(self.model.params, grads, lr=self.lr())
        self.step += 1
        bad = self.nonfinite_params()
        if bad:
            raise TrainingDiverged(
                f"parameter(s) {', '.join(bad[:3])} became NaN/Inf at step {self.step} although "
                f"the gradients were finite; nothing was saved from this point on; resume from "
                "the last checkpoint with a lower --lr or with --clip"
            )
        return loss, norm

    def _data_parallel_step(self, x: np.ndarray, y: np.ndarray
                            ) -> tuple[float, dict[str, np.ndarray]]:
        """(global loss, global gradients) from this rank's rows of ``x, y: [B, k1]``.

        Rank r's mean over its n_r tokens enters with its share: L = Σ_r (n_r / N) L_r,
        g = Σ_r (n_r / N) g_r, one all-reduce of [g, L] in the model's dtype.  Dropout masks
        are drawn for all B rows (``RowRandom``), as a single process draws them.
        """
        (lo, hi), B = self.rows, x.shape[0]
        rng = RowRandom(self.rng, self.rows, B)
        result = self.tbptt.step(self.model, x[lo:hi], y[lo:hi], rng=rng)
        share = (hi - lo) / B  # n_r / N: every row holds k1 tokens
        buf = pack(result.grads, [result.loss], self.model.dtype)
        buf *= self.model.dtype.type(share)
        grads, extra = unpack(self.comm.allreduce_sum(buf), result.grads)
        return float(extra[0]), grads

    def _nonfinite(self, loss: float, norm: float) -> None:
        """Apply the ``on_nonfinite`` policy to an update whose loss or gradient is NaN/Inf."""
        c = self.config
        what = f"loss is {loss}" if not math.isfinite(loss) else f"gradient norm is {norm}"
        self.skipped += 1
        self.nonfinite_run += 1
        self.tbptt.reset()  # a non-finite state must not be carried on
        if c.on_nonfinite == "stop":
            raise TrainingDiverged(
                f"the {what} at step {self.step} (--on-nonfinite stop); the update was not "
                "applied; lower --lr or set --clip, or use --on-nonfinite skip|reduce-lr")
        if c.on_nonfinite == "reduce-lr":
            self.lr_scale *= c.nonfinite_lr_factor
        if self.nonfinite_run > c.max_nonfinite:
            raise TrainingDiverged(
                f"the {what} at step {self.step}, the {self.nonfinite_run}th non-finite update in "
                f"a row (--on-nonfinite {c.on_nonfinite}); lower --lr or set --clip")

    def nonfinite_params(self) -> list[str]:
        """Names of the parameters holding a NaN or Inf (none, normally)."""
        return [n for n, w in self.model.params.items() if not np.isfinite(w).all()]

    def state_dict(self) -> dict[str, Any]:
        """Everything but the parameters that an exact resume needs (arrays and JSON values)."""
        return {
            "step": self.step,
            "best_val": self.best_val if math.isfinite(self.best_val) else None,
            "skipped": self.skipped,
            "nonfinite_run": self.nonfinite_run,
            "lr_scale": self.lr_scale,
            "rng": self.rng.bit_generator.state,
            "optimizer": self.optimizer.state_dict(),
            "tbptt": self._whole_carried_state(),
        }

    def _whole_carried_state(self) -> dict[str, Any]:
        """The carried state of all B rows (on rank 0; a collective under K ranks)."""
        local = self.tbptt.state_dict()
        if self.comm.size == 1:
            return local
        return {k: self.comm.gather_rows(v, _row_axis(k)) if _row_axis(k) is not None else v
                for k, v in local.items()}

    def _own_carried_state(self, saved: dict[str, Any]) -> dict[str, Any]:
        """This rank's rows of a saved carried state of all B rows."""
        (lo, hi), B = self.rows, self.config.batch_size
        out = {}
        for k, v in saved.items():
            axis = _row_axis(k)
            if axis is not None:
                v = np.asarray(v)
                if v.ndim <= axis or v.shape[axis] != B:
                    raise ValueError(f"carried {k} of shape {v.shape} is not for {B} rows")
                v = v[(slice(None),) * axis + (slice(lo, hi),)]
            out[k] = v
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned; ``CheckpointError`` if it is damaged."""
        try:
            step, skipped = _count(state["step"]), _count(state["skipped"])
            best = math.inf if state["best_val"] is None else float(state["best_val"])
            run, scale = _count(state.get("nonfinite_run", 0)), float(state.get("lr_scale", 1.0))
            if not 0.0 < scale <= 1.0 or math.isnan(best):
                raise ValueError(f"lr_scale {scale}, best_val {best}")
            self.optimizer.load_state_dict(state["optimizer"])
            self.tbptt.load_state_dict(self._own_carried_state(state["tbptt"]))
            self.rng.bit_generator.state = state["rng"]
        except CheckpointError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise CheckpointError(
                f"the saved training state is damaged ({type(e).__name__}: {e}); "
                "resume from another checkpoint or start afresh") from None
        self.step, self.skipped, self.best_val = step, skipped, best
        self.nonfinite_run, self.lr_scale = run, scale

    def checkpoint_bytes(self) -> int:
        """An upper estimate of one last checkpoint's size: parameters, optimizer moments,
        carried state, and room for the JSON."""
        params = sum(w.nbytes for w in self.model.params.values())
        c, rnn = self.config, self.model.config.rnn
        state = 3 * rnn.num_layers * (2 if rnn.bidirectional else 1) * rnn.hidden_size  # + masks
        carried = c.batch_size * (state + (c.bptt_steps or c.seq_len)) * 8
        return params * (1 + len(self.optimizer.slots)) + carried + (1 << 20)


def _row_axis(key: str) -> int | None:
    """The batch axis of a carried-state entry: the state ``[L·D, B, S]`` (the baseline's
    ``[k − 1, B, I]``) has it at 1, the buffered inputs ``[B, k2 − k1]`` and the held
    recurrent-dropout draws ``[B, S]`` at 0."""
    if key == "buffer" or (key.startswith(DRAW_KEY) and key[len(DRAW_KEY):].isdigit()):
        return 0
    return 1 if key.startswith("state_") and key[6:].isdigit() else None


def _count(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"expected a count, got {value!r}")
    return value


def _schedule_options(c: TrainConfig) -> dict[str, Any]:
    """The options ``make_schedule`` takes for the configured schedule."""
    if c.schedule == "cosine":
        return {"total_steps": c.steps, "warmup_steps": c.warmup_steps, "min_lr": c.min_lr}
    if c.schedule == "step":
        return {"total_steps": c.steps, "step_size": c.step_size or None, "gamma": c.gamma}
    return {}


# ----------------------------------------------------------------------------- stopping


class StopRequest:
    """Holds the name of the signal that asked training to stop (None: keep going)."""

    def __init__(self) -> None:
        self.signal: str | None = None

    def __call__(self) -> str | None:
        return self.signal


@contextmanager
def stop_on_signals(signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)
                    ) -> Iterator[StopRequest]:
    """While inside, SIGINT/SIGTERM set the yielded request instead of killing the process.

    The handler only records the signal; the loop reads it between updates and saves there.
    A second SIGINT raises ``KeyboardInterrupt`` at once (the checkpoint on disk stays the
    previous complete one).  Outside the main thread, no handler is installed.
    """
    request = StopRequest()

    def handler(signum: int, frame: Any) -> None:
        if request.signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        request.signal = signal.Signals(signum).name

    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {s: signal.signal(s, handler) for s in signals}
    try:
        yield request
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


# ----------------------------------------------------------------------------- the loop


def evaluate(model: Model, ids: np.ndarray, batch_size: int, seq_len: int,
             max_tokens: int = 0, comm: Comm = LOCAL) -> float:
    """Mean cross-entropy (nats per token) on ``ids``, read as parallel streams, state carried.

    With K ranks each reads its own rows of the streams and the sums are added up, so every
    rank returns the same figure.
    """
    ids = ids[:max_tokens + 1] if max_tokens else ids
    B = max(1, min(batch_size, (len(ids) - 1) // max(seq_len, 1)))
    n = (len(ids) - 1) // B
    if n < 1:
        raise RnnkitError(f"validation text too short: {len(ids)} tokens")
    xs = ids[: B * n].reshape(B, n)
    ys = ids[1 : B * n + 1].reshape(B, n)
    lo, hi = _eval_rows(B, comm)
    state, total = None, 0.0
    for a in range(0, n if hi > lo else 0, seq_len):
        logits, state, _ = model.forward(xs[lo:hi, a : a + seq_len], state)
        loss, _ = objective(model, logits, ys[lo:hi, a : a + seq_len])
        total += loss * ys[lo:hi, a : a + seq_len].size
    if comm.size > 1:
        total = float(comm.allreduce_sum(np.array([total]))[0])
    return total / ys.size


def _eval_rows(B: int, comm: Comm) -> tuple[int, int]:
    """This rank's rows of B validation streams (none for the ranks beyond B)."""
    if B >= comm.size:
        return row_range(B, comm.rank, comm.size)
    return min(comm.rank, B), min(comm.rank + 1, B)


def fit_text(
    trainer: Trainer,
    stream: CharStream,
    val_ids: np.ndarray,
    vocab: CharVocab,
    out_dir: Path | None,
    *,
    progress: Progress,
    samples: TextIO,
    clock: Callable[[], float],
    stop: Callable[[], str | None] = lambda: None,
) -> dict[str, Any]:
    """Train until the step or time budget is spent or ``stop()`` names a reason.

    Returns the final figures; ``"stopped_by"`` is the reason (a signal's name) or None.
    ``out_dir/last`` is written every ``checkpoint_every`` steps and when the loop ends —
    also when it stops on a non-finite value with finite parameters, before the
    ``TrainingDiverged`` propagates.  ``out_dir/best`` is replaced only by a better model.

    With K ranks (``trainer.comm``) every rank calls it with the same stream; the time budget
    and ``stop()`` are agreed by all, and rank 0 alone writes checkpoints and samples.
    """
    c, model, comm = trainer.config, trainer.model, trainer.comm
    _check_same_start(trainer, stream)
    stop = _agreed(stop, comm)
    start = clock()
    loss, val_loss, saved_at = math.nan, math.nan, trainer.step

    def budget_left() -> bool:
        if c.steps and trainer.step >= c.steps:
            return False
        return not (c.minutes and comm.any(clock() - start >= 60 * c.minutes))

    def save_last() -> None:
        nonlocal saved_at
        if out_dir is not None:
            save_run(trainer, stream, out_dir)
        saved_at = trainer.step

    try:
        while budget_left() and not stop():
            x, y, _, chunk = next(stream)
            if chunk == 0 and trainer.step > 0:
                trainer.tbptt.reset()  # a new epoch restarts the streams: no state to carry
            step_before = trainer.step
            loss, _ = trainer.update(x, y)
            progress.update(trainer.step, loss, x.size)
            step = trainer.step
            if step == step_before:
                continue  # skipped: nothing new to evaluate, sample or save
            last_step = not budget_left()
            if step % c.eval_every == 0 or last_step:
                val_loss = _validate(trainer, val_ids, out_dir, progress)
            if c.sample_every and step % c.sample_every == 0 and comm.rank == 0:
                _print_sample(model, vocab, c.seed, c.sample_length, samples, step)
            if (c.checkpoint_every and step % c.checkpoint_every == 0) or last_step:
                save_last()
    except TrainingDiverged:
        if saved_at != trainer.step and not trainer.nonfinite_params():
            save_last()
        raise
    stopped_by = stop()
    if stopped_by and saved_at != trainer.step:
        save_last()
    progress.close()
    return {"steps": trainer.step, "train_loss": loss, "val_loss": val_loss,
            "val_bits_per_char": val_loss / LN2, "skipped": trainer.skipped,
            "stopped_by": stopped_by}


def _agreed(stop: Callable[[], str | None], comm: Comm) -> Callable[[], str | None]:
    """``stop`` as every rank sees it: a signal that any rank received (a small all-reduce)."""
    if comm.size == 1:
        return stop

    def agreed() -> str | None:
        name = stop()
        number = comm.allreduce_max(np.array([signal.Signals[name] if name else 0]))[0]
        return signal.Signals(int(number)).name if number else None

    return agreed


def _check_same_start(trainer: Trainer, stream: CharStream) -> None:
    """``Disagreement`` on every rank unless all start from the same parameters and text."""
    comm = trainer.comm
    if comm.size == 1:
        return
    where = np.array([stream.checksum, stream.cursor, stream.epoch, trainer.step], np.int64)
    if not same_on_all(comm, fingerprint({**trainer.model.params, "stream": where})):
        raise Disagreement(
            f"the {comm.size} processes do not start from the same parameters, text and "
            "position; every host must read the same text files and the same run directory")


def _validate(trainer: Trainer, val_ids: np.ndarray, out_dir: Path | None,
              progress: Progress) -> float:
    """Validation loss now; ``out_dir/best`` is replaced when it beats every earlier one.

    With K ranks the validation streams are split between them and all get the same loss.
    """
    c, step = trainer.config, trainer.step
    val_loss = evaluate(trainer.model, val_ids, c.batch_size, c.seq_len, c.eval_chars,
                        trainer.comm)
    progress.write(f"step {step}: validation {val_loss / LN2:.3f} bits/char")
    if val_loss < trainer.best_val:  # NaN never compares smaller: never the best
        if out_dir is not None and trainer.comm.rank == 0:
            save_in_run(trainer.model, out_dir, "best", step,
                        extra={"step": step, "best_val": val_loss})
        trainer.best_val = val_loss
    return val_loss


def save_run(trainer: Trainer, stream: CharStream, out_dir: Path) -> None:
    """The last checkpoint: model plus everything an exact resume needs.

    With K ranks every rank calls it (the carried state is gathered, and the parameters are
    checked to be the same on all ranks), and rank 0 writes.
    """
    state = trainer.state_dict()
    comm = trainer.comm
    if comm.size > 1 and not same_on_all(comm, fingerprint(trainer.model.params)):
        raise Disagreement(
            f"the {comm.size} processes hold different parameters at step {trainer.step}; "
            "nothing was saved; resume from the last checkpoint (are the hosts' NumPy builds "
            "the same?)")
    if comm.rank != 0:
        return
    state["stream"] = stream.state_dict()
    state["train_config"] = trainer.config.to_dict()
    save_in_run(trainer.model, out_dir, "last", trainer.step, extra=state)


def _print_sample(model: Model, vocab: CharVocab, seed: int, length: int,
                  out: TextIO, step: int) -> None:
    # a generator of its own, so that sampling never shifts the training run's random stream
    sample_rng = np.random.default_rng([seed, step])
    prime = vocab.encode("\n")[:1] if "\n" in vocab.chars else np.array([0])
    ids = generate(model, prime, length, temperature=0.8, rng=sample_rng)
    out.write(f"--- sample at step {step} ---\n{vocab.decode(ids)}\n")
    out.flush()


def fit(
    model: Model,
    x: np.ndarray,
    y: np.ndarray,
    *,
    rng: np.random.Generator,
    lengths: np.ndarray | None = None,
    epochs: int = 10,
    batch_size: int = 32,
    optimizer: str = "adam",
    lr: float = 1e-3,
    clip: float = 1.0,
    validation: tuple | None = None,
) -> list[dict[str, float]]:
    """Train on in-memory sequences with full BPTT; returns one record per epoch.

    ``x: [N, T]`` ids or ``[N, T, I]``; ``y`` the targets of the model's readout and loss
    (``[N, T]``/``[N]`` class ids, or ``[N, T, O]``/``[N, O]`` values); ``lengths: [N]`` for
    variable-length sequences.  ``validation = (x_val, y_val[, lengths_val])`` is evaluated
    after each epoch.  Batches are shuffled with ``rng``, which also drives dropout.
    """
    from .bptt import full_bptt

    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y) or (lengths is not None and len(lengths) != len(x)):
        raise RnnkitError(f"x, y and lengths must hold the same number of sequences, got "
                          f"{len(x)}, {len(y)}, {None if lengths is None else len(lengths)}")
    opt = make_optimizer(optimizer, lr)
    history = []
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x))
        total, count = 0.0, 0
        for a in range(0, len(x), batch_size):
            idx = order[a : a + batch_size]
            part = None if lengths is None else np.asarray(lengths)[idx]
            step = full_bptt(model, x[idx], y[idx], lengths=part, rng=rng)
            if clip:
                clip_grad_norm(step.grads, clip)
            opt.step(model.params, step.grads)
            total, count = total + step.loss * step.count, count + step.count
        record = {"epoch": epoch, "loss": total / max(count, 1)}
        if validation is not None:
            record["val_loss"] = evaluate_arrays(model, *validation)
        history.append(record)
    return history


def evaluate_arrays(model: Model, x: np.ndarray, y: np.ndarray,
                    lengths: np.ndarray | None = None) -> float:
    """Mean loss of the model on in-memory sequences (evaluation mode)."""
    out = model.predict(x, lengths=lengths)
    mask = None
    if lengths is not None and model.config.readout == "every_step":
        mask = np.arange(out.shape[1])[None, :] < np.asarray(lengths)[:, None]
    return objective(model, out, y, mask)[0]
