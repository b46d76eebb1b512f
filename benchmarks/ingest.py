"""Benchmark of the live twin: ingestion through the API, state update, re-plan latency.

Run by hand (on a quiet machine); prints one JSON line per figure::

    .venv/bin/python benchmarks/ingest.py                 # SQLite, and PostgreSQL if found
    .venv/bin/python benchmarks/ingest.py --no-postgres --batches 100
    .venv/bin/python benchmarks/ingest.py --quick        # 10 batches, 1 re-plan (no warm-up)
    .venv/bin/python benchmarks/ingest.py --clients 4 --no-replan   # the concurrency figures
    .venv/bin/python benchmarks/ingest.py --clients 4 --no-replan --ingest-process
    .venv/bin/python benchmarks/ingest.py --clients 4 --no-replan --ingest-process --rate 50000

* **API ingestion**: a real ``dctwin serve`` process (demo hall, no virtual plant, no
  re-plans) on a free port with the store on SQLite, then PostgreSQL; ``--clients`` threads
  (default one) each post ``--batches`` JSON batches of 1,000 readings back to back (bodies
  prepared beforehand) and time each request from send to the 2xx, which the service sends
  only after the commit (with ``--rate``, paced at that many readings/s in all instead, each
  request timed from its due time: the latency at a given load rather than at saturation);
  meanwhile one more thread asks for ``GET /api/v1/state`` every
  50 ms.  Client and server share the machine's cores; the server's worker thread screens
  and estimates every batch meanwhile, as it does in service.  Reported: readings/s over the
  run (wall clock), p50/p99/max latency of one batch and of ``GET /state``, and the server
  process's CPU seconds per 1,000 readings (``/proc``; requests and worker, counted until the
  worker has processed every batch; steadier than readings/s on a shared machine; with
  ``--ingest-process`` its child's included, and the main process alone apart) and how
  long the worker took after the last answer to finish the queued batches (its backlog) [s];
  next to it, per 1,000 readings over the same window, the CPU of the benchmark's own client
  threads (this process: the 4 posting clients and the ``/state`` poller), of the PostgreSQL
  server (postmaster and backends; None on SQLite or an outside server) and of every other
  process on the machine, and how many cores the machine was busy on average: the
  measurement shares the cores it measures, and these say with whom.  The clock starts only
  once the worker has processed the 5 warm-up batches (the model's first prediction, which
  the UI's warm-up also makes under the twin's lock, is done by then; ``warm_up_wait_s``);
  also the load averages before and after the figure and the checkout's commit.
* **Store ingestion** (``benchmarks/ingest_store.py``, the same 1,000-reading batches straight
  into ``Store.insert``): the store's own ceiling without HTTP and JSON.
* **State update** for a 1,000-rack hall: ``benchmarks/state_update.py`` (run it for the
  figures; it takes a few minutes).
* **Re-plan latency**: ``LiveTwin.replan`` on the demo hall (24 h at 15 min from the estimated
  state, verified by the physics, stored as proposed), ``--replans`` times after one warm-up.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.postgres import PostgresUnavailable, throwaway_postgres  # noqa: E402
from tests.processes import serving  # noqa: E402

TOKEN = "benchmark-token-000000001"
MACHINE = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def _commit() -> str:
    """The checkout's commit (``git describe``), or "unknown" outside a git work tree."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return described.stdout.strip()


