"""Tests of twin.scenario: bad input gives one clear message per problem, units convert.

Each bad-input test starts from the demo hall, breaks one thing and checks the message names
the field path, the value written and what was expected — and that no other message appears.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from twin.data.csv import write_series_csv
from twin.data.demo import generate_demo_series
from twin.data.series import scenario_series
from twin.data.validation import SeriesError
from twin.scenario.compile import compile_facility
from twin.scenario.equipment import RackType
from twin.scenario.loader import (
    ScenarioError,
    json_schema,
    load_scenario,
    parse_scenario,
    scenario_from_dict,
)
from twin.scenario.schema import Scenario

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(
    path for path in (REPO / "scenarios").glob("*.yaml") if not path.name.startswith("fleet")
)
"""Shipped scenario files (fleet files, ``fleet*.yaml``, are tested in test_fleet_file)."""
DEMO = REPO / "scenarios" / "demo-hall.yaml"


@pytest.fixture(scope="module")
def demo_dict() -> dict[str, Any]:
    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def problems_of(data: dict[str, Any], change: Callable[[dict[str, Any]], Any]) -> list[str]:
    """Apply ``change`` to a copy of ``data`` and return the problems it causes."""
    broken = copy.deepcopy(data)
    change(broken)
    with pytest.raises(ScenarioError) as caught:
        scenario_from_dict(broken, source="broken.yaml")
    problems = caught.value.problems
    assert problems, "a ScenarioError must list at least one problem"
    for line in problems:
        assert "Traceback" not in line
        assert "\n" not in line, f"one line per problem: {line!r}"
    return problems


def only_problem(data: dict[str, Any], change: Callable[[dict[str, Any]], Any]) -> str:
    problems = problems_of(data, change)
    assert len(problems) == 1, problems
    return problems[0]


def valid(data: dict[str, Any], change: Callable[[dict[str, Any]], Any]) -> Scenario:
    changed = copy.deepcopy(data)
    change(changed)
    return scenario_from_dict(changed)


def gpu(d: dict[str, Any]) -> dict[str, Any]:
    rack_type: dict[str, Any] = d["rack_types"]["gpu-120"]
    return rack_type


# --------------------------------------------------------------------------------------------
# the demo hall itself


def test_demo_hall_is_valid(demo_dict: dict[str, Any]) -> None:
    scenario = scenario_from_dict(copy.deepcopy(demo_dict))
    assert len(scenario.all_racks()) == 36
    assert scenario.rack_types["gpu-120"].design_power == 120.0
    assert scenario.cooling.units[0].supply_temperature == 18.0


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_shipped_scenarios_load_and_compile(path: Path) -> None:
    scenario = load_scenario(path)
    facility = compile_facility(scenario)
    assert facility.racks.count == len(scenario.all_racks()) > 0
    assert facility.name == scenario.site.name


def test_at_least_demo_and_edge_pod_are_shipped() -> None:
    names = {p.name for p in SCENARIOS}
    assert {"demo-hall.yaml", "edge-pod.yaml"} <= names


# --------------------------------------------------------------------------------------------
# YAML syntax


def test_malformed_yaml_reports_line_and_column() -> None:
    text = "version: 1\nsite:\n  name: x\n   timezone: UTC\n"
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, source="hall.yaml")
    assert caught.value.problems == [
        "malformed YAML at line 4, column 12: mapping values are not allowed here"
    ]
    assert str(caught.value).startswith("hall.yaml: 1 problem(s):")


def test_unclosed_bracket_is_reported_where_the_file_ends() -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario("site: {name: x\n")
    (problem,) = caught.value.problems
    assert problem.startswith("malformed YAML at line 2, column 1:")
    assert "expected ',' or '}'" in problem


def test_duplicate_yaml_key_is_an_error_not_silently_the_last() -> None:
    text = "version: 1\nsite:\n  name: a\n  timezone: UTC\n  name: b\n"
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text)
    assert caught.value.problems == [
        "malformed YAML at line 5, column 3: duplicate key 'name' (first given at line 3); "
        "expected each key once"
    ]


def test_yaml_merge_keys_are_not_duplicates() -> None:
    text = DEMO.read_text(encoding="utf-8").replace(
        "rack_types:\n  gpu-120:\n",
        "rack_types:\n  gpu-120: &gpu\n",
    )
    text = text.replace(
        "  inference-40:\n",
        "  gpu-130:\n    <<: *gpu\n    design_power: 130 kW\n  inference-40:\n",
    )
    scenario = parse_scenario(text)
    assert scenario.rack_types["gpu-130"].design_power == 130.0
    assert scenario.rack_types["gpu-130"].liquid_share == 0.85


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the file is empty; expected a mapping of sections"),
        ("# only a comment\n", "the file is empty; expected a mapping of sections"),
        (
            "- site\n- rows\n",
            "(top level): expected a mapping of sections (site:, simulation:, ...), "
            "got list ['site', 'rows']",
        ),
    ],
)
def test_not_a_mapping(text: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text)
    assert caught.value.problems == [expected]


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(tmp_path / "absent.yaml")
    assert caught.value.problems == ["cannot read file: No such file or directory"]
    binary = tmp_path / "hall.yaml"
    binary.write_bytes(b"site: \xff\xfe\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(binary)
    assert caught.value.problems == ["not UTF-8 text (byte 0xff at offset 6)"]


# --------------------------------------------------------------------------------------------
# schema: fields, values, units


def test_unknown_field_lists_the_expected_fields(demo_dict: dict[str, Any]) -> None:
    problem = only_problem(demo_dict, lambda d: gpu(d).update(desing_power="120 kW"))
    assert problem.startswith("rack_types.gpu-120.desing_power: unknown field (value '120 kW')")
    expected = problem.split("; expected one of: ")[1].split(", ")
    assert expected == sorted(RackType.model_fields)
    assert "design_power" in expected


def test_unknown_field_inside_a_named_template(demo_dict: dict[str, Any]) -> None:
    problem = only_problem(
        demo_dict, lambda d: d["power"]["busbar_templates"]["orv3-gpu"]["shelf"].update(psus=4)
    )
    assert problem == (
        "power.busbar_templates.orv3-gpu.shelf.psus: unknown field (value 4); expected one "
        "of: efficiency, psu_count, psu_rating, redundancy, stage_up_fraction"
    )


def test_unknown_top_level_section(demo_dict: dict[str, Any]) -> None:
    problem = only_problem(demo_dict, lambda d: d.update(colling={}))
    assert problem.startswith(
        "colling: unknown field (value {}); expected one of: battery, cooling"
    )


@pytest.mark.parametrize("value", [-5, "-5 kW", "-0.005 MW"])
def test_negative_power(demo_dict: dict[str, Any], value: object) -> None:
    problem = only_problem(demo_dict, lambda d: gpu(d).update(design_power=value))
    assert problem == f"rack_types.gpu-120.design_power: {value!r} — expected a value > 0 kW"


def test_negative_battery_power_and_zero_capacity(demo_dict: dict[str, Any]) -> None:
    problem = only_problem(demo_dict, lambda d: d["battery"].update(power="-1000 kW"))
    assert problem == "battery.power: '-1000 kW' — expected a value > 0 kW"
    problem = only_problem(demo_dict, lambda d: d["power"]["feeds"][1].update(capacity=0))
    assert problem == "power.feeds[1].capacity: 0 — expected a value > 0 kW"


def test_absurd_magnitudes_are_refused(demo_dict: dict[str, Any]) -> None:
    """A 1e30 kWh battery (the planner's LP then failed: "HiGHS stopped with error") and a
    1e308 demand charge (its cost came back null) are refused with their field."""
    problem = only_problem(demo_dict, lambda d: d["battery"].update(energy="1e30 kWh"))
    assert problem.startswith("battery.energy: '1e30 kWh' — 1e+30 kWh is beyond the plausible")
    problem = only_problem(demo_dict, lambda d: d["grid"].update(demand_charge=1e308))
    assert problem == "grid.demand_charge: 1e+308 — expected a value <= 1e+06 currency/kW"
    assert only_problem(demo_dict, lambda d: d["grid"].update(carbon_price=1e7)).startswith(
        "grid.carbon_price"
    )


def test_fraction_out_of_range(demo_dict: dict[str, Any]) -> None:
    problem = only_problem(demo_dict, lambda d: gpu(d).update(liquid_share=1.2))
    assert problem == "rack_types.gpu-120.liquid_share: 1.2 — expected a value <= 1"


def test_unit_mismatch_energy_for_power(demo_dict: dict[str, Any]) -> None:
    problem = only_problem(demo_dict, lambda d: gpu(d).update(design_power="5 kWh"))
    assert problem == (
        "rack_types.gpu-120.design_power: '5 kWh' — '5 kWh' is an energy; expected a power in kW"
    )


def test_unit_mismatch_power_for_energy_and_length_for_time(demo_dict: dict[str, Any]) -> None:
    problem = only_problem(demo_dict, lambda d: d["battery"].update(energy="2 MW"))
    assert problem == "battery.energy: '2 MW' — '2 MW' is a power; expected an energy in kWh"
    problem = only_problem(demo_dict, lambda d: d["simulation"].update(step="15 m"))
    assert problem.startswith("simulation.step: '15 m' — expected a duration such as '15 min'")
    assert "'15 m' is a length; expected a time in s" in problem


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("120 blorps", "unknown unit 'blorps' in '120 blorps'"),
        ("lots", "could not read 'lots' as a number with a unit (e.g. '12 kW')"),
        (True, "expected a number in kW, got a boolean"),
        ("1e999 kW", "expected a finite number in kW, got '1e999 kW'"),
        ("120 kW/0", "unknown unit 'kW/0' in '120 kW/0'"),
        ("120 kW*(", "unknown unit 'kW*(' in '120 kW*('"),
        ("1 kW**9**9**9", "chained unit exponents in '1 kW**9**9**9'; expected e.g. 'm**3'"),
        (float("nan"), "expected a finite number in kW, got nan"),
    ],
)
def test_unreadable_quantities(demo_dict: dict[str, Any], value: object, message: str) -> None:
    problem = only_problem(demo_dict, lambda d: gpu(d).update(design_power=value))
    assert problem == f"rack_types.gpu-120.design_power: {value!r} — {message}"


def test_absolute_temperature_for_a_temperature_difference(demo_dict: dict[str, Any]) -> None:
    problem = only_problem(demo_dict, lambda d: gpu(d).update(design_delta_t="15 degC"))
    assert problem == (
        "rack_types.gpu-120.design_delta_t: '15 degC' — '15 degC' reads as an absolute "
        "temperature; expected a temperature difference in K, e.g. '10 K' (or '18 delta_degF')"
    )


def test_unit_conversions(demo_dict: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["cooling"]["units"][0]["supply_temperature"] = "64.4 degF"
        d["cooling"]["units"][1]["supply_temperature"] = "291.15 K"
        gpu(d)["design_power"] = "0.12 MW"
        gpu(d)["design_delta_t"] = "27 delta_degF"
        d["power"]["busbar_templates"]["orv3-air"]["resistance"] = "0.1 mOhm"
        d["power"]["busbar_templates"]["orv3-storage"]["resistance"] = "0.0001 ohm"
        d["cooling"]["units"][2]["airflow"] = "72000 m^3/h"
        d["battery"]["energy"] = "2 MWh"
        d["site"]["elevation"] = "0.142 km"

    scenario = valid(demo_dict, change)
    assert scenario.cooling.units[0].supply_temperature == pytest.approx(18.0, abs=1e-9)
    assert scenario.cooling.units[1].supply_temperature == pytest.approx(18.0, abs=1e-9)
    assert scenario.rack_types["gpu-120"].design_power == pytest.approx(120.0, rel=1e-12)
    assert scenario.rack_types["gpu-120"].design_delta_t == pytest.approx(15.0, rel=1e-12)
    templates = scenario.power.busbar_templates
    assert templates["orv3-air"].resistance == pytest.approx(0.1, rel=1e-12)  # [mΩ]
    assert templates["orv3-storage"].resistance == pytest.approx(0.1, rel=1e-12)
    assert scenario.cooling.units[2].airflow == pytest.approx(20.0, rel=1e-12)  # [m³/s]
    assert scenario.battery is not None
    assert scenario.battery.energy == pytest.approx(2000.0, rel=1e-12)
    assert scenario.site.elevation == pytest.approx(142.0, rel=1e-12)
    # and the compiled facility is in SI: W, °C, Ω
    facility = compile_facility(scenario)
    assert facility.racks.design_power[0] == pytest.approx(120e3, rel=1e-12)
    assert facility.units.supply_temperature[0] == pytest.approx(18.0, abs=1e-9)


def test_missing_required_field_says_what_is_expected(demo_dict: dict[str, Any]) -> None:
    problem = only_problem(demo_dict, lambda d: gpu(d).pop("design_power"))
    assert problem == (
        "rack_types.gpu-120.design_power: required field is missing; expected: Design IT "
        "power at full load [kW]"
    )
    problem = only_problem(demo_dict, lambda d: d.pop("grid"))
    assert problem.startswith("grid: required field is missing; expected: Grid connection")


def test_unknown_timezone(demo_dict: dict[str, Any]) -> None:
    problem = only_problem(demo_dict, lambda d: d["site"].update(timezone="America/Dalas"))
    assert problem == (
        "site.timezone: 'America/Dalas' — unknown IANA timezone 'America/Dalas' "
        "(e.g. 'Europe/Berlin')"
    )


def test_start_without_timezone(demo_dict: dict[str, Any]) -> None:
    problem = only_problem(demo_dict, lambda d: d["simulation"].update(start="2026-07-06T00:00:00"))
    assert problem.startswith(
        "simulation.start: '2026-07-06T00:00:00' — expected an ISO 8601 instant with timezone"
    )


def test_duration_not_a_whole_number_of_steps(demo_dict: dict[str, Any]) -> None:
    problem = only_problem(demo_dict, lambda d: d["simulation"].update(duration="100 min"))
    assert problem == (
        "simulation.duration: '100 min' — 1:40:00 is not a whole number of steps; expected a "
        "multiple of step (0:15:00)"
    )


def test_setpoint_outside_its_bounds(demo_dict: dict[str, Any]) -> None:
    problem = only_problem(
        demo_dict, lambda d: d["cooling"]["units"][2].update(supply_temperature="30 degC")
    )
    assert problem == (
        "cooling.units[2].supply_temperature: '30 degC' — 30 °C is outside the unit's setpoint "
        "range; expected supply_temperature_min..supply_temperature_max = 14..27 °C"
    )
    problem = only_problem(
        demo_dict, lambda d: d["cooling"]["plant"].update(chilled_water_temperature=25)
    )
    assert problem == (
        "cooling.plant.chilled_water_temperature: 25 — 25 °C is outside the setpoint range; "
        "expected chilled_water_temperature_min..chilled_water_temperature_max = 7..20 °C"
    )


def test_battery_initial_soc_outside_window(demo_dict: dict[str, Any]) -> None:
    problem = only_problem(demo_dict, lambda d: d["battery"].update(initial_soc=0.05))
    assert problem == (
        "battery.initial_soc: 0.05 — expected a state of charge within soc_min..soc_max = "
        "0.1..0.95, got 0.05"
    )


def test_redundancy_not_below_psu_count(demo_dict: dict[str, Any]) -> None:
    problem = only_problem(
        demo_dict,
        lambda d: d["power"]["busbar_templates"]["orv3-air"]["shelf"].update(redundancy=10),
    )
    assert problem == (
        "power.busbar_templates.orv3-air.shelf.redundancy: 10 — 10 spare PSUs leave none to "
        "carry load; expected fewer than psu_count (10)"
    )


def test_chiller_redundancy_not_below_count(demo_dict: dict[str, Any]) -> None:
    problem = only_problem(
        demo_dict, lambda d: d["cooling"]["plant"]["chillers"].update(redundancy=3)
    )
    assert problem == (
        "cooling.plant.chillers.redundancy: 3 — 3 spare chillers leave none to carry load; "
        "expected fewer than count (3)"
    )


def test_sections_of_the_wrong_shape(demo_dict: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["simulation"] = 1.5
        d["rack_types"] = ""
        d["rows"] = "A01"

    assert problems_of(demo_dict, change) == [
        "simulation: 1.5 — expected a mapping of fields (a Simulation section)",
        "rack_types: '' — expected a mapping (name: value entries)",
        "rows: 'A01' — expected a list ('- item' lines or [a, b])",
    ]


def test_absurd_duration_is_a_message_not_a_crash(demo_dict: dict[str, Any]) -> None:
    problem = only_problem(demo_dict, lambda d: d["workloads"][3].update(deadline=10**30))
    assert problem.startswith("workloads[3].deadline: 1000000000000000000000000000000 — expected")


def test_bad_efficiency_names_the_alternatives(demo_dict: dict[str, Any]) -> None:
    problem = only_problem(
        demo_dict, lambda d: d["power"]["ups"][0].update(efficiency="double-conversion")
    )
    assert problem == (
        "power.ups[0].efficiency: 'double-conversion' — expected an efficiency in (0, 1], a "
        "named curve (orv3-shelf, double-conversion-ups, transformer, ibc-48v-12v) or "
        "{points: [[load fraction, efficiency], ...]}"
    )
    problem = only_problem(
        demo_dict,
        lambda d: d["power"]["ups"][0].update(efficiency={"points": [[0.5, 0.96], [0.2, 0.9]]}),
    )
    assert problem == (
        "power.ups[0].efficiency.points: [[0.5, 0.96], [0.2, 0.9]] — expected strictly "
        "increasing load fractions, got [0.5, 0.2]"
    )


def test_efficiency_forms_are_accepted(demo_dict: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["power"]["ups"][0]["efficiency"] = 0.96
        d["power"]["ups"][1]["efficiency"] = {"points": [[0.1, 0.9], [0.5, 0.96], [1.0, 0.95]]}

    scenario = valid(demo_dict, change)
    assert scenario.power.ups[0].efficiency == 0.96
    assert compile_facility(scenario).ups.rating[1] == 1.8e6


def test_fan_curve_with_wrong_number_of_coefficients(demo_dict: dict[str, Any]) -> None:
    problem = only_problem(
        demo_dict, lambda d: d["cooling"]["units"][0].update(fan_curve=[0.0, 1.0])
    )
    assert problem == (
        "cooling.units[0].fan_curve: [0.0, 1.0] — expected 5 polynomial coefficients c0..c4 of "
        "the flow fraction, got 2"
    )


def test_recirculation_mode(demo_dict: dict[str, Any]) -> None:
    problem = only_problem(demo_dict, lambda d: d["cooling"]["recirculation"].update(mode="cfd"))
    assert (
        problem == "cooling.recirculation.mode: 'cfd' — expected one of 'layout', 'entries', 'none'"
    )
    # mode defaults to the documented layout model
    scenario = valid(demo_dict, lambda d: d["cooling"]["recirculation"].pop("mode"))
    assert scenario.cooling.recirculation.mode == "layout"
    # 'recirculation: none' is short for {mode: none}
    scenario = valid(demo_dict, lambda d: d["cooling"].update(recirculation="none"))
    assert scenario.cooling.recirculation.mode == "none"
    # an unknown field lists the fields of the mode given, not of another mode
    problem = only_problem(
        demo_dict, lambda d: d["cooling"].update(recirculation={"mode": "none", "decay": 0.5})
    )
    assert problem == (
        "cooling.recirculation.decay: unknown field (value 0.5); expected one of: mode"
    )


def test_demand_response_end_before_start(demo_dict: dict[str, Any]) -> None:
    problem = only_problem(
        demo_dict,
        lambda d: d["grid"]["demand_response"][0].update(end="2026-07-07T21:00:00Z"),
    )
    assert problem == (
        "grid.demand_response[0].end: '2026-07-07T21:00:00Z' — expected an instant after start "
        "(2026-07-07T22:00:00+00:00)"
    )


def test_tier3_missing_fields_one_message_each(demo_dict: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        del d["workloads"][2]["energy"]
        del d["workloads"][2]["deadline"]

    assert problems_of(demo_dict, change) == [
        "workloads[2].energy: required for tier 3 (batch/training) workloads",
        "workloads[2].deadline: required for tier 3 (batch/training) workloads",
    ]


def test_workload_time_that_is_neither_offset_nor_instant(demo_dict: dict[str, Any]) -> None:
    problem = only_problem(demo_dict, lambda d: d["workloads"][3].update(deadline="friday"))
    assert problem == (
        "workloads[3].deadline: 'friday' — expected an offset from the simulation start such as "
        "'6 h' or '2 d', or an ISO 8601 instant with timezone such as '2026-07-08T12:00:00Z'"
    )


def test_two_problems_give_two_messages(demo_dict: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["site"]["timezone"] = "Mars/Olympus"
        gpu(d)["design_power"] = -120

    problems = problems_of(demo_dict, change)
    assert sorted(problems) == [
        "rack_types.gpu-120.design_power: -120 — expected a value > 0 kW",
        "site.timezone: 'Mars/Olympus' — unknown IANA timezone 'Mars/Olympus' "
        "(e.g. 'Europe/Berlin')",
    ]


def test_scenario_error_text_lists_every_problem(demo_dict: dict[str, Any]) -> None:
    broken = copy.deepcopy(demo_dict)
    broken["site"]["timezone"] = "Nowhere"
    broken["battery"]["power"] = -1
    with pytest.raises(ScenarioError) as caught:
        scenario_from_dict(broken, source="hall.yaml")
    text = str(caught.value)
    assert text.startswith("hall.yaml: 2 problem(s):\n  - ")
    assert text.count("\n  - ") == 2
    assert "site.timezone" in text and "battery.power" in text


# --------------------------------------------------------------------------------------------
# cross-references


def test_rack_row_pointing_at_unknown_cooling_unit(demo_dict: dict[str, Any]) -> None:
    problem = only_problem(demo_dict, lambda d: d["rows"][2].update(cooling_unit="CRAH-9"))
    # one message for the row, not one per rack
    assert problem == (
        "rows[2].cooling_unit: 'CRAH-9' — no such cooling unit; expected an id from "
        "cooling.units (CRAH-1, CRAH-2, CRAH-3, CRAH-4)"
    )


def test_rack_pointing_at_unknown_busbar(demo_dict: dict[str, Any]) -> None:
    rack = {
        "id": "E01",
        "row": "E",
        "position": 1,
        "type": "storage-15",
        "cooling_unit": "CRAH-4",
        "busbar": "BB-E",
    }
    problem = only_problem(demo_dict, lambda d: d.update(racks=[rack]))
    assert problem == (
        "racks[0].busbar: 'BB-E' — no such busbar; expected an id from power.busbars (none defined)"
    )


def test_row_with_shared_busbar_that_does_not_exist(demo_dict: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        row = d["rows"][3]
        del row["busbar_template"], row["ups"]
        row["busbar"] = "BB-D"

    assert only_problem(demo_dict, change) == (
        "rows[3].busbar: 'BB-D' — no such busbar; expected an id from power.busbars (none defined)"
    )


def test_row_with_unknown_busbar_template_and_ups(demo_dict: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["rows"][2]["busbar_template"] = "orv3-inference"
        d["rows"][2]["ups"] = "UPS-C"

    assert problems_of(demo_dict, change) == [
        "rows[2].busbar_template: 'orv3-inference' — no such template; expected a name from "
        "power.busbar_templates (orv3-air, orv3-gpu, orv3-storage)",
        "rows[2].ups: 'UPS-C' — no such UPS; expected an id from power.ups (UPS-A, UPS-B)",
    ]


def test_rack_pointing_at_unknown_cdu(demo_dict: dict[str, Any]) -> None:
    problem = only_problem(demo_dict, lambda d: d["rows"][1].update(cdu="CDU-3"))
    assert problem == (
        "rows[1].cdu: 'CDU-3' — no such CDU; expected an id from cooling.cdus (CDU-1, CDU-2)"
    )


def test_liquid_cooled_type_without_cdu(demo_dict: dict[str, Any]) -> None:
    problem = only_problem(demo_dict, lambda d: d["rows"][0].pop("cdu"))
    assert problem == (
        "rows[0].cdu: required field is missing — rack type 'gpu-120' is liquid-cooled "
        "(liquid_share 0.85); expected the id of a CDU in cooling.cdus (CDU-1, CDU-2)"
    )


def test_unknown_rack_type(demo_dict: dict[str, Any]) -> None:
    problem = only_problem(demo_dict, lambda d: d["rows"][2].update(type="inference-80"))
    assert problem == (
        "rows[2].type: 'inference-80' — not in rack_types; expected one of: gpu-120, "
        "inference-40, storage-15"
    )


def test_unknown_feed_of_a_ups(demo_dict: dict[str, Any]) -> None:
    problem = only_problem(demo_dict, lambda d: d["power"]["ups"][1].update(feed="C"))
    assert (
        problem == "power.ups[1].feed: 'C' — no such feed; expected an id from power.feeds (A, B)"
    )


def test_duplicate_ids(demo_dict: dict[str, Any]) -> None:
    problem = only_problem(
        demo_dict, lambda d: d["cooling"]["units"].append(dict(d["cooling"]["units"][1]))
    )
    assert problem == (
        "cooling.units[4].id: 'CRAH-2' — already used by cooling.units[1].id; expected unique "
        "cooling unit ids"
    )
    problem = only_problem(demo_dict, lambda d: d["workloads"][3].update(id="llm-pretraining"))
    assert problem == (
        "workloads[3].id: 'llm-pretraining' — already used by workloads[2].id; expected unique "
        "workload ids"
    )


def test_explicit_rack_clashing_with_a_row(demo_dict: dict[str, Any]) -> None:
    rack = {
        "id": "C03",
        "row": "C",
        "position": 3,
        "type": "inference-40",
        "cooling_unit": "CRAH-3",
        "busbar": "C01",
    }
    # the same id at the same place: one problem (the id), not a second about the position
    assert only_problem(demo_dict, lambda d: d.update(racks=[rack])) == (
        "rows[2] (the racks it expands to): 'C03' — already used by racks[0].id; expected "
        "unique rack ids"
    )
    other = {**rack, "id": "X03"}
    assert only_problem(demo_dict, lambda d: d.update(racks=[other])) == (
        "rows[2]: rack 'C03' at row 'C' position 3 — position already taken by rack 'X03'; "
        "expected one rack per position"
    )


def test_two_rows_expanding_to_the_same_racks(demo_dict: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["rows"][1]["row"] = "A"
        d["workloads"] = d["workloads"][:3]

    assert only_problem(demo_dict, change) == (
        "rows[1] (the racks it expands to): 'A01', 'A02', 'A03', 'A04', 'A05', 'A06', 'A07', "
        "'A08' — already used by rows[0] (the racks it expands to); expected unique rack ids"
    )


def test_workload_pattern_matching_no_rack(demo_dict: dict[str, Any]) -> None:
    problem = only_problem(demo_dict, lambda d: d["workloads"][0].update(racks=["C*", "Z*"]))
    assert problem == (
        "workloads[0].racks[1]: 'Z*' — matches no rack; expected a rack id or glob pattern such "
        "as 'A*' (racks: A01, A02, A03, A04, A05, A06, A07, A08, ... (36 in total))"
    )


def test_tier3_deadline_before_release(demo_dict: dict[str, Any]) -> None:
    problem = only_problem(demo_dict, lambda d: d["workloads"][3].update(deadline="12 h"))
    assert problem == (
        "workloads[3].deadline: 2026-07-06T12:00:00+00:00 — not after the release "
        "2026-07-07T00:00:00+00:00 of workload 'finetune-batch'; expected a deadline after the "
        "release"
    )


def test_tier3_release_after_the_window(demo_dict: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["workloads"][3]["release"] = "2026-07-20T00:00:00Z"
        d["workloads"][3]["deadline"] = "2026-07-21T00:00:00Z"

    assert only_problem(demo_dict, change) == (
        "workloads[3].release: 2026-07-20T00:00:00+00:00 — after the simulated window ends "
        "(2026-07-13T00:00:00+00:00); expected a release within the window"
    )


def test_two_reference_problems_give_two_messages(demo_dict: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["rows"][0]["cooling_unit"] = "CRAH-9"
        d["rows"][1]["cdu"] = "CDU-9"

    problems = problems_of(demo_dict, change)
    assert [p.split(":")[0] for p in problems] == ["rows[0].cooling_unit", "rows[1].cdu"]


# --------------------------------------------------------------------------------------------
# JSON schema


def test_json_schema_is_json_with_units_and_descriptions() -> None:
    schema = json.loads(json.dumps(json_schema()))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    rack_type = schema["$defs"]["RackType"]
    assert rack_type["additionalProperties"] is False
    properties = rack_type["properties"]
    assert set(properties) == set(RackType.model_fields)
    for name, prop in properties.items():
        assert prop.get("description"), f"RackType.{name} has no description"
    assert properties["design_power"]["x-unit"] == "kW"
    assert "[kW]" in properties["design_power"]["description"]
    assert "[kWh]" in properties["bbu_energy"]["description"]
    assert "[°C]" in properties["fan_knee_temperature"]["description"]
    assert "[K]" in properties["design_delta_t"]["description"]
    # every quantity field names its unit in brackets in its description
    text = json.dumps(schema, ensure_ascii=False)
    assert text.count('"x-unit"') >= 40
    for definition in schema["$defs"].values():
        for name, prop in definition.get("properties", {}).items():
            if "x-unit" in json.dumps(prop):
                assert "[" in prop.get("description", ""), name


def test_every_scenario_field_has_a_description() -> None:
    schema = json_schema()
    undocumented = [
        f"{model}.{name}"
        for model, definition in schema["$defs"].items()
        for name, prop in definition.get("properties", {}).items()
        if not prop.get("description")
    ]
    assert undocumented == []
    assert all(schema["$defs"][name].get("description") for name in schema["$defs"])


# --------------------------------------------------------------------------------------------
# series files referenced by a scenario


@pytest.fixture
def one_day(demo_dict: dict[str, Any]) -> Scenario:
    """The demo hall for one day, reading its series from ``series.csv``."""
    data = copy.deepcopy(demo_dict)
    data["simulation"]["duration"] = "1 d"
    data["grid"]["demand_response"] = []
    data["workloads"] = [w for w in data["workloads"] if w["tier"] != 3]
    data["series"] = [{"file": "series.csv"}]
    return scenario_from_dict(data)


def _series_lines(tmp_path: Path) -> tuple[list[str], int]:
    """A valid one-day 15-min series file's lines and the index of its header line."""
    ds = generate_demo_series(pd.Timestamp("2026-07-06T00:00Z"), days=1, step="15min")
    path = write_series_csv(ds, tmp_path / "series.csv")
    lines = path.read_text(encoding="utf-8").splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("time,"))
    assert lines[header + 13].startswith("2026-07-06T03:00:00Z")
    return lines, header


