"""Data-parallel training: the communicator, the split of a batch, and ``mpiexec -n 2 rnnkit
train`` held equal to one process with the same global batch."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import rnnkit
from rnnkit.cli import main
from rnnkit.config import ModelConfig, TrainConfig
from rnnkit.data.text import CharStream
from rnnkit.errors import CheckpointError, ConfigError, RnnkitError
from rnnkit.io.model_files import load_with_state
from rnnkit.models.model import Model
from rnnkit.training import Engine, Optimization, Truncated
from rnnkit.training.batches import Batch
from rnnkit.training.distributed import (
    INSTALL_HINT,
    LOCAL,
    RowRandom,
    connect,
    fingerprint,
    launched_size,
    pack,
    row_range,
    same_on_all,
    unpack,
)

MPIEXEC = Path(sys.executable).parent / "mpiexec"
needs_mpi = pytest.mark.skipif(
    importlib.util.find_spec("mpi4py") is None or not MPIEXEC.exists(),
    reason=f"needs mpi4py and {MPIEXEC} (pip install 'rnnkit[mpi]')",
)

TINY = [
    "--hidden-size",
    "16",
    "--seq-len",
    "20",
    "--eval-every",
    "4",
    "--sample-every",
    "0",
    "--checkpoint-every",
    "4",
]
DROPOUT = [
    "--num-layers",
    "2",
    "--dropout",
    "0.2",
    "--recurrent-dropout",
    "0.1",
    "--bptt-steps",
    "30",
]


# ----------------------------------------------------------------------------- without MPI


def test_local_is_rank_0_of_1_and_its_collectives_are_the_identity():
    buf = np.arange(4.0)
    assert (LOCAL.rank, LOCAL.size) == (0, 1)
    assert LOCAL.allreduce_sum(buf) is buf and LOCAL.bcast({"a": 1}) == {"a": 1}
    assert LOCAL.any(True) and not LOCAL.any(False)
    assert LOCAL.gather_rows(buf, 0) is buf
    assert same_on_all(LOCAL, 12345)


@pytest.mark.parametrize(
    "env, size",
    [({}, 1), ({"PMI_SIZE": "2"}, 2), ({"OMPI_COMM_WORLD_SIZE": "3"}, 3), ({"PMI_SIZE": "1"}, 1)],
)
def test_launched_size_reads_what_mpiexec_sets(env, size):
    assert launched_size(env) == size


def test_launched_size_refuses_a_malformed_variable():
    with pytest.raises(ConfigError, match="PMI_SIZE='two'"):
        launched_size({"PMI_SIZE": "two"})


def test_a_plain_run_never_imports_mpi4py_and_a_missing_one_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # any import of it now fails
    assert connect({}) is LOCAL
    with pytest.raises(RnnkitError) as e:
        connect({"PMI_SIZE": "2"})
    assert INSTALL_HINT in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("B, K", [(4, 2), (5, 2), (7, 3), (3, 3), (32, 2)])
def test_rows_of_a_batch_are_contiguous_and_even_to_one_row(B, K):
    rows = [row_range(B, r, K) for r in range(K)]
    assert rows[0][0] == 0 and rows[-1][1] == B
    assert all(a[1] == b[0] for a, b in zip(rows, rows[1:]))
    sizes = [hi - lo for lo, hi in rows]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_a_batch_smaller_than_the_ranks_is_refused():
    with pytest.raises(ConfigError, match="batch of 1 rows cannot be split over 2"):
        row_range(1, 0, 2)


def test_pack_then_unpack_gives_the_arrays_and_extras_back():
    rng = np.random.default_rng(0)
    arrays = {"a": rng.random((3, 4)).astype(np.float32), "b": rng.random(5).astype(np.float32)}
    buf = pack(arrays, [2.5], np.float32)
    assert buf.shape == (18,) and buf.dtype == np.float32
    out, extra = unpack(buf, arrays)
    for n in arrays:
        np.testing.assert_array_equal(out[n], arrays[n])
    assert extra.tolist() == [2.5]
    assert fingerprint(out) == fingerprint(arrays)


@pytest.mark.parametrize(
    "shape, full, index",
    [
        ((2, 6), (5, 6), np.s_[3:5]),  # recurrent dropout: [B, S]
        ((4, 2, 6), (4, 5, 6), np.s_[:, 3:5]),  # dropout between layers: [T, B, F]
    ],
)
def test_row_random_draws_the_single_process_rows(shape, full, index):
    single, ranked = np.random.default_rng(7), np.random.default_rng(7)
    draw = RowRandom(ranked, (3, 5), 5).random(shape)
    np.testing.assert_array_equal(draw, single.random(full)[index])
    assert ranked.bit_generator.state == single.bit_generator.state


def test_row_random_refuses_a_draw_without_this_ranks_rows():
    with pytest.raises(RnnkitError, match="no batch axis"):
        RowRandom(np.random.default_rng(0), (3, 5), 5).random((3, 6))


class _Rank:
    """A communicator's rank and size, enough to load a saved state (no collective)."""

    def __init__(self, rank: int, size: int) -> None:
        self.rank, self.size = rank, size


