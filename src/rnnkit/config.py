"""Model configuration: a frozen dataclass with one comment per field, JSON round trip."""

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from .errors import ConfigError
from .layers.recurrent import RecurrentConfig


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """Input → recurrent layer → linear readout.

    Inputs are token ids when ``vocab_size > 0`` (one-hot, or a learned embedding of width
    ``embedding_dim``), otherwise real vectors of ``rnn.input_size`` features.
    """

    rnn: RecurrentConfig  # the recurrent layer; its input_size must match the input
    output_size: int  # O: width of the readout (classes, vocabulary, or predicted values)
    vocab_size: int = 0  # V > 0: inputs are token ids in [0, V)
    embedding_dim: int = 0  # > 0: learned embedding of the ids; 0: one-hot of width V
    readout: str = "every_step"  # every_step (many-to-many) | last_step (many-to-one)
    loss: str = "cross_entropy"  # cross_entropy | mse
    dtype: str = "float32"  # float32 | float64

    def __post_init__(self) -> None:
        if isinstance(self.rnn, dict):
            object.__setattr__(self, "rnn", RecurrentConfig.from_dict(self.rnn))
        if self.output_size <= 0:
            raise ConfigError(f"output_size must be > 0, got {self.output_size}")
        if self.vocab_size < 0 or self.embedding_dim < 0:
            raise ConfigError("vocab_size and embedding_dim must be >= 0")
        if self.embedding_dim and not self.vocab_size:
            raise ConfigError("embedding_dim needs vocab_size > 0 (token inputs)")
        if self.vocab_size:
            width = self.embedding_dim or self.vocab_size
            if self.rnn.input_size != width:
                raise ConfigError(f"rnn.input_size must be {width} for token inputs, "
                                  f"got {self.rnn.input_size}")
        if self.rnn.batch_first:
            raise ConfigError("the model is batch-first at its API; leave rnn.batch_first False")
        for name, allowed in (("readout", ("every_step", "last_step")),
                              ("loss", ("cross_entropy", "mse")),
                              ("dtype", ("float32", "float64"))):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")

    @classmethod
    def for_tokens(cls, vocab_size: int, *, embedding_dim: int = 0, **rnn: Any) -> "ModelConfig":
        """A next-token model: ids in, logits over the same vocabulary out at every step."""
        rnn_config = RecurrentConfig(input_size=embedding_dim or vocab_size, **rnn)
        return cls(rnn=rnn_config, output_size=vocab_size, vocab_size=vocab_size,
                   embedding_dim=embedding_dim)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        if not isinstance(d, dict):
            raise ConfigError(f"model config must be a JSON object, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown model config keys: {', '.join(unknown)}")
        try:
            return cls(**d)
        except TypeError as e:
            raise ConfigError(f"invalid model config: {e}") from None

    def replace(self, **changes: Any) -> "ModelConfig":
        return replace(self, **changes)


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """How to train: data chunks, truncated BPTT, optimizer, clipping, schedule, reporting."""

    steps: int = 0  # updates to make (0: until `minutes` run out)
    minutes: float = 0.0  # wall-clock budget (0: until `steps` are done)
    batch_size: int = 32  # B: parallel streams
    seq_len: int = 100  # k1: steps per chunk (one update per chunk)
    bptt_steps: int = 0  # k2: steps back-propagated per update (0: seq_len)
    optimizer: str = "adam"  # sgd | rmsprop | adagrad | adam | adamw
    lr: float = 2e-3  # base learning rate
    momentum: float = 0.0  # sgd / rmsprop momentum
    weight_decay: float = 0.0  # L2 (sgd, rmsprop, adagrad, adam) or decoupled (adamw)
    clip: float = 5.0  # clip the global gradient norm to this (0: off)
    clip_value: float = 0.0  # clip each gradient element to ±this (0: off)
    schedule: str = "constant"  # constant | step | cosine
    warmup_steps: int = 0  # cosine: linear warm-up steps
    min_lr: float = 0.0  # cosine: the rate it decays to at the last step
    step_size: int = 0  # step: multiply the rate by gamma every this many steps (0: steps/3)
    gamma: float = 0.1  # step: the decay factor
    eval_every: int = 100  # evaluate on the validation split every this many steps
    eval_chars: int = 20_000  # validation tokens read per evaluation (0: all)
    sample_every: int = 500  # print a sample every this many steps (0: never)
    sample_length: int = 200  # characters per sample
    checkpoint_every: int = 500  # write the last checkpoint every this many steps
    val_fraction: float = 0.05  # tail of the corpus held out for validation
    seed: int = 0  # seeds the one numpy.random.Generator of the run

    def __post_init__(self) -> None:
        positive = ("batch_size", "seq_len", "eval_every", "sample_length")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        nonneg = ("steps", "minutes", "bptt_steps", "clip", "clip_value", "warmup_steps",
                  "min_lr", "step_size", "gamma",
                  "eval_chars", "sample_every", "checkpoint_every", "momentum", "weight_decay")
        for name in nonneg:
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if not self.steps and not self.minutes:
            raise ConfigError("give a budget: steps > 0 or minutes > 0")
        if self.schedule in ("cosine", "step") and not self.steps:
            raise ConfigError(f"the {self.schedule} schedule needs the run's length: give steps")
        if self.bptt_steps and self.bptt_steps < self.seq_len:
            raise ConfigError(f"bptt_steps (k2) must be >= seq_len (k1) = {self.seq_len}, "
                              f"got {self.bptt_steps}")
        if not 0.0 < self.val_fraction < 0.5:
            raise ConfigError(f"val_fraction must be in (0, 0.5), got {self.val_fraction}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"unknown training config keys: {', '.join(unknown)}")
        return cls(**d)