def _load() -> list[float]:
    """The machine's 1, 5 and 15 min load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def _bodies(points: list[str], batches: int, size: int) -> list[bytes]:
    """JSON bodies of ``size`` readings: every point at consecutive seconds, in time order."""
    ticks = max(1, size // len(points))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=batches * ticks + 60)
    rng = np.random.default_rng(0)
    out = []
    for b in range(batches):
        values = rng.normal(24.0, 1.0, size=(ticks, len(points)))
        items = [
            {
                "time": (start + timedelta(seconds=b * ticks + k)).isoformat(),
                "point": p,
                "value": round(float(values[k, i]), 3),
            }
            for k in range(ticks)
            for i, p in enumerate(points)
        ][:size]
        out.append(json.dumps({"items": items}).encode())
    return out


def _post_all(
    base: str,
    bodies: list[bytes],
    latencies: list[float],
    inserted: list[int],
    schedule: tuple[float, float] | None = None,
) -> None:
    """One client: post ``bodies``, recording each request's latency [s].

    Without ``schedule`` the bodies go back to back (closed loop: the next leaves when the
    last is answered, so the run measures the server's ceiling and the latency at
    saturation).  With ``schedule = (first, interval)`` [s, ``time.perf_counter`` clock] body
    ``j`` is due at ``first + j * interval`` (open loop, a paced offered rate): the client
    waits until then if early, and the latency is counted **from the due time**, not from the
    send, so a server that falls behind is charged the time the request waited to leave
    (no coordinated omission).
    """
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        for j, body in enumerate(bodies):
            began = time.perf_counter()
            if schedule is not None:
                due = schedule[0] + j * schedule[1]
                if due > began:
                    time.sleep(due - began)
                began = due
            response = client.post("/api/v1/measurements", content=body)
            latencies.append(time.perf_counter() - began)
            response.raise_for_status()
            inserted.append(response.json()["inserted"])


def _poll_state(base: str, stop: threading.Event, latencies: list[float]) -> None:
    """``GET /api/v1/state`` every 50 ms until ``stop``, recording each latency [s]."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        while not stop.is_set():
            began = time.perf_counter()
            client.get("/api/v1/state").raise_for_status()
            latencies.append(time.perf_counter() - began)
            stop.wait(0.05)


def _cpu_seconds(pid: int, children: bool = True) -> float:
    """User + system CPU time so far of process ``pid`` and (``children``) its living
    descendants (the ingest child of ``--ingest-process``) [s] (Linux ``/proc``)."""
    total, pending = 0.0, [pid]
    while pending:
        process = pending.pop()
        try:
            fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
            tasks = list(Path(f"/proc/{process}/task").iterdir())
        except (FileNotFoundError, ProcessLookupError):  # ended meanwhile
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        for task in tasks if children else []:
            try:
                pending += [int(c) for c in (task / "children").read_text().split()]
            except FileNotFoundError:
                continue
    return total


def _machine_busy_seconds() -> float:
    """CPU time the whole machine has spent busy so far, all cores summed [s] (``/proc/stat``:
    every field but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    busy = sum(fields[:8]) - fields[3] - fields[4]  # user..steal, without idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def _postgres_cpu_seconds(url: str) -> float | None:
    """CPU time of the PostgreSQL server listening on ``url``'s port so far [s]: its
    postmaster (with the children it has reaped) and every live child process; None when
    no postmaster with that port is found (an outside server: ``DCTWIN_TEST_POSTGRES_URL``)."""
    port = str(url.rsplit(":", 1)[1].split("/", 1)[0])
    postmaster = None
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry.name)] = stat
        words = [a.decode(errors="replace") for a in argv]
        if words[0].endswith("postgres") and any(
            a == "-p" and b == port for a, b in itertools.pairwise(words)
        ):
            postmaster = int(entry.name)
    if postmaster is None:
        return None
    ticks = 0
    for pid, stat in stats.items():
        if pid == postmaster:  # utime, stime, cutime, cstime
            ticks += sum(int(x) for x in stat[11:15])
        elif int(stat[1]) == postmaster:
            ticks += int(stat[11]) + int(stat[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _wait_processed(base: str, readings: int, timeout: float = 300.0) -> float:
    """Wait until the server's worker has processed ``readings`` [count]; the wait [s]."""
    began = time.perf_counter()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    while time.perf_counter() - began < timeout:
        health = httpx.get(f"{base}/api/v1/health", headers=headers, timeout=60).json()
        if health["readings_processed"] >= readings:
            break
        time.sleep(0.05)
    return time.perf_counter() - began


def _percentiles(seconds: list[float]) -> dict[str, float]:
    lat = np.array(seconds) * 1e3
    return {
        "p50_ms": round(float(np.percentile(lat, 50)), 1),
        "p99_ms": round(float(np.percentile(lat, 99)), 1),
        "max_ms": round(float(lat.max()), 1),
    }


