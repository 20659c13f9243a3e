"""Weight initialisations shared by the cells.

* ``uniform``: every weight and bias U(−1/√H, 1/√H), as PyTorch's RNN, LSTM and GRU.
* ``orthogonal``: each H×H block of a recurrent matrix a random orthogonal matrix
  (Saxe et al. 2014), which keeps ‖W_hh v‖ = ‖v‖ at the start of training.
* ``identity``: each H×H block of a recurrent matrix the identity and the recurrent bias 0
  (IRNN, Le et al. 2015: with ReLU, the state is copied forward until learning changes it).
  The Elman cell follows the paper whole: its biases are 0 and its input weights are drawn
  from ``gaussian(IRNN_STD)`` — "the non-recurrent weights are initialized with a random
  matrix, whose entries are sampled from a Gaussian distribution with mean of zero and
  standard deviation of 0.001" (section 4.1).  The other cells take only the identity
  blocks from it: the LSTM's and GRU's input weights and biases stay as PyTorch draws them
  (their gates, not the identity, carry the state), and the fully recurrent and Jordan
  nets zero their biases but keep uniform input weights.
* ``chrono``: gate biases b = log U(1, T_max − 1), one per unit (Tallec & Ollivier 2018,
  "Can recurrent neural networks warp time?").  A gate σ(b) that keeps the state then lets
  unit j forget over ≈ 1 + e^{b_j} steps, so the units' memory times spread over [2, T_max).
"""

import numpy as np

IRNN_STD = 1e-3  # standard deviation of the IRNN's non-recurrent weights (Le et al. 2015)


def uniform(rng: np.random.Generator, shape: tuple, hidden_size: int, dtype) -> np.ndarray:
    """U(−1/√H, 1/√H) of ``shape``."""
    k = 1.0 / np.sqrt(hidden_size)
    return rng.uniform(-k, k, size=shape).astype(dtype)


def gaussian(rng: np.random.Generator, shape: tuple, std: float, dtype) -> np.ndarray:
    """N(0, std²) of ``shape``."""
    return (std * rng.standard_normal(size=shape)).astype(dtype)


def orthogonal(rng: np.random.Generator, n: int, dtype) -> np.ndarray:
    """A random n×n orthogonal matrix, uniformly distributed (QR with sign correction)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return (q * np.sign(np.diag(r))).astype(dtype)


def chrono(rng: np.random.Generator, hidden_size: int, t_max: int, dtype) -> np.ndarray:
    """``[H]`` biases log U(1, T_max − 1) (Tallec & Ollivier 2018)."""
    return np.log(rng.uniform(1.0, t_max - 1.0, size=hidden_size)).astype(dtype)


def recurrent(
    rng: np.random.Generator, shape: tuple, hidden_size: int, init: str, dtype
) -> np.ndarray:
    """A recurrent weight ``[k·n, n]`` made of k square blocks initialised by ``init``."""
    if init == "uniform" or shape[0] % shape[1]:
        return uniform(rng, shape, hidden_size, dtype)
    n = shape[1]
    make = (
        (lambda: orthogonal(rng, n, dtype))
        if init == "orthogonal"
        else (lambda: np.eye(n, dtype=dtype))
    )
    return np.concatenate([make() for _ in range(shape[0] // n)], axis=0)
