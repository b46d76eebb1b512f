"""``keep_freed_memory``: freed NumPy temporaries are reused without page faults (glibc)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

_CYCLES = """
import resource, sys
import numpy as np
if sys.argv[1] == "keep":
    from physics.runtime.allocator import keep_freed_memory
    assert keep_freed_memory()
def cycle():
    arrays = [np.ones(2**20) for _ in range(3)]  # three 8 MB temporaries, freed
    del arrays
cycle()
cycle()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    cycle()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}  # defaults
    done = subprocess.run(
        [sys.executable, "-c", _CYCLES, mode], capture_output=True, text=True, check=True, env=env
    )
    return int(done.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_temporaries_are_reused_without_page_faults() -> None:
    """Twenty rounds of three 8 MB arrays: by default glibc returns them to the system and
    faults them in again every round; with ``keep_freed_memory`` they are reused (in a
    subprocess: the setting is process-wide)."""
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    default, kept = _faults("default"), _faults("keep")
    assert default > 2_000  # glibc's default trims the freed top of the heap every round
    assert kept < default / 20
