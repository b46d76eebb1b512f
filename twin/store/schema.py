"""Tables of the store and the migrations between their versions.

Schema (version :data:`SCHEMA_VERSION`)
---------------------------------------
Times are ``BIGINT`` microseconds since the Unix epoch, UTC (exact, fast and identical on both
backends); values are double precision in the point's canonical unit (:mod:`twin.scenario.points`);
JSON payloads are ``TEXT``.

=========================  ===========================================================  ==========
table                      columns                                                      key
=========================  ===========================================================  ==========
``meta``                   key, value (``schema_version``; ``snapshot/<name>``: JSON)   key
``measurements``           point, time, value, received (NULL for rows before v2)       point, time
``measurements_staging``   same columns; SQLite's write buffer                          time, point
``latest``                 point, time, value, received: the newest reading per point   point
``measurements_hourly``    point, hour, count, sum, min, max: rollup kept by retention  point, hour
``plans``                  id, created, status, payload, decided_by, decided_at, reason id
``audit``                  id (autoincrement), time, actor, action, target, reason,     id
                           detail
``parameters``             name, time, value, std                                       name, time
``alarms``                 id (autoincrement), raised, cleared, kind, source, message,  id
                           severity, point, acknowledged, acknowledged_by,
                           shelved_until, shelved_by, detail
``sessions``               id_hash (SHA-256 of the session id, never the id), principal, id_hash
                           scopes, created, expires (+ index on expires)
=========================  ===========================================================  ==========

Measurements are clustered by ``(point, time)`` so that a point's history is one contiguous
range (plots, downsampling and retention read only that point's rows).  ``insert`` is
idempotent: a ``(point, time)`` already stored keeps its stored value and counts as
``already_stored``.  The staging buffer is described in :mod:`twin.store.store`.

Migrations
----------
``meta.schema_version`` records the version; opening a store applies the missing steps of
:data:`MIGRATIONS` in one transaction (under an advisory lock on PostgreSQL, a write lock on
SQLite, so two processes opening an old database at once migrate it once).  Version 1 held
``measurements`` without ``received``, ``plans``, ``audit``, ``parameters`` and ``alarms``;
version 2 added ``measurements.received``, the staging buffer, ``latest`` (filled from the
stored rows) and the hourly rollup; version 3 added the alarms' severity (``warning`` for the
rows before), point, acknowledgement, shelving and detail; version 4 added ``sessions`` (the
web UI's login sessions, :mod:`twin.store.sessions`).  A database newer than the code is
refused.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.schema import SchemaItem

from twin.store.errors import StoreError

__all__ = [
    "ALARMS",
    "AUDIT",
    "HOURLY",
    "LATEST",
    "MEASUREMENTS",
    "META",
    "METADATA",
    "MIGRATIONS",
    "PARAMETERS",
    "PLANS",
    "SCHEMA_VERSION",
    "SESSIONS",
    "STAGING",
    "database_version",
    "migrate",
]

# --------------------------------------------------------------------------------------------
# one builder per table version (migrations use the frozen ones)


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


_ALARM_COLUMNS_V3: tuple[tuple[str, str], ...] = (
    ("severity", "TEXT NOT NULL DEFAULT 'warning'"),
    ("point", "TEXT"),
    ("acknowledged", "BIGINT"),
    ("acknowledged_by", "TEXT"),
    ("shelved_until", "BIGINT"),
    ("shelved_by", "TEXT"),
    ("detail", "TEXT"),
)
"""Columns version 3 adds to ``alarms`` (name, SQL type), in order."""


def _alarms_v3(md: sa.MetaData) -> sa.Table:
    table = _alarms_v1(md)
    table.append_column(
        sa.Column("severity", sa.Text, nullable=False, server_default=sa.text("'warning'"))
    )
    table.append_column(sa.Column("point", sa.Text, nullable=True))
    table.append_column(sa.Column("acknowledged", sa.BigInteger, nullable=True))
    table.append_column(sa.Column("acknowledged_by", sa.Text, nullable=True))
    table.append_column(sa.Column("shelved_until", sa.BigInteger, nullable=True))
    table.append_column(sa.Column("shelved_by", sa.Text, nullable=True))
    table.append_column(sa.Column("detail", sa.Text, nullable=True))
    return table


def _sessions_v4(md: sa.MetaData) -> sa.Table:
    table = sa.Table(
        "sessions",
        md,
        sa.Column("id_hash", sa.Text, primary_key=True),
        sa.Column("principal", sa.Text, nullable=False),
        sa.Column("scopes", sa.Text, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("expires", sa.BigInteger, nullable=False),
    )
    sa.Index("ix_sessions_expires", table.c.expires)
    return table


METADATA = sa.MetaData()
"""The current schema (version :data:`SCHEMA_VERSION`)."""
META = _meta_table(METADATA)
"""``meta``: key → value (``schema_version``; ``snapshot/<name>``: a JSON snapshot, e.g. the
live twin's calibrated state)."""
MEASUREMENTS = _measurements_v2(METADATA)
"""``measurements``: every stored reading, clustered by (point, time)."""
STAGING = _staging_v2(METADATA)
"""``measurements_staging``: SQLite's write buffer, clustered by (time, point)."""
LATEST = _latest_v2(METADATA)
"""``latest``: the newest reading of each point."""
HOURLY = _hourly_v2(METADATA)
"""``measurements_hourly``: hourly count, sum, minimum and maximum kept by retention."""
PLANS = _plans_v1(METADATA)
"""``plans``: stored plans and their status."""
AUDIT = _audit_v1(METADATA)
"""``audit``: the audit log."""
PARAMETERS = _parameters_v1(METADATA)
"""``parameters``: calibrated parameter values over time."""
ALARMS = _alarms_v3(METADATA)
"""``alarms``: raised and cleared alarms."""
SESSIONS = _sessions_v4(METADATA)
"""``sessions``: the web UI's login sessions, by the hash of their id."""


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


def _migrate_3(conn: Connection) -> None:
    """Version 3: the alarms' severity, point, acknowledgement, shelving and detail."""
    for name, sql_type in _ALARM_COLUMNS_V3:
        conn.execute(sa.text(f"ALTER TABLE alarms ADD COLUMN {name} {sql_type}"))


def _migrate_4(conn: Connection) -> None:
    """Version 4: the web UI's login sessions."""
    _sessions_v4(sa.MetaData()).create(conn)


MIGRATIONS: tuple[Callable[[Connection], None], ...] = (
    _migrate_1,
    _migrate_2,
    _migrate_3,
    _migrate_4,
)
"""Step ``i`` brings a database from version ``i`` to ``i + 1``; append, never edit."""
SCHEMA_VERSION = len(MIGRATIONS)
"""Schema version this code writes."""

_PG_MIGRATION_LOCK = 0x0DC75704  # advisory lock key of migrations (any constant)


def database_version(conn: Connection) -> int:
    """Schema version of the database behind ``conn`` (0 when empty)."""
    if not sa.inspect(conn).has_table("meta"):
        return 0
    value = conn.execute(
        sa.select(META.c.value).where(META.c.key == "schema_version")
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
        META.create(conn, checkfirst=True)
    for version in range(found, target):
        MIGRATIONS[version](conn)
    if target != found:
        if found == 0:
            conn.execute(sa.insert(META).values(key="schema_version", value=str(target)))
        else:
            conn.execute(
                sa.update(META).where(META.c.key == "schema_version").values(value=str(target))
            )
    return found
