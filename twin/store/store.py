"""Measurement store of the live twin: one interface over SQLite (default) and PostgreSQL.

>>> store = Store("sqlite:///var/dctwin.db")            # or Store("postgresql://twin@db:5432/twin")
>>> store.insert([Reading("rack/B07/inlet_temperature", now, 24.5)])
InsertResult(inserted=1, already_stored=0)

Written with SQLAlchemy Core (no ORM).  Every write is one transaction, committed (durable)
before the method returns; every method may be called from many threads at once (one
:class:`sqlalchemy.engine.Engine` with a connection pool per :class:`Store`).

Schema (version :data:`SCHEMA_VERSION`)
---------------------------------------
Times are ``BIGINT`` microseconds since the Unix epoch, UTC (exact, fast and identical on both
backends); values are double precision in the point's canonical unit (:mod:`twin.scenario.points`);
JSON payloads are ``TEXT``.

=========================  ===========================================================  ==========
table                      columns                                                      key
=========================  ===========================================================  ==========
``meta``                   key, value (``schema_version``)                              key
``measurements``           point, time, value, received (NULL for rows before v2)       point, time
``measurements_staging``   same columns; SQLite's write buffer (see below)              time, point
``latest``                 point, time, value, received: the newest reading per point   point
``measurements_hourly``    point, hour, count, sum, min, max: rollup kept by retention  point, hour
``plans``                  id, created, status, payload, decided_by, decided_at, reason id
``audit``                  id (autoincrement), time, actor, action, target, reason,     id
                           detail
``parameters``             name, time, value, std                                       name, time
``alarms``                 id (autoincrement), raised, cleared, kind, source, message   id
=========================  ===========================================================  ==========

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

Durability
----------
SQLite runs in WAL mode with ``synchronous=NORMAL``: a commit appends the transaction to the
``-wal`` file with ``write()`` before ``insert`` returns, so the data is in the operating
system's page cache and survives the death of the process at any instant (``kill -9``) — it
is lost only if the *machine* loses power or the kernel crashes before the next checkpoint
syncs the log (the database then stays consistent and misses the last transactions).  Pass
``synchronous="FULL"`` to sync the log on every commit and survive power loss too, at the
cost of one ``fsync`` per write.  PostgreSQL commits with its defaults
(``synchronous_commit=on``): durable against power loss.

Locking
-------
SQLite allows one writer at a time.  Write transactions start with ``BEGIN IMMEDIATE`` (they
take the write lock first, so two writers never deadlock), wait up to a slice of the
``busy_timeout`` budget in SQLite's own busy handler, and are retried with exponential backoff
a bounded number of times; past the budget the method raises :class:`StoreBusy` (the API
answers 503).  Readers never wait for writers (WAL).  On PostgreSQL ``lock_timeout`` is set to
the budget and deadlocks or serialization failures are retried the same way.

Retention
---------
:meth:`Store.apply_retention` deletes raw measurements older than a cutoff, point by point
(one short transaction per point, so ingestion is never held up for long).  By default it
first adds the deleted rows' hourly count, sum, minimum and maximum to
``measurements_hourly`` (combined with any rollup already there, so late data and cutoffs in
the middle of an hour are handled exactly); read them back with :meth:`Store.rollups`.
``latest`` keeps each point's newest reading even when it is older than the cutoff.

Migrations
----------
``meta.schema_version`` records the version; opening a store applies the missing steps of
:data:`MIGRATIONS` in one transaction (under an advisory lock on PostgreSQL, a write lock on
SQLite, so two processes opening an old database at once migrate it once).  Version 1 held
``measurements`` without ``received``, ``plans``, ``audit``, ``parameters`` and ``alarms``;
version 2 added ``measurements.received``, the staging buffer, ``latest`` (filled from the
stored rows) and the hourly rollup.  A database newer than the code is refused.
"""

from __future__ import annotations

import json
import math
import os
import random
import threading
import time as _time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from operator import itemgetter
from pathlib import Path
from typing import Any, Literal, TypedDict, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.schema import SchemaItem

from twin.scenario.points import Reading

__all__ = [
    "MIGRATIONS",
    "PLAN_STATUSES",
    "PLAN_TRANSITIONS",
    "SCHEMA_VERSION",
    "Alarm",
    "AuditEntry",
    "Conflict",
    "InsertResult",
    "NotFound",
    "ParameterValue",
    "PlanRecord",
    "Rollup",
    "Store",
    "StoreBusy",
    "StoreError",
    "migrate",
]

T = TypeVar("T")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_HOUR_US = 3_600_000_000

PLAN_STATUSES = ("proposed", "approved", "rejected", "applied", "superseded")
"""Every status a plan can have."""

PLAN_TRANSITIONS: dict[str, frozenset[str]] = {
    "proposed": frozenset({"approved", "rejected", "superseded"}),
    "approved": frozenset({"applied", "superseded"}),
}
"""Allowed status changes: a decision is taken once, on a proposed plan; an approved plan can
then only be applied or superseded.  ``rejected``, ``applied`` and ``superseded`` are final."""

_MAX_ATTEMPTS = 6
_KEY = itemgetter(0, 1)
_SQLITE_PARAMS = 5_000  # points per IN (...) list (the union repeats it: well under 32,766)


# --------------------------------------------------------------------------------------------
# errors and records


class StoreError(Exception):
    """A store operation failed (bad URL, schema newer than the code, …)."""


class StoreBusy(StoreError):
    """The database stayed locked by other writers longer than the ``busy_timeout`` budget."""


