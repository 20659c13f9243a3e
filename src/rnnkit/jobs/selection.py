"""Choosing a job's settings by validation on its training part: folds, budget, halving.

A search scores candidate settings (dicts) on stratified folds of the training part only —
never the test split — by successive halving over the folds: every candidate is trained on
the first fold's training part and scored on its held-out part; the better half (rounded up)
goes on to the next fold, and so on.  A candidate's score is its mean over the folds it was
scored on; candidates that went further rank first (they beat the others on the earlier
folds), then higher mean accuracy, lower mean validation loss, fewer parameters, and the
order of the candidate list.  With ``k`` folds and ``n`` candidates the full schedule trains
``n + ⌈n/2⌉ + …`` times (k terms).

The budget (``Budget.parse``: ``"20"`` trainings or ``"2m"`` minutes) stops the search
between trainings (a time budget also stops the training under way, keeping its best epoch
so far); the ranking is then made of what was scored.  A trainings budget gives the same
choice from the same seed on every machine; a time budget depends on the machine's speed.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError


@dataclass(frozen=True)
class Budget:
    """How much a search may do: at most ``trials`` trainings and ``minutes`` of wall time
    (0: no limit on that count)."""

    trials: int = 0
    minutes: float = 0.0

    @classmethod
    def parse(cls, text: str | int | float, *, default_minutes: float = 0.0) -> "Budget":
        """``"20"`` → 20 trainings; ``"2m"`` / ``"2min"`` / ``"1.5 minutes"`` → minutes; ``""``
        → no count, ``default_minutes`` of time."""
        s = str(text).strip().lower().replace(" ", "")
        if not s:
            return cls(0, default_minutes)
        for unit in ("minutes", "minute", "min", "m"):
            if s.endswith(unit):
                try:
                    minutes = float(s[: -len(unit)])
                except ValueError:
                    break
                if not minutes > 0 or not math.isfinite(minutes):
                    break
                return cls(0, minutes)
        else:
            if s.isdigit() and int(s) > 0:
                return cls(int(s), default_minutes)
        raise ConfigError(
            f"a search budget is trainings (e.g. 20) or minutes (e.g. 2m), got {text!r}"
        )

    def describe(self) -> str:
        parts = [f"{self.trials} trainings"] if self.trials else []
        parts += [f"{self.minutes:g} min"] if self.minutes else []
        return " or ".join(parts) or "no limit"


def stratified_folds(y: np.ndarray, k: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``k`` disjoint index sets ``[~N/k]`` covering ``range(N)``, each holding about ``1/k`` of
    every class (each class shuffled, then dealt out in turn; the deal continues across classes
    so the folds' sizes differ by at most one)."""
    y = np.asarray(y)
    if k < 2:
        raise ConfigError(f"a search needs at least 2 folds, got {k}")
    if len(y) < k:
        raise DataError(f"{len(y)} training sequences cannot be split into {k} folds")
    folds: list[list[int]] = [[] for _ in range(k)]
    turn = 0
    for c in np.unique(y):
        for i in rng.permutation(np.flatnonzero(y == c)):
            folds[turn % k].append(int(i))
            turn += 1
    return [np.sort(np.array(f, dtype=np.int64)) for f in folds]


@dataclass(frozen=True)
class Score:
    """One training of a candidate, scored on a fold's held-out part."""

    accuracy: float  # share of the held-out part classified right
    loss: float  # validation loss of the kept epoch
    epochs: int  # the epoch whose parameters were kept (the one to train to)
    majority: float  # share of the held-out part's most frequent class
    seconds: float
    count: int = 0  # sequences in the held-out part


@dataclass
class Trial:
    """A candidate's settings and its scores so far."""

    settings: dict[str, Any]
    params: int = 0
    scores: list[Score] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return float(np.mean([s.accuracy for s in self.scores])) if self.scores else math.nan

    @property
    def loss(self) -> float:
        return float(np.mean([s.loss for s in self.scores])) if self.scores else math.nan

    @property
    def majority(self) -> float:
        return float(np.mean([s.majority for s in self.scores])) if self.scores else math.nan

    @property
    def epochs(self) -> int:
        """The epochs to train on the whole training part: the mean of the kept ones."""
        return max(1, round(float(np.mean([s.epochs for s in self.scores])))) if self.scores else 0

    @property
    def standard_error(self) -> float:
        """The binomial standard error of ``accuracy`` over all its held-out sequences."""
        n = sum(s.count for s in self.scores)
        a = self.accuracy
        return math.sqrt(max(a * (1 - a), 0.25 / max(n, 1)) / n) if n else math.inf

    def rank_key(self, order: int) -> tuple:
        return (-len(self.scores), -self.accuracy, self.loss, self.params, order)

    def to_dict(self) -> dict[str, Any]:
        """The settings and the scores as JSON (None for a trial not scored)."""
        scored = bool(self.scores)
        return {
            **self.settings,
            "folds": len(self.scores),
            "accuracy": self.accuracy if scored else None,
            "loss": self.loss if scored else None,
            "majority": self.majority if scored else None,
            "epochs": self.epochs,
            "params": self.params,
            "seconds": round(sum(s.seconds for s in self.scores), 2),
        }


