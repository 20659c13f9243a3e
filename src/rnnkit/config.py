"""Model and training configuration: frozen dataclasses, one comment per field, JSON round trip.

Every field is checked on construction — its type (an int field takes an int, a float field
an int or a float, never a bool or a string), its range, and that floats are finite — so a
config read from a JSON file or a checkpoint is as safe as one written in code.
``read_config_file`` reads such a JSON object of option names for ``rnnkit train --config``.
"""

import difflib
import inspect
import json
import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError

NONFINITE_ACTIONS = ("skip", "reduce-lr", "stop")
"""What training does when a loss or gradient is NaN/Inf (``TrainConfig.on_nonfinite``)."""


# ----------------------------------------------------------------------------- cells and layers

CELL_NAMES = ("elman", "jordan", "fully_recurrent", "lstm", "gru")
"""Every cell rnnkit implements; also the accepted values of ``--cell``."""

JORDAN_FEEDBACK = ("output", "softmax")
"""What a Jordan cell feeds back: its output y_{t−1} itself, or softmax(y_{t−1})."""

ALIASES = {"rnn": "elman", "frnn": "fully_recurrent", "fully-recurrent": "fully_recurrent"}


@dataclass(frozen=True, kw_only=True)
class CellOptions:
    """Options of one recurrent cell; each cell reads the fields that concern it."""

    nonlinearity: str = "tanh"  # elman / jordan / fully_recurrent: "tanh" | "relu"
    init: str = "uniform"  # recurrent weights: uniform (PyTorch) | orthogonal | identity (IRNN)
    peepholes: bool = False  # lstm: diagonal peepholes (i, f see c_{t-1}; o sees c_t)
    forget_bias: float = 0.0  # lstm: added to the forget gate's bias_ih at initialisation
    chrono_init: int = 0  # lstm / gru: > 0 sets the gate biases for lags up to this (Tallec 2018)
    reset_after: bool = True  # gru: r ⊙ (W_hn h + b_hn) (PyTorch) or W_hn (r ⊙ h) (Cho v3)
    layer_norm: bool = False  # lstm / gru: layer normalisation of each gate (Ba et al. 2016)
    output_size: int = 0  # jordan / fully_recurrent: number of output units (0: same as hidden)
    jordan_feedback: str = "output"  # jordan: y_{t-1} fed back as is ("output") | "softmax"
    linear_outputs: bool = False  # fully_recurrent: output units y = a (hidden units act(a))

    def __post_init__(self) -> None:
        if self.nonlinearity not in ("tanh", "relu"):
            raise ConfigError(f"nonlinearity must be 'tanh' or 'relu', got {self.nonlinearity!r}")
        if self.init not in ("uniform", "orthogonal", "identity"):
            raise ConfigError(
                f"init must be 'uniform', 'orthogonal' or 'identity', got {self.init!r}"
            )
        if self.chrono_init < 0 or 0 < self.chrono_init < 3:
            raise ConfigError(f"chrono_init must be 0 (off) or >= 3, got {self.chrono_init}")
        if self.chrono_init and self.forget_bias:
            raise ConfigError("chrono_init sets the forget-gate bias itself; leave forget_bias 0")
        if self.jordan_feedback not in JORDAN_FEEDBACK:
            raise ConfigError(
                f"jordan_feedback must be 'output' or 'softmax', got {self.jordan_feedback!r}"
            )
        if self.output_size < 0:
            raise ConfigError(f"output_size must be >= 0, got {self.output_size}")


def canonical_name(name: str) -> str:
    """The registry name of a cell, accepting aliases such as ``rnn`` and ``frnn``."""
    key = ALIASES.get(name.lower(), name.lower())
    if key not in CELL_NAMES:
        choices = ", ".join(CELL_NAMES)
        raise ConfigError(f"unknown cell {name!r}; choose one of: {choices}")
    return key


