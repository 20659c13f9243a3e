"""The training engine every job trains through.

    batches (``batches``) → gradients: full, truncated or checkpointed BPTT (``gradients``)
    → non-finite guard → clipping → optimizer at the scheduled rate (``engine``)
    → validation, early stopping, checkpoints, metrics log, progress, signals (``loop``)

Data parallelism comes from the engine's communicator (``rnnkit.training.distributed``).
"""

from .batches import Batch, Generated, Shuffled, Source
from .engine import Engine, TrainingDiverged
from .gradients import Custom, FullBPTT, Truncated
from .loop import Checkpoints, Summary, Validation, fit
from .metrics import MetricsLog, read_log
from .options import Budget, Optimization

__all__ = [
    "Batch",
    "Budget",
    "Checkpoints",
    "Custom",
    "Engine",
    "FullBPTT",
    "Generated",
    "MetricsLog",
    "Optimization",
    "Shuffled",
    "Source",
    "Summary",
    "TrainingDiverged",
    "Truncated",
    "Validation",
    "fit",
    "read_log",
]
