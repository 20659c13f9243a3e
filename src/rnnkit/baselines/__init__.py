"""Baselines a statistician would accept, for the forecast and classify jobs to compare against.

* ``dtw`` — a compiled dynamic-time-warping distance (Sakoe–Chiba band, multivariate DTW_D,
  early abandoning) and the 1-nearest-neighbour searches built on it;
* ``nearest`` — ``NearestNeighbour``: 1-NN classification with the Euclidean or the DTW
  distance, the DTW window learned by leave-one-out accuracy on the training set;
* ``seasonality`` — ``detect_season``: the season m of a training part from its
  autocorrelation;
* ``statistical`` — ETS and seasonal ARIMA chosen by AICc on the training part, seasonal
  naive, and their rolling-origin forecasts from training-part parameters only.

Each module is imported on its own (``from rnnkit.baselines import nearest``); importing this
package loads neither Numba nor statsmodels.  ``docs/baselines.md`` explains the choices.
"""
