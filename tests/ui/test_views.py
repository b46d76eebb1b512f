"""ui.views on a live twin of the demo hall fed by its virtual plant (real SQLite, physics,
HiGHS): every figure the pages draw is checked against the twin's own numbers."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from tests.helpers import Clock
from twin.live.live_twin import LiveTwin
from twin.scenario.loader import scenario_from_dict
from ui import figures, views, views_live, views_overview, views_plan, views_whatif

pytestmark = pytest.mark.xdist_group("ui-views")  # module fixtures built once


def test_kpis_match_the_state_and_cost_accrues(live: tuple[LiveTwin, Clock]) -> None:
    twin, clock = live
    data = views_overview.kpis(twin)
    state = twin.state()["kpis"]
    assert data["it_power_kw"] == pytest.approx(state["it_power_kw"])
    assert data["pue"] == pytest.approx(state["facility_power_kw"] / state["it_power_kw"])
    assert 1.0 < data["pue"] < 2.0
    assert 0.0 <= data["battery_soc"] <= 1.0
    assert data["carbon_g_per_kwh"] > 0
    # 20 min of grid readings at ~3 MW and the series' price: cost = Σ kW·h/1000·price over
    # 1-minute means, each minute counted up to now
    expected = 0.0
    times, values = twin.store.downsample(
        "grid/power", clock.now - timedelta(hours=2), clock.now, timedelta(minutes=1)
    )
    for moment, kw in zip(times, values, strict=True):
        price = float(twin.series["price"].isel(time=twin.step_index(moment)))
        hours = min(60.0, (clock.now - moment).total_seconds()) / 3600.0
        expected += kw * hours / 1000 * price
    assert data["cost_today"] == pytest.approx(expected, rel=1e-9)
    assert data["cost_today"] > 0
    later = [views_overview.cost_today(twin, clock.now + timedelta(seconds=s)) for s in (0, 20, 40)]
    assert later == sorted(later)  # cumulative: it never goes down
    assert data["active_alarms"] == len(twin.store.alarms(active_only=True))


def test_power_flow_balances_at_every_stage(live: tuple[LiveTwin, Clock]) -> None:
    twin, _ = live
    flow = views_overview.power_flow(twin)
    nodes = flow["nodes"]
    into: dict[str, float] = {n: 0.0 for n in nodes}
    out: dict[str, float] = {n: 0.0 for n in nodes}
    for link in flow["links"]:
        assert link["value_kw"] > 0
        out[nodes[link["source"]]] += link["value_kw"]
        into[nodes[link["target"]]] += link["value_kw"]
    # what enters each conversion stage leaves it as output plus its loss (rounding 1e-3 kW)
    for stage in ("Transformer/UPS", "Rectifier shelves", "48 V busbars", "Converters"):
        assert into[stage] == pytest.approx(out[stage], abs=0.01), stage
        assert flow["stages"][stage] > 0
    assert into["Facility"] == pytest.approx(out["Facility"], abs=0.01)
    assert into["IT"] == pytest.approx(flow["it_power_kw"], abs=0.01)
    assert into["Cooling"] == pytest.approx(flow["cooling_power_kw"], abs=0.01)
    losses = sum(flow["stages"].values())
    assert into["Losses"] == pytest.approx(losses, abs=0.01)
    assert 0.02 < losses / flow["it_power_kw"] < 0.2  # a 48 V chain loses a few percent


@pytest.mark.parametrize("quantity", list(views.FLOOR_QUANTITIES))
def test_floor_grid_places_every_rack(live: tuple[LiveTwin, Clock], quantity: str) -> None:
    twin, clock = live
    grid = views.floor_grid(twin, quantity)
    racks = twin.facility.racks
    assert grid["rows"] == ["A", "B", "C", "D"]
    placed = {rack for row in grid["rack"] for rack in row if rack}
    assert placed == set(racks.ids)
    state = twin.estimator.state(clock.now)
    for r, rack in enumerate(racks.ids):
        y = grid["rows"].index(str(racks.row[r]))
        x = grid["positions"].index(int(racks.position[r]))
        assert grid["rack"][y][x] == rack
        value = grid["z"][y][x]
        assert value is not None and math.isfinite(value)
        if quantity == "inlet_temperature":
            assert value == pytest.approx(state.inlet_temperature[r])
        elif quantity == "margin":
            assert value == pytest.approx(state.inlet_limit - state.inlet_temperature[r])
        elif quantity == "liquid_share":
            assert value == pytest.approx(racks.liquid_share[r])
    # rows C and D have 10 racks, A and B 8: the two missing cells are gaps, not zeros
    assert grid["z"][0][-1] is None and grid["rack"][0][-1] is None
    assert grid["measured_count"] == int(state.measured.sum()) > 0
    assert len(grid["measured"]["x"]) == grid["measured_count"]


def test_floor_grid_unknown_quantity(live: tuple[LiveTwin, Clock]) -> None:
    with pytest.raises(KeyError, match="known: inlet_temperature"):
        views.floor_grid(live[0], "humidity")


def test_rack_history_is_downsampled_from_the_store(live: tuple[LiveTwin, Clock]) -> None:
    twin, clock = live
    measured = next(
        r
        for r, m in zip(twin.facility.racks.ids, twin.estimator.state().measured, strict=True)
        if m
    )
    history = views.rack_history(twin, measured, hours=1.0, points=10)
    inlet = history["series"]["inlet_temperature"]
    raw = twin.store.query(
        f"rack/{measured}/inlet_temperature", clock.now - timedelta(hours=1), clock.now
    )
    assert 0 < len(inlet["value"]) <= 10 < len(raw)
    assert min(inlet["value"]) >= min(r.value for r in raw) - 1e-9
    assert inlet["units"] == "degC" and inlet["long_name"] == "Rack inlet temperature"
    assert history["series"]["tap_voltage"]["point"].startswith("busbar/")
    model = history["series"]["inlet_temperature_model"]
    assert model["point"] is None and len(model["value"]) == len(
        history["series"]["bbu_ride_through"]["value"]
    )
    # the calibrated model agrees with the sensor within a kelvin or so
    assert abs(model["value"][-1] - raw[-1].value) < 1.5
    bbu = history["series"]["bbu_ride_through"]
    assert bbu["units"] == "s" and all(v is not None and v > 0 for v in bbu["value"])
    assert history["estimate"]["rack"] == measured
    with pytest.raises(KeyError):
        views.rack_history(twin, "Z99")


def test_plan_view_compares_the_plan_with_both_baselines(fresh: tuple[LiveTwin, Clock]) -> None:
    twin, _ = fresh
    assert views_plan.plan_view(twin) is None
    record = twin.replan(actor="test")
    view = views_plan.plan_view(twin)
    assert view is not None and view["id"] == record["id"] and view["status"] == "proposed"
    steps = len(record["payload"]["schedule"]["time"])
    assert len(view["time"]) == steps == len(view["price"]) == len(view["carbon_intensity"])
    for case in ("plan", "as_operated", "rule_based"):
        assert len(view["grid_import_kw"][case]) == steps
        assert all(0.0 <= s <= 1.0 for s in view["battery_soc"][case])
    assert view["verified"] is True
    # the plan's simulated peak is the verified figure stored with it
    assert max(view["grid_import_kw"]["plan"]) == pytest.approx(
        view["figures"]["peak_grid_kw"], rel=0.02
    )
    assert set(view["supply_temperature_c"]) == set(twin.facility.units.ids)
    # setpoints: chilled water on its own (right) axis, identical cooling units as one line
    fig = figures.plan_setpoints(view, ZoneInfo("UTC"))
    water = [t for t in fig.data if t.name == "chilled water"]
    assert len(water) == 1 and water[0].yaxis == "y2"
    assert fig.layout.yaxis2.title.text.startswith("Chilled water")
    assert fig.layout.yaxis.title.text.startswith("Supply")
    for axis in (fig.layout.yaxis, fig.layout.yaxis2):  # aligned: 5 round steps each
        assert axis.range[1] - axis.range[0] == pytest.approx(5 * axis.dtick)
    air = [tuple(t.y) for t in fig.data if t.name != "chilled water"]
    assert len(air) == len(set(air)) == len(set(map(tuple, view["supply_temperature_c"].values())))
    jobs = {j["job"] for j in view["jobs"]}
    assert jobs == set(twin.facility.workloads.ids)  # every job, paused ones included
    for job in view["jobs"]:
        assert (job["start"] is None) == (job["runs"] == [])
        assert all(start < end and kw > 1.0 for start, end, kw in job["runs"])
    assert views_plan.plans(twin)[0]["id"] == record["id"]


def test_residuals_are_measured_minus_predicted(live: tuple[LiveTwin, Clock]) -> None:
    twin, _ = live
    data = views_live.residuals(twin, ["grid/power", "plant/power"], hours=1.0)
    for point in ("grid/power", "plant/power"):
        item = data["series"][point]
        assert item["units"] == "kW" and len(item["measured"]) > 0
        for m, p, r in zip(item["measured"], item["predicted"], item["residual"], strict=True):
            assert r == pytest.approx(m - p)
        # the calibrated model tracks the plant within a few percent
        assert abs(sum(item["residual"]) / len(item["residual"])) < 0.05 * item["measured"][0]
    assert data["rmse"]["grid/power"] is not None
    assert "crah_fan_factor" in data["calibration"]
    assert data["parameter_history"]  # the calibrator has recorded values
    with pytest.raises(KeyError, match="unknown point"):
        views_live.residuals(twin, ["rack/Z99/inlet_temperature"])


def test_residuals_predict_what_the_twin_predicts(live: tuple[LiveTwin, Clock]) -> None:
    """The Live page's prediction of a measured inlet is the twin's own, calibrated offset
    included (it left the offsets out before)."""
    twin, clock = live
    point = next(p for p in twin.plant.sensors if p.endswith("/inlet_temperature"))  # type: ignore[union-attr]
    item = views_live.residuals(twin, [point], hours=1.0)["series"][point]
    assert item["predicted"][-1] == pytest.approx(twin.predicted(clock.now)[point], abs=1e-6)


def test_modified_scenario_applies_every_edit(live: tuple[LiveTwin, Clock]) -> None:
    twin, clock = live
    data = views_whatif.modified_scenario(
        twin,
        {
            "add_racks_type": "gpu-120",
            "add_racks_count": 4,
            "supply_min_c": 16,
            "supply_max_c": 25,
            "battery_energy_kwh": 4000,
            "battery_power_kw": 1500,
            "fail_cooling_unit": "CRAH-3",
            "fail_feed": "B",
            "dr_start_hours": 2,
            "dr_duration_hours": 1,
            "dr_import_cap_kw": 1800,
        },
    )
    from twin.live.live_twin import live_scenario_dict

    scenario = scenario_from_dict(live_scenario_dict(data, clock.now))
    assert len(scenario.rows) == 5 and scenario.rows[-1].count == 4
    assert {u.id for u in scenario.cooling.units} == {"CRAH-1", "CRAH-2", "CRAH-4"}
    assert all(u.supply_temperature_max == 25 for u in scenario.cooling.units)
    assert [f.id for f in scenario.power.feeds] == ["A"]
    assert scenario.battery is not None and scenario.battery.energy == 4000
    event = scenario.grid.demand_response[-1]
    # written in the scenario's own window, it lands 2 h from now in the live window
    assert event.start == clock.now + timedelta(hours=2)
    assert event.end - event.start == timedelta(hours=1)
    assert twin.base_data["battery"]["energy"] != 4000  # the twin's own scenario is untouched
    for bad, message in (
        ({"add_racks_type": "gpu-999", "add_racks_count": 1}, "unknown rack type"),
        ({"fail_cooling_unit": "CRAH-9"}, "unknown cooling unit"),
        ({"fail_feed": "Z"}, "unknown feed"),
        ({"colour": "red"}, "unknown what-if field"),
    ):
        with pytest.raises(ValueError, match=message):
            views_whatif.modified_scenario(twin, bad)
    assert yaml.safe_load(yaml.safe_dump(data)) == data  # downloadable as YAML


def test_whatif_yaml_runs_anywhere(live: tuple[LiveTwin, Clock], tmp_path: Path) -> None:
    """The download: live window, real event times, absolute series paths, units kept."""
    from twin.data.series import scenario_series
    from twin.scenario.loader import load_scenario

    twin, clock = live
    data = views_whatif.modified_scenario(
        twin, {"battery_energy_kwh": 4000, "dr_start_hours": 2, "dr_import_cap_kw": 1800}
    )
    text = views_whatif.portable_scenario(twin, data)
    assert text.startswith("# dctwin what-if scenario from the live twin")
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    (elsewhere / "whatif.yaml").write_text(text, encoding="utf-8")
    scenario = load_scenario(elsewhere / "whatif.yaml")
    written = yaml.safe_load(text)
    assert written["battery"]["energy"] == "4000 kWh"
    assert written["grid"]["demand_response"][-1]["import_cap"] == "1800 kW"
    assert scenario.simulation == twin.scenario.simulation  # the live window
    assert scenario.grid.demand_response[-1].start == clock.now + timedelta(hours=2)
    for source in written["series"]:
        assert Path(source.get("file", "/")).is_absolute()
        assert Path(source.get("data_dir", "/")).is_absolute()
    series = scenario_series(scenario, elsewhere)  # reads from anywhere
    assert series.sizes["time"] > 0


def test_whatif_run_reports_progress_and_a_verified_comparison(
    live: tuple[LiveTwin, Clock],
) -> None:
    twin, _ = live
    data = views_whatif.modified_scenario(
        twin, {"battery_energy_kwh": 4000, "battery_power_kw": 1500}
    )
    seen: list[tuple[float, str]] = []
    result = views_whatif.whatif_run(twin, data, 6.0, lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and len(seen) >= 3
    assert result["current"]["verified"] and result["modified"]["verified"]
    # a bigger battery can only make the optimum cheaper (same LP, more freedom) within gap
    assert result["difference"]["cost"] <= 0.01 * abs(result["current"]["cost"])
    # 6 h committed (24 steps); both plans look ahead to the jobs' deadlines, the same span
    steps = round(result["lookahead_hours"] * 4)
    assert result["horizon_hours"] == 6.0 and steps >= 24
    assert len(result["time"]) == steps == len(result["grid_import_kw"]["modified"])


def test_whatif_starts_from_current_values_and_refuses_nonsense(
    live: tuple[LiveTwin, Clock],
) -> None:
    from ui.callbacks import one_per_problem

    twin, clock = live
    now = views_whatif.current_values(twin)
    plant = twin.scenario.cooling.plant
    assert now["chilled_water_c"] == plant.chilled_water_temperature
    assert now["add_racks_count"] == 0 and now["fail_feed"] is None
    assert twin.scenario.battery is not None
    assert now["battery_energy_kwh"] == twin.scenario.battery.energy
    unchanged = views_whatif.modified_scenario(
        twin, {k: v for k, v in now.items() if v is not None}
    )
    from twin.live.live_twin import live_scenario_dict

    same = scenario_from_dict(live_scenario_dict(unchanged, clock.now))
    assert same.model_dump() == twin.scenario.model_dump()  # the pre-filled form changes nothing
    warmer = views_whatif.modified_scenario(twin, {"chilled_water_c": 16})
    assert warmer["cooling"]["plant"]["chilled_water_temperature"] == "16 °C"
    for bad, message in (
        ({"add_racks_count": -3}, "Number of racks to add: expected a whole number of 0 or more"),
        ({"add_racks_count": 1.5}, "expected a whole number"),
        ({"battery_power_kw": 0}, "Battery power: expected a positive value"),
    ):
        with pytest.raises(ValueError, match=message):
            views_whatif.modified_scenario(twin, bad)
    four = [f"cooling.units[{i}].supply_temperature: 30 °C is outside" for i in range(4)]
    assert one_per_problem([*four, "grid: other"]) == [
        "cooling.units[*].supply_temperature: 30 °C is outside",
        "grid: other",
    ]
