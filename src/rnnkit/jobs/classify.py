"""Sequence classification: labelled sequences → a many-to-one network → accuracy and confusion.

The network reads each (standardised) sequence to its own last step — ``lengths`` make the
padding invisible — and a linear readout of that step's output gives class logits, trained
with softmax cross-entropy.  Channels are standardised with the training split's statistics.
The feed-forward baseline reads the last ``window`` steps (default: the longest training
sequence, i.e. all of it, aligned at its end).

Settings are chosen on the training split, never on the test split (``search``): stratified
folds (``SEARCH_FOLDS``), successive halving over them (``jobs.selection``), candidates
from ``candidates`` — the frame (series longer than ``MAX_STEPS`` are read in frames of k
steps, k and 2k tried), hidden size 32/64, one or two directions, learning rate 3e-3/1e-2;
each candidate trained with a constant rate and early stopping on its held-out fold.  The
ranking is by mean validation accuracy with the one-standard-error rule (the fewest
parameters within a standard error of the best; ties: validation loss).  The chosen
settings are then retrained on the whole training split for the mean of the epochs early
stopping kept, the rate decaying to 0 along a cosine — not the fold-trained network, which
saw a third less data (GunPoint and BasicMotions have only 50 and 40 training series).
Options the user gives are fixed; the search varies the rest.  Beside the network: the
feed-forward baseline (100 epochs, cosine from 3e-3; training options given apply to it
too), 1-NN Euclidean (equal lengths only) and 1-NN DTW (window learned by leave-one-out on
the training split), all on the same standardised series.  The report ranks every table,
marks the best, and says when the network has not learned (``not_learned``).

There are no presets.  The bundled sets, default options (seed 0, 2 cores shared with other
work, ``OPENBLAS_NUM_THREADS=1``); test accuracy, and the search's wall time — beside the
presets this module used to carry (a GRU tuned by hand on these sets, 100 epochs cosine
from 3e-3; JapaneseVowels H=64 and 60 epochs; GunPoint in frames of 3)::

    set           search chose (epochs)         search  GRU    FFNN   1-NN ED  1-NN DTW  preset GRU
    ItalyPower    H=64, 1e-2 (16)               8.8 s   0.968  0.967  0.955    0.955     0.970
    GunPoint      frame 3, H=32, bi, 1e-2 (68)  40.7 s  0.973  0.873  0.913    0.913     0.973
    JapaneseV.    H=32, bi, 1e-2 (12)           22.4 s  0.976  0.976  n/a      0.959     0.962
    BasicMotions  frame 2, H=32, bi, 3e-3 (81)  25.7 s  0.975  0.800  0.575    0.875     0.975

(bi: two directions; the FFNN is trained as before, so its figures are the presets' too;
1-NN ED needs series of one length, JapaneseVowels' differ.)  The whole command took 22,
56, 38 and 42 s (load average ≈ 5 on the 2 cores).  With seeds 1 and 2 the GRU scored
0.966 / 0.961 on ItalyPowerDemand (FFNN 0.967 / 0.966), 0.967 / 0.960 on GunPoint (FFNN
0.873), 0.981 / 0.976 on JapaneseVowels (FFNN 0.976 / 0.981) and 0.925 / 0.975 on
BasicMotions (FFNN 0.800 / 0.775): on GunPoint and BasicMotions the network is well ahead of
every baseline; on ItalyPowerDemand and JapaneseVowels it is level with the feed-forward
baseline — within 5 of 1029 and 2 of 370 test series either way, as the seed falls.
"""

import json
import math
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..data.sequences import (
    DISPLAY_NAMES,
    Sequences,
    dataset_key,
    frames,
    load_dataset,
    read_sequence_file,
    read_sequences,
    scale,
    standardiser,
)
from ..errors import CheckpointError, ConfigError, DataError, ShapeError
from ..training.arrays import evaluate_arrays
from ..training.distributed import LOCAL, Comm
from ..training.signals import stop_on_signals
from . import Fit, Net, build_model, describe, predicting, prefixed, runs, train_network
from .selection import Budget, Score, Search, explain, stratified_folds, successive_halving

JOB = "classify"


DEFAULT_NET = Net(cell="gru", hidden_size=32)
"""The recurrent net without a search (and the cell a search uses unless --cell is given)."""

DEFAULT_FIT = Fit(epochs=100, lr=3e-3, schedule="cosine")
"""Training without a search; the batch size is ``batch_size_for`` the training split."""

MAX_STEPS = 64
"""Series longer than this are read in frames (``frame_choices``): a recurrent net learns
from at most about this many steps far more reliably."""

HIDDEN_SIZES = (32, 64)
BIDIRECTIONAL = (False, True)
LEARNING_RATES = (3e-3, 1e-2)
ONE_SE = True  # rank by the one-standard-error rule (selection.ranking)
SEARCH_EPOCHS = 100  # most epochs of one search training
SEARCH_PATIENCE = 20  # epochs without a lower validation loss that end a search training
SEARCH_FOLDS = 3
SEARCH_SCHEDULE = "constant"  # the search's schedule (early stopping has no horizon to decay over)
SEARCH_MINUTES = 2.0  # the default budget's time cap (the full halving schedule is the other)


