"""Forecasting: a series → windows → a network → multi-step forecasts scored against baselines.

The series (``[N, C]``) is split once: the first ``N − test_size`` steps train everything —
the scaler, the network (its last ``val_fraction`` of windows picks the best epoch), the
seasonal-naive scale and the statistical model — and the held-out tail is only forecast.
Forecasts start at every ``stride``-th origin o of the tail (a rolling origin: each sees the
true history before o, nothing is refitted) and run ``horizon`` steps:

* recursive: a one-step network whose forecasts are fed back as inputs, h times;
* direct: a network with h·C outputs, all steps at once;
* seasonal naive: the value one season earlier;
* ARIMA(p, d, q) or ETS (additive error, trend and season) from statsmodels, per channel,
  fitted on the training part; its forecast at o is its dynamic prediction from o.

Missing values are filled after the split (``rnnkit.data.timeseries.fill_causally``): in the
training part by interpolation between its own observations, in the tail by carrying the last
value forward, so a filled input never depends on a later value.  A filled point is never
truth: MAE, RMSE and MASE (see ``rnnkit.data.timeseries``) are taken over every origin, step
and channel whose truth was observed, alike for every model and baseline, in the series' own
units; the report counts the held-out values it skipped (``test_missing_skipped``).  One run
of each preset (seed 0, GRU H=32, FFNN 64 hidden units; MASE, lower is better):

    series     GRU rec.  GRU dir.  FFNN rec.  FFNN dir.  seasonal naive  ARIMA(9,0,0) / ETS
    sunspots   1.087     1.258     1.288      1.330      1.361           1.056 (ARIMA)
    co2        0.449     0.440     0.442      0.442      1.400           0.936 (ETS)
"""

import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from ..data import timeseries as ts
from ..data.tables import count_missing, read_csv
from ..errors import CheckpointError, ConfigError, DataError
from ..training.distributed import LOCAL, Comm
from ..training.signals import stop_on_signals
from . import Fit, Net, build_model, describe, prefixed, runs, train_network

JOB = "forecast"

STRATEGIES = ("recursive", "direct")


