"""Time series for forecasting: missing values, a held-out tail, scaling, windows, naive forecasts.

A series is ``[N, C]`` (N steps, C channels).  Everything here is fitted on the training
part only — the first ``N − test_size`` steps — so nothing about the held-out tail leaks in.

Windows of ``L`` (lookback) inputs and ``h`` (horizon) targets end at each step t::

    x = s[t − L + 1 … t]     y = s[t + 1 … t + h]

In *relative* form both are measured from the window's last value s_t (x − s_t, y − s_t), which
makes a model blind to the level: a trending series (co2) then looks the same in the test
tail as in training.  The scaler divides by the spread of what the model sees (the series, or
the relative windows) on the training part.

Missing values (NaN) are filled after the split, so no filled value depends on the tail:
the training part by interpolation between its own observations (``fill_missing``), a gap in
the tail with the last value before it, carried forward (``fill_causally``) — a forecast's
inputs never depend on a later value.  Filled points are inputs only, never truth.

Forecast errors e = ŷ − y over every origin, step and channel whose truth was observed::

    MAE = mean |e|    RMSE = √mean e²    MASE = MAE / mean_t |s_t − s_{t−m}|  (training part)

where m is the season (m = 1: the naive one-step forecast), after Hyndman & Koehler 2006;
MASE's mean is over the training steps t where s_t and s_{t−m} were both observed.
"""

from typing import Any, NamedTuple

import numpy as np

from ..errors import DataError


