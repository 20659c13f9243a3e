"""scikit-learn estimators: ``RNNClassifier`` and ``RNNRegressor``, sequence in, one answer out.

Each sequence is read by a recurrent layer (any rnnkit cell, stacked, bidirectional) whose
state at the sequence's last real step feeds a linear readout (``readout="last_step"``),
trained with full BPTT by ``rnnkit.fit``.  ``X`` may be

* a 3-D array ``[N, T, C]``: N sequences of T steps with C channels;
* a list of N 2-D arrays ``[T_i, C]`` (or 1-D ``[T_i]``) of different lengths: padded to the
  longest, with the lengths passed on, so padding never reaches the answer;
* a 2-D array ``[N, T]``: N univariate sequences (C = 1).  As a table, its width (the
  ``n_features_in_`` scikit-learn records) must stay the same from ``fit`` to ``predict``.

With default arguments an estimator chooses its own settings on the data it is fitted to,
as ``rnnkit classify`` does: the frame (long sequences are read a few steps at a time, at
most 64 steps), the hidden size, one or two directions and the learning rate are left
``"auto"``, and ``fit`` scores their combinations by successive halving on three folds of
its training data (stratified by class for the classifier; ``jobs.selection``), each
candidate trained with early stopping on the held-out fold, within ``search_budget``
(trainings, ``"16"``, or minutes, ``"2m"``).  The chosen settings (``best_params_``, with
the epochs early stopping kept) are then trained on all of the data; ``search_`` keeps the
ranked table.  A setting given explicitly is fixed and not searched; with every one given
(and ``max_iter`` a number) ``fit`` trains once, as ``GridSearchCV`` expects.  When the best
candidate is no better on held-out folds than always answering the majority class (or the
mean), ``fit`` warns that the network has not learned and sets ``not_learned_``.

The estimators follow scikit-learn's contract (``get_params``/``set_params``, ``clone``,
``Pipeline``, ``GridSearchCV``; attributes learned in ``fit`` end in ``_``), and are seeded by
``random_state``.  ``RNNRegressor`` standardises its targets inside (and undoes it on
output); scale inputs yourself, e.g. with a ``StandardScaler`` in a ``Pipeline``.

A fitted estimator keeps as a run directory: ``est.save(DIR)`` writes ``DIR/best`` (the
network, with the estimator's parameters, classes or target scaling, and channel count in
its ``meta``), ``DIR/metrics.jsonl`` (the training loss per epoch) and ``DIR/run.json``;
``RNNClassifier.load(DIR)`` (or ``rnnkit.load(DIR)``) gives the fitted estimator back, and
``rnnkit predict DIR FILE`` predicts for the sequences of an NPZ or CSV file.  An existing
directory is refused unless ``overwrite=True``.  No pickle is involved.

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.standard_normal((40, 6, 2)); y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
>>> clf = RNNClassifier(search_budget="4", random_state=0).fit(X, y)
>>> clf.predict(X[:3]).shape, clf.predict_proba(X[:3]).shape
((3,), (3, 2))
"""

import itertools
import json
import math
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from ..config import ModelConfig
from ..data.sequences import frames
from ..errors import CheckpointError, ConfigError, ShapeError
from ..layers import losses
from ..layers.recurrent import RecurrentConfig
from ..models.model import Model
from ..training.arrays import fit as fit_arrays
from . import Fit, train_network
from .predicting import Table

JOB = "estimator"

AUTO = "auto"
"""A setting the estimator chooses itself, by a search on folds of the training data."""

SEARCH_FOLDS = 3
DEFAULT_EPOCHS = 50  # epochs when too few sequences to hold any out choose them

PREDICT_BATCH = 1024  # sequences per forward pass in predict


