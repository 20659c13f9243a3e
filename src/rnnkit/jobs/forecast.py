"""Forecasting: a series → windows → a network → forecasts, chosen on validation, scored
against seasonal baselines, and forecast past the end of any series from the saved run.

**Split.**  The series (``[N, C]``) is split once: the first ``N − test_size`` steps (the
training part) train and choose everything; the held-out tail is forecast once, at the end.
Inside the training part the last ``val_fraction`` of the steps (at least ``horizon``) is the
*validation part*, in time order: networks train on windows whose targets end before it, and
are judged on forecasts from every origin inside it (early stopping on its windows, MASE of
its ``horizon``-step forecasts for the choice, its residuals for the intervals).  Nothing is
chosen on the tail.

**Models.**  A network forecasts recursively (one step, fed back h times) or directly (h·C
outputs).  It reads its last L values in a *scaling* mode (``rnnkit.data.timeseries.SCALINGS``:
level, relative to the last value, differenced, log-relative), scaled by a ``Scaler`` fitted
on the training windows.  Baselines, fitted on the training part only: seasonal naive, and
the seasonal statistical models of ``rnnkit.baselines.statistical`` — ETS (form by AICc) and
SARIMA (orders by AICc, D and d by tests).  The season m is given (``season``), or detected
from the training part's autocorrelation (``rnnkit.baselines.seasonality``) and reported.

**Selection** (``search``, the default).  A small staged search, reproducible from the seed:
(1) every scaling mode (log only for a positive series) with the base lookback, hidden size
32 and the direct strategy; (2) the other strategy; (3) the other lookback (m and 2m for a
season m ≥ 8, else 12 and 24); (4) hidden size 16.  Each stage keeps the best validation
MASE so far.  An option given by the user pins its dimension.  The search stops at its
budget (``trials`` or ``minutes``; a trial's training is capped by the time left, so with a
minutes budget the number of trials depends on the machine), and the report holds the
validation table of every trial, ranked, the choice marked.  The chosen settings are then
trained again on every window of the training part (``refit``), for as many epochs as the
chosen trial's best: that network predicts, and the chosen trial's validation residuals
give its intervals.  Without the
search (``search=False``) every net is trained with both strategies at the given setup, as
before, and the one of least validation MASE predicts.

**Not learned.**  The report flags (``not_learned``) a chosen network whose validation MASE
is above seasonal naive's or whose training loss never fell below its loss before training,
and says what to try; ``behind`` says when its test MASE is above seasonal naive or more than
10 % above the best statistical baseline.

**Forecasting past the end** (``rnnkit predict RUN SERIES.csv``, ``predictor``).  Before
training, each network's ``meta["job"] = "forecast"`` and ``meta["preprocessing"]`` holds the
scaler (fitted on the training windows) and scaling mode, lookback, horizon, strategy and steps
ahead, season, the value columns, the date column and the frequency inferred from the training
part's dates (``timeseries.infer_frequency``: calendar months, quarters or years, or a fixed
step such as a day or a week).  The prediction intervals are known only after training: they
come from the validation residuals (truth − forecast from every validation origin; log ratios
for a log-scaled network, so its intervals widen with the level): their per-step quantiles
(10/90 % and 2.5/97.5 %) from ``QUANTILE_ORIGINS`` origins on, else ± z · their per-step
root mean square (normal theory; a handful of origins cannot give 80 % quantiles), written
to ``RUN/<network>/intervals.json`` (beside its ``best``/``last``, atomically) — a
checkpoint copied alone still forecasts, without intervals.  ``RUN/run.json`` names the
network that predicts.  The forecaster reads the whole CSV as history (its last L values are
used; gaps are interpolated) and forecasts ``horizon`` steps past its last row, dated at the
series' frequency after its last date.

**CSV.**  A header row; one optional date column (ISO dates ``2020-01-31``, ``2020-01``,
``2020-01-31 12:00``, or whole years in a column named ``year``/``date``…), and the numeric
value column(s).  With a date column and one other numeric column, no ``--column`` is needed.
Missing values: empty, NA, NaN, null, ?.

Missing values are filled after the split (``rnnkit.data.timeseries.fill_causally``); a filled
point is never truth.  MAE, RMSE and MASE (see ``rnnkit.data.timeseries``) are taken over every
origin, step and channel whose truth was observed, in the series' own units.

The former hand-tuned presets (one run each, seed 0, GRU H=32, FFNN 64; MASE) are gone; the
search replaces them.  Their figures (sunspots m = 11, h = 11; co2 m = 52, h = 52)::

    series     GRU rec.  GRU dir.  FFNN rec.  FFNN dir.  seasonal naive  ARIMA(9,0,0) / ETS
    sunspots   1.087     1.258     1.288      1.330      1.361           1.056 (ARIMA)
    co2        0.449     0.440     0.442      0.442      1.400           0.936 (ETS)

and the defaults' (search, refit; seed 0; OPENBLAS_NUM_THREADS=1 on a shared 2-core machine)
at the same m and h, then with m detected and h = 12 (trend-seasonal: ``--dataset
trend-seasonal``, generated)::

    series (m, h)           chosen network                 net    FFNN   s.naive  ETS    SARIMA
    sunspots (11, 11)       GRU direct level L=22 H=16     1.306  1.315  1.361    2.191  1.226
    co2 (52, 52)            GRU direct log L=52 H=32       0.464  0.424  1.373    0.932  0.445
    sunspots (10, 12)       GRU recursive relative L=10    0.939  0.937  1.193    2.501  1.311
    co2 (52, 12)            GRU direct log L=52 H=32       0.323  0.301  1.333    0.705  0.342
    trend-seasonal (12, 12) GRU direct log L=24 H=32       0.563  0.561  2.201    0.660  0.900

MASE's scale depends on m: rows at different m do not compare.  The search took 24–101 s
(6–7 trials) of a whole command of 36–341 s; co2's seasonal ETS and SARIMA (m = 52) take most.
"""

import json
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..data import timeseries as ts
from ..data.tables import MISSING_TOKENS, count_missing, read_csv, read_rows
from ..errors import CheckpointError, ConfigError, DataError
from ..training.arrays import evaluate_arrays
from ..training.distributed import LOCAL, Comm
from ..training.signals import stop_on_signals
from . import Fit, Net, build_model, describe, predicting, prefixed, runs, train_network

JOB = "forecast"

STRATEGIES = ("recursive", "direct")
STATS = ("auto", "ets", "sarima", "arima", "none")
DATASETS = ("sunspots", "co2", "trend-seasonal")
INTERVALS = "intervals.json"
LEVELS = (0.8, 0.95)  # the prediction intervals' coverage