def fill_missing(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(series with NaN filled, missing count per channel ``[C]``) for ``values: [N, C]``.

    Inner gaps are interpolated linearly between their neighbours; leading and trailing gaps
    take the nearest observed value.  A channel with no value at all is an error.
    """
    values = np.array(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    missing = np.isnan(values)
    steps = np.arange(len(values))
    for c in range(values.shape[1]):
        gaps = missing[:, c]
        if gaps.all():
            raise DataError(f"channel {c} has no values at all (every one is missing)")
        if gaps.any():
            values[gaps, c] = np.interp(steps[gaps], steps[~gaps], values[~gaps, c])
    return values, missing.sum(axis=0)


def fill_causally(values: np.ndarray, n_train: int) -> np.ndarray:
    """The series as forecasts read it, from ``values: [N, C]`` with NaN where missing.

    The first ``n_train`` steps are filled by ``fill_missing`` from their own values only
    (a trailing gap takes the last training value, never a later one); every later gap takes
    the last value before it.  So no filled value depends on a value after it, and none on
    the held-out tail.  A channel with no value in the training part is an error.
    """
    values = _series(values).copy()
    if not 1 <= n_train <= len(values):
        raise DataError(f"the training part must hold 1 to {len(values)} steps, got {n_train}")
    try:
        values[:n_train] = fill_missing(values[:n_train])[0]
    except DataError as e:
        raise DataError(f"the training part ({n_train} steps): {e}") from None
    steps = np.arange(len(values))[:, None]
    last = np.maximum.accumulate(np.where(np.isnan(values), 0, steps), axis=0)  # [N, C]
    return np.take_along_axis(values, last, axis=0)


def split_point(n: int, test_size: int, lookback: int, horizon: int) -> int:
    """The number of training steps: ``n − test_size``, checked to leave room for windows."""
    if test_size < horizon:
        raise DataError(
            f"the held-out tail ({test_size} steps) must cover the horizon ({horizon} steps)"
        )
    n_train = n - test_size
    if n_train < lookback + horizon + 1:
        raise DataError(
            f"series too short: {n} steps leave {n_train} for training, but a "
            f"lookback of {lookback} and horizon of {horizon} need at least "
            f"{lookback + horizon + 1}"
        )
    return n_train


class Scaler(NamedTuple):
    """Per-channel affine scaling z = (v − mean) / std, fitted on training data."""

    mean: np.ndarray  # [C]
    std: np.ndarray  # [C]; a constant channel gets 1, so it scales to zeros, not NaN

    @classmethod
    def fit(cls, values: np.ndarray, *, centre: bool = True) -> "Scaler":
        """From ``values: [..., C]`` (NaN ignored); ``centre=False``: mean 0, std = the RMS."""
        flat = np.asarray(values, dtype=np.float64).reshape(-1, np.shape(values)[-1])
        mean = np.nanmean(flat, axis=0) if centre else np.zeros(flat.shape[1])
        std = np.sqrt(np.nanmean((flat - mean) ** 2, axis=0))
        std = np.where(std > 1e-12 * np.maximum(np.abs(mean), 1.0), std, 1.0)
        return cls(mean, std)

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.std

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return z * self.std + self.mean


def make_windows(
    series: np.ndarray, lookback: int, horizon: int, *, relative: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(x ``[M, L, C]``, y ``[M, h, C]``) for every window that fits in ``series: [N, C]``."""
    series = _series(series)
    N = len(series)
    M = N - lookback - horizon + 1
    if lookback < 1 or horizon < 1:
        raise DataError(f"lookback and horizon must be >= 1, got {lookback} and {horizon}")
    if M < 1:
        raise DataError(
            f"series of {N} steps is too short for windows of lookback {lookback} "
            f"and horizon {horizon}"
        )
    view = np.lib.stride_tricks.sliding_window_view(series, lookback + horizon, axis=0)
    view = view.transpose(0, 2, 1)  # [M, L + h, C]
    x, y = view[:, :lookback].copy(), view[:, lookback:].copy()
    if relative:
        anchor = x[:, -1:, :]
        x, y = x - anchor, y - anchor
    return x, y


def origin_windows(
    series: np.ndarray, origins: np.ndarray, lookback: int, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """(history x ``[O, L, C]``, truth y ``[O, h, C]``) for forecasts made at each origin o.

    The forecast at o sees s[o − L … o − 1] and predicts s[o … o + h − 1].
    """
    series = _series(series)
    origins = np.asarray(origins, dtype=np.int64)
    if origins.min() < lookback or origins.max() + horizon > len(series):
        raise DataError(f"origins must lie in [{lookback}, {len(series) - horizon}]")
    x = series[origins[:, None] + np.arange(-lookback, 0)]
    y = series[origins[:, None] + np.arange(horizon)]
    return x, y


def rolling_origins(n_train: int, n: int, horizon: int, stride: int = 1) -> np.ndarray:
    """Forecast origins in the held-out tail: n_train, n_train + stride, … while o + h ≤ n."""
    if stride < 1:
        raise DataError(f"stride must be >= 1, got {stride}")
    return np.arange(n_train, n - horizon + 1, stride)


def seasonal_naive(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """ŷ_{o+k} = s_{o−m+(k mod m)} from ``history: [O, ≥ m, C]`` (ending at o − 1) → ``[O, h, C]``.

    The value of the same season in the last observed cycle (m = 1: the last value).
    """
    if history.shape[1] < season:
        raise DataError(f"seasonal naive needs {season} steps of history, got {history.shape[1]}")
    k = np.arange(horizon)
    return history[:, history.shape[1] - season + k % season]


def naive_scale(train: np.ndarray, season: int) -> np.ndarray:
    """MASE's denominator per channel: mean |s_t − s_{t−m}| over the training part ``[N, C]``,
    over the steps t where both values were observed (NaN: missing)."""
    train = _series(train)
    if len(train) <= season:
        raise DataError(f"MASE needs more than {season} training steps, got {len(train)}")
    d = np.abs(train[season:] - train[:-season])
    seen = ~np.isnan(d)
    total = np.where(seen, d, 0.0).sum(axis=0)
    scale = total / np.maximum(seen.sum(axis=0), 1)
    return np.where(scale > 0, scale, np.nan)  # a constant series (or no pair seen): no scale


def errors(forecast: np.ndarray, truth: np.ndarray, scale: np.ndarray) -> dict[str, float]:
    """MAE, RMSE and MASE of ``forecast`` against ``truth`` (both ``[O, h, C]``), over the
    points whose truth was observed (a NaN in ``truth`` is skipped)."""
    e = np.asarray(forecast, dtype=np.float64) - truth
    seen = ~np.isnan(np.asarray(truth, dtype=np.float64))
    if not seen.any():
        raise DataError("no observed value to score the forecasts against")
    a = np.abs(e)
    per_channel = seen.reshape(-1, e.shape[-1])
    with np.errstate(invalid="ignore", divide="ignore"):  # a channel with none seen: NaN
        mae_c = np.where(per_channel, a.reshape(per_channel.shape), 0.0).sum(
            axis=0
        ) / per_channel.sum(axis=0)
    return {
        "mae": float(a[seen].mean()),
        "rmse": float(np.sqrt(np.mean(e[seen] ** 2))),
        "mase": float(np.mean(mae_c / scale)),
    }


def _series(series: np.ndarray) -> np.ndarray:
    series = np.asarray(series, dtype=np.float64)
    if series.ndim == 1:
        series = series[:, None]
    if series.ndim != 2 or series.shape[1] == 0:
        raise DataError(f"a series must be [N, C], got shape {series.shape}")
    return series


# -- scaling modes -------------------------------------------------------------------------------

SCALINGS = ("level", "relative", "differenced", "log")
"""How a window is measured before the scaler: the series' own level; offsets from the window's
last value s_o; successive differences (the first input 0, the targets y_k − y_{k−1} with
y_0 = s_o, summed back); or log values measured from log s_o (growth ratios, for a strictly
positive series whose swings grow with its level)."""


def check_scaling(scaling: str) -> str:
    if scaling not in SCALINGS:
        raise DataError(f"scaling must be one of {SCALINGS}, got {scaling!r}")
    return scaling


def window_features(window: np.ndarray, scaling: str) -> np.ndarray:
    """What a network reads of ``window: [O, L, C]`` (the last L values before an origin)."""
    last = window[:, -1:]
    if scaling == "level":
        return window
    if scaling == "relative":
        return window - last
    if scaling == "log":
        return _log(window) - _log(last)
    d = np.diff(window, axis=1, prepend=window[:, :1])  # differenced: first input 0
    return d


def window_targets(window: np.ndarray, future: np.ndarray, scaling: str) -> np.ndarray:
    """The targets ``[O, k, C]`` a network learns for ``future: [O, k, C]`` after ``window``."""
    last = window[:, -1:]
    if scaling == "level":
        return future
    if scaling == "relative":
        return future - last
    if scaling == "log":
        return _log(future) - _log(last)
    return np.diff(np.concatenate([last, future], axis=1), axis=1)


def from_targets(window: np.ndarray, targets: np.ndarray, scaling: str) -> np.ndarray:
    """The series' values ``[O, k, C]`` of targets in ``scaling``'s form (``window_targets``'s
    inverse)."""
    last = window[:, -1:]
    if scaling == "level":
        return targets
    if scaling == "relative":
        return targets + last
    if scaling == "log":
        return np.exp(targets + _log(last))
    return last + np.cumsum(targets, axis=1)


def fit_scaler(train: np.ndarray, features: np.ndarray, scaling: str) -> Scaler:
    """The scaler of a scaling mode: centred on the training part ``[N, C]`` for ``level``;
    for the others the RMS of the training windows' ``features [M, L, C]``, not centred (an
    offset of 0 stays 0)."""
    if scaling == "level":
        return Scaler.fit(train)
    return Scaler.fit(features, centre=False)


def _log(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if np.any(values <= 0):
        raise DataError("log scaling needs a strictly positive series; choose another scaling")
    return np.log(values)


# -- dates ---------------------------------------------------------------------------------------

DATE_NAMES = frozenset({"date", "time", "datetime", "timestamp", "ds", "period", "year", "month"})
"""Header names (any case) taken as a date column even when their values are whole numbers
(a ``year`` column of 1990, 1991, …)."""

CALENDAR = {"monthly": 1, "quarterly": 3, "yearly": 12}  # calendar steps, in months


def parse_dates(fields: list[str], name: str = "") -> np.ndarray | None:
    """The dates of a column's text ``[N]`` as ``datetime64[s]``, or None if it is no date column.

    ISO dates (``2020-01-31``, ``2020-01``, ``2020-01-31 12:00`` / ``T12:00``) are; whole
    numbers are only in a column named as in ``DATE_NAMES`` (``year``: 1990 → 1990-01-01).
    """
    if not fields:
        return None
    try:
        if all(f.lstrip("-").isdigit() for f in fields):
            if name.strip().lower() not in DATE_NAMES:
                return None
            return np.array([f"{int(f):04d}" for f in fields], dtype="datetime64[Y]").astype(
                "datetime64[s]"
            )
        if all(_number(f) for f in fields):
            years = [float(f) for f in fields]  # a year column written 1700.0
            if name.strip().lower() != "year" or any(y != int(y) for y in years):
                return None
            return np.array([f"{int(y):04d}" for y in years], dtype="datetime64[Y]").astype(
                "datetime64[s]"
            )
        dates = np.array([f.replace(" ", "T") for f in fields], dtype="datetime64[s]")
        return None if np.isnat(dates).any() else dates
    except ValueError:
        return None


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def infer_frequency(dates: np.ndarray) -> dict[str, Any]:
    """The step between ``dates [N]`` (``datetime64``; the training part's), as JSON:

    ``{"unit": "monthly" | "quarterly" | "yearly", "within": s | "end"}`` for calendar steps
    (the same s seconds into the month, or the month's last day), else ``{"unit": "fixed",
    "seconds": s}`` (daily 86400, weekly 604800, …).  Irregular steps are a DataError.
    """
    d = np.asarray(dates, dtype="datetime64[s]")
    if len(d) < 2:
        raise DataError("the frequency of a series needs at least two dates")
    steps = np.diff(d).astype(np.int64)
    if (steps <= 0).any():
        k = int(np.argmax(steps <= 0))
        raise DataError(f"dates must increase: {d[k]} is followed by {d[k + 1]}")
    if (steps == steps[0]).all() and steps[0] < 28 * 86400:
        return {"unit": "fixed", "seconds": int(steps[0])}
    months = d.astype("datetime64[M]").astype(np.int64)
    month_steps = np.diff(months)
    for unit, n in CALENDAR.items():
        if (month_steps == n).all():
            days = (d - d.astype("datetime64[M]").astype("datetime64[s]")).astype(np.int64)
            ends = (d.astype("datetime64[D]") + 1).astype("datetime64[M]") != d.astype(
                "datetime64[M]"
            )
            if ends.all() and len(set(days.tolist())) > 1:
                return {"unit": unit, "within": "end"}
            if len(set(days.tolist())) == 1:
                return {"unit": unit, "within": int(days[0])}
    if (steps == steps[0]).all():
        return {"unit": "fixed", "seconds": int(steps[0])}
    raise DataError(
        f"the dates step irregularly (e.g. {d[0]} → {d[1]}, then {d[-2]} → {d[-1]}); "
        "give a series with daily, weekly, monthly, quarterly, yearly or fixed steps"
    )


def next_dates(last: Any, frequency: dict[str, Any], count: int) -> np.ndarray:
    """The ``count`` dates ``[count]`` after ``last`` at ``frequency`` (``infer_frequency``)."""
    last = np.asarray(last, dtype="datetime64[s]")
    k = np.arange(1, count + 1)
    if frequency["unit"] == "fixed":
        return last + k * np.timedelta64(int(frequency["seconds"]), "s")
    n = CALENDAR[str(frequency["unit"])]
    months = last.astype("datetime64[M]") + k * n
    if frequency["within"] == "end":
        return (months + 1).astype("datetime64[D]").astype("datetime64[s]") - np.timedelta64(
            1, "D"
        )
    offset = np.timedelta64(int(frequency["within"]), "s")
    return months.astype("datetime64[s]") + offset


def format_dates(dates: np.ndarray, like: np.ndarray) -> list[str]:
    """``dates`` as text at the precision the series' own dates ``like`` need."""
    like = np.asarray(like, dtype="datetime64[s]")
    for unit in ("Y", "M", "D", "m", "s"):
        if (like.astype(f"datetime64[{unit}]").astype("datetime64[s]") == like).all():
            break
    text = np.datetime_as_string(np.asarray(dates, dtype="datetime64[s]"), unit=unit)
    return [str(t) for t in text]


def trend_seasonal(
    n: int = 180,
    *,
    season: int = 12,
    level: float = 100.0,
    growth: float = 0.01,
    amplitude: float = 0.3,
    noise: float = 0.03,
    seed: int = 0,
) -> np.ndarray:
    """A trending series with multiplicative seasonality ``[n]``, seeded::

        s_t = level · (1 + growth)^t · (1 + amplitude · sin(2πt/m)) · (1 + noise · ε_t)

    with ε_t standard normal: swings that grow with the level, as in airline passengers.
    """
    t = np.arange(n)
    eps = np.random.default_rng(seed).standard_normal(n)
    return (
        level
        * (1 + growth) ** t
        * (1 + amplitude * np.sin(2 * np.pi * t / season))
        * (1 + noise * eps)
    )
