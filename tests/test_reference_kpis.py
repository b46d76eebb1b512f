"""Pinned KPIs of the demo hall, so that a silent drift of the physics or the planner fails.

The week of ``scenarios/demo-hall.yaml`` is simulated as operated (what ``dctwin simulate``
does) and co-planned with the default options of ``dctwin plan`` (shadow prices left out: they
are priced after the plan and do not change it); PUE, cooling energy [kWh] and hottest inlet
[°C] as operated, and the plan's verified cost [currency], are compared with
``tests/reference/demo_hall_kpis.json``.

Tolerances
    * PUE and cooling energy: 0.1 % relative.  The simulation is deterministic (a recorded
      week of series, no solver, no randomness): reruns agree to ~1e-12, so 0.1 % leaves room
      only for harmless floating-point reordering and flags any change of the model above it.
    * Hottest inlet: 0.05 K (an absolute tolerance, as the Celsius zero is arbitrary), the
      same order as 0.1 % of the inlet-over-supply rise, well below any sensor's resolution.
    * Plan cost: the planner's MIP gap, ``PlanOptions().mip_gap`` (0.5 %).  Any answer HiGHS
      returns is within that gap of the optimum, so two correct runs (another HiGHS version,
      another incumbent) may differ by up to it; a 3 % drift fails.

An intended change: rerun with ``DCTWIN_UPDATE_REFERENCE=1`` (rewrites the JSON file) and
review the diff in git.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from optimizer.plan import PlanOptions
from optimizer.plan import plan as make_plan
from physics.schedule import as_operated_schedule
from physics.simulate import simulate, summarize
from tests.helpers import DEMO_HALL, ROOT
from twin.data.series import scenario_series
from twin.scenario.compile import compile_facility
from twin.scenario.loader import load_scenario

REFERENCE = Path(__file__).resolve().parent / "reference" / "demo_hall_kpis.json"
UPDATE = "DCTWIN_UPDATE_REFERENCE"

RELATIVE = 1e-3
"""Relative tolerance of the as-operated PUE and cooling energy [-]."""
INLET_TOLERANCE = 0.05
"""Absolute tolerance of the hottest inlet [K]."""


def demo_hall_kpis() -> dict[str, Any]:
    """The KPIs of the demo hall's week: as operated, and as co-planned."""
    spec = load_scenario(DEMO_HALL)
    series = scenario_series(spec, DEMO_HALL.parent)
    facility = compile_facility(spec)
    summary = summarize(simulate(facility, as_operated_schedule(facility, series), series))
    planned = make_plan(facility, series, PlanOptions(shadow_prices=False))
    return {
        "about": (
            "KPIs of scenarios/demo-hall.yaml over its week: simulated as operated, and "
            "co-planned with the default PlanOptions; see tests/test_reference_kpis.py "
            f"({UPDATE}=1 rewrites this file)"
        ),
        "as_operated": {
            "pue": round(summary["pue"], 6),
            "cooling_energy_kwh": round(summary["cooling_energy_kwh"], 3),
            "max_inlet_temperature_c": round(summary["max_inlet_temperature_c"], 4),
        },
        "plan": {
            "status": planned.status,
            "verified": planned.verified,
            "cost": round(planned.figures["cost"], 3),
        },
    }


@pytest.mark.slow
def test_demo_hall_kpis_match_the_reference() -> None:
    got = demo_hall_kpis()
    if os.environ.get(UPDATE) == "1":
        REFERENCE.parent.mkdir(parents=True, exist_ok=True)
        REFERENCE.write_text(json.dumps(got, indent=2) + "\n", encoding="utf-8")
    assert REFERENCE.exists(), f"{REFERENCE} missing: run with {UPDATE}=1 to create it"
    stored = json.loads(REFERENCE.read_text(encoding="utf-8"))
    where = f"(against {REFERENCE.relative_to(ROOT)}; {UPDATE}=1 rewrites it if intended)"
    old, new = stored["as_operated"], got["as_operated"]
    assert new["pue"] == pytest.approx(old["pue"], rel=RELATIVE), where
    assert new["cooling_energy_kwh"] == pytest.approx(old["cooling_energy_kwh"], rel=RELATIVE), (
        where
    )
    assert new["max_inlet_temperature_c"] == pytest.approx(
        old["max_inlet_temperature_c"], abs=INLET_TOLERANCE
    ), where
    old, new = stored["plan"], got["plan"]
    assert (new["status"], new["verified"]) == (old["status"], old["verified"]), where
    assert new["cost"] == pytest.approx(old["cost"], rel=PlanOptions().mip_gap), where
