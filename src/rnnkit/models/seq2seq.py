"""Sequence to sequence: an encoder reads the source, its final state starts a decoder.

    encoder:   e_s = E_src[x_s];  (h_S) = Recurrent_enc(e_1..e_S)       (each source's own S_b)
    decoder:   d_u = E_tgt[y_{u−1}] (y_0 = BOS);  h_u = Recurrent_dec(d_u; h_0 = h_S)
    readout:   z_u = W h_u + b;   p(y_u | y_<u, x) = softmax(z_u)
    loss:      L = − Σ_{b,u ≤ U_b} log p(y_u) / N   (targets y_1..y_{U_b}, EOS)

Training uses teacher forcing (the decoder reads the true previous token).  The backward pass
runs the decoder's BPTT, whose ∂L/∂h_0 is the encoder's ∂L/∂(final state)::

    (∂L/∂d, ∂L/∂h_0, dθ_dec) = decoder.backward(∂L/∂z)
    (∂L/∂e, _, dθ_enc)       = encoder.backward(0, d_final_state = ∂L/∂h_0)
    ∂L/∂E[v]                 = Σ of ∂L/∂e (∂L/∂d) over the positions holding v

Decoding: greedy (the most probable token each step) or beam search (the K most probable
prefixes by summed log-probability; a finished hypothesis only extends with EOS at no cost,
so beam 1 is greedy).  Ids: PAD 0, BOS 1, EOS 2 (``rnnkit.data.synthetic``).

Shapes: source ids ``[B, S]``, target ids ``[B, U]`` (batch-first), logits ``[B, U + 1, V]``.
"""

from dataclasses import asdict, dataclass, fields
from typing import Any, NamedTuple

import numpy as np

from ..config import ModelConfig
from ..data.synthetic import BOS, EOS, PAD, Seq2SeqBatch
from ..errors import ConfigError, ShapeError
from ..layers.embedding import check_ids, embed_backward, embed_forward
from ..layers.losses import log_softmax, softmax_cross_entropy
from ..layers.recurrent import Recurrent, RecurrentConfig
from .model import Model


@dataclass(frozen=True, kw_only=True)
class Seq2SeqConfig:
    """An encoder–decoder over one shared vocabulary (JSON-serialisable)."""

    vocab_size: int  # V: ids in [0, V), PAD, BOS and EOS included
    embedding_dim: int = 32  # E: width of the source and target embeddings
    cell: str = "lstm"  # cell of both recurrent layers (they share the state's shape)
    hidden_size: int = 128  # H
    num_layers: int = 1  # L: stacked layers in both
    dtype: str = "float32"  # float32 | float64

    def __post_init__(self) -> None:
        if self.vocab_size <= EOS:
            raise ConfigError(f"vocab_size must exceed the 3 special ids, got {self.vocab_size}")
        if self.embedding_dim <= 0:
            raise ConfigError(f"embedding_dim must be > 0, got {self.embedding_dim}")

    def rnn(self) -> RecurrentConfig:
        forget_bias = 1.0 if self.cell == "lstm" else 0.0
        return RecurrentConfig(
            cell=self.cell,
            input_size=self.embedding_dim,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            forget_bias=forget_bias,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Seq2SeqConfig":
        """The config of ``to_dict``'s object; ConfigError names an unknown key or bad value."""
        if not isinstance(d, dict):
            raise ConfigError(f"seq2seq config must be a JSON object, got {type(d).__name__}")
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"unknown seq2seq config keys: {', '.join(unknown)}")
        try:
            return cls(**d)
        except TypeError as e:
            raise ConfigError(f"invalid seq2seq config: {e}") from None


class Seq2SeqCache(NamedTuple):
    src: np.ndarray  # [S, B] source ids
    encoder: Any  # the encoder layer's cache
    decoder: Any  # the decoder model's cache
    hidden: np.ndarray  # [S, B, H] zeros: the encoder outputs receive no gradient


