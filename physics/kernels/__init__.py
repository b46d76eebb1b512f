"""Compiled (Numba) kernels for the hot loops of the physics models.

Each kernel is a plain-loop transcription of a vectorized model in :mod:`physics`, compiled
once per machine (Numba's on-disk cache) and called by that model; the model keeps its
validation, broadcasting and result types.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba

__all__ = ["compiled"]


def compiled(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``numba.njit(cache=True, **options)``, or without the disk cache where none can be written.

    Numba caches next to the source (``__pycache__``), else in the user's cache folder; on a
    read-only install with no writable home it raises at decoration (import) time.  There the
    kernel is compiled on its first call in every process instead (a few seconds).

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
            return numba.njit(cache=True, **options)(function)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return numba.njit(cache=False, **options)(function)

    return decorate