class _RNNEstimator(BaseEstimator):
    """What both estimators share: reading sequences, building the model, training it."""

    def __init__(
        self,
        cell: str = "gru",
        hidden_size: int | str = AUTO,
        num_layers: int = 1,
        bidirectional: bool | str = AUTO,
        dropout: float = 0.0,
        frame: int | str = AUTO,
        max_iter: int | str = AUTO,
        batch_size: int | str = AUTO,
        optimizer: str = "adam",
        learning_rate: float | str = AUTO,
        clip: float = 1.0,
        search_budget: int | str = "2m",
        dtype: str = "float64",
        random_state: Any = None,
    ) -> None:
        self.cell = cell  # elman | jordan | fully_recurrent | lstm | gru
        self.hidden_size = hidden_size  # H: units per layer and direction ("auto": searched)
        self.num_layers = num_layers  # stacked layers
        self.bidirectional = bidirectional  # a second pass reads backwards ("auto": searched)
        self.dropout = dropout  # between stacked layers, while training
        self.frame = frame  # consecutive steps read as one input ("auto": searched)
        self.max_iter = max_iter  # epochs ("auto": by early stopping in the search)
        self.batch_size = batch_size  # sequences per update ("auto": from the data's size)
        self.optimizer = optimizer  # sgd | rmsprop | adagrad | adam | adamw
        self.learning_rate = learning_rate  # ("auto": searched)
        self.clip = clip  # global gradient-norm clipping (0: off)
        self.search_budget = search_budget  # trainings ("16") or minutes ("2m") of the search
        self.dtype = dtype  # float32 | float64
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags

    # -- sequences in -------------------------------------------------------------------------

    def _read(self, X, y=None, *, fit: bool):
        """(x [N, T, C], lengths [N] or None, y) checked as scikit-learn checks its inputs."""
        if _is_ragged(X):
            x, lengths = _pad([_sequence(s, i) for i, s in enumerate(X)])
            self._forget_width(fit)
        elif _ndim(X) <= 2:  # a table: [N, T] univariate sequences (1-D is refused by sklearn)
            kw = {"y": y, **self._y_options()} if fit else {}
            out = validate_data(self, X, reset=fit, dtype=[np.float64, np.float32], **kw)
            X, y = out if fit else (out, y)
            x, lengths = X[:, :, None], None
        else:
            x = check_array(X, allow_nd=True, dtype=[np.float64, np.float32], ensure_2d=False)
            if x.ndim != 3:
                raise ValueError(
                    f"X must be [N, T, C] sequences, a list of [T_i, C] arrays, "
                    f"or [N, T] univariate sequences; got shape {x.shape}"
                )
            lengths = None
            self._forget_width(fit)
        if fit:
            self.n_channels_ = x.shape[2]
        elif x.shape[2] != self.n_channels_:  # ShapeError is a ValueError, as sklearn expects
            raise ShapeError(
                f"X has {x.shape[2]} channel{'s' if x.shape[2] != 1 else ''} per "
                f"step, but {type(self).__name__} was fitted with "
                f"{self.n_channels_}"
            )
        if fit:
            y = self._check_y(y)
            check_consistent_length(x, y)
        return x, lengths, y

    def _forget_width(self, fit: bool) -> None:
        """A 2-D table's width applies to 2-D tables only: dropped when fitting sequences."""
        if fit:
            for name in ("n_features_in_", "feature_names_in_"):
                self.__dict__.pop(name, None)

    # -- pickling (joblib, clone of a fitted estimator): the model as plain data ------------

    def __getstate__(self) -> dict:
        state = dict(super().__getstate__())  # a copy: never the live __dict__
        model = state.pop("model_", None)
        if model is not None:  # its layer holds modules; keep its config and arrays instead
            state["_model_data"] = (model.config.to_dict(), model.state_dict(), model.meta)
        return state

    def __setstate__(self, state: dict) -> None:
        data = state.pop("_model_data", None)
        if data is not None:
            config, params, meta = data
            state["model_"] = Model(ModelConfig.from_dict(config), params=params, meta=meta)
        super().__setstate__(state)

    # -- a run directory: save and load -------------------------------------------------------

    job = JOB

    def save(self, directory: str | Path, *, overwrite: bool = False) -> Path:
        """Keep the fitted estimator as a run directory (see the module's docstring)."""
        from ..io.atomic import write_atomic
        from ..io.model_files import clear_run, save_in_run
        from ..training.metrics import LOG_NAME
        from . import predicting, runs

        check_is_fitted(self)
        out = Path(directory)
        runs.refuse_existing(out, overwrite)
        if overwrite:
            clear_run(out)
        out.mkdir(parents=True, exist_ok=True)
        self.model_.meta = {"job": JOB, "preprocessing": self._fitted()}
        save_in_run(self.model_, out, "best", self.n_iter_)
        log = "".join(
            json.dumps({"step": k + 1, "epoch": k + 1, "loss": v}) + "\n"
            for k, v in enumerate(self.loss_curve_)
        )
        write_atomic(out / LOG_NAME, log.encode())
        predicting.write_manifest(out, JOB, None)
        self.source = out / "best"
        return out

    def _fitted(self) -> dict[str, Any]:
        """What predicting needs besides the network: JSON-able, restored by ``_restore``."""
        fitted: dict[str, Any] = {
            "estimator": type(self).__name__,
            "params": _json_params(self.get_params()),
            "n_channels": int(self.n_channels_),
            "loss_curve": [float(v) for v in self.loss_curve_],
            "best_params": self.best_params_,
            "search": self.search_,
            "not_learned": self.not_learned_,
        }
        if hasattr(self, "n_features_in_"):
            fitted["n_features_in"] = int(self.n_features_in_)
        if hasattr(self, "classes_"):
            fitted["classes"] = self.classes_.tolist()
        if hasattr(self, "y_mean_"):
            fitted["y_mean"], fitted["y_scale"] = self.y_mean_.tolist(), self.y_scale_.tolist()
            fitted["single_output"] = bool(self._single_output)
        return fitted

    @classmethod
    def load(cls, directory: str | Path) -> Any:
        """The fitted estimator kept in ``directory`` by ``save``."""
        from . import predicting

        est = predicting.predictor_of(directory)
        if not isinstance(est, cls):
            raise CheckpointError(
                f"{directory} holds a {type(est).__name__}, not a {cls.__name__}"
            )
        return est

    def predict_file(self, path: str | Path) -> Table:
        """The predictions for the sequences of an NPZ or CSV file (``rnnkit predict``): a
        label and each class's probability, or the predicted values."""
        from ..data.sequences import read_sequence_file

        f = read_sequence_file(path)
        if f.x.shape[2] != self.n_channels_:
            raise ShapeError(
                f"{path}: {f.x.shape[2]} channel(s) per step, but the estimator was fitted "
                f"with {self.n_channels_}"
            )
        seqs = [f.x[n, : f.lengths[n]] for n in range(len(f.x))]
        if isinstance(self, RNNClassifier):
            p = self.predict_proba(seqs)
            labels = self.classes_[np.argmax(p, axis=1)]
            columns = ["id", "label", *(f"p_{c}" for c in self.classes_)]
            rows = [[i, lab.item(), *map(float, row)] for i, lab, row in zip(f.ids, labels, p)]
        else:
            y = np.asarray(self.predict(seqs)).reshape(len(seqs), -1)
            columns = [
                "id",
                *(["value"] if y.shape[1] == 1 else [f"value_{k}" for k in range(y.shape[1])]),
            ]
            rows = [[i, *map(float, row)] for i, row in zip(f.ids, y)]
        return Table(columns, rows, [f"{len(rows)} sequences, predicted by {type(self).__name__}"])

    # -- training -----------------------------------------------------------------------------

    def _fit(
        self, x: np.ndarray, lengths, targets: np.ndarray, output_size: int, loss: str, strata
    ) -> None:
        """Choose the settings left "auto" (``_choose``), then train on all of ``x``."""
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        lengths = np.full(len(x), x.shape[1]) if lengths is None else lengths
        chosen = self._choose(x, lengths, targets, output_size, loss, strata, seed)
        xf, lf = frames(x, lengths, chosen["frame"])
        rng = np.random.default_rng(seed)
        self.model_ = self._model(chosen, xf.shape[2], output_size, loss, rng)
        history = fit_arrays(
            self.model_,
            xf.astype(self.model_.dtype),
            targets,
            rng=rng,
            lengths=lf,
            epochs=chosen["max_iter"],
            batch_size=chosen["batch_size"],
            optimizer=self.optimizer,
            lr=chosen["learning_rate"],
            clip=self.clip,
        )
        self.best_params_ = chosen
        self.loss_curve_ = [record["loss"] for record in history]
        self.n_iter_ = len(history)

    def _model(self, settings: dict[str, Any], inputs: int, outputs: int, loss: str, rng) -> Model:
        rnn = RecurrentConfig(
            cell=self.cell,
            input_size=inputs,
            hidden_size=settings["hidden_size"],
            num_layers=self.num_layers,
            bidirectional=settings["bidirectional"],
            dropout=self.dropout,
        )
        config = ModelConfig(
            rnn=rnn, output_size=outputs, readout="last_step", loss=loss, dtype=self.dtype
        )
        return Model(config, rng=rng)

    def _choose(self, x, lengths, targets, output_size, loss, strata, seed) -> dict[str, Any]:
        """The settings to train with: the given ones, and for each left "auto" the one a
        search on folds of ``x`` chose (``jobs.selection``: successive halving, stratified
        folds for a classifier, early stopping on each held-out fold for the epochs).
        ``search_`` keeps its table (None when nothing was searched)."""
        from . import classify, selection

        n, given = len(x), self.get_params()
        batch = classify.batch_size_for(n) if self.batch_size == AUTO else int(self.batch_size)
        two_ways = self.cell == "jordan"  # Jordan nets read one way only
        options: dict[str, list[Any]] = {
            "frame": classify.frame_choices(int(lengths.max())),
            "hidden_size": list(classify.HIDDEN_SIZES),
            "bidirectional": [False] if two_ways else list(classify.BIDIRECTIONAL),
            "learning_rate": list(classify.LEARNING_RATES),
        }
        for name in options:
            if given[name] != AUTO:
                options[name] = [given[name]]
        names = list(options)
        grid = [dict(zip(names, v)) for v in itertools.product(*list(options.values()))]
        self.search_ = None
        self.not_learned_ = False
        if self.max_iter != AUTO and len(grid) == 1:
            return {**grid[0], "max_iter": int(self.max_iter), "batch_size": batch}
        if n < 2 * SEARCH_FOLDS:  # too few sequences to hold any out: the first candidate
            return {**grid[0], "max_iter": DEFAULT_EPOCHS, "batch_size": batch}
        rng = np.random.default_rng([seed, 1])
        folds = (
            selection.stratified_folds(strata, SEARCH_FOLDS, rng)
            if strata is not None
            else np.array_split(rng.permutation(n), SEARCH_FOLDS)
        )

        def evaluate(settings: dict[str, Any], fold: int, stop) -> tuple[selection.Score, int]:
            held = np.asarray(folds[fold])
            kept = np.setdiff1d(np.arange(n), held)
            xf, lf = frames(x, lengths, settings["frame"])
            xf = xf.astype(self.dtype)
            model = self._model(
                settings, xf.shape[2], output_size, loss, np.random.default_rng(seed)
            )
            epochs = classify.SEARCH_EPOCHS if self.max_iter == AUTO else int(self.max_iter)
            fit = Fit(
                epochs=epochs,
                batch_size=min(batch, len(kept)),
                optimizer=self.optimizer,
                lr=settings["learning_rate"],
                clip=self.clip,
                patience=classify.SEARCH_PATIENCE if self.max_iter == AUTO else 0,
            )
            start = time.monotonic()
            trained = train_network(
                model,
                xf[kept],
                targets[kept],
                fit,
                rng=np.random.default_rng([seed, 2, fold]),
                lengths=lf[kept],
                validation=(xf[held], targets[held], lf[held]),
                stop=stop,
            )
            out = model.predict(xf[held], lengths=lf[held])
            score = self._score(out, targets[held], strata, held)
            return selection.Score(
                score,
                float(trained.val_loss if trained.val_loss is not None else math.nan),
                trained.best_epoch,
                self._baseline(strata, held),
                time.monotonic() - start,
                len(held),
            ), model.num_parameters()

        found = selection.successive_halving(
            grid, SEARCH_FOLDS, evaluate, selection.Budget.parse(self.search_budget)
        )
        self.search_ = [t.to_dict() for t in found.trials]
        best = found.best
        self.not_learned_ = bool(best.accuracy <= best.majority)
        if self.not_learned_:
            naive = "the most frequent class" if strata is not None else "the mean"
            warnings.warn(
                f"{type(self).__name__}: the best searched settings score "
                f"{best.accuracy:.3f} on held-out folds, no better than always answering "
                f"{naive} ({best.majority:.3f}): the network has not learned; try frame= (long "
                "sequences), a larger search_budget, or scaling the inputs",
                stacklevel=3,
            )
        epochs = best.epochs if self.max_iter == AUTO else int(self.max_iter)
        return {**best.settings, "max_iter": epochs, "batch_size": batch}

    def _score(self, out, target, strata, held) -> float:
        """A held-out fold's figure, higher better: accuracy, or R² of standardised targets."""
        if strata is not None:
            return float(np.mean(out.argmax(axis=1) == target))
        t = target.reshape(len(target), -1)
        residual = np.sum((out.reshape(t.shape) - t) ** 2)
        total = np.sum((t - t.mean(axis=0)) ** 2)
        return float(1 - residual / total) if total > 0 else 0.0

    def _baseline(self, strata, held) -> float:
        """What answering without the sequence scores on the held-out fold: the majority
        class's share, or R² = 0 of the mean."""
        if strata is None:
            return 0.0
        return float(np.bincount(strata[held]).max() / len(held))

    def _outputs(self, X) -> np.ndarray:
        """The model's last-step outputs ``[N, O]`` for any accepted form of ``X``."""
        check_is_fitted(self)
        x, lengths, _ = self._read(X, fit=False)
        lengths = np.full(len(x), x.shape[1]) if lengths is None else lengths
        x, lengths = frames(x, lengths, int(self.best_params_["frame"]))
        x = x.astype(self.model_.dtype)
        parts = []
        for a in range(0, len(x), PREDICT_BATCH):
            part = None if lengths is None else lengths[a : a + PREDICT_BATCH]
            parts.append(self.model_.predict(x[a : a + PREDICT_BATCH], lengths=part))
        return np.concatenate(parts).astype(np.float64)