def _trained_state(batch_size: int):
    config = TrainConfig(steps=3, seq_len=4, batch_size=batch_size, bptt_steps=6)
    model = Model(
        ModelConfig.for_tokens(5, cell="lstm", hidden_size=3), rng=np.random.default_rng(0)
    )
    engine = _engine(model, config)
    stream = CharStream(np.random.default_rng(1).integers(0, 5, 400), batch_size, 4)
    for _ in range(2):
        x, y, _, _ = next(stream)
        engine.update(Batch(x, y))
    return model, config, engine.state_dict()


def _engine(model, config, comm=LOCAL):
    return Engine(
        model,
        Truncated(config.seq_len, config.bptt_steps),
        Optimization.of(config),
        np.random.default_rng(0),
        comm=comm,
        batch_size=config.batch_size,
    )


def test_a_rank_resumes_with_its_own_rows_of_the_carried_state():
    model, config, state = _trained_state(5)
    engine = _engine(model, config, _Rank(1, 2))
    engine.load_state_dict(state)
    tbptt, carried = engine.gradients.tbptt, state["carried"]
    for k in (0, 1):  # LSTM: (h, c), each [L·D, B, H]
        np.testing.assert_array_equal(tbptt.state[k], carried[f"state_{k}"][:, 3:5])
    np.testing.assert_array_equal(tbptt.buffer, carried["buffer"][3:5])


@pytest.mark.parametrize("size", [1, 2])
def test_a_carried_state_for_another_batch_size_is_refused(size):
    model, _, state = _trained_state(5)
    engine = _engine(
        model, TrainConfig(steps=3, seq_len=4, batch_size=4, bptt_steps=6), _Rank(0, size)
    )
    with pytest.raises(CheckpointError, match="not for 4 rows"):
        engine.load_state_dict(state)


# ----------------------------------------------------------------------------- under mpiexec

RUN_ALL = """
import json, sys
from rnnkit.cli import main
for argv in json.loads(sys.argv[1]):
    code = main(argv)
    if code:
        sys.exit(code)
"""

SAME_PARAMETERS = """
import io, sys, time
from rnnkit.jobs.charmodel import start_run
from rnnkit.config import TrainConfig
from rnnkit.training.distributed import connect, fingerprint
comm = connect()
train = TrainConfig(steps=5, seq_len=20, batch_size=5, eval_every=5, sample_every=0)
run = start_run([sys.argv[1]], 0, {"cell": "gru", "hidden_size": 12}, train, None, comm=comm)
run.fit(io.StringIO(), io.StringIO(), time.monotonic, handle_signals=False)
open(f"fingerprint-{comm.rank}", "w").write(str(fingerprint(run.model.params)))
"""

FAIL_ON_RANK_1 = """
import sys
from rnnkit.cli import main
from rnnkit.training.distributed import connect
from rnnkit.training import engine
if connect().rank == 1:
    update = engine.Engine.update
    def failing(self, batch):
        if self.step == 3:
            raise RuntimeError("injected failure")
        return update(self, batch)
    engine.Engine.update = failing
sys.exit(main(sys.argv[1:]))
"""


def _two_ranks(script: str, *args: str) -> list[str]:
    """The command that runs ``python -c script args`` as 2 ranks, one BLAS thread each."""
    return [
        str(MPIEXEC),
        "-genv",
        "OPENBLAS_NUM_THREADS",
        "1",
        "-n",
        "2",
        sys.executable,
        "-c",
        script,
        *args,
    ]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE")}


