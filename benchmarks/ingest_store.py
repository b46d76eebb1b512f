"""Sustained ingestion into the measurement store (twin.store): SQLite file and PostgreSQL.

Run by hand; prints one JSON line per case::

    .venv/bin/python benchmarks/ingest_store.py        # SQLite, and PostgreSQL if found
    .venv/bin/python benchmarks/ingest_store.py --batches 500 --points 200
    .venv/bin/python benchmarks/ingest_store.py --background-merge   # as dctwin serve runs
    .venv/bin/python benchmarks/ingest_store.py --quick   # 20 batches, SQLite only (smoke)
    DCTWIN_TEST_POSTGRES_URL=postgresql://u@host/db .venv/bin/python benchmarks/ingest_store.py

Each batch holds ``--size`` readings: every one of ``--points`` points at ``size / points``
consecutive seconds (the shape a live plant sends: all points, one tick).  Reported:
readings/s over the whole run (wall clock of the ``Store.insert`` calls: converting the
readings, executing, committing; the readings are built beforehand), p50/p99/max latency of
one ``insert`` (from call to committed return), the time to re-insert the last batch (a
no-op), and the database size.
PostgreSQL is the throwaway server of ``tests/postgres.py`` unless DCTWIN_TEST_POSTGRES_URL
is set (it is then used as is: the benchmark drops its tables first).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.postgres import PostgresUnavailable, throwaway_postgres
from twin.scenario.points import Reading
from twin.store.schema import METADATA
from twin.store.store import Store


def _batches(points: int, size: int, count: int) -> list[list[Reading]]:
    ids = [f"rack/R{i:04d}/inlet_temperature" for i in range(points)]
    ticks = max(1, size // points)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    rng = np.random.default_rng(0)
    out = []
    for b in range(count):
        values = rng.normal(25.0, 2.0, size=(ticks, points)).tolist()
        out.append(
            [
                Reading(p, start + timedelta(seconds=b * ticks + k), values[k][i])
                for k in range(ticks)
                for i, p in enumerate(ids)
            ]
        )
    return out


def run(store: Store, label: str, args: argparse.Namespace, size_of: object) -> dict[str, object]:
    batches = _batches(args.points, args.size, args.batches)
    latencies = []
    inserted = 0
    stop = threading.Event()

    def merger() -> None:  # what the live twin's worker thread does
        while not stop.is_set():
            if store.merge_pending:
                store.merge_step()
            else:
                time.sleep(0.005)

    thread = threading.Thread(target=merger, daemon=True)
    if store.merge_in_background:
        thread.start()
    for batch in batches:
        t0 = time.perf_counter()
        inserted += store.insert(batch).inserted
        latencies.append(time.perf_counter() - t0)
    stop.set()
    if thread.is_alive():
        thread.join()
    elapsed = sum(latencies)
    lat = np.array(latencies) * 1e3
    assert inserted == args.batches * len(batches[0]), inserted
    again = time.perf_counter()
    store.insert(batches[-1])
    return {
        "backend": label,
        "batches": args.batches,
        "batch_size": len(batches[0]),
        "points": args.points,
        "readings_per_s": round(inserted / elapsed),
        "p50_ms": round(float(np.percentile(lat, 50)), 2),
        "p99_ms": round(float(np.percentile(lat, 99)), 2),
        "max_ms": round(float(lat.max()), 2),
        "reinsert_ms": round((time.perf_counter() - again) * 1e3, 2),
        "stored": store.count(),
        "database_mb": size_of() if callable(size_of) else None,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--size", type=int, default=1000, help="readings per batch")
    parser.add_argument("--points", type=int, default=1000, help="distinct points per batch")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--background-merge",
        action="store_true",
        help="SQLite: merge the staging buffer from a second thread (as dctwin serve does)",
    )
    parser.add_argument(
        "--staging-rows", type=int, default=None, help="SQLite staging buffer (0: off)"
    )
    parser.add_argument("--quick", action="store_true", help="20 batches, SQLite only")
    args = parser.parse_args()
    if args.quick:
        args.batches, args.no_postgres = 20, True

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        store = Store(
            f"sqlite:///{path}",
            staging_rows=args.staging_rows,
            merge_in_background=args.background_merge,
        )

        def sqlite_mb() -> float:
            return round(sum(p.stat().st_size for p in Path(folder).iterdir()) / 1e6, 1)

        label = "sqlite" if args.staging_rows != 0 else "sqlite (no staging)"
        if args.background_merge:
            label += ", background merge"
        print(json.dumps(run(store, label, args, sqlite_mb)), flush=True)
        store.close()

    if args.no_postgres:
        return 0
    url = os.environ.get("DCTWIN_TEST_POSTGRES_URL")
    try:
        with throwaway_postgres(url) as server_url:
            engine = sa.create_engine(server_url.replace("postgresql://", "postgresql+psycopg://"))
            with engine.begin() as conn:
                METADATA.drop_all(conn)
                conn.exec_driver_sql("DROP TABLE IF EXISTS meta")
            store = Store(server_url)

            def pg_mb() -> float:
                with engine.connect() as conn:
                    size = conn.exec_driver_sql("SELECT pg_database_size(current_database())")
                    return round(int(size.scalar_one()) / 1e6, 1)

            print(json.dumps(run(store, "postgresql", args, pg_mb)), flush=True)
            store.close()
            engine.dispose()
    except PostgresUnavailable as exc:
        print(json.dumps({"backend": "postgresql", "skipped": str(exc)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
