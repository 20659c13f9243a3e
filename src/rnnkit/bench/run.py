"""The benchmark's sections, each a list of rows of timings keyed by implementation.

Sections: ``train`` (configs × cells: rnnkit, peers, the GEMM floor), ``layer`` (the recurrent
layer alone, vectors, forward + BPTT: rnnkit, torch, the floor), ``stream`` (B = 1 steps),
``infer`` (whole-sequence inference, config A), ``scale`` (step time as T and H grow),
``memory`` (peak memory of a step as T grows), ``cold`` (new processes).  A peer whose package
is missing is skipped with a note.
"""

import dataclasses
from collections.abc import Callable
from functools import partial
from types import ModuleType
from typing import Any

import numpy as np

from ..kernels._workspace import POOL
from . import configs as cf
from . import steps, system
from .floor import floor_step
from .timing import interleaved

PEERS = ("torch", "jax", "onnx")
SECTIONS = ("train", "layer", "stream", "infer", "scale", "memory", "cold")


@dataclasses.dataclass
class Options:
    configs: tuple[str, ...] = tuple(cf.CONFIGS)
    cells: tuple[str, ...] = cf.CELLS
    cold_cells: tuple[str, ...] = cf.COLD_CELLS  # the cold-start section's cells
    peers: tuple[str, ...] = PEERS
    sections: tuple[str, ...] = SECTIONS
    reps: int = 7  # interleaved repetitions per measurement
    gap: float = 0.15  # idle seconds before each timed call
    quick: bool = False  # tiny sizes and repetitions (plumbing tests)
    seed: int = 0


def _peer(name: str) -> ModuleType:
    """The peer module, or an ImportError naming what to install."""
    from importlib import import_module

    module = import_module(f"rnnkit.bench.peer_{name}")
    module.load()  # imports the peer's packages: ImportError when missing
    return module


Builder = Callable[[], Callable[[], object]]
"""Builds one implementation's timed call (may raise ImportError for a missing peer)."""


def _peer_builder(name: str, function: str, *args: Any) -> Builder:
    """Builds with ``function(*args)`` of the peer module ``name``, imported when built."""
    return lambda: getattr(_peer(name), function)(*args)


def _collect(builders: dict[str, Builder], notes: list[str]) -> dict[str, Callable[[], object]]:
    """Build each implementation; a missing package skips it with a note."""
    fns: dict[str, Callable[[], object]] = {}
    for name, build in builders.items():
        try:
            fns[name] = build()
        except ImportError as e:
            notes.append(f"{name} skipped: {e}")
    return fns


def _config(o: Options, name: str) -> cf.Config:
    c = cf.CONFIGS[name]
    return cf.quick(c) if o.quick else c


def training(o: Options, notes: list[str]) -> list[dict]:
    rows = []
    for cname in o.configs:
        c = _config(o, cname)
        for cell in o.cells:
            rng = np.random.default_rng(o.seed)
            builders: dict[str, Builder] = {"rnnkit": partial(steps.training_step, cell, c, rng)}
            for peer in ("torch", "jax"):
                if peer in o.peers:
                    builders[peer] = _peer_builder(peer, "training_step", cell, c, rng)
            builders["floor"] = partial(floor_step, cell, c, rng)
            fns = _collect(builders, notes)
            times = interleaved(fns, o.reps, o.gap, warmup=2)
            rows.append({"config": cname, "cell": cell, "times": times})
    return rows


def layer(o: Options, notes: list[str]) -> list[dict]:
    """The recurrent layer alone (``configs.LAYER``: two stacked layers, vectors in), forward
    and BPTT through the public ``Recurrent`` API, against ``torch.nn.LSTM``/``GRU``/``RNN``
    doing the same (∂L/∂x included) and the products' floor without a readout."""
    c = cf.quick(cf.LAYER) if o.quick else cf.LAYER
    rows = []
    for cell in o.cells:
        rng = np.random.default_rng(o.seed)
        builders: dict[str, Builder] = {"rnnkit": partial(steps.layer_step, cell, c, rng)}
        if "torch" in o.peers:
            builders["torch"] = _peer_builder("torch", "layer_step", cell, c, rng)
        builders["floor"] = partial(floor_step, cell, c, rng, readout=False)
        fns = _collect(builders, notes)
        times = interleaved(fns, o.reps, o.gap, warmup=2)
        rows.append({"config": c.name, "cell": cell, "times": times})
    return rows


def _stream_ours(cell: str, H: int, O: int, rng: np.random.Generator, ids: list[int]):
    """rnnkit's timed call for ``streaming``: reset a Stepper, then step it through ``ids``."""
    from ..config import ModelConfig
    from ..models.model import Model
    from ..models.streaming import Stepper

    stepper = Stepper(Model(ModelConfig.for_tokens(O, cell=cell, hidden_size=H), rng=rng))

    def run():
        stepper.reset()
        for i in ids:
            stepper.step(i)

    return run