@dataclass(frozen=True, kw_only=True)
class Setup:
    """How a series is split, windowed and scored."""

    lookback: int = 24  # L: past steps a network reads
    horizon: int = 12  # h: steps forecast from each origin
    test_size: int = 0  # held-out tail (0: a fifth of the series, at least h)
    stride: int = 1  # steps between forecast origins in the tail
    season: int = 1  # m: seasonal-naive period and MASE's lag (1: naive)
    relative: bool = False  # windows and targets measured from the window's last value
    val_fraction: float = 0.2  # last share of the training windows that picks the best epoch
    strategies: tuple[str, ...] = STRATEGIES  # recursive and/or direct
    stat: str = "arima"  # arima | ets | none
    arima_order: tuple[int, int, int] = (2, 1, 1)  # (p, d, q)

    def __post_init__(self) -> None:
        if self.lookback < 1 or self.horizon < 1 or self.season < 1 or self.stride < 1:
            raise ConfigError("lookback, horizon, season and stride must be >= 1")
        if self.test_size < 0 or not 0 <= self.val_fraction < 0.5:
            raise ConfigError("test_size must be >= 0 and val_fraction in [0, 0.5)")
        bad = [s for s in self.strategies if s not in STRATEGIES]
        if bad or not self.strategies:
            raise ConfigError(f"strategies must be among {STRATEGIES}, got {self.strategies}")
        if self.stat not in ("arima", "ets", "none"):
            raise ConfigError(f"stat must be arima, ets or none, got {self.stat!r}")

    def tail(self, n: int) -> int:
        return self.test_size or max(self.horizon, n // 5)


FIT = Fit(epochs=200, patience=25)
"""How a forecaster trains unless told otherwise: at most 200 epochs, early stopping after 25
without a better validation loss (the last ``Setup.val_fraction`` of the windows)."""


class Preset(TypedDict, total=False):
    """The ``Setup`` fields a bundled series' preset sets."""

    lookback: int
    horizon: int
    season: int
    relative: bool
    stat: str
    arima_order: tuple[int, int, int]


PRESETS: dict[str, Preset] = {
    # yearly sunspot numbers 1700–2008; the ≈ 11-year solar cycle is the season
    "sunspots": {
        "lookback": 22,
        "horizon": 11,
        "season": 11,
        "stat": "arima",
        "arima_order": (9, 0, 0),
    },
    # weekly CO₂ at Mauna Loa 1958–2001 (59 weeks missing), with a rising trend: relative
    # windows; a year of lookback does as well as two at half the cost
    "co2": {"lookback": 52, "horizon": 52, "season": 52, "relative": True, "stat": "ets"},
}
"""Documented defaults of each bundled series (any of them can be overridden)."""


@dataclass
class Series:
    name: str
    header: list[str]
    values: np.ndarray  # [N, C], NaN where missing (filled after the split, by run_forecast)
    missing: dict[str, int] = field(default_factory=dict)  # missing values per column


def load_series(
    dataset: str | None = None, csv: str | None = None, columns: list[str] | None = None
) -> Series:
    """A bundled statsmodels series (``sunspots``, ``co2``) or columns of a CSV file."""
    if csv is not None and dataset is None:
        chosen: list[str | int] | None = list(columns) if columns else None
        header, values = read_csv(csv, chosen, missing="keep")
        name = f"{csv}:{','.join(header)}"
    elif dataset is not None and csv is None:
        header, values = _statsmodels_series(dataset)
        name = dataset
    else:
        raise ConfigError("give either --dataset or --csv (with --column)")
    missing = count_missing(header, values)
    if len(values) < 3:
        raise DataError(f"{name}: a series needs more than {len(values)} steps")
    empty = [c for c, n in zip(header, np.isnan(values).sum(axis=0)) if n == len(values)]
    if empty:
        raise DataError(f"{name}: column {empty[0]} has no values at all (every one is missing)")
    return Series(name, header, np.asarray(values, dtype=np.float64), missing)


def _statsmodels_series(dataset: str) -> tuple[list[str], np.ndarray]:
    if dataset not in PRESETS:
        raise DataError(f"unknown dataset {dataset!r}; choose one of: {', '.join(PRESETS)}")
    try:
        from statsmodels.datasets import co2, sunspots
    except ImportError:
        raise DataError(
            "the bundled series need statsmodels: pip install 'rnnkit[jobs]'"
        ) from None
    frame = {"sunspots": sunspots, "co2": co2}[dataset].load_pandas().data
    column = {"sunspots": "SUNACTIVITY", "co2": "co2"}[dataset]
    return [column], frame[column].to_numpy(dtype=np.float64)[:, None]


# -- the network ---------------------------------------------------------------------------------


@dataclass
class Windowed:
    """The training windows of one strategy, scaled, with their validation part."""

    scaler: ts.Scaler
    x: np.ndarray  # [M, L, C]
    y: np.ndarray  # [M, h·C] or [M, C]
    val: tuple | None  # (x, y, None)


def windows_for(train_part: np.ndarray, setup: Setup, steps_ahead: int) -> Windowed:
    """Scaled windows of the training part; the scaler sees only the training part."""
    x, y = ts.make_windows(train_part, setup.lookback, steps_ahead, relative=setup.relative)
    scaler = ts.Scaler.fit(x, centre=False) if setup.relative else ts.Scaler.fit(train_part)
    xs, ys = scaler.transform(x), scaler.transform(y).reshape(len(y), -1)
    n_val = int(round(setup.val_fraction * len(xs)))
    if n_val and len(xs) - n_val >= 1:
        return Windowed(scaler, xs[:-n_val], ys[:-n_val], (xs[-n_val:], ys[-n_val:], None))
    return Windowed(scaler, xs, ys, None)


def forecast_with(
    model, scaler: ts.Scaler, history: np.ndarray, horizon: int, direct: bool, relative: bool
) -> np.ndarray:
    """Forecasts ``[O, h, C]`` from the last L values ``history: [O, L, C]`` of each origin."""
    if direct:
        anchor = history[:, -1:] if relative else 0.0
        z = model.predict(scaler.transform(history - anchor))
        return scaler.inverse(z.reshape(len(history), horizon, -1)) + anchor
    window, out = history.copy(), []
    for _ in range(horizon):  # feed each one-step forecast back as the newest input
        anchor = window[:, -1:] if relative else 0.0
        z = model.predict(scaler.transform(window - anchor))
        step = scaler.inverse(z[:, None, :]) + anchor  # [O, 1, C]
        out.append(step)
        window = np.concatenate([window[:, 1:], step], axis=1)
    return np.concatenate(out, axis=1)


def fit_network(
    net: Net,
    fit: Fit,
    train_part: np.ndarray,
    setup: Setup,
    strategy: str,
    *,
    rng: np.random.Generator,
    log: Callable[[str], None] | None = None,
    run_dir: Path | None = None,
    options: dict[str, Any] | None = None,
    comm: Comm = LOCAL,
    stop: Callable[[], str | None] = lambda: None,
):
    """(trained model, scaler, ``Trained``) for the ``recursive`` or ``direct`` strategy."""
    ahead = setup.horizon if strategy == "direct" else 1
    w = windows_for(train_part, setup, ahead)
    C = train_part.shape[1]
    model = build_model(
        net,
        input_size=C,
        output_size=w.y.shape[1],
        steps=setup.lookback,
        readout="last_step",
        loss="mse",
        rng=rng,
    )
    trained = train_network(
        model,
        w.x,
        w.y,
        fit,
        rng=rng,
        validation=w.val,
        run_dir=run_dir,
        options=options,
        comm=comm,
        stop=stop,
        say=log,
    )
    return model, w.scaler, trained


# -- statistical baselines -----------------------------------------------------------------------


def statistical_forecasts(
    values: np.ndarray, n_train: int, origins: np.ndarray, setup: Setup
) -> np.ndarray:
    """ARIMA or ETS forecasts ``[O, h, C]``, fitted per channel on the first ``n_train`` steps."""
    out = np.empty((len(origins), setup.horizon, values.shape[1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter from the optimiser
        for c in range(values.shape[1]):
            full = _fitted_on_train(values[:, c], n_train, setup)
            for k, o in enumerate(origins):
                out[k, :, c] = full.predict(start=o, end=o + setup.horizon - 1, dynamic=True)
    return out


def _fitted_on_train(series: np.ndarray, n_train: int, setup: Setup):
    """Results on the whole series with parameters estimated on its training part only."""
    if setup.stat == "arima":
        from statsmodels.tsa.arima.model import ARIMA

        result = ARIMA(series[:n_train], order=setup.arima_order).fit()
        return result.append(series[n_train:], refit=False)
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    seasonal = setup.season > 1 and n_train >= 2 * setup.season
    options = {
        "error": "add",
        "trend": "add",
        "seasonal": "add" if seasonal else None,
        "seasonal_periods": setup.season if seasonal else None,
    }
    result = ETSModel(series[:n_train], **options).fit(disp=False)
    return ETSModel(series, **options).smooth(result.params)


def stat_name(setup: Setup) -> str:
    if setup.stat == "arima":
        return "ARIMA({},{},{})".format(*setup.arima_order)
    return f"ETS(A,A,A) m={setup.season}" if setup.season > 1 else "ETS(A,A,N)"


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
) -> dict[str, Any]:
    """Train every net with every strategy, forecast the tail, score all against the baselines.

    Returns a JSON-able report, plus the forecasts themselves under ``"_arrays"``.
    ``run_dir`` keeps each network's run in ``run_dir/<cell>-<strategy>`` (resumed from there
    if it holds one; ``options``, the job's, saved in each ``last``); a signal (``stop``) ends
    the job after saving, with ``"stopped_by"`` in the report.
    """
    observed = np.asarray(series.values, dtype=np.float64)  # [N, C], NaN where missing
    N, reach = len(observed), max(setup.lookback, setup.season)
    test_size = setup.tail(N)
    n_train = ts.split_point(N, test_size, reach, setup.horizon)
    values = ts.fill_causally(observed, n_train)  # what every model and baseline reads
    origins = ts.rolling_origins(n_train, N, setup.horizon, setup.stride)
    history, _ = ts.origin_windows(values, origins, reach, setup.horizon)
    _, truth = ts.origin_windows(observed, origins, reach, setup.horizon)  # NaN: not scored
    scale = ts.naive_scale(observed[:n_train], setup.season)
    gaps = np.isnan(observed)
    if gaps[n_train:].all():
        raise DataError(
            f"{series.name}: the held-out tail ({test_size} steps) has no observed "
            "value to score the forecasts against"
        )
    rows, arrays = [], {"origins": origins, "truth": truth}

    def add(name: str, forecast: np.ndarray, **extra: Any) -> None:
        rows.append({"model": name, **ts.errors(forecast, truth, scale), **extra})
        arrays[name] = forecast

    for k, net in enumerate(nets):
        for strategy in setup.strategies:
            rng = np.random.default_rng([seed, k, STRATEGIES.index(strategy)])
            prefix = f"{net.cell} {strategy}"
            model, scaler, trained = fit_network(
                net,
                fit,
                values[:n_train],
                setup,
                strategy,
                rng=rng,
                log=None if log is None else prefixed(log, prefix),
                run_dir=None if run_dir is None else Path(run_dir) / f"{net.cell}-{strategy}",
                options=options,
                comm=comm,
                stop=stop,
            )
            if trained.interrupted:
                return {"series": series.name, "stopped_by": trained.stopped_by}
            forecast = forecast_with(
                model,
                scaler,
                history[:, -setup.lookback :],
                setup.horizon,
                strategy == "direct",
                setup.relative,
            )
            add(
                f"{net.cell} ({strategy})",
                forecast,
                params=model.num_parameters(),
                description=describe(model),
                epochs=trained.epochs,
                best_epoch=trained.best_epoch,
                skipped=trained.skipped,
                seconds=round(trained.seconds, 2),
            )
    add(
        f"seasonal naive m={setup.season}", ts.seasonal_naive(history, setup.horizon, setup.season)
    )
    if setup.stat != "none":
        start = time.perf_counter()
        forecast = statistical_forecasts(values, n_train, origins, setup)
        add(stat_name(setup), forecast, seconds=round(time.perf_counter() - start, 2))
    return {
        "series": series.name,
        "columns": series.header,
        "steps": N,
        "train_steps": n_train,
        "test_steps": test_size,
        "origins": len(origins),
        "missing_filled": _per_column(series.header, gaps[:n_train]),  # in the training part
        "test_missing_skipped": int(gaps[n_train:].sum()),  # held-out values left unscored
        "lookback": setup.lookback,
        "horizon": setup.horizon,
        "season": setup.season,
        "relative": setup.relative,
        "seed": seed,
        "results": rows,
        "_arrays": arrays,
    }


def _per_column(header: list[str], gaps: np.ndarray) -> dict[str, int]:
    """Missing values per column, for the columns that have any."""
    return {name: int(n) for name, n in zip(header, gaps.sum(axis=0)) if n}


def setup_for(dataset: str | None, **overrides: Any) -> Setup:
    """A dataset's preset (if any) with the given options (None: keep the preset) applied."""
    base = Setup(**PRESETS.get(dataset or "", Preset()))
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})


# -- the job as the command line runs it ---------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Options:
    """One ``rnnkit forecast`` run: its series, setup, nets and training (saved in each
    ``last``)."""

    dataset: str | None = None  # a bundled series, or
    csv: str | None = None  # a CSV file
    columns: tuple[str, ...] | None = None  # its columns (None: all)
    setup: Setup = field(default_factory=Setup)
    net: Net = field(default_factory=Net)
    fit: Fit = FIT
    baseline: bool = True  # also train the feed-forward baseline
    ffnn_hidden: int = 64  # the baseline's hidden units
    seed: int = 0

    def nets(self) -> list[Net]:
        window = self.net.window or self.setup.lookback
        nets = [replace(self.net, window=window)]
        if self.baseline and self.net.cell != "ffnn":
            nets.append(Net(cell="ffnn", hidden_size=self.ffnn_hidden, window=window))
        return nets

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
                    "setup": Setup(**setup),
                    "net": Net(**d["net"]),
                    "fit": Fit(**d["fit"]),
                }
            )
        except (KeyError, TypeError) as e:
            raise CheckpointError(
                f"the saved forecast options are damaged ({e}); start afresh with --overwrite"
            ) from None


def configure(given: dict[str, Any]) -> Options:
    """Options from the given ones (by field name of ``Setup``, ``Net``, ``Fit`` or
    ``Options``; the rest from the dataset's preset or the defaults)."""
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
    return Options(
        **own,
        setup=setup_for(given.get("dataset"), **pick("setup")),
        net=Net(**pick("net")),
        fit=replace(FIT, **pick("fit")),
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
        )
    return series, options.setup, report
