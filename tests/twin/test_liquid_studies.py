"""Capacity, contingency and the rule-based baseline on the liquid-cooled example hall.

``scenarios/liquid-hall.yaml`` (one day): 16 direct-to-chip racks of 132 kW at 165 L/min on
two CDUs of 1800 L/min pumps, on a W32 warm-water loop.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from optimizer.baselines import rule_based
from physics.simulate import simulate
from tests.twin.test_liquid_hall import ROOT, _hall
from twin.data.series import scenario_series
from twin.scenario.compile import compile_facility
from twin.scenario.loader import scenario_from_dict
from twin.studies.capacity import capacity_study
from twin.studies.contingency import contingency_study


def test_capacity_of_a_liquid_row_is_bound_by_the_cdu_pumps() -> None:
    """With room in the air path and the plant, row A's CDU takes two more 165 L/min racks
    (10 × 165 = 1650 of 1800 L/min) and not a third (1815): the study adds two, verified by
    simulation, and names the CDU's flow among the limits the next rack breaks."""

    def roomy(data: dict[str, Any]) -> None:
        data["cooling"]["plant"]["chillers"]["capacity"] = "3000 kW"
        data["cooling"]["units"][0]["capacity"] = "900 kW"
        data["cooling"]["units"][0]["airflow"] = "40 m^3/s"

    scenario = scenario_from_dict(_hall(roomy))
    series = scenario_series(scenario, ROOT / "scenarios")
    report = capacity_study(scenario, series, "gpu-132", [("A", 9), ("A", 10), ("A", 11)])
    assert report.verified and report.count == 2
    binding = {(b.kind, b.equipment, b.unit) for b in report.binding}
    assert ("cdu_flow", "CDU-1", "L/min") in binding


def test_losing_a_cdu_starves_the_other_rows_plates() -> None:
    """CDU-1 lost: its racks move to CDU-2, which is asked 16 × 165 = 2640 L/min of its
    1800 L/min; every rack gets 1800/2640 of its flow, so the plates' resistance and the case
    temperatures rise.  The study fails the loss on the CDU flow and its case margin equals a
    direct simulation of the hall with both rows on CDU-2 (1e-6 K)."""
    scenario = scenario_from_dict(_hall())
    facility = compile_facility(scenario)
    series = scenario_series(scenario, ROOT / "scenarios")
    report = contingency_study(facility, series)
    loss = next(e for e in report.elements if e.element == "CDU-1")
    intact = next(e for e in report.elements if e.element == "chiller-1")
    assert not loss.passed
    assert loss.margins["cdu_flow"] == pytest.approx(1800.0 - 2640.0)
    assert loss.margins["case_temperature"] < intact.margins["case_temperature"] - 5.0

    def one_cdu(data: dict[str, Any]) -> None:
        data["rows"][0]["cdu"] = "CDU-2"  # CDU-1 stays on the loop, without racks

    direct = scenario_from_dict(_hall(one_cdu))
    facility_one = compile_facility(direct)
    from physics.schedule import as_operated_schedule

    ds = simulate(facility_one, as_operated_schedule(facility_one, series), series)
    assert float(ds["min_case_margin"].min()) == pytest.approx(
        loss.margins["case_temperature"], abs=1e-6
    )


def test_rule_based_baseline_keeps_chilled_water_cases_under_their_limit() -> None:
    """The hall's CDUs on chilled water (12 °C as operated) with a 41 °C case limit: the
    cases reach 42.26 °C as operated; the rule lowers its static chilled water by the
    smallest case margin (measured: to 10.74 °C) so they stay at or below 41 °C.  On the
    warm-water loop the rule cannot act and says so in a note."""

    def chilled(data: dict[str, Any]) -> None:
        for cdu in data["cooling"]["cdus"]:
            cdu["loop"] = "chilled_water"
        del data["cooling"]["facility_loop"]
        data["rack_types"]["gpu-132"]["cold_plate"]["max_case_temperature"] = "41 degC"

    scenario = scenario_from_dict(_hall(chilled))
    facility = compile_facility(scenario)
    series = scenario_series(scenario, ROOT / "scenarios")
    rule = rule_based(facility, series)
    ds = simulate(facility, rule.schedule, series, per_rack=False)
    assert float(ds["max_case_temperature"].max()) == pytest.approx(41.0, abs=1e-6)
    assert float(np.max(rule.schedule.chilled_water_temperature)) < 12.0

    def loop_limit(data: dict[str, Any]) -> None:
        data["rack_types"]["gpu-132"]["cold_plate"]["max_case_temperature"] = "51 degC"

    scenario = scenario_from_dict(_hall(loop_limit))
    facility = compile_facility(scenario)
    rule = rule_based(facility, scenario_series(scenario, ROOT / "scenarios"))
    assert any("warm-water loop exceed their limit" in note for note in rule.notes)