def streaming(o: Options, notes: list[str]) -> list[dict]:
    H, O = (8, 5) if o.quick else (cf.STREAM_H, cf.STREAM_O)
    n = 3 if o.quick else cf.STREAM_STEPS
    rows = []
    for cell in [c for c in o.cells if c in ("lstm", "gru")]:
        rng = np.random.default_rng(o.seed)
        ids = rng.integers(0, O, size=n).tolist()
        builders: dict[str, Builder] = {"rnnkit": partial(_stream_ours, cell, H, O, rng, ids)}
        for peer in ("torch", "jax", "onnx"):
            if peer in o.peers:
                builders[peer] = _peer_builder(peer, "streaming", cell, H, O, n, rng)
        fns = _collect(builders, notes)
        rows.append({"cell": cell, "times": interleaved(fns, o.reps, o.gap, per=n, warmup=2)})
    return rows


def inference(o: Options, notes: list[str]) -> list[dict]:
    c = _config(o, "A")
    rows = []
    for cell in o.cells:
        rng = np.random.default_rng(o.seed)
        builders: dict[str, Builder] = {"rnnkit": partial(steps.inference, cell, c, rng)}
        for peer in ("torch", "jax"):
            if peer in o.peers:
                builders[peer] = _peer_builder(peer, "inference", cell, c, rng)
        fns = _collect(builders, notes)
        rows.append({"config": "A", "cell": cell, "times": interleaved(fns, o.reps, o.gap)})
    return rows


def scaling(o: Options, notes: list[str]) -> list[dict]:
    """LSTM step time at config A's sizes as T grows, then as H grows (rnnkit, torch, floor)."""
    base = _config(o, "A")
    sizes = [("T", T) for T in ((4, 8) if o.quick else cf.SCALE_T)]
    sizes += [("H", H) for H in ((4, 8) if o.quick else cf.SCALE_H)]
    rows = []
    for axis, value in sizes:
        c = base.with_sizes(**{axis: value})
        rng = np.random.default_rng(o.seed)
        builders: dict[str, Builder] = {"rnnkit": partial(steps.training_step, "lstm", c, rng)}
        if "torch" in o.peers:
            builders["torch"] = _peer_builder("torch", "training_step", "lstm", c, rng)
        builders["floor"] = partial(floor_step, "lstm", c, rng)
        fns = _collect(builders, notes)
        reps = max(1, min(o.reps, 3)) if c.T * c.H > 1_000_000 else o.reps
        times = interleaved(fns, reps, o.gap, warmup=1)
        rows.append({"axis": axis, "value": value, "cell": "lstm", "times": times})
    return rows


def memory(o: Options, notes: list[str]) -> list[dict]:
    """Peak memory of one LSTM training step at config A's sizes as T grows.

    The kernels' pool is emptied first, so the buffers it would reuse count as allocations.
    """
    base = _config(o, "A")
    rows = []
    for T in (4, 8) if o.quick else cf.MEMORY_T:
        c = base.with_sizes(T=T)
        rng = np.random.default_rng(o.seed)
        row: dict[str, Any] = {"T": T, "bytes": {}}
        step = steps.training_step("lstm", c, rng)
        step()
        POOL.clear()  # count the kernels' reused buffers as the step's own memory
        row["bytes"]["rnnkit"] = system.peak_numpy_bytes(step)
        if "torch" in o.peers:
            try:
                tstep = _peer("torch").training_step("lstm", c, rng)
                tstep()
                row["bytes"]["torch"] = system.peak_rss_bytes(tstep)
            except ImportError as e:
                notes.append(f"torch skipped: {e}")
        rows.append(row)
    return rows


def cold_start(o: Options, notes: list[str]) -> dict:
    """``rnnkit --help`` in new processes, and per cell and config (A and B, where selected)
    a new process's set-up, first and steady training step (``system.first_step``), with
    Numba's on-disk cache as it is (warm after the first process on a machine)."""
    help_times = system.help_seconds(1 if o.quick else 5)
    reps, processes = (1, 1) if o.quick else (5, 5)
    rows = []
    for config in [c for c in cf.COLD_CONFIGS if c in o.configs]:
        for cell in o.cold_cells:
            d = system.first_step(cell, config, o.quick, reps, processes)
            rows.append({"config": config, "cell": cell, **d})
            if d["compiled"] or d["numba_loaded_by_step"]:
                notes.append(
                    f"cold: a first {cell} step at {config} compiled {d['compiled']} "
                    "function(s)" + (" and loaded Numba" if d["numba_loaded_by_step"] else "")
                )
    return {
        "help_s": sorted(help_times)[len(help_times) // 2],
        "first_step": rows,
        "processes": processes,
    }


RUNNERS = {
    "train": training,
    "layer": layer,
    "stream": streaming,
    "infer": inference,
    "scale": scaling,
    "memory": memory,
    "cold": cold_start,
}


def run(o: Options, progress: Callable[[str], None] = lambda s: None) -> dict:
    """Every selected section; returns the results (JSON-able after ``report.to_json``)."""
    results: dict[str, Any] = {"machine": system.machine(), "options": dataclasses.asdict(o)}
    notes: list[str] = []
    for section in o.sections:
        progress(f"bench: {section} …")
        results[section] = RUNNERS[section](o, notes)
    results["notes"] = sorted(set(notes))
    return results
