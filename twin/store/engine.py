"""The database engine behind a store: URLs, SQLite settings, transactions, time and JSON.

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
a bounded number of times; past the budget the method raises :class:`~twin.store.errors.StoreBusy`
(the API answers 503).  Readers never wait for writers (WAL).  On PostgreSQL ``lock_timeout`` is set
to the budget and deadlocks or serialization failures are retried the same way.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import threading
import time as _time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection, Engine

from twin.store.errors import StoreBusy, StoreRefused, StoreUnavailable

T = TypeVar("T")

__all__ = [
    "EPOCH",
    "HOUR_MICROSECONDS",
    "MICROSECOND",
    "Database",
    "dialect_insert",
    "engine_url",
    "finite_number",
    "from_json",
    "from_microseconds",
    "is_busy",
    "optional_from_microseconds",
    "optional_microseconds",
    "to_json",
    "to_microseconds",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""Origin of stored times: 1970-01-01 00:00 UTC."""
MICROSECOND = timedelta(microseconds=1)
"""Unit of stored times."""
HOUR_MICROSECONDS = 3_600_000_000
"""One hour [µs]."""
_MAX_ATTEMPTS = 6

# --------------------------------------------------------------------------------------------
# times, JSON and numbers as stored


def to_microseconds(value: datetime, what: str = "time") -> int:
    """Microseconds since the epoch of an aware datetime.

    Parameters
    ----------
    value
        Timezone-aware instant.
    what
        Name of the value in error messages.

    Raises
    ------
    ValueError
        Not a datetime, or a naive one.
    """
    if not isinstance(value, datetime):
        raise ValueError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{what} {value.isoformat()} has no timezone: use an aware UTC datetime "
            "(e.g. datetime(..., tzinfo=UTC))"
        )
    return (value - EPOCH) // MICROSECOND


def optional_microseconds(value: datetime | None, what: str) -> int | None:
    """:func:`to_microseconds` of ``value``, or None for None."""
    return None if value is None else to_microseconds(value, what)


def from_microseconds(value: int) -> datetime:
    """The aware UTC instant of a stored time [µs since the epoch]."""
    return EPOCH + timedelta(microseconds=value)


def optional_from_microseconds(value: int | None) -> datetime | None:
    """:func:`from_microseconds` of ``value``, or None for NULL."""
    return None if value is None else from_microseconds(value)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return obj.isoformat()
    if hasattr(obj, "tolist"):  # numpy scalars and arrays
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def to_json(obj: Any, what: str) -> str:
    """Compact JSON text of ``obj`` (datetimes in ISO 8601, numpy values as lists/numbers).

    Raises ``ValueError`` naming ``what`` when ``obj`` is not JSON-compatible or holds NaN.
    """
    try:
        return json.dumps(obj, default=_json_default, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} is not JSON: {exc}") from exc


def from_json(text: str | None) -> Any:
    """The data of stored JSON text (None for NULL)."""
    return None if text is None else json.loads(text)


def finite_number(value: float, what: str) -> float:
    """``value`` as a float; ``ValueError`` naming ``what`` when it is infinite or NaN."""
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what} {value!r} is not finite")
    return number


# --------------------------------------------------------------------------------------------
# the database


def engine_url(url: str | os.PathLike[str]) -> sa.URL:
    """SQLAlchemy URL of a store URL or SQLite file path.

    Raises ``ValueError`` for a URL that is not SQLite (on a file) or PostgreSQL (psycopg 3).
    """
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


def is_busy(error: sa_exc.DBAPIError) -> bool:
    """Whether a driver error means "locked by someone else, try again"."""
    orig = error.orig
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        return (code & 0xFF) in (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED (and extended codes)
    state = getattr(orig, "sqlstate", None)
    if isinstance(state, str):
        return state in ("55P03", "40P01", "40001")  # lock timeout, deadlock, serialization
    return "database is locked" in str(orig)


def dialect_insert(backend: str, table: sa.Table) -> Any:
    """``INSERT`` with ``ON CONFLICT`` support for the backend (``sqlite`` or ``postgresql``)."""
    return (pg if backend == "postgresql" else sqlite).insert(table)


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


def private_sqlite_file(database: str | None) -> None:
    """Create the folder (mode 0700) and an empty database file (mode 0600) of a SQLite store
    that does not exist yet; SQLite gives its ``-wal`` and ``-shm`` files the database's mode.

    Parameters
    ----------
    database
        The URL's database path (None or ``:memory:``: nothing to do).
    """
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database).expanduser()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


