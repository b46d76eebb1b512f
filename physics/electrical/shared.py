"""Electrical chain passes shared by several simulations of one facility.

A rule-based baseline simulates one workload at several supply air and chilled water
setpoints (the setpoint bisection, the chilled-water checks, the final check).  The first
pass of each simulation's fan iteration evaluates the electrical chain at the compute power
plus the nominal fan power: the same rack power, byte for byte, whatever the setpoints.
Inside :func:`shared_chain_passes` such a pass is computed once and reused; the chain depends
on the facility and the rack power alone, so a reused pass is the computation's own result.

Only passes that raised no warning are kept (a reused pass raises none, as its first
computation did not); a pass is looked up by a BLAKE2b digest of the rack power's exact
content (:func:`physics.runtime.memo.digest`), only for the facility the context was opened with
(the same object), and the passes kept are bounded in bytes (least recently used out).
Nothing here changes a result: outside the context, or for another facility, every pass is
computed as before.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import fields

import numpy as np

from physics.electrical.chain import Electrical, FloatArray, Topology
from physics.facility import Facility
from physics.runtime.memo import digest

__all__ = ["SHARED_BYTES", "chain_pass", "shared_chain_passes"]

SHARED_BYTES = 128 * 2**20
"""Bound on the bytes of the passes kept by one :func:`shared_chain_passes` context [B]."""


def _nbytes(electrical: Electrical) -> int:
    """Bytes held by the arrays of one pass [B]."""
    return sum(np.asarray(getattr(electrical, f.name)).nbytes for f in fields(electrical))


class _Passes:
    """The passes kept for one facility: digest of the rack power → pass, LRU by bytes."""

    def __init__(self, facility: Facility, budget: int) -> None:
        self.facility = facility
        self.budget = budget
        self.reused = 0
        self._passes: OrderedDict[bytes, tuple[Electrical, int]] = OrderedDict()
        self._bytes = 0

    def get(self, key: bytes) -> Electrical | None:
        entry = self._passes.get(key)
        if entry is None:
            return None
        self._passes.move_to_end(key)
        self.reused += 1
        return entry[0]

    def put(self, key: bytes, electrical: Electrical) -> None:
        size = _nbytes(electrical)
        if size > self.budget:
            return
        self._passes[key] = (electrical, size)
        self._bytes += size
        while self._bytes > self.budget:
            _, (_, dropped) = self._passes.popitem(last=False)
            self._bytes -= dropped


_SHARED: ContextVar[_Passes | None] = ContextVar("shared_chain_passes", default=None)


@contextmanager
def shared_chain_passes(facility: Facility, budget: int | None = None) -> Iterator[_Passes]:
    """Within the block, simulations of ``facility`` in this thread (or task) share their
    electrical chain passes at identical rack power (module docs).

    Parameters
    ----------
    facility
        The facility whose passes are shared (the same object is simulated in the block).
    budget
        Bound on the bytes of the passes kept [B]; None: :data:`SHARED_BYTES`.

    Yields
    ------
    object
        The passes kept; its ``reused`` attribute counts the passes reused [-].
    """
    passes = _Passes(facility, SHARED_BYTES if budget is None else budget)
    token = _SHARED.set(passes)
    try:
        yield passes
    finally:
        _SHARED.reset(token)


def chain_pass(
    chain: Callable[[Facility, Topology, FloatArray], Electrical],
    facility: Facility,
    topology: Topology,
    rack_power: FloatArray,
    caught: list[warnings.WarningMessage],
) -> Electrical:
    """``chain(facility, topology, rack_power)`` (:func:`physics.electrical.electrical_chain`
    of ``rack_power`` [W], shape (T, R)), or the same pass computed before inside
    :func:`shared_chain_passes` for this facility.

    ``caught`` is the list recording the warnings of the calling block (every warning the
    pass raises lands in it): a pass that added one is not kept.
    """
    passes = _SHARED.get()
    if passes is None or passes.facility is not facility:
        return chain(facility, topology, rack_power)
    key = digest(rack_power)
    electrical = passes.get(key)
    if electrical is not None:
        return electrical
    before = len(caught)
    electrical = chain(facility, topology, rack_power)
    if len(caught) == before:
        passes.put(key, electrical)
    return electrical
