"""The plan on real 2023 grid data: the demo hall over an ERCOT and a CAISO summer week.

The demo hall (``scenarios/demo-hall.yaml``) keeps its equipment, workloads, battery and
tariff; only the window and the series change:

* window: the week of Monday 17 July 2023, local midnight to midnight, 15-min steps (the
  hottest ERCOT week of July 2023 in the data: up to 40 °C in Dallas, prices up to
  375 USD/MWh on Thursday evening);
* series: the zone's hourly price, carbon intensity and weather
  (``../shared/data/grid/<ZONE>``), and a constant inference load of 60 %;
* the demand-response event (2 h, 2,200 kW import cap) moved to a weekday evening of that
  week: ERCOT Thursday 20 July 18:00–20:00 CDT (the week's highest prices), CAISO Wednesday
  19 July 17:00–19:00 PDT (the usual Flex Alert hours);
* tier-3 jobs as in the demo hall: pre-training released at the start, due after 6 days;
  fine-tuning released after 1 day, due after 4 days.

``plan`` runs with default options (shadow prices off).  Asserted: a verified plan with no
violation whose verified cost is below the as-operated one and not above the rule-based one
(on CAISO the co-plan verifies dearer, by less than the model's cost error, and the
rule-based schedule is returned in its place: ``plan_source``).  The figures are recorded in the
test's output (``-s``) and in the README.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from optimizer.plan import Plan, PlanOptions, plan
from twin.data.series import scenario_series
from twin.scenario.compile import compile_facility
from twin.scenario.loader import scenario_from_dict

ROOT = Path(__file__).resolve().parents[2]

MODEL_COST_ERROR = 0.005
"""Relative error of the model's cost against the verified one on these weeks [-]
(docs/optimizer.md: 0.3 % on the demo week), rounded up."""

WEEKS = {
    "ercot": {
        "zone": "US-TEX-ERCO",
        "timezone": "America/Chicago",
        "start": "2023-07-17T05:00:00Z",  # Monday 00:00 CDT
        "event": ("2023-07-20T23:00:00Z", "2023-07-21T01:00:00Z"),  # Thu 18–20 CDT
    },
    "caiso": {
        "zone": "US-CAL-CISO",
        "timezone": "America/Los_Angeles",
        "start": "2023-07-17T07:00:00Z",  # Monday 00:00 PDT
        "event": ("2023-07-20T00:00:00Z", "2023-07-20T02:00:00Z"),  # Wed 17–19 PDT
    },
}


def real_week(name: str, data_dir: Path, week: dict[str, Any] | None = None) -> dict[str, Any]:
    """The demo hall over one real 2023 week: ``week`` (zone, timezone, start, event), by
    default ``WEEKS[name]``."""
    week = week if week is not None else WEEKS[name]
    data = yaml.safe_load((ROOT / "scenarios" / "demo-hall.yaml").read_text())
    data["site"]["timezone"] = week["timezone"]
    data["simulation"] = {"start": week["start"], "duration": "7 d", "step": "15 min"}
    data["series"] = [
        {"zone": week["zone"], "year": 2023, "data_dir": str(data_dir)},
        {"variable": "cpu_load", "constant": 0.6},
    ]
    start, end = week["event"]
    event = data["grid"]["demand_response"][0]
    data["grid"]["demand_response"] = [{**event, "start": start, "end": end}]
    return data


def _report(name: str, result: Plan) -> dict[str, Any]:
    keys = ("cost", "carbon_kg", "peak_grid_kw", "cooling_energy_kwh")
    figures = {
        "plan": {k: round(result.figures[k], 1) for k in keys},
        **{b: {k: round(v[k], 1) for k in keys} for b, v in result.baselines.items()},
        "savings_vs_as_operated": {
            k: None if v is None else round(v, 4) for k, v in result.savings("as_operated").items()
        },
        "savings_vs_rule_based": {
            k: None if v is None else round(v, 4) for k, v in result.savings("rule_based").items()
        },
        "plan_source": result.source,
        "plan_choice_cost": result.choice.get("cost"),
        "rounds": result.rounds,
        "timings": {k: round(v, 2) for k, v in result.timings.items()},
        "baseline_violations": {k: len(v) for k, v in result.baseline_violations.items()},
        "notes": result.notes,
    }
    # shown with -s: these are the figures the README quotes
    print(f"\n{name}: {json.dumps(figures)}")  # noqa: T201
    return figures


@pytest.mark.requires_shared_data
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(WEEKS))
def test_plan_on_a_real_summer_week(name: str, shared_data: Path) -> None:
    scenario = scenario_from_dict(real_week(name, shared_data))
    facility = compile_facility(scenario)
    series = scenario_series(scenario, ROOT / "scenarios")
    assert series.sizes["time"] == 7 * 96
    result = plan(facility, series, PlanOptions(shadow_prices=False))
    figures = _report(name, result)

    assert result.status == "optimal", result.explanation
    assert result.verified
    assert result.violations == []
    assert result.figures["cost"] < result.baselines["as_operated"]["cost"], figures
    # Against the rule-based operator: never dearer.  Since the chilled water is kept within
    # the chiller curves' fitted range (finding 10a, 7 Dec), the co-plan's cooling saving over
    # the rule (warm chilled water on clamped curves) is gone; what is left is work and
    # battery timing, which the rule gets mostly right.  On 17 July 2023 CAISO the co-plan
    # verified 0.25 % *dearer* (57,104 against 56,959 USD: 12 kW more peak than the model
    # predicted), within the model's cost error, so the rule-based schedule is returned in
    # its place (optimizer.result); ERCOT's co-plan is 0.5 % cheaper and stands.
    rule = result.baselines["rule_based"]["cost"]
    co_plan = result.choice["cost"]["co_plan"]
    assert result.figures["cost"] <= rule, figures
    assert co_plan <= rule * (1 + MODEL_COST_ERROR), result.choice
    assert result.source == ("rule_based" if co_plan > rule else "co_plan"), result.choice
    if name == "caiso":  # the week that shows it (the co-plan verified dearer, 7 Dec 2026)
        assert result.source == "rule_based", result.choice
    # robust margins on both weeks (the actual figures are printed and in the README)
    assert figures["savings_vs_as_operated"]["cost"] > 0.05
    assert figures["savings_vs_as_operated"]["peak_grid_kw"] > 0.10
