"""Baselines: as operated, and the rule-based setpoint, job windows and battery arbitrage."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import xarray as xr

from optimizer.baselines import RuleBasedResult, as_operated, effective_price, rule_based
from physics.facility import Facility
from physics.schedule import as_operated_schedule
from physics.simulate import simulate, summarize
from physics.violations import find_violations

DemoDay = tuple[Facility, xr.Dataset]


@pytest.fixture(scope="module")
def demo_rule(demo_day: DemoDay) -> RuleBasedResult:
    """The rule-based baseline of the demo day (computed once)."""
    facility, series = demo_day
    return rule_based(facility, series)


def _flat_series(series: xr.Dataset, price: np.ndarray) -> xr.Dataset:
    """``series`` with the given price [USD/MWh] and no carbon cost."""
    return series.assign(
        price=("time", price), carbon_intensity=("time", np.zeros(series.sizes["time"]))
    )


def _with_tier3(facility: Facility, index: int, **changes: object) -> Facility:
    """``facility`` with fields of tier 3 workload ``index`` changed (arrays by element)."""
    work = facility.workloads
    fields = {}
    for name, value in changes.items():
        array = getattr(work, name).copy()
        array[index] = value
        fields[name] = array
    return dataclasses.replace(facility, workloads=dataclasses.replace(work, **fields))


def test_as_operated_is_the_physics_schedule(demo_day: DemoDay) -> None:
    facility, series = demo_day
    ours, physics = as_operated(facility, series), as_operated_schedule(facility, series)
    for name in ("supply_temperature", "chilled_water_temperature", "battery_power"):
        np.testing.assert_array_equal(getattr(ours, name), getattr(physics, name))
    np.testing.assert_array_equal(ours.workload_power, physics.workload_power)


def test_effective_price_adds_carbon_in_currency_per_mwh(demo_day: DemoDay) -> None:
    """50 USD/t × 400 g/kWh = 0.05 USD/kg × 400 kg/MWh = 20 USD/MWh."""
    facility, series = demo_day
    steps = series.sizes["time"]
    synthetic = series.assign(
        price=("time", np.full(steps, 30.0)), carbon_intensity=("time", np.full(steps, 400.0))
    )
    assert facility.grid.carbon_price == pytest.approx(0.05)
    np.testing.assert_allclose(effective_price(facility, synthetic), 50.0)


def test_setpoint_is_the_highest_safe_one(demo_day: DemoDay, demo_rule: RuleBasedResult) -> None:
    """At the setpoint found every inlet is within the limit; ``tolerance`` warmer it is not."""
    facility, series = demo_day
    result = demo_rule
    found = result.supply_temperature
    schedule = result.schedule
    units = facility.units
    assert units.supply_temperature_min.max() <= found <= units.supply_temperature_max.min()
    np.testing.assert_allclose(schedule.supply_temperature, found)
    ds = simulate(facility, schedule, series)
    assert float(ds["inlet_temperature"].max()) <= facility.inlet_limit
    warmer = dataclasses.replace(schedule, supply_temperature=schedule.supply_temperature + 0.05)
    hot = simulate(facility, warmer, series, per_rack=False)
    assert float(hot["max_inlet_temperature"].max()) > facility.inlet_limit
    # the hottest rack sits within the tolerance of the limit
    assert float(ds["inlet_temperature"].max()) > facility.inlet_limit - 0.05 - 1e-9


def test_chilled_water_is_the_highest_the_coils_allow(
    demo_day: DemoDay, demo_rule: RuleBasedResult
) -> None:
    facility, _ = demo_day
    result = demo_rule
    chilled = result.chilled_water_temperature
    supply = result.supply_temperature
    # demo hall: the coil approach binds (below the plant's 20 °C and the W32 32 °C limits)
    assert chilled == pytest.approx(supply - float(facility.units.coil_approach.max()))
    np.testing.assert_allclose(result.schedule.chilled_water_temperature, chilled)


def test_rule_based_demo_day_is_verified_and_cheaper(
    demo_day: DemoDay, demo_rule: RuleBasedResult
) -> None:
    """Verified by the physics: no violation, lower energy cost and cooling energy."""
    facility, series = demo_day
    rule_ds = simulate(facility, demo_rule.schedule, series)
    base_ds = simulate(facility, as_operated(facility, series), series)
    assert find_violations(facility, rule_ds) == []
    assert find_violations(facility, base_ds) == []
    rule, base = summarize(rule_ds), summarize(base_ds)
    assert rule["energy_cost"] < base["energy_cost"]
    assert rule["cooling_energy_kwh"] < base["cooling_energy_kwh"]
    assert rule["carbon_kg"] < base["carbon_kg"]
    # same IT work: the demo day's tier 3 jobs do not fit before their deadline, both run all day
    np.testing.assert_allclose(rule_ds["workload_power"], base_ds["workload_power"])


def test_tier3_job_lands_in_the_cheapest_window(demo_day: DemoDay) -> None:
    facility, series = demo_day
    steps, step = series.sizes["time"], 900.0
    job = facility.workloads.ids.index("llm-pretraining")
    max_power = float(facility.workloads.max_power[job])
    facility = _with_tier3(facility, job, energy=9.5 * max_power * step)  # 10 steps, last half
    price = np.full(steps, 100.0)
    price[40:50] = 10.0
    price[70:80] = 5.0  # cheaper, but after the deadline below
    deadline = series["time"].values[60]
    facility = _with_tier3(facility, job, deadline=deadline)
    power = rule_based(facility, _flat_series(series, price)).schedule.workload_power[:, job]
    expected = np.zeros(steps)
    expected[40:49] = max_power
    expected[49] = 0.5 * max_power
    np.testing.assert_allclose(power, expected)
    np.testing.assert_allclose(power.sum() * step, 9.5 * max_power * step)


def test_tier3_job_respects_release_and_notes_a_missed_deadline(demo_day: DemoDay) -> None:
    facility, series = demo_day
    steps, step = series.sizes["time"], 900.0
    time = series["time"].values
    job = facility.workloads.ids.index("llm-pretraining")
    max_power = float(facility.workloads.max_power[job])
    price = np.full(steps, 100.0)
    price[10:20] = 10.0  # before release: unusable
    price[50:54] = 20.0
    released = _with_tier3(facility, job, energy=4 * max_power * step, release=time[30])
    power = rule_based(released, _flat_series(series, price)).schedule.workload_power[:, job]
    assert np.all(power[:30] == 0.0)
    np.testing.assert_allclose(power[50:54], max_power)
    assert power.sum() == pytest.approx(4 * max_power)
    # 20 steps of work between release (step 30) and a deadline at step 40: late, from release
    late = _with_tier3(
        facility, job, energy=20 * max_power * step, release=time[30], deadline=time[40]
    )
    result = rule_based(late, _flat_series(series, price))
    power = result.schedule.workload_power[:, job]
    np.testing.assert_allclose(power[30:50], max_power)
    assert np.all(power[:30] == 0.0) and np.all(power[50:] == 0.0)
    assert any("llm-pretraining" in note and "deadline" in note for note in result.notes)


def test_battery_charges_cheap_discharges_dear(demo_day: DemoDay) -> None:
    facility, series = demo_day
    battery = facility.battery
    assert battery is not None
    steps = series.sizes["time"]
    price = np.full(steps, 60.0)
    price[8:24] = 20.0  # cheap night
    price[72:84] = 200.0  # dear evening
    synthetic = _flat_series(series, price)
    result = rule_based(facility, synthetic, charge_below_peak=False)
    power = result.schedule.battery_power
    charging, discharging = power > 1e-6, power < -1e-6
    assert charging.any() and discharging.any()
    assert np.all(price[charging] == 20.0)
    assert np.all(price[discharging] == 200.0)
    assert not np.any(charging & discharging)
    # verified: the physics does not clip it further, SOC stays in its window, ends where it began
    ds = simulate(facility, result.schedule, synthetic, per_rack=False)
    np.testing.assert_allclose(ds["battery_power"], power, atol=1e-6)
    soc = ds["battery_soc"].values
    assert soc.min() >= battery.soc_min - 1e-9
    assert soc.max() <= battery.soc_max + 1e-9
    assert soc[-1] == pytest.approx(battery.initial_soc, abs=1e-6)
    # the window was used: full to soc_max before the evening, then back to the start
    assert soc[71] == pytest.approx(battery.soc_max, abs=1e-6)
    # charging stays within the contract capacity (the demo load leaves < 1 MW of headroom)
    assert float(ds["grid_power"].max()) <= facility.grid.contract_capacity * (1 + 1e-9)
    assert find_violations(facility, ds) == []


def test_battery_idle_when_arbitrage_does_not_pay(demo_day: DemoDay) -> None:
    """54 USD/MWh · η_rt (0.899) < 50 USD/MWh: discharging would lose money."""
    facility, series = demo_day
    steps = series.sizes["time"]
    price = np.full(steps, 52.0)
    price[8:24] = 50.0
    price[72:84] = 54.0
    result = rule_based(facility, _flat_series(series, price))
    assert np.all(result.schedule.battery_power == 0.0)
    assert any("battery idle" in note for note in result.notes)


def test_charge_below_peak_sets_no_new_peak(demo_day: DemoDay) -> None:
    facility, series = demo_day
    result = rule_based(facility, series, charge_below_peak=True)
    schedule = result.schedule
    idle = dataclasses.replace(schedule, battery_power=np.zeros_like(schedule.battery_power))
    peak_idle = float(simulate(facility, idle, series, per_rack=False)["grid_power"].max())
    ds = simulate(facility, schedule, series, per_rack=False)
    assert np.any(schedule.battery_power > 0) and np.any(schedule.battery_power < 0)
    assert float(ds["grid_power"].max()) <= peak_idle * (1 + 1e-9)


def test_lowest_setpoint_and_note_when_nothing_is_safe(demo_day: DemoDay) -> None:
    facility, series = demo_day
    strict = dataclasses.replace(facility, inlet_limit=15.0)
    result = rule_based(strict, series)
    assert result.supply_temperature == float(facility.units.supply_temperature_min.min())
    assert any("even at the lowest" in note for note in result.notes)


def test_chilled_water_lowered_for_the_cdu_coolant_limit(demo_day: DemoDay) -> None:
    facility, series = demo_day
    cdus = dataclasses.replace(facility.cdus, max_supply_temperature=np.array([16.0, 16.0]))
    tight = dataclasses.replace(facility, cdus=cdus)
    result = rule_based(tight, series)
    ds = simulate(tight, result.schedule, series, per_rack=False)
    coolant = ds["cdu_supply_temperature"].values
    assert coolant.max() == pytest.approx(16.0)  # the limit binds exactly
    assert result.chilled_water_temperature < result.supply_temperature - 4.0
    assert find_violations(tight, ds) == []


def test_tolerance_must_be_positive(demo_day: DemoDay) -> None:
    facility, series = demo_day
    with pytest.raises(ValueError, match="tolerance"):
        rule_based(facility, series, tolerance=0.0)
