"""Measurement store of the live twin: one interface over SQLite (default) and PostgreSQL.

>>> store = Store("sqlite:///var/dctwin.db")            # or Store("postgresql://twin@db:5432/twin")
>>> store.insert([Reading("rack/B07/inlet_temperature", now, 24.5)])
InsertResult(inserted=1, already_stored=0)

Written with SQLAlchemy Core (no ORM).  Every write is one transaction, committed (durable)
before the method returns; every method may be called from many threads at once (one
:class:`sqlalchemy.engine.Engine` with a connection pool per :class:`Store`).

The tables and their migrations are in :mod:`twin.store.schema`; the engine, its durability
and locking rules in :mod:`twin.store.engine`; plans, audit log, parameters and alarms in
:mod:`twin.store.records`.  This module holds :class:`Store` and its measurement methods.

Measurements are clustered by ``(point, time)`` so that a point's history is one contiguous
range (plots, downsampling and retention read only that point's rows).  ``insert`` is
idempotent: a ``(point, time)`` already stored keeps its stored value and counts as
``already_stored``.

Ingestion speed on SQLite
-------------------------
A batch of 1,000 readings usually holds one reading of each of 1,000 points.  Written
straight into the ``(point, time)`` table it would modify 1,000 different B-tree pages, and
SQLite writes whole pages to its write-ahead log: about 4 MB of log per batch (80 times the
data).  SQLite therefore writes new readings into ``measurements_staging``, clustered by
``(time, point)`` so that a batch appends to a few pages, and moves the staged rows into
``measurements`` in one ordered ``INSERT … SELECT`` once ``staging_rows`` (default 50,000)
have accumulated — inside the transaction of the insert that crosses the threshold, so a row
is always in exactly one of the two tables.  Every read unions both tables, so the buffer is
invisible to callers.  PostgreSQL writes straight into ``measurements`` (its log records rows,
not pages) with one ``INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING`` per batch.

Retention
---------
:meth:`Store.apply_retention` deletes raw measurements older than a cutoff, point by point
(one short transaction per point, so ingestion is never held up for long).  By default it
first adds the deleted rows' hourly count, sum, minimum and maximum to
``measurements_hourly`` (combined with any rollup already there, so late data and cutoffs in
the middle of an hour are handled exactly); read them back with :meth:`Store.rollups`.
``latest`` keeps each point's newest reading even when it is older than the cutoff.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from operator import itemgetter
from typing import Any, Literal, TypedDict

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from twin.scenario.points import Reading
from twin.store.engine import (
    EPOCH,
    HOUR_MICROSECONDS,
    MICROSECOND,
    Database,
    dialect_insert,
    engine_url,
    finite_number,
    from_microseconds,
    optional_microseconds,
    to_microseconds,
)
from twin.store.insert_sql import PG_INSERT, PG_INSERT_NEW, pg_insert_args, sqlite_statements
from twin.store.records import RecordsMixin
from twin.store.schema import HOURLY, LATEST, MEASUREMENTS, SCHEMA_VERSION, STAGING, migrate
from twin.store.sessions import SessionsMixin

__all__ = ["InsertResult", "Rollup", "Store"]

_KEY = itemgetter(0, 1)
_SQLITE_PARAMS = 5_000  # points per IN (...) list (the union repeats it: well under 32,766)


@dataclass(frozen=True)
class InsertResult:
    """Outcome of :meth:`Store.insert`.

    Attributes
    ----------
    inserted
        Readings newly stored.
    already_stored
        Readings whose ``(point, time)`` was already stored (or repeated in the batch): the
        stored value is kept.
    """

    inserted: int
    already_stored: int


class Rollup(TypedDict):
    """Hourly statistics of raw readings removed by :meth:`Store.apply_retention` (a dict).

    Keys
    ----
    point
        Point id.
    hour
        Start of the hour (UTC).
    mean, min, max
        Mean, minimum and maximum of the readings in the hour [canonical unit].
    count
        Number of readings.
    """

    point: str
    hour: datetime
    mean: float
    min: float
    max: float
    count: int


def _points_list(points: str | Iterable[str]) -> list[str]:
    if isinstance(points, str):
        return [points]
    return list(dict.fromkeys(points))


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --------------------------------------------------------------------------------------------
# the store


class Store(RecordsMixin, SessionsMixin):
    """Measurements, plans, audit log, calibrated parameters and alarms of one live twin.

    Parameters
    ----------
    url
        ``sqlite:///path/dctwin.db`` (relative path) or ``sqlite:////abs/path.db``, a plain
        file path (SQLite), or ``postgresql://user:password@host:port/db`` (psycopg 3).
        The SQLite file and its folder are created if missing.
    busy_timeout
        Budget [s] for waiting on other writers' locks (and for a free pooled connection)
        before :class:`StoreBusy`.
    synchronous
        SQLite only: ``"NORMAL"`` (default; commits survive a process crash) or ``"FULL"``
        (also survive power loss; one ``fsync`` per commit).  See the module docstring.
    staging_rows
        SQLite only: rows buffered in ``measurements_staging`` before they are moved into
        ``measurements`` (0 writes straight into ``measurements``).  Default 50,000.
    pool_size
        Connections kept open (more are opened under load, up to twice this many more).
    merge_in_background
        SQLite only: :meth:`insert` never merges the staging buffer itself; the owner calls
        :meth:`merge_step` (the oldest 5,000 rows at a time) while :attr:`merge_pending`, so no
        insert carries or waits for a whole merge (the live twin's worker thread does this).

    Raises
    ------
    ValueError
        Unsupported URL or option.
    StoreError
        The database schema is newer than this code.
    StoreBusy
        The database stayed locked while migrating.
    """

    def __init__(
        self,
        url: str | os.PathLike[str],
        *,
        busy_timeout: float = 5.0,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        staging_rows: int | None = None,
        pool_size: int = 5,
        merge_in_background: bool = False,
    ) -> None:
        if not busy_timeout > 0:
            raise ValueError(f"busy_timeout must be > 0 s, got {busy_timeout}")
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be 'NORMAL' or 'FULL', got {synchronous!r}")
        database_url = engine_url(url)
        self.backend: str = database_url.get_backend_name()
        """``sqlite`` or ``postgresql``."""
        if self.backend != "sqlite" and staging_rows:
            raise ValueError("staging_rows applies to SQLite only (PostgreSQL writes directly)")
        if staging_rows is not None and staging_rows < 0:
            raise ValueError(f"staging_rows must be >= 0, got {staging_rows}")
        self.busy_timeout = float(busy_timeout)
        """Budget for waiting on locks [s]."""
        if self.backend == "sqlite":
            self.staging_rows = 50_000 if staging_rows is None else staging_rows
        else:
            self.staging_rows = 0
        """Rows buffered in ``measurements_staging`` before a merge (0: no buffer)."""
        self._staged = 0
        self._staged_lock = threading.Lock()
        self.merge_in_background = bool(merge_in_background) and self.backend == "sqlite"
        """Whether merges of the staging buffer are left to :meth:`merge_step`."""
        self.synchronous = synchronous
        """SQLite's ``synchronous`` setting of the connections."""
        self._url_with_password = database_url.render_as_string(hide_password=False)
        self._database = Database(
            database_url,
            busy_timeout=self.busy_timeout,
            synchronous=synchronous,
            pool_size=pool_size,
        )
        try:
            self.schema_version: int = SCHEMA_VERSION
            """Schema version of the database (always the current one once open)."""
            self._database.write(migrate)
            count = sa.select(sa.func.count()).select_from(STAGING)
            staged = self._database.read(lambda conn: int(conn.execute(count).scalar_one()))
            self._staged = staged
            if staged and not self.staging_rows:
                self.flush()
        except BaseException:
            self._database.dispose()
            raise

    @property
    def url(self) -> str:
        """Database URL (password hidden)."""
        return self._database.url

    def connection_url(self) -> str:
        """Database URL with its password, to open the same store from another process
        (never logged or shown)."""
        return self._url_with_password

    def close(self) -> None:
        """Close every pooled connection (the store can still be used: it reconnects)."""
        self._database.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    # ------------------------------------------------------------------------ measurements

    def insert(
        self,
        readings: Sequence[Reading],
        *,
        received: datetime | None = None,
        newer_than: Mapping[str, datetime] | None = None,
    ) -> InsertResult:
        """Store readings in one transaction, committed before returning; idempotent.

        Parameters
        ----------
        readings
            Readings in canonical units with timezone-aware times (any order; late readings
            are accepted here: the lateness rule belongs to :mod:`twin.live.ingest`).
        received
            Arrival time recorded with the rows (default: now, UTC).
        newer_than
            The newest stored time of some points as the caller knows it (the ingest
            committer, the store's one writer of measurements): on PostgreSQL a reading after
            it is inserted without the check for a row already stored, which costs the server
            about a third of its time per row (``benchmarks/ingest.py``, docs/store.md).
            Should one be stored after all (another writer), the whole batch is inserted
            again with the check: the outcome is the same either way.  Ignored on SQLite.

        Returns
        -------
        InsertResult
            Newly stored and already stored counts (they sum to ``len(readings)``).

        Raises
        ------
        ValueError
            A reading has a naive time, a non-finite value or a point that is not text
            (nothing is stored).
        StoreBusy
            The database stayed locked longer than ``busy_timeout``.
        """
        if not readings:
            return InsertResult(0, 0)
        try:
            # each distinct time converted once (a batch shares a few time objects)
            stamps = {t: (t - EPOCH) // MICROSECOND for t in {r.time for r in readings}}
            rows = [(r.point, stamps[r.time], float(r.value)) for r in readings]
        except (TypeError, ValueError, AttributeError, OverflowError):
            _explain_bad(readings)
            raise
        if (
            not all(type(p) is str for p, _, _ in rows)
            or not all(map(math.isfinite, [v for _, _, v in rows]))
            or not all(map(_storable_point, {p for p, _, _ in rows}))
        ):
            _explain_bad(readings)
        rows.sort(key=_KEY)  # stable: of two readings with one (point, time), the first wins
        recv = to_microseconds(received or datetime.now(UTC), "received")
        last: dict[str, tuple[str, int, float, int]] = {}
        for p, t, v in rows:
            if p not in last or t > last[p][1]:
                last[p] = (p, t, v, recv)
        newest = list(last.values())
        if self.backend == "sqlite":
            staging = self.staging_rows > 0
            # one statement per chunk of rows, not one per row: SQLite runs it in one call,
            # so the interpreter lock is released once, not once per row (under concurrency
            # each re-acquisition could wait a thread switch)
            inserts, upserts = sqlite_statements(rows, newest, recv, staging)
            merged = [False]

            def work(conn: Connection) -> int:
                count = sum(conn.exec_driver_sql(sql, args).rowcount for sql, args in inserts)
                for sql, args in upserts:
                    conn.exec_driver_sql(sql, args)
                merged[0] = (
                    staging
                    and not self.merge_in_background
                    and self._staged + count >= self.staging_rows
                )
                if merged[0]:
                    _merge(conn)
                return count

            inserted = self._database.write(work)
            if staging:
                with self._staged_lock:
                    self._staged = 0 if merged[0] else self._staged + inserted
        else:
            inserted = self._insert_pg(rows, newest, recv, newer_than)
        return InsertResult(inserted, len(rows) - inserted)

    def _insert_pg(
        self,
        rows: list[tuple[str, int, float]],
        newest: list[tuple[str, int, float, int]],
        recv: int,
        newer_than: Mapping[str, datetime] | None,
    ) -> int:
        """:meth:`insert` on PostgreSQL: without the conflict check when every row is after
        ``newer_than`` (again with it if one was stored after all), else with it; returns
        the rows newly stored.

        One statement for all the rows, in their (point, time) order: a split into new and
        checked rows let two writers that disagree on which rows are new take their row
        locks in opposite orders and deadlock (27 of 30 rounds in a test of two writers)."""
        after = {p: (t - EPOCH) // MICROSECOND for p, t in (newer_than or {}).items()}
        # a point the caller does not know of: checked
        fresh = bool(after) and all(t > after.get(p, t) for p, t, _ in rows)
        args = pg_insert_args(rows, newest, recv)

        def work(statement: Any) -> int:
            return self._database.run(
                lambda conn: int(conn.execute(statement, args).scalar_one()),
                write=True,
                statement=True,
            )

        if fresh:
            try:
                return work(PG_INSERT_NEW)
            except sa.exc.IntegrityError:  # a row was stored after what the caller knew of
                pass
        return work(PG_INSERT)

    def flush(self) -> int:
        """Move every staged row into ``measurements`` now (SQLite; a no-op on PostgreSQL).

        Returns
        -------
        int
            Rows moved.
        """
        moved = self._database.write(_merge)
        with self._staged_lock:
            self._staged = 0
        return moved

    @property
    def staged(self) -> int:
        """Rows waiting in the SQLite staging buffer (0 on PostgreSQL)."""
        return self._staged

    @property
    def merge_pending(self) -> bool:
        """The staging buffer holds at least ``staging_rows`` rows (SQLite with staging)."""
        return self.staging_rows > 0 and self._staged >= self.staging_rows

    def merge_step(self, rows: int = 5_000) -> int:
        """Merge the oldest ``rows`` staged rows (by time) into ``measurements``.

        One short write transaction, so a concurrent insert waits for one slice, not for a
        whole merge: with 1,000-reading batches, insert p99 21 ms (36 points) and 62–77 ms
        (1,000 points) against 86 and 109–141 ms when inserts merge the whole 50,000-row
        buffer (``benchmarks/ingest_store.py --background-merge``).

        Parameters
        ----------
        rows
            Rows to move (>= 1; rows at the slice's last time move too).

        Returns
        -------
        int
            Rows moved (0 when nothing was staged).
        """
        if rows < 1:
            raise ValueError(f"rows must be >= 1, got {rows}")
        if not self.staging_rows:
            return 0
        moved = self._database.write(lambda conn: _merge(conn, rows))
        with self._staged_lock:
            self._staged = max(0, self._staged - moved)
            if moved == 0:
                self._staged = 0
        return moved

    def last_times(self, points: str | Iterable[str]) -> dict[str, datetime]:
        """Latest stored time of each point (points never stored are left out).

        Parameters
        ----------
        points
            Point ids.

        Returns
        -------
        dict
            Point id → UTC time of its newest reading.
        """
        return {point: reading.time for point, reading in self.latest(points).items()}

    def latest(self, points: str | Iterable[str] | None = None) -> dict[str, Reading]:
        """Newest reading of each point.

        Parameters
        ----------
        points
            Point ids (default: every point ever stored).

        Returns
        -------
        dict
            Point id → its newest reading (points never stored are left out).
        """
        cols = (LATEST.c.point, LATEST.c.time, LATEST.c.value)
        if points is None:
            queries = [sa.select(*cols)]
        else:
            queries = [
                sa.select(*cols).where(LATEST.c.point.in_(chunk))
                for chunk in _chunks(_points_list(points), _SQLITE_PARAMS)
            ]

        def work(conn: Connection) -> dict[str, Reading]:
            found: dict[str, Reading] = {}
            for query in queries:
                for point, t, value in conn.execute(query):
                    found[point] = Reading(point, from_microseconds(t), value)
            return found

        return self._database.read(work)

    def query(
        self,
        points: str | Iterable[str],
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Reading]:
        """Stored readings of ``points`` with ``start <= time < end``, in time order.

        Parameters
        ----------
        points
            Point ids.
        start, end
            Timezone-aware bounds (None: unbounded).

        Returns
        -------
        list of Reading
            Ordered by time, then point id.
        """
        bounds = (optional_microseconds(start, "start"), optional_microseconds(end, "end"))
        selects = [
            sa.union_all(
                *(
                    sa.select(t.c.point, t.c.time, t.c.value).where(
                        t.c.point.in_(chunk), *_time_range(t, *bounds)
                    )
                    for t in (MEASUREMENTS, STAGING)
                )
            ).subquery()
            for chunk in _chunks(_points_list(points), _SQLITE_PARAMS)
        ]
        queries = [sa.select(u).order_by(u.c.time, u.c.point) for u in selects]

        def work(conn: Connection) -> list[Reading]:
            out = [
                Reading(point, from_microseconds(t), value)
                for query in queries
                for point, t, value in conn.execute(query)
            ]
            if len(queries) > 1:
                out.sort(key=lambda r: (r.time, r.point))
            return out

        return self._database.read(work)

    def downsample(
        self,
        point: str,
        start: datetime,
        end: datetime,
        bucket: timedelta,
        how: Literal["mean", "min", "max", "last"] = "mean",
    ) -> tuple[list[datetime], list[float]]:
        """One value per time bucket of one point, computed in SQL.

        Buckets are aligned on the Unix epoch (1 h buckets start on the hour, 15 min buckets
        on the quarter hour) and cover ``start <= time < end`` (readings outside are not
        used; the first bucket may start before ``start``).  Empty buckets are left out.

        Parameters
        ----------
        point
            Point id.
        start, end
            Timezone-aware bounds.
        bucket
            Bucket width (a positive whole number of microseconds).
        how
            ``mean``, ``min``, ``max`` or ``last`` (the value of the latest reading in the
            bucket).

        Returns
        -------
        times : list of datetime
            Start of each non-empty bucket (UTC), increasing.
        values : list of float
            The bucket's value [the point's canonical unit].
        """
        width = bucket // MICROSECOND
        if width <= 0 or bucket % MICROSECOND:
            raise ValueError(f"bucket must be a positive whole number of µs, got {bucket}")
        if how not in ("mean", "min", "max", "last"):
            raise ValueError(f"how must be mean, min, max or last, got {how!r}")
        lo, hi = to_microseconds(start, "start"), to_microseconds(end, "end")
        origin = lo - lo % width  # ≤ every time used, so the integer division is a floor
        rows = sa.union_all(
            *(
                sa.select(t.c.time, t.c.value).where(t.c.point == point, *_time_range(t, lo, hi))
                for t in (MEASUREMENTS, STAGING)
            )
        ).subquery("rows")
        # integer division (every time ≥ origin, so it is a floor on both backends)
        index = (rows.c.time - sa.literal(origin, sa.BigInteger)) // sa.literal(
            width, sa.BigInteger
        )
        if how == "last":
            newest = (
                sa.select(index.label("bucket"), sa.func.max(rows.c.time).label("time"))
                .group_by(index)
                .subquery("newest")
            )
            query = (
                sa.select(newest.c.bucket, rows.c.value)
                .join_from(newest, rows, rows.c.time == newest.c.time)
                .order_by(newest.c.bucket)
            )
        else:
            aggregate = getattr(sa.func, "avg" if how == "mean" else how)(rows.c.value)
            query = sa.select(index.label("bucket"), aggregate).group_by(index).order_by(index)

        def work(conn: Connection) -> tuple[list[datetime], list[float]]:
            rows = conn.execute(query).all()
            times = [from_microseconds(origin + int(b) * width) for b, _ in rows]
            return times, [float(value) for _, value in rows]

        return self._database.read(work)

    def count(self, points: str | Iterable[str] | None = None) -> int:
        """Number of stored raw readings (of ``points``, default all)."""
        chunks = [None] if points is None else list(_chunks(_points_list(points), _SQLITE_PARAMS))

        def work(conn: Connection) -> int:
            total = 0
            for chunk in chunks:
                for table in (MEASUREMENTS, STAGING):
                    query = sa.select(sa.func.count()).select_from(table)
                    if chunk is not None:
                        query = query.where(table.c.point.in_(chunk))
                    total += int(conn.execute(query).scalar_one())
            return total

        return self._database.read(work)

    def apply_retention(self, older_than: datetime, *, rollup: bool = True) -> int:
        """Delete raw readings older than a cutoff, keeping hourly statistics first.

        One transaction per point (ingestion waits at most for one point's deletion).
        Readings staged after the flush that starts this call are handled next time.

        Parameters
        ----------
        older_than
            Cutoff (timezone-aware): readings with ``time < older_than`` are deleted.
        rollup
            Add their hourly count, sum, min and max to ``measurements_hourly`` first.

        Returns
        -------
        int
            Raw readings deleted.
        """
        cutoff = to_microseconds(older_than, "older_than")
        if self.merge_in_background:  # in slices: no insert waits for a whole merge
            while self.merge_step():
                pass
        elif self.backend == "sqlite":
            self.flush()
        points = self._database.read(
            lambda conn: list(conn.execute(sa.select(LATEST.c.point)).scalars())
        )
        deleted = 0
        for point in points:
            deleted += self._database.write(
                partial(_retire, point=point, cutoff=cutoff, rollup=rollup)
            )
        return deleted

    def rollups(
        self, point: str, start: datetime | None = None, end: datetime | None = None
    ) -> list[Rollup]:
        """Hourly statistics kept by :meth:`apply_retention` for one point, in time order.

        Parameters
        ----------
        point
            Point id.
        start, end
            Timezone-aware bounds on the hour start (None: unbounded).
        """
        h = HOURLY
        query = (
            sa.select(h.c.hour, h.c.count, h.c.sum, h.c.min, h.c.max)
            .where(h.c.point == point)
            .order_by(h.c.hour)
        )
        if start is not None:
            query = query.where(h.c.hour >= to_microseconds(start, "start"))
        if end is not None:
            query = query.where(h.c.hour < to_microseconds(end, "end"))

        def work(conn: Connection) -> list[Rollup]:
            return [
                Rollup(
                    point=point,
                    hour=from_microseconds(hour),
                    mean=total / n,
                    min=low,
                    max=high,
                    count=n,
                )
                for hour, n, total, low, high in conn.execute(query)
            ]

        return self._database.read(work)


# --------------------------------------------------------------------------------------------
# statements


def _time_range(table: sa.Table, lo: int | None, hi: int | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if lo is not None:
        conditions.append(table.c.time >= lo)
    if hi is not None:
        conditions.append(table.c.time < hi)
    return conditions


def _merge(conn: Connection, rows: int | None = None) -> int:
    """Move staged rows into ``measurements`` (inside the caller's write transaction): all of
    them, or the oldest ``rows`` (and any others at the last of their times)."""
    cols = ["point", "time", "value", "received"]
    where: sa.ColumnElement[bool] = sa.true()
    if rows is not None:
        query = sa.select(STAGING.c.time).order_by(STAGING.c.time).offset(rows - 1).limit(1)
        last = conn.execute(query).scalar_one_or_none()
        if last is not None:  # fewer rows than that staged: the slice takes them all
            where = STAGING.c.time <= last
    staged = sa.select(*(STAGING.c[c] for c in cols)).where(where)
    staged = staged.order_by(STAGING.c.point, STAGING.c.time)
    insert = dialect_insert(conn.dialect.name, MEASUREMENTS)
    conn.execute(insert.from_select(cols, staged).on_conflict_do_nothing())
    return int(conn.execute(sa.delete(STAGING).where(where)).rowcount)


def _retire(conn: Connection, point: str, cutoff: int, rollup: bool) -> int:
    """Roll up then delete one point's rows older than ``cutoff`` [µs]."""
    m = MEASUREMENTS
    old = sa.and_(m.c.point == point, m.c.time < cutoff)
    if rollup:
        hour_us = sa.literal(HOUR_MICROSECONDS, sa.BigInteger)
        hour = m.c.time - (m.c.time % hour_us + hour_us) % hour_us  # floor, negatives too
        source = (
            sa.select(
                m.c.point,
                hour.label("hour"),
                sa.func.count().label("count"),
                sa.func.sum(m.c.value).label("sum"),
                sa.func.min(m.c.value).label("min"),
                sa.func.max(m.c.value).label("max"),
            )
            .where(old)
            .group_by(m.c.point, hour)
        )
        postgres = conn.dialect.name == "postgresql"
        insert = dialect_insert(conn.dialect.name, HOURLY)
        insert = insert.from_select(["point", "hour", "count", "sum", "min", "max"], source)
        lower = sa.func.least if postgres else sa.func.min
        upper = sa.func.greatest if postgres else sa.func.max
        h, new = HOURLY, insert.excluded
        conn.execute(
            insert.on_conflict_do_update(
                index_elements=[h.c.point, h.c.hour],
                set_={
                    "count": h.c.count + new["count"],
                    "sum": h.c.sum + new["sum"],
                    "min": lower(h.c.min, new["min"]),
                    "max": upper(h.c.max, new["max"]),
                },
            )
        )
    return int(conn.execute(sa.delete(m).where(old)).rowcount)


MAX_POINT_BYTES = 1_000
"""Longest point id a store takes [bytes of UTF-8]: PostgreSQL's index refuses an entry over
about 2,700 bytes, and no point of a scenario comes near either."""


def _storable_point(point: str) -> bool:
    try:
        return len(point.encode("utf-8")) <= MAX_POINT_BYTES
    except UnicodeEncodeError:  # a lone surrogate: no UTF-8 for it
        return False


def _explain_bad(readings: Sequence[Reading]) -> None:
    """Raise a ValueError naming the first unstorable reading."""
    for index, reading in enumerate(readings):
        where = f"reading {index} ({str(getattr(reading, 'point', reading))[:80]!r})"
        if not isinstance(reading, Reading):
            raise ValueError(f"{where} is a {type(reading).__name__}, not a twin.points.Reading")
        if not isinstance(reading.point, str):
            raise ValueError(f"{where}: point must be text")
        if not _storable_point(reading.point):
            raise ValueError(
                f"{where}: point must be UTF-8 text of at most {MAX_POINT_BYTES} bytes"
            )
        to_microseconds(reading.time, f"{where}: time")
        try:
            finite_number(reading.value, f"{where}: value")
        except (TypeError, OverflowError) as exc:
            raise ValueError(f"{where}: value {reading.value!r} is not a number") from exc
    raise ValueError("readings could not be stored")  # pragma: no cover
