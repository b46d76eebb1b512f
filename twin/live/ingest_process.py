"""Validation and storage of measurement batches in a process of their own.

A service ingesting at high rate spends about a third of its CPU per batch validating the
items (:func:`twin.live.ingest.validate`) and committing them (:class:`Committer`): ~5.5 ms of
~17 ms per 1,000-reading batch of the demo hall (``benchmarks/ingest.py``), work that holds the
interpreter lock of the process that also screens, estimates and answers requests.
:class:`IngestProcess` (``dctwin serve --ingest-process``) moves it to one child process with
its own connection to the same store, so that it runs on another core:

* the child receives the request's raw JSON body (or, from other sources, the items) and the
  twin's current time, parses the batch (:func:`twin.live.ingest.parse_batch`: the service
  process neither parses the JSON nor pickles ~1,000 dicts per batch), validates it exactly as
  :meth:`twin.live.live_twin.LiveTwin.ingest` does in process (same function, same
  tolerances, the same out-of-order rule against the newest stored time of each point, which
  the child keeps: it is then the only writer of measurements), commits them and only then
  answers; the acknowledgement still means "committed";
* the answer carries the accepted readings back as columns (each reading's index into the
  batch's distinct points and times, and its value), which the twin queues for processing as
  before;
* one child, one batch at a time: the store admits one writer anyway, and the lateness rule
  needs one owner of the newest times.  On SQLite the child also merges the staging buffer
  it fills (a thread, one slice between its inserts: off the twin's worker too).

A child that dies (killed, out of memory) fails the batch it held (503: not acknowledged,
perhaps committed; sending it again is a no-op for what was stored); the next batch starts a
new child.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing import get_context
from typing import Any

from twin.live.ingest import Rejection, parse_batch, validate
from twin.scenario.points import PointCatalogue, Reading
from twin.store.errors import StoreBusy
from twin.store.store import Store

log = logging.getLogger(__name__)

_NEVER = datetime(1970, 1, 1, tzinfo=UTC)
"""Stand-in newest time of a point with no stored reading."""


@dataclass(frozen=True)
class StoreOptions:
    """How the child opens the store: the service's store URL (with its password) and
    options; the child merges the SQLite staging buffer it fills in a thread of its own."""

    url: str
    busy_timeout: float
    synchronous: str
    staging_rows: int


@dataclass
class ChildOutcome:
    """What the child answers for one batch: the accepted readings as columns (each reading's
    index into ``points`` and ``times``, the batch's distinct points and UTC times, and its
    value [canonical unit]), the refusals, and the store's counts [count]."""

    points: list[str]
    point_index: list[int]
    times: list[datetime]
    time_index: list[int]
    values: list[float]
    rejected: list[Rejection]
    inserted: int
    already_stored: int

    @classmethod
    def of(
        cls, readings: Sequence[Reading], rejected: list[Rejection], inserted: int, already: int
    ) -> ChildOutcome:
        """The columns of ``readings`` (a few dozen distinct points and times a batch: small
        to pickle, and no object per reading)."""
        points: dict[str, int] = {}
        times: dict[datetime, int] = {}
        point_index = [points.setdefault(r.point, len(points)) for r in readings]
        time_index = [times.setdefault(r.time, len(times)) for r in readings]
        return cls(
            points=list(points),
            point_index=point_index,
            times=list(times),
            time_index=time_index,
            values=[r.value for r in readings],
            rejected=rejected,
            inserted=inserted,
            already_stored=already,
        )

    def readings(self) -> list[Reading]:
        """The accepted readings, in batch order."""
        points, times = self.points, self.times
        return [
            Reading(points[p], times[k], v)
            for p, k, v in zip(self.point_index, self.time_index, self.values, strict=True)
        ]


class Committer:
    """Validates batches and commits the accepted readings, keeping the newest stored time of
    each point for the out-of-order rule (read from the store once per point, then kept: the
    process holding it must be the store's only writer of measurements).  Used in process by
    :meth:`twin.live.live_twin.LiveTwin.ingest`, and by the child.

    Parameters
    ----------
    store
        Where the readings are committed.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._last_times: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def commit(
        self, items: Sequence[Any], catalogue: PointCatalogue, now: datetime
    ) -> tuple[list[Reading], list[Rejection], int, int]:
        """Validate ``items`` (:func:`twin.live.ingest.validate` at ``now``) and commit the
        accepted readings; returns them, the refusals, and the newly and already stored
        counts [count] (after the commit)."""
        known = {
            p
            for item in items
            if (type(item) is dict or isinstance(item, Mapping))
            and isinstance(p := item.get("point"), str)
            and p in catalogue
        }
        with self._lock:
            missing = [p for p in known if p not in self._last_times]
        if missing:  # first batch of these points: ask the store once
            stored = self.store.last_times(missing)
            with self._lock:
                for point in missing:
                    self._last_times.setdefault(point, stored.get(point, _NEVER))
        with self._lock:
            last = {p: self._last_times[p] for p in known}
        readings, rejected = validate(items, catalogue, now=now, last_times=last)
        inserted = already = 0
        if readings:
            result = self.store.insert(readings, newer_than=last)  # new: not checked again
            inserted, already = result.inserted, result.already_stored
            with self._lock:  # only after the commit
                for reading in readings:
                    if reading.time > self._last_times.get(reading.point, _NEVER):
                        self._last_times[reading.point] = reading.time
        return readings, rejected, inserted, already


class _Child:
    """The child's state: the catalogue and its committer (own store connection)."""

    catalogue: PointCatalogue
    committer: Committer


