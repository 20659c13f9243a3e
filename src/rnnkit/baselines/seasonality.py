"""The season of a series, detected from the autocorrelation of its training part.

A job that is given no season can report "season 12 detected (ACF 0.83)" and hand m to the
seasonal baselines (``statistical``, seasonal naive, MASE's scale).  ``detect_season`` looks
only at what it is given — pass the training part, never the held-out tail.

The method:

1. remove the trend.  ``detrend="auto"`` (the default) asks a Dickey–Fuller test whether the
   series wanders like a random walk: the t statistic of β in the least-squares fit
   s_t − s_{t−1} = a + b·t + β·s_{t−1} + e_t against MacKinnon's (2010) 5 % critical value
   for a constant and trend, −3.4105 − 4.390/N − 9.04/N².  Not below it (a unit root is
   plausible): first differences d_t = s_t − s_{t−1} (``"difference"``), whose ACF is not
   fooled by a wandering level; below it: the residuals of a least-squares line
   (``"linear"``), which keep a smooth cycle's whole amplitude (differencing shrinks a sine
   of period m by 2 sin(π/m) — to half for m = 12 — and doubles white noise's variance);
2. the sample autocorrelation of d (n values, mean d̄)::

       r_k = Σ_{t=1}^{n−k} (d_t − d̄)(d_{t+k} − d̄) / Σ_{t=1}^{n} (d_t − d̄)²

3. the peaks: lags k in [2, ⌊N/3⌋] (N the length given, so at least three cycles are seen)
   where r has a local maximum (r_{k−1} < r_k ≥ r_{k+1}) above the significance bound;
4. m is the highest peak — or the smallest peak that divides it, as a cycle of 10 also
   peaks at 20, 30, … and noise may lift a multiple above the first; none → m = 1.

The bound is z·√((1 + 2 r_1²) / n).  For white noise r_k is about normal with variance 1/n
(the familiar ±1.96/√n); short-range dependence (an AR(1), or the MA(1) with r_1 ≈ −½ that
differencing leaves) widens the variance beyond lag 1 by Bartlett's formula, to about
(1 + 2 r_1²)/n.  z is Φ⁻¹(1 − α/(K − 1)) for the K − 1 lags examined (a one-sided
Bonferroni bound): the chance α of a spurious season in a series with none holds however
many lags are looked at — with z = 1.96 at each of ~N/3 lags, white noise of 300 steps would
show a "season" most of the time.  ``tests/baselines/test_seasonality.py`` measures the rate
on white noise, random walks and AR(1) series.

>>> import numpy as np
>>> t = np.arange(144)
>>> noise = 0.2 * np.random.default_rng(0).normal(size=144)
>>> s = 10 + 0.05 * t + np.sin(2 * np.pi * t / 12) + noise
>>> found = detect_season(s)
>>> found.season, round(found.acf, 2) > 0.5
(12, True)
"""

from statistics import NormalDist
from typing import NamedTuple

import numpy as np

from ..errors import ConfigError, DataError, ShapeError

DETRENDS = ("auto", "difference", "linear")


class Season(NamedTuple):
    """A detected season: m (1: none) and the detrended series' autocorrelation there."""

    season: int  # m; 1 when no significant peak was found
    acf: float  # r_m of the detrended series (NaN when m = 1)
    bound: float  # the significance bound r_m had to exceed (NaN when too short to test)
    detrend: str  # how the trend was removed: "difference" or "linear"

    def describe(self) -> str:
        """``season 12 detected (ACF 0.83)`` or ``no season detected``."""
        if self.season == 1:
            return "no season detected"
        return f"season {self.season} detected (ACF {self.acf:.2f})"