class NotFound(StoreError, KeyError):
    """No plan or alarm with that id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class Conflict(StoreError, ValueError):
    """The write contradicts the stored state (status change not allowed, duplicate id)."""


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


class PlanRecord(TypedDict):
    """A stored plan (a JSON-ready dict).

    Keys
    ----
    id
        Plan id.
    created
        When it was stored (UTC).
    status
        One of :data:`PLAN_STATUSES`.
    payload
        The plan as JSON-compatible data.
    decided_by, decided_at, reason
        Who changed the status last, when (UTC) and why (None while proposed).
    """

    id: str
    created: datetime
    status: str
    payload: Any
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None


class AuditEntry(TypedDict):
    """One line of the audit log (a dict).

    Keys
    ----
    id
        Increasing sequence number.
    time
        When (UTC).
    actor
        Who (user name or ``system``).
    action
        What, e.g. ``plan.approved``.
    target
        On what (plan id, point id, …), or None.
    reason
        Why, as given, or None.
    detail
        Extra JSON-compatible data, or None.
    """

    id: int
    time: datetime
    actor: str
    action: str
    target: str | None
    reason: str | None
    detail: Any


class ParameterValue(TypedDict):
    """One calibrated parameter value (a dict).

    Keys
    ----
    name
        Parameter name.
    time
        Time of the calibration (UTC).
    value
        Estimate [the parameter's unit].
    std
        Standard deviation of the estimate [same unit], or None.
    """

    name: str
    time: datetime
    value: float
    std: float | None


class Alarm(TypedDict):
    """One alarm (a dict).

    Keys
    ----
    id
        Alarm id.
    raised
        When it was raised (UTC).
    cleared
        When it was cleared (UTC), None while active.
    kind
        Kind, e.g. ``sensor_stuck``.
    source
        What raised it, e.g. a point id.
    message
        One sentence for the operator.
    """

    id: int
    raised: datetime
    cleared: datetime | None
    kind: str
    source: str
    message: str


# --------------------------------------------------------------------------------------------
# schema: one builder per table version (migrations use the frozen ones)


def _meta_table(md: sa.MetaData) -> sa.Table:
    return sa.Table(
        "meta",
        md,
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def _measurement_columns(received: bool, time_first: bool = False) -> list[SchemaItem]:
    columns: list[SchemaItem] = [
        sa.Column("point", sa.Text, nullable=False),
        sa.Column("time", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("value", sa.Double, nullable=False),
    ]
    if received:
        columns.append(sa.Column("received", sa.BigInteger, nullable=True))
    key = ("time", "point") if time_first else ("point", "time")
    return [*columns, sa.PrimaryKeyConstraint(*key)]


def _measurements_v1(md: sa.MetaData) -> sa.Table:
    return sa.Table(
        "measurements", md, *_measurement_columns(received=False), sqlite_with_rowid=False
    )


def _measurements_v2(md: sa.MetaData) -> sa.Table:
    return sa.Table(
        "measurements", md, *_measurement_columns(received=True), sqlite_with_rowid=False
    )


def _staging_v2(md: sa.MetaData) -> sa.Table:
    return sa.Table(
        "measurements_staging",
        md,
        *_measurement_columns(received=True, time_first=True),
        sqlite_with_rowid=False,
    )


def _latest_v2(md: sa.MetaData) -> sa.Table:
    return sa.Table(
        "latest",
        md,
        sa.Column("point", sa.Text, primary_key=True),
        sa.Column("time", sa.BigInteger, nullable=False),
        sa.Column("value", sa.Double, nullable=False),
        sa.Column("received", sa.BigInteger, nullable=True),
        sqlite_with_rowid=False,
    )


def _hourly_v2(md: sa.MetaData) -> sa.Table:
    return sa.Table(
        "measurements_hourly",
        md,
        sa.Column("point", sa.Text, primary_key=True),
        sa.Column("hour", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("sum", sa.Double, nullable=False),
        sa.Column("min", sa.Double, nullable=False),
        sa.Column("max", sa.Double, nullable=False),
        sqlite_with_rowid=False,
    )


def _plans_v1(md: sa.MetaData) -> sa.Table:
    table = sa.Table(
        "plans",
        md,
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("decided_by", sa.Text, nullable=True),
        sa.Column("decided_at", sa.BigInteger, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
    )
    sa.Index("plans_created", table.c.created)
    return table


def _audit_v1(md: sa.MetaData) -> sa.Table:
    table = sa.Table(
        "audit",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("time", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        sqlite_autoincrement=True,
    )
    sa.Index("audit_time", table.c.time)
    return table


def _parameters_v1(md: sa.MetaData) -> sa.Table:
    table = sa.Table(
        "parameters",
        md,
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("time", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("value", sa.Double, nullable=False),
        sa.Column("std", sa.Double, nullable=True),
    )
    sa.Index("parameters_time", table.c.time)
    return table


def _alarms_v1(md: sa.MetaData) -> sa.Table:
    table = sa.Table(
        "alarms",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("raised", sa.BigInteger, nullable=False),
        sa.Column("cleared", sa.BigInteger, nullable=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    active = table.c.cleared.is_(None)
    sa.Index(
        "alarms_active",
        table.c.kind,
        table.c.source,
        unique=True,
        sqlite_where=active,
        postgresql_where=active,
    )
    return table


METADATA = sa.MetaData()
"""The current schema (version :data:`SCHEMA_VERSION`)."""
_meta = _meta_table(METADATA)
_measurements = _measurements_v2(METADATA)
_staging = _staging_v2(METADATA)
_latest = _latest_v2(METADATA)
_hourly = _hourly_v2(METADATA)
_plans = _plans_v1(METADATA)
_audit = _audit_v1(METADATA)
_parameters = _parameters_v1(METADATA)
_alarms = _alarms_v1(METADATA)


def _migrate_1(conn: Connection) -> None:
    """Version 1: measurements (point, time, value), plans, audit, parameters, alarms."""
    md = sa.MetaData()
    for build in (_measurements_v1, _plans_v1, _audit_v1, _parameters_v1, _alarms_v1):
        build(md)
    md.create_all(conn, checkfirst=False)


def _migrate_2(conn: Connection) -> None:
    """Version 2: ``measurements.received``, staging buffer, ``latest`` (filled), rollup."""
    conn.execute(sa.text("ALTER TABLE measurements ADD COLUMN received BIGINT"))
    md = sa.MetaData()
    measurements = _measurements_v2(md)
    latest = _latest_v2(md)
    for build in (_staging_v2, _hourly_v2):
        build(md)
    md.create_all(
        conn, checkfirst=False, tables=[t for t in md.tables.values() if t.name != "measurements"]
    )
    newest = (
        sa.select(measurements.c.point, sa.func.max(measurements.c.time).label("time"))
        .group_by(measurements.c.point)
        .subquery()
    )
    rows = sa.select(measurements.c.point, measurements.c.time, measurements.c.value).join(
        newest,
        sa.and_(measurements.c.point == newest.c.point, measurements.c.time == newest.c.time),
    )
    conn.execute(sa.insert(latest).from_select(["point", "time", "value"], rows))


MIGRATIONS: tuple[Callable[[Connection], None], ...] = (_migrate_1, _migrate_2)
"""Step ``i`` brings a database from version ``i`` to ``i + 1``; append, never edit."""
SCHEMA_VERSION = len(MIGRATIONS)
"""Schema version this code writes."""

_PG_MIGRATION_LOCK = 0x0DC75704  # advisory lock key of migrations (any constant)


def database_version(conn: Connection) -> int:
    """Schema version of the database behind ``conn`` (0 when empty)."""
    if not sa.inspect(conn).has_table("meta"):
        return 0
    value = conn.execute(
        sa.select(_meta.c.value).where(_meta.c.key == "schema_version")
    ).scalar_one_or_none()
    return int(value) if value is not None else 0


def migrate(conn: Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring the database behind ``conn`` to schema version ``target``.

    Call inside a transaction (``with engine.begin() as conn``); :class:`Store` does.

    Parameters
    ----------
    conn
        Connection in a transaction.
    target
        Version to reach (tests create old databases with it).

    Returns
    -------
    int
        The version found before migrating.

    Raises
    ------
    StoreError
        The database is newer than this code (or than ``target``).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))
    found = database_version(conn)
    if found > target:
        raise StoreError(
            f"database schema version {found} is newer than this dctwin's "
            f"({target}): upgrade dctwin"
        )
    if found == 0:
        _meta.create(conn, checkfirst=True)
    for version in range(found, target):
        MIGRATIONS[version](conn)
    if target != found:
        if found == 0:
            conn.execute(sa.insert(_meta).values(key="schema_version", value=str(target)))
        else:
            conn.execute(
                sa.update(_meta).where(_meta.c.key == "schema_version").values(value=str(target))
            )
    return found


# --------------------------------------------------------------------------------------------
# helpers


def _to_us(value: datetime, what: str = "time") -> int:
    """Microseconds since the epoch of an aware datetime (ValueError when naive)."""
    if not isinstance(value, datetime):
        raise ValueError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{what} {value.isoformat()} has no timezone: use an aware UTC datetime "
            "(e.g. datetime(..., tzinfo=UTC))"
        )
    return (value - _EPOCH) // _US


def _opt_us(value: datetime | None, what: str) -> int | None:
    return None if value is None else _to_us(value, what)


def _from_us(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def _opt_from_us(value: int | None) -> datetime | None:
    return None if value is None else _from_us(value)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return obj.isoformat()
    if hasattr(obj, "tolist"):  # numpy scalars and arrays
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def _dumps(obj: Any, what: str) -> str:
    try:
        return json.dumps(obj, default=_json_default, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} is not JSON: {exc}") from exc


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _finite(value: float, what: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what} {value!r} is not finite")
    return number


def _engine_url(url: str | os.PathLike[str]) -> sa.URL:
    """SQLAlchemy URL of a store URL or SQLite file path."""
    text = os.fspath(url)
    if "://" not in text:
        return sa.URL.create("sqlite+pysqlite", database=text)
    try:
        parsed = sa.make_url(text)
    except sa_exc.ArgumentError as exc:
        raise ValueError(f"store URL {text!r} is not a database URL: {exc}") from exc
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgresql", "postgres"):
        if driver not in ("", "psycopg"):
            raise ValueError(f"store URL {text!r}: only the psycopg (3) driver is supported")
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if driver not in ("", "pysqlite"):
            raise ValueError(f"store URL {text!r}: only the standard sqlite3 driver is supported")
        if not parsed.database or parsed.database == ":memory:":
            raise ValueError(
                f"store URL {text!r}: SQLite needs a file (sqlite:///path/dctwin.db), "
                "an in-memory database is not shared between connections"
            )
        return parsed.set(drivername="sqlite+pysqlite")
    raise ValueError(f"store URL {text!r}: use sqlite:///path or postgresql://user@host/db")


def _is_busy(error: sa_exc.DBAPIError) -> bool:
    """Whether a driver error means "locked by someone else, try again"."""
    orig = error.orig
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        return (code & 0xFF) in (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED (and extended codes)
    state = getattr(orig, "sqlstate", None)
    if isinstance(state, str):
        return state in ("55P03", "40P01", "40001")  # lock timeout, deadlock, serialization
    return "database is locked" in str(orig)


def _points_list(points: str | Iterable[str]) -> list[str]:
    if isinstance(points, str):
        return [points]
    return list(dict.fromkeys(points))


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --------------------------------------------------------------------------------------------
# the store


class Store:
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
        engine_url = _engine_url(url)
        self.backend: str = engine_url.get_backend_name()
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
        # SQLite has one writer at a time; queueing this process's writers on a lock is fair
        # and prompt, where SQLite's busy handler would sleep in growing steps.
        self._write_lock: threading.Lock | None = (
            threading.Lock() if self.backend == "sqlite" else None
        )
        budget_ms = max(1, int(self.busy_timeout * 1000))
        if self.backend == "sqlite":
            Path(str(engine_url.database)).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self._engine = sa.create_engine(
                engine_url,
                connect_args={"check_same_thread": False},
                pool_size=pool_size,
                max_overflow=2 * pool_size,
                pool_timeout=self.busy_timeout,
            )
            _sqlite_events(self._engine, budget_ms // 4 + 1, synchronous)
        else:
            self._engine = sa.create_engine(
                engine_url,
                connect_args={
                    "options": f"-c lock_timeout={budget_ms}",
                    "connect_timeout": max(2, math.ceil(self.busy_timeout)),
                },
                pool_size=pool_size,
                max_overflow=2 * pool_size,
                pool_timeout=self.busy_timeout,
                pool_pre_ping=True,
            )
        self._build_statements()
        try:
            self.schema_version: int = SCHEMA_VERSION
            """Schema version of the database (always the current one once open)."""
            self._write(migrate)
            count = sa.select(sa.func.count()).select_from(_staging)
            staged = self._read(lambda conn: int(conn.execute(count).scalar_one()))
            self._staged = staged
            if staged and not self.staging_rows:
                self.flush()
        except BaseException:
            self._engine.dispose()
            raise

    @property
    def url(self) -> str:
        """Database URL (password hidden)."""
        return self._engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        """Close every pooled connection (the store can still be used: it reconnects)."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    # ---------------------------------------------------------------------------- plumbing

    def _build_statements(self) -> None:
        cols = ["point", "time", "value", "received"]
        if self.backend == "sqlite":
            dialect = self._engine.dialect
            m = _measurements
            source = sa.select(
                sa.bindparam("p", type_=sa.Text),
                sa.bindparam("t", type_=sa.BigInteger),
                sa.bindparam("v", type_=sa.Double),
                sa.bindparam("r", type_=sa.BigInteger),
            ).where(
                ~sa.exists().where(m.c.point == sa.bindparam("p"), m.c.time == sa.bindparam("t"))
            )
            staged = sqlite.insert(_staging).from_select(cols, source).on_conflict_do_nothing()
            compiled = staged.compile(dialect=dialect)
            if compiled.positiontup != ["p", "t", "v", "r", "p", "t"]:  # pragma: no cover
                raise StoreError(f"unexpected parameter order {compiled.positiontup}")
            self._sql_staged = str(compiled)
            direct = sqlite.insert(m).on_conflict_do_nothing()
            compiled = direct.compile(dialect=dialect)
            if compiled.positiontup != cols:  # pragma: no cover
                raise StoreError(f"unexpected parameter order {compiled.positiontup}")
            self._sql_direct = str(compiled)
            latest = sqlite.insert(_latest)
            upsert = latest.on_conflict_do_update(
                index_elements=[_latest.c.point],
                set_={c: latest.excluded[c] for c in ("time", "value", "received")},
                where=latest.excluded.time > _latest.c.time,
            )
            compiled = upsert.compile(dialect=dialect)
            if compiled.positiontup != cols:  # pragma: no cover
                raise StoreError(f"unexpected parameter order {compiled.positiontup}")
            self._sql_latest = str(compiled)
        else:
            unnest = (
                sa.func.unnest(
                    sa.cast(sa.bindparam("p"), pg.ARRAY(sa.Text)),
                    sa.cast(sa.bindparam("t"), pg.ARRAY(sa.BigInteger)),
                    sa.cast(sa.bindparam("v"), pg.ARRAY(sa.Double)),
                )
                .table_valued("point", "time", "value")
                .render_derived(name="batch")
            )
            rows = sa.select(
                unnest.c.point,
                unnest.c.time,
                unnest.c.value,
                sa.bindparam("r", type_=sa.BigInteger),
            )
            self._pg_insert = (
                pg.insert(_measurements)
                .from_select(cols, rows)
                .on_conflict_do_nothing()
                .execution_options(preserve_rowcount=True)
            )
            newest = pg.insert(_latest).from_select(cols, rows)
            self._pg_latest = newest.on_conflict_do_update(
                index_elements=[_latest.c.point],
                set_={c: newest.excluded[c] for c in ("time", "value", "received")},
                where=newest.excluded.time > _latest.c.time,
            )

    def _run(self, work: Callable[[Connection], T], *, write: bool) -> T:
        """Run ``work`` in one transaction (committed on return), retrying while locked.

        ``work`` returns the answer, fetched inside the transaction.
        """
        deadline = _time.monotonic() + self.busy_timeout
        delay = 0.01
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            try:
                with self._engine.connect() as conn:
                    if write:
                        conn.execution_options(dctwin_write=True)
                    with conn.begin():
                        return work(conn)
            except sa_exc.TimeoutError as exc:
                raise StoreBusy(
                    f"no free database connection within {self.busy_timeout:g} s "
                    "(too many concurrent requests)"
                ) from exc
            except sa_exc.DBAPIError as exc:
                if not _is_busy(exc):
                    raise
                left = deadline - _time.monotonic()
                if attempt == _MAX_ATTEMPTS or left <= 0:
                    raise StoreBusy(
                        f"database {self.url} stayed locked by another writer for more than "
                        f"{self.busy_timeout:g} s ({attempt} attempts): {exc.orig}"
                    ) from exc
                _time.sleep(min(left, delay * (1 + random.random())))
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def _write(self, work: Callable[[Connection], T]) -> T:
        lock = self._write_lock
        if lock is None:
            return self._run(work, write=True)
        if not lock.acquire(timeout=self.busy_timeout):
            raise StoreBusy(
                f"another writer of this process held {self.url} for more than "
                f"{self.busy_timeout:g} s"
            )
        try:
            return self._run(work, write=True)
        finally:
            lock.release()

    def _read(self, work: Callable[[Connection], T]) -> T:
        return self._run(work, write=False)

    # ------------------------------------------------------------------------ measurements

    def insert(
        self, readings: Sequence[Reading], *, received: datetime | None = None
    ) -> InsertResult:
        """Store readings in one transaction, committed before returning; idempotent.

        Parameters
        ----------
        readings
            Readings in canonical units with timezone-aware times (any order; late readings
            are accepted here: the lateness rule belongs to :mod:`twin.live.ingest`).
        received
            Arrival time recorded with the rows (default: now, UTC).

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
            rows = [(r.point, (r.time - _EPOCH) // _US, float(r.value)) for r in readings]
        except (TypeError, ValueError, AttributeError):
            _explain_bad(readings)
            raise
        if not all(type(p) is str for p, _, _ in rows) or not all(
            map(math.isfinite, [v for _, _, v in rows])
        ):
            _explain_bad(readings)
        rows.sort(key=_KEY)  # stable: of two readings with one (point, time), the first wins
        recv = _to_us(received or datetime.now(UTC), "received")
        last: dict[str, tuple[str, int, float, int]] = {}
        for p, t, v in rows:
            if p not in last or t > last[p][1]:
                last[p] = (p, t, v, recv)
        newest = list(last.values())
        if self.backend == "sqlite":
            staging = self.staging_rows > 0
            if staging:
                params: list[tuple[Any, ...]] = [(p, t, v, recv, p, t) for p, t, v in rows]
            else:
                params = [(p, t, v, recv) for p, t, v in rows]
            sql = self._sql_staged if staging else self._sql_direct

            merged = [False]

            def work(conn: Connection) -> int:
                count = conn.exec_driver_sql(sql, params).rowcount
                conn.exec_driver_sql(self._sql_latest, newest)
                merged[0] = (
                    staging
                    and not self.merge_in_background
                    and self._staged + count >= self.staging_rows
                )
                if merged[0]:
                    _merge(conn)
                return count

            inserted = self._write(work)
            if staging:
                with self._staged_lock:
                    self._staged = 0 if merged[0] else self._staged + inserted
        else:
            arrays = {
                "p": [row[0] for row in rows],
                "t": [row[1] for row in rows],
                "v": [row[2] for row in rows],
                "r": recv,
            }
            latest = {
                "p": [row[0] for row in newest],
                "t": [row[1] for row in newest],
                "v": [row[2] for row in newest],
                "r": recv,
            }

            def work_pg(conn: Connection) -> int:
                count = conn.execute(self._pg_insert, arrays).rowcount
                conn.execute(self._pg_latest, latest)
                return count

            inserted = self._write(work_pg)
        return InsertResult(inserted, len(rows) - inserted)

    def flush(self) -> int:
        """Move every staged row into ``measurements`` now (SQLite; a no-op on PostgreSQL).

        Returns
        -------
        int
            Rows moved.
        """
        moved = self._write(_merge)
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
        moved = self._write(lambda conn: _merge(conn, rows))
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
        cols = (_latest.c.point, _latest.c.time, _latest.c.value)
        if points is None:
            queries = [sa.select(*cols)]
        else:
            queries = [
                sa.select(*cols).where(_latest.c.point.in_(chunk))
                for chunk in _chunks(_points_list(points), _SQLITE_PARAMS)
            ]

        def work(conn: Connection) -> dict[str, Reading]:
            found: dict[str, Reading] = {}
            for query in queries:
                for point, t, value in conn.execute(query):
                    found[point] = Reading(point, _from_us(t), value)
            return found

        return self._read(work)

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
        bounds = (_opt_us(start, "start"), _opt_us(end, "end"))
        selects = [
            sa.union_all(
                *(
                    sa.select(t.c.point, t.c.time, t.c.value).where(
                        t.c.point.in_(chunk), *_time_range(t, *bounds)
                    )
                    for t in (_measurements, _staging)
                )
            ).subquery()
            for chunk in _chunks(_points_list(points), _SQLITE_PARAMS)
        ]
        queries = [sa.select(u).order_by(u.c.time, u.c.point) for u in selects]

        def work(conn: Connection) -> list[Reading]:
            out = [
                Reading(point, _from_us(t), value)
                for query in queries
                for point, t, value in conn.execute(query)
            ]
            if len(queries) > 1:
                out.sort(key=lambda r: (r.time, r.point))
            return out

        return self._read(work)

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
        width = bucket // _US
        if width <= 0 or bucket % _US:
            raise ValueError(f"bucket must be a positive whole number of µs, got {bucket}")
        if how not in ("mean", "min", "max", "last"):
            raise ValueError(f"how must be mean, min, max or last, got {how!r}")
        lo, hi = _to_us(start, "start"), _to_us(end, "end")
        origin = lo - lo % width  # ≤ every time used, so the integer division is a floor
        rows = sa.union_all(
            *(
                sa.select(t.c.time, t.c.value).where(t.c.point == point, *_time_range(t, lo, hi))
                for t in (_measurements, _staging)
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
            times = [_from_us(origin + int(b) * width) for b, _ in rows]
            return times, [float(value) for _, value in rows]

        return self._read(work)

    def count(self, points: str | Iterable[str] | None = None) -> int:
        """Number of stored raw readings (of ``points``, default all)."""
        chunks = [None] if points is None else list(_chunks(_points_list(points), _SQLITE_PARAMS))

        def work(conn: Connection) -> int:
            total = 0
            for chunk in chunks:
                for table in (_measurements, _staging):
                    query = sa.select(sa.func.count()).select_from(table)
                    if chunk is not None:
                        query = query.where(table.c.point.in_(chunk))
                    total += int(conn.execute(query).scalar_one())
            return total

        return self._read(work)

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
        cutoff = _to_us(older_than, "older_than")
        if self.merge_in_background:  # in slices: no insert waits for a whole merge
            while self.merge_step():
                pass
        elif self.backend == "sqlite":
            self.flush()
        points = self._read(lambda conn: list(conn.execute(sa.select(_latest.c.point)).scalars()))
        deleted = 0
        for point in points:
            deleted += self._write(partial(_retire, point=point, cutoff=cutoff, rollup=rollup))
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
        h = _hourly
        query = (
            sa.select(h.c.hour, h.c.count, h.c.sum, h.c.min, h.c.max)
            .where(h.c.point == point)
            .order_by(h.c.hour)
        )
        if start is not None:
            query = query.where(h.c.hour >= _to_us(start, "start"))
        if end is not None:
            query = query.where(h.c.hour < _to_us(end, "end"))

        def work(conn: Connection) -> list[Rollup]:
            return [
                Rollup(point=point, hour=_from_us(hour), mean=total / n, min=low, max=high, count=n)
                for hour, n, total, low, high in conn.execute(query)
            ]

        return self._read(work)

    # ------------------------------------------------------------------------------- plans

    def add_plan(
        self,
        plan_id: str,
        created: datetime | None,
        status: str,
        payload: Any,
    ) -> PlanRecord:
        """Store a new plan.

        Parameters
        ----------
        plan_id
            Unique id.
        created
            Creation time (timezone-aware; None: now).
        status
            Initial status, normally ``proposed`` (one of :data:`PLAN_STATUSES`).
        payload
            JSON-compatible data (numpy values and datetimes are converted; NaN refused).

        Returns
        -------
        PlanRecord
            The stored plan (payload as read back from JSON).

        Raises
        ------
        Conflict
            A plan with this id exists.
        ValueError
            Unknown status, or payload not JSON-compatible.
        """
        _check_status(status)
        when = _to_us(created or datetime.now(UTC), "created")
        text = _dumps(payload, "plan payload")
        statement = sa.insert(_plans).values(id=plan_id, created=when, status=status, payload=text)
        try:
            self._write(lambda conn: conn.execute(statement))
        except sa_exc.IntegrityError as exc:
            raise Conflict(f"plan {plan_id!r} already exists") from exc
        return PlanRecord(
            id=plan_id,
            created=_from_us(when),
            status=status,
            payload=json.loads(text),
            decided_by=None,
            decided_at=None,
            reason=None,
        )

    def get_plan(self, plan_id: str) -> PlanRecord | None:
        """The plan with this id, or None."""
        query = sa.select(_plans).where(_plans.c.id == plan_id)
        return self._read(lambda conn: _plan(conn.execute(query).one_or_none()))

    def list_plans(self, limit: int = 50, status: str | None = None) -> list[PlanRecord]:
        """Newest plans first.

        Parameters
        ----------
        limit
            At most this many.
        status
            Only plans with this status.
        """
        if status is not None:
            _check_status(status)
        query = sa.select(_plans).order_by(_plans.c.created.desc(), _plans.c.id.desc())
        if status is not None:
            query = query.where(_plans.c.status == status)
        query = query.limit(limit)
        return self._read(lambda conn: [_plan_of(row) for row in conn.execute(query)])

    def set_plan_status(
        self,
        plan_id: str,
        status: str,
        actor: str,
        reason: str | None = None,
        *,
        time: datetime | None = None,
    ) -> PlanRecord:
        """Change a plan's status as :data:`PLAN_TRANSITIONS` allows.

        The check and the change are one ``UPDATE … WHERE status IN (allowed)``, so of two
        operators deciding at once only one succeeds.  Nothing is audited here: the caller
        writes the audit entry (:meth:`audit`).

        Parameters
        ----------
        plan_id
            Plan id.
        status
            New status.
        actor
            Who decides (stored as ``decided_by``).
        reason
            Why.
        time
            When (timezone-aware; default: now).

        Returns
        -------
        PlanRecord
            The plan after the change.

        Raises
        ------
        NotFound
            No such plan (a ``KeyError``).
        Conflict
            Not allowed from the plan's current status, e.g. approving a rejected plan (a
            ``ValueError``).
        """
        _check_status(status)
        allowed_from = [old for old, new in PLAN_TRANSITIONS.items() if status in new]
        when = _to_us(time or datetime.now(UTC), "time")
        update = (
            sa.update(_plans)
            .where(_plans.c.id == plan_id, _plans.c.status.in_(allowed_from))
            .values(status=status, decided_by=actor, decided_at=when, reason=reason)
        )
        select = sa.select(_plans).where(_plans.c.id == plan_id)

        def work(conn: Connection) -> PlanRecord:
            changed = conn.execute(update).rowcount == 1
            record = _plan(conn.execute(select).one_or_none())
            if record is None:
                raise NotFound(f"no plan {plan_id!r}")
            if not changed:
                raise Conflict(
                    f"plan {plan_id!r} is {record['status']}: it cannot become {status} "
                    f"(only a plan that is {' or '.join(allowed_from)} can)"
                )
            return record

        return self._write(work)

    # ------------------------------------------------------------------------------- audit

    def audit(
        self,
        actor: str,
        action: str,
        target: str | None = None,
        reason: str | None = None,
        detail: Any = None,
        *,
        time: datetime | None = None,
    ) -> int:
        """Append one entry to the audit log.

        Parameters
        ----------
        actor
            Who.
        action
            What (dotted name, e.g. ``setpoint.override``).
        target
            On what.
        reason
            Why.
        detail
            Extra JSON-compatible data.
        time
            When (default: now).

        Returns
        -------
        int
            The entry's id (increasing).
        """
        values = {
            "time": _to_us(time or datetime.now(UTC), "time"),
            "actor": actor,
            "action": action,
            "target": target,
            "reason": reason,
            "detail": None if detail is None else _dumps(detail, "audit detail"),
        }
        statement = sa.insert(_audit).values(values)

        def work(conn: Connection) -> int:
            key = conn.execute(statement).inserted_primary_key
            assert key is not None
            return int(key[0])

        return self._write(work)

    def audit_log(self, limit: int = 100, since: datetime | None = None) -> list[AuditEntry]:
        """Audit entries, newest first.

        Parameters
        ----------
        limit
            At most this many.
        since
            Only entries with ``time >= since``.
        """
        a = _audit
        query = sa.select(a).order_by(a.c.id.desc()).limit(limit)
        if since is not None:
            query = query.where(a.c.time >= _to_us(since, "since"))

        def work(conn: Connection) -> list[AuditEntry]:
            return [
                AuditEntry(
                    id=row.id,
                    time=_from_us(row.time),
                    actor=row.actor,
                    action=row.action,
                    target=row.target,
                    reason=row.reason,
                    detail=_loads(row.detail),
                )
                for row in conn.execute(query)
            ]

        return self._read(work)

    # -------------------------------------------------------------------------- parameters

    def record_parameters(
        self, time: datetime, values: Mapping[str, tuple[float, float | None] | float]
    ) -> int:
        """Store calibrated parameter values at one time (a second call at the same time and
        name replaces the value).

        Parameters
        ----------
        time
            Time of the calibration (timezone-aware).
        values
            Name → ``(value, std)`` or value alone [the parameter's unit].

        Returns
        -------
        int
            Values stored.
        """
        when = _to_us(time, "time")
        rows: list[dict[str, Any]] = []
        for name, item in values.items():
            value, std = item if isinstance(item, tuple) else (item, None)
            rows.append(
                {
                    "name": name,
                    "time": when,
                    "value": _finite(value, f"parameter {name}"),
                    "std": None if std is None else _finite(std, f"std of parameter {name}"),
                }
            )
        if not rows:
            return 0
        insert = _dialect_insert(self.backend, _parameters)
        statement = insert.on_conflict_do_update(
            index_elements=[_parameters.c.name, _parameters.c.time],
            set_={"value": insert.excluded.value, "std": insert.excluded.std},
        )
        self._write(lambda conn: conn.execute(statement, rows))
        return len(rows)

    def parameter_history(
        self, name: str | None = None, since: datetime | None = None, limit: int | None = None
    ) -> list[ParameterValue]:
        """Stored parameter values in time order (then name).

        Parameters
        ----------
        name
            Only this parameter (default: all).
        since
            Only values with ``time >= since``.
        limit
            At most this many: the most recent ones (still returned oldest first).
        """
        p = _parameters
        query = sa.select(p.c.name, p.c.time, p.c.value, p.c.std)
        if name is not None:
            query = query.where(p.c.name == name)
        if since is not None:
            query = query.where(p.c.time >= _to_us(since, "since"))
        if limit is not None:
            query = query.order_by(p.c.time.desc(), p.c.name.desc()).limit(limit)
        else:
            query = query.order_by(p.c.time, p.c.name)

        def work(conn: Connection) -> list[ParameterValue]:
            rows = list(conn.execute(query))
            if limit is not None:
                rows.reverse()
            return [
                ParameterValue(name=n, time=_from_us(t), value=value, std=std)
                for n, t, value, std in rows
            ]

        return self._read(work)

    # ------------------------------------------------------------------------------ alarms

    def raise_alarm(
        self, kind: str, source: str, message: str, *, time: datetime | None = None
    ) -> Alarm:
        """Raise an alarm, unless one of the same kind and source is still active.

        Parameters
        ----------
        kind
            Kind, e.g. ``sensor_stuck``.
        source
            What raised it, e.g. a point id.
        message
            One sentence for the operator.
        time
            When (default: now).

        Returns
        -------
        Alarm
            The new alarm, or the active one of the same kind and source (unchanged).
        """
        when = _to_us(time or datetime.now(UTC), "time")
        a = _alarms
        insert = _dialect_insert(self.backend, a)
        statement = insert.values(
            raised=when, kind=kind, source=source, message=message
        ).on_conflict_do_nothing(
            index_elements=[a.c.kind, a.c.source], index_where=a.c.cleared.is_(None)
        )
        active = sa.select(a).where(a.c.kind == kind, a.c.source == source, a.c.cleared.is_(None))

        def work(conn: Connection) -> Alarm:
            conn.execute(statement)
            return _alarm(conn.execute(active).one())

        return self._write(work)

    def clear_alarm(self, alarm_id: int, *, time: datetime | None = None) -> Alarm:
        """Clear an alarm (clearing a cleared alarm changes nothing).

        Raises
        ------
        NotFound
            No alarm with this id.
        """
        when = _to_us(time or datetime.now(UTC), "time")
        a = _alarms
        update = sa.update(a).where(a.c.id == alarm_id, a.c.cleared.is_(None)).values(cleared=when)

        def work(conn: Connection) -> Alarm:
            conn.execute(update)
            row = conn.execute(sa.select(a).where(a.c.id == alarm_id)).one_or_none()
            if row is None:
                raise NotFound(f"no alarm {alarm_id}")
            return _alarm(row)

        return self._write(work)

    def alarms(self, active_only: bool = True, limit: int | None = None) -> list[Alarm]:
        """Alarms, newest first.

        Parameters
        ----------
        active_only
            Only alarms not cleared.
        limit
            At most this many.
        """
        a = _alarms
        query = sa.select(a).order_by(a.c.raised.desc(), a.c.id.desc())
        if active_only:
            query = query.where(a.c.cleared.is_(None))
        if limit is not None:
            query = query.limit(limit)
        return self._read(lambda conn: [_alarm(row) for row in conn.execute(query)])


# --------------------------------------------------------------------------------------------
# statements and row conversions


def _check_status(status: str) -> None:
    if status not in PLAN_STATUSES:
        raise ValueError(f"unknown plan status {status!r} (known: {', '.join(PLAN_STATUSES)})")


def _dialect_insert(backend: str, table: sa.Table) -> Any:
    """``INSERT`` with ``ON CONFLICT`` support for the backend (``sqlite`` or ``postgresql``)."""
    return (pg if backend == "postgresql" else sqlite).insert(table)


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
        query = sa.select(_staging.c.time).order_by(_staging.c.time).offset(rows - 1).limit(1)
        last = conn.execute(query).scalar_one_or_none()
        if last is not None:  # fewer rows than that staged: the slice takes them all
            where = _staging.c.time <= last
    staged = sa.select(*(_staging.c[c] for c in cols)).where(where)
    staged = staged.order_by(_staging.c.point, _staging.c.time)
    insert = _dialect_insert(conn.dialect.name, _measurements)
    conn.execute(insert.from_select(cols, staged).on_conflict_do_nothing())
    return int(conn.execute(sa.delete(_staging).where(where)).rowcount)


def _retire(conn: Connection, point: str, cutoff: int, rollup: bool) -> int:
    """Roll up then delete one point's rows older than ``cutoff`` [µs]."""
    m = _measurements
    old = sa.and_(m.c.point == point, m.c.time < cutoff)
    if rollup:
        hour_us = sa.literal(_HOUR_US, sa.BigInteger)
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
        insert = _dialect_insert(conn.dialect.name, _hourly)
        insert = insert.from_select(["point", "hour", "count", "sum", "min", "max"], source)
        lower = sa.func.least if postgres else sa.func.min
        upper = sa.func.greatest if postgres else sa.func.max
        h, new = _hourly, insert.excluded
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


def _plan(row: sa.Row[Any] | None) -> PlanRecord | None:
    return None if row is None else _plan_of(row)


def _plan_of(row: sa.Row[Any]) -> PlanRecord:
    return PlanRecord(
        id=row.id,
        created=_from_us(row.created),
        status=row.status,
        payload=json.loads(row.payload),
        decided_by=row.decided_by,
        decided_at=_opt_from_us(row.decided_at),
        reason=row.reason,
    )


def _alarm(row: sa.Row[Any]) -> Alarm:
    return Alarm(
        id=row.id,
        raised=_from_us(row.raised),
        cleared=_opt_from_us(row.cleared),
        kind=row.kind,
        source=row.source,
        message=row.message,
    )


def _explain_bad(readings: Sequence[Reading]) -> None:
    """Raise a ValueError naming the first unstorable reading."""
    for index, reading in enumerate(readings):
        where = f"reading {index} ({getattr(reading, 'point', reading)!r})"
        if not isinstance(reading, Reading):
            raise ValueError(f"{where} is a {type(reading).__name__}, not a twin.points.Reading")
        if not isinstance(reading.point, str):
            raise ValueError(f"{where}: point must be text")
        _to_us(reading.time, f"{where}: time")
        try:
            _finite(reading.value, f"{where}: value")
        except TypeError as exc:
            raise ValueError(f"{where}: value {reading.value!r} is not a number") from exc
    raise ValueError("readings could not be stored")  # pragma: no cover


def _sqlite_events(engine: Engine, busy_ms: int, synchronous: str) -> None:
    """Per-connection pragmas, and BEGIN IMMEDIATE for write transactions."""

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA synchronous = {synchronous}")
        cursor.execute("PRAGMA cache_size = -32768")  # 32 MiB per connection at most
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("dctwin_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
