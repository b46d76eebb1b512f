"""Benchmark: shadow prices' share of the plan's time, and the prices themselves.

    .venv/bin/python benchmarks/shadow_prices.py            # demo week and 100-rack week
    .venv/bin/python benchmarks/shadow_prices.py --quick    # demo hall, one day (smoke run)

Each case plans with ``PlanOptions(shadow_prices=True)`` in its own process and prints the
plan's wall time, ``shadow_prices_s`` (from the plan's own timings) and its share of the
plan, and the prices (positive = saving).  The issue's target is a share ≤ 30 %.  Cases: the
demo hall (``scenarios/demo-hall.yaml``) over its scenario period (a week) or one day, and
the synthetic 100-rack hall of ``plan_scaling.py`` over 7 days at 15 min.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _inputs(case: str) -> tuple[Any, Any]:
    from twin.data.series import scenario_series
    from twin.scenario.compile import compile_facility
    from twin.scenario.loader import load_scenario, scenario_from_dict

    if case.startswith("demo"):
        scenario = load_scenario(ROOT / "scenarios" / "demo-hall.yaml")
    else:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from plan_scaling import scenario_dict  # type: ignore[import-not-found]

        scenario = scenario_from_dict(scenario_dict(100, days=7.0))
    series = scenario_series(scenario, ROOT / "scenarios")
    if case == "demo-day":
        series = series.isel(time=slice(0, 96))
    return compile_facility(scenario), series


def run_case(case: str) -> dict[str, Any]:
    from optimizer.plan import PlanOptions, plan

    facility, series = _inputs(case)
    started = time.perf_counter()
    result = plan(facility, series, PlanOptions(shadow_prices=True))
    wall = time.perf_counter() - started
    shadow = result.timings.get("shadow_prices_s", 0.0)
    return {
        "case": case,
        "steps": series.sizes["time"],
        "verified": result.verified,
        "plan_wall_s": round(wall, 2),
        "shadow_prices_s": round(shadow, 3),
        "share": round(shadow / wall, 4),
        "prices": result.shadow_prices,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case)))
        return
    machine = platform.processor() or platform.machine()
    print(f"# machine: {machine}, {os.cpu_count()} cores, python {platform.python_version()}")
    for case in ["demo-day"] if args.quick else ["demo-week", "synthetic-100-week"]:
        out = subprocess.run(
            [sys.executable, __file__, "--case", case], check=True, capture_output=True, text=True
        )
        print(out.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
