"""Seasonal statistical forecasting baselines, fitted on the training part only.

Three baselines for a series ``[N, C]`` split at ``n_train`` (everything is estimated on
``s[:n_train]``; the tail only supplies the history each forecast origin sees):

* **ETS** — exponential smoothing in state-space form (Hyndman et al. 2008; statsmodels
  ``ETSModel``), its form chosen by AICc among the admissible set of the forecast package's
  ``ets()``: error A or M × trend N, A or Ad (damped) × season N, A or M, without the
  multiplicative trends and without additive error with multiplicative season (numerically
  unstable), so 15 forms at most.  Multiplicative error or season only for a strictly
  positive series; a season only when m > 1 and the training part holds ≥ 2 full seasons.
  Initial states are estimated with the smoothing parameters.
* **SARIMA(p,d,q)(P,D,Q)m** — statsmodels ``SARIMAX``, after Hyndman & Khandakar's (2008)
  ``auto.arima``: D = 1 when the seasonal strength of an STL decomposition of the training
  part, F_S = max(0, 1 − Var(R)/Var(S + R)), is ≥ 0.64 (Wang, Smith & Hyndman 2006); then
  d = 1 when a KPSS test (level, 5 %) rejects stationarity of the (seasonally differenced)
  series; then p, q ∈ {0, 1, 2} and P, Q ∈ {0, 1} by AICc — stepwise from four starting
  models (each step tries p, q, P, Q ± 1 and p, q or P, Q together ± 1, moving on the first
  improvement) or over the whole grid (``search="grid"``, 36 fits).  A constant (a drift
  once differenced) is included when d + D ≤ 1.  Orders are compared only with the same
  d and D (the likelihoods are of the same differenced data).  Estimation uses
  ``simple_differencing=True`` — the exact likelihood of the differenced series, a state
  vector shorter by d + D·m — and forecasts come from the full model filtered with those
  parameters, so they are in the series' own units.
* **seasonal naive** — ``rnnkit.data.timeseries.seasonal_naive``, reused as is.

Rolling origins (as ``jobs/forecast.py`` does): the forecast from origin o is the model's
dynamic prediction of s[o … o+h−1] from s[:o] with the training-part parameters, nothing
refitted: ETS by ``ETSModel(series).smooth(params)``, SARIMA by ``SARIMAX(series).filter``.

A candidate that fails to fit (statsmodels raises, or its AICc is not finite) is skipped
and counted; statsmodels' warnings during a fit (convergence, starting values) are counted
per candidate, not printed.  If every candidate fails, ``ModelFitError`` says why in one
line.  Only ValueError and ArithmeticError count as a failed fit; anything else is a bug
and propagates.

statsmodels' matrices here are small (a state of at most ~30), so threaded BLAS only adds
contention: fits and filters run with BLAS limited to one thread (``threadpoolctl``, when
installed — it comes with scikit-learn), which made the SARIMA search 10× faster on a busy
two-core machine.

Timings (``docs/baselines.md``): on a 144-point monthly series (120 training points, m = 12)
the ETS choice fits 15 forms and the stepwise SARIMA 10–20 orders, each in a few seconds.
"""

import time
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data import timeseries as ts
from ..errors import ConfigError, DataError, RnnkitError, ShapeError

METHODS = ("ets", "sarima", "seasonal_naive")
SEASONAL_STRENGTH = 0.64  # F_S at or above which the SARIMA search takes D = 1
MAX_P, MAX_Q, MAX_SP, MAX_SQ = 2, 2, 1, 1  # the SARIMA grid's bounds


class ModelFitError(RnnkitError, RuntimeError):
    """No candidate of a statistical baseline could be fitted to the training part."""


@dataclass(frozen=True)
class Candidate:
    """One model tried: its name, AICc (NaN if it failed), and what went wrong or was said."""

    name: str
    aicc: float
    error: str = ""  # "ValueError: …" when the fit failed
    warnings: int = 0  # statsmodels warnings during the fit (convergence, start values)


