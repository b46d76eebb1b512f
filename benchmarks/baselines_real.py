"""Benchmark: how much of the plan's edge remains against a strong rule-based baseline.

    .venv/bin/python benchmarks/baselines_real.py                 # ERCOT, CAISO, PJM
    .venv/bin/python benchmarks/baselines_real.py --zones US-TEX-ERCO --json out.json

Cases: the demo hall (``scenarios/demo-hall.yaml``: equipment, workloads, battery, tariff and
its 2 h demand-response event, 2,200 kW cap on Tuesday 7 July 22:00-24:00 UTC) over its
week from Monday 6 July 2026, with the demo series replaced by a real 2023 week replayed
from Monday 10 July 2023 (``{zone: <ZONE>, replay_from: 2023-07-10T00:00:00Z}``: hourly
price, carbon intensity and weather of the zone in ``../shared/data/grid``) and a constant
60 % inference load (as ``tests/optimizer/test_real_data.py``).

Compared, all simulated by the physics and costed by :func:`optimizer.plan.verified_figures`
(energy + demand charge on the peak + carbon price + battery wear + lateness and unserved
penalties): *as operated*, the *old* rule-based baseline (``optimizer/baselines.py`` at
revision ``--old-rev``, imported from a temporary copy), the *new* rule-based baseline
(:func:`optimizer.baselines.rule_based`) and the current plan (:func:`optimizer.plan.plan`,
default options, shadow prices off).  ``edge`` is the plan's cost saving against each.

Measured on the 2-core development machine (i12-baselines, before the planner rewrite of
issue 12); costs in USD over the week, peak in kW, carbon in t, cooling in MWh:

    zone         case          cost   energy  demand  carbon  wear  late   peak  CO2 t  cool
    US-TEX-ERCO  as_operated  33417   16338   11242    5837     0     0   3212  116.7  63.3
    US-TEX-ERCO  old_rule     32682   15572   11228    5786    96     0   3208  115.7  63.0
    US-TEX-ERCO  new_rule     29283   15376    7927    5794   186     0   2265  115.9  63.0
    US-TEX-ERCO  plan         29018   14631    8344    5785   258     0   2384  115.7  62.5

(the table is refreshed by hand from the script's output; see the final report of issue 12
for all three zones.)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ZONES = ("US-TEX-ERCO", "US-CAL-CISO", "US-MIDA-PJM")
REPLAY_FROM = "2023-07-10T00:00:00Z"
OLD_REVISION = "23a7446"
"""The last revision with the single-module rule-based baseline (before issue 12)."""

COLUMNS = (
    ("cost", "cost", 1.0, "{:>7.0f}"),
    ("energy", "energy_cost", 1.0, "{:>7.0f}"),
    ("demand", "demand_charge", 1.0, "{:>7.0f}"),
    ("carbon", "carbon_cost", 1.0, "{:>7.0f}"),
    ("wear", "battery_wear_cost", 1.0, "{:>5.0f}"),
    ("late", "lateness_cost", 1.0, "{:>5.0f}"),
    ("peak", "peak_grid_kw", 1.0, "{:>6.0f}"),
    ("CO2 t", "carbon_kg", 1e-3, "{:>6.1f}"),
    ("cool", "cooling_energy_kwh", 1e-3, "{:>5.1f}"),
)


def real_case(zone: str, data_dir: Path) -> tuple[Any, Any]:
    """(facility, series) of the demo hall over a replayed July 2023 week of ``zone``."""
    import yaml

    from twin.data.series import scenario_series
    from twin.scenario.compile import compile_facility
    from twin.scenario.schema import scenario_from_dict

    data = yaml.safe_load((ROOT / "scenarios" / "demo-hall.yaml").read_text())
    data["series"] = [
        {"zone": zone, "replay_from": REPLAY_FROM, "data_dir": str(data_dir)},
        {"variable": "cpu_load", "constant": 0.6},
    ]
    scenario = scenario_from_dict(data)
    return compile_facility(scenario), scenario_series(scenario, ROOT / "scenarios")


def old_baselines(revision: str, folder: Path) -> ModuleType:
    """``optimizer/baselines.py`` at ``revision``, imported from a copy in ``folder``."""
    text = subprocess.run(
        ["git", "show", f"{revision}:optimizer/baselines.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = folder / "old_baselines.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("old_baselines", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_baselines"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def measure(zone: str, data_dir: Path, old: ModuleType) -> dict[str, Any]:
    """Figures of the four cases of one zone, plus timings and notes."""
    from optimizer.baselines import as_operated, rule_based
    from optimizer.plan import PlanOptions, plan, verified_figures
    from physics.simulate import simulate
    from physics.violations import find_violations

    facility, series = real_case(zone, data_dir)
    out: dict[str, Any] = {"zone": zone, "cases": {}, "timings": {}, "violations": {}}
    started = time.perf_counter()
    new = rule_based(facility, series)
    out["timings"]["new_rule_s"] = time.perf_counter() - started
    out["notes"] = new.notes
    started = time.perf_counter()
    result = plan(facility, series, PlanOptions(shadow_prices=False))
    out["timings"]["plan_s"] = time.perf_counter() - started
    out["plan_status"] = f"{result.status}, verified={result.verified}"
    schedules = {
        "as_operated": as_operated(facility, series),
        "old_rule": old.rule_based(facility, series).schedule,
        "new_rule": new.schedule,
    }
    for name, schedule in schedules.items():
        ds = simulate(facility, schedule, series)
        out["cases"][name] = verified_figures(facility, schedule, ds)
        out["violations"][name] = [v.message for v in find_violations(facility, ds)]
    out["cases"]["plan"] = result.figures
    out["violations"]["plan"] = [v.message for v in result.violations]
    # the plan's own baseline figures must be ours (same definition, same rule_based)
    reported = result.baselines["rule_based"]["cost"]
    out["check_rule_based_cost"] = reported - out["cases"]["new_rule"]["cost"]
    plan_cost = result.figures["cost"]
    out["edge"] = {
        name: (figures["cost"] - plan_cost) / figures["cost"]
        for name, figures in out["cases"].items()
        if name != "plan"
    }
    return out


def table(results: list[dict[str, Any]]) -> str:
    """The measured figures as a text table."""
    header = f"{'zone':<12} {'case':<12}" + "".join(
        f" {title:>{len(fmt.format(0))}}" for title, _, _, fmt in COLUMNS
    )
    lines = [header]
    for result in results:
        for name, figures in result["cases"].items():
            cells = "".join(
                " " + fmt.format(figures[key] * scale) for _, key, scale, fmt in COLUMNS
            )
            lines.append(f"{result['zone']:<12} {name:<12}{cells}")
    lines.append("")
    lines.append("plan's cost edge (saving of the plan against each baseline):")
    for result in results:
        edges = ", ".join(f"vs {name} {value:+.1%}" for name, value in result["edge"].items())
        lines.append(f"  {result['zone']:<12} {edges}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--zones", nargs="+", default=list(ZONES))
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--old-rev", default=OLD_REVISION)
    parser.add_argument("--json", type=Path, help="write all figures, notes and timings here")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        old = old_baselines(args.old_rev, Path(folder))
        for zone in args.zones:
            results.append(measure(zone, args.data_dir.resolve(), old))
    print(table(results))
    for result in results:
        timings = ", ".join(f"{k} {v:.1f}" for k, v in result["timings"].items())
        broken = {k: len(v) for k, v in result["violations"].items() if v}
        print(f"\n{result['zone']}: plan {result['plan_status']}; {timings}; violations {broken}")
        print(f"  plan's rule_based cost - ours: {result['check_rule_based_cost']:.6f}")
        for note in result["notes"]:
            print(f"  new rule: {note}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
