"""The measurement store on PostgreSQL alone: one statement per batch, no deadlock between
writers, a lost server connection (a real throwaway server: ``tests.postgres``)."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tests.postgres import fresh_database
from tests.twin.test_store import T0, _grid
from twin.scenario.points import Reading
from twin.store.errors import StoreUnavailable
from twin.store.store import InsertResult, Store


def test_a_postgresql_insert_is_one_statement_in_autocommit(postgres_url: str) -> None:
    """On PostgreSQL a batch is one round trip to the server: one statement (the insert and
    the ``latest`` upsert) on a connection in autocommit, so no ``BEGIN`` or ``COMMIT`` is
    sent apart (under load each round trip waits for the server's turn on a core)."""
    sent: list[tuple[str, bool]] = []

    def seen(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append((statement, conn.connection.dbapi_connection.autocommit))

    points = ["rack/R00/power", "rack/R01/power"]
    with fresh_database(postgres_url) as url, Store(url) as store:
        engine = store._database.engine
        sa.event.listen(engine, "before_cursor_execute", seen)
        assert store.insert(_grid(points, 3)) == InsertResult(6, 0)
        newest = dict.fromkeys(points, T0 + timedelta(seconds=20))
        after = _grid(points, 2, start=T0 + timedelta(seconds=30))
        assert store.insert(after, newer_than=newest) == InsertResult(4, 0)  # all new
        assert store.insert(_grid(points, 6), newer_than=newest) == InsertResult(2, 10)
        sa.event.remove(engine, "before_cursor_execute", seen)
        assert store.latest(points)[points[1]].time == T0 + timedelta(seconds=50)
    statements = [(s.split(" AS (")[0], auto) for s, auto in sent]
    assert statements == [("WITH stored", True)] * 3
    assert [s.count("ON CONFLICT DO NOTHING") for s, _ in sent] == [1, 0, 1]


def test_writers_that_disagree_on_which_rows_are_new_do_not_deadlock(postgres_url: str) -> None:
    """Two writers insert the same keys at once, each knowing a different point's newest
    time (and a third knowing none).  Rows go in (point, time) order in one statement, so
    their row locks are taken in one order: no deadlock (with the new rows inserted apart
    from the checked ones, 27 of 30 such rounds deadlocked, each costing ~1 s), every row
    stored once, the counts adding up."""
    deadlocks: list[str] = []

    def failed(context: Any) -> None:
        if getattr(context.original_exception, "sqlstate", None) == "40P01":
            deadlocks.append(str(context.original_exception))

    rows_per_point, rounds = 500, 6
    with fresh_database(postgres_url) as url, Store(url) as store:
        sa.event.listen(store._database.engine, "handle_error", failed)
        inserted: list[int] = []
        for round_ in range(rounds):
            start = T0 + timedelta(hours=round_)
            batch = [
                Reading(p, start + timedelta(seconds=i), float(i))
                for p in ("p", "q")
                for i in range(rows_per_point)
            ]
            knows = [{"p": start - timedelta(seconds=1)}, {"q": start - timedelta(seconds=1)}]
            barrier = threading.Barrier(3)

            def write(
                newer_than: dict[str, datetime] | None,
                batch: list[Reading] = batch,
                barrier: threading.Barrier = barrier,
            ) -> None:
                barrier.wait()
                inserted.append(store.insert(batch, newer_than=newer_than).inserted)

            threads = [threading.Thread(target=write, args=(k,)) for k in (*knows, None)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert deadlocks == []
        assert len(inserted) == 3 * rounds
        assert sum(inserted) == store.count() == 2 * rows_per_point * rounds


def _terminate_while_sleeping(store: Store, server: str, write: bool) -> Any:
    """Run ``SELECT pg_sleep(1.5)`` through the store, and terminate its server process
    (as a restart of the server would) once it is running; returns what the store raised or
    answered."""
    import psycopg

    outcome: list[Any] = []

    def sleep() -> None:
        try:
            outcome.append(
                store._database.run(
                    lambda conn: conn.execute(
                        sa.text("SELECT 'slept' FROM pg_sleep(1.5)")
                    ).scalar_one(),
                    write=write,
                    statement=write,
                )
            )
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=sleep)
    thread.start()
    admin_url = server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        query = (
            "SELECT pid FROM pg_stat_activity "
            "WHERE query LIKE '%FROM pg_sleep(1.5)%' AND pid <> pg_backend_pid()"
        )
        for _ in range(100):
            pids = [row[0] for row in admin.execute(query)]
            if pids:
                break
            time.sleep(0.02)
        assert pids, "the sleeping statement never showed in pg_stat_activity"
        admin.execute("SELECT pg_terminate_backend(%s)", (pids[0],))
    thread.join(timeout=30)
    return outcome[0]


def test_a_lost_server_connection_is_store_unavailable(postgres_url: str) -> None:
    """The server's process for a connection ends mid-statement (a restart): a read is tried
    once more on a fresh connection and answers; a write is :class:`StoreUnavailable` (a
    503 in the API) saying it may or may not have been stored, not a raw driver error; a
    server that cannot be reached at all is :class:`StoreUnavailable` too, nothing written."""
    with fresh_database(postgres_url) as url, Store(url) as store:
        assert _terminate_while_sleeping(store, postgres_url, write=False) == "slept"
        lost = _terminate_while_sleeping(store, postgres_url, write=True)
        assert isinstance(lost, StoreUnavailable), repr(lost)
        assert "during a write (stored or not: unknown)" in str(lost)
        assert store.insert([Reading("plant/power", T0, 1.0)]) == InsertResult(1, 0)
    port = int(postgres_url.rsplit(":", 1)[1].split("/")[0])
    nowhere = postgres_url.replace(f":{port}/", ":1/")
    with pytest.raises(StoreUnavailable, match="could not be reached, nothing was written"):
        Store(nowhere, busy_timeout=1)
