"""Compiled (Numba) kernels for the hot loops of the physics models.

Each kernel is a plain-loop transcription of a vectorized model in :mod:`physics`, compiled
once per machine (Numba's on-disk cache) and called by that model; the model keeps its
validation, broadcasting and result types.

Loading a cached kernel in a fresh process costs less than its compilation but is not free:
on the 2-core VM of ``docs/benchmarks.md`` the first simulation of a process took 0.31-0.46
CPU-s against 0.025 s for the next one.  The two cached kernels of a simulation themselves
load in ~0.015 s; the rest is ``import numba`` (0.20-0.25 s, most of it loading LLVM's
shared library) and, at the first cache load, Numba refreshing its CPU target context
(0.12-0.17 s: importing and installing the typing and lowering registries of all of Numba's
built-in implementations, which only a compilation uses).  :class:`_LeanCache` skips that
refresh when the kernel is found in the cache.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
from numba.core.caching import FunctionCache
from numba.core.runtime import nrt

__all__ = ["compiled"]


class _LeanCache(FunctionCache):
    """Numba's per-function disk cache, loading without refreshing the target context.

    Numba's ``Cache.load_overload`` refreshes the whole CPU target context before looking in
    the cache.  A cached kernel is machine code with its environment: rebuilding it needs the
    code generator and the Numba runtime (NRT: the kernels allocate arrays), not the
    registries the refresh installs.  So this cache initializes the runtime only; on a miss
    Numba compiles, and its compiler refreshes the context itself before typing.  It relies on
    two private methods of Numba's cache (present in 0.60–0.68); a Numba without them loads
    the usual way (tested by hiding them).
    """

    def load_overload(self, sig: Any, target_context: Any) -> Any:
        """The cached overload of ``sig`` rebuilt in ``target_context``, or None (a miss).

        Parameters
        ----------
        sig
            Numba signature of the call.
        target_context
            Numba's CPU target context.

        Returns
        -------
        numba.core.compiler.CompileResult or None
            The rebuilt overload; None when the cache holds none for ``sig``.
        """
        try:
            load = self._load_overload
            guard = self._guard_against_spurious_io_errors
        except AttributeError:  # Numba's private cache API moved: its own loading then
            return super().load_overload(sig, target_context)
        nrt.rtsys.initialize(target_context)
        with guard():
            return load(sig, target_context)


def compiled(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``numba.njit(cache=True, **options)``, or without the disk cache where none can be written.

    Numba caches next to the source (``__pycache__``), else in the user's cache folder; on a
    read-only install with no writable home it raises at decoration (import) time.  There the
    kernel is compiled on its first call in every process instead (a few seconds).  With a
    cache, kernels load through :class:`_LeanCache`.

    Parameters
    ----------
    **options
        Further ``numba.njit`` options (``nogil``, ``fastmath``, ``error_model``).

    Returns
    -------
    Callable
        The decorator.
    """

    def decorate(function: Callable[..., Any]) -> Any:
        try:
            dispatcher = numba.njit(cache=True, **options)(function)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return numba.njit(cache=False, **options)(function)
        dispatcher._cache = _LeanCache(function)
        return dispatcher

    return decorate
