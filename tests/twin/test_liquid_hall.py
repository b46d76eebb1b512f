"""The liquid-cooled example hall end to end: scenario, simulation, limits, schema errors.

``scenarios/liquid-hall.yaml``: the demo hall with its GPU rows as 132 kW direct-to-chip
racks on a W32 warm-water facility loop (PG25 CDUs, dry coolers and towers).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
import yaml

from physics.chiller_records import chiller_record
from physics.facility import Facility
from physics.liquid.fluids import PG25
from physics.schedule import as_operated_schedule
from physics.simulate import simulate
from physics.violations import LIMIT_KINDS, find_violations
from tests.helpers import dctwin_in_process
from twin.data.series import scenario_series
from twin.scenario.compile import chiller_of, compile_facility
from twin.scenario.loader import ScenarioError, scenario_from_dict

ROOT = Path(__file__).resolve().parents[2]
LIQUID = ROOT / "scenarios" / "liquid-hall.yaml"


pytestmark = pytest.mark.xdist_group("liquid-hall")  # module fixtures built once


def _hall(change: Any = None, days: int = 1) -> dict[str, Any]:
    data = yaml.safe_load(LIQUID.read_text(encoding="utf-8"))
    data["simulation"]["duration"] = f"{days} d"
    for work in data["workloads"]:
        if work["tier"] == 3:
            work["release"], work["deadline"] = "0 h", f"{days} d"
    data["grid"]["demand_response"] = []
    if change is not None:
        change(data)
    return data


def _run(data: dict[str, Any], per_rack: bool = True) -> tuple[Facility, xr.Dataset]:
    scenario = scenario_from_dict(data)
    facility = compile_facility(scenario)
    series = scenario_series(scenario, ROOT / "scenarios")
    schedule = as_operated_schedule(facility, series)
    return facility, simulate(facility, schedule, series, per_rack=per_rack)


@pytest.fixture(scope="module")
def liquid_day() -> tuple[Facility, xr.Dataset]:
    return _run(_hall())


def test_loop_heat_and_energy_balances_close(liquid_day: tuple[Facility, xr.Dataset]) -> None:
    """Loop heat = CDU heat + CDU pump heat = ρc_p·V̇·(T_ret − T_sup); the dry coolers (and
    towers) reject it; facility power = IT + cooling + losses at every step (1e-9)."""
    facility, ds = liquid_day
    loop = facility.facility_loop
    assert loop is not None
    heat = ds["cdu_load"].sum("cdu") + ds["cdu_pump_power"].sum("cdu")
    np.testing.assert_allclose(ds["facility_loop_heat"], heat, rtol=1e-12)
    carried = (
        loop.heat_capacity
        * ds["facility_loop_flow"]
        * (ds["facility_loop_return_temperature"] - ds["facility_loop_supply_temperature"])
    )
    np.testing.assert_allclose(carried, heat, rtol=1e-9)
    # dry coolers first; in the hottest hours the towers take the rest
    rejected = ds["dry_cooler_heat"] + ds["facility_loop_tower_heat"]
    np.testing.assert_allclose(rejected, heat, rtol=1e-6)
    assert float(ds["facility_loop_tower_heat"].max()) > 0.0
    np.testing.assert_allclose(ds["facility_loop_supply_temperature"], 30.0, atol=1e-6)
    parts = ds["it_power"] + ds["cooling_power"] + ds["power_chain_loss"]
    np.testing.assert_allclose(ds["facility_power"], parts, rtol=1e-9)
    # the chiller plant no longer sees the liquid heat: coil loads and UPS losses only
    plant = ds["crah_cooling_load"].sum("unit") + ds["ups_loss"]
    np.testing.assert_allclose(ds["plant_load"], plant, rtol=1e-9)


def test_cdus_and_cold_plates_follow_the_loop(liquid_day: tuple[Facility, xr.Dataset]) -> None:
    """CDU facility supply = loop supply; IT supply = facility supply + approach·Q/Q_cap at
    the rated flows (valves open, racks at 1320 of 1500 L/min: slightly below rated);
    case temperature = IT supply + plate heat × R(flow per plate)."""
    facility, ds = liquid_day
    np.testing.assert_allclose(ds["cdu_facility_supply_temperature"], 30.0, atol=1e-6)
    np.testing.assert_allclose(ds["cdu_flow"] * 60_000, 8 * 165.0, rtol=1e-12)
    assert facility.cdus.it_fluid == ["pg25", "pg25"]
    assert float(facility.cdus.it_heat_capacity[0]) == pytest.approx(
        float(PG25.volumetric_heat_capacity(30.0))
    )
    racks = facility.racks
    rack = 0
    plate = facility.cold_plates[racks.cold_plate[rack]]
    case = ds["case_temperature"].isel(rack=rack).values
    supply = ds["cdu_supply_temperature"].isel(cdu=racks.cdu[rack]).values
    per_plate_flow = 165.0 / 60_000 / 72
    rise = case - supply
    assert np.all(rise > 0)
    resistance = float(plate.resistance(per_plate_flow))
    heat_per_plate = rise / resistance
    # heat per plate is 80 % of the rack's liquid heat over 72 plates: ≤ 1.2 kW at full load
    assert float(heat_per_plate.max()) == pytest.approx(0.8 * 132e3 * 0.97 * 0.85 / 72, rel=0.01)
    assert np.all(np.isnan(ds["case_temperature"].isel(rack=-1)))  # a storage rack
    np.testing.assert_allclose(
        ds["max_case_temperature"], ds["case_temperature"].max("rack"), rtol=1e-12
    )


def test_case_temperature_limit_is_checked(liquid_day: tuple[Facility, xr.Dataset]) -> None:
    """A 50 °C case limit is broken at full load; the message names racks and worst value;
    without per-rack series the smallest margin stands for the racks."""

    def strict(data: dict[str, Any]) -> None:
        data["rack_types"]["gpu-132"]["cold_plate"]["max_case_temperature"] = "50 degC"

    facility, ds = _run(_hall(strict))
    found = {v.kind: v for v in find_violations(facility, ds)}
    assert "case_temperature" in found
    case = found["case_temperature"]
    assert case.limit == 50.0 and case.worst > 50.0
    assert case.message.startswith("cold-plate case temperature above 50 °C: A01")
    facility, summary = _run(_hall(strict), per_rack=False)
    found = {v.kind: v for v in find_violations(facility, summary)}
    assert found["case_temperature"].message.startswith(
        "smallest cold-plate case temperature margin"
    )
    # the shipped hall keeps its margin
    assert "case_temperature" not in {v.kind for v in find_violations(*liquid_day)}


def test_cdu_flow_and_liquid_class_limits() -> None:
    """Racks asking 250 L/min each (2000 L/min) exceed the CDU's 1800 L/min: a cdu_flow
    violation in L/min, and the racks get less flow (hotter cases).  A W27 site with a
    30 °C loop breaks the liquid class on the facility loop."""

    def thirsty(data: dict[str, Any]) -> None:
        data["rack_types"]["gpu-132"]["coolant_flow"] = "250 L/min"
        data["site"]["liquid_class"] = "W27"

    facility, ds = _run(_hall(thirsty))
    found = {v.kind: v for v in find_violations(facility, ds)}
    flow = found["cdu_flow"]
    assert flow.unit == "L/min" and flow.limit == pytest.approx(1800.0)
    assert flow.worst == pytest.approx(2000.0)
    np.testing.assert_allclose(ds["cdu_flow"] * 60_000, 1800.0)
    loop = found["facility_loop_supply"]
    assert loop.limit == 27.0 and loop.worst == pytest.approx(30.0)
    assert "facility_water" not in found  # no CDU on chilled water
    assert LIMIT_KINDS["cdu_flow"].is_capacity


def _plan(change: Any, days: int) -> Any:
    from optimizer.plan import PlanOptions, plan

    scenario = scenario_from_dict(_hall(change, days=days))
    facility = compile_facility(scenario)
    series = scenario_series(scenario, ROOT / "scenarios")
    return plan(facility, series, PlanOptions(time_limit=60.0, shadow_prices=False))


def test_plan_refuses_what_no_decision_changes() -> None:
    """Racks asking 250 L/min each (2000 L/min per CDU, pumps 1800 L/min) and a W27 site
    under a 30 °C loop setpoint: the plan is refused as infeasible before solving, naming
    each CDU with the flow needed and available and the loop setpoint against its class;
    the as-operated schedule comes back as the fallback, its violations reported."""

    def broken(data: dict[str, Any]) -> None:
        data["rack_types"]["gpu-132"]["coolant_flow"] = "250 L/min"
        data["site"]["liquid_class"] = "W27"

    result = _plan(broken, days=1)
    assert result.status == "infeasible" and not result.verified
    assert "solve_s" not in result.timings  # refused before any solve
    out = result.to_json()
    assert out["status"] == "infeasible"
    text = "\n".join(result.explanation)
    for cdu in ("CDU-1", "CDU-2"):
        assert f"CDU {cdu}: its racks need 2,000 L/min of coolant, its pumps deliver at most " in (
            text
        )
    assert "1,800 L/min" in text
    assert "loop supply setpoint 30 °C is above the site's liquid class limit 27 °C" in text
    kinds = {v.kind for v in result.violations}
    assert {"cdu_flow", "facility_loop_supply"} <= kinds


def test_plan_keeps_cold_plate_cases_under_their_limit() -> None:
    """With a 51 °C case limit the as-operated week runs the GPU cases up to 60.3 °C; the
    plan's case rows (:mod:`optimizer.blocks.liquid`) hold every case at or below 51 °C
    and the plan verifies (measured: 50.95 °C)."""

    def strict(data: dict[str, Any]) -> None:
        data["rack_types"]["gpu-132"]["cold_plate"]["max_case_temperature"] = "51 degC"

    result = _plan(strict, days=7)
    assert float(result.baseline_result["max_case_temperature"].max()) > 60.0
    assert result.verified, result.violations
    assert float(result.result["max_case_temperature"].max()) <= 51.0 + 1e-6
    assert "case_temperature" not in {v.kind for v in result.violations}


def test_plan_keeps_the_warm_water_loop_in_its_class() -> None:
    """Dry coolers alone (4 × 450 kW, no towers) let the W32 loop float to 35.6 °C in the
    hot afternoon as operated; the plan's loop rows move the work so the loop supply stays
    at or below 32 °C and the plan verifies (measured: 30.76 °C)."""

    def dry_only(data: dict[str, Any]) -> None:
        del data["cooling"]["facility_loop"]["towers"]
        data["cooling"]["facility_loop"]["dry_coolers"]["capacity"] = "450 kW"

    from optimizer.plan import Planner, PlanOptions

    scenario = scenario_from_dict(_hall(dry_only, days=7))
    facility = compile_facility(scenario)
    series = scenario_series(scenario, ROOT / "scenarios")
    planner = Planner(facility, series, PlanOptions(time_limit=60.0, shadow_prices=False))
    rows = list(planner.model.liquid.loop_rows)
    liquid = planner.lin.liquid
    # rows where the loop floats (λ > 0, K per kW), among them the steps above 32 °C as operated
    assert rows and all(liquid.loop_slope[t] > 0 for t in rows)
    assert {t for t in rows if liquid.loop_base[t] > 32.0}
    result = planner.run()
    assert float(result.baseline_result["facility_loop_supply_temperature"].max()) > 35.0
    assert result.verified, result.violations
    assert float(result.result["facility_loop_supply_temperature"].max()) <= 32.0 + 1e-6


def test_warm_week_without_towers_floats_the_loop_supply() -> None:
    """Without the towers the dry coolers alone cannot hold 30 °C in the hottest hours of
    the (Dallas July) demo week: the loop supply floats up and the CDUs follow."""

    def dry_only(data: dict[str, Any]) -> None:
        del data["cooling"]["facility_loop"]["towers"]
        data["cooling"]["facility_loop"]["dry_coolers"]["capacity"] = "450 kW"

    _, ds = _run(_hall(dry_only, days=2))
    supply = ds["facility_loop_supply_temperature"].values
    assert supply.max() > 30.5 and supply.min() == pytest.approx(30.0)
    hot = int(np.argmax(supply))
    assert float(ds["cdu_facility_supply_temperature"][hot, 0]) == pytest.approx(supply[hot])


# --------------------------------------------------------------------------------------------
# scenario schema


def _problems(change: Any) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        scenario_from_dict(_hall(change))
    return caught.value.problems


def test_schema_refuses_inconsistent_liquid_sections() -> None:
    def no_loop(data: dict[str, Any]) -> None:
        del data["cooling"]["facility_loop"]

    assert any("facility_loop" in p and "CDU-1, CDU-2" in p for p in _problems(no_loop))

    def both(data: dict[str, Any]) -> None:
        data["cooling"]["cdus"][0]["coolant_delta_t"] = "10 K"

    assert any("coolant_delta_t or coolant_flow" in p for p in _problems(both))

    def impossible(data: dict[str, Any]) -> None:
        # facility water would have to warm by more than the approach plus the IT rise
        data["cooling"]["cdus"][0]["facility_delta_t"] = "25 K"

    assert any("approach" in p and "effectiveness" in p for p in _problems(impossible))

    def backwards(data: dict[str, Any]) -> None:
        data["rack_types"]["gpu-132"]["cold_plate"]["resistance"] = [[2.0, 0.02], [1.0, 0.03]]

    assert any("increasing flows" in p for p in _problems(backwards))

    def unknown_fluid(data: dict[str, Any]) -> None:
        data["cooling"]["cdus"][0]["coolant"] = "brine"

    assert any("expected 'water' or 'pg25'" in p for p in _problems(unknown_fluid))


def test_a_pg25_rated_cdu_on_water_gains_capacity() -> None:
    """A 1 MW CDU rated on PG25 (3 K approach, 10 K rise each side, properties at 35 °C)
    run on water at the same volume flows: the IT film coefficient rises by the water/PG25
    Dittus–Boelter ratio 1.616, UA by 2/(1 + 1/1.616) = 1.2355, and at the rated 3 K
    approach it carries 1,154 kW (measured with these figures); rated on the fluid it runs,
    nothing changes; a custom fluid has no conductivity or viscosity to scale by."""
    from physics.liquid.exchanger import counterflow_effectiveness
    from physics.liquid.fluids import WATER
    from twin.scenario.liquid import CDU, rated_ua

    base = {
        "id": "X", "capacity": "1000 kW", "approach": "3 K", "coolant_delta_t": "10 K",
        "facility_delta_t": "10 K", "rating_temperature": "35 degC",
    }  # fmt: skip
    on_pg25 = CDU.model_validate({**base, "coolant": "pg25"})
    on_water = CDU.model_validate({**base, "coolant": "water", "rated_coolant": "pg25"})
    assert on_water.rated_flows() == on_pg25.rated_flows()  # same volume flows
    assert on_water.film_ratios() == (pytest.approx(1.616, abs=5e-4), 1.0)
    assert rated_ua(on_water) / rated_ua(on_pg25) == pytest.approx(1.2355, abs=1e-4)
    plain = CDU.model_validate({**base, "coolant": "water", "rated_coolant": "water"})
    assert rated_ua(plain) == pytest.approx(rated_ua(CDU.model_validate(base)))
    # capacity at the rated approach: approach = Q·(1/(ε·C_min) − 1/C_it) at fixed flows
    it_flow, fac_flow = on_water.rated_flows()
    c_it = float(WATER.volumetric_heat_capacity(35.0)) * it_flow
    c_fac = float(WATER.volumetric_heat_capacity(35.0)) * fac_flow
    effectiveness, c_min = counterflow_effectiveness(rated_ua(on_water), c_it, c_fac)
    capacity = 3.0 / (1.0 / (float(effectiveness) * float(c_min)) - 1.0 / c_it)
    assert capacity / 1e3 == pytest.approx(1154.0, abs=1.0)
    custom = {"name": "PG40", "specific_heat": "3600 J/(kg*K)", "density": "1040 kg/m^3"}
    with pytest.raises(ValueError, match="conductivity and viscosity"):
        CDU.model_validate({**base, "coolant": custom, "rated_coolant": "pg25"})


def test_chillers_from_energyplus_fields_in_yaml() -> None:
    """A Chiller:Electric:EIR object given field by field (the McQuay record's values)
    compiles to the named record's chiller; an unknown name lists the known records."""
    record = chiller_record("mcquay-wsc-471kw")
    x = {"minimum_value_of_x": 7.22, "maximum_value_of_x": 12.78}
    y = {"minimum_value_of_y": 12.78, "maximum_value_of_y": 26.67}
    names = ("constant", "x", "x_2", "y", "y_2", "x_y")

    def curve(values: tuple[float, ...]) -> dict[str, float]:
        pairs = enumerate(zip(names, values, strict=True))
        return {f"coefficient{i + 1}_{n}": v for i, (n, v) in pairs} | x | y

    fields = {
        "reference_capacity": "471.2 kW",
        "reference_cop": 5.89,
        "reference_leaving_chilled_water_temperature": "8.89 degC",
        "reference_entering_condenser_fluid_temperature": "26.67 degC",
        "cooling_capacity_function_of_temperature_curve": curve(record.capft.coefficients),
        "electric_input_to_cooling_output_ratio_function_of_temperature_curve": curve(
            record.eirft.coefficients
        ),
        "electric_input_to_cooling_output_ratio_function_of_part_load_ratio_curve": {
            "coefficient1_constant": record.eirfplr.coefficients[0],
            "coefficient2_x": record.eirfplr.coefficients[1],
            "coefficient3_x_2": record.eirfplr.coefficients[2],
            "minimum_value_of_x": 0.0,
            "maximum_value_of_x": 1.15,
        },
        "minimum_part_load_ratio": 0.1,
        "maximum_part_load_ratio": 1.15,
        "minimum_unloading_ratio": 0.1,
    }

    def custom(data: dict[str, Any]) -> None:
        data["cooling"]["plant"]["chillers"]["curves"] = copy.deepcopy(fields)

    scenario = scenario_from_dict(_hall(custom))
    chiller = chiller_of(scenario.cooling.plant.chillers)
    named = chiller_of(scenario_from_dict(_hall()).cooling.plant.chillers)
    assert chiller.capft == named.capft and chiller.eirft == named.eirft
    assert chiller.eirfplr == named.eirfplr and chiller.reference_capacity == 1e6

    def unknown(data: dict[str, Any]) -> None:
        data["cooling"]["plant"]["chillers"]["curves"] = "york-yk-9999kw"

    assert any("trane-cvhf-1758kw-vsd" in p for p in _problems(unknown))


def test_named_or_fields_errors_name_the_path_the_user_wrote() -> None:
    """A chiller or a coolant given field by field is reported at the path in the YAML
    (``...curves.reference_capacity``), without pydantic's union tag (``...curves.fields...``)."""

    def bad_chiller(data: dict[str, Any]) -> None:
        data["cooling"]["plant"]["chillers"]["curves"] = {"reference_capacity": "-3 kW"}

    problems = _problems(bad_chiller)
    assert any(p.startswith("cooling.plant.chillers.curves.reference_capacity: ") for p in problems)
    assert not any(".fields" in p or ".named" in p for p in problems), problems

    def bad_coolant(data: dict[str, Any]) -> None:
        data["cooling"]["cdus"][0]["coolant"] = {"name": "PG40", "specific_heat": "-1 J/(kg*K)"}

    problems = _problems(bad_coolant)
    assert any(p.startswith("cooling.cdus[0].coolant.specific_heat: ") for p in problems), problems
    assert any(p.startswith("cooling.cdus[0].coolant.density: ") for p in problems), problems
    assert not any(".fields" in p or ".custom" in p for p in problems), problems


def test_simulate_text_output_counts_clamped_curve_evaluations(tmp_path: Path) -> None:
    """Chilled water at 15 °C is above the McQuay curves' 12.78 °C limit: the text summary of
    ``dctwin simulate`` says how many evaluations were clamped (not only ``--json``)."""

    def warm(data: dict[str, Any]) -> None:
        data["cooling"]["plant"]["chilled_water_temperature"] = "15 degC"
        data["series"] = [{"file": str(ROOT / "data" / "demo-week.csv")}]

    path = tmp_path / "warm.yaml"
    path.write_text(yaml.safe_dump(_hall(warm)), encoding="utf-8")
    done = dctwin_in_process("simulate", path)
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("curve range"))
    assert "evaluations outside the fitted range, clamped (chiller steps 96" in line
    assert "hottest case" in done.stdout and "facility loop supply" in done.stdout