def api_ingestion(
    db: str,
    label: str,
    batches: int,
    size: int,
    racks: int = 0,
    clients: int = 1,
    ingest_process: bool = False,
    rate: float | None = None,
    min_cycle_ms: float | None = None,
) -> dict[str, object]:
    """Start ``dctwin serve`` on ``db``, post the batches, stop it; return the figures.

    ``racks`` > 0 serves a synthetic hall of that many racks
    (:func:`twin.scenario.synthetic.synthetic_hall`) instead of the demo hall, so a batch can hold
    ``size`` distinct inlet points.  ``clients`` threads post ``batches`` batches each at once
    (their batches interleave in time, so none is out of order), while one more thread asks
    for ``GET /api/v1/state`` every 50 ms.  ``rate`` [readings/s] paces them (open loop, the
    clients' due times staggered evenly; latency counted from each batch's due time, see
    :func:`_post_all`); without it they post back to back.  ``min_cycle_ms`` is passed as
    ``serve --min-cycle-ms`` (None: the service's default).
    """
    load_before = _load()
    with tempfile.TemporaryDirectory() as folder:
        args: tuple[str, ...] = ("--db", db.replace("{folder}", folder), "--no-virtual-plant")
        if ingest_process:
            args = (*args, "--ingest-process")
        if min_cycle_ms is not None:
            args = (*args, "--min-cycle-ms", f"{min_cycle_ms:g}")
        if racks:
            from twin.scenario.synthetic import synthetic_hall

            scenario = Path(folder) / "hall.yaml"
            scenario.write_text(yaml.safe_dump(synthetic_hall(racks, days=7)))
            args = (str(scenario), *args)
        tokens = f"{TOKEN}=ingest,read"
        with serving(
            *args, "--replan-minutes", "0", state_dir=Path(folder), tokens=tokens, timeout=600
        ) as (base, server):
            headers = {"Authorization": f"Bearer {TOKEN}"}
            catalogue = httpx.get(f"{base}/api/v1/points", headers=headers, timeout=60).json()
            points = [p["point"] for p in catalogue if p["point"].endswith("inlet_temperature")]
            bodies = _bodies(points, batches * clients + 5, size)
            per_body = min(size, max(1, size // len(points)) * len(points))
            _post_all(base, bodies[:5], [], [])  # warm-up
            # processed: the worker has run a cycle, so the model's first prediction (and
            # the UI's warm-up, which holds the twin's lock for it) is done before the clock
            warm_wait = _wait_processed(base, 5 * per_body)
            latencies: list[list[float]] = [[] for _ in range(clients)]
            inserted: list[list[int]] = [[] for _ in range(clients)]
            interval = clients * per_body / rate if rate else 0.0
            first = time.perf_counter() + 0.1
            threads = [
                threading.Thread(
                    target=_post_all,
                    args=(base, bodies[5 + c :: clients], latencies[c], inserted[c]),
                    kwargs={
                        "schedule": (first + c * interval / clients, interval) if rate else None
                    },
                )
                for c in range(clients)
            ]
            stop = threading.Event()
            state_latencies: list[float] = []
            poller = threading.Thread(target=_poll_state, args=(base, stop, state_latencies))
            poller.start()
            began, began_cpu = time.perf_counter(), _cpu_seconds(server.pid)
            began_main = _cpu_seconds(server.pid, children=False)
            began_clients, began_machine = time.process_time(), _machine_busy_seconds()
            began_pg = _postgres_cpu_seconds(db) if db.startswith("postgresql") else None
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - began
            stop.set()
            poller.join()
            clients_cpu = time.process_time() - began_clients
            drain = _wait_processed(base, (batches * clients + 5) * per_body)
            cpu = _cpu_seconds(server.pid) - began_cpu
            main_cpu = _cpu_seconds(server.pid, children=False) - began_main
            machine = _machine_busy_seconds() - began_machine
            ended_pg = _postgres_cpu_seconds(db) if began_pg is not None else None
            pg_cpu = None if began_pg is None or ended_pg is None else ended_pg - began_pg
    every = [s for client in latencies for s in client]
    if len(every) != batches * clients:
        raise RuntimeError(f"{len(every)} of {batches * clients} batches answered")
    stored = max(1, sum(map(sum, inserted)))

    def per_1000(seconds: float | None) -> float | None:
        return None if seconds is None else round(seconds / stored * 1e3, 4)

    others = machine - cpu - clients_cpu - (pg_cpu or 0.0)
    return {
        "figure": "api_ingestion",
        "backend": label,
        "hall": f"synthetic, {racks} racks" if racks else "demo (36 racks)",
        "points_per_batch": min(size, len(points)),
        "clients": clients,
        "ingest_process": ingest_process,
        "min_cycle_ms": "default" if min_cycle_ms is None else min_cycle_ms,
        "batches": batches * clients,
        "batch_size": size,
        "offered_readings_per_s": round(rate) if rate else "closed loop (back to back)",
        "readings_per_s": round(sum(map(sum, inserted)) / wall),
        "server_cpu_s_per_1000": per_1000(cpu),
        "server_main_process_cpu_s_per_1000": per_1000(main_cpu),
        "clients_cpu_s_per_1000": per_1000(clients_cpu),
        "postgres_cpu_s_per_1000": per_1000(pg_cpu),
        "other_processes_cpu_s_per_1000": per_1000(others),
        "machine_busy_cores": round(machine / (wall + drain), 2),
        "worker_backlog_s": round(drain, 2),
        "warm_up_wait_s": round(warm_wait, 2),
        **_percentiles(every),
        "state": {"requests": len(state_latencies), **_percentiles(state_latencies)},
        "machine": MACHINE,
        "load_average_before_after": [load_before, _load()],
        "code": _commit(),
    }


def replan_latency(repeats: int, warm_up: bool = True) -> dict[str, object]:
    """Time ``LiveTwin.replan`` on the demo hall fed by its virtual plant for 10 minutes
    (``repeats`` times, after one untimed re-plan unless ``warm_up`` is false)."""
    from twin.live.live_twin import LiveSettings, LiveTwin
    from twin.store.store import Store

    scenario = ROOT / "scenarios" / "demo-hall.yaml"
    now = [datetime(2026, 7, 8, 12, tzinfo=UTC)]
    with tempfile.TemporaryDirectory() as folder:
        twin = LiveTwin(
            yaml.safe_load(scenario.read_text()),
            scenario.parent,
            Store(f"sqlite:///{folder}/replan.db"),
            LiveSettings(replan_minutes=0),
            virtual_plant=True,
            clock=lambda: now[0],
        )
        for _ in range(20):
            twin.plant_tick()
            twin.drain()
            now[0] += timedelta(seconds=30)
        if warm_up:
            twin.replan()
        seconds = []
        statuses = set()
        for _ in range(repeats):
            began = time.perf_counter()
            record = twin.replan()
            seconds.append(time.perf_counter() - began)
            statuses.add(record["payload"]["summary"]["status"])
        twin.store.close()
    return {
        "figure": "replan_latency",
        "hall": "demo (36 racks, 96 steps)",
        "repeats": repeats,
        "warm_up": warm_up,
        "median_s": round(float(np.median(seconds)), 2),
        "max_s": round(max(seconds), 2),
        "statuses": sorted(statuses),
        "machine": MACHINE,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=200, help="batches per client")
    parser.add_argument("--clients", type=int, default=1, help="concurrent ingest clients")
    parser.add_argument("--no-replan", action="store_true", help="skip the re-plan figure")
    parser.add_argument("--size", type=int, default=1000, help="readings per batch")
    parser.add_argument("--replans", type=int, default=5)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--racks",
        type=int,
        default=0,
        help="serve a synthetic hall of this many racks (1,000: batches of 1,000 distinct "
        "points, one tick each) instead of the demo hall (36 points x 28 ticks per batch)",
    )
    parser.add_argument(
        "--ingest-process",
        action="store_true",
        help="serve with --ingest-process (batches validated and committed in a child)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="offered readings/s over all clients, paced (open loop; latency from each "
        "batch's due time); default: back to back",
    )
    parser.add_argument(
        "--min-cycle-ms",
        type=float,
        default=None,
        help="serve --min-cycle-ms (shortest interval between processing cycles); default: "
        "the service's",
    )
    parser.add_argument(
        "--quick", action="store_true", help="10 batches, 1 re-plan, no warm-up, SQLite"
    )
    args = parser.parse_args()
    if args.rate is not None and not args.rate > 0:
        parser.error("--rate must be > 0 readings/s")
    if args.quick:
        args.batches, args.replans, args.no_postgres = 10, 1, True

    def figure(db: str, label: str) -> str:
        return json.dumps(
            api_ingestion(
                db,
                label,
                args.batches,
                args.size,
                args.racks,
                args.clients,
                args.ingest_process,
                args.rate,
                args.min_cycle_ms,
            )
        )

    print(figure("sqlite:///{folder}/bench.db", "sqlite"))
    if not args.no_postgres:
        try:
            with throwaway_postgres(os.environ.get("DCTWIN_TEST_POSTGRES_URL")) as url:
                print(figure(url, "postgresql"))
        except PostgresUnavailable as exc:
            print(
                json.dumps(
                    {"figure": "api_ingestion", "backend": "postgresql", "skipped": str(exc)}
                )
            )
    if not args.no_replan:
        print(json.dumps(replan_latency(args.replans, warm_up=not args.quick)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
