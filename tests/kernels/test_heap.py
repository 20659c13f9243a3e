"""The heap setting: it is made when training starts (an optimizer is made), not on import;
freed step-sized arrays then come back without page faults; the user's own malloc settings
and ``RNNKIT_KEEP_FREED_MEMORY=0`` leave it alone.  Each case runs in a new process (the
setting is per process).
"""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"), reason="a glibc setting"
)

# After SETUP, allocate, touch and free arrays of several sizes as a step does, then count the
# page faults of the same round once the process is warm (all below 2 MiB: no huge page can
# back them).
PROBE = """
import json, resource
import numpy as np
{setup}
from rnnkit.kernels import _heap

def round_():
    arrays = [np.ones(n, np.float32) for n in (100_000, 200_000, 300_000, 400_000)]
    del arrays

for _ in range(3):
    round_()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    round_()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({{"applied": _heap.applied(), "faults_per_round": faults / 5}}))
"""
PAGES_PER_ROUND = 4 * 1_000_000 // 4096  # pages the four arrays cover

IMPORT_ONLY = "import rnnkit, rnnkit.kernels, rnnkit.training.optim, rnnkit.layers.losses"
# one epoch of a tiny character model through the training entry point rnnkit.fit
TRAINING = """
from rnnkit.config import ModelConfig
from rnnkit.models.model import Model
from rnnkit.training.arrays import fit
x = np.random.default_rng(0).integers(0, 5, size=(4, 8))
model = Model(ModelConfig.for_tokens(5, hidden_size=8), rng=np.random.default_rng(0))
fit(model, x, np.roll(x, -1, axis=1), rng=np.random.default_rng(1), epochs=1, batch_size=2)
"""


def probe(setup: str, **env: str) -> dict:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MALLOC_", "GLIBC_", "RNNKIT_KEEP_FREED_MEMORY"))
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(setup=setup)],
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_importing_rnnkit_leaves_malloc_alone_and_each_round_faults_afresh():
    """glibc's own 128 KiB mmap threshold maps every array anew: the probe can tell."""
    out = probe(IMPORT_ONLY)
    assert out["applied"] is False
    assert out["faults_per_round"] > 0.3 * PAGES_PER_ROUND, out


def test_training_keeps_freed_memory_for_the_next_step():
    out = probe(TRAINING)
    assert out["applied"] is True
    assert out["faults_per_round"] < 0.05 * PAGES_PER_ROUND, out


def test_making_an_optimizer_is_what_sets_it():
    out = probe("from rnnkit.training.optim import make_optimizer; make_optimizer('sgd', 0.1)")
    assert out["applied"] is True
    assert out["faults_per_round"] < 0.05 * PAGES_PER_ROUND, out


def test_rnnkit_keep_freed_memory_0_opts_out():
    out = probe(TRAINING, RNNKIT_KEEP_FREED_MEMORY="0")
    assert out["applied"] is False
    assert out["faults_per_round"] > 0.3 * PAGES_PER_ROUND, out


def test_the_users_malloc_settings_win():
    out = probe(TRAINING, MALLOC_MMAP_THRESHOLD_="131072")
    assert out["applied"] is False
    assert out["faults_per_round"] > 0.3 * PAGES_PER_ROUND, out


def test_glibc_tunables_also_count_as_the_users_setting():
    out = probe(TRAINING, GLIBC_TUNABLES="glibc.malloc.trim_threshold=1048576")
    assert out["applied"] is False


# After SETUP, the page faults of a first round of step-sized arrays (24 MiB in six arrays,
# each below the 32 MiB mmap threshold), as a new process's first training step makes them.
FIRST_ROUND = """
import json, resource
import numpy as np
{setup}
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
arrays = [np.ones(1 << 20, np.float32) for _ in range(6)]
print(json.dumps({{"faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}}))
"""
FIRST_ROUND_PAGES = 6 * (4 << 20) // 4096


@pytest.mark.parametrize("opt_out, warm", [("1", True), ("0", False)])
def test_a_first_step_finds_its_heap_already_faulted_in(opt_out, warm):
    """Making an optimizer faults in WARM_HEAP of heap once, so a new process's first step
    does not pay a page fault per 4 KiB of its arrays (unless the setting is opted out)."""
    setup = "from rnnkit.training.optim import make_optimizer; make_optimizer('sgd', 0.1)"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MALLOC_", "GLIBC_", "RNNKIT_KEEP_FREED_MEMORY"))
    }
    result = subprocess.run(
        [sys.executable, "-c", FIRST_ROUND.format(setup=setup)],
        env=env | {"RNNKIT_KEEP_FREED_MEMORY": opt_out},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    faults = json.loads(result.stdout)["faults"]
    if warm:
        assert faults < 0.05 * FIRST_ROUND_PAGES, faults
    else:  # (huge pages may back part of the fresh memory: fewer faults than 4 KiB pages)
        assert faults > 0.05 * FIRST_ROUND_PAGES, faults