class RNNClassifier(ClassifierMixin, _RNNEstimator):
    """A recurrent sequence classifier: softmax over the classes at each sequence's last step.

    Attributes after ``fit``: ``classes_``, ``model_`` (an ``rnnkit.Model``), ``loss_curve_``
    (mean training loss per epoch), ``n_iter_``, ``n_channels_``, and for a 2-D ``X``
    ``n_features_in_`` (its width).
    """

    def _y_options(self) -> dict:
        return {}

    def _check_y(self, y) -> np.ndarray:
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        return y

    def fit(self, X, y) -> "RNNClassifier":
        """Train on sequences ``X`` and their labels ``y: [N]``; returns self."""
        x, lengths, y = self._read(X, y, fit=True)
        self.classes_, ids = np.unique(y, return_inverse=True)
        ids = ids.astype(np.int64)
        self._fit(x, lengths, ids, len(self.classes_), "cross_entropy", ids)
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``[N, K]`` (columns in the order of ``classes_``)."""
        return losses.softmax(self._outputs(X))

    def predict(self, X) -> np.ndarray:
        """The most probable class of each sequence: ``[N]`` labels from ``classes_``."""
        best = np.argmax(self._outputs(X), axis=1)
        return self.classes_[best]


class RNNRegressor(RegressorMixin, _RNNEstimator):
    """A recurrent sequence-to-one regressor: ``y: [N]`` or ``[N, O]`` from the last step.

    Targets are standardised for training (``y_mean_``, ``y_scale_``) and restored on output.
    Attributes after ``fit`` as ``RNNClassifier``, without ``classes_``.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _y_options(self) -> dict:
        return {"y_numeric": True, "multi_output": True}

    def _check_y(self, y) -> np.ndarray:
        y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
        if y.ndim not in (1, 2):
            raise ValueError(f"y must be [N] or [N, O], got shape {y.shape}")
        return y

    def fit(self, X, y) -> "RNNRegressor":
        """Train on sequences ``X`` and targets ``y: [N]`` or ``[N, O]``; returns self."""
        x, lengths, y = self._read(X, y, fit=True)
        self._single_output = y.ndim == 1
        y2 = y.reshape(len(y), -1)
        self.y_mean_ = y2.mean(axis=0)
        std = y2.std(axis=0)
        self.y_scale_ = np.where(std > 0, std, 1.0)
        targets = (y2 - self.y_mean_) / self.y_scale_  # standardised: zero mean, unit variance
        self._fit(x, lengths, targets, y2.shape[1], "mse", None)
        return self

    def predict(self, X) -> np.ndarray:
        """Predicted targets: ``[N]`` (or ``[N, O]`` when fitted on ``[N, O]``)."""
        y = self._outputs(X) * self.y_scale_ + self.y_mean_
        return y[:, 0] if self._single_output else y


