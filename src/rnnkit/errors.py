"""The errors rnnkit raises on bad input: one clear line naming what is wrong and what to do.

The command line prints any ``RnnkitError`` as a single line and exits with status 2;
a traceback appears only with ``--debug``.
"""


class RnnkitError(Exception):
    """Base class of every error rnnkit raises on purpose."""


class ConfigError(RnnkitError, ValueError):
    """An option or configuration value is invalid or unknown."""


class ShapeError(RnnkitError, ValueError):
    """An array has the wrong rank, size or dtype."""


class VocabularyError(RnnkitError, KeyError):
    """Text contains characters the model's vocabulary does not know."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DataError(RnnkitError, ValueError):
    """A data file is missing, empty, malformed or too short."""


class CheckpointError(RnnkitError, ValueError):
    """A checkpoint directory is missing, truncated, tampered with, or from another model."""