@dataclass
class Fitted:
    """A model chosen on the training part, with its parameters; ``forecasts`` rolls it on."""

    kind: str  # "ets" or "sarima"
    name: str  # e.g. "ETS(M,Ad,M) m=12", "SARIMA(1,1,1)(0,1,1)12"
    options: dict[str, Any]  # the statsmodels model's keyword arguments, without the data
    params: np.ndarray  # estimated on the training part only
    aicc: float
    n_train: int
    candidates: list[Candidate] = field(default_factory=list)  # every model tried, in order
    seconds: float = 0.0  # the whole selection

    @property
    def failed(self) -> int:
        """How many candidates could not be fitted."""
        return sum(1 for c in self.candidates if c.error)

    def forecasts(self, series: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        """``[O, h]``: from each origin o, the dynamic prediction of s[o … o+h−1] from s[:o].

        ``series [N]`` is the whole series, its first ``n_train`` values the training part
        these parameters came from; later values only extend each origin's history.
        """
        s = _one_channel(series, "the series")
        origins = _check_origins(origins, len(s), horizon)
        out = np.empty((len(origins), horizon))
        with one_blas_thread(), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # overflow on wild M forms
            if self.kind == "ets":
                from statsmodels.tsa.exponential_smoothing.ets import ETSModel

                result = ETSModel(s, **self.options).smooth(self.params)
            else:
                from statsmodels.tsa.statespace.sarimax import SARIMAX

                options = dict(self.options, simple_differencing=False)
                result = SARIMAX(s, **options).filter(self.params)
            for k, o in enumerate(origins):
                out[k] = result.predict(start=o, end=o + horizon - 1, dynamic=True)
        return out


# -- ETS ---------------------------------------------------------------------------------------


def ets_forms(season: int, n_train: int, positive: bool) -> list[dict[str, Any]]:
    """The admissible ETS forms (``ETSModel`` keyword arguments) for this training part."""
    seasonal = season > 1 and n_train >= 2 * season
    forms = []
    for error in ("add", "mul") if positive else ("add",):
        for trend, damped in ((None, False), ("add", False), ("add", True)):
            for season_kind in (None, "add", "mul") if seasonal else (None,):
                if season_kind == "mul" and (error == "add" or not positive):
                    continue
                forms.append(
                    {
                        "error": error,
                        "trend": trend,
                        "damped_trend": damped,
                        "seasonal": season_kind,
                        "seasonal_periods": season if season_kind else None,
                    }
                )
    return forms


def ets_name(options: dict[str, Any]) -> str:
    """``ETS(M,Ad,M) m=12`` (error, trend, season; the period when seasonal)."""
    letter = {None: "N", "add": "A", "mul": "M"}
    trend = letter[options["trend"]] + ("d" if options.get("damped_trend") else "")
    name = f"ETS({letter[options['error']]},{trend},{letter[options['seasonal']]})"
    return f"{name} m={options['seasonal_periods']}" if options["seasonal"] else name


def select_ets(train: np.ndarray, season: int = 1) -> Fitted:
    """The ETS form of least AICc on ``train [N]`` (the training part), with its parameters."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    s = _training_part(train)
    forms = ets_forms(season, len(s), positive=bool(np.all(s > 0)))

    def fit(options: dict[str, Any]):
        return ETSModel(s, **options).fit(disp=False)

    return _choose("ets", forms, ets_name, fit, len(s))


# -- SARIMA ------------------------------------------------------------------------------------


def seasonal_strength(train: np.ndarray, season: int) -> float:
    """F_S = max(0, 1 − Var(R)/Var(S + R)) of an STL decomposition of ``train [N]``."""
    from statsmodels.tsa.seasonal import STL

    s = _training_part(train)
    if season < 2 or len(s) < 2 * season + 1:
        return 0.0
    parts = STL(s, period=season).fit()
    spread = np.var(parts.seasonal + parts.resid)
    return float(max(0.0, 1.0 - np.var(parts.resid) / spread)) if spread > 0 else 0.0


def differences(train: np.ndarray, season: int) -> tuple[int, int]:
    """(d, D): D = 1 for seasonal strength ≥ 0.64; d = 1 when KPSS (5 %) rejects a level."""
    from statsmodels.tsa.stattools import kpss

    s = _training_part(train)
    seasonal = season > 1 and len(s) >= 2 * season
    D = int(seasonal and seasonal_strength(s, season) >= SEASONAL_STRENGTH)
    x = s[season:] - s[:-season] if D else s
    if np.ptp(x) == 0:
        return 0, D
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "p-value outside the table": the statistic decides
        statistic, _, _, critical = kpss(x, regression="c", nlags="auto")
    return int(statistic > critical["5%"]), D


def sarima_name(order: tuple[int, int, int], seasonal_order: tuple[int, int, int, int]) -> str:
    """``SARIMA(1,1,1)(0,1,1)12``, or ``ARIMA(2,1,0)`` without a seasonal part."""
    p, d, q = order
    P, D, Q, m = seasonal_order
    if m < 2 or (P, D, Q) == (0, 0, 0):
        return f"ARIMA({p},{d},{q})"
    return f"SARIMA({p},{d},{q})({P},{D},{Q}){m}"


def select_sarima(train: np.ndarray, season: int = 1, *, search: str = "stepwise") -> Fitted:
    """The SARIMA orders of least AICc on ``train [N]`` (d, D by tests; see the module doc)."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    if search not in ("stepwise", "grid"):
        raise ConfigError(f"search must be 'stepwise' or 'grid', got {search!r}")
    s = _training_part(train)
    start = time.perf_counter()
    d, D = differences(s, season)
    seasonal = season > 1 and len(s) >= 2 * season
    m = season if seasonal else 0
    max_sp, max_sq = (MAX_SP, MAX_SQ) if seasonal else (0, 0)

    def options(pqPQ: tuple[int, int, int, int]) -> dict[str, Any]:
        p, q, P, Q = pqPQ
        return {
            "order": (p, d, q),
            "seasonal_order": (P, D, Q, m),
            "trend": "c" if d + D <= 1 else None,
            "simple_differencing": True,
        }

    def name(o: dict[str, Any]) -> str:
        return sarima_name(o["order"], o["seasonal_order"])

    def fit(o: dict[str, Any]):
        return SARIMAX(s, **o).fit(disp=False)

    bounds = (MAX_P, MAX_Q, max_sp, max_sq)
    if search == "grid":
        grid = [
            (p, q, P, Q)
            for p in range(MAX_P + 1)
            for q in range(MAX_Q + 1)
            for P in range(max_sp + 1)
            for Q in range(max_sq + 1)
        ]
        chosen = _choose("sarima", [options(g) for g in grid], name, fit, len(s))
    else:
        chosen = _stepwise(bounds, options, name, fit, len(s))
    chosen.seconds = time.perf_counter() - start
    return chosen


def _stepwise(bounds, options, name, fit, n_train: int) -> Fitted:
    """Hyndman & Khandakar's stepwise search over (p, q, P, Q) within ``bounds``."""

    def clip(c):
        return tuple(min(v, b) for v, b in zip(c, bounds))

    tried: dict[tuple, Fitted | Candidate] = {}
    candidates: list[Candidate] = []

    def visit(c) -> float:
        if c not in tried:
            result = _try(options(c), name, fit, n_train)
            tried[c] = result
            candidates.append(result if isinstance(result, Candidate) else result.candidates[0])
        return tried[c].aicc if np.isfinite(tried[c].aicc) else np.inf

    starts = [clip(c) for c in ((2, 2, 1, 1), (0, 0, 0, 0), (1, 0, 1, 0), (0, 1, 0, 1))]
    best = min(dict.fromkeys(starts), key=visit)
    moves = [(0, 0, 1, 0), (0, 0, 0, 1), (1, 0, 0, 0), (0, 1, 0, 0), (1, 1, 0, 0), (0, 0, 1, 1)]
    improved = True
    while improved:
        improved = False
        for move in moves:
            for sign in (-1, 1):
                c = tuple(v + sign * m for v, m in zip(best, move))
                if any(v < 0 or v > b for v, b in zip(c, bounds)) or c in tried:
                    continue
                if visit(c) < visit(best):
                    best, improved = c, True
                    break
            if improved:
                break
    return _finish("sarima", tried[best], candidates)


# -- shared ------------------------------------------------------------------------------------


def one_blas_thread():
    """A context limiting BLAS to one thread (``threadpoolctl``), or nothing without it."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _try(
    options: dict[str, Any], name: Callable, fit: Callable, n_train: int
) -> "Fitted | Candidate":
    """A fitted model, or the Candidate saying why it failed; warnings counted, not shown."""
    label = name(options)
    with one_blas_thread(), warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        try:
            result = fit(options)
            aicc = float(result.aicc)
        except (ValueError, ArithmeticError) as e:  # numpy's LinAlgError is a ValueError
            return Candidate(label, float("nan"), f"{type(e).__name__}: {e}", len(said))
    if not np.isfinite(aicc):
        return Candidate(label, float("nan"), "the fit's AICc is not finite", len(said))
    kind = "ets" if "error" in options else "sarima"
    return Fitted(
        kind,
        label,
        dict(options),
        np.asarray(result.params, dtype=np.float64),
        aicc,
        n_train,
        [Candidate(label, aicc, "", len(said))],
    )


def _choose(
    kind: str, forms: list[dict[str, Any]], name: Callable, fit: Callable, n_train: int
) -> Fitted:
    """The candidate of least AICc (the first of equals) among ``forms``."""
    start = time.perf_counter()
    results = [_try(o, name, fit, n_train) for o in forms]
    candidates = [r if isinstance(r, Candidate) else r.candidates[0] for r in results]
    fitted = [r for r in results if isinstance(r, Fitted)]
    best = min(fitted, key=lambda r: r.aicc) if fitted else None
    chosen = _finish(kind, best if best is not None else results[0], candidates)
    chosen.seconds = time.perf_counter() - start
    return chosen


def _finish(kind: str, best: "Fitted | Candidate", candidates: list[Candidate]) -> Fitted:
    if isinstance(best, Candidate):
        first = next(c for c in candidates if c.error)
        raise ModelFitError(
            f"{kind}: none of the {len(candidates)} candidate models could be "
            f"fitted to the training part; the first, {first.name}, failed "
            f"with {first.error}".replace("\n", " ")
        )
    best.candidates = candidates
    return best


# -- all channels, rolling origins -------------------------------------------------------------


@dataclass
class Baseline:
    """Rolling-origin forecasts of one method for every channel."""

    name: str  # for result tables: the model's name, or each channel's joined by "; "
    forecasts: np.ndarray  # [O, h, C]
    models: list[Fitted]  # per channel (empty for seasonal naive)
    seconds: float  # selection, fitting and forecasting together


def seasonal_naive_forecasts(
    values: np.ndarray, origins: np.ndarray, horizon: int, season: int
) -> np.ndarray:
    """``[O, h, C]``: the value one season before, from ``values [N, C]`` (needs o ≥ m)."""
    history, _ = ts.origin_windows(values, origins, season, horizon)
    return ts.seasonal_naive(history, horizon, season)


def rolling_forecasts(
    values: np.ndarray,
    n_train: int,
    origins: np.ndarray,
    horizon: int,
    *,
    method: str,
    season: int = 1,
    search: str = "stepwise",
) -> Baseline:
    """Forecasts ``[O, h, C]`` of ``method`` from each origin, every channel on its own.

    ``values [N, C]`` (or ``[N]``) is the whole series with no missing values (fill them
    first, ``rnnkit.data.timeseries.fill_causally``); models are chosen and estimated on
    ``values[:n_train]`` only.  ``origins`` lie in [1, N − h] (seasonal naive: [m, N − h]).
    """
    if method not in METHODS:
        raise ConfigError(f"method must be one of {METHODS}, got {method!r}")
    if season < 1 or horizon < 1:
        raise ConfigError(f"season and horizon must be >= 1, got {season} and {horizon}")
    values = np.asarray(values, dtype=np.float64)
    values = values[:, None] if values.ndim == 1 else values
    if values.ndim != 2 or 0 in values.shape:
        raise ShapeError(f"values must be [N, C], got shape {values.shape}")
    if not np.isfinite(values).all():
        raise DataError(
            "values hold NaN or infinite values; fill them first "
            "(rnnkit.data.timeseries.fill_causally)"
        )
    if not 1 <= n_train <= len(values):
        raise DataError(f"n_train must be in [1, {len(values)}], got {n_train}")
    origins = _check_origins(origins, len(values), horizon)
    start = time.perf_counter()
    if method == "seasonal_naive":
        forecasts = seasonal_naive_forecasts(values, origins, horizon, season)
        return Baseline(f"seasonal naive m={season}", forecasts, [], time.perf_counter() - start)
    models, out = [], np.empty((len(origins), horizon, values.shape[1]))
    for c in range(values.shape[1]):
        train = values[:n_train, c]
        model = (
            select_ets(train, season)
            if method == "ets"
            else select_sarima(train, season, search=search)
        )
        out[:, :, c] = model.forecasts(values[:, c], origins, horizon)
        models.append(model)
    name = "; ".join(dict.fromkeys(m.name for m in models))
    return Baseline(name, out, models, time.perf_counter() - start)


def _training_part(train: np.ndarray) -> np.ndarray:
    s = _one_channel(train, "the training part")
    if len(s) < 4:
        raise DataError(f"a statistical baseline needs at least 4 training steps, got {len(s)}")
    return s


def _one_channel(series: np.ndarray, what: str) -> np.ndarray:
    s = np.asarray(series, dtype=np.float64)
    if s.ndim == 2 and s.shape[1] == 1:
        s = s[:, 0]
    if s.ndim != 1:
        raise ShapeError(f"{what} must be one channel, [N] or [N, 1], got shape {s.shape}")
    if not np.isfinite(s).all():
        raise DataError(f"{what} holds NaN or infinite values; fill them first")
    return s


def _check_origins(origins: np.ndarray, N: int, horizon: int) -> np.ndarray:
    origins = np.asarray(origins)
    if origins.ndim != 1 or len(origins) == 0 or not np.issubdtype(origins.dtype, np.integer):
        raise ShapeError(
            f"origins must be whole numbers [O] with O >= 1, got {origins.dtype} {origins.shape}"
        )
    if origins.min() < 1 or origins.max() + horizon > N:
        raise DataError(
            f"origins must lie in [1, {N - horizon}] for a series of {N} steps "
            f"and horizon {horizon}, got [{origins.min()}, {origins.max()}]"
        )
    return origins.astype(np.int64)