def _json_params(params: dict[str, Any]) -> dict[str, Any]:
    """The constructor's arguments as JSON: a ``random_state`` generator is kept as None (the
    fitted network is what is saved; only a refit would draw from it)."""
    state = params.get("random_state")
    if state is not None and not isinstance(state, (int, np.integer)):
        params = {**params, "random_state": None}
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in params.items()}


def predictor(model: Model, source: Path) -> "_RNNEstimator":
    """The fitted estimator a network saved by ``save`` belongs to (``jobs.predicting``)."""
    fitted = model.meta.get("preprocessing")
    kinds = {"RNNClassifier": RNNClassifier, "RNNRegressor": RNNRegressor}
    if not isinstance(fitted, dict) or fitted.get("estimator") not in kinds:
        raise CheckpointError(f"{source}: no estimator was saved with this network")
    try:
        est = kinds[fitted["estimator"]](**fitted["params"])
        est.model_, est.n_channels_ = model, int(fitted["n_channels"])
        est.loss_curve_ = list(fitted["loss_curve"])
        est.n_iter_ = len(est.loss_curve_)
        est.best_params_, est.search_ = dict(fitted["best_params"]), fitted["search"]
        est.not_learned_ = bool(fitted["not_learned"])
        if "n_features_in" in fitted:
            est.n_features_in_ = int(fitted["n_features_in"])
        if isinstance(est, RNNClassifier):
            est.classes_ = np.asarray(fitted["classes"])
        else:
            est.y_mean_, est.y_scale_ = np.asarray(fitted["y_mean"]), np.asarray(fitted["y_scale"])
            est._single_output = bool(fitted["single_output"])
    except (KeyError, TypeError, ValueError, ConfigError) as e:
        raise CheckpointError(f"{source}: the saved estimator is damaged ({e})") from None
    est.source = Path(source)
    return est


