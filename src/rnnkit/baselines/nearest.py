"""1-nearest-neighbour classification with the Euclidean or the DTW distance.

The classic baseline of time-series classification (the UCR archive reports 1-NN Euclidean,
1-NN DTW with a learned window, and 1-NN DTW unconstrained for every set): a query takes the
label of the training series nearest to it.  Distances are the squared ones of
``rnnkit.baselines.dtw`` (the ranking is that of the distances themselves)::

    euclidean(a, b) = Σ_t Σ_c (a[t, c] − b[t, c])²        (equal lengths only)
    dtw(a, b)       = min over warping paths in the band of Σ (a[i, c] − b[j, c])²

Sequences come as the jobs hold them: x ``[N, T, C]`` (or ``[N, T]`` for one channel), padded
past each series' length, with ``lengths [N]`` (None: all T steps).  DTW compares unequal
lengths natively (the band is widened by the difference, see ``dtw``); the Euclidean distance
needs every training and query series to have one length and otherwise raises a ShapeError
(resample the series, or use DTW).  Standardise the channels beforehand if their scales
differ (``rnnkit.data.sequences.standardise``, as the classify job does); z-normalising each
series, as the UCR archive's sets already are, is the caller's choice too.

The DTW window, when not given, is learned as the UCR archive's "DTW learned_w": for each
fraction w of ``WINDOW_GRID`` (r = ⌊w·T⌋ steps, T the longest training series; fractions
giving the same r are tried once), the leave-one-out 1-NN accuracy on the training set alone;
the best wins, a tie goes to the narrower window.  The search is reported in
``window_search_``.  Each window's search starts from the neighbours the previous (narrower)
one found, which tightens early abandoning; results do not depend on it.

>>> import numpy as np
>>> from rnnkit.baselines.nearest import NearestNeighbour
>>> t = np.linspace(0, 1, 40)
>>> x = np.stack([np.sin(2 * np.pi * (t - s)) for s in (0.0, 0.05, 0.5, 0.55)])[..., None]
>>> clf = NearestNeighbour("dtw").fit(x, np.array([0, 0, 1, 1]))
>>> clf.predict(x[[0, 2]] + 0.01).tolist(), clf.window_steps_
([0, 1], 0)
"""

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, DataError, ShapeError
from . import dtw

METRICS = ("euclidean", "dtw")
WINDOW_GRID = (0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.10, 0.20)
"""Window fractions the DTW window is learned from: 0–10 % by 1 %, and 20 %."""


@dataclass(frozen=True)
class WindowScore:
    """One window of the search: its fraction, its steps and its leave-one-out accuracy."""

    fraction: float  # w, as a fraction of the longest training series
    steps: int  # r = ⌊w·T⌋
    accuracy: float  # leave-one-out 1-NN accuracy on the training set


