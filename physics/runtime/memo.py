"""Small caches of results recomputed from identical inputs (a plan simulates one hall over one
look-ahead a dozen times): keys are digests of the inputs' exact content, so a hit returns
what the computation gave for the same bytes."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any, Generic, TypeVar

import numpy as np

V = TypeVar("V")

__all__ = ["LastSeen", "digest"]


def digest(*values: Any) -> bytes:
    """BLAKE2b digest (32 bytes) of the exact content of arrays or strings.

    Each array contributes its dtype, shape and bytes (object arrays their elements' reprs),
    so two inputs share a digest only if they are equal element for element (up to a
    2⁻²⁵⁶-scale collision).
    """
    h = hashlib.blake2b(digest_size=32)
    for value in values:
        array = np.asarray(value)
        h.update(f"{array.dtype.str}{array.shape}|".encode())
        if array.dtype.hasobject:
            h.update(repr(array.tolist()).encode())
        else:
            h.update(array.tobytes())
    return h.digest()


class LastSeen(Generic[V]):
    """The values of the last ``size`` keys looked up or stored, thread-safe (least recently
    used out)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._values: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        """The value stored under ``key``, or None."""
        with self._lock:
            value = self._values.get(key)
            if value is not None:
                self._values.move_to_end(key)
            return value

    def put(self, key: Hashable, value: V) -> None:
        """Store ``value`` under ``key``, dropping the least recently used beyond ``size``."""
        with self._lock:
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self._size:
                self._values.popitem(last=False)
