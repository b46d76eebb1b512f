"""Benchmark of the live twin's processing cycle (screening, estimation, calibration, alarms).

Run by hand; prints one JSON line::

    .venv/bin/python benchmarks/processing_cycle.py            # 40 batches per figure
    .venv/bin/python benchmarks/processing_cycle.py --quick    # 8 batches
    .venv/bin/python benchmarks/processing_cycle.py --root /path/to/another/checkout

In process, no HTTP: the demo hall's live twin on a SQLite file, fed 1,000-reading batches of
the shape ``benchmarks/ingest.py`` posts (the 36 rack inlets × 28 one-second ticks), each
ingested (validated, committed) and then processed by
:func:`twin.live.control.cycle.run_cycle` through :meth:`LiveTwin.drain`.  Reported: the
median processing time per batch [ms] (wall clock, and CPU time of the process, which a busy
machine disturbs less) with one batch per cycle, and with ``--group`` batches
queued before each cycle (the worker under load).  ``--root`` imports the twin from another
checkout, to compare two versions in one sitting (the figure reports which).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
MACHINE = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def per_batch_ms(root: Path, batches: int, group: int) -> dict[str, float]:
    """Median processing time of one batch [ms] with ``group`` batches per cycle: wall clock
    and this process's CPU time (steadier on a shared machine)."""
    from twin.live.live_twin import LiveSettings, LiveTwin
    from twin.store.store import Store

    scenario = root / "scenarios" / "demo-hall.yaml"
    now = [datetime(2026, 7, 8, 12, tzinfo=UTC)]
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        twin = LiveTwin(
            yaml.safe_load(scenario.read_text()),
            scenario.parent,
            Store(f"sqlite:///{folder}/cycle.db"),
            LiveSettings(replan_minutes=0),
            clock=lambda: now[0],
        )
        points = [p for p in twin.catalogue.ids if p.endswith("inlet_temperature")]

        def batch() -> list[dict[str, Any]]:
            items = [
                {
                    "time": (now[0] + timedelta(seconds=t)).isoformat(),
                    "point": p,
                    "value": float(24.0 + rng.normal(0.0, 0.3)),
                }
                for t in range(28)
                for p in points
            ][:1000]
            now[0] += timedelta(seconds=28)
            return items

        for _ in range(8):  # warm-up past the fault detector's window
            twin.ingest(batch())
            twin.drain()
        wall, cpu = [], []
        for _ in range(max(1, batches // group)):
            for _ in range(group):
                twin.ingest(batch())
            began, began_cpu = time.perf_counter(), time.process_time()
            twin.drain()
            cpu.append((time.process_time() - began_cpu) / group)
            wall.append((time.perf_counter() - began) / group)
        twin.store.close()
    return {
        "wall_ms": round(float(np.median(wall)) * 1e3, 1),
        "cpu_ms": round(float(np.median(cpu)) * 1e3, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=40, help="batches per figure")
    parser.add_argument("--group", type=int, default=4, help="batches queued per cycle")
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout to import")
    parser.add_argument("--quick", action="store_true", help="8 batches")
    args = parser.parse_args()
    if args.quick:
        args.batches = 8
    root = args.root.resolve()
    sys.path.insert(0, str(root))
    figure = {
        "figure": "processing_cycle",
        "root": str(root),
        "hall": "demo (36 racks), batches of 36 inlets x 28 ticks",
        "batches": args.batches,
        "one_batch_per_cycle": per_batch_ms(root, args.batches, 1),
        f"{args.group}_batches_per_cycle": per_batch_ms(root, args.batches, args.group),
        "machine": MACHINE,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(figure), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