@dataclass(frozen=True, kw_only=True)
class Setup:
    """How a series is split, windowed and scored."""

    lookback: int = 24  # L: past steps a network reads (the search: m and 2m, or 12 and 24)
    horizon: int = 12  # h: steps forecast from each origin
    test_size: int = 0  # held-out tail (0: a fifth of the series, at least h)
    stride: int = 1  # steps between forecast origins in the tail
    season: int = 0  # m: seasonal period (0: detected from the training part; 1: none)
    relative: bool = False  # the same as scaling="relative"
    scaling: str = "level"  # level | relative | differenced | log (the search tries each)
    val_fraction: float = 0.2  # last share of the training part that validates and chooses
    strategies: tuple[str, ...] = STRATEGIES  # recursive and/or direct
    stat: str = "auto"  # auto (ETS and SARIMA by AICc) | ets | sarima | arima | none
    arima_order: tuple[int, int, int] = (2, 1, 1)  # stat=arima: the fixed (p, d, q)

    def __post_init__(self) -> None:
        if self.lookback < 1 or self.horizon < 1 or self.season < 0 or self.stride < 1:
            raise ConfigError("lookback, horizon and stride must be >= 1, season >= 0")
        if self.test_size < 0 or not 0 <= self.val_fraction < 0.5:
            raise ConfigError("test_size must be >= 0 and val_fraction in [0, 0.5)")
        bad = [s for s in self.strategies if s not in STRATEGIES]
        if bad or not self.strategies:
            raise ConfigError(f"strategies must be among {STRATEGIES}, got {self.strategies}")
        if self.stat not in STATS:
            raise ConfigError(f"stat must be one of {', '.join(STATS)}, got {self.stat!r}")
        if self.scaling not in ts.SCALINGS:
            raise ConfigError(f"scaling must be one of {ts.SCALINGS}, got {self.scaling!r}")

    @property
    def mode(self) -> str:
        """The scaling mode (``relative=True`` is ``"relative"``)."""
        return "relative" if self.relative else self.scaling

    def tail(self, n: int) -> int:
        return self.test_size or max(self.horizon, n // 5)


@dataclass(frozen=True, kw_only=True)
class Search:
    """The budget of the choice of scaling, lookback, hidden size and strategy."""

    trials: int = 8  # most networks trained by the search
    minutes: float = 3.0  # most wall time of the search (0: no limit)
    pinned: tuple[str, ...] = ()  # dimensions the user fixed: scaling lookback hidden strategy
    refit: bool = True  # train the chosen settings again on the whole training part

    def __post_init__(self) -> None:
        if self.trials < 1 or self.minutes < 0:
            raise ConfigError(
                f"trials must be >= 1, minutes >= 0; got {self.trials}, {self.minutes}"
            )


FIT = Fit(epochs=200, patience=25)
"""How a forecaster trains unless told otherwise: at most 200 epochs, early stopping after 25
without a better validation loss (the windows of the validation part)."""


@dataclass(frozen=True, kw_only=True)
class _Timed(Fit):
    """A Fit with a wall-clock cap, which the engine's ``Budget.of`` takes by name."""

    minutes: float = 0.0


@dataclass
class Series:
    name: str
    header: list[str]
    values: np.ndarray  # [N, C], NaN where missing (filled after the split, by run_forecast)
    missing: dict[str, int] = field(default_factory=dict)  # missing values per column
    dates: np.ndarray | None = None  # [N] datetime64[s], when the series has a date column
    date_column: str | None = None


def load_series(
    dataset: str | None = None, csv: str | None = None, columns: list[str] | None = None
) -> Series:
    """A bundled statsmodels series (``sunspots``, ``co2``) or columns of a CSV file."""
    dates, date_column = None, None
    if csv is not None and dataset is None:
        header, values, dates, date_column = read_series_csv(csv, columns)
        name = f"{csv}:{','.join(header)}"
    elif dataset is not None and csv is None:
        header, values, dates, date_column = _statsmodels_series(dataset)
        name = dataset
    else:
        raise ConfigError("give either --dataset or --csv (with --column)")
    missing = count_missing(header, values)
    if len(values) < 3:
        raise DataError(f"{name}: a series needs more than {len(values)} steps")
    empty = [c for c, n in zip(header, np.isnan(values).sum(axis=0)) if n == len(values)]
    if empty:
        raise DataError(f"{name}: column {empty[0]} has no values at all (every one is missing)")
    return Series(name, header, np.asarray(values, dtype=np.float64), missing, dates, date_column)


def read_series_csv(
    path: str | Path, columns: list[str] | None = None
) -> tuple[list[str], np.ndarray, np.ndarray | None, str | None]:
    """(value columns, values ``[N, C]`` with NaN, dates ``[N]`` or None, date column or None).

    The date column is the first whose every value is a date (``timeseries.parse_dates``);
    without ``columns`` the values are every other numeric column.
    """
    table = read_rows(path)
    dates, date_column = None, None
    if table.has_header:
        for k, name in enumerate(table.header):
            if columns and name in columns:
                continue
            found = ts.parse_dates([row[k] for row in table.rows], name)
            if found is not None:
                dates, date_column = found, name
                break
    if not columns:
        numeric = [
            name
            for k, name in enumerate(table.header)
            if name != date_column and all(_numeric(row[k]) for row in table.rows)
        ]
        if not numeric:
            raise DataError(f"{path}: no numeric column to forecast (header: {table.header})")
        columns = numeric
    header, values = read_csv(path, list(columns), missing="keep")
    return header, values, dates, date_column


def _numeric(text: str) -> bool:
    if text.lower() in MISSING_TOKENS:
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def _statsmodels_series(
    dataset: str,
) -> tuple[list[str], np.ndarray, np.ndarray, str]:
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}; choose one of: {', '.join(DATASETS)}")
    if dataset == "trend-seasonal":  # generated: 15 years of monthly values from 2000-01
        dates = np.arange(np.datetime64("2000-01"), np.datetime64("2015-01")).astype(
            "datetime64[s]"
        )
        return ["value"], ts.trend_seasonal(len(dates))[:, None], dates, "month"
    try:
        from statsmodels.datasets import co2, sunspots
    except ImportError:
        raise DataError(
            "the bundled series need statsmodels: pip install 'rnnkit[jobs]'"
        ) from None
    frame = {"sunspots": sunspots, "co2": co2}[dataset].load_pandas().data
    if dataset == "sunspots":
        years = [f"{int(y):04d}" for y in frame["YEAR"]]
        dates = np.array(years, dtype="datetime64[Y]").astype("datetime64[s]")
        return ["SUNACTIVITY"], frame["SUNACTIVITY"].to_numpy(np.float64)[:, None], dates, "YEAR"
    dates = frame.index.to_numpy().astype("datetime64[s]")
    return ["co2"], frame["co2"].to_numpy(dtype=np.float64)[:, None], dates, "date"


# -- the network ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """One network's settings: what the search varies."""

    cell: str
    strategy: str  # recursive | direct
    scaling: str  # timeseries.SCALINGS
    lookback: int
    hidden: int

    @property
    def name(self) -> str:
        """The run's sub-directory and the table's row: ``gru-direct-log-L12-H32``."""
        return f"{self.cell}-{self.strategy}-{self.scaling}-L{self.lookback}-H{self.hidden}"


@dataclass
class Windowed:
    """The training windows of one strategy, scaled, with their validation part."""

    scaler: ts.Scaler
    x: np.ndarray  # [M, L, C]
    y: np.ndarray  # [M, k·C], k = steps ahead
    val: tuple | None  # (x, y, None)


def val_start(n_train: int, setup: Setup) -> int:
    """The first step of the validation part: the last ``val_fraction`` of the training part,
    at least ``horizon`` steps (``n_train`` when ``val_fraction`` is 0)."""
    if setup.val_fraction == 0:
        return n_train
    return n_train - max(setup.horizon, int(round(setup.val_fraction * n_train)))