_child = _Child()


def _watch_parent(parent: int) -> None:
    """End the child once its parent is gone (killed with ``-9``: the pool's pipes do not tell
    a child blocked on its next batch)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)  # an uncommitted transaction is rolled back by the database


def _start_child(catalogue: PointCatalogue, options: StoreOptions) -> None:
    """Initializer of the child process."""
    parent = os.getppid()
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    _child.catalogue = catalogue
    store = Store(
        options.url,
        busy_timeout=options.busy_timeout,
        synchronous="FULL" if options.synchronous == "FULL" else "NORMAL",
        staging_rows=options.staging_rows,
        merge_in_background=True,
    )
    _child.committer = Committer(store)
    threading.Thread(target=_merge_loop, args=(store,), daemon=True).start()


def _merge_loop(store: Store) -> None:
    """Merge the SQLite staging buffer the child fills, one slice at a time between its
    inserts (as the twin's worker does for its own inserts)."""
    while True:
        if not store.merge_pending:
            time.sleep(0.05)
            continue
        try:
            store.merge_step()
        except Exception:  # logged, retried on the next turn
            log.exception("merging the staging buffer failed")
            time.sleep(1.0)


def _ingest_in_child(items: Sequence[Any], now: datetime) -> ChildOutcome:
    """Validate and commit one batch in the child."""
    return ChildOutcome.of(*_child.committer.commit(items, _child.catalogue, now))


def _ingest_body_in_child(body: bytes, now: datetime, max_items: int) -> ChildOutcome:
    """Parse (:func:`twin.live.ingest.parse_batch`: raises its ``BatchInvalid``, which the
    pool re-raises in the service), validate and commit one JSON batch in the child."""
    return _ingest_in_child(parse_batch(body, max_items), now)


class IngestProcess:
    """One child process validating and committing measurement batches.

    Parameters
    ----------
    catalogue
        The facility's points (sent to the child once).
    store
        The service's store; the child opens its own connection with the same URL and
        options.
    """

    def __init__(self, catalogue: PointCatalogue, store: Store) -> None:
        self.catalogue = catalogue
        self.store = store
        self.options = StoreOptions(
            url=store.connection_url(),
            busy_timeout=store.busy_timeout,
            synchronous=store.synchronous,
            staging_rows=store.staging_rows,
        )
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=get_context("spawn"),
                    initializer=_start_child,
                    initargs=(self.catalogue, self.options),
                )
            return self._pool

    @property
    def pid(self) -> int | None:
        """Process id of the running child (None before the first batch or after a stop)."""
        pool = self._pool
        processes = getattr(pool, "_processes", None) or {}
        return next(iter(processes), None)

    def warm_up(self) -> None:
        """Start the child now (imports and store connection, ~1–2 s) rather than on the
        first batch."""
        self._executor().submit(_ingest_in_child, [], datetime.now(UTC)).result()

    def ingest(self, items: Sequence[Any], now: datetime) -> ChildOutcome:
        """Validate and commit ``items`` in the child; returns after the commit.

        Raises
        ------
        StoreBusy
            The store stayed locked past its budget, or the child died with the batch (not
            acknowledged, perhaps committed: sending it again is a no-op for what was stored;
            a new child takes the next batch).
        """
        return self._run(_ingest_in_child, list(items), now)

    def ingest_body(self, body: bytes, now: datetime, max_items: int) -> ChildOutcome:
        """Parse, validate and commit a raw JSON batch ``{"items": [...]}`` of at most
        ``max_items`` [count] items in the child; returns after the commit.

        Raises
        ------
        twin.live.ingest.BatchInvalid
            The body is not such a batch (nothing stored).
        StoreBusy
            As :meth:`ingest`.
        """
        return self._run(_ingest_body_in_child, body, now, max_items)

    def _run(self, task: Callable[..., ChildOutcome], *args: Any) -> ChildOutcome:
        """``task(*args)`` in the child (a new child if the last one stopped)."""
        pool = self._executor()
        try:
            try:
                future = pool.submit(task, *args)
            except RuntimeError:  # shut down meanwhile (a new catalogue): the next child
                pool = self._executor()
                future = pool.submit(task, *args)
            outcome: ChildOutcome = future.result()
        except BrokenProcessPool as exc:
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            log.error("the ingest process died; a new one takes the next batch")
            raise StoreBusy("the ingest process stopped with this batch; send it again") from exc
        return outcome

    def replace_catalogue(self, catalogue: PointCatalogue) -> None:
        """Use ``catalogue`` from the next batch on (the scenario was replaced or re-anchored):
        when its points differ, the child finishes its batch and stops and the next batch
        starts a new one; the daily re-anchoring keeps the same points and the same child."""
        same = catalogue.kinds == self.catalogue.kinds
        self.catalogue = catalogue
        if not same:
            self.close()

    def close(self) -> None:
        """Stop the child (batches already answered are committed)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


__all__ = ["ChildOutcome", "Committer", "IngestProcess", "StoreOptions"]
