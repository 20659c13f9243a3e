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
    frames,
    load_dataset,
    read_sequence_file,
    read_sequences,
    scale,
    standardiser,
)
from ..errors import CheckpointError, ConfigError, DataError, ShapeError
from ..training.distributed import LOCAL, Comm
from ..training.signals import stop_on_signals
from . import Fit, Net, build_model, describe, predicting, prefixed, runs, train_network

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


def preprocessing(train_set: Sequences, frame: int) -> dict[str, Any]:
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
        "formats": {
            "npz": "x [N, T, C] (or [N, T] for one channel), optional lengths [N]; y ignored",
            "csv": "long form: a 'sequence' column, channel columns, optional 'label' column",
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
    each ``last``) and ``run_dir/run.json`` naming the first net as the one that predicts;
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
    prep = preprocessing(train_set, frame)
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
        predicting.write_manifest(run_dir, JOB, predicts=nets[0].cell)
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
        model.meta.update(job=JOB, preprocessing=prep)
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
        f = read_sequence_file(path)
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
