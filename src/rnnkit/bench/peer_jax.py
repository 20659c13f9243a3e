"""JAX peer: the same cells written in ``jax.numpy``, scanned with ``lax.scan``, all jitted.

A training step is one jitted function: forward scan over T, readout, loss,
``value_and_grad`` through the scan, and an Adam update of every parameter.
"""

from collections.abc import Callable

import numpy as np

from .configs import GATES, Config


def load():
    """(jax, jax.numpy, jax.lax) — ImportError when JAX is not installed."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    return jax, jnp, lax


def _cell(cell: str, jnp):
    """step(p, h_state, ax_t) -> (new state, h_t) with PyTorch's gate order."""

    def lstm(p, s, ax):
        h, c = s
        a = ax + h @ p["W_hh"].T
        i, f, g, o = jnp.split(a, 4, axis=-1)
        i, f, o, g = _sig(jnp, i), _sig(jnp, f), _sig(jnp, o), jnp.tanh(g)
        c = f * c + i * g
        h = o * jnp.tanh(c)
        return (h, c), h

    def gru(p, s, ax):
        (h,) = s
        q = h @ p["W_hh"].T + p["b_hh"]
        H = h.shape[-1]
        r = _sig(jnp, ax[:, :H] + q[:, :H])
        z = _sig(jnp, ax[:, H : 2 * H] + q[:, H : 2 * H])
        n = jnp.tanh(ax[:, 2 * H :] + r * q[:, 2 * H :])
        h = (1 - z) * n + z * h
        return (h,), h

    def elman(p, s, ax):
        h = jnp.tanh(ax + s[0] @ p["W_hh"].T)
        return (h,), h

    return {"lstm": lstm, "gru": gru, "elman": elman}[cell]


def _sig(jnp, a):
    return 1 / (1 + jnp.exp(-a))


def _init(cell: str, c: Config, rng: np.random.Generator) -> dict:
    G, k = GATES[cell] * c.H, 1 / np.sqrt(c.H)

    def u(*shape):
        return rng.uniform(-k, k, size=shape).astype(np.float32)

    layers = []
    for n in range(c.layers):
        F = c.I if n == 0 else c.H
        layers.append({"W_ih": u(G, F), "W_hh": u(G, c.H), "b_ih": u(G), "b_hh": u(G)})
    return {"layers": layers, "W_out": u(c.O, c.H), "b_out": u(c.O)}


def _forward(cell: str, c: Config, jnp, lax):
    step = _cell(cell, jnp)

    def run(params, xs):
        h = xs
        for p in params["layers"]:
            ax = h @ p["W_ih"].T + p["b_ih"] + (0 if cell == "gru" else p["b_hh"])
            zeros = jnp.zeros((c.B, c.H), jnp.float32)
            s0 = (zeros, zeros) if cell == "lstm" else (zeros,)
            _, h = lax.scan(lambda s, a, p=p: step(p, s, a), s0, ax)
        return h @ params["W_out"].T + params["b_out"]

    return run


def training_step(cell: str, c: Config, rng: np.random.Generator) -> Callable[[], None]:
    jax, jnp, lax = load()
    forward = _forward(cell, c, jnp, lax)

    def loss_fn(params, xs, ys):
        out = forward(params, xs)
        if c.tokens:
            logp = jax.nn.log_softmax(out, axis=-1)
            return -jnp.mean(jnp.take_along_axis(logp, ys[..., None], axis=-1))
        return jnp.mean((out - ys) ** 2)

    @jax.jit
    def train(params, m, v, k, xs, ys):
        loss, g = jax.value_and_grad(loss_fn)(params, xs, ys)
        b1, b2, lr, eps = 0.9, 0.999, 1e-3, 1e-8
        m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)
        step = lr * jnp.sqrt(1 - b2**k) / (1 - b1**k)
        params = jax.tree_util.tree_map(
            lambda p, m, v: p - step * m / (jnp.sqrt(v) + eps), params, m, v
        )
        return params, m, v, loss

    params = jax.tree_util.tree_map(jnp.asarray, _init(cell, c, rng))
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    state = {"p": params, "m": zeros, "v": zeros, "k": 0}
    if c.tokens:
        ids = rng.integers(0, c.I, size=(c.T + 1, c.B))
        xs, ys = jax.nn.one_hot(ids[:-1], c.I, dtype=jnp.float32), jnp.asarray(ids[1:])
    else:
        xs = jnp.asarray(rng.standard_normal((c.T, c.B, c.I), dtype=np.float32))
        ys = jnp.asarray(rng.standard_normal((c.T, c.B, c.O), dtype=np.float32))

    def run() -> None:
        state["k"] += 1
        p, m, v, loss = train(state["p"], state["m"], state["v"], float(state["k"]), xs, ys)
        loss.block_until_ready()
        state.update(p=p, m=m, v=v)

    return run


def inference(cell: str, c: Config, rng: np.random.Generator) -> Callable[[], None]:
    jax, jnp, lax = load()
    forward = jax.jit(_forward(cell, c, jnp, lax))
    params = jax.tree_util.tree_map(jnp.asarray, _init(cell, c, rng))
    ids = rng.integers(0, c.I, size=(c.T, c.B))
    xs = jax.nn.one_hot(ids, c.I, dtype=jnp.float32)
    return lambda: forward(params, xs).block_until_ready()


def streaming(cell: str, H: int, O: int, steps: int, rng: np.random.Generator):
    """``steps`` jitted one-token steps (B = 1) with carried state and a readout."""
    jax, jnp, lax = load()
    c = Config("stream", 1, 1, O, H, O)
    params = jax.tree_util.tree_map(jnp.asarray, _init(cell, c, rng))
    cell_step = _cell(cell, jnp)
    eye = jnp.eye(O, dtype=jnp.float32)

    @jax.jit
    def one(params, s, x):
        p = params["layers"][0]
        ax = x @ p["W_ih"].T + p["b_ih"] + (0 if cell == "gru" else p["b_hh"])
        s, h = cell_step(p, s, ax)
        return s, h @ params["W_out"].T + params["b_out"]

    xs = [eye[i : i + 1] for i in rng.integers(0, O, size=steps)]

    def run() -> None:
        zeros = jnp.zeros((1, H), jnp.float32)
        s = (zeros, zeros) if cell == "lstm" else (zeros,)
        for x in xs:
            s, y = one(params, s, x)
        y.block_until_ready()

    return run