@dataclass(frozen=True, kw_only=True)
class LayerOptions(CellOptions):
    """A recurrent layer's options besides its sizes: the cell, the stack and dropout."""

    cell: str = "lstm"  # elman | jordan | fully_recurrent | lstm | gru
    num_layers: int = 1  # L: stacked layers
    bidirectional: bool = False  # D = 2: a second pass reads the sequence backwards
    dropout: float = 0.0  # dropout on the outputs of every layer but the last (training only)
    recurrent_dropout: float = 0.0  # variational: one mask on the recurrent input for all steps

    def __post_init__(self) -> None:
        object.__setattr__(self, "cell", canonical_name(self.cell))
        if self.num_layers <= 0:
            raise ConfigError(f"num_layers must be > 0, got {self.num_layers}")
        for name in ("dropout", "recurrent_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        CellOptions.__post_init__(self)

    def cell_options(self) -> CellOptions:
        """The options the cell itself reads."""
        return CellOptions(**{f.name: getattr(self, f.name) for f in fields(CellOptions)})


@dataclass(frozen=True, kw_only=True)
class RecurrentConfig(LayerOptions):
    """Configuration of a recurrent layer (JSON-serialisable): its sizes and its options."""

    input_size: int  # I: features per step
    hidden_size: int  # H: units per layer and direction
    batch_first: bool = False  # public arrays are [B, T, ·] instead of [T, B, ·]

    def __post_init__(self) -> None:
        for name in ("input_size", "hidden_size"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        LayerOptions.__post_init__(self)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RecurrentConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown recurrent config keys: {', '.join(unknown)}")
        return cls(**d)


@dataclass(frozen=True, kw_only=True)
class CharModelOptions(LayerOptions):
    """The character model's options besides training: its layer, input and text.

    ``cell`` may also be ``ffnn``, the feed-forward baseline (``rnnkit.models.ffnn``), which reads
    ``hidden_size``, ``num_layers`` and ``nonlinearity`` and has no use for the recurrent
    options.  The model is one-directional: a next-character model cannot read ahead.
    ``tokens="words"`` models words instead (``rnnkit.data.words``, ``jobs.charmodel``).
    """

    cell: str = "lstm"  # elman | jordan | fully_recurrent | lstm | gru | ffnn (the baseline)
    hidden_size: int = 256  # H: units per layer (ffnn: per hidden layer)
    embedding_dim: int = 0  # learned embedding width (0: one-hot characters, 64 for words)
    dtype: str = "float32"  # float32 | float64
    max_chars: int = 0  # use only the first N characters of the text (0: all)
    window: int = 16  # ffnn: the last characters (words, with --tokens words) it reads
    tokens: str = "chars"  # chars | words: what the model reads and predicts
    vocab_size: int = 10_000  # words: keep the N most frequent training words (others: <unk>)
    min_count: int = 2  # words: leave out words seen fewer times in the training part
    lowercase: bool = False  # words: lowercase the text before splitting it into words


# ----------------------------------------------------------------------------- models


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """Input → recurrent layer → linear readout.

    Inputs are token ids when ``vocab_size > 0`` (one-hot, or a learned embedding of width
    ``embedding_dim``), otherwise real vectors of ``rnn.input_size`` features.  A Jordan
    layer has no separate readout: its own output layer is the model's, so its
    ``rnn.output_size`` is ``output_size`` (filled in when 0) and it reads one direction.
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
            _check_types(RecurrentConfig, self.rnn, "model config rnn")
            object.__setattr__(self, "rnn", RecurrentConfig.from_dict(self.rnn))
        if not isinstance(self.rnn, RecurrentConfig):
            raise ConfigError(f"rnn must be a RecurrentConfig or an object, got {self.rnn!r}")
        _check_types(RecurrentConfig, asdict(self.rnn), "model config rnn")
        _check_types(
            ModelConfig,
            {f.name: getattr(self, f.name) for f in fields(self) if f.name != "rnn"},
            "model config",
        )
        if self.output_size <= 0:
            raise ConfigError(f"output_size must be > 0, got {self.output_size}")
        if self.vocab_size < 0 or self.embedding_dim < 0:
            raise ConfigError("vocab_size and embedding_dim must be >= 0")
        if self.embedding_dim and not self.vocab_size:
            raise ConfigError("embedding_dim needs vocab_size > 0 (token inputs)")
        if self.vocab_size:
            width = self.embedding_dim or self.vocab_size
            if self.rnn.input_size != width:
                raise ConfigError(
                    f"rnn.input_size must be {width} for token inputs, got {self.rnn.input_size}"
                )
        if self.rnn.batch_first:
            raise ConfigError("the model is batch-first at its API; leave rnn.batch_first False")
        if self.rnn.cell == "jordan":
            self._check_jordan()
        for name, allowed in (
            ("readout", ("every_step", "last_step")),
            ("loss", ("cross_entropy", "mse")),
            ("dtype", ("float32", "float64")),
        ):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")

    def _check_jordan(self) -> None:
        """A Jordan model's output units are its outputs: rnn.output_size = output_size.

        0 is filled in; another width, or two directions (each would feed back its own half
        of a 2·O-wide output, which no loss sees as the network's output), is a ConfigError.
        """
        if self.rnn.bidirectional:
            raise ConfigError(
                "a Jordan model cannot be bidirectional: it feeds back its own output, and a "
                "backward pass's y is not the network's output; use one direction, or an "
                "Elman/LSTM/GRU cell for a bidirectional model"
            )
        if self.rnn.output_size == 0:
            object.__setattr__(self, "rnn", replace(self.rnn, output_size=self.output_size))
        elif self.rnn.output_size != self.output_size:
            raise ConfigError(
                f"a Jordan model's output units are its outputs: rnn.output_size must be 0 or "
                f"output_size = {self.output_size}, got {self.rnn.output_size}"
            )

    @classmethod
    def for_tokens(cls, vocab_size: int, *, embedding_dim: int = 0, **rnn: Any) -> "ModelConfig":
        """A next-token model: ids in, logits over the same vocabulary out at every step."""
        rnn_config = RecurrentConfig(input_size=embedding_dim or vocab_size, **rnn)
        return cls(
            rnn=rnn_config,
            output_size=vocab_size,
            vocab_size=vocab_size,
            embedding_dim=embedding_dim,
        )

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
class Optimization:
    """How one update is made from a batch's gradients."""

    optimizer: str = "adam"  # sgd | rmsprop | adagrad | adam | adamw
    lr: float = 2e-3  # base learning rate
    momentum: float = 0.0  # sgd / rmsprop momentum
    weight_decay: float = 0.0  # L2 (sgd, rmsprop, adagrad, adam) or decoupled (adamw)
    clip: float = 5.0  # clip the global gradient norm to this (0: off)
    clip_value: float = 0.0  # clip each gradient element to ±this (0: off)
    schedule: str = "constant"  # constant | step | cosine (over the budget's updates)
    warmup_steps: int = 0  # cosine: linear warm-up updates
    min_lr: float = 0.0  # cosine: the rate it decays to at the last update
    step_size: int = 0  # step: multiply the rate by gamma every this many updates (0: 1/3)
    gamma: float = 0.1  # step: the decay factor
    on_nonfinite: str = "skip"  # a NaN/Inf loss or gradient: skip | reduce-lr | stop
    nonfinite_lr_factor: float = 0.5  # reduce-lr: multiply the rate by this each time
    max_nonfinite: int = 10  # skip / reduce-lr: stop after this many in a row

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        for name in (
            "clip",
            "clip_value",
            "momentum",
            "weight_decay",
            "warmup_steps",
            "min_lr",
            "step_size",
            "gamma",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.on_nonfinite not in NONFINITE_ACTIONS:
            raise ConfigError(
                f"on_nonfinite must be one of {', '.join(NONFINITE_ACTIONS)}, "
                f"got {self.on_nonfinite!r}"
            )
        if not 0.0 < self.nonfinite_lr_factor < 1.0:
            raise ConfigError(
                f"nonfinite_lr_factor must be in (0, 1), got {self.nonfinite_lr_factor}"
            )
        if self.max_nonfinite < 1:
            raise ConfigError(f"max_nonfinite must be >= 1, got {self.max_nonfinite}")

    @classmethod
    def of(cls, config: Any, **overrides: Any) -> "Optimization":
        """The fields of this class that ``config`` has (by name), with ``overrides``."""
        return cls(**{**shared_fields(cls, config), **overrides})


@dataclass(frozen=True, kw_only=True)
class TrainConfig(Optimization):
    """How to train: data chunks, truncated BPTT, optimizer, clipping, schedule, reporting."""

    steps: int = 0  # updates to make, counted from the run's start (0: until `minutes` run out)
    minutes: float = 0.0  # wall-clock budget (0: until `steps` are done)
    batch_size: int = 32  # B: parallel streams
    seq_len: int = 100  # k1: steps per chunk (one update per chunk)
    bptt_steps: int = 0  # k2: steps back-propagated per update (0: seq_len)
    eval_every: int = 100  # evaluate on the validation split every this many steps
    eval_chars: int = 20_000  # validation tokens read per evaluation (0: all)
    sample_every: int = 500  # print a sample every this many steps (0: never)
    sample_length: int = 200  # characters per sample
    checkpoint_every: int = 500  # write the last checkpoint every this many steps
    val_fraction: float = 0.05  # tail of the corpus held out for validation
    seed: int = 0  # seeds the one numpy.random.Generator of the run

    def __post_init__(self) -> None:
        _check_types(
            TrainConfig, {f.name: getattr(self, f.name) for f in fields(self)}, "training config"
        )
        Optimization.__post_init__(self)
        positive = ("batch_size", "seq_len", "eval_every", "sample_length")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        nonneg = (
            "steps",
            "minutes",
            "bptt_steps",
            "eval_chars",
            "sample_every",
            "checkpoint_every",
            "seed",
        )
        for name in nonneg:
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.steps and not self.minutes:
            raise ConfigError("give a budget: steps > 0 or minutes > 0")
        if self.schedule in ("cosine", "step") and not self.steps:
            raise ConfigError(f"the {self.schedule} schedule needs the run's length: give steps")
        if self.bptt_steps and self.bptt_steps < self.seq_len:
            raise ConfigError(
                f"bptt_steps (k2) must be >= seq_len (k1) = {self.seq_len}, got {self.bptt_steps}"
            )
        if not 0.0 < self.val_fraction < 0.5:
            raise ConfigError(f"val_fraction must be in (0, 0.5), got {self.val_fraction}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        if not isinstance(d, Mapping):
            raise ConfigError(f"training config must be a JSON object, got {type(d).__name__}")
        _check_keys(d, option_types(cls), "training config")
        return cls(**d)


# ----------------------------------------------------------------------------- checking


def shared_fields(cls: type, config: Any) -> dict[str, Any]:
    """{name: value} of the fields of dataclass ``cls`` that ``config`` also has."""
    return {f.name: getattr(config, f.name) for f in fields(cls) if hasattr(config, f.name)}


def field_help(cls: type) -> dict[str, str]:
    """{field name: the comment written after it} for a config dataclass and its bases.

    The comment is the field's documentation and the help text the command line shows for
    it, so it is written once; a comment continued on the next lines (``#   …``) is joined.
    """
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not hasattr(klass, "__dataclass_fields__") or klass is object:
            continue
        lines = inspect.getsource(klass).splitlines()
        for k, line in enumerate(lines):
            m = _FIELD_LINE.match(line)
            if not m:
                continue
            text = [m.group(2).strip()]
            for more in lines[k + 1 :]:
                cont = _CONTINUED.match(more)
                if not cont:
                    break
                text.append(cont.group(1).strip())
            out[m.group(1)] = " ".join(text)
    return out


_FIELD_LINE = re.compile(r"^    (\w+): [^#=]+(?:=[^#]*)?#\s?(.*)$")
_CONTINUED = re.compile(r"^\s+#\s+(.*)$")


def option_types(cls: type) -> dict[str, type]:
    """{field name: int | float | str | bool} of a config dataclass (other fields left out)."""
    simple = {"int": int, "float": float, "str": str, "bool": bool}
    return {
        f.name: simple[f.type if isinstance(f.type, str) else f.type.__name__]
        for f in fields(cls)
        if (f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")) in simple
    }


def check_option(name: str, value: Any, kind: type, where: str) -> None:
    """ConfigError unless ``value`` is a ``kind`` (an int counts as a float; a float is finite)."""
    boolean = isinstance(value, bool) or type(value).__name__ == "bool_"  # NumPy's too
    if kind is float:
        ok = isinstance(value, numbers.Real) and not boolean
        if ok and not math.isfinite(value):
            raise ConfigError(f"{where}: {name} must be a finite number, got {value!r}")
    elif kind is int:
        ok = isinstance(value, numbers.Integral) and not boolean
    elif kind is bool:
        ok = boolean
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise ConfigError(f"{where}: {name} must be {_KIND_NAMES[kind]}, got {_preview(value)}")


_KIND_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def _check_types(cls: type, values: Mapping[str, Any], where: str) -> None:
    kinds = option_types(cls)
    for name, value in values.items():
        if name in kinds:
            check_option(name, value, kinds[name], where)


def _check_keys(d: Mapping[str, Any], known: Mapping[str, Any], where: str) -> None:
    """ConfigError naming every key of ``d`` not in ``known`` (with the closest known name)."""
    unknown = sorted((str(k) for k in d if k not in known), key=str)
    if unknown:
        hints = []
        for k in unknown:
            close = difflib.get_close_matches(k, [str(n) for n in known], n=1)
            hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(hints)}; known keys: {', '.join(sorted(known))}"
        )


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def read_config_file(
    path: str | Path, kinds: Mapping[str, type], max_bytes: int = 1 << 20
) -> dict[str, Any]:
    """The JSON object in ``path``, every key one of ``kinds`` and its value of that kind.

    ``kinds`` maps option names to int | float | str | bool.  Any problem — a missing or
    unreadable file, a file over ``max_bytes``, bytes that are not UTF-8, JSON that does not
    parse (line and column named), a value that is not an object, an unknown key (named, with
    the closest known one), a value of the wrong kind — is one ``ConfigError``.
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config file ({e.strerror or e})") from None
    if len(data) > max_bytes:
        raise ConfigError(
            f"{path}: config file larger than {max_bytes} bytes; "
            "a config is a small JSON object of option names"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"{path}: byte {e.start} is not UTF-8; save the config as UTF-8 JSON"
        ) from None
    try:
        d = json.loads(text, parse_constant=_no_constant, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as e:
        raise ConfigError(
            f"{path}: line {e.lineno}, column {e.colno}: not valid JSON ({e.msg})"
        ) from None
    except (ValueError, RecursionError) as e:
        raise ConfigError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(d, dict):
        raise ConfigError(
            f'{path}: a config file holds a JSON object {{"option": value}}, '
            f"got {type(d).__name__}"
        )
    _check_keys(d, kinds, str(path))
    for name, value in d.items():
        check_option(name, value, kinds[name], str(path))
    return d


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not standard JSON")


def _no_duplicates(pairs: list) -> dict:
    keys = [k for k, _ in pairs]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ValueError(f"key(s) given twice: {', '.join(twice)}")
    return dict(pairs)