def frame_choices(longest: int) -> list[int]:
    """Frames a search tries for series of ``longest`` steps: 1 up to ``MAX_STEPS`` steps,
    else the smallest frame reading at most ``MAX_STEPS`` steps and twice it."""
    if longest <= MAX_STEPS:
        return [1]
    k = -(-longest // MAX_STEPS)
    return [k, 2 * k]


def batch_size_for(n: int) -> int:
    """Sequences per update for ``n`` training sequences: about five updates an epoch, 8–32."""
    return int(np.clip(round(n / 5), 8, 32))


def load(
    dataset: str | None = None,
    train_file: str | None = None,
    test_file: str | None = None,
    *,
    test_fraction: float = 0.3,
    seed: int = 0,
    columns: tuple[str, str] = ("sequence", "label"),
) -> tuple[str, Sequences, Sequences]:
    """(name, train, test): a bundled set's published split, or files of the user's.

    With only a training file, a stratified ``test_fraction`` of it is held out (seeded).
    ``columns``: a CSV's sequence-id and label columns.
    """
    if dataset is not None and train_file is None:
        train_set, test_set = load_dataset(dataset)
        return DISPLAY_NAMES[dataset_key(dataset)], train_set, test_set
    if dataset is not None or train_file is None:
        raise DataError("give either --dataset or --train FILE (optionally --test FILE)")
    ids, labels = columns
    train_set = read_sequences(train_file, id_column=ids, label_column=labels)
    if test_file is not None:
        test_set = read_sequences(test_file, train_set.classes, id_column=ids, label_column=labels)
        check_channels(train_set, test_set, f"{test_file}", f"the training file {train_file}")
        return str(train_file), train_set, test_set
    return str(train_file), *stratified_split(
        train_set, test_fraction, np.random.default_rng([seed, 7])
    )


def check_channels(
    train_set: Sequences,
    other: Sequences,
    other_name: str = "the test split",
    train_name: str = "the training split",
) -> None:
    """ShapeError unless ``other`` has the channels ``train_set`` has (C of x ``[N, T, C]``).

    Standardisation would otherwise broadcast one training channel's statistics over several,
    or fail inside NumPy; the network reads exactly C features.
    """
    if other.channels != train_set.channels:
        raise ShapeError(
            f"{other_name} has {other.channels} channel"
            f"{'s' if other.channels != 1 else ''} per step, but {train_name} has "
            f"{train_set.channels}; both must hold the same channels"
        )


def stratified_split(
    data: Sequences, fraction: float, rng: np.random.Generator
) -> tuple[Sequences, Sequences]:
    """(kept, held out): about ``fraction`` of every class held out, at least one if it has two."""
    if not 0.0 < fraction < 1.0:
        raise DataError(f"the held-out fraction must be in (0, 1), got {fraction}")
    chosen: list[int] = []
    for k in range(data.num_classes):
        members = rng.permutation(np.flatnonzero(data.y == k))
        n = int(round(fraction * len(members)))
        chosen.extend(members[: min(max(n, 1), len(members) - 1)] if len(members) > 1 else [])
    held = np.sort(np.array(chosen, dtype=np.int64))
    kept = np.setdiff1d(np.arange(len(data.y)), held)
    if len(held) == 0:
        raise DataError("too few sequences to hold any out for testing; give --test FILE")
    return data.select(kept), data.select(held)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """``[K, K]`` counts: row = true class, column = predicted class."""
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(m, (y_true, y_pred), 1)
    return m


def predict_classes(model, data: Sequences, batch_size: int = 256) -> np.ndarray:
    """Class ids ``[N]`` (argmax of the logits), in batches."""
    out = []
    for a in range(0, len(data.y), batch_size):
        lengths = data.lengths[a : a + batch_size]
        x = data.x[a : a + batch_size, : int(lengths.max())]
        out.append(model.predict(x, lengths=lengths).argmax(axis=1))
    return np.concatenate(out)


def preprocessing(
    train_set: Sequences, frame: int, columns: tuple[str, str] = ("sequence", "label")
) -> dict[str, Any]:
    """What prediction needs, fitted on the (raw) training split: ``model.meta["preprocessing"]``.

    The channels' mean and std (``[C]`` each), the class labels in class-id order, the channel
    count (and names, from a CSV header), the frame, the training lengths and the file formats
    a prediction reads.
    """
    mean, std = standardiser(train_set)
    return {
        "classes": list(train_set.classes),
        "channels": train_set.channels,
        "channel_names": None
        if train_set.channel_names is None
        else list(train_set.channel_names),
        "mean": mean.tolist(),
        "std": std.tolist(),
        "frame": frame,
        "lengths": [int(train_set.lengths.min()), int(train_set.lengths.max())],
        "id_column": columns[0],
        "label_column": columns[1],
        "formats": {
            "npz": "x [N, T, C] (or [N, T] for one channel), optional lengths [N]; y ignored",
            "csv": "long form: an id column, channel columns, optional label column",
        },
    }


def prepared(sets: tuple[Sequences, ...], prep: dict[str, Any]) -> tuple[Sequences, ...]:
    """Each set standardised with ``prep``'s mean/std and read in its frames."""
    mean, std, k = np.array(prep["mean"]), np.array(prep["std"]), int(prep["frame"])
    out = []
    for s in sets:
        x, lengths = frames(scale(s.x, s.lengths, mean, std), s.lengths, k)
        out.append(Sequences(x, lengths, s.y, s.classes))
    return tuple(out)


def run_classification(
    train_set: Sequences,
    test_set: Sequences,
    nets: list[Net],
    fit: Fit,
    *,
    seed: int = 0,
    val_fraction: float = 0.0,
    frame: int = 1,
    columns: tuple[str, str] = ("sequence", "label"),
    log: Callable[[str], None] | None = None,
    run_dir: Path | None = None,
    options: dict[str, Any] | None = None,
    comm: Comm = LOCAL,
    stop: Callable[[], str | None] = lambda: None,
    fits: list[Fit] | None = None,
    predicts: str | None = None,
    until: float = math.inf,
    shares: list[float] | None = None,
) -> dict[str, Any]:
    """Train each net (standardised inputs) and score it on the test split; a JSON-able report.

    ``fits`` gives each net its own training (default: ``fit`` for all); ``predicts`` names
    the net ``run.json`` names (default: the first).  ``until`` (``time.monotonic``) bounds
    the trainings: net k may use ``shares[k] / sum(shares[k:])`` of the time left when it starts
    (default: equal shares); one stopped by it keeps its best parameters so far.

    ``val_fraction > 0`` holds a stratified part of the training split out to pick the best
    epoch (and stop early after ``fit.patience`` epochs without improvement).  ``frame > 1``
    reads that many consecutive steps as one input.  ``run_dir`` keeps each net's run in
    ``run_dir/<cell>`` (resumed from there if it holds one; ``options``, the job's, saved in
    each ``last``) and ``run_dir/run.json`` naming the net that predicts;
    every net's ``meta`` carries the job and its ``preprocessing``.  A signal (``stop``) ends
    the job after saving, with ``"stopped_by"`` in the report and the finished nets' results.
    """
    if train_set.num_classes < 2:
        raise DataError(
            f"classification needs at least two classes; the training split has "
            f"only {list(train_set.classes)}"
        )
    check_channels(train_set, test_set)
    lengths = [
        int(min(train_set.lengths.min(), test_set.lengths.min())),
        int(max(train_set.lengths.max(), test_set.lengths.max())),
    ]
    prep = preprocessing(train_set, frame, columns)
    train_set, test_set = prepared((train_set, test_set), prep)
    results: list[dict[str, Any]] = []
    report: dict[str, Any] = {
        "train_sequences": len(train_set.y),
        "test_sequences": len(test_set.y),
        "classes": list(train_set.classes),
        "channels": train_set.channels // frame,
        "lengths": lengths,
        "frame": frame,
        "seed": seed,
        "results": results,
    }
    if run_dir is not None and comm.rank == 0 and nets:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        predicting.write_manifest(run_dir, JOB, predicts=predicts or nets[0].cell)
    for k, net in enumerate(nets):
        net_fit = fit if fits is None else fits[k]
        net_stop = _bounded(stop, until, (shares or [1.0] * len(nets))[k:])
        rng = np.random.default_rng([seed, k])
        part, validation = train_set, None
        if val_fraction:  # carved from the training split only; the test split is never seen
            part, held = stratified_split(train_set, val_fraction, rng)
            validation = (held.x, held.y, held.lengths)
        model = build_model(
            net,
            input_size=train_set.channels,
            output_size=train_set.num_classes,
            steps=train_set.x.shape[1],
            readout="last_step",
            loss="cross_entropy",
            rng=rng,
        )
        model.meta.update(job=JOB, preprocessing=prep)
        initial_loss = evaluate_arrays(model, part.x, part.y, part.lengths)
        trained = train_network(
            model,
            part.x,
            part.y,
            net_fit,
            rng=rng,
            lengths=part.lengths,
            validation=validation,
            run_dir=None if run_dir is None else Path(run_dir) / net.cell,
            options=options,
            comm=comm,
            stop=net_stop,
            say=None if log is None else prefixed(log, net.cell),
        )
        if trained.interrupted:
            return {**report, "stopped_by": trained.stopped_by}
        predicted = predict_classes(model, test_set)
        results.append(
            {
                "model": net.cell,
                "description": describe(model),
                "params": model.num_parameters(),
                "accuracy": float(np.mean(predicted == test_set.y)),
                "confusion": confusion_matrix(
                    test_set.y, predicted, test_set.num_classes
                ).tolist(),
                "epochs": trained.epochs,
                "best_epoch": trained.best_epoch,
                "train_loss": trained.train_loss,
                "initial_loss": initial_loss,  # on the training part, before and after
                "final_loss": evaluate_arrays(model, part.x, part.y, part.lengths),
                "skipped": trained.skipped,
                "stopped_by": trained.stopped_by,
                "seconds": round(trained.seconds, 2),
            }
        )
    return report


def _bounded(
    stop: Callable[[], str | None], until: float, shares: list[float]
) -> Callable[[], str | None]:
    """``stop``, or ``"minutes"`` once this stage's share (``shares[0]`` of ``sum(shares)``) of
    the time left until ``until`` is spent."""
    if math.isinf(until):
        return stop
    now = time.monotonic()
    end = now + max(until - now, 0.0) * shares[0] / sum(shares)
    return lambda: stop() or ("minutes" if time.monotonic() >= end else None)


# -- choosing the settings on the training split ------------------------------------------------


def candidates(options: "Options", longest: int) -> list[dict[str, Any]]:
    """The settings a search tries: frames (``frame_choices``), hidden sizes, one or two
    directions and learning rates — each fixed to the user's value when given."""
    fixed, net, fit = set(options.fixed), options.net, options.fit
    frames_ = [options.frame] if "frame" in fixed and options.frame else frame_choices(longest)
    hidden = [net.hidden_size] if "hidden_size" in fixed else list(HIDDEN_SIZES)
    both = net.cell in ("jordan", "ffnn") or "bidirectional" in fixed
    directions = [net.bidirectional] if both else list(BIDIRECTIONAL)
    rates = [fit.lr] if "lr" in fixed else list(LEARNING_RATES)
    return [
        {"frame": f, "hidden_size": h, "bidirectional": b, "lr": lr}
        for f in frames_
        for h in hidden
        for b in directions
        for lr in rates
    ]


def search_fit(options: "Options", n: int) -> Fit:
    """How a search trains each candidate (its ``lr`` replaced): early stopping on the held-out
    fold (``SEARCH_PATIENCE``) within ``SEARCH_EPOCHS``, unless --epochs/--patience fix them."""
    fixed, fit = set(options.fixed), options.fit
    epochs = fit.epochs if "epochs" in fixed else SEARCH_EPOCHS
    patience = (
        fit.patience if "patience" in fixed else (0 if "epochs" in fixed else SEARCH_PATIENCE)
    )
    return replace(
        fit,
        epochs=epochs,
        patience=patience,
        batch_size=fit.batch_size if "batch_size" in fixed else batch_size_for(n),
        schedule=fit.schedule if "schedule" in fixed else SEARCH_SCHEDULE,
    )


def search(
    train_set: Sequences,
    options: "Options",
    budget: Budget,
    *,
    log: Callable[[str], None] | None = None,
    stop: Callable[[], str | None] = lambda: None,
) -> Search:
    """Rank ``candidates`` by successive halving over stratified folds of the training split
    (standardised with its own statistics; the test split plays no part)."""
    folds = stratified_folds(train_set.y, options.folds, np.random.default_rng([options.seed, 11]))
    prep = preprocessing(train_set, 1)
    framed: dict[int, Sequences] = {}
    fit = search_fit(options, len(train_set.y) - len(folds[0]))

    def evaluate(
        settings: dict[str, Any], fold: int, why_stop: Callable[[], str | None]
    ) -> tuple[Score, int]:
        k = settings["frame"]
        if k not in framed:
            (framed[k],) = prepared((train_set,), {**prep, "frame": k})
        data = framed[k]
        held_index = folds[fold]
        part = data.select(np.setdiff1d(np.arange(len(data.y)), held_index))
        held = data.select(held_index)
        key = zlib.crc32(json.dumps(settings, sort_keys=True).encode())
        rng = np.random.default_rng([options.seed, 1000 + fold, key])
        net = replace(
            options.net,
            hidden_size=settings["hidden_size"],
            bidirectional=settings["bidirectional"],
        )
        model = build_model(
            net,
            input_size=data.channels,
            output_size=data.num_classes,
            steps=data.x.shape[1],
            readout="last_step",
            loss="cross_entropy",
            rng=rng,
        )
        trained = train_network(
            model,
            part.x,
            part.y,
            replace(fit, lr=settings["lr"]),
            rng=rng,
            lengths=part.lengths,
            validation=(held.x, held.y, held.lengths),
            stop=why_stop,
        )
        predicted = predict_classes(model, held)
        counts = np.bincount(held.y, minlength=data.num_classes)
        loss = evaluate_arrays(model, held.x, held.y, held.lengths)
        score = Score(
            accuracy=float(np.mean(predicted == held.y)),
            loss=float(loss),
            epochs=max(trained.best_epoch, 1),
            majority=float(counts.max() / counts.sum()),
            seconds=trained.seconds,
            count=len(held.y),
        )
        return score, model.num_parameters()

    return successive_halving(
        candidates(options, int(train_set.lengths.max())),
        options.folds,
        evaluate,
        budget,
        stop=stop,
        say=log,
        one_se=ONE_SE,
    )


def search_report(found: Search, budget: Budget, fit: Fit) -> dict[str, Any]:
    """The search as JSON: its ranked table (best marked), what it chose and why."""
    table = [{"rank": r + 1, "best": r == 0, **t.to_dict()} for r, t in enumerate(found.trials)]
    best = found.best
    why = (
        f"{explain(found)}; retrained on the whole training split for {best.epochs} epochs "
        "(the mean of the epochs early stopping kept on its folds), the learning rate "
        "decaying to 0 along a cosine"
    )
    return {
        "budget": budget.describe(),
        "trainings": found.trainings,
        "seconds": round(found.seconds, 1),
        "stopped_by": found.stopped_by,
        "fit": {"epochs": fit.epochs, "patience": fit.patience, "batch_size": fit.batch_size},
        "chosen": {**best.settings, "epochs": best.epochs},
        "why": why,
        "validation_accuracy": best.accuracy,
        "majority": best.majority,
        "table": table,
    }


# -- the 1-NN baselines ---------------------------------------------------------------------------


def nearest_neighbour_results(train_set: Sequences, test_set: Sequences) -> list[dict[str, Any]]:
    """1-NN Euclidean and 1-NN DTW (window learned by leave-one-out on the training split) on
    the standardised series, as result rows; Euclidean only when every series has one length."""
    from ..baselines.nearest import NearestNeighbour

    train_set, test_set = prepared((train_set, test_set), preprocessing(train_set, 1))
    rows: list[dict[str, Any]] = []
    for metric in ("euclidean", "dtw"):
        name = f"1nn-{metric}"
        lengths = np.concatenate([train_set.lengths, test_set.lengths])
        if metric == "euclidean" and lengths.min() != lengths.max():
            rows.append(
                {
                    "model": name,
                    "description": "1-NN Euclidean (not run: the series differ in length)",
                    "accuracy": None,
                }
            )
            continue
        t0 = time.monotonic()
        clf = NearestNeighbour(metric).fit(train_set.x, train_set.y, train_set.lengths)
        predicted = clf.predict(test_set.x, test_set.lengths)
        rows.append(
            {
                "model": name,
                "description": clf.describe(),
                "params": 0,
                "accuracy": float(np.mean(predicted == test_set.y)),
                "confusion": confusion_matrix(
                    test_set.y, predicted, test_set.num_classes
                ).tolist(),
                "epochs": None,
                "seconds": round(time.monotonic() - t0, 2),
            }
        )
    return rows


def rank(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The results best first (by accuracy; rows without one last), each with its ``rank``
    and ``best`` (every row tying the top accuracy)."""
    scored = [r for r in results if r.get("accuracy") is not None]
    top = max((r["accuracy"] for r in scored), default=None)
    ordered = sorted(scored, key=lambda r: -r["accuracy"]) + [
        r for r in results if r.get("accuracy") is None
    ]
    return [
        {
            **r,
            "rank": k + 1 if r.get("accuracy") is not None else None,
            "best": (r.get("accuracy") is not None and r["accuracy"] == top),
        }
        for k, r in enumerate(ordered)
    ]


def not_learned(recurrent: dict[str, Any], validation: tuple[float, float] | None) -> str | None:
    """Why the recurrent net has not learned, or None: its validation accuracy (``validation``
    = (accuracy, majority share)) is not above the majority class's, or its training loss
    did not fall below 98 % of where it started."""
    reasons = []
    if validation is not None and validation[0] <= validation[1]:
        reasons.append(
            f"its validation accuracy {validation[0]:.3f} is not above the majority "
            f"class's {validation[1]:.3f}"
        )
    initial, final = recurrent.get("initial_loss"), recurrent.get("final_loss")
    if initial is not None and final is not None and not final < 0.98 * initial:
        reasons.append(f"its training loss never fell ({initial:.4g} → {final:.4g})")
    return "; ".join(reasons) or None


BEHIND_BY = 0.05
"""How far below the best baseline's test accuracy the network is reported as behind it."""


def behind(recurrent: dict[str, Any], baselines: list[dict[str, Any]]) -> dict[str, Any]:
    """Whether the network's test accuracy is more than ``BEHIND_BY`` below the best
    baseline's (the feed-forward network, 1-NN Euclidean or DTW): ``{"flag", "message"}``.
    The test split is only reported on here, never chosen with."""
    scored = [b for b in baselines if b.get("accuracy") is not None]
    best = max(scored, key=lambda b: b["accuracy"], default=None)
    if best is None or recurrent["accuracy"] >= best["accuracy"] - BEHIND_BY:
        return {"flag": False, "message": ""}
    return {
        "flag": True,
        "message": (
            f"on the test split the recurrent network's accuracy {recurrent['accuracy']:.3f} "
            f"is more than {BEHIND_BY} below {best['description']}'s {best['accuracy']:.3f}; "
            "with few or long series a nearest-neighbour classifier is often the better "
            "choice — or try a larger --budget, or more training data"
        ),
    }


NOT_LEARNED_ADVICE = (
    "try a larger --budget or --epochs, a smaller --lr, --frame to shorten long series, "
    "or more training data"
)


# -- prediction from a saved run -----------------------------------------------------------------


def _label_value(label: str) -> int | str:
    """A class label as the file spelled it: an int when it is a plain integer, else the text."""
    try:
        number = int(label)
    except ValueError:
        return label
    return number if str(number) == label else label


class ClassifierPredictor:
    """Class labels and probabilities of new sequences from a trained classify network.

    The inputs are standardised with the training split's mean/std and read in the run's
    frames, as in training; ``classes`` are the labels in class-id order (ints where the
    training file's labels were plain integers).
    """

    job = JOB

    def __init__(self, model: Any, source: Path) -> None:
        prep = model.meta.get("preprocessing")
        if not isinstance(prep, dict) or not {
            "classes",
            "channels",
            "mean",
            "std",
            "frame",
        } <= set(prep):
            raise CheckpointError(
                f"{source}: the classify network's preprocessing is missing or incomplete; "
                "train it again with this version of rnnkit"
            )
        self.model, self.source, self.preprocessing = model, Path(source), prep
        self.labels: list[str] = [str(c) for c in prep["classes"]]
        self.classes: list[int | str] = [_label_value(c) for c in self.labels]
        self.channels: int = int(prep["channels"])
        self.id_column = str(prep.get("id_column", "sequence"))
        self.label_column = str(prep.get("label_column", "label"))
        names = prep.get("channel_names")
        self.channel_names: list[str] | None = None if names is None else list(names)

    def _inputs(
        self, x: np.ndarray, lengths: np.ndarray | None, what: str = "the input"
    ) -> tuple[np.ndarray, np.ndarray]:
        """(x standardised and framed ``[N, T', k·C]``, lengths ``[N]``) from raw ``[N, T, C]``."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 2 and self.channels == 1:
            x = x[:, :, None]
        if x.ndim != 3 or 0 in x.shape[:2]:
            raise ShapeError(
                f"{what} must be sequences [N, T, C = {self.channels}] with N, T >= 1, "
                f"got shape {x.shape}"
            )
        if x.shape[2] != self.channels:
            raise ShapeError(
                f"{what} has {x.shape[2]} channel{'s' if x.shape[2] != 1 else ''} per step, "
                f"but the run {self.source} was trained on {self.channels}"
            )
        N, T, _ = x.shape
        lengths = np.full(N, T, dtype=np.int64) if lengths is None else np.asarray(lengths)
        if lengths.shape != (N,) or not np.issubdtype(lengths.dtype, np.integer):
            raise ShapeError(
                f"lengths of {what} must be [N] = [{N}] integers, got {lengths.shape}"
            )
        if N and (lengths.min() < 1 or lengths.max() > T):
            raise ShapeError(f"lengths of {what} must lie in [1, T = {T}]")
        real = np.arange(T)[None, :] < lengths[:, None]
        if not np.isfinite(x[real]).all():
            raise DataError(f"{what} holds NaN or infinite values within its lengths")
        mean, std = np.array(self.preprocessing["mean"]), np.array(self.preprocessing["std"])
        return frames(
            scale(x, lengths.astype(np.int64), mean, std),
            lengths.astype(np.int64),
            int(self.preprocessing["frame"]),
        )

    def predict_proba(self, x: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """Class probabilities ``[N, K]`` of raw sequences x ``[N, T, C]`` (lengths ``[N]``)."""
        xs, ls = self._inputs(x, lengths)
        out = []
        for a in range(0, len(ls), 256):
            part = ls[a : a + 256]
            logits = np.asarray(
                self.model.predict(xs[a : a + 256, : int(part.max())], lengths=part),
                dtype=np.float64,
            )
            z = np.exp(logits - logits.max(axis=1, keepdims=True))
            out.append(z / z.sum(axis=1, keepdims=True))
        return np.concatenate(out) if out else np.zeros((0, len(self.classes)))

    def predict(self, x: np.ndarray, lengths: np.ndarray | None = None) -> list[int | str]:
        """The most probable class label of each sequence: ``[N]``."""
        return [self.classes[k] for k in self.predict_proba(x, lengths).argmax(axis=1)]

    def predict_file(self, path: str | Path, **options: Any) -> predicting.Table:
        """A table of ``id``, ``label`` and one ``p_<label>`` column per class for every sequence
        of an NPZ or long-form CSV file (the formats ``classify --train`` reads, labels
        optional; labels present are only compared, in a note)."""
        if options:
            raise ConfigError(f"classify predictions take no options, got {sorted(options)}")
        path = Path(path)
        f = read_sequence_file(path, id_column=self.id_column, label_column=self.label_column)
        x = self._channels_of(f.x, f.channel_names, path)
        proba = self.predict_proba(x, f.lengths)
        best = proba.argmax(axis=1)
        columns = ["id", "label", *(f"p_{c}" for c in self.labels)]
        rows = [
            [_label_value(sid), self.classes[k], *(float(p) for p in ps)]
            for sid, k, ps in zip(f.ids, best, proba)
        ]
        notes = [f"{len(rows)} sequences of {path} classified by {self.source}"]
        longest = int(self.preprocessing.get("lengths", [0, 0])[1])
        if longest and int(f.lengths.max()) > longest:
            notes.append(
                f"some sequences are longer ({int(f.lengths.max())} steps) than any the network "
                f"was trained on ({longest})"
            )
        if f.labels is not None:
            index = {c: k for k, c in enumerate(self.labels)}
            known = np.array([label in index for label in f.labels])
            if known.any():
                truth = np.array([index.get(label, -1) for label in f.labels])
                accuracy = float(np.mean(best[known] == truth[known]))
                notes.append(
                    f"the file's labels agree with {accuracy:.4f} of the predictions"
                    + (f" ({int(known.sum())} with a known label)" if not known.all() else "")
                )
        return predicting.Table(columns, rows, notes)

    def _channels_of(self, x: np.ndarray, names: tuple[str, ...] | None, path: Path) -> np.ndarray:
        """x ``[N, T, C]`` with its channels in the run's order (by name where both have names),
        or a ShapeError naming the file and the mismatch."""
        if x.shape[2] != self.channels:
            raise ShapeError(
                f"{path} has {x.shape[2]} channel{'s' if x.shape[2] != 1 else ''} per step, "
                f"but the run {self.source} was trained on {self.channels}"
                + (f" ({', '.join(self.channel_names)})" if self.channel_names else "")
            )
        if names is None or self.channel_names is None or list(names) == self.channel_names:
            return x
        if sorted(names) != sorted(self.channel_names):
            raise ShapeError(
                f"{path} has the channels {', '.join(names)}, but the run {self.source} was "
                f"trained on {', '.join(self.channel_names)}"
            )
        return x[:, :, [list(names).index(c) for c in self.channel_names]]


def predictor(model: Any, source: Path) -> ClassifierPredictor:
    """The predictor of a classify network (``predicting.load`` calls it)."""
    return ClassifierPredictor(model, source)


# -- the job as the command line runs it ---------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Options:
    """One ``rnnkit classify`` run: its data, nets and training, saved in each ``last``."""

    dataset: str | None = None  # a bundled set, or
    train: str | None = None  # a training file (.npz or .csv)
    test: str | None = None  # a test file (None: hold out test_fraction of train)
    test_fraction: float = 0.3
    id_column: str = "sequence"  # CSV: the column that names each sequence
    label_column: str = "label"  # CSV: the column of the labels
    net: Net = field(default_factory=lambda: DEFAULT_NET)
    fit: Fit = field(default_factory=lambda: DEFAULT_FIT)
    baseline: bool = True  # also the feed-forward baseline, 1-NN Euclidean and 1-NN DTW
    ffnn_hidden: int = 64  # the feed-forward baseline's hidden units
    frame: int = 0  # consecutive steps read as one input (0: chosen from the lengths)
    search: bool = True  # choose the settings not given by validation on the training split
    budget: str = ""  # the search's: trainings (20) or minutes (2m); "": halving, 2 min at most
    folds: int = SEARCH_FOLDS  # stratified folds of the training split the search scores on
    minutes: float = 0.0  # bound on the whole command, split across its stages (0: none)
    val_fraction: float = 0.0  # share of the training split that picks the final best epoch
    fixed: tuple[str, ...] = ()  # the settings given (a search leaves them as they are)
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Options":
        try:
            return cls(
                **{
                    **d,
                    "net": Net(**d["net"]),
                    "fit": Fit(**d["fit"]),
                    "fixed": tuple(d.get("fixed", ())),
                }
            )
        except (KeyError, TypeError) as e:
            raise CheckpointError(
                f"the saved classify options are damaged ({e}); start afresh with --overwrite"
            ) from None


def configure(given: dict[str, Any]) -> Options:
    """Options from the given ones (by field name: ``Net``'s and ``Fit``'s fields, and
    ``Options``' own); the given network, training and frame settings are ``fixed``."""
    given = {k: v for k, v in given.items() if v is not None}
    own = {f.name for f in fields(Options)} - {"net", "fit", "fixed"}
    net, fit = with_overrides(
        DEFAULT_NET, DEFAULT_FIT, **{k: v for k, v in given.items() if k not in own}
    )
    fixed = sorted(k for k in given if k not in own or k == "frame")
    options = Options(
        **{k: v for k, v in given.items() if k in own}, net=net, fit=fit, fixed=tuple(fixed)
    )
    Budget.parse(options.budget)  # a bad budget now, not after loading the data
    if options.minutes < 0 or options.folds < 2 or options.frame < 0:
        raise ConfigError(
            f"--minutes must be >= 0, --folds >= 2 and --frame >= 0 (0: chosen), got "
            f"{options.minutes}, {options.folds}, {options.frame}"
        )
    return options


SEARCH_FILE = "search.json"
"""The finished search of a run (its table and choice), so that a resumed run keeps it."""

SHARES = {"search": 0.6, "recurrent": 0.25, "ffnn": 0.15}
"""How ``--minutes`` splits the command's time: each stage's share of what is left when it
starts (time a stage leaves unused goes on to the next); the 1-NN baselines run after."""


def classify(
    train_set: Sequences,
    test_set: Sequences,
    options: Options,
    *,
    log: Callable[[str], None] | None = None,
    run_dir: Path | None = None,
    comm: Comm = LOCAL,
    stop: Callable[[], str | None] = lambda: None,
) -> dict[str, Any]:
    """The job: choose the settings (search) on the training split, train the recurrent net
    (and the feed-forward baseline) on all of it, score them and the 1-NN baselines once on
    the test split; a JSON-able report, its results ranked.

    Under ``mpiexec`` every rank runs the search alike (its trainings are not split), and the
    time budgets (``--minutes``, a budget in minutes) are not applied: each rank's clock
    could stop it at another point; the full halving schedule (or the trainings budget) is.
    """
    start = time.monotonic()
    until = start + 60 * options.minutes if options.minutes else math.inf
    if comm.size > 1:  # a clock is each process's own: only counts keep the ranks in step
        until = math.inf
    n = len(train_set.y)
    fixed = set(options.fixed)
    net, fit, frame = options.net, options.fit, options.frame
    if "batch_size" not in fixed:
        fit = replace(fit, batch_size=batch_size_for(n))
    found: dict[str, Any] | None = None
    saved = None if run_dir is None else Path(run_dir) / SEARCH_FILE
    if options.search and saved is not None and saved.is_file():
        found = json.loads(saved.read_text())
        if log:
            log(f"the search was done before: {saved}")
    elif options.search:
        budget = Budget.parse(options.budget, default_minutes=SEARCH_MINUTES)
        if comm.size > 1:  # every rank searches alike; a time budget could part them
            budget = replace(budget, minutes=0.0)
        if not math.isinf(until):
            share = (until - time.monotonic()) * SHARES["search"] / 60
            budget = replace(budget, minutes=min(budget.minutes or math.inf, share))
        if log:
            log(
                f"searching on {options.folds} stratified folds of the training split, "
                f"budget {budget.describe()}"
            )
        result = search(train_set, options, budget, log=log, stop=stop)
        if result.stopped_by.startswith("SIG"):
            return {"stopped_by": result.stopped_by, "results": [], "in_search": True}
        found = search_report(result, budget, search_fit(options, n))
        if saved is not None and comm.rank == 0:
            from ..io.atomic import write_atomic

            write_atomic(saved, (json.dumps(found, indent=2) + "\n").encode())
    if found is not None:
        chosen = found["chosen"]
        net = replace(
            net, hidden_size=chosen["hidden_size"], bidirectional=chosen["bidirectional"]
        )
        frame = chosen["frame"]
        fit = replace(
            fit,
            lr=chosen["lr"],
            epochs=fit.epochs if "epochs" in fixed else chosen["epochs"],
            schedule=fit.schedule if "schedule" in fixed else "cosine",
        )
    frame = frame or frame_choices(int(train_set.lengths.max()))[0]
    nets, fits, shares = [net], [fit], [SHARES["recurrent"]]
    if options.baseline and net.cell != "ffnn":
        nets.append(
            replace(
                net,
                cell="ffnn",
                hidden_size=options.ffnn_hidden,
                num_layers=1,
                bidirectional=False,
            )
        )
        given = {k: getattr(options.fit, k) for k in fixed if k in Fit.__dataclass_fields__}
        fits.append(replace(DEFAULT_FIT, **{**given, "batch_size": fit.batch_size}))
        shares.append(SHARES["ffnn"])
    report = run_classification(
        train_set,
        test_set,
        nets,
        options.fit,
        fits=fits,
        seed=options.seed,
        val_fraction=options.val_fraction,
        frame=frame,
        columns=(options.id_column, options.label_column),
        log=log,
        run_dir=run_dir,
        options=options.to_dict(),
        comm=comm,
        stop=stop,
        until=until,
        shares=shares,
        predicts=net.cell,
    )
    if "stopped_by" in report:
        return report
    results = report["results"]
    results[0]["role"] = "recurrent"
    if options.baseline:
        results.extend(nearest_neighbour_results(train_set, test_set))
    validation = None if found is None else (found["validation_accuracy"], found["majority"])
    reason = not_learned(results[0], validation)
    late = behind(results[0], results[1:])
    return {
        **report,
        "predicts": net.cell,
        "search": found,
        "minutes": options.minutes,
        "time_split": time_split(options) if options.minutes and comm.size == 1 else None,
        "seconds": round(time.monotonic() - start, 1),
        "results": rank(results),
        "not_learned": reason is not None,
        "not_learned_reason": reason,
        "advice": None if reason is None else NOT_LEARNED_ADVICE,
        "behind": late,
    }


def run_job(
    given: dict[str, Any],
    out: Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    comm: Comm = LOCAL,
    log: Callable[[str], None] | None = None,
    handle_signals: bool = True,
) -> dict[str, Any]:
    """A new run in ``out`` from the ``given`` options, or (``resume``) the run saved there.

    SIGINT/SIGTERM save each net's ``last`` and end the job (``"stopped_by"`` in the report).
    """

    def with_data(options: Options) -> tuple[Options, tuple[str, Sequences, Sequences]]:
        return options, load(
            options.dataset,
            options.train,
            options.test,
            test_fraction=options.test_fraction,
            seed=options.seed,
            columns=(options.id_column, options.label_column),
        )

    options, (name, train_set, test_set) = runs.prepare(
        out,
        resume=resume,
        overwrite=overwrite,
        comm=comm,
        new=lambda: with_data(configure(given)),
        again=lambda: with_data(Options.from_dict(runs.saved_options(out, given))),
    )
    if log:
        log(
            f"{name}: {len(train_set.y)} training and {len(test_set.y)} test sequences, "
            f"{train_set.num_classes} classes, {train_set.channels} channels"
            + (f", {comm.size} processes" if comm.size > 1 else "")
            + f"; run in {out}"
        )
        if options.minutes:
            log(
                time_split(options)
                if comm.size == 1
                else "--minutes is not applied under mpiexec (each process's clock is its own)"
            )
    with stop_on_signals(runs.SIGNALS if handle_signals else ()) as stop:
        report = classify(train_set, test_set, options, log=log, run_dir=out, comm=comm, stop=stop)
    report = {"dataset": name, **report}
    if comm.rank == 0 and "stopped_by" not in report:
        runs.write_result(out, report)  # rnnkit report: the ranked table, confusion matrices
    return report


def time_split(options: Options) -> str:
    """How ``--minutes`` is split across the command's stages, in one line."""
    stages = (["search"] if options.search else []) + ["recurrent"]
    stages += ["ffnn"] if options.baseline else []
    parts, left = [], options.minutes
    for k, stage in enumerate(stages):
        share = left * SHARES[stage] / sum(SHARES[s] for s in stages[k:])
        parts.append(f"{stage} ≤ {share:.2g} min")
        left -= share
    return (
        f"time bound {options.minutes:g} min: "
        + ", ".join(parts)
        + " (time a stage leaves goes on to the next"
        + ("; the 1-NN baselines run after)" if options.baseline else ")")
    )


def with_overrides(net: Net, fit: Fit, **options: Any) -> tuple[Net, Fit]:
    """``net`` and ``fit`` with every option that is not None replaced (by field name)."""
    net_fields, fit_fields = set(Net.__dataclass_fields__), set(Fit.__dataclass_fields__)
    given = {k: v for k, v in options.items() if v is not None}
    unknown = set(given) - net_fields - fit_fields
    if unknown:
        raise ConfigError(f"unknown options {sorted(unknown)}")
    return (
        replace(net, **{k: v for k, v in given.items() if k in net_fields}),
        replace(fit, **{k: v for k, v in given.items() if k in fit_fields}),
    )
