"""The heap setting: freed step-sized arrays come back without page faults, and the user's own
malloc settings are left alone.  Each case runs in a new process (the setting is per process).
"""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"), reason="a glibc setting")

# Allocate, touch and free arrays of several sizes as a step does, then count the page faults
# of the same round once the process is warm (all below 2 MiB: no huge page can back them).
PROBE = """
import json, resource
import numpy as np
import rnnkit.kernels
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
print(json.dumps({"applied": _heap.keep_freed_memory(), "faults_per_round": faults / 5}))
"""
PAGES_PER_ROUND = 4 * 1_000_000 // 4096  # pages the four arrays cover


def probe(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_"))}
    result = subprocess.run([sys.executable, "-c", PROBE], env=clean | env,
                            capture_output=True, text=True, timeout=120, check=True)
    return json.loads(result.stdout)


def test_importing_the_kernels_keeps_freed_memory_for_the_next_step():
    out = probe()
    assert out["applied"] is True
    assert out["faults_per_round"] < 0.05 * PAGES_PER_ROUND, out


def test_the_users_malloc_settings_win_and_then_each_round_faults_afresh():
    """With glibc's fixed 128 KiB mmap threshold every array is mapped anew: the probe above
    can tell the difference."""
    out = probe(MALLOC_MMAP_THRESHOLD_="131072")
    assert out["applied"] is False
    assert out["faults_per_round"] > 0.3 * PAGES_PER_ROUND, out


def test_glibc_tunables_also_count_as_the_users_setting():
    assert probe(GLIBC_TUNABLES="glibc.malloc.trim_threshold=1048576")["applied"] is False