class NearestNeighbour:
    """1-NN classifier; ``fit(x, y, lengths)``, then ``predict`` / ``score``.

    ``metric``: ``"euclidean"`` or ``"dtw"``.  For DTW, ``window`` is the band as a fraction
    of the longest training series (1.0: unconstrained) or ``window_steps`` the band in steps;
    with neither, the window is learned from ``grid`` by leave-one-out accuracy (see the
    module docstring).  After ``fit``: ``window_steps_`` (r; 0 for Euclidean), ``window_``
    (r as a fraction of T), ``window_search_`` (a ``WindowScore`` per window tried, or empty).
    """

    def __init__(
        self,
        metric: str = "dtw",
        window: float | None = None,
        window_steps: int | None = None,
        grid: tuple[float, ...] = WINDOW_GRID,
    ):
        if metric not in METRICS:
            raise ConfigError(f"metric must be one of {METRICS}, got {metric!r}")
        if window is not None and window_steps is not None:
            raise ConfigError(
                "give the DTW window as a fraction (window) or in steps (window_steps), not both"
            )
        if metric == "euclidean" and (window is not None or window_steps is not None):
            raise ConfigError("the Euclidean distance takes no window; use metric='dtw'")
        if window is not None and not 0.0 <= window <= 1.0:
            raise ConfigError(f"window must be a fraction in [0, 1], got {window}")
        if window_steps is not None and (
            isinstance(window_steps, bool) or int(window_steps) != window_steps or window_steps < 0
        ):
            raise ConfigError(f"window_steps must be a whole number >= 0, got {window_steps}")
        if not grid or any(not 0.0 <= w <= 1.0 for w in grid):
            raise ConfigError(f"the window grid must be fractions in [0, 1], got {grid}")
        self.metric, self.window, self.window_steps, self.grid = metric, window, window_steps, grid

    # -- fitting ---------------------------------------------------------------------------

    def fit(
        self, x: np.ndarray, y: np.ndarray, lengths: np.ndarray | None = None
    ) -> "NearestNeighbour":
        """Keep the training series (x ``[N, T, C]``, labels y ``[N]``) and settle the window."""
        x, lengths = _series_set(x, lengths, "the training series")
        y = np.asarray(y)
        if y.shape != (len(x),):
            raise ShapeError(f"labels must be [N] = [{len(x)}] for x {x.shape}, got {y.shape}")
        self.x_, self.lengths_, self.y_ = x, lengths, y
        self.length_ = int(lengths.max())  # T: what a window fraction is a fraction of
        self.window_search_: list[WindowScore] = []
        if self.metric == "euclidean":
            _require_one_length(lengths, lengths)
            self.window_steps_ = 0
        elif self.window_steps is not None:
            self.window_steps_ = int(self.window_steps)
        elif self.window is not None:
            self.window_steps_ = dtw.window_steps(self.window, self.length_)
        else:
            self.window_steps_ = self._learn_window()
        self.window_ = self.window_steps_ / self.length_
        return self

    def _learn_window(self) -> int:
        """r of the best leave-one-out accuracy over the grid (ties: the smaller r)."""
        if len(self.y_) < 2:
            raise DataError(
                "learning the DTW window by leave-one-out needs at least two "
                "training series; give window= or window_steps="
            )
        tried: dict[int, float] = {}
        first = np.full(len(self.y_), -1, dtype=np.int64)
        for w in sorted(self.grid):
            r = dtw.window_steps(w, self.length_)
            if r in tried:
                continue
            index, _ = self._search(self.x_, self.lengths_, r, first, leave_one_out=True)
            accuracy = float(np.mean(self.y_[index] == self.y_))
            tried[r] = accuracy
            self.window_search_.append(WindowScore(w, r, accuracy))
            first = index  # the next, wider window starts from these neighbours
        return max(tried, key=lambda r: (tried[r], -r))

    # -- prediction ------------------------------------------------------------------------

    def neighbours(
        self, x: np.ndarray, lengths: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(training index ``[M]``, squared distance ``[M]``) of each query's nearest series."""
        self._check_fitted()
        x, lengths = _series_set(x, lengths, "the query series")
        if x.shape[2] != self.x_.shape[2]:
            raise ShapeError(
                f"the query series have {x.shape[2]} channels (x {x.shape}), the "
                f"training series {self.x_.shape[2]}"
            )
        if self.metric == "euclidean":
            _require_one_length(self.lengths_, lengths)
        first = np.full(len(x), -1, dtype=np.int64)
        return self._search(x, lengths, self.window_steps_, first, leave_one_out=False)

    def predict(self, x: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """The label of each query's nearest training series: ``[M]``."""
        index = self.neighbours(x, lengths)[0]
        return self.y_[index]

    def score(self, x: np.ndarray, y: np.ndarray, lengths: np.ndarray | None = None) -> float:
        """Accuracy of ``predict(x, lengths)`` against the labels ``y [M]``."""
        y = np.asarray(y)
        if y.shape != (len(x),):
            raise ShapeError(f"labels must be [M] = [{len(x)}], got {y.shape}")
        return float(np.mean(self.predict(x, lengths) == y))

    def describe(self) -> str:
        """A name for result tables: ``1-NN Euclidean`` / ``1-NN DTW (window 3 %, 9 steps)``."""
        self._check_fitted()
        if self.metric == "euclidean":
            return "1-NN Euclidean"
        how = ", learned" if self.window_search_ else ""
        return f"1-NN DTW (window {100 * self.window_:.3g} %, {self.window_steps_} steps{how})"

    def _search(self, x, lengths, r, first, *, leave_one_out):
        return dtw.nearest_neighbours(self.x_, self.lengths_, x, lengths, r, first, leave_one_out)

    def _check_fitted(self) -> None:
        if not hasattr(self, "x_"):
            raise ConfigError("call fit(x, y) before predicting")


def _series_set(
    x: np.ndarray, lengths: np.ndarray | None, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """(x as float64 C-ordered ``[N, T, C]``, lengths int64 ``[N]``), checked."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        x = x[:, :, None]
    if x.ndim != 3 or 0 in x.shape:
        raise ShapeError(
            f"{what} must be [N, T, C] (or [N, T]) with N, T, C >= 1, got shape {x.shape}"
        )
    N, T, _ = x.shape
    if lengths is None:
        lengths = np.full(N, T, dtype=np.int64)
    lengths = np.asarray(lengths)
    if lengths.shape != (N,) or not np.issubdtype(lengths.dtype, np.integer):
        raise ShapeError(
            f"lengths of {what} must be whole numbers [N] = [{N}], got "
            f"{lengths.dtype} {lengths.shape}"
        )
    if lengths.min() < 1 or lengths.max() > T:
        raise ShapeError(
            f"lengths of {what} must lie in [1, T = {T}], got [{lengths.min()}, {lengths.max()}]"
        )
    valid = np.arange(T)[None, :] < lengths[:, None]  # [N, T]
    if not np.isfinite(x[valid]).all():
        raise DataError(
            f"{what} hold NaN or infinite values within their lengths; fill or drop them first"
        )
    return np.ascontiguousarray(x), np.ascontiguousarray(lengths, dtype=np.int64)


def _require_one_length(train_lengths: np.ndarray, query_lengths: np.ndarray) -> None:
    both = np.concatenate([train_lengths, query_lengths])
    if both.min() != both.max():
        raise ShapeError(
            f"the Euclidean distance needs series of one length, got lengths "
            f"{both.min()} to {both.max()}; resample them or use metric='dtw'"
        )
