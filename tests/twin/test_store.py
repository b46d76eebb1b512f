"""The measurement store on a real SQLite file and a real PostgreSQL server.

Every test taking ``store`` or ``url`` runs on both backends; PostgreSQL comes from
``tests/postgres.py`` (skipped with a reason when no server can be had, failed in CI).
"""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from twin.scenario.points import Reading
from twin.store.engine import engine_url
from twin.store.errors import Conflict, NotFound, StoreBusy, StoreError
from twin.store.insert_sql import PG_INSERT, PG_INSERT_NEW
from twin.store.records import PLAN_STATUSES
from twin.store.schema import METADATA, SCHEMA_VERSION, migrate
from twin.store.store import InsertResult, Store

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
How = Literal["mean", "min", "max", "last"]


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    opened = Store(url)
    yield opened
    opened.close()


def _us(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def _grid(points: list[str], steps: int, start: datetime = T0, step_s: float = 10) -> list[Reading]:
    return [
        Reading(p, start + timedelta(seconds=k * step_s), 20.0 + i + k / 8)
        for k in range(steps)
        for i, p in enumerate(points)
    ]


# ------------------------------------------------------------------------------ measurements


def test_round_trip_exact_values_and_utc_times(store: Store) -> None:
    """Values come back bit for bit; times come back as the same instants, in UTC, to the µs;
    ordered by time then point whatever the insertion order."""
    cest = timezone(timedelta(hours=2))
    readings = [
        Reading("rack/B07/inlet_temperature", datetime(2024, 7, 1, 14, 0, 0, 1, cest), 0.1),
        Reading("rack/A01/inlet_temperature", datetime(2024, 7, 1, 12, 0, 0, 1, UTC), -273.15),
        Reading(
            "rack/A01/inlet_temperature", datetime(2024, 7, 1, 11, 59, 59, 999999, UTC), 1e-300
        ),
        Reading(
            "grid/power", datetime(1969, 12, 31, 23, 59, 59, 500000, UTC), 1.7976931348623157e308
        ),
        Reading("grid/power", datetime(2024, 7, 1, 12, 0, 0, 2, UTC), 2.0 / 3.0),
    ]
    assert store.insert(readings) == InsertResult(5, 0)
    points = ["rack/A01/inlet_temperature", "rack/B07/inlet_temperature", "grid/power"]
    got = store.query(points)
    assert [(r.point, r.time, r.value) for r in got] == [
        ("grid/power", datetime(1969, 12, 31, 23, 59, 59, 500000, UTC), 1.7976931348623157e308),
        ("rack/A01/inlet_temperature", datetime(2024, 7, 1, 11, 59, 59, 999999, UTC), 1e-300),
        ("rack/A01/inlet_temperature", datetime(2024, 7, 1, 12, 0, 0, 1, UTC), -273.15),
        ("rack/B07/inlet_temperature", datetime(2024, 7, 1, 12, 0, 0, 1, UTC), 0.1),
        ("grid/power", datetime(2024, 7, 1, 12, 0, 0, 2, UTC), 2.0 / 3.0),
    ]
    assert all(r.time.tzinfo is UTC for r in got)
    # half-open window [start, end), bounds in any timezone
    window = store.query(
        points, datetime(2024, 7, 1, 14, 0, 0, 1, cest), datetime(2024, 7, 1, 12, 0, 0, 2, UTC)
    )
    assert [(r.point, r.time.microsecond) for r in window] == [
        ("rack/A01/inlet_temperature", 1),
        ("rack/B07/inlet_temperature", 1),
    ]
    assert store.query("grid/power", end=datetime(1970, 1, 1, tzinfo=UTC))[0].value == (
        1.7976931348623157e308
    )
    assert store.query(["unknown/point"]) == []
    assert store.count() == 5
    assert store.count(["grid/power"]) == 2


def test_insert_is_idempotent_and_counts(store: Store) -> None:
    points = [f"rack/R{i:02d}/power" for i in range(10)]
    batch = _grid(points, 30)
    assert store.insert(batch) == InsertResult(300, 0)
    assert store.insert(batch) == InsertResult(0, 300)
    assert store.insert(list(reversed(batch))) == InsertResult(0, 300)
    # half overlapping, and a re-sent reading with another value keeps the stored one
    later = _grid(points, 30, start=T0 + timedelta(seconds=150))
    changed = [Reading(r.point, r.time, -1.0) for r in later]
    assert store.insert(changed) == InsertResult(150, 150)
    assert store.count() == 450
    first = store.query(points[0], T0 + timedelta(seconds=150), T0 + timedelta(seconds=160))
    assert [r.value for r in first] == [batch[15 * 10].value]
    # two readings of one (point, time) in a batch: the first wins, the second is counted
    twin = Reading("plant/power", T0, 1.0)
    assert store.insert([twin, Reading("plant/power", T0, 2.0)]) == InsertResult(1, 1)
    assert store.query("plant/power")[0].value == 1.0
    assert store.latest(["plant/power"])["plant/power"].value == 1.0
    assert store.insert([]) == InsertResult(0, 0)


def test_rows_known_to_be_new_are_stored_alike(store: Store) -> None:
    """``newer_than`` (the ingest committer's newest stored times): on PostgreSQL the rows
    after it skip the conflict check.  The counts and rows are those of a plain insert, and
    when the caller's knowledge is stale (a row after it is stored already: another writer),
    the batch is inserted again with the check, nothing lost, nothing doubled."""
    points = [f"rack/R{i:02d}/power" for i in range(4)]
    first = _grid(points, 10)
    never = {p: EPOCH for p in points}
    assert store.insert(first, newer_than=never) == InsertResult(40, 0)
    newest = {p: T0 + timedelta(seconds=90) for p in points}
    # new rows after the newest, and a re-sent late one: only the latter is checked
    late = Reading(points[0], T0 + timedelta(seconds=30), -1.0)
    after = _grid(points, 5, start=T0 + timedelta(seconds=100))
    assert store.insert([*after, late], newer_than=newest) == InsertResult(20, 1)
    # stale knowledge: the "new" rows are stored already (and one of them twice in the batch)
    again = [*after, after[0]]
    assert store.insert(again, newer_than=newest) == InsertResult(0, 21)
    # and a mix: some of the "new" rows stored, some not
    more = _grid(points, 8, start=T0 + timedelta(seconds=100))
    assert store.insert(more, newer_than=newest) == InsertResult(12, 20)
    assert store.count() == 72
    stored = store.query(points[0])
    assert len(stored) == len({r.time for r in stored}) == 18
    assert next(r.value for r in stored if r.time == late.time) == first[3 * 4].value
    assert store.latest(points)[points[0]].time == T0 + timedelta(seconds=170)


def test_the_insert_of_new_rows_has_no_conflict_check() -> None:
    """What makes the insert of rows known to be new cheaper on PostgreSQL: its statement has
    no ``ON CONFLICT`` clause on ``measurements`` (the checked one has)."""

    def parts(statement: Any) -> tuple[str, str]:
        stored, latest = str(statement.compile(dialect=postgresql.dialect())).split("up AS (")
        return stored, latest

    new, checked = parts(PG_INSERT_NEW), parts(PG_INSERT)
    assert "ON CONFLICT" not in new[0] and "ON CONFLICT DO NOTHING" in checked[0]
    assert new[0].replace(" RETURNING", " ON CONFLICT DO NOTHING RETURNING") == checked[0]
    assert new[1] == checked[1] and "ON CONFLICT (point) DO UPDATE" in new[1]


def test_unstorable_points_and_values_are_refused_with_a_reason(store: Store) -> None:
    """A point id that is not UTF-8 (a lone surrogate) or longer than the index takes, and a
    value beyond a double, are ``ValueError`` naming the reading; nothing is stored."""
    good = Reading("plant/power", T0, 1.0)
    for bad, reason in (
        (Reading("x" * 1_001, T0, 1.0), "at most 1000 bytes"),
        (Reading("é" * 501, T0, 1.0), "at most 1000 bytes"),
        (Reading("rack" + chr(0xD800), T0, 1.0), "UTF-8"),
        (Reading("plant/power", T0 + timedelta(seconds=1), 10**400), "is not a number"),
    ):
        with pytest.raises(ValueError, match=reason):
            store.insert([good, bad])
    assert store.count() == 0
    assert store.insert([good, Reading("x" * 1_000, T0, 2.0)]) == InsertResult(2, 0)


@pytest.mark.parametrize("staging_rows", [None, 0, 7_000])
def test_large_batches_with_repeats_store_the_first_value_bit_for_bit(
    url: str, staging_rows: int | None
) -> None:
    """Batches of 12,500 readings (SQLite: several statements each) in shuffled order, with
    readings repeated within a batch, across batches and after a merge of the staging
    buffer, and point ids with quotes, backslashes, commas, braces: every (point, time)
    keeps the value of its first reading, bit for bit; the counts add up; ``latest`` holds
    each point's newest reading."""
    if staging_rows is not None and not url.startswith("sqlite"):
        pytest.skip("staging_rows is a SQLite option")
    rng = np.random.default_rng(3)
    odd = ['we"ird', "back\\slash", "a,b", "{x}", "NULL", "", " spaced ", "ünï/→"]
    points = [f"p{i:03d}" for i in range(500)] + odd
    first: dict[tuple[str, datetime], float] = {}
    with Store(url, staging_rows=staging_rows) as store:
        for k in range(3):
            steps = rng.integers(0, 40, size=12_500)
            batch = [
                Reading(points[int(i)], T0 + timedelta(seconds=int(s)), float(v))
                for i, s, v in zip(
                    rng.integers(0, len(points), size=12_500),
                    steps + 20 * k,
                    rng.normal(0.0, 1e3, size=12_500) * 10.0 ** rng.integers(-300, 300, 12_500),
                    strict=True,
                )
            ]
            new = 0
            for r in batch:
                if (r.point, r.time) not in first:
                    first[r.point, r.time] = r.value
                    new += 1
            assert store.insert(batch) == InsertResult(new, len(batch) - new)
        stored = store.query(points)
        assert len(stored) == len(first) == store.count()
        assert all(struct_bits(r.value) == struct_bits(first[r.point, r.time]) for r in stored)
        latest = store.latest(points)
        newest: dict[str, datetime] = {}
        for p, t in first:
            newest[p] = max(t, newest.get(p, t))
        for point in points:
            assert latest[point] == Reading(point, newest[point], first[point, newest[point]])


def struct_bits(value: float) -> bytes:
    """The 8 bytes of a float (``-0.0`` and ``0.0`` differ, as do NaN payloads)."""
    return struct.pack("<d", value)


def test_out_of_order_inserts_are_stored_in_order(store: Store) -> None:
    point = "crah/CRAH-1/supply_temperature"
    late = [Reading(point, T0 + timedelta(minutes=m), float(m)) for m in (30, 40)]
    early = [Reading(point, T0 + timedelta(minutes=m), float(m)) for m in (10, 35, 20)]
    store.insert(late)
    assert store.insert(early) == InsertResult(3, 0)
    assert [r.value for r in store.query(point)] == [10.0, 20.0, 30.0, 35.0, 40.0]
    assert store.last_times([point]) == {point: T0 + timedelta(minutes=40)}
    assert store.latest(point)[point] == Reading(point, T0 + timedelta(minutes=40), 40.0)


def test_last_times_and_latest(store: Store) -> None:
    store.insert(_grid(["a", "b"], 5))
    store.insert([Reading("c", T0 - timedelta(days=1), 7.5)])
    assert store.last_times(["a", "c", "never"]) == {
        "a": T0 + timedelta(seconds=40),
        "c": T0 - timedelta(days=1),
    }
    assert store.last_times("b") == {"b": T0 + timedelta(seconds=40)}
    latest = store.latest()
    assert set(latest) == {"a", "b", "c"}
    assert latest["b"] == Reading("b", T0 + timedelta(seconds=40), 21.0 + 4 / 8)
    assert latest["c"].time.tzinfo is UTC
    assert store.latest(["never"]) == {}
    many = [f"p{i}" for i in range(12_000)]  # more than one IN (...) list
    store.insert([Reading(p, T0, float(i)) for i, p in enumerate(many)])
    assert len(store.last_times(many)) == 12_000
    assert len(store.query(many)) == 12_000


@pytest.mark.parametrize("how", ["mean", "min", "max", "last"])
@pytest.mark.parametrize("bucket", [timedelta(minutes=7), timedelta(hours=1)])
def test_downsample_matches_numpy(store: Store, how: How, bucket: timedelta) -> None:
    """Irregular µs times, half of them flushed out of SQLite's staging buffer (the query
    unions both tables), a window starting off-bucket; another point's data is ignored."""
    rng = np.random.default_rng(7)
    start_us = _us(datetime(2024, 3, 10, 22, 13, 7, 123456, tzinfo=UTC))
    offsets = np.sort(rng.choice(6 * 3600 * 10**6, size=3000, replace=False))
    times = start_us + offsets
    values = rng.normal(20.0, 5.0, size=times.size)
    readings = [
        Reading("p", EPOCH + timedelta(microseconds=int(t)), float(v))
        for t, v in zip(times, values, strict=True)
    ]
    store.insert(readings[::2])
    store.flush()
    store.insert(readings[1::2])
    store.insert([Reading("other", r.time, 1e6) for r in readings[:100]])

    lo, hi = start_us + 17 * 60 * 10**6 + 3, start_us + 5 * 3600 * 10**6
    got_times, got_values = store.downsample(
        "p", EPOCH + timedelta(microseconds=lo), EPOCH + timedelta(microseconds=hi), bucket, how
    )

    width = bucket // timedelta(microseconds=1)
    keep = (times >= lo) & (times < hi)
    t, v = times[keep], values[keep]
    index = t // width
    buckets = np.unique(index)
    expected = []
    for b in buckets:
        sel = index == b
        if how == "mean":
            expected.append(v[sel].mean())
        elif how == "min":
            expected.append(v[sel].min())
        elif how == "max":
            expected.append(v[sel].max())
        else:
            expected.append(v[sel][np.argmax(t[sel])])
    assert got_times == [EPOCH + timedelta(microseconds=int(b * width)) for b in buckets]
    assert all(moment.tzinfo is UTC for moment in got_times)
    if how == "mean":
        np.testing.assert_allclose(got_values, expected, rtol=1e-13, atol=0)
    else:
        assert got_values == [float(x) for x in expected]
    with pytest.raises(ValueError, match="bucket"):
        store.downsample("p", T0, T0, timedelta(0))


def test_retention_keeps_hourly_rollups(store: Store) -> None:
    """Raw rows before the cutoff go; their hourly count/mean/min/max stay, exactly, even when
    the cutoff splits an hour and a later retention pass finishes it."""
    rng = np.random.default_rng(3)
    start = datetime(2024, 7, 1, 0, 0, tzinfo=UTC)
    readings = [
        Reading(p, start + timedelta(seconds=37 * k), float(rng.normal(25, 3)))
        for k in range(3 * 3600 // 37)
        for p in ("a", "b")
    ]
    store.insert(readings)
    total = store.count()
    cutoff = start + timedelta(hours=1, minutes=30)
    deleted = store.apply_retention(cutoff)
    assert deleted == sum(r.time < cutoff for r in readings)
    assert store.count() == total - deleted
    assert min(r.time for r in store.query(["a", "b"])) >= cutoff
    assert store.latest("a")["a"].time == max(r.time for r in readings if r.point == "a")
    second = start + timedelta(hours=2, minutes=10)
    deleted2 = store.apply_retention(second)
    assert deleted + deleted2 == sum(r.time < second for r in readings)

    rollups = store.rollups("a")
    assert [r["hour"] for r in rollups] == [start + timedelta(hours=h) for h in range(3)]
    for roll in rollups:
        hour = roll["hour"]
        inside = [
            r.value
            for r in readings
            if r.point == "a" and hour <= r.time < hour + timedelta(hours=1) and r.time < second
        ]
        assert roll["count"] == len(inside)
        assert roll["min"] == min(inside) and roll["max"] == max(inside)
        assert math.isclose(roll["mean"], float(np.mean(inside)), rel_tol=1e-13)
        assert roll["point"] == "a"
    assert store.rollups("a", start + timedelta(hours=1), start + timedelta(hours=2)) == [
        rollups[1]
    ]
    assert store.apply_retention(start + timedelta(hours=3), rollup=False) > 0
    assert store.count() == 0
    assert store.rollups("b")[-1]["hour"] == start + timedelta(hours=2)  # not extended
    with pytest.raises(ValueError, match="no timezone"):
        store.apply_retention(datetime(2024, 1, 1))


def test_naive_times_and_bad_values_are_refused(store: Store) -> None:
    ok = Reading("a", T0, 1.0)
    naive = Reading("a", datetime(2024, 7, 1, 12, 0, 1), 1.0)
    with pytest.raises(ValueError, match=r"reading 1 \('a'\): time .* has no timezone"):
        store.insert([ok, naive])
    with pytest.raises(ValueError, match="not finite"):
        store.insert([ok, Reading("a", T0, float("nan"))])
    with pytest.raises(ValueError, match="point must be text"):
        store.insert([Reading(7, T0, 1.0)])  # type: ignore[arg-type]
    assert store.count() == 0  # nothing of a refused batch is stored
    with pytest.raises(ValueError, match="no timezone"):
        store.query("a", datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="no timezone"):
        store.record_parameters(datetime(2024, 1, 1), {"x": 1.0})
    with pytest.raises(ValueError, match="no timezone"):
        store.audit("me", "x", time=datetime(2024, 1, 1))


def test_concurrent_writers_lose_nothing(store: Store) -> None:
    """Eight threads insert overlapping batches at once: every reading is stored exactly once
    and the counts add up."""
    points = [f"p{i}" for i in range(50)]
    batches = [_grid(points, 10, start=T0 + timedelta(seconds=50 * k)) for k in range(12)]
    results: list[InsertResult] = []
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for k in range(len(batches)):
                results.append(store.insert(batches[(k + offset) % len(batches)]))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    unique = {(r.point, r.time) for batch in batches for r in batch}
    assert sum(r.inserted for r in results) == len(unique) == store.count()
    assert sum(r.inserted + r.already_stored for r in results) == 8 * sum(map(len, batches))


# ------------------------------------------------------------------------------- migrations


def _columns(url: str) -> dict[str, set[str]]:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        inspector = sa.inspect(engine)
        return {
            t: {c["name"] for c in inspector.get_columns(t)} for t in inspector.get_table_names()
        }
    finally:
        engine.dispose()


def test_migration_from_version_1(url: str) -> None:
    """A database created at schema version 1 (no ``received``, no ``latest``) with data in
    it is upgraded on open: same tables and columns as a new one, data kept, ``latest``
    filled from the stored rows."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        assert migrate(conn, target=1) == 0
        conn.execute(
            sa.text("INSERT INTO measurements (point, time, value) VALUES (:p, :t, :v)"),
            [
                {"p": "a", "t": _us(T0), "v": 1.5},
                {"p": "a", "t": _us(T0 + timedelta(seconds=10)), "v": 2.5},
                {"p": "b", "t": _us(T0), "v": 3.5},
            ],
        )
    with engine.connect() as conn:
        assert "received" not in {c["name"] for c in sa.inspect(conn).get_columns("measurements")}
    engine.dispose()

    with Store(url) as store:
        assert store.schema_version == SCHEMA_VERSION == 4
        assert [r.value for r in store.query(["a", "b"])] == [1.5, 3.5, 2.5]
        assert store.latest() == {
            "a": Reading("a", T0 + timedelta(seconds=10), 2.5),
            "b": Reading("b", T0, 3.5),
        }
        assert store.insert(_grid(["a"], 3)) == InsertResult(1, 2)
    migrated = _columns(url)
    assert set(migrated) == set(METADATA.tables)
    assert migrated == {name: set(t.columns.keys()) for name, t in METADATA.tables.items()}
    Store(url).close()  # opening a current database again changes nothing

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE meta SET value = '99' WHERE key = 'schema_version'"))
    engine.dispose()
    with pytest.raises(StoreError, match="version 99 is newer"):
        Store(url)


def test_new_database_has_the_current_schema(store: Store, url: str) -> None:
    assert _columns(url) == {name: set(t.columns.keys()) for name, t in METADATA.tables.items()}


# -------------------------------------------------------------------------------- plans etc.


def test_plan_status_transitions(store: Store) -> None:
    payload = {"summary": {"cost": np.float64(12.5), "verified": True}, "steps": np.arange(3)}
    first = store.add_plan("p1", T0, "proposed", payload)
    assert first["payload"] == {"summary": {"cost": 12.5, "verified": True}, "steps": [0, 1, 2]}
    assert first["status"] == "proposed" and first["decided_by"] is None
    store.add_plan("p2", T0 + timedelta(minutes=1), "proposed", {"n": 2})
    store.add_plan("p3", T0 + timedelta(minutes=2), "proposed", {"n": 3})
    with pytest.raises(Conflict, match="already exists"):
        store.add_plan("p1", None, "proposed", {})
    with pytest.raises(ValueError, match="not JSON"):
        store.add_plan("p4", None, "proposed", {"x": float("nan")})

    approved = store.set_plan_status(
        "p1", "approved", "alice", "cheaper", time=T0 + timedelta(hours=1)
    )
    assert approved == {
        **first,
        "status": "approved",
        "decided_by": "alice",
        "decided_at": T0 + timedelta(hours=1),
        "reason": "cheaper",
    }
    assert store.get_plan("p1") == approved
    with pytest.raises(Conflict, match="is approved: it cannot become approved"):
        store.set_plan_status("p1", "approved", "bob")
    assert store.set_plan_status("p1", "applied", "system")["status"] == "applied"

    store.set_plan_status("p2", "rejected", "bob", "too risky")
    with pytest.raises(Conflict, match="'p2' is rejected: it cannot become approved") as error:
        store.set_plan_status("p2", "approved", "alice")
    assert isinstance(error.value, ValueError)
    assert store.get_plan("p2")["status"] == "rejected"  # type: ignore[index]
    assert store.get_plan("p2")["decided_by"] == "bob"  # type: ignore[index]

    with pytest.raises(NotFound, match="no plan 'nope'") as missing:
        store.set_plan_status("nope", "approved", "alice")
    assert isinstance(missing.value, KeyError)
    assert store.get_plan("nope") is None
    with pytest.raises(ValueError, match="unknown plan status"):
        store.set_plan_status("p3", "done", "alice")

    assert [p["id"] for p in store.list_plans()] == ["p3", "p2", "p1"]
    assert [p["id"] for p in store.list_plans(limit=2)] == ["p3", "p2"]
    assert [p["id"] for p in store.list_plans(status="proposed")] == ["p3"]
    assert store.list_plans(status="superseded") == []
    assert set(PLAN_STATUSES) == {
        "proposed",
        "approved",
        "rejected",
        "applied",
        "superseded",
        "reverted",
    }
    assert store.set_plan_status("p1", "reverted", "watch", "inlet C04 over 27 °C")["status"] == (
        "reverted"
    )
    with pytest.raises(Conflict, match="'p1' is reverted"):
        store.set_plan_status("p1", "applied", "system")
    json.dumps(store.list_plans(), default=str)  # JSON-ready dicts


def test_only_one_of_two_simultaneous_decisions_wins(store: Store) -> None:
    store.add_plan("p", None, "proposed", {})
    outcomes: list[str] = []

    def decide(status: str) -> None:
        try:
            store.set_plan_status("p", status, status)
            outcomes.append(status)
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=decide, args=(s,)) for s in ("approved", "rejected") * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [o for o in outcomes if o != "conflict"]
    assert len(winners) == 1
    assert store.get_plan("p")["status"] == winners[0]  # type: ignore[index]


def test_audit_log_order(store: Store) -> None:
    ids = [
        store.audit("alice", "plan.approve", "p1", "cheaper", {"cost": 1.5}, time=T0),
        store.audit("bob", "setpoint.override", "CRAH-1", None, time=T0),
        store.audit("system", "retention", time=T0 + timedelta(hours=1)),
    ]
    assert ids == sorted(ids) and len(set(ids)) == 3
    log = store.audit_log()
    assert [e["id"] for e in log] == ids[::-1]
    assert log[-1] == {
        "id": ids[0],
        "time": T0,
        "actor": "alice",
        "action": "plan.approve",
        "target": "p1",
        "reason": "cheaper",
        "detail": {"cost": 1.5},
    }
    assert log[1]["detail"] is None and log[0]["target"] is None
    assert [e["actor"] for e in store.audit_log(limit=2)] == ["system", "bob"]
    assert [e["actor"] for e in store.audit_log(since=T0 + timedelta(minutes=1))] == ["system"]


def test_parameter_history(store: Store) -> None:
    assert store.record_parameters(T0, {"recirculation": (0.12, 0.01), "ua": 5.0}) == 2
    store.record_parameters(T0 + timedelta(hours=1), {"recirculation": (0.15, 0.02)})
    store.record_parameters(T0 + timedelta(hours=1), {"recirculation": (0.14, 0.015)})  # replaces
    assert store.record_parameters(T0, {}) == 0
    history = store.parameter_history()
    assert [(p["name"], p["time"], p["value"], p["std"]) for p in history] == [
        ("recirculation", T0, 0.12, 0.01),
        ("ua", T0, 5.0, None),
        ("recirculation", T0 + timedelta(hours=1), 0.14, 0.015),
    ]
    assert [p["value"] for p in store.parameter_history("recirculation")] == [0.12, 0.14]
    assert [p["name"] for p in store.parameter_history(since=T0 + timedelta(minutes=1))] == [
        "recirculation"
    ]
    assert [(p["name"], p["value"]) for p in store.parameter_history(limit=2)] == [
        ("ua", 5.0),
        ("recirculation", 0.14),
    ]  # the most recent two, oldest first
    with pytest.raises(ValueError, match="not finite"):
        store.record_parameters(T0, {"ua": (float("inf"), None)})


def test_alarms(store: Store) -> None:
    stuck = store.raise_alarm("sensor_stuck", "rack/A01/inlet_temperature", "flat for 1 h", time=T0)
    again = store.raise_alarm("sensor_stuck", "rack/A01/inlet_temperature", "still flat")
    assert again == stuck  # one active alarm per kind and source
    other = store.raise_alarm(
        "sensor_stuck", "rack/A02/inlet_temperature", "flat", time=T0 + timedelta(minutes=1)
    )
    stale = store.raise_alarm("stale", "site", "no data", time=T0 + timedelta(minutes=2))
    assert [a["id"] for a in store.alarms()] == [stale["id"], other["id"], stuck["id"]]
    cleared = store.clear_alarm(stuck["id"], time=T0 + timedelta(hours=1))
    assert cleared == {**stuck, "cleared": T0 + timedelta(hours=1)}
    assert store.clear_alarm(stuck["id"]) == cleared  # clearing twice changes nothing
    assert stuck["id"] not in [a["id"] for a in store.alarms()]
    assert [a["id"] for a in store.alarms(active_only=False)][-1] == stuck["id"]
    assert len(store.alarms(active_only=False, limit=2)) == 2
    back = store.raise_alarm("sensor_stuck", "rack/A01/inlet_temperature", "flat again")
    assert back["id"] not in (stuck["id"], other["id"], stale["id"]) and back["cleared"] is None
    assert back["message"] == "flat again"
    with pytest.raises(NotFound):
        store.clear_alarm(10_000)


def test_alarm_severity_acknowledgement_and_shelving(store: Store) -> None:
    """A warning escalated to critical keeps its id and loses its acknowledgement and shelving;
    a critical alarm raised again as a warning is unchanged; acknowledging twice keeps the
    first; shelving until a time and unshelving; a cleared alarm is not changed; bad
    severities and unknown ids are refused."""
    source = "rack/C04/inlet_temperature"
    warning = store.raise_alarm(
        "limit_inlet_temperature_high",
        source,
        "within 1 K",
        time=T0,
        point=source,
        detail={"value": 26.4, "limit": 27.0},
    )
    assert warning["severity"] == "warning" and warning["point"] == source
    assert warning["detail"] == {"value": 26.4, "limit": 27.0}
    assert warning["acknowledged"] is None and warning["shelved_until"] is None
    seen = store.acknowledge_alarm(warning["id"], "token:ab", time=T0 + timedelta(seconds=5))
    assert (
        seen["acknowledged"] == T0 + timedelta(seconds=5) and seen["acknowledged_by"] == "token:ab"
    )
    again = store.acknowledge_alarm(warning["id"], "token:cd", time=T0 + timedelta(seconds=9))
    assert again["acknowledged_by"] == "token:ab"  # the first acknowledgement stays
    shelved = store.shelve_alarm(warning["id"], "token:ab", T0 + timedelta(hours=1))
    assert shelved["shelved_until"] == T0 + timedelta(hours=1)
    critical = store.raise_alarm(
        "limit_inlet_temperature_high", source, "above 27 °C", severity="critical"
    )
    assert critical["id"] == warning["id"] and critical["severity"] == "critical"
    assert critical["message"] == "above 27 °C"
    assert critical["acknowledged"] is None and critical["shelved_until"] is None
    same = store.raise_alarm("limit_inlet_temperature_high", source, "within 1 K")
    assert same == critical  # a less severe raise leaves the active alarm alone
    lowered = store.update_alarm(critical["id"], severity="warning", message="back within 1 K")
    assert lowered["severity"] == "warning" and lowered["message"] == "back within 1 K"
    assert store.shelve_alarm(warning["id"], "token:ab", None)["shelved_until"] is None
    assert store.get_alarm(warning["id"]) == store.alarms()[0]
    cleared = store.clear_alarm(warning["id"], time=T0 + timedelta(hours=2))
    assert store.acknowledge_alarm(warning["id"], "token:ef") == cleared  # cleared: unchanged
    assert store.alarms(active_only=False, since=T0 + timedelta(hours=3)) == []
    assert store.alarms(active_only=False, since=T0 + timedelta(hours=1)) == [cleared]
    assert store.get_alarm(10_000) is None
    with pytest.raises(ValueError, match="unknown alarm severity"):
        store.raise_alarm("x", "y", "z", severity="major")
    with pytest.raises(NotFound):
        store.acknowledge_alarm(10_000, "token:ab")


# --------------------------------------------------------------------------- SQLite specifics


def test_urls(tmp_path: Path) -> None:
    with Store(tmp_path / "sub" / "plain.db") as plain:  # a path, folder created
        assert plain.backend == "sqlite" and plain.url.endswith("plain.db")
    assert (tmp_path / "sub" / "plain.db").exists()
    for bad, message in [
        ("sqlite://", "needs a file"),
        ("sqlite:///:memory:", "needs a file"),
        ("mysql://u@h/db", "use sqlite"),
        ("postgresql+psycopg2://u@h/db", "psycopg"),
    ]:
        with pytest.raises(ValueError, match=message):
            Store(bad)
    with pytest.raises(ValueError, match="staging_rows"):
        Store("postgresql://u@localhost:1/db", staging_rows=10)
    for given in ("postgresql://u:pw@h:5433/db", "postgres://u:pw@h:5433/db"):
        mapped = engine_url(given)
        assert mapped.drivername == "postgresql+psycopg" and mapped.port == 5433
        assert mapped.password == "pw" and mapped.database == "db"


def test_sqlite_staging_buffer_is_merged(tmp_path: Path) -> None:
    """With a small staging buffer, inserts that cross it move every staged row into the
    main table; opening with staging off moves leftovers; reads never see the difference."""
    path = tmp_path / "staged.db"
    points = [f"p{i}" for i in range(10)]

    def tables() -> tuple[int, int]:
        with sqlite3.connect(path) as db:
            staged = db.execute("SELECT count(*) FROM measurements_staging").fetchone()[0]
            main = db.execute("SELECT count(*) FROM measurements").fetchone()[0]
        return staged, main

    with Store(path, staging_rows=250) as store:
        store.insert(_grid(points, 10))
        store.insert(_grid(points, 10, start=T0 + timedelta(seconds=100)))
        assert tables() == (200, 0)
        assert store.insert(_grid(points, 10)) == InsertResult(0, 100)  # staged: still a no-op
        store.insert(_grid(points, 10, start=T0 + timedelta(seconds=200)))  # 300 ≥ 250: merge
        assert tables() == (0, 300)
        store.insert(_grid(points, 5, start=T0 + timedelta(seconds=300)))
        assert store.insert(_grid(points, 20)) == InsertResult(0, 200)  # merged: still a no-op
        assert tables() == (50, 300)
        assert store.count() == 350 and len(store.query(points)) == 350
    with Store(path, staging_rows=0) as store:
        assert tables() == (0, 350)
        assert store.insert(_grid(points, 36)) == InsertResult(10, 350)
        assert tables() == (0, 360)


def _hold_write_lock(
    path: Path, seconds: float, ready: threading.Event, release: threading.Event | None = None
) -> None:
    """Another connection takes the SQLite write lock of ``path`` (with a row of its own), sets
    ``ready`` and commits after ``seconds`` [s], or as soon as ``release`` is set: a test
    that has seen the lock outlast its store's budget releases it then, instead of sleeping
    out the rest."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    db.execute(  # a fresh time each call: two holders in one test do not collide
        "INSERT INTO measurements (point, time, value) VALUES ('holder', ?, 1.0)",
        (time.time_ns() // 1000,),
    )
    ready.set()
    (release or threading.Event()).wait(seconds)
    db.execute("COMMIT")
    db.close()


def test_sqlite_insert_waits_for_a_short_lock(tmp_path: Path) -> None:
    """Another connection holds the write lock for 0.5 s: insert waits, then commits."""
    path = tmp_path / "locked.db"
    with Store(path, busy_timeout=5.0) as store:
        ready = threading.Event()
        holder = threading.Thread(target=_hold_write_lock, args=(path, 0.5, ready))
        holder.start()
        ready.wait(5)
        began = time.monotonic()
        result = store.insert(_grid(["a", "b"], 50))
        waited = time.monotonic() - began
        holder.join()
        assert result == InsertResult(100, 0)
        assert 0.3 < waited < 4.0
        assert store.count() == 101  # the holder's row and the whole batch


def test_sqlite_long_lock_raises_store_busy(tmp_path: Path) -> None:
    """Locked beyond the budget: StoreBusy, promptly, nothing written; then it works."""
    path = tmp_path / "locked.db"
    with Store(path, busy_timeout=0.5) as store:
        ready, release = threading.Event(), threading.Event()
        holder = threading.Thread(target=_hold_write_lock, args=(path, 3.0, ready, release))
        holder.start()
        ready.wait(5)
        began = time.monotonic()
        with pytest.raises(StoreBusy, match=r"locked by another writer for more than 0\.5 s"):
            store.insert(_grid(["a"], 10))
        waited = time.monotonic() - began
        assert 0.4 < waited < 2.5
        assert store.count() == 0  # readers are not blocked (WAL); nothing was written
        release.set()  # held past the budget: no need to sleep out the rest
        holder.join()
        assert store.insert(_grid(["a"], 10)) == InsertResult(10, 0)


CHILD = """
import sys
from datetime import UTC, datetime, timedelta
from tests.postgres import fresh_database
from twin.scenario.points import Reading
from twin.store.store import Store

store = Store(sys.argv[1], staging_rows=3000)
start = datetime(2024, 7, 1, tzinfo=UTC)
points = [f"rack/R{i:03d}/inlet_temperature" for i in range(250)]
batch = 0
while True:
    readings = [
        Reading(p, start + timedelta(seconds=2 * batch + k), batch + i / 1000)
        for k in range(2)
        for i, p in enumerate(points)
    ]
    store.insert(readings)
    print(batch, flush=True)
    batch += 1
"""


def test_sqlite_acknowledged_batches_survive_kill_9(tmp_path: Path) -> None:
    """A writer process is SIGKILLed while inserting; every batch whose insert had returned
    (it printed the batch number afterwards) is in the database, whole, and the file is sound."""
    path = tmp_path / "crash.db"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, f"sqlite:///{path}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert child.stdout is not None
    acknowledged: list[int] = []
    watchdog = threading.Timer(120, child.kill)  # never hang the suite
    watchdog.start()
    try:
        for line in child.stdout:
            acknowledged.append(int(line))
            if len(acknowledged) >= 20:
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        rest, errors = child.communicate(timeout=30)
        watchdog.cancel()
    acknowledged += [int(line) for line in rest.split()]
    assert child.returncode == -signal.SIGKILL, errors
    assert len(acknowledged) >= 20 and acknowledged == list(range(len(acknowledged)))

    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with Store(path) as store:
        stored = store.query([f"rack/R{i:03d}/inlet_temperature" for i in range(250)])
        by_batch: dict[int, int] = {}
        for reading in stored:
            by_batch[int(reading.value)] = by_batch.get(int(reading.value), 0) + 1
        for batch in acknowledged:
            assert by_batch.get(batch) == 500, f"batch {batch} lost or partial"
        # an unacknowledged batch is either whole or absent (one transaction)
        assert all(count == 500 for count in by_batch.values())


def test_sqlite_background_merge_moves_the_buffer_in_slices(tmp_path: Path) -> None:
    """With merge_in_background, inserts only stage; merge_step moves the oldest rows a slice
    at a time; every reading is queryable (once) before, during and after."""
    points = [f"p{i:03d}" for i in range(250)]
    with Store(tmp_path / "bg.db", staging_rows=1000, merge_in_background=True) as store:
        assert store.insert(_grid(points, 8)) == InsertResult(2000, 0)
        assert store.staged == 2000 and store.merge_pending
        assert store.count() == 2000
        assert store.merge_step(rows=500) == 500  # two whole ticks of 250 points
        assert store.staged == 1500 and store.merge_pending
        assert store.merge_step(rows=300) == 500  # the 300th row's tick moves whole
        assert store.staged == 1000 and store.merge_pending
        assert store.count() == 2000 and len(store.query(points)) == 2000
        assert store.insert(_grid(points, 8)) == InsertResult(0, 2000)  # idempotent across both
        assert store.merge_step(rows=500) == 500
        assert not store.merge_pending and store.staged == 500  # below the threshold: left
        assert store.merge_step(rows=10_000) == 500
        assert store.merge_step() == 0 and store.staged == 0
        assert store.count() == 2000
        first = store.query(points[:1])
        assert [r.value for r in first] == [r.value for r in _grid(points[:1], 8)]
        with pytest.raises(ValueError, match="rows must be"):
            store.merge_step(rows=0)
