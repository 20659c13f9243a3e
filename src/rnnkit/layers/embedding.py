"""Token inputs: a learned embedding table, or one-hot vectors.

    embedding:  x_t = E[id_t]              dE[v] = Σ_{t,b: id=v} dx_t     (a scatter-add)
    one-hot:    x_t = e_{id_t} ∈ {0,1}^V   (no parameters)

Shapes: ``ids: [T, B]`` integers in [0, V); outputs ``[T, B, E]`` (``[T, B, V]`` one-hot).
``model_inputs`` turns a model's batch-first input (``[B, T]`` ids or ``[B, T, I]`` vectors)
into these time-major ids and vectors.
"""

import numpy as np

from ..errors import ShapeError


def check_ids(ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """``ids`` as an integer array, with a clear error for floats or out-of-range ids."""
    ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise ShapeError(f"token ids must be integers, got dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        bad = ids[(ids < 0) | (ids >= vocab_size)].flat[0]
        raise ShapeError(f"token id {bad} is outside the vocabulary [0, {vocab_size})")
    return ids


def one_hot(ids: np.ndarray, vocab_size: int, dtype) -> np.ndarray:
    """``[..., V]`` one-hot rows for integer ``ids``."""
    out = np.zeros(ids.shape + (vocab_size,), dtype=dtype)
    np.put_along_axis(out, ids[..., None], 1, axis=-1)
    return out


def embed_forward(E: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """x = E[ids]: ``[..., D]``."""
    return E[ids]


def embed_backward(E: np.ndarray, ids: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """dE: rows of ``dx`` summed into the rows their ids picked."""
    dE = np.zeros_like(E)
    np.add.at(dE, ids.reshape(-1), dx.reshape(-1, E.shape[1]))
    return dE


def model_inputs(
    x: np.ndarray,
    *,
    vocab_size: int,
    input_size: int,
    dtype,
    embedding: np.ndarray | None = None,
    one_hot_rows: bool = True,
) -> tuple[np.ndarray | None, np.ndarray]:
    """(ids ``[T, B]`` or None, xs ``[T, B, I]``) from a batch-first model input.

    With ``vocab_size`` V > 0, ``x: [B, T]`` holds token ids, read through ``embedding``
    ``[V, E]`` when given, else as one-hot rows of width V (or, with ``one_hot_rows=False``,
    xs is the ids themselves, for a recurrent layer, which takes ids); otherwise
    ``x: [B, T, I]`` holds vectors of ``input_size`` I features, cast to ``dtype``.
    """
    x = np.asarray(x)
    if vocab_size:
        if x.ndim != 2:
            raise ShapeError(f"token input must be [B, T] ids, got shape {x.shape}")
        ids = check_ids(x, vocab_size).T
        if embedding is not None:
            return ids, embed_forward(embedding, ids)
        return ids, one_hot(ids, vocab_size, dtype) if one_hot_rows else ids
    if x.ndim != 3 or x.shape[-1] != input_size:
        raise ShapeError(f"input must be [B, T, I] with I = {input_size}, got {x.shape}")
    return None, x.swapaxes(0, 1).astype(dtype, copy=False)
