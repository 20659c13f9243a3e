"""Sequence classification: labelled sequences → a many-to-one network → accuracy and confusion.

The network reads each (standardised) sequence to its own last step — ``lengths`` make the
padding invisible — and a linear readout of that step's output gives class logits, trained
with softmax cross-entropy.  Channels are standardised with the training split's statistics.
The feed-forward baseline reads the last ``window`` steps (default: the longest training
sequence, i.e. all of it, aligned at its end).

``PRESETS`` are the documented defaults for the bundled sets, found by measurement to reach
the targets (ItalyPowerDemand ≥ 0.90, GunPoint ≥ 0.85, JapaneseVowels ≥ 0.90,
BasicMotions ≥ 0.90 test accuracy) with a one-layer GRU on the CPU in about a minute each
(GunPoint's 150 steps read as 50 frames of 3).  One run each (seed 0, Adam with a cosine
decay from 3e-3), test accuracy of the GRU and of the feed-forward baseline:

    dataset            GRU                     epochs   GRU     FFNN (window: all)
    ItalyPowerDemand   H=32                    100      0.970   0.967
    GunPoint           H=32, frames of 3       100      0.973   0.873
    JapaneseVowels     H=64                    60       0.962   0.976
    BasicMotions       H=32                    100      0.975   0.800
"""

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..data.sequences import (
    DISPLAY_NAMES,
    Sequences,
    dataset_key,
    load_dataset,
    read_sequences,
    stack_frames,
    standardise,
)
from ..errors import CheckpointError, ConfigError, DataError, ShapeError
from ..training.distributed import LOCAL, Comm
from ..training.signals import stop_on_signals
from . import Fit, Net, build_model, describe, prefixed, runs, train_network

JOB = "classify"


class Preset(NamedTuple):
    net: Net
    fit: Fit
    frame: int = 1  # consecutive steps read as one input (see data.sequences.stack_frames)


def _gru(hidden: int, epochs: int, batch: int, frame: int = 1) -> Preset:
    return Preset(
        Net(cell="gru", hidden_size=hidden),
        Fit(epochs=epochs, batch_size=batch, lr=3e-3, schedule="cosine"),
        frame,
    )


GENERAL = _gru(32, 100, 16)
"""Defaults for files of the user's."""

PRESETS: dict[str, Preset] = {
    "italypowerdemand": _gru(32, 100, 16),
    "gunpoint": _gru(32, 100, 10, frame=3),  # 150 steps read as 50 frames of 3
    "japanesevowels": _gru(64, 60, 32),
    "basicmotions": _gru(32, 100, 8),
}
"""Per bundled set: the recurrent net, its training and framing (each can be overridden)."""


def defaults_for(dataset: str | None) -> Preset:
    return PRESETS[dataset_key(dataset)] if dataset else GENERAL


def load(
    dataset: str | None = None,
    train_file: str | None = None,
    test_file: str | None = None,
    *,
    test_fraction: float = 0.3,
    seed: int = 0,
) -> tuple[str, Sequences, Sequences]:
    """(name, train, test): a bundled set's published split, or files of the user's.

    With only a training file, a stratified ``test_fraction`` of it is held out (seeded).
    """
    if dataset is not None and train_file is None:
        train_set, test_set = load_dataset(dataset)
        return DISPLAY_NAMES[dataset_key(dataset)], train_set, test_set
    if dataset is not None or train_file is None:
        raise DataError("give either --dataset or --train FILE (optionally --test FILE)")
    train_set = read_sequences(train_file)
    if test_file is not None:
        test_set = read_sequences(test_file, train_set.classes)
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


def run_classification(
    train_set: Sequences,
    test_set: Sequences,
    nets: list[Net],
    fit: Fit,
    *,
    seed: int = 0,
    val_fraction: float = 0.0,
    frame: int = 1,
    log: Callable[[str], None] | None = None,
    run_dir: Path | None = None,
    options: dict[str, Any] | None = None,
    comm: Comm = LOCAL,
    stop: Callable[[], str | None] = lambda: None,
) -> dict[str, Any]:
    """Train each net (standardised inputs) and score it on the test split; a JSON-able report.

    ``val_fraction > 0`` holds a stratified part of the training split out to pick the best
    epoch (and stop early after ``fit.patience`` epochs without improvement).  ``frame > 1``
    reads that many consecutive steps as one input.  ``run_dir`` keeps each net's run in
    ``run_dir/<cell>`` (resumed from there if it holds one; ``options``, the job's, saved in
    each ``last``); a signal (``stop``) ends the
    job after saving, with ``"stopped_by"`` in the report and the finished nets' results.
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
    train_set, test_set = standardise(train_set, test_set)
    train_set, test_set = stack_frames(train_set, frame), stack_frames(test_set, frame)
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
    for k, net in enumerate(nets):
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
        trained = train_network(
            model,
            part.x,
            part.y,
            fit,
            rng=rng,
            lengths=part.lengths,
            validation=validation,
            run_dir=None if run_dir is None else Path(run_dir) / net.cell,
            options=options,
            comm=comm,
            stop=stop,
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
                "skipped": trained.skipped,
                "seconds": round(trained.seconds, 2),
            }
        )
    return report


# -- the job as the command line runs it ---------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Options:
    """One ``rnnkit classify`` run: its data, nets and training, saved in each ``last``."""

    dataset: str | None = None  # a bundled set, or
    train: str | None = None  # a training file (.npz or .csv)
    test: str | None = None  # a test file (None: hold out test_fraction of train)
    test_fraction: float = 0.3
    net: Net = field(default_factory=Net)
    fit: Fit = field(default_factory=Fit)
    baseline: bool = True  # also train the feed-forward baseline
    ffnn_hidden: int = 64  # the baseline's hidden units
    frame: int = 1  # consecutive steps read as one input
    val_fraction: float = 0.0  # share of the training split that picks the best epoch
    seed: int = 0

    def nets(self) -> list[Net]:
        if not self.baseline or self.net.cell == "ffnn":
            return [self.net]
        return [
            self.net,
            replace(self.net, cell="ffnn", hidden_size=self.ffnn_hidden, num_layers=1),
        ]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Options":
        try:
            return cls(**{**d, "net": Net(**d["net"]), "fit": Fit(**d["fit"])})
        except (KeyError, TypeError) as e:
            raise CheckpointError(
                f"the saved classify options are damaged ({e}); start afresh with --overwrite"
            ) from None


def configure(given: dict[str, Any]) -> Options:
    """Options from the given ones (by field name; the rest from the dataset's preset or the
    defaults): ``Net``'s and ``Fit``'s fields, and ``Options``' own."""
    given = {k: v for k, v in given.items() if v is not None}
    own = {f.name for f in fields(Options)} - {"net", "fit"}
    preset = defaults_for(given.get("dataset"))
    net, fit = with_overrides(
        preset.net, preset.fit, **{k: v for k, v in given.items() if k not in own}
    )
    return Options(
        **{
            "frame": preset.frame,
            **{k: v for k, v in given.items() if k in own},
            "net": net,
            "fit": fit,
        }
    )


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
    with stop_on_signals(runs.SIGNALS if handle_signals else ()) as stop:
        report = run_classification(
            train_set,
            test_set,
            options.nets(),
            options.fit,
            seed=options.seed,
            val_fraction=options.val_fraction,
            frame=options.frame,
            log=log,
            run_dir=out,
            options=options.to_dict(),
            comm=comm,
            stop=stop,
        )
    return {"dataset": name, **report}


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