@dataclass
class Search:
    """A finished search: the trials ranked (best first), how it ended and what it took."""

    trials: list[Trial]
    trainings: int
    seconds: float
    stopped_by: str  # schedule | trials | minutes | the signal that stopped it

    @property
    def best(self) -> Trial:
        return self.trials[0]


def successive_halving(
    candidates: list[dict[str, Any]],
    folds: int,
    evaluate: Callable[[dict[str, Any], int, Callable[[], str | None]], tuple[Score, int]],
    budget: Budget,
    *,
    stop: Callable[[], str | None] = lambda: None,
    say: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    one_se: bool = True,
) -> Search:
    """Score ``candidates`` by successive halving over ``folds`` folds within ``budget``.

    ``evaluate(settings, fold, stop) -> (Score, parameter count)`` trains one candidate on
    fold ``fold``'s training part; its ``stop()`` names why to stop early (a signal, or
    ``"minutes"`` once the time budget is spent).  A signal ends the search at once
    (``stopped_by`` names it; the trials scored so far are kept, possibly none).
    """
    if not candidates:
        raise ConfigError("a search needs at least one candidate")
    start = clock()
    trials = [Trial(dict(c)) for c in candidates]
    order = {id(t): k for k, t in enumerate(trials)}
    deadline = start + 60 * budget.minutes if budget.minutes else math.inf

    def why_stop() -> str | None:
        return stop() or ("minutes" if clock() >= deadline else None)

    trainings, stopped_by, alive = 0, "schedule", list(trials)
    total = sum(math.ceil(len(trials) / 2**r) for r in range(folds))
    for fold in range(folds):
        for trial in alive:
            if budget.trials and trainings >= budget.trials:
                stopped_by = "trials"
            reason = stopped_by if stopped_by != "schedule" else why_stop()
            if reason:
                stopped_by = reason
                break
            score, trial.params = evaluate(trial.settings, fold, why_stop)
            trainings += 1
            reason = stop()
            if reason:  # a signal: this training was cut short, its score is not comparable
                stopped_by = reason
                break
            trial.scores.append(score)
            if say:
                say(
                    f"search {trainings}/{total}: {describe_settings(trial.settings)}, fold "
                    f"{fold + 1}: accuracy {score.accuracy:.3f}, loss {score.loss:.4g}, "
                    f"epoch {score.epochs}, {score.seconds:.1f}s"
                )
        if stopped_by != "schedule":
            break
        alive = ranking(alive, order, one_se)
        alive = alive[: math.ceil(len(alive) / 2)]
    ranked = ranking(trials, order, one_se)
    if not ranked[0].scores and not stopped_by.startswith("SIG"):
        raise ConfigError(
            f"the search's budget ({budget.describe()}) ended before any candidate was scored"
            + "; give a larger --budget"
        )
    return Search(ranked, trainings, clock() - start, stopped_by)


def ranking(trials: list[Trial], order: dict[int, int], one_se: bool = True) -> list[Trial]:
    """``trials`` best first: by folds scored, mean accuracy, mean loss, parameters, order.

    ``one_se``: then the trial with the fewest parameters among those scored on as many folds
    whose accuracy is within one standard error of the best's moves to the top (the
    "one-standard-error rule": on small validation parts a difference of a sequence or two
    is noise, and the simpler model generalises at least as well).
    """
    ranked = sorted(trials, key=lambda t: t.rank_key(order[id(t)]))
    if not one_se or not ranked or not ranked[0].scores:
        return ranked
    top = ranked[0]
    close = [
        t
        for t in ranked
        if len(t.scores) == len(top.scores)
        and t.accuracy >= top.accuracy - top.standard_error - 1e-12
    ]
    simplest = min(close, key=lambda t: (t.params, ranked.index(t)))
    return [simplest] + [t for t in ranked if t is not simplest]


def explain(found: Search) -> str:
    """Why the search's best trial is first, in one clause."""
    best = found.best
    folds = len(best.scores)
    over = f"over the {folds} fold{'s' if folds != 1 else ''} it reached"
    peers = [t for t in found.trials if len(t.scores) == folds]
    leader = max(peers, key=lambda t: t.accuracy)
    if leader.accuracy > best.accuracy:
        return (
            f"mean validation accuracy {best.accuracy:.3f} {over}, within one standard error "
            f"({leader.standard_error:.3f}) of the best, {leader.accuracy:.3f} "
            f"({describe_settings(leader.settings)}), with the fewest parameters "
            f"({best.params:,}) of those within it"
        )
    tied = sum(t.accuracy == best.accuracy for t in peers) > 1
    return f"highest mean validation accuracy ({best.accuracy:.3f}) {over}" + (
        f", then the fewest parameters ({best.params:,})"
        if tied and any(t.params > best.params for t in peers if t.accuracy == best.accuracy)
        else f", then lowest validation loss ({best.loss:.4g})"
        if tied
        else ""
    )


def describe_settings(settings: dict[str, Any]) -> str:
    """``frame 3, H=64, bidirectional yes, lr 0.01`` (the keys a search varies, in order)."""
    parts = []
    for k, v in settings.items():
        if k == "hidden_size":
            parts.append(f"H={v}")
        elif isinstance(v, bool):
            parts.append(f"{k} {'yes' if v else 'no'}")
        else:
            parts.append(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}")
    return ", ".join(parts)
