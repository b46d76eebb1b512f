"""Benchmark: cost against carbon of the fleet co-plan as the carbon price rises.

    .venv/bin/python benchmarks/fleet_pareto.py                  # fleet-real.yaml, 7 days
    .venv/bin/python benchmarks/fleet_pareto.py --prices 0 50 100 200 400
    .venv/bin/python benchmarks/fleet_pareto.py --quick          # 1 day hourly, 2 prices (< 1 min)

``scenarios/fleet-real.yaml`` (3 core halls, 4 edge pods, the real 2023 July week of each
zone; needs ``../shared/data``, else ``scenarios/fleet.yaml``) is planned once per carbon
price [USD/t CO2e] given to every site (``dctwin plan FLEET --carbon-price P``).  For each
price the plan returned and both baselines (``as_operated``, ``sites_alone``) are tabulated:

* money [USD]: the plan's cost without its carbon term (energy, demand charges, DR, battery
  wear, network transfers), so that prices compare;
* carbon [kg CO2e] (grid and transfers);
* savings of the plan returned vs ``sites_alone`` (the value of moving work in space) in
  money, carbon and the objective at that price;
* fleet jobs moved (jobs with energy away from home) and the kWh moved, GB transferred;
* ``verified``, ``equal_work``, every deadline met (``contracts_met``), latency violations.

``--quick``: the same file over its first day at a 1 h step, the jobs scaled to fit the day
(a smoke test of the script, not a result).  Printed: one JSON line per price, then a
Markdown table.  Times (wall and CPU of each plan [s]) and the load average are printed with
each line; no timing is asserted anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data"
PRICES = (0.0, 50.0, 100.0, 200.0, 400.0)
"""Default carbon prices [USD/t CO2e]."""


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def quick_fleet(path: Path, folder: Path) -> Path:
    """``path`` over its first day at a 1 h step, jobs scaled into the day; written to
    ``folder / "fleet.yaml"`` (scenario and data paths made absolute)."""
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    data["simulation"].update(duration="1 d", step="1 h")
    for site in data["sites"]:
        site["scenario"] = str((path.parent / site["scenario"]).resolve())
        for source in site.get("series") or []:
            if "data_dir" in source:
                source["data_dir"] = str((path.parent / source["data_dir"]).resolve())
    for job in data["jobs"]:
        scale = 4000.0 / 25000.0
        energy = float(str(job["energy"]).split()[0]) * scale
        job.update(energy=f"{energy:g} kWh", release="1 h", deadline="20 h")
    out = folder / "fleet.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def _money(figures: dict[str, Any]) -> float:
    """Cost without the carbon term [currency]."""
    return float(figures["cost"]) - float(figures["carbon_cost"])


def _moved(jobs: dict[str, Any]) -> tuple[int, float]:
    """Fleet jobs with energy away from home [count] and that energy [kWh]."""
    count, kwh = 0, 0.0
    for job in jobs.values():
        away = sum(v for site, v in job["by_site_kwh"].items() if site != job["home"])
        if away > 1e-3:
            count += 1
            kwh += away
    return count, kwh


def plan_at(path: Path, price: float, time_limit: float) -> dict[str, Any]:
    """Plan the fleet at carbon price ``price`` [USD/t]; the row of the table."""
    from optimizer.fleet.plan import plan_fleet
    from optimizer.planner import PlanOptions
    from twin.fleet.build import build_fleet

    load = os.getloadavg()
    wall, cpu = time.perf_counter(), _cpu_s()
    ready = build_fleet(path, carbon_price=price)
    result = plan_fleet(
        ready.problem, PlanOptions(time_limit=time_limit), baseline_routing=ready.baseline_routing
    )
    data = result.to_json()
    wall, cpu = time.perf_counter() - wall, _cpu_s() - cpu
    base = data["baselines"]
    alone, operated = base["sites_alone"], base["as_operated"]
    jobs_moved, kwh_moved = _moved(data["jobs"])

    def saving(plan: float, ref: float) -> float:
        return round(100.0 * (ref - plan) / ref, 3) if ref else 0.0

    return {
        "carbon_price": price,
        "status": data["status"],
        "plan_source": data["plan_source"],
        "verified": data["verified"],
        "sites_alone_verified": alone["verified"],
        "contracts_met": data["contracts_met"],
        "latency_violations": len(data["latency_violations"]),
        "equal_work": (data.get("equal_work") or {}).get("equal"),
        "money": {
            "plan": round(_money(data), 1),
            "sites_alone": round(_money(alone), 1),
            "as_operated": round(_money(operated), 1),
        },
        "carbon_kg": {
            "plan": round(float(data["carbon_kg"]), 1),
            "sites_alone": round(float(alone["carbon_kg"]), 1),
            "as_operated": round(float(operated["carbon_kg"]), 1),
        },
        "vs_sites_alone_pct": {
            "money": saving(_money(data), _money(alone)),
            "carbon": saving(float(data["carbon_kg"]), float(alone["carbon_kg"])),
            "objective": saving(float(data["cost"]), float(alone["cost"])),
        },
        "jobs_moved": jobs_moved,
        "kwh_moved": round(kwh_moved, 1),
        "transfer_gb": round(float(data["transfer_gb"]), 1),
        "notes": [n for n in data.get("notes") or [] if not n.startswith("link ")],
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "load_before": [round(v, 2) for v in load],
        "load_after": [round(v, 2) for v in os.getloadavg()],
    }


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table (money in USD, carbon in t CO2e)."""
    head = (
        "| carbon price [USD/t] | plan returned | money: as operated / sites alone / plan "
        "[USD] | carbon: as operated / sites alone / plan [t] | vs sites alone: money, carbon "
        "| jobs moved (kWh) | GB moved | verified, equal work, deadlines, latency |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        m, c, s = r["money"], r["carbon_kg"], r["vs_sites_alone_pct"]
        checks = (
            f"{'yes' if r['verified'] else 'NO'}, {'yes' if r['equal_work'] else 'NO'}, "
            f"{'met' if r['contracts_met'] else 'NOT met'}, {r['latency_violations']} violations"
        )
        lines.append(
            f"| {r['carbon_price']:g} | {r['plan_source']} ({r['status']}) | "
            f"{m['as_operated']:,.0f} / {m['sites_alone']:,.0f} / {m['plan']:,.0f} | "
            f"{c['as_operated'] / 1e3:,.1f} / {c['sites_alone'] / 1e3:,.1f} / "
            f"{c['plan'] / 1e3:,.1f} | {0.0 - s['money']:+.2f} %, {0.0 - s['carbon']:+.2f} % | "
            f"{r['jobs_moved']} ({r['kwh_moved']:,.0f}) | {r['transfer_gb']:,.0f} | {checks} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 day hourly, 2 prices")
    parser.add_argument("--prices", type=float, nargs="+", help="carbon prices [USD/t]")
    parser.add_argument("--time-limit", type=float, default=60.0, help="per solve [s]")
    parser.add_argument("--fleet", type=Path, help="fleet file (default: fleet-real.yaml)")
    args = parser.parse_args()
    path = args.fleet or ROOT / "scenarios" / ("fleet-real.yaml" if DATA.is_dir() else "fleet.yaml")
    prices = args.prices or ((0.0, 200.0) if args.quick else PRICES)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        planned = quick_fleet(path, Path(folder)) if args.quick else path
        for price in prices:
            row = plan_at(planned, price, args.time_limit)
            rows.append(row)
            print(json.dumps({"file": path.name, "quick": args.quick, **row}), flush=True)
    print(table(rows))


if __name__ == "__main__":
    main()
