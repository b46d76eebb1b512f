"""The small caches behind repeated simulations: digests tell inputs apart, LastSeen evicts."""

from __future__ import annotations

import numpy as np

from physics.runtime.memo import LastSeen, digest


def test_digest_tells_apart_what_differs_in_any_way() -> None:
    """Equal content gives equal digests; a changed value, dtype, shape or split between
    the arguments gives another."""
    values = np.arange(6, dtype=float)
    assert digest(values, ["a", "b"]) == digest(values.copy(), ["a", "b"])
    changed = values.copy()
    changed[3] = np.nextafter(changed[3], 10.0)
    others = [
        digest(changed, ["a", "b"]),
        digest(values.astype(np.float32), ["a", "b"]),
        digest(values.reshape(2, 3), ["a", "b"]),
        digest(values, ["a"], ["b"]),
        digest(values, ["ab"]),
        digest(values[::2], ["a", "b"]),
    ]
    assert len({digest(values, ["a", "b"]), *others}) == len(others) + 1
    assert digest(values[::2]) == digest(np.ascontiguousarray(values[::2]))


def test_last_seen_keeps_the_most_recently_used() -> None:
    """Beyond its size the least recently used key goes; a lookup counts as a use."""
    cache: LastSeen[int] = LastSeen(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the least recently used
    cache.put("c", 3)
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c")) == (1, 3)