# -- reading sequences --------------------------------------------------------------------------


def _ndim(X) -> int:
    """Dimensions of an array-like, without touching anything but ``ndim`` or ``__array__``."""
    ndim = getattr(X, "ndim", None)
    return int(ndim) if isinstance(ndim, (int, np.integer)) else np.asarray(X).ndim


def _is_ragged(X) -> bool:
    """True for a list/tuple of sequences of different lengths (not one rectangular array)."""
    if not isinstance(X, (list, tuple)) or len(X) == 0:
        return False
    shapes = {np.shape(s) for s in X}
    return len(shapes) > 1 and all(len(s) >= 1 for s in shapes)


def _sequence(s, i: int) -> np.ndarray:
    """One sequence as ``[T_i, C]`` float64, finite, with at least one step."""
    a = np.asarray(s)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"X[{i}] must be a [T, C] or [T] sequence, got shape {a.shape}")
    return check_array(a, dtype=[np.float64, np.float32], input_name=f"X[{i}]")


def _pad(seqs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Zero-padded ``[N, T_max, C]`` and the lengths ``[N]``."""
    channels = {s.shape[1] for s in seqs}
    if len(channels) > 1:
        raise ValueError(f"every sequence must have the same channels, got {sorted(channels)}")
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    x = np.zeros((len(seqs), lengths.max(), channels.pop()), dtype=np.float64)
    for k, s in enumerate(seqs):
        x[k, : len(s)] = s
    return x, lengths
