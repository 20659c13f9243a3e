"""PNG pictures of rnnkit's results, drawn with matplotlib's Agg backend (no display needed).

matplotlib is an optional dependency (the ``plots`` extra) and is imported only here, only
when a picture is drawn, so ``import rnnkit`` never pays for it.  One module per family of
pictures; each draws from plain results and saves to a path:

* ``forecast``: history, held-out truth and each model's forecasts (``rnnkit forecast``);
* ``confusion``: a classifier's confusion matrix (``rnnkit classify``);
* ``gradflow``: ‖∂L/∂h_t‖ over time and training, and the exploding-gradient comparison
  (``rnnkit gradflow``);
* ``influence``: how strongly each input drives one prediction (``rnnkit influence``);
* ``sequences``: generated sequences beside the truth (``rnnkit one-to-many``).
"""

from types import ModuleType

from ..errors import ConfigError

INSTALL = "pip install 'rnnkit[plots]'"
"""What to run when matplotlib is missing (the ``plots`` extra of pyproject.toml)."""


def pyplot() -> ModuleType:
    """matplotlib.pyplot on the Agg backend, or a ConfigError saying what to install."""
    try:
        import matplotlib
    except ImportError:
        raise ConfigError(f"plots need matplotlib: {INSTALL}") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def check_available() -> None:
    """ConfigError now, before any training, if the pictures cannot be drawn later."""
    pyplot()