def _mpiexec(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        _two_ranks(script, *args), cwd=cwd, env=_env(), capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    words = ["def", "return", "self", "import", "class", "(x)", ":", "\n", "    "]
    path = tmp_path_factory.mktemp("text") / "corpus.txt"
    path.write_text(" ".join(rng.choice(words, 3000)), encoding="utf-8")
    return path


def _train(corpus: Path, out: Path, *flags: str) -> list[str]:
    return ["train", str(corpus), *TINY, *flags, "--out", str(out)]


@pytest.fixture(scope="module")
def runs(corpus, tmp_path_factory):
    """Runs of one process (in this one) and of 2 ranks (one mpiexec), by name."""
    d = tmp_path_factory.mktemp("runs")
    f64 = ["--dtype", "float64", "--batch-size", "4", "--steps", "12"]
    f32 = ["--dtype", "float32", "--batch-size", "5", *DROPOUT]
    single = {
        "f64": _train(corpus, d / "f64-1", *f64),
        "f32": _train(corpus, d / "f32-1", *f32, "--steps", "12"),
        "f32-half-1": _train(corpus, d / "f32-1to2", *f32, "--steps", "6"),
    }
    for argv in single.values():
        assert main(argv) == 0
    ranked = [
        _train(corpus, d / "f64-2", *f64),
        _train(corpus, d / "f32-2", *f32, "--steps", "12"),
        _train(corpus, d / "f32-2to1", *f32, "--steps", "6"),
        ["train", "--resume", "--steps", "12", "--out", str(d / "f32-1to2")],
    ]
    done = _mpiexec(RUN_ALL, json.dumps(ranked), cwd=d)
    assert done.returncode == 0, done.stderr
    assert main(["train", "--resume", "--steps", "12", "--out", str(d / "f32-2to1")]) == 0
    return d, done


def _max_difference(a: Path, b: Path) -> float:
    pa, pb = rnnkit.load(a / "last").state_dict(), rnnkit.load(b / "last").state_dict()
    assert pa.keys() == pb.keys()
    return max(float(np.abs(pa[n].astype(np.float64) - pb[n]).max()) for n in pa)


@needs_mpi
def test_two_ranks_end_equal_to_one_process_in_float64(runs):
    d, _ = runs
    # not bit-equal: each rank's weight gradients sum its own rows before the all-reduce
    assert _max_difference(d / "f64-1", d / "f64-2") < 1e-13


@needs_mpi
def test_two_ranks_equal_one_process_in_float32_with_an_odd_batch_and_dropout(runs):
    d, _ = runs
    assert _max_difference(d / "f32-1", d / "f32-2") < 1e-6


@needs_mpi
@pytest.mark.parametrize("split", ["f32-2to1", "f32-1to2"])
def test_a_run_resumed_with_another_number_of_ranks_continues_as_if_uninterrupted(runs, split):
    d, _ = runs
    assert _max_difference(d / "f32-1", d / split) < 1e-6


@needs_mpi
def test_only_rank_0_prints_and_writes_checkpoints(runs):
    d, done = runs
    names = {
        r: sorted(p.name.rsplit("-", 1)[0] for p in (d / r / "checkpoints").iterdir())
        for r in ("f64-1", "f64-2")
    }
    assert names["f64-2"] == names["f64-1"]  # one of each: none written twice
    assert done.stdout.count("--- generated text ---") == 4  # one per run
    assert done.stderr.count("2 processes") == 4


@needs_mpi
def test_every_rank_holds_the_same_parameters(corpus, tmp_path):
    done = _mpiexec(SAME_PARAMETERS, str(corpus), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    hashes = [(tmp_path / f"fingerprint-{rank}").read_text() for rank in (0, 1)]
    assert hashes[0].isdigit() and hashes[0] == hashes[1]


@needs_mpi
def test_an_error_in_one_rank_ends_every_rank_with_one_line(corpus, tmp_path):
    done = _mpiexec(
        FAIL_ON_RANK_1,
        *_train(corpus, tmp_path / "r", "--batch-size", "4", "--steps", "50"),
        cwd=tmp_path,
    )
    assert done.returncode != 0
    assert "rnnkit: error in process 1 of 2: RuntimeError: injected failure" in done.stderr


@needs_mpi
def test_an_error_of_every_rank_is_reported_once(corpus, tmp_path):
    done = _mpiexec(
        RUN_ALL,
        json.dumps([_train(corpus, tmp_path / "r", "--batch-size", "1", "--steps", "1")]),
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "rnnkit: error: a batch of 1 rows cannot be split over 2 processes; use --batch-size "
        ">= 2 or fewer processes"
    ]


SIGNAL_WITH_PIDS = """
import os, sys
from rnnkit.cli import main
from rnnkit.training.distributed import connect
open(f"pid-{connect().rank}", "w").write(str(os.getpid()))
sys.exit(main(sys.argv[1:]))
"""


@needs_mpi
@pytest.mark.slow
def test_a_signal_to_one_rank_stops_every_rank_and_saves(corpus, tmp_path):
    out = tmp_path / "r"
    argv = _train(corpus, out, "--batch-size", "4", "--steps", "100000")
    job = subprocess.Popen(
        _two_ranks(SIGNAL_WITH_PIDS, *argv),
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not ((out / "last").exists() and (tmp_path / "pid-1").exists()):
        assert time.monotonic() < deadline and job.poll() is None
        time.sleep(0.1)
    os.kill(int((tmp_path / "pid-1").read_text()), signal.SIGTERM)
    _, err = job.communicate(timeout=60)
    assert job.returncode == 128 + signal.SIGTERM, err
    assert err.count("SIGTERM received") == 1
    step = load_with_state(out / "last")[1]["step"]
    assert 4 <= step < 100000
