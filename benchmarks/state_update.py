"""Benchmark: one live state update (and fault screening) for large halls.

    .venv/bin/python benchmarks/state_update.py            # 1,000 and 10,000 racks
    .venv/bin/python benchmarks/state_update.py --quick    # 200 racks (smoke run)

For each hall (``twin.scenario.synthetic.synthetic_hall``, rows of 20): the model's prediction of
every point comes from ``physics.simulate`` (one day at 15 min, four steps used in turn), and each
update gets a batch as the live service would hand it over every 5 s: inlet temperatures of a
third of the racks (positions 1, 4, 7, …), every busbar voltage, every feed power, grid power,
battery SOC when there is a battery, and every job power, with sensor noise.  Timed over 200
updates after 20 warm-up ones:

* ``StateEstimator.update`` (Kalman update of every row, SOC, jobs, power chain, and the
  returned ``EstimatedState``) — the figure the issue bounds at 50 ms for 1,000 racks;
* ``FaultDetector.check`` on the same batch (informative);
* ``EstimatedState.to_dict`` (what the API serializes; informative).

Figures are p50 and p99 in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import UTC, datetime, timedelta

import numpy as np


def run_case(racks: int, updates: int = 200, warmup: int = 20) -> dict[str, object]:
    from physics.schedule import as_operated_schedule
    from physics.simulate import simulate
    from twin.data.series import scenario_series
    from twin.live.faults import FaultDetector
    from twin.live.state_estimator import StateEstimator
    from twin.scenario.compile import compile_facility
    from twin.scenario.loader import scenario_from_dict
    from twin.scenario.points import PointCatalogue, Reading
    from twin.scenario.synthetic import synthetic_hall

    scenario = scenario_from_dict(synthetic_hall(racks, days=1.0, step="15 min"))
    facility = compile_facility(scenario)
    series = scenario_series(scenario)
    result = simulate(facility, as_operated_schedule(facility, series), series)
    catalogue = PointCatalogue(facility)
    predictions = [catalogue.predict(result, k) for k in range(4)]

    ids = facility.racks.ids
    sensed = [f"rack/{ids[r]}/inlet_temperature" for r in range(0, len(ids), 3)]
    points = list(sensed)
    points += [f"busbar/{b}/voltage" for b in facility.busbars.ids]
    points += [f"feed/{f}/power" for f in facility.feeds.ids]
    points += ["grid/power"] + (["battery/soc"] if facility.battery is not None else [])
    points += [f"job/{j}/power" for j in facility.workloads.ids]
    points = [p for p in points if p in catalogue]
    rng = np.random.default_rng(0)
    noise = {p: (0.2 if p.endswith("temperature") else 0.0) for p in points}

    estimator = StateEstimator(facility)
    detector = FaultDetector(catalogue, facility=facility)
    start = datetime(2026, 7, 6, tzinfo=UTC)
    update_ms, check_ms, dict_ms = [], [], []
    for n in range(warmup + updates):
        now = start + timedelta(seconds=5 * n)
        predicted = predictions[(n // 180) % 4]  # a new model step every 15 min
        values = rng.normal(0.0, 1.0, len(points))
        batch = [
            Reading(p, now, predicted.get(p, 0.0) + 0.5 + noise[p] * v)
            for p, v in zip(points, values, strict=True)
        ]
        t0 = time.perf_counter()
        kept, _ = detector.check(now, batch, predicted)
        t1 = time.perf_counter()
        state = estimator.update(now, kept, predicted)
        t2 = time.perf_counter()
        state.to_dict()
        t3 = time.perf_counter()
        if n >= warmup:
            check_ms.append((t1 - t0) * 1e3)
            update_ms.append((t2 - t1) * 1e3)
            dict_ms.append((t3 - t2) * 1e3)

    def stats(values: list[float]) -> dict[str, float]:
        return {
            "p50_ms": round(float(np.percentile(values, 50)), 2),
            "p99_ms": round(float(np.percentile(values, 99)), 2),
        }

    return {
        "racks": facility.racks.count,
        "rows": len(set(facility.racks.row)),
        "inlet_sensors": len(sensed),
        "readings_per_update": len(points),
        "points": len(catalogue.ids),
        "estimator_update": stats(update_ms),
        "fault_check": stats(check_ms),
        "state_to_dict": stats(dict_ms),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 racks only")
    args = parser.parse_args()
    sizes = [200] if args.quick else [1000, 10000]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, numpy {np.__version__}"
    )
    for racks in sizes:
        print(json.dumps(run_case(racks)))


if __name__ == "__main__":
    main()