def detect_season(
    train: np.ndarray, *, detrend: str = "auto", alpha: float = 0.05, max_lag: int | None = None
) -> Season:
    """The season of ``train`` (``[N]`` or ``[N, 1]``, the training part) from its ACF.

    ``max_lag`` caps the lags examined (default ⌊N/3⌋); ``alpha`` is the chance of a spurious
    season in a series with none.  A series too short to test any lag (⌊N/3⌋ < 2) or constant
    after detrending has no season.
    """
    s = _one_channel(train)
    if detrend not in DETRENDS:
        raise ConfigError(f"detrend must be one of {DETRENDS}, got {detrend!r}")
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha}")
    N = len(s)
    K = N // 3 if max_lag is None else min(int(max_lag), N // 3)
    if detrend == "auto":
        detrend = "difference" if K < 2 or _unit_root_plausible(s) else "linear"
    none = Season(1, float("nan"), float("nan"), detrend)
    if K < 2:
        return none
    d = np.diff(s) if detrend == "difference" else _linear_residuals(s)
    r = autocorrelation(d, K + 1)
    if r is None:
        return none
    n = len(d)
    z = NormalDist().inv_cdf(1.0 - alpha / (K - 1))  # lags 2 … K
    bound = float(z * np.sqrt((1.0 + 2.0 * r[1] ** 2) / n))
    lags = np.arange(2, K + 1)
    peaks = lags[(r[lags] > r[lags - 1]) & (r[lags] >= r[lags + 1]) & (r[lags] > bound)]
    if len(peaks) == 0:
        return Season(1, float("nan"), bound, detrend)
    highest = int(peaks[np.argmax(r[peaks])])  # the first of equal peaks
    m = int(next(k for k in peaks if highest % k == 0))  # its smallest divisor among peaks
    return Season(m, float(r[m]), bound, detrend)


def autocorrelation(d: np.ndarray, max_lag: int) -> np.ndarray | None:
    """r_0 … r_max_lag of ``d [n]`` (the biased estimator above), or None if d is constant."""
    d = np.asarray(d, dtype=np.float64) - np.mean(d)
    n = len(d)
    denominator = float(d @ d)
    if not denominator > 1e-300 * n:
        return None
    size = 1 << (2 * n - 1).bit_length()  # zero-padded: no circular wrap-around
    f = np.fft.rfft(d, size)
    acov = np.fft.irfft(f * np.conj(f), size)[: max_lag + 1]
    r = np.zeros(max_lag + 1)
    k = min(max_lag, n - 1)
    r[: k + 1] = acov[: k + 1] / denominator
    return r


def _unit_root_plausible(s: np.ndarray) -> bool:
    """Whether a Dickey–Fuller test (constant and trend, no lags) keeps a unit root at 5 %."""
    N = len(s)
    d, previous = np.diff(s), s[:-1]
    X = np.column_stack([np.ones(N - 1), np.arange(1.0, N), previous])
    coef, _, rank, _ = np.linalg.lstsq(X, d, rcond=None)
    if rank < 3:  # a straight line (or constant): no stochastic trend to speak of
        return False
    residual = d - X @ coef
    dof = N - 1 - 3
    if dof < 1:
        return True
    sigma2 = float(residual @ residual) / dof
    covariance = sigma2 * np.linalg.inv(X.T @ X)
    if not covariance[2, 2] > 0:
        return False
    tau = coef[2] / np.sqrt(covariance[2, 2])
    critical = -3.4105 - 4.390 / N - 9.04 / N**2  # MacKinnon (2010), constant and trend, 5 %
    return bool(tau >= critical)


def _linear_residuals(s: np.ndarray) -> np.ndarray:
    t = np.arange(len(s), dtype=np.float64)
    slope, intercept = np.polyfit(t, s, 1)
    return s - (slope * t + intercept)


def _one_channel(train: np.ndarray) -> np.ndarray:
    s = np.asarray(train, dtype=np.float64)
    if s.ndim == 2 and s.shape[1] == 1:
        s = s[:, 0]
    if s.ndim != 1:
        raise ShapeError(
            f"detect_season takes one channel, [N] or [N, 1], got shape "
            f"{s.shape}; call it per channel"
        )
    if not np.isfinite(s).all():
        raise DataError(
            "detect_season needs a series without NaN or infinite values; fill "
            "the training part first (rnnkit.data.timeseries.fill_missing)"
        )
    return s
