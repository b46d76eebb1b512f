"""The virtual plant and the uncertain parameters it hides (demo hall, one generated day)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import xarray as xr

from physics.facility import Facility
from physics.schedule import as_operated_schedule
from physics.simulate import simulate
from twin.live.parameters import UncertainParameters, apply, point_table, predict
from twin.live.virtual_plant import (
    SensorFault,
    VirtualPlant,
    default_sensors,
    demo_truth,
    inlet_sensor_racks,
)
from twin.scenario.points import PointCatalogue

Day = tuple[Facility, xr.Dataset]


def _start(series: xr.Dataset) -> datetime:
    return np.datetime64(series["time"].values[0], "s").astype(datetime).replace(tzinfo=UTC)


def _times(series: xr.Dataset, per_step: int = 1) -> list[datetime]:
    """Reading times: ``per_step`` per 15-min step, away from the step edges."""
    start = _start(series)
    steps = series.sizes["time"]
    return [
        start + timedelta(minutes=15 * k + 1 + 13 * i / per_step)
        for k in range(steps)
        for i in range(per_step)
    ]


# ---------------------------------------------------------------------------- parameters


def test_nominal_parameters_leave_the_facility_unchanged(demo_day: Day) -> None:
    facility, _ = demo_day
    assert apply(facility, UncertainParameters()) is facility
    params = UncertainParameters(inlet_offset=tuple(np.zeros(facility.racks.count)))
    assert hash(params) == hash(UncertainParameters(inlet_offset=(0.0,) * facility.racks.count))


def test_parameters_are_validated(demo_day: Day) -> None:
    facility, _ = demo_day
    with pytest.raises(ValueError, match="crah_fan_factor"):
        UncertainParameters(crah_fan_factor=0.0)
    with pytest.raises(ValueError, match="36 racks"):
        apply(facility, UncertainParameters(inlet_offset=(1.0, 2.0)))
    with pytest.raises(ValueError, match="sends"):  # a rack would send > 100 % of its air
        apply(facility, UncertainParameters(recirculation_scale=20.0))


def test_each_factor_moves_its_output_in_the_right_direction(demo_day: Day) -> None:
    """Simulate the nominal and each modified facility; only the intended outputs move."""
    facility, series = demo_day
    schedule = as_operated_schedule(facility, series)
    base = simulate(facility, schedule, series)

    def run(params: UncertainParameters) -> xr.Dataset:
        return simulate(apply(facility, params), schedule, series)

    supply = schedule.supply_temperature[:, facility.racks.unit]
    rise = base["inlet_temperature"].values - supply
    scaled = run(UncertainParameters(recirculation_scale=1.2))
    ratio = (scaled["inlet_temperature"].values - supply) / rise
    assert np.all(ratio > 1.15) and np.all(ratio < 1.35)  # M⁻¹ makes it a bit more than 1.2
    np.testing.assert_allclose(scaled["crah_fan_power"], base["crah_fan_power"])

    fans = run(UncertainParameters(crah_fan_factor=1.15))
    np.testing.assert_allclose(fans["crah_fan_power"], 1.15 * base["crah_fan_power"], rtol=1e-12)
    np.testing.assert_allclose(fans["inlet_temperature"], base["inlet_temperature"])
    assert np.all(fans["cooling_power"] > base["cooling_power"])

    plant = run(UncertainParameters(plant_power_factor=1.10))
    np.testing.assert_allclose(plant["chiller_power"], 1.10 * base["chiller_power"], rtol=1e-9)
    np.testing.assert_allclose(
        plant["plant_pump_power"], 1.10 * base["plant_pump_power"], rtol=1e-9
    )
    tower = plant["tower_fan_power"] / base["tower_fan_power"]
    assert np.all(tower >= 1.10) and np.all(tower < 1.15)  # also rejects more chiller heat
    np.testing.assert_allclose(plant["crah_fan_power"], base["crah_fan_power"])

    bus = run(UncertainParameters(busbar_resistance_factor=1.3))
    nominal = facility.busbars.nominal_voltage
    drop = (nominal - bus["busbar_min_voltage"]) / (nominal - base["busbar_min_voltage"])
    np.testing.assert_allclose(drop, 1.3, rtol=2e-3)
    assert float(bus["busbar_loss"].sum()) > float(base["busbar_loss"].sum())


def test_predict_matches_a_full_simulation_with_offsets(demo_day: Day) -> None:
    """The two-step window (battery started from its integrated SOC) equals the full run."""
    facility, series = demo_day
    schedule = as_operated_schedule(facility, series)
    battery = np.where(np.arange(series.sizes["time"]) < 40, 400e3, -300e3)
    schedule = type(schedule)(
        schedule.supply_temperature,
        schedule.chilled_water_temperature,
        battery,
        schedule.workload_power,
    )
    params = UncertainParameters(
        inlet_offset=tuple(np.linspace(0.0, 1.0, facility.racks.count)), crah_fan_factor=1.1
    )
    full = simulate(apply(facility, params), schedule, series)
    catalogue = PointCatalogue(facility)
    ids, table = point_table(catalogue, facility, params, full)
    for step in (0, 1, 47, 95, -1):
        got = predict(facility, params, schedule, series, step)
        expected = catalogue.predict(full, step)
        assert set(got) == set(expected) == set(ids)
        for point, value in expected.items():
            if point.startswith("rack/") and point.endswith("_temperature"):
                rack = facility.racks.ids.index(point.split("/")[1])
                value += params.inlet_offset[rack]
            assert got[point] == pytest.approx(value, rel=1e-9, abs=1e-9), point
            assert table[step, ids.index(point)] == pytest.approx(value, rel=1e-12, abs=1e-12)


# ---------------------------------------------------------------------------- plant


def test_demo_truth_gives_the_calibrator_work(demo_day: Day) -> None:
    facility, _ = demo_day
    truth = demo_truth(facility, seed=3)
    offsets = np.asarray(truth.inlet_offset)
    measured = inlet_sensor_racks(facility)
    assert len(measured) == 12
    nonzero = np.flatnonzero(offsets)
    assert len(set(nonzero) & set(measured)) == 3 and len(set(nonzero) - set(measured)) == 1
    assert np.all((offsets[nonzero] >= 0.5) & (offsets[nonzero] <= 2.0))
    assert (truth.crah_fan_factor, truth.plant_power_factor) == (1.15, 1.10)
    assert truth.busbar_resistance_factor == 1.30
    assert demo_truth(facility, seed=3) == truth


def test_readings_are_reproducible_with_a_seed(demo_day: Day) -> None:
    facility, series = demo_day
    truth = demo_truth(facility)
    t1, t2 = _start(series) + timedelta(hours=5), _start(series) + timedelta(hours=9)
    a = VirtualPlant(facility, series, truth, seed=7)
    b = VirtualPlant(facility, series, truth, seed=7)
    first = a.readings(t1)
    assert b.readings(t2) == a.readings(t2)  # order of calls does not matter
    assert b.readings(t1) == first
    assert all(r.time == t1 and r.time.tzinfo is not None for r in first)
    other = VirtualPlant(facility, series, truth, seed=8).readings(t1)
    assert [r.value for r in other] != [r.value for r in first]
    later = a.readings(t1 + timedelta(minutes=5))  # same step, independent noise
    assert [r.value for r in later] != [r.value for r in first]


def test_default_sensors(demo_day: Day) -> None:
    facility, series = demo_day
    plant = VirtualPlant(facility, series)
    sensors = plant.sensors
    assert sensors == default_sensors(facility, series)
    inlets = [p for p in sensors if p.endswith("inlet_temperature")]
    assert len(inlets) == 12  # every third rack: unmeasured racks to infer
    assert sum(p.endswith("/power") and p.startswith("rack/") for p in sensors) == 36
    for point in ("plant/power", "battery/soc", "grid/power", "site/outdoor_temperature"):
        assert point in sensors
    assert len([p for p in sensors if p.startswith("busbar/")]) == 36


def test_noise_statistics_match_the_noise_model(demo_day: Day) -> None:
    """Residuals to the true state have mean ≈ 0 and the configured σ (n ≈ 4,600 inlets)."""
    facility, series = demo_day
    plant = VirtualPlant(facility, series, demo_truth(facility), seed=11, dropout=0.0)
    residual: dict[str, list[float]] = {"inlet": [], "power": [], "voltage": [], "soc": []}
    for moment in _times(series, per_step=4):
        true = plant.true_state(moment)
        for r in plant.readings(moment):
            if r.point.endswith("inlet_temperature"):
                residual["inlet"].append(r.value - true[r.point])
            elif r.point.startswith("rack/") and r.point.endswith("/power"):
                residual["power"].append(r.value / true[r.point] - 1.0)
            elif r.point.startswith("busbar/"):
                residual["voltage"].append(r.value - true[r.point])
            elif r.point == "battery/soc":
                residual["soc"].append(r.value - true[r.point])
    expected = {"inlet": 0.2, "power": 0.01, "voltage": 0.02, "soc": 0.005}
    for name, values in residual.items():
        data = np.asarray(values)
        # std of a sample std ≈ σ/√(2n): 1 % at n = 4,600 (inlets), 5 % at n = 384 (soc)
        tolerance = 4.0 / np.sqrt(2 * data.size)
        assert data.std() == pytest.approx(expected[name], rel=tolerance), name
        assert abs(data.mean()) < 4 * expected[name] / np.sqrt(data.size), name


def test_dropout_rate(demo_day: Day) -> None:
    facility, series = demo_day
    plant = VirtualPlant(facility, series, seed=5, dropout=0.2)
    counts = [len(plant.readings(t)) for t in _times(series, per_step=2)]
    missing = 1.0 - np.sum(counts) / (len(counts) * len(plant.sensors))
    n = len(counts) * len(plant.sensors)  # 19,776 draws: binomial σ = 0.0028
    assert missing == pytest.approx(0.2, abs=4 * np.sqrt(0.2 * 0.8 / n))
    default = VirtualPlant(facility, series, seed=5)
    counts = [len(default.readings(t)) for t in _times(series)]
    assert 1.0 - np.sum(counts) / (len(counts) * len(default.sensors)) == pytest.approx(
        0.02, abs=0.01
    )


def test_sensor_faults_behave_as_specified(demo_day: Day) -> None:
    facility, series = demo_day
    start = _start(series)
    begin, end = start + timedelta(hours=6), start + timedelta(hours=18)
    inlet = "rack/A05/inlet_temperature"
    fan, power, volt = "crah/CRAH-3/fan_power", "rack/C02/power", "busbar/D05/voltage"
    faults = [
        SensorFault(inlet, "drift", begin, rate=0.5),
        SensorFault(fan, "stuck", begin),
        SensorFault(power, "spike", begin, end=end, magnitude=5.0, probability=0.3),
        SensorFault(volt, "silent", begin, end=end),
    ]
    quiet = {"inlet_temperature": 0.0, "power": 0.0}  # exact values show the faults alone
    plant = VirtualPlant(facility, series, seed=2, dropout=0.0, faults=faults, noise=quiet)
    stuck_value = None
    spikes = spiked_after_end = checked = 0
    for moment in _times(series, per_step=3):
        true = plant.true_state(moment)
        got = {r.point: r.value for r in plant.readings(moment)}
        hours = (moment - begin).total_seconds() / 3600
        if moment < begin:
            assert got[inlet] == pytest.approx(true[inlet])
            assert got[power] == pytest.approx(true[power])
            assert volt in got
            continue
        assert got[inlet] == pytest.approx(true[inlet] + 0.5 * hours, abs=1e-9)
        stuck_value = got[fan] if stuck_value is None else stuck_value
        assert got[fan] == stuck_value
        deviation = got[power] - true[power]
        if moment < end:
            assert volt not in got
            assert deviation == pytest.approx(0.0, abs=1e-9) or abs(deviation) == pytest.approx(5)
            spikes += abs(deviation) > 1
            checked += 1
        else:
            assert volt in got
            spiked_after_end += abs(deviation) > 1e-9
    assert spiked_after_end == 0
    # 144 readings at p = 0.3: 43 ± 5.5 expected
    assert spikes == pytest.approx(0.3 * checked, abs=4 * np.sqrt(0.3 * 0.7 * checked))
    # the stuck value is what the sensor read when the fault began
    expected = VirtualPlant(facility, series, seed=2, dropout=0.0, noise=quiet).readings(begin)
    assert stuck_value == next(r.value for r in expected if r.point == fan)


def test_fault_validation(demo_day: Day) -> None:
    facility, series = demo_day
    start = _start(series)
    with pytest.raises(ValueError, match="not a sensor"):
        VirtualPlant(
            facility, series, faults=[SensorFault("rack/A01/inlet_temperature", "stuck", start)]
        )
    with pytest.raises(ValueError, match="fault kind"):
        SensorFault("plant/power", "broken", start)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="naive"):
        SensorFault("plant/power", "silent", datetime(2026, 7, 6))


def test_true_state_equals_a_simulation_of_the_true_facility(demo_day: Day) -> None:
    facility, series = demo_day
    truth = demo_truth(facility, seed=1)
    plant = VirtualPlant(facility, series, truth, seed=1)
    result = simulate(apply(facility, truth), as_operated_schedule(facility, series), series)
    catalogue = PointCatalogue(facility)
    for step in (0, 30, 95):
        moment = _start(series) + timedelta(minutes=15 * step + 14)
        state = plant.true_state(moment)
        expected = catalogue.predict(result, step)
        assert set(state) == set(expected) == set(catalogue.ids)
        for r, rack in enumerate(facility.racks.ids):
            for quantity in ("inlet_temperature", "outlet_temperature"):
                expected[f"rack/{rack}/{quantity}"] += truth.inlet_offset[r]
        for point, value in expected.items():
            assert state[point] == pytest.approx(value, rel=1e-12, abs=1e-12), point
    with pytest.raises(ValueError, match="outside"):
        plant.true_state(_start(series) - timedelta(seconds=1))
    with pytest.raises(ValueError, match="naive"):
        plant.readings(datetime(2026, 7, 6, 3))


def test_apply_setpoints_changes_later_inlets_in_the_right_direction(demo_day: Day) -> None:
    facility, series = demo_day
    plant = VirtualPlant(facility, series, demo_truth(facility), seed=4)
    before, when, after = (_start(series) + timedelta(hours=h) for h in (3, 8, 12))
    old_before, old_after = plant.true_state(before), plant.true_state(after)
    plant.apply_setpoints(when, supply_temperature={"CRAH-1": 20.0}, chilled_water_temperature=14)
    new_before, new_after = plant.true_state(before), plant.true_state(after)
    assert new_before == old_before  # the past is not rewritten
    for r, rack in enumerate(facility.racks.ids):
        point = f"rack/{rack}/inlet_temperature"
        change = new_after[point] - old_after[point]
        if facility.racks.unit[r] == 0:  # served by CRAH-1: +2 K supply, +2 K inlet
            assert change == pytest.approx(2.0, abs=1e-6)
        else:
            assert change == pytest.approx(0.0, abs=1e-9)
    assert new_after["crah/CRAH-1/supply_temperature"] == 20.0
    assert new_after["plant/chilled_water_temperature"] == 14.0
    assert new_after["cdu/CDU-1/supply_temperature"] > old_after["cdu/CDU-1/supply_temperature"]
    assert new_after["plant/power"] < old_after["plant/power"]  # warmer water, better COP
    measured = {r.point: r.value for r in plant.readings(after)}
    assert measured["crah/CRAH-1/supply_temperature"] == pytest.approx(20.0, abs=0.6)

    plant.apply_setpoints(when, supply_temperature=17.0)
    cooler = plant.true_state(after)
    assert all(
        cooler[f"rack/{rack}/inlet_temperature"] < new_after[f"rack/{rack}/inlet_temperature"]
        for rack in facility.racks.ids
    )
    schedule = as_operated_schedule(facility, series)
    plant.apply_schedule(schedule)
    assert plant.true_state(after) == old_after
    with pytest.raises(ValueError, match="shape"):
        plant.apply_schedule(type(schedule)(schedule.supply_temperature[:10], *([None] * 3)))  # type: ignore[arg-type]
