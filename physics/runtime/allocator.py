"""Process-wide tuning of the C allocator for long simulations (glibc only).

A simulation allocates and frees the same few MB of NumPy temporaries chunk after chunk (and
a streamed run, ``simulate(store=...)``, the HDF5 write buffers of every window).  glibc
hands freed memory at the top of its heap back to the operating system as soon as more than
twice the current mmap threshold is free, so the next chunk faults the same pages in again;
on virtual machines that first touch is slow (docs/benchmarks.md: a streamed 1,000-rack year
spent 4.2–4.8 s of 12 CPU-s in page faults).  :func:`keep_freed_memory` raises both
thresholds so the freed pages stay with the process for reuse.  It changes the allocator of
the whole process, so it is for applications to call (the ``dctwin`` command line, the
benchmarks), never done behind a library call.
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["keep_freed_memory"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def keep_freed_memory(trim_bytes: int = 256 * 2**20, mmap_bytes: int = 32 * 2**20) -> bool:
    """Let glibc keep freed memory for reuse instead of returning it to the system at once.

    Parameters
    ----------
    trim_bytes
        Free memory at the top of the heap kept before any is returned [B].
    mmap_bytes
        Allocations at least this large get their own mapping, returned on free (the
        long-lived series of a run); smaller ones come from the heap [B].

    Returns
    -------
    bool
        True if set (glibc); False where there is no ``mallopt`` (other C libraries or
        systems): nothing changed.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_bytes) and mallopt(_M_TRIM_THRESHOLD, trim_bytes))
