"""Benchmark: sweep throughput (scenarios per minute) with 1 and 2 workers, and scaling.

    .venv/bin/python benchmarks/sweep_throughput.py            # 16 points per run
    .venv/bin/python benchmarks/sweep_throughput.py --quick    # 2 points per run, hourly (smoke)
    .venv/bin/python benchmarks/sweep_throughput.py --dask     # also a 2-worker LocalCluster

Each point is the demo hall (``scenarios/sweeps/demo.yaml``'s base, window and overrides)
planned over 24 h at 15 min (96 steps) with verification, as ``dctwin sweep`` runs it; the
points differ by carbon price and supply-air limit.  Every run writes a fresh Zarr store.
Reported per run (one JSON line each): ``points``, ``wall_s`` (whole run: pool start-up,
store, all points), ``points_per_minute`` on that wall time, ``steady_points_per_minute``
(between the first and the last finished point, i.e. without the workers' start-up), the
mean time of one point inside a worker (``point_s``); then ``scaling_efficiency`` =
rate(2 workers) / (2 × rate(1 worker)) for both rates.  On a machine with fewer free cores
than workers the efficiency drops accordingly: say how busy the machine was.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def make_sweep(points: int, step: str | None = None) -> Any:
    """The demo sweep file's window and overrides with ``points`` points (carbon × limit),
    at the file's step (15 min) or ``step``."""
    import yaml

    from twin.studies.sweep.runner import sweep_from_dict

    path = ROOT / "scenarios" / "sweeps" / "demo.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    limits = [22.0, 27.0] if points > 1 else [27.0]
    prices = [float(p) for p in range(0, 10 * (points // len(limits)), 10)]
    data["grid"] = {
        "grid.carbon_price": prices,
        "cooling.units[*].supply_temperature_max": limits,
    }
    data.pop("random", None)
    if step is not None:
        data["step"] = step
    sweep = sweep_from_dict(data, path.parent, str(path))
    assert sweep.size == len(prices) * len(limits)
    return sweep


def run(sweep: Any, workers: int | None, scheduler: str | None, label: str) -> dict[str, Any]:
    """One sweep into a fresh store; timings."""
    from twin.studies.sweep.runner import open_results, run_sweep

    finished: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "results.zarr"
        started = time.perf_counter()
        outcome = run_sweep(
            sweep,
            out,
            workers=workers,
            scheduler=scheduler,
            chunk_size=4,
            progress=lambda record, n, total: finished.append(time.perf_counter()),
        )
        wall = time.perf_counter() - started
        ds = open_results(out)
        point_s = float(ds["elapsed_seconds"].mean())
        statuses = sorted(set(ds["status"].values.tolist()))
    steady = (len(finished) - 1) / (finished[-1] - finished[0]) * 60 if len(finished) > 1 else None
    return {
        "case": label,
        "points": outcome.computed,
        "failed": outcome.failed,
        "statuses": statuses,
        "wall_s": round(wall, 2),
        "points_per_minute": round(outcome.computed / wall * 60, 2),
        "steady_points_per_minute": None if steady is None else round(steady, 2),
        "point_s": round(point_s, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 points per run, 1 h steps")
    parser.add_argument("--points", type=int, default=None, help="points per run (even)")
    parser.add_argument("--dask", action="store_true", help="also a 2-worker LocalCluster")
    args = parser.parse_args()
    points = args.points or (2 if args.quick else 16)
    sweep = make_sweep(points, "1 h" if args.quick else None)
    print(
        json.dumps(
            {
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "load_average_1min": round(os.getloadavg()[0], 2),
                "points": sweep.size,
                "horizon_h": sweep.spec.horizon.total_seconds() / 3600,
                "step_min": sweep.spec.step.total_seconds() / 60,
            }
        ),
        flush=True,
    )
    results = {}
    for workers in (1, 2):
        results[workers] = run(sweep, workers, None, f"local pool, {workers} worker(s)")
        print(json.dumps(results[workers]), flush=True)
    one, two = results[1], results[2]
    scaling: dict[str, Any] = {
        "case": "scaling 1 → 2 workers",
        "scaling_efficiency": round(one["wall_s"] / two["wall_s"] / 2, 3),
    }
    if one["steady_points_per_minute"] and two["steady_points_per_minute"]:
        scaling["steady_scaling_efficiency"] = round(
            two["steady_points_per_minute"] / one["steady_points_per_minute"] / 2, 3
        )
    scaling["load_average_1min"] = round(os.getloadavg()[0], 2)
    print(json.dumps(scaling), flush=True)
    if args.dask:
        from dask.distributed import LocalCluster

        with LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster:
            print(json.dumps(run(sweep, None, cluster.scheduler_address, "dask, 2 workers")))


if __name__ == "__main__":
    main()
