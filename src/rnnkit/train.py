"""The training loop: truncated BPTT over a token stream, clipping, optimizer, schedule,
evaluation, samples and checkpoints.

``Trainer`` owns everything one run changes — the model's parameters, the optimizer's
moments, the generator, the stream's cursor, the step and the best validation loss — and
saves and restores all of it, so a resumed run continues exactly where it stopped.
"""

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .bptt import TruncatedBPTT, objective
from .config import TrainConfig
from .data.text import CharStream, CharVocab
from .errors import RnnkitError
from .generate import generate
from .io.model_files import save
from .model import Model
from .optim import clip_grad_norm, clip_grad_value, global_norm, make_optimizer
from .progress import Progress
from .schedules import make_schedule

LN2 = math.log(2)


class TrainingDiverged(RnnkitError):
    """The loss or the gradients stayed non-finite; the last checkpoint is left as it was."""


class Trainer:
    """One training run of a model on chunks of a token stream."""

    def __init__(self, model: Model, config: TrainConfig, rng: np.random.Generator) -> None:
        self.model, self.config, self.rng = model, config, rng
        self.optimizer = make_optimizer(
            config.optimizer, config.lr, momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
        self.schedule = make_schedule(config.schedule, config.lr, **_schedule_options(config))
        self.tbptt = TruncatedBPTT(config.seq_len, config.bptt_steps or config.seq_len)
        self.step = 0
        self.best_val = math.inf
        self.skipped = 0  # updates skipped because the loss or a gradient was not finite

    def update(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """One update from the chunk ``x, y: [B, k1]``; returns (loss, gradient norm)."""
        result = self.tbptt.step(self.model, x, y, rng=self.rng)
        grads = result.grads
        norm = clip_grad_norm(grads, self.config.clip) if self.config.clip else global_norm(grads)
        if not (math.isfinite(result.loss) and math.isfinite(norm)):
            self.skipped += 1
            self.tbptt.reset()  # a non-finite state must not be carried on
            if self.skipped > 10:
                raise TrainingDiverged(
                    f"loss or gradients not finite at step {self.step} (11 updates skipped); "
                    "lower --lr or set --clip"
                )
            return result.loss, norm
        if self.config.clip_value:
            clip_grad_value(grads, self.config.clip_value)
        self.optimizer.step(self.model.params, grads, lr=self.schedule.lr_at(self.step))
        self.step += 1
        return result.loss, norm

    def state_dict(self) -> dict[str, Any]:
        """Everything but the parameters that an exact resume needs (arrays and JSON values)."""
        return {
            "step": self.step,
            "best_val": self.best_val if math.isfinite(self.best_val) else None,
            "skipped": self.skipped,
            "rng": self.rng.bit_generator.state,
            "optimizer": self.optimizer.state_dict(),
            "tbptt": self.tbptt.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        self.best_val = math.inf if state["best_val"] is None else float(state["best_val"])
        self.skipped = int(state["skipped"])
        self.rng.bit_generator.state = state["rng"]
        self.optimizer.load_state_dict(state["optimizer"])
        self.tbptt.load_state_dict(state["tbptt"])


def _schedule_options(c: TrainConfig) -> dict[str, Any]:
    """The options ``make_schedule`` takes for the configured schedule."""
    if c.schedule == "cosine":
        return {"total_steps": c.steps, "warmup_steps": c.warmup_steps, "min_lr": c.min_lr}
    if c.schedule == "step":
        return {"total_steps": c.steps, "step_size": c.step_size or None, "gamma": c.gamma}
    return {}


def evaluate(model: Model, ids: np.ndarray, batch_size: int, seq_len: int,
             max_tokens: int = 0) -> float:
    """Mean cross-entropy (nats per token) on ``ids``, read as parallel streams with carried state."""
    ids = ids[:max_tokens + 1] if max_tokens else ids
    B = max(1, min(batch_size, (len(ids) - 1) // max(seq_len, 1)))
    n = (len(ids) - 1) // B
    if n < 1:
        raise RnnkitError(f"validation text too short: {len(ids)} tokens")
    xs = ids[: B * n].reshape(B, n)
    ys = ids[1 : B * n + 1].reshape(B, n)
    state, total = None, 0.0
    for a in range(0, n, seq_len):
        logits, state, _ = model.forward(xs[:, a : a + seq_len], state)
        loss, _ = objective(model, logits, ys[:, a : a + seq_len])
        total += loss * ys[:, a : a + seq_len].size
    return total / ys.size


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
) -> dict[str, float]:
    """Train until the step or time budget is spent; returns the final figures."""
    c, model = trainer.config, trainer.model
    start = clock()
    val_loss = math.nan
    loss = math.nan

    def budget_left() -> bool:
        if c.steps and trainer.step >= c.steps:
            return False
        return not (c.minutes and clock() - start >= 60 * c.minutes)

    while budget_left():
        x, y, _, chunk = next(stream)
        if chunk == 0 and trainer.step > 0:
            trainer.tbptt.reset()  # a new epoch restarts the streams: no state to carry
        loss, _ = trainer.update(x, y)
        progress.update(trainer.step, loss, x.size)
        step = trainer.step
        if step % c.eval_every == 0 or not budget_left():
            val_loss = evaluate(model, val_ids, c.batch_size, c.seq_len, c.eval_chars)
            progress.write(f"step {step}: validation {val_loss / LN2:.3f} bits/char")
            if out_dir is not None and val_loss < trainer.best_val:
                trainer.best_val = val_loss
                save(model, out_dir / "best")
        if c.sample_every and step % c.sample_every == 0:
            _print_sample(model, vocab, c.seed, c.sample_length, samples, step)
        if out_dir is not None and (
            (c.checkpoint_every and step % c.checkpoint_every == 0) or not budget_left()
        ):
            save_run(trainer, stream, out_dir)
    progress.close()
    return {"steps": trainer.step, "train_loss": loss, "val_loss": val_loss,
            "val_bits_per_char": val_loss / LN2, "skipped": trainer.skipped}


def save_run(trainer: Trainer, stream: CharStream, out_dir: Path) -> None:
    """The last checkpoint: model plus everything an exact resume needs."""
    state = trainer.state_dict()
    state["stream"] = stream.state_dict()
    state["train_config"] = trainer.config.to_dict()
    save(trainer.model, out_dir / "last", extra=state)


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