def windows_for(
    train_part: np.ndarray,
    setup: Setup,
    steps_ahead: int,
    *,
    scaling: str | None = None,
    lookback: int | None = None,
) -> Windowed:
    """Scaled windows of the training part ``[n_train, C]``: those whose targets end before
    the validation part train, those whose targets start in it validate (time order)."""
    scaling = ts.check_scaling(scaling or setup.mode)
    L = lookback or setup.lookback
    n_train = len(train_part)
    start = val_start(n_train, setup)
    if start - L - steps_ahead + 1 < 1:
        raise DataError(
            f"the training part ({n_train} steps, validation from step {start}) is too short "
            f"for windows of lookback {L} and {steps_ahead} steps ahead"
        )
    x, y = ts.make_windows(train_part[:start], L, steps_ahead)
    features = ts.window_features(x, scaling)
    scaler = ts.fit_scaler(train_part[:start], features, scaling)

    def scaled(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = ts.window_targets(x, y, scaling)
        xs = scaler.transform(ts.window_features(x, scaling))
        return xs, scaler.transform(z).reshape(len(z), -1)

    xs, ys = scaled(x, y)
    origins = np.arange(max(start, L), n_train - steps_ahead + 1)
    if len(origins) == 0:
        return Windowed(scaler, xs, ys, None)
    vx, vy = ts.origin_windows(train_part, origins, L, steps_ahead)
    vxs, vys = scaled(vx, vy)
    return Windowed(scaler, xs, ys, (vxs, vys, None))


def forecast_with(
    model,
    scaler: ts.Scaler,
    history: np.ndarray,
    horizon: int,
    direct: bool,
    relative: bool = False,
    *,
    scaling: str | None = None,
) -> np.ndarray:
    """Forecasts ``[O, h, C]`` from the last L values ``history: [O, L, C]`` of each origin."""
    mode = scaling or ("relative" if relative else "level")
    if direct:
        z = model.predict(scaler.transform(ts.window_features(history, mode)))
        return ts.from_targets(history, scaler.inverse(z.reshape(len(history), horizon, -1)), mode)
    window, out = history.copy(), []
    for _ in range(horizon):  # feed each one-step forecast back as the newest input
        z = model.predict(scaler.transform(ts.window_features(window, mode)))
        step = ts.from_targets(window, scaler.inverse(z[:, None, :]), mode)  # [O, 1, C]
        out.append(step)
        window = np.concatenate([window[:, 1:], step], axis=1)
    return np.concatenate(out, axis=1)


@dataclass
class Candidate:
    """A trained network with its validation forecasts."""

    choice: Choice
    model: Any
    scaler: ts.Scaler
    trained: Any  # jobs.Trained
    initial_loss: float  # training loss before training
    val_mase: float  # on the validation part's origins (NaN without one)
    residuals: np.ndarray | None  # [O_v, h, C]: truth − forecast at the validation origins
    run_dir: Path | None

    def learned(self) -> bool:
        return bool(self.trained.train_loss < self.initial_loss)


def fit_candidate(
    choice: Choice,
    net: Net,
    fit: Fit,
    values: np.ndarray,
    observed: np.ndarray,
    n_train: int,
    setup: Setup,
    context: dict[str, Any],
    scale: np.ndarray,
    *,
    rng: np.random.Generator,
    log: Callable[[str], None] | None = None,
    run_dir: Path | None = None,
    options: dict[str, Any] | None = None,
    comm: Comm = LOCAL,
    stop: Callable[[], str | None] = lambda: None,
    refit_of: Candidate | None = None,
) -> Candidate:
    """Train one network on the training part of ``values [N, C]`` (filled) and score its
    forecasts from every validation origin against ``observed`` (NaN: not scored).

    ``refit_of``: train instead on every window of the training part, validation part
    included, for as many epochs as that candidate's best (``fit.epochs`` is ignored); its
    validation MASE and residuals, which the refitted network can no longer give, are kept.
    """
    direct = choice.strategy == "direct"
    ahead = setup.horizon if direct else 1
    train_part = values[:n_train]
    w = windows_for(train_part, setup, ahead, scaling=choice.scaling, lookback=choice.lookback)
    model = build_model(
        replace(net, cell=choice.cell, hidden_size=choice.hidden, window=0),
        input_size=train_part.shape[1],
        output_size=w.y.shape[1],
        steps=choice.lookback,
        readout="last_step",
        loss="mse",
        rng=rng,
    )
    model.meta["job"] = JOB
    model.meta["preprocessing"] = {
        **context,
        "scaler": {"mean": w.scaler.mean.tolist(), "std": w.scaler.std.tolist()},
        "scaling": choice.scaling,
        "lookback": choice.lookback,
        "horizon": setup.horizon,
        "strategy": choice.strategy,
        "steps_ahead": ahead,
    }
    x, y, validation = w.x, w.y, w.val
    if refit_of is not None:
        fit = replace(fit, epochs=max(refit_of.trained.best_epoch, 1), patience=0)
        wx, wy = ts.make_windows(train_part, choice.lookback, ahead)
        x = w.scaler.transform(ts.window_features(wx, choice.scaling))
        y = w.scaler.transform(ts.window_targets(wx, wy, choice.scaling)).reshape(len(wy), -1)
        validation = None
    initial = float(evaluate_arrays(model, x, y))
    trained = train_network(
        model,
        x,
        y,
        fit,
        rng=rng,
        validation=validation,
        run_dir=run_dir,
        options=options,
        comm=comm,
        stop=stop,
        say=log,
    )
    start = val_start(n_train, setup)
    origins = np.arange(max(start, choice.lookback), n_train - setup.horizon + 1)
    residuals, val_mase = None, math.nan
    if refit_of is not None:
        residuals, val_mase = refit_of.residuals, refit_of.val_mase
    elif len(origins) and not trained.interrupted:
        history, _ = ts.origin_windows(values, origins, choice.lookback, setup.horizon)
        _, truth = ts.origin_windows(observed, origins, choice.lookback, setup.horizon)
        forecast = forecast_with(
            model, w.scaler, history, setup.horizon, direct, scaling=choice.scaling
        )
        residuals = residuals_of(truth, forecast, choice.scaling)
        if (~np.isnan(truth)).any():
            val_mase = ts.errors(forecast, truth, scale)["mase"]
    return Candidate(choice, model, w.scaler, trained, initial, val_mase, residuals, run_dir)


def residual_kind(scaling: str) -> str:
    """How a scaling's forecasts err: as ``ratio`` (log scaling: log truth − log forecast, so
    an interval widens with the level) or as ``difference`` (truth − forecast)."""
    return "ratio" if scaling == "log" else "difference"


def residuals_of(truth: np.ndarray, forecast: np.ndarray, scaling: str) -> np.ndarray:
    """Residuals ``[O, h, C]`` of ``residual_kind(scaling)`` (NaN where truth is missing)."""
    if residual_kind(scaling) == "ratio":
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.log(truth) - np.log(forecast)
    return truth - forecast


def with_offsets(point: np.ndarray, offset: Any, kind: str) -> np.ndarray:
    """An interval bound: ``point`` moved by a residual quantile of ``kind``."""
    q = np.asarray(offset, dtype=np.float64)
    return point * np.exp(q) if kind == "ratio" else point + q


QUANTILE_ORIGINS = 20
"""Validation origins from which intervals are their residuals' empirical quantiles; with
fewer, the quantiles of so few values cannot reach 80 or 95 % coverage (with 4 origins the
10 % and 90 % quantiles lie inside the extremes of 4 draws), and the intervals are
normal-theory instead: ± z · the residuals' root mean square at each step ahead."""


def interval_offsets(residuals: np.ndarray | None, kind: str = "difference") -> dict[str, Any]:
    """Per-step offsets of the intervals at each of ``LEVELS`` from validation residuals
    ``[O_v, h, C]`` (``residuals_of``): ``{"80": {"lower": [h][C], "upper": [h][C]}, …,
    "origins": O_v, "kind": …, "method": …}``.

    ``method`` is ``"quantiles"`` (the residuals' per-step empirical quantiles, from
    ``QUANTILE_ORIGINS`` origins on) or ``"normal"`` (± z_level · the per-step root mean
    square of the residuals, bias included, for fewer).  The lower offset is at most 0 and
    the upper at least 0, so lower ≤ forecast ≤ upper."""
    if residuals is None or not (~np.isnan(residuals)).any():
        return {"origins": 0}
    origins = int(len(residuals))
    method = "quantiles" if origins >= QUANTILE_ORIGINS else "normal"
    out: dict[str, Any] = {"origins": origins, "kind": kind, "method": method}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a step with no observed truth: NaN
        rms = np.sqrt(np.nanmean(residuals**2, axis=0))
        for level in LEVELS:
            if method == "quantiles":
                lo = np.nanquantile(residuals, (1 - level) / 2, axis=0)
                hi = np.nanquantile(residuals, (1 + level) / 2, axis=0)
            else:
                z = NORMAL_QUANTILES[level]
                lo, hi = -z * rms, z * rms
            out[f"{round(level * 100)}"] = {
                "lower": np.minimum(lo, 0.0).tolist(),
                "upper": np.maximum(hi, 0.0).tolist(),
            }
    return out


NORMAL_QUANTILES = {0.8: 1.2815515655446004, 0.95: 1.959963984540054}
"""z with Φ(z) = (1 + level) / 2: the half-width of a central normal interval, in σ."""


def write_intervals(
    run_dir: Path, residuals: np.ndarray | None, kind: str, comm: Comm = LOCAL
) -> None:
    """``run_dir/intervals.json``: ``interval_offsets`` of the validation residuals."""
    from ..io.atomic import write_atomic

    if comm.rank != 0:
        return
    text = json.dumps({"source": "validation residuals", **interval_offsets(residuals, kind)})
    write_atomic(Path(run_dir) / INTERVALS, (text + "\n").encode())


# -- statistical baselines -----------------------------------------------------------------------


def statistical_forecasts(
    values: np.ndarray, n_train: int, origins: np.ndarray, setup: Setup
) -> np.ndarray:
    """Fixed-order ARIMA forecasts ``[O, h, C]`` (``stat="arima"``), fitted per channel on the
    first ``n_train`` steps."""
    from statsmodels.tsa.arima.model import ARIMA

    out = np.empty((len(origins), setup.horizon, values.shape[1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter from the optimiser
        for c in range(values.shape[1]):
            result = ARIMA(values[:n_train, c], order=setup.arima_order).fit()
            full = result.append(values[n_train:, c], refit=False)
            for k, o in enumerate(origins):
                out[k, :, c] = full.predict(start=o, end=o + setup.horizon - 1, dynamic=True)
    return out


def choose_season(train: np.ndarray, setup: Setup) -> tuple[int, str]:
    """(m, how it was found) — given, or detected from the training part ``[n, C]``'s first
    channel (``baselines.seasonality.detect_season``)."""
    if setup.season:
        return setup.season, f"season {setup.season} given"
    from ..baselines.seasonality import detect_season

    found = detect_season(train[:, 0])
    return found.season, found.describe() + " in the training part"


# -- the choice ----------------------------------------------------------------------------------


def lookbacks_for(season: int, given: int | None) -> list[int]:
    """The lookbacks the search tries: m and 2m for a season m ≥ 8; else 12 and 24."""
    if given:
        return [given]
    if season >= 8:
        return [season, 2 * season]
    return [12, 24]


def _fits(choice: Choice, n_train: int, setup: Setup) -> bool:
    """Whether the training part leaves at least 8 training windows for ``choice``."""
    ahead = setup.horizon if choice.strategy == "direct" else 1
    return val_start(n_train, setup) - choice.lookback - ahead + 1 >= 8


def fitting(base: dict[str, list[Any]], n_train: int, setup: Setup, pinned: set[str]) -> None:
    """Keep in ``base`` the lookbacks and strategies that leave at least 8 training windows
    (a short series: the longest lookback that does, at most 12, recursive), unless pinned."""
    start = val_start(n_train, setup)

    def longest(strategy: str) -> int:
        return start - (setup.horizon if strategy == "direct" else 1) - 7

    if "lookback" not in pinned:
        base["lookback"] = [L for L in base["lookback"] if L <= longest("recursive")] or [
            max(1, min(12, longest("recursive")))
        ]
    if "strategy" not in pinned:
        shortest = min(base["lookback"])
        base["strategy"] = [s for s in base["strategy"] if shortest <= longest(s)] or ["recursive"]


def staged_search(
    base: dict[str, list[Any]],
    train: Callable[[Choice], Candidate],
    budget: Search,
    cell: str,
    *,
    allowed: Callable[[Choice], bool] = lambda c: True,
    log: Callable[[str], None] | None = None,
) -> list[Candidate]:
    """The trials of the staged search over ``base`` (dimension → values, the first the
    default): every scaling, then each other strategy, lookback and hidden size in turn,
    each from the best so far; ``train(choice)`` trains one.  Stops at the budget."""
    start = time.perf_counter()
    tried: list[Candidate] = []
    best = {k: v[0] for k, v in base.items()}

    def score(c: Candidate) -> float:
        return c.val_mase if np.isfinite(c.val_mase) else math.inf

    def out_of_budget() -> bool:
        over_time = budget.minutes and time.perf_counter() - start >= 60 * budget.minutes
        return len(tried) >= budget.trials or bool(over_time)

    for dimension in ("scaling", "strategy", "lookback", "hidden"):
        for value in base[dimension]:
            choice = Choice(cell=cell, **{**best, dimension: value})
            if any(t.choice == choice for t in tried) or not allowed(choice):
                continue
            if out_of_budget():
                return tried
            candidate = train(choice)
            tried.append(candidate)
            if log:
                log(
                    f"trial {len(tried)}/{budget.trials} {choice.name}: validation MASE "
                    f"{candidate.val_mase:.3f} ({time.perf_counter() - start:.0f} s)"
                )
            if candidate.trained.interrupted:
                return tried
        chosen = min(tried, key=score) if tried else None
        if chosen is not None:
            best = {
                "scaling": chosen.choice.scaling,
                "strategy": chosen.choice.strategy,
                "lookback": chosen.choice.lookback,
                "hidden": chosen.choice.hidden,
            }
    return tried


def chosen_of(candidates: list[Candidate]) -> Candidate:
    """The candidate of least validation MASE (the first of equals), recurrent nets first."""
    recurrent = [c for c in candidates if c.choice.cell != "ffnn"] or candidates
    return min(recurrent, key=lambda c: c.val_mase if np.isfinite(c.val_mase) else math.inf)


def ranks(values: list[float]) -> list[int]:
    """1 for the least (NaN last), ties share a rank."""
    key = [v if np.isfinite(v) else math.inf for v in values]
    return [1 + sum(1 for u in key if u < v) for v in key]


# -- the whole job -------------------------------------------------------------------------------


def run_forecast(
    series: Series,
    setup: Setup,
    nets: list[Net],
    fit: Fit,
    *,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
    run_dir: Path | None = None,
    options: dict[str, Any] | None = None,
    comm: Comm = LOCAL,
    stop: Callable[[], str | None] = lambda: None,
    search: Search | None = None,
    minutes: float = 0.0,
) -> dict[str, Any]:
    """Choose and train the network(s), forecast the tail, score all against the baselines.

    ``search`` None: every net with every strategy at ``setup``; else the staged search
    (``nets[0]``'s cell; ``nets[1]``, if any, is the feed-forward baseline trained with the
    chosen settings).  ``minutes`` (0: none; ignored, as is the search's, under mpiexec, whose
    processes must agree on every step) bounds the whole job: the search gets at most
    half of it (the networks without a search 60 %), the feed-forward baseline and each refit
    a tenth, and a statistical baseline not yet begun when it is spent is skipped (and said);
    one begun runs to its end.  Returns a JSON-able
    report, plus the forecasts themselves under ``"_arrays"``.  ``run_dir`` keeps each
    network's run (resumed from there if it holds one), its ``intervals.json`` and the run's
    ``run.json``; a signal (``stop``) ends the job after saving (``"stopped_by"``).
    """
    started = time.perf_counter()
    observed = np.asarray(series.values, dtype=np.float64)  # [N, C], NaN where missing
    N = len(observed)
    test_size = setup.tail(N)
    n_train = ts.split_point(N, test_size, 1, setup.horizon)
    values = ts.fill_causally(observed, n_train)  # what every model and baseline reads
    season, season_note = choose_season(values[:n_train], setup)
    if log:
        log(season_note)
    frequency, notes = None, []
    if series.dates is not None:
        try:
            frequency = ts.infer_frequency(series.dates[:n_train])
        except DataError as e:
            notes.append(f"no frequency for the forecast dates: {e}")
    gaps = np.isnan(observed)
    if gaps[n_train:].all():
        raise DataError(
            f"{series.name}: the held-out tail ({test_size} steps) has no observed "
            "value to score the forecasts against"
        )
    scale = ts.naive_scale(observed[:n_train], season)
    context = {
        "season": season,
        "columns": series.header,
        "date_column": series.date_column,
        "frequency": frequency,
        "val_fraction": setup.val_fraction,
    }
    budget_note = ""
    if comm.size > 1 and (minutes or (search is not None and search.minutes)):
        # clocks differ between processes: under mpiexec the budget is counted in trials
        minutes = 0.0
        search = None if search is None else replace(search, minutes=0.0)
        notes.append("under mpiexec the budget is counted in trials only, not minutes")
    if search is not None and minutes:
        search = replace(search, minutes=min(search.minutes or math.inf, 0.5 * minutes))
        budget_note = (
            f"budget {minutes:g} min: the network search at most {search.minutes:.2g} min, "
            f"the feed-forward baseline and each refit {0.1 * minutes:.2g} min, the "
            "statistical baselines the rest"
        )
    elif minutes:
        budget_note = (
            f"budget {minutes:g} min: the networks at most {0.6 * minutes:.2g} min together, "
            "the baselines the rest"
        )
    if budget_note:
        if log:
            log(budget_note)

    def train(
        choice: Choice,
        net: Net,
        k: int,
        name: str,
        cap: float = 0.0,
        refit_of: Candidate | None = None,
    ) -> Candidate:
        rng = np.random.default_rng([seed, k, STRATEGIES.index(choice.strategy)])
        timed = _Timed(**asdict(fit), minutes=cap) if cap > 0 else fit
        return fit_candidate(
            choice,
            net,
            timed,
            values,
            observed,
            n_train,
            setup,
            context,
            scale,
            rng=rng,
            log=None if log is None else prefixed(log, name.replace("-", " ")),
            run_dir=None if run_dir is None else Path(run_dir) / name,
            options=options,
            comm=comm,
            stop=stop,
            refit_of=refit_of,
        )

    scored: list[Candidate] = []
    trials: list[Candidate] = []
    if search is None:
        for k, net in enumerate(nets):
            for strategy in setup.strategies:
                choice = Choice(net.cell, strategy, setup.mode, setup.lookback, net.hidden_size)
                share = 0.6 * minutes / (len(nets) * len(setup.strategies))
                candidate = train(choice, net, k, f"{net.cell}-{strategy}", share)
                if candidate.trained.interrupted:
                    return {"series": series.name, "stopped_by": candidate.trained.stopped_by}
                scored.append(candidate)
        chosen = picked = chosen_of(scored)
    else:
        net = nets[0]
        positive = bool(np.all(values[:n_train] > 0))
        pinned = set(search.pinned)
        base: dict[str, list[Any]] = {
            "scaling": [setup.mode]
            if "scaling" in pinned
            else [
                m for m in ("relative", "level", "differenced", "log") if positive or m != "log"
            ],
            "strategy": list(setup.strategies)
            if "strategy" in pinned
            else ["direct", "recursive"],
            "lookback": lookbacks_for(season, setup.lookback if "lookback" in pinned else None),
            "hidden": [net.hidden_size] if "hidden" in pinned else [32, 16],
        }
        fitting(base, n_train, setup, pinned)
        search_start = time.perf_counter()

        def one(choice: Choice) -> Candidate:
            left = 0.0
            if search.minutes:
                left = max(search.minutes - (time.perf_counter() - search_start) / 60, 0.05)
            return train(choice, net, len(trials), choice.name, left)

        def allowed(choice: Choice) -> bool:
            return _fits(choice, n_train, setup) or {"lookback", "strategy"} <= pinned

        trials = staged_search(base, one, search, net.cell, allowed=allowed, log=log)
        if not trials:
            raise ConfigError("the search's budget allowed no trial; give a larger --budget")
        if trials[-1].trained.interrupted:
            return {"series": series.name, "stopped_by": trials[-1].trained.stopped_by}
        chosen = picked = chosen_of(trials)
        cap = 0.1 * minutes if minutes else search.minutes / 4
        pairs = [(chosen, net)]
        if len(nets) > 1:
            ffnn = nets[1]
            choice = replace(chosen.choice, cell=ffnn.cell, hidden=ffnn.hidden_size)
            candidate = train(choice, ffnn, len(trials), choice.name, cap)
            if candidate.trained.interrupted:
                return {"series": series.name, "stopped_by": candidate.trained.stopped_by}
            pairs.append((candidate, ffnn))
        for k, (c, n) in enumerate(pairs):
            if search.refit:  # the chosen settings again, on the whole training part
                if log:
                    log(f"refitting {c.choice.name} on the whole training part")
                name = f"{c.choice.name}-refit"
                c = train(c.choice, n, len(trials) + 1 + k, name, cap, refit_of=c)
                if c.trained.interrupted:
                    return {"series": series.name, "stopped_by": c.trained.stopped_by}
            scored.append(c)
        chosen = scored[0]
    if run_dir is not None:
        for c in {id(c): c for c in [*trials, *scored]}.values():
            if c.run_dir is not None:
                write_intervals(c.run_dir, c.residuals, residual_kind(c.choice.scaling), comm)
        if comm.rank == 0 and chosen.run_dir is not None:
            predicting.write_manifest(run_dir, JOB, predicts=chosen.run_dir.name)

    # -- the held-out tail, scored once --
    reach = max([c.choice.lookback for c in scored] + [season])
    ts.split_point(N, test_size, reach, setup.horizon)
    origins = ts.rolling_origins(n_train, N, setup.horizon, setup.stride)
    _, truth = ts.origin_windows(observed, origins, reach, setup.horizon)  # NaN: not scored
    rows, arrays = [], {"origins": origins, "truth": truth}

    def add(name: str, forecast: np.ndarray, **extra: Any) -> None:
        rows.append({"model": name, **ts.errors(forecast, truth, scale), **extra})
        arrays[name] = forecast

    for c in scored:
        history, _ = ts.origin_windows(values, origins, c.choice.lookback, setup.horizon)
        forecast = forecast_with(
            c.model,
            c.scaler,
            history,
            setup.horizon,
            c.choice.strategy == "direct",
            scaling=c.choice.scaling,
        )
        add(
            row_name(c.choice, search is not None),
            forecast,
            params=c.model.num_parameters(),
            description=describe(c.model),
            epochs=c.trained.epochs,
            best_epoch=c.trained.best_epoch,
            skipped=c.trained.skipped,
            seconds=round(c.trained.seconds, 2),
            val_mase=c.val_mase,
            predicts=c is chosen,
            coverage=coverage(c, forecast, truth),
        )
    history, _ = ts.origin_windows(values, origins, season, setup.horizon)
    naive_name = f"seasonal naive m={season}" if season > 1 else "naive"
    add(naive_name, ts.seasonal_naive(history, setup.horizon, season))
    stat_rows = _statistical_rows(
        values, n_train, origins, setup, season, add, notes, started, minutes, log
    )
    for row, rank in zip(rows, ranks([r["mase"] for r in rows])):
        row["rank"] = rank
        row["best"] = rank == 1

    validation = _validation_table(
        trials or scored, picked, values, observed, n_train, setup, season, scale
    )
    naive_val = validation["seasonal_naive_mase"]
    not_learned = _not_learned(chosen, naive_val, naive_name)
    net_row = next(r for r in rows if r.get("predicts"))
    naive_row = next(r for r in rows if r["model"] == naive_name)
    behind = _behind(net_row, naive_row, [r for r in rows if r["model"] in stat_rows])
    return {
        "series": series.name,
        "columns": series.header,
        "steps": N,
        "train_steps": n_train,
        "validation_steps": n_train - val_start(n_train, setup),
        "test_steps": test_size,
        "origins": len(origins),
        "missing_filled": _per_column(series.header, gaps[:n_train]),  # in the training part
        "test_missing_skipped": int(gaps[n_train:].sum()),  # held-out values left unscored
        "lookback": chosen.choice.lookback,
        "horizon": setup.horizon,
        "season": season,
        "season_found": season_note,
        "scaling": chosen.choice.scaling,
        "strategy": chosen.choice.strategy,
        "relative": chosen.choice.scaling == "relative",
        "frequency": frequency,
        "seed": seed,
        "predicts": None if chosen.run_dir is None else chosen.run_dir.name,
        "search": None
        if search is None
        else {
            "trials": len(trials),
            "budget": {"trials": search.trials, "minutes": search.minutes},
            "pinned": list(search.pinned),
            "chose": chosen.choice.name,
            "why": "least validation MASE (forecasts from every origin of the validation part)",
            "seconds": round(sum(t.trained.seconds for t in trials), 1),
        },
        "validation": validation["rows"],
        "budget": budget_note,
        "not_learned": not_learned,
        "behind": behind,
        "notes": notes,
        "seconds": round(time.perf_counter() - started, 1),
        "results": rows,
        "_arrays": arrays,
    }


def coverage(c: Candidate, forecast: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """The share of observed held-out values inside each interval (validation residuals'),
    e.g. ``{"80": 0.78, "95": 0.93}`` — how well the intervals hold on the tail."""
    kind = residual_kind(c.choice.scaling)
    offsets = interval_offsets(c.residuals, kind)
    seen = ~np.isnan(truth)
    out = {}
    for key in (f"{round(level * 100)}" for level in LEVELS):
        if key in offsets and seen.any():
            lo = with_offsets(forecast, offsets[key]["lower"], kind)
            hi = with_offsets(forecast, offsets[key]["upper"], kind)
            inside = (truth >= lo) & (truth <= hi)
            out[key] = round(float(inside[seen].mean()), 3)
    return out


def row_name(choice: Choice, searched: bool) -> str:
    """``gru (direct)``, or with the searched settings ``gru (direct, log, L=24, H=32)``."""
    if not searched:
        return f"{choice.cell} ({choice.strategy})"
    return (
        f"{choice.cell} ({choice.strategy}, {choice.scaling}, L={choice.lookback}, "
        f"H={choice.hidden})"
    )


def _statistical_rows(
    values, n_train, origins, setup, season, add, notes, started, minutes, log
) -> list[str]:
    """Add the statistical baselines' rows; their names."""
    from ..baselines import statistical as st

    methods = {"auto": ("ets", "sarima"), "ets": ("ets",), "sarima": ("sarima",)}.get(
        setup.stat, ()
    )
    names = []
    if setup.stat == "arima":
        start = time.perf_counter()
        forecast = statistical_forecasts(values, n_train, origins, setup)
        name = "ARIMA({},{},{})".format(*setup.arima_order)
        add(name, forecast, seconds=round(time.perf_counter() - start, 2))
        names.append(name)
    for method in methods:
        if minutes and time.perf_counter() - started >= 60 * minutes:
            notes.append(f"{method.upper()} skipped: the {minutes:g}-minute budget was spent")
            continue
        if log:
            log(f"choosing {method.upper()} by AICc (season {season})")
        try:
            result = st.rolling_forecasts(
                values, n_train, origins, setup.horizon, method=method, season=season
            )
        except st.ModelFitError as e:
            notes.append(str(e))
            continue
        add(result.name, result.forecasts, seconds=round(result.seconds, 2))
        names.append(result.name)
    return names


def _validation_table(
    candidates, chosen, values, observed, n_train, setup, season, scale
) -> dict[str, Any]:
    """Every candidate's validation MASE, ranked, with seasonal naive's at the same origins."""
    start = val_start(n_train, setup)
    origins = np.arange(max(start, season), n_train - setup.horizon + 1)
    naive = math.nan
    if len(origins):
        history, _ = ts.origin_windows(values, origins, season, setup.horizon)
        _, truth = ts.origin_windows(observed, origins, season, setup.horizon)
        if (~np.isnan(truth)).any():
            forecast = ts.seasonal_naive(history, setup.horizon, season)
            naive = ts.errors(forecast, truth, scale)["mase"]
    rows = [
        {
            "model": c.choice.name,
            "val_mase": c.val_mase,
            "epochs": c.trained.epochs,
            "best_epoch": c.trained.best_epoch,
            "train_loss": c.trained.train_loss,
            "initial_loss": c.initial_loss,
            "seconds": round(c.trained.seconds, 2),
            "chosen": c is chosen,
        }
        for c in candidates
    ]
    name = f"seasonal naive m={season}" if season > 1 else "naive"
    rows.append({"model": name, "val_mase": naive, "chosen": False})
    for row, rank in zip(rows, ranks([r["val_mase"] for r in rows])):
        row["rank"] = rank
    return {"rows": rows, "seasonal_naive_mase": naive}


def _not_learned(chosen: Candidate, naive: float, naive_name: str) -> dict[str, Any]:
    """Whether the chosen network has not learned, and what to try."""
    reasons = []
    if not chosen.learned():
        reasons.append(
            f"its training loss never fell ({chosen.initial_loss:.4g} before, "
            f"{chosen.trained.train_loss:.4g} after)"
        )
    if np.isfinite(naive) and not chosen.val_mase <= naive:
        reasons.append(
            f"its validation MASE {chosen.val_mase:.3f} is above {naive_name}'s {naive:.3f}"
        )
    if not reasons:
        return {"flag": False, "message": ""}
    message = (
        f"the network has not learned: {'; '.join(reasons)}; try a larger --budget, "
        "--scaling log or relative, another --lookback, or rely on the statistical baseline"
    )
    return {"flag": True, "message": message}


def _behind(net: dict, naive: dict, stats: list[dict]) -> dict[str, Any]:
    """Whether the network's test MASE is above seasonal naive's or > 10 % above the best
    statistical baseline's."""
    reasons = []
    if not net["mase"] <= naive["mase"]:
        reasons.append(f"above {naive['model']} ({naive['mase']:.3f})")
    best = min(stats, key=lambda r: r["mase"], default=None)
    if best is not None and not net["mase"] <= 1.1 * best["mase"]:
        reasons.append(f"more than 10 % above {best['model']} ({best['mase']:.3f})")
    if not reasons:
        return {"flag": False, "message": ""}
    message = f"on the held-out tail the network's MASE {net['mase']:.3f} is " + " and ".join(
        reasons
    )
    return {"flag": True, "message": message}


def _per_column(header: list[str], gaps: np.ndarray) -> dict[str, int]:
    """Missing values per column, for the columns that have any."""
    return {name: int(n) for name, n in zip(header, gaps.sum(axis=0)) if n}


# -- the job as the command line runs it ---------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Options:
    """One ``rnnkit forecast`` run: its series, setup, nets and training (saved in each
    ``last``)."""

    dataset: str | None = None  # a bundled series, or
    csv: str | None = None  # a CSV file
    columns: tuple[str, ...] | None = None  # its columns (None: every numeric one)
    setup: Setup = field(default_factory=Setup)
    net: Net = field(default_factory=Net)
    fit: Fit = FIT
    baseline: bool = True  # also train the feed-forward baseline
    ffnn_hidden: int = 64  # the baseline's hidden units
    seed: int = 0
    search: bool = True  # choose scaling, lookback, hidden size and strategy on validation
    trials: int = 8  # the search's budget in networks trained
    search_minutes: float = 3.0  # the search's budget in minutes (0: none)
    pinned: tuple[str, ...] = ()  # dimensions the search keeps as given
    minutes: float = 0.0  # bound on the whole job (0: none)
    refit: bool = True  # the search's choice trained again on the whole training part

    def nets(self) -> list[Net]:
        nets = [replace(self.net, window=0)]
        if self.baseline and self.net.cell != "ffnn":
            nets.append(Net(cell="ffnn", hidden_size=self.ffnn_hidden))
        return nets

    def budget(self) -> Search | None:
        if not self.search:
            return None
        return Search(
            trials=self.trials, minutes=self.search_minutes, pinned=self.pinned, refit=self.refit
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Options":
        try:
            setup = {
                **d["setup"],
                "strategies": tuple(d["setup"]["strategies"]),
                "arima_order": tuple(d["setup"]["arima_order"]),
            }
            columns = None if d.get("columns") is None else tuple(d["columns"])
            return cls(
                **{
                    **d,
                    "columns": columns,
                    "pinned": tuple(d.get("pinned", ())),
                    "setup": Setup(**setup),
                    "net": Net(**d["net"]),
                    "fit": Fit(**d["fit"]),
                }
            )
        except (KeyError, TypeError) as e:
            raise CheckpointError(
                f"the saved forecast options are damaged ({e}); start afresh with --overwrite"
            ) from None


PINS = {
    "scaling": "scaling",
    "relative": "scaling",
    "lookback": "lookback",
    "hidden_size": "hidden",
    "strategies": "strategy",
}
"""Options that, when given, pin a dimension of the search."""


def configure(given: dict[str, Any]) -> Options:
    """Options from the given ones (by field name of ``Setup``, ``Net``, ``Fit`` or
    ``Options``; the rest the defaults).  Given lookback, scaling, hidden size or strategies
    are kept by the search (``pinned``)."""
    given = {k: v for k, v in given.items() if v is not None}
    groups = {
        "setup": {f.name for f in fields(Setup)},
        "net": {f.name for f in fields(Net)},
        "fit": {f.name for f in fields(Fit)},
        "own": {f.name for f in fields(Options)} - {"setup", "net", "fit"},
    }
    unknown = set(given) - set().union(*groups.values())
    if unknown:
        raise ConfigError(f"unknown options {sorted(unknown)}")

    def pick(group: str) -> dict[str, Any]:
        return {k: v for k, v in given.items() if k in groups[group]}

    own = pick("own")
    if own.get("columns") is not None:
        own["columns"] = tuple(own["columns"])
    own.setdefault("pinned", tuple(dict.fromkeys(PINS[k] for k in PINS if k in given)))
    options = Options(
        **own,
        setup=Setup(**pick("setup")),
        net=Net(**pick("net")),
        fit=replace(FIT, **pick("fit")),
    )
    options.budget()  # its checks now
    return options


def run_job(
    given: dict[str, Any],
    out: Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    comm: Comm = LOCAL,
    log: Callable[[str], None] | None = None,
    handle_signals: bool = True,
) -> tuple[Series, Setup, dict[str, Any]]:
    """(series, setup, report) of a new run in ``out`` from the ``given`` options, or
    (``resume``) of the run saved there.  SIGINT/SIGTERM save each net's ``last`` and end the
    job (``"stopped_by"`` in the report)."""

    def with_data(options: Options) -> tuple[Options, Series]:
        return options, load_series(
            options.dataset,
            options.csv,
            None if options.columns is None else list(options.columns),
        )

    options, series = runs.prepare(
        out,
        resume=resume,
        overwrite=overwrite,
        comm=comm,
        new=lambda: with_data(configure(given)),
        again=lambda: with_data(Options.from_dict(runs.saved_options(out, given))),
    )
    if log:
        log(
            f"{series.name}: {len(series.values)} steps"
            + (f", {comm.size} processes" if comm.size > 1 else "")
            + f"; run in {out}"
        )
        if series.missing:
            log(
                f"{sum(series.missing.values())} missing values ({series.missing}): "
                "interpolated in the training part, not scored in the held-out tail"
            )
    with stop_on_signals(runs.SIGNALS if handle_signals else ()) as stop:
        report = run_forecast(
            series,
            options.setup,
            options.nets(),
            options.fit,
            seed=options.seed,
            log=log,
            run_dir=out,
            options=options.to_dict(),
            comm=comm,
            stop=stop,
            search=options.budget(),
            minutes=options.minutes,
        )
    if comm.rank == 0 and "stopped_by" not in report:
        shown = {k: v for k, v in report.items() if not k.startswith("_")}  # as --json
        runs.write_result(out, {**shown, "forecast": _future(out, series)})
    return series, options.setup, report


def _future(out: Path, series: Series) -> list[dict[str, Any]]:
    """``rnnkit report``'s picture of the run: the predicting network's forecast past the
    end of the whole series, with its 80 % interval, one chart per column."""
    f = predicting.predictor_of(out)
    assert isinstance(f, Forecaster)
    shown = min(len(series.values), 4 * f.horizon + f.lookback)  # the recent history
    result = f.forecast(series.values, series.dates)
    dates = None
    if series.dates is not None and result.dates is not None:
        dates = ts.format_dates(series.dates[-shown:], series.dates) + result.dates
    charts = []
    for c, name in enumerate(f.columns):
        history = ts.fill_missing(series.values[-shown:, c : c + 1])[0][:, 0]
        chart: dict[str, Any] = {
            "model": f"{name}: the future, by {f.source.parent.name}",
            "history": history.tolist(),
            "forecast": result.values[:, c].tolist(),
            "dates": dates,
        }
        if "80" in result.lower:
            chart.update(
                lower=result.lower["80"][:, c].tolist(),
                upper=result.upper["80"][:, c].tolist(),
                level=0.8,
            )
        charts.append(chart)
    return charts


# -- forecasting past the end of a series --------------------------------------------------------


@dataclass
class Forecast:
    """``horizon`` steps past the end of a history."""

    values: np.ndarray  # [h, C]
    lower: dict[str, np.ndarray]  # interval level ("80", "95") → [h, C]; empty without them
    upper: dict[str, np.ndarray]
    dates: list[str] | None  # [h] the forecast steps' dates, when the history has dates


class Forecaster:
    """Forecasts ``horizon`` steps past the end of a series, with the saved run's network
    (``predictor``; ``rnnkit predict RUN SERIES.csv``)."""

    job = JOB

    def __init__(self, model, source: Path) -> None:
        self.model, self.source = model, Path(source)
        prep = model.meta.get("preprocessing")
        try:
            self.scaler = ts.Scaler(
                np.asarray(prep["scaler"]["mean"], dtype=np.float64),
                np.asarray(prep["scaler"]["std"], dtype=np.float64),
            )
            self.scaling = ts.check_scaling(prep["scaling"])
            self.lookback, self.horizon = int(prep["lookback"]), int(prep["horizon"])
            self.direct = prep["strategy"] == "direct"
            self.columns: list[str] = list(prep["columns"])
            self.date_column: str | None = prep.get("date_column")
            self.frequency: dict[str, Any] | None = prep.get("frequency")
        except (KeyError, TypeError, ValueError, DataError) as e:
            raise CheckpointError(
                f"{source}: the forecast preprocessing saved with the model is incomplete ({e})"
            ) from None
        self.intervals: dict[str, Any] = {"origins": 0}
        path = self.source.parent / INTERVALS
        if path.is_file():
            try:
                self.intervals = json.loads(path.read_text(encoding="utf-8"))
            except ValueError as e:
                raise CheckpointError(f"{path}: not readable JSON ({e})") from None

    def forecast(self, values: np.ndarray, dates: np.ndarray | None = None) -> Forecast:
        """The forecast of the ``horizon`` steps after ``values: [N, C]`` (or ``[N]``; NaN
        interpolated), dated after ``dates [N]`` (``datetime64``) when given."""
        v = np.asarray(values, dtype=np.float64)
        v = v[:, None] if v.ndim == 1 else v
        C = len(self.columns)
        if v.ndim != 2 or v.shape[1] != C:
            raise DataError(
                f"the history must be [N, {C}] ({', '.join(self.columns)}), got shape {v.shape}"
            )
        if len(v) < self.lookback:
            raise DataError(
                f"the history holds {len(v)} values; the model reads the last "
                f"{self.lookback}, give at least {self.lookback}"
            )
        v = ts.fill_missing(v)[0]
        history = v[None, -self.lookback :]
        point = forecast_with(
            self.model, self.scaler, history, self.horizon, self.direct, scaling=self.scaling
        )[0]
        lower, upper = {}, {}
        for level in LEVELS:
            key = f"{round(level * 100)}"
            if key in self.intervals:
                kind = self.intervals.get("kind", "difference")
                lower[key] = with_offsets(point, self.intervals[key]["lower"], kind)
                upper[key] = with_offsets(point, self.intervals[key]["upper"], kind)
        text = None
        if dates is not None:
            d = np.asarray(dates, dtype="datetime64[s]")
            frequency = self.frequency or ts.infer_frequency(d)
            text = ts.format_dates(ts.next_dates(d[-1], frequency, self.horizon), d)
        return Forecast(point, lower, upper, text)

    def predict_file(
        self, path: str | Path, level: float = 0.8, **options: Any
    ) -> predicting.Table:
        """The forecast past the last row of the CSV ``path`` as a table: date (or step),
        [column,] forecast, lower, upper at ``level`` (0.8 or 0.95)."""
        if options:
            raise ConfigError(f"forecast prediction takes no options {sorted(options)}")
        key = f"{round(level * 100)}"
        if level not in LEVELS:
            raise ConfigError(f"level must be one of {LEVELS}, got {level}")
        header = read_rows(path).header
        named = all(c in header for c in self.columns)
        columns, values, dates, _ = read_series_csv(path, self.columns if named else None)
        if len(columns) != len(self.columns):
            raise DataError(
                f"{path}: {len(columns)} numeric columns ({', '.join(columns)}); the model "
                f"forecasts {len(self.columns)} ({', '.join(self.columns)})"
            )
        if len(values) < self.lookback:
            raise DataError(
                f"{path}: {len(values)} rows; the model reads the last {self.lookback} "
                f"values, give at least {self.lookback}"
            )
        result = self.forecast(values, dates)
        first = "date" if result.dates is not None else "step"
        stamps: list[Any] = result.dates or list(range(1, self.horizon + 1))
        lower = result.lower.get(key, np.full_like(result.values, np.nan))
        upper = result.upper.get(key, np.full_like(result.values, np.nan))
        rows = []
        for k in range(self.horizon):
            for c, name in enumerate(columns):
                cells = [float(result.values[k, c]), float(lower[k, c]), float(upper[k, c])]
                rows.append([stamps[k], *([name] if len(columns) > 1 else []), *cells])
        notes = [
            f"{self.horizon} steps past the last of {len(values)} rows of {path}"
            + (
                f" ({result.dates and ts.format_dates(dates[-1:], dates)[0]})"
                if dates is not None
                else ""
            )
            + f", by {self.source}"
        ]
        if key in self.intervals:
            notes.append(
                f"lower/upper: a {key} % interval from validation residuals ("
                + (
                    "per-step quantiles"
                    if self.intervals.get("method", "quantiles") == "quantiles"
                    else "normal: ± z · their per-step root mean square"
                )
                + f" over {self.intervals['origins']} validation origins of the run)"
            )
        else:
            notes.append(f"no intervals: {self.source.parent / INTERVALS} is missing")
        gaps = int(np.isnan(values[-self.lookback :]).sum())
        if gaps:
            notes.append(f"{gaps} missing values in the last {self.lookback} rows interpolated")
        columns_out = [
            first,
            *(["column"] if len(columns) > 1 else []),
            "forecast",
            "lower",
            "upper",
        ]
        return predicting.Table(columns_out, rows, notes)


def predictor(model, source: Path) -> Forecaster:
    """The forecaster of a saved forecast network (``rnnkit.jobs.predicting.load``)."""
    return Forecaster(model, Path(source))