class Database:
    """A SQLAlchemy engine with the store's transaction rules.

    Every call of :meth:`write` or :meth:`read` is one transaction, committed on return and
    retried with exponential backoff while another writer holds the lock (see the module
    docstring); on SQLite the writers of this process also queue on one lock.

    Parameters
    ----------
    url
        SQLAlchemy URL from :func:`engine_url`.
    busy_timeout
        Budget [s] for waiting on other writers' locks (and for a free pooled connection)
        before :class:`~twin.store.errors.StoreBusy`.
    synchronous
        SQLite only: ``"NORMAL"`` or ``"FULL"``.
    pool_size
        Connections kept open (more are opened under load, up to twice this many more).
    """

    def __init__(
        self,
        url: sa.URL,
        *,
        busy_timeout: float,
        synchronous: Literal["NORMAL", "FULL"],
        pool_size: int,
    ) -> None:
        self.backend: str = url.get_backend_name()
        """``sqlite`` or ``postgresql``."""
        self.busy_timeout = float(busy_timeout)
        """Budget for waiting on locks [s]."""
        # SQLite has one writer at a time; queueing this process's writers on a lock is fair
        # and prompt, where SQLite's busy handler would sleep in growing steps.
        self._write_lock: threading.Lock | None = (
            threading.Lock() if self.backend == "sqlite" else None
        )
        budget_ms = max(1, int(self.busy_timeout * 1000))
        if self.backend == "sqlite":
            private_sqlite_file(url.database)
            self.engine: Engine = sa.create_engine(
                url,
                connect_args={"check_same_thread": False},
                pool_size=pool_size,
                max_overflow=2 * pool_size,
                pool_timeout=self.busy_timeout,
            )
            """The SQLAlchemy engine (one connection pool)."""
            _sqlite_events(self.engine, budget_ms // 4 + 1, synchronous)
        else:
            self.engine = sa.create_engine(
                url,
                connect_args={
                    "options": f"-c lock_timeout={budget_ms}",
                    "connect_timeout": max(2, math.ceil(self.busy_timeout)),
                },
                pool_size=pool_size,
                max_overflow=2 * pool_size,
                pool_timeout=self.busy_timeout,
                pool_pre_ping=True,
            )

    @property
    def url(self) -> str:
        """Database URL (password hidden)."""
        return self.engine.url.render_as_string(hide_password=True)

    def dispose(self) -> None:
        """Close every pooled connection (the engine reconnects when used again)."""
        self.engine.dispose()

    def run(self, work: Callable[[Connection], T], *, write: bool, statement: bool = False) -> T:
        """Run ``work`` in one transaction (committed on return), retrying while locked.

        ``work`` returns the answer, fetched inside the transaction.  With ``statement``,
        ``work`` runs one statement in autocommit (on PostgreSQL the statement is its own
        transaction: one round trip to the server instead of ``BEGIN``, the statement and
        ``COMMIT``).
        """
        deadline = _time.monotonic() + self.busy_timeout
        delay = 0.01
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            try:
                with self.engine.connect() as conn:
                    if statement:
                        return work(conn.execution_options(isolation_level="AUTOCOMMIT"))
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
                if "NUL (0x00)" in str(exc.orig):
                    raise StoreRefused(
                        "text with a NUL character (\\u0000) cannot be stored (PostgreSQL); refused"
                    ) from exc
                if self._unreachable(exc):
                    if not write and attempt == 1:
                        continue  # a read on a connection the server dropped: once more
                    if not exc.connection_invalidated:
                        what = "could not be reached, nothing was written"
                    elif write:
                        what = "dropped the connection during a write (stored or not: unknown)"
                    else:
                        what = "dropped the connection"
                    reason = str(exc.orig).strip().splitlines()[0][:200]
                    raise StoreUnavailable(f"database {self.url} {what}: {reason}") from exc
                if not is_busy(exc):
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

    def _unreachable(self, error: sa_exc.DBAPIError) -> bool:
        """Whether ``error`` is a lost or refused connection to the PostgreSQL server (a
        disconnect SQLAlchemy noticed, or a client-side error without a SQLSTATE), not an
        error of the statement."""
        if self.backend != "postgresql":
            return False
        return bool(error.connection_invalidated) or (
            isinstance(error, sa_exc.OperationalError)
            and getattr(error.orig, "sqlstate", None) is None
        )

    def write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
        lock = self._write_lock
        if lock is None:
            return self.run(work, write=True)
        if not lock.acquire(timeout=self.busy_timeout):
            raise StoreBusy(
                f"another writer of this process held {self.url} for more than "
                f"{self.busy_timeout:g} s"
            )
        try:
            return self.run(work, write=True)
        finally:
            lock.release()

    def read(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one read transaction."""
        return self.run(work, write=False)