class Seq2Seq:
    """Encoder–decoder with hand-written BPTT through both.

    ``params`` holds every array under ``encoder.…`` / ``decoder.…`` names; they are the very
    arrays the layers compute with, so in-place optimizer updates reach them.
    """

    def __init__(
        self,
        config: Seq2SeqConfig,
        *,
        rng: np.random.Generator,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.meta = dict(meta or {})  # JSON-able extras saved with the model (the task)
        self.dtype = np.dtype(config.dtype)
        rnn = config.rnn()
        self.encoder = Recurrent(rnn, rng=rng, dtype=self.dtype)
        self.src_embedding = rng.standard_normal((config.vocab_size, config.embedding_dim))
        self.src_embedding = self.src_embedding.astype(self.dtype)
        self.decoder = Model(
            ModelConfig(
                rnn=rnn,
                output_size=config.vocab_size,
                vocab_size=config.vocab_size,
                embedding_dim=config.embedding_dim,
                dtype=config.dtype,
            ),
            rng=rng,
        )
        self.params = {"encoder.embedding.weight": self.src_embedding}
        self.params |= {f"encoder.rnn.{n}": w for n, w in self.encoder.params.items()}
        self.params |= {f"decoder.{n}": w for n, w in self.decoder.params.items()}

    def num_parameters(self) -> int:
        return int(sum(w.size for w in self.params.values()))

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every parameter as a NumPy array (a copy) under its name."""
        return {n: w.copy() for n, w in self.params.items()}

    def load_state_dict(self, params: dict[str, np.ndarray]) -> None:
        """Copy ``params`` into the model's arrays (names and shapes checked)."""
        copy_params(self.params, params)

    # -- teacher-forced training --------------------------------------------------------------

    def encode(self, src: np.ndarray, src_lengths: np.ndarray) -> tuple[Any, Any]:
        """(final encoder state ``[L, B, H]`` (pair for LSTM), cache) of source ids ``[B, S]``."""
        ids = check_ids(src, self.config.vocab_size).T
        xs = embed_forward(self.src_embedding, ids)  # [S, B, E]
        hs, state, cache = self.encoder.forward(xs, lengths=np.asarray(src_lengths))
        return state, (ids, cache, hs)

    def forward(self, batch: Seq2SeqBatch) -> tuple[np.ndarray, Seq2SeqCache]:
        """Teacher-forced logits ``[B, U + 1, V]``: step u predicts y_u from y_<u (BOS first)."""
        state, (ids, enc_cache, hs) = self.encode(batch.src, batch.src_lengths)
        dec_in = decoder_inputs(batch.tgt)
        logits, _, dec_cache = self.decoder.forward(dec_in, state)
        return logits, Seq2SeqCache(ids, enc_cache, dec_cache, np.zeros_like(hs))

    def loss(self, batch: Seq2SeqBatch) -> tuple[float, np.ndarray, Seq2SeqCache]:
        """(mean cross-entropy per target token, ∂L/∂logits, cache)."""
        logits, cache = self.forward(batch)
        targets, mask = decoder_targets(batch.tgt, batch.tgt_lengths)
        loss, dlogits = softmax_cross_entropy(logits, targets, mask)
        return loss, dlogits, cache

    def backward(self, cache: Seq2SeqCache, dlogits: np.ndarray) -> dict[str, np.ndarray]:
        """Gradients of every parameter (keyed like ``params``) from ∂L/∂logits."""
        dec_grads, d_state0 = self.decoder.backward(cache.decoder, dlogits)
        d_xs, _, enc_grads = self.encoder.backward(cache.encoder, cache.hidden, d_state0)
        assert d_xs is not None  # need_dx=True
        grads = {"encoder.embedding.weight": embed_backward(self.src_embedding, cache.src, d_xs)}
        grads |= {f"encoder.rnn.{n}": g for n, g in enc_grads.items()}
        grads |= {f"decoder.{n}": g for n, g in dec_grads.items()}
        return grads

    # -- decoding -----------------------------------------------------------------------------

    def _step(self, tokens: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        """(log-probabilities ``[N, V]`` in float64, next state) after feeding ``tokens [N]``."""
        logits, state, _ = self.decoder.forward(tokens[:, None], state)
        return log_softmax(logits[:, 0].astype(np.float64)), state

    def greedy(self, src: np.ndarray, src_lengths: np.ndarray, max_len: int) -> np.ndarray:
        """Ids ``[B, ≤ max_len + 1]``: the most probable token each step; EOS after the end."""
        state, _ = self.encode(src, src_lengths)
        B = len(src_lengths)
        tokens, done, out = np.full(B, BOS), np.zeros(B, dtype=bool), []
        for _ in range(max_len + 1):
            logp, state = self._step(tokens, state)
            tokens = np.where(done, EOS, logp.argmax(axis=-1))
            out.append(tokens)
            done |= tokens == EOS
            if done.all():
                break
        return np.stack(out, axis=1)

    def beam(
        self, src: np.ndarray, src_lengths: np.ndarray, max_len: int, width: int
    ) -> np.ndarray:
        """Ids ``[B, ≤ max_len + 1]`` of the most probable of ``width`` beams per source."""
        if width < 1:
            raise ConfigError(f"beam width must be >= 1, got {width}")
        state, _ = self.encode(src, src_lengths)
        B, K, V = len(src_lengths), width, self.config.vocab_size
        state = _take_state(state, np.repeat(np.arange(B), K))  # [L, B·K, H]
        scores = np.full((B, K), -np.inf)
        scores[:, 0] = 0.0  # one live hypothesis to start from
        tokens = np.full(B * K, BOS)
        history = np.zeros((B, K, 0), dtype=np.int64)
        finished = np.zeros((B, K), dtype=bool)
        eos_only = np.full(V, -np.inf)
        eos_only[EOS] = 0.0  # a finished hypothesis extends with EOS at no cost
        for _ in range(max_len + 1):
            logp, state = self._step(tokens, state)
            logp = logp.reshape(B, K, V)
            logp[finished] = eos_only
            total = (scores[:, :, None] + logp).reshape(B, K * V)
            best = np.argsort(-total, axis=1, kind="stable")[:, :K]  # ties: lowest index first
            parent, tok = np.divmod(best, V)
            scores = np.take_along_axis(total, best, axis=1)
            history = np.concatenate(
                [np.take_along_axis(history, parent[..., None], axis=1), tok[..., None]], axis=2
            )
            finished = np.take_along_axis(finished, parent, axis=1) | (tok == EOS)
            state = _take_state(state, (parent + K * np.arange(B)[:, None]).reshape(-1))
            tokens = tok.reshape(-1)
            if finished.all():
                break
        return history[:, 0]


def copy_params(params: dict[str, np.ndarray], new: dict[str, np.ndarray]) -> None:
    """Copy ``new`` into the arrays of ``params`` in place (same names and shapes, else
    ShapeError): the layers keep computing with the very arrays they hold."""
    if set(new) != set(params):
        missing, unexpected = set(params) - set(new), set(new) - set(params)
        raise ShapeError(
            f"parameters do not match: missing {sorted(missing)}, unexpected {sorted(unexpected)}"
        )
    for n, w in params.items():
        if np.shape(new[n]) != w.shape:
            raise ShapeError(f"parameter {n} must have shape {w.shape}, got {np.shape(new[n])}")
        w[...] = new[n]


def decoder_inputs(tgt: np.ndarray) -> np.ndarray:
    """``[B, U + 1]``: BOS, then the target ids (PAD stays PAD)."""
    tgt = np.asarray(tgt)
    return np.concatenate([np.full((len(tgt), 1), BOS, dtype=tgt.dtype), tgt], axis=1)


def decoder_targets(tgt: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(targets ``[B, U + 1]``: the ids then EOS at each length, mask of the counted steps)."""
    tgt, lengths = np.asarray(tgt), np.asarray(lengths)
    B, U = tgt.shape
    out = np.concatenate([tgt, np.full((B, 1), PAD, dtype=tgt.dtype)], axis=1)
    out[np.arange(B), lengths] = EOS
    mask = np.arange(U + 1)[None, :] <= lengths[:, None]
    return out, mask


def _take_state(state: Any, index: np.ndarray) -> Any:
    """The state (array or tuple of arrays ``[L, N, ·]``) at batch rows ``index``."""
    if isinstance(state, tuple):
        return tuple(s[:, index] for s in state)
    return state[:, index]


def exact_match(predicted: np.ndarray, batch: Seq2SeqBatch) -> np.ndarray:
    """``[B]`` bools: the predicted ids up to their first EOS equal the target, EOS included."""
    B, U = batch.tgt.shape
    width = max(predicted.shape[1], U + 1)
    pred = np.full((B, width), PAD, dtype=np.int64)
    pred[:, : predicted.shape[1]] = predicted
    targets, mask = decoder_targets(batch.tgt, batch.tgt_lengths)
    want = np.full((B, width), PAD, dtype=np.int64)
    want[:, : U + 1] = np.where(mask, targets, PAD)
    ends = np.argmax(pred == EOS, axis=1)
    has_end = (pred == EOS).any(axis=1)
    pred = np.where(np.arange(width)[None, :] <= ends[:, None], pred, PAD)
    return has_end & (pred == want).all(axis=1)