def _write(tmp_path: Path, lines: list[str]) -> None:
    (tmp_path / "series.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_series_file_round_trip(tmp_path: Path, one_day: Scenario) -> None:
    _series_lines(tmp_path)
    ds = scenario_series(one_day, tmp_path)
    assert ds.sizes["time"] == 96
    assert {"price", "outdoor_temperature", "cpu_load"} <= set(ds.data_vars)


def test_series_with_a_gap(tmp_path: Path, one_day: Scenario) -> None:
    lines, header = _series_lines(tmp_path)
    _write(tmp_path, lines[: header + 13] + lines[header + 17 :])  # drop 03:00..03:45
    with pytest.raises(SeriesError) as caught:
        scenario_series(one_day, tmp_path)
    message = str(caught.value)
    assert message.startswith("series[0]: series.csv: gaps in the 15min series")
    assert "missing 2026-07-06T03:00Z..2026-07-06T03:45Z (4 steps)" in message
    assert "expected one row every 15min" in message


def test_series_with_unsorted_timestamps(tmp_path: Path, one_day: Scenario) -> None:
    lines, header = _series_lines(tmp_path)
    swapped = [*lines[: header + 5], lines[header + 6], lines[header + 5], *lines[header + 7 :]]
    _write(tmp_path, swapped)
    with pytest.raises(SeriesError) as caught:
        scenario_series(one_day, tmp_path)
    assert str(caught.value) == (
        "series[0]: series.csv: timestamps not in increasing order: 2026-07-06T01:00Z "
        f"(line {header + 7}) after 2026-07-06T01:15Z; expected rows sorted by time"
    )


def test_series_with_duplicate_timestamps(tmp_path: Path, one_day: Scenario) -> None:
    lines, header = _series_lines(tmp_path)
    _write(tmp_path, [*lines[: header + 6], lines[header + 5], *lines[header + 6 :]])
    with pytest.raises(SeriesError) as caught:
        scenario_series(one_day, tmp_path)
    assert "duplicate timestamps 2026-07-06T01:00Z" in str(caught.value)


def test_series_missing_a_needed_variable(tmp_path: Path, one_day: Scenario) -> None:
    lines, header = _series_lines(tmp_path)
    assert lines[header].endswith(",cpu_load")
    kept = [line for line in lines if not line.startswith("# cpu_load")]
    _write(tmp_path, [line if line.startswith("#") else line.rsplit(",", 1)[0] for line in kept])
    with pytest.raises(SeriesError) as caught:
        scenario_series(one_day, tmp_path)
    assert str(caught.value).startswith("the series lack cpu_load (have: price, ")


def test_series_file_that_does_not_exist(tmp_path: Path, one_day: Scenario) -> None:
    with pytest.raises(SeriesError) as caught:
        scenario_series(one_day, tmp_path)
    assert str(caught.value) == (
        f"series[0]: series file {(tmp_path / 'series.csv').resolve()} does not exist"
    )


# --------------------------------------------------------------------------------------------
# inlet envelope


def test_lower_inlet_limit_follows_the_envelope(demo_dict: dict[str, Any]) -> None:
    """Recommended envelope: 18 °C (ASHRAE TC 9.9, 2021); allowable A2: 10 °C; an override wins."""
    assert compile_facility(valid(demo_dict, lambda d: None)).inlet_lower_limit == 18.0
    allowable = valid(demo_dict, lambda d: d["site"].update(inlet_limit="allowable"))
    assert allowable.site.air_class == "A2"
    assert compile_facility(allowable).inlet_lower_limit == 10.0
    override = valid(demo_dict, lambda d: d["site"].update(min_inlet_temperature="16 degC"))
    assert compile_facility(override).inlet_lower_limit == 16.0


def test_lower_inlet_limit_above_the_upper_is_refused(demo_dict: dict[str, Any]) -> None:
    problem = only_problem(demo_dict, lambda d: d["site"].update(min_inlet_temperature="28 degC"))
    assert "min_inlet_temperature" in problem and "below the upper inlet limit 27" in problem
