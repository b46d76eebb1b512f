"""Baselines: as operated, and the rule-based setpoints, flexible work and battery rules."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import xarray as xr

from optimizer.baselines import RuleBasedResult, as_operated, cooling, effective_price, rule_based
from optimizer.curve_range import chilled_water_ceiling
from physics.battery import integrate_soc
from physics.facility import Facility
from physics.schedule import Schedule, as_operated_schedule
from physics.simulate import simulate, summarize
from physics.violations import find_violations
from tests.helpers import demo_hall_dict, facility_and_series, with_warm_chiller

DemoDay = tuple[Facility, xr.Dataset]


pytestmark = pytest.mark.xdist_group("baselines")  # module fixtures built once


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
    # demo hall: the coil approach binds unless the plant's 20 °C maximum does (W32 is higher)
    # or, where the chillers run, the upper limit of the chiller curves (12.78 °C, McQuay):
    # on the demo day the economizer never carries the whole load, so the curves bind
    ceiling = chilled_water_ceiling(facility, demo_rule.result["wet_bulb_temperature"].values)
    highest = min(
        supply - float(facility.units.coil_approach.max()),
        facility.chilled_water_temperature_bounds[1],
        float(ceiling.min()),
    )
    assert highest == pytest.approx(12.78)
    assert chilled == pytest.approx(highest)
    np.testing.assert_allclose(result.schedule.chilled_water_temperature, chilled)


@pytest.fixture(scope="module")
def oversized_day() -> DemoDay:
    """The demo day with the demo week's whole jobs (60 and 25 MWh) due by its end: neither
    fits, both run all day at full power in every schedule."""
    data = demo_hall_dict(1)
    for work in data["workloads"]:
        if work["id"] == "llm-pretraining":
            work["energy"] = "60000 kWh"
        elif work["id"] == "finetune-batch":
            work["energy"] = "25000 kWh"
    return facility_and_series(data)


def test_rule_based_demo_day_is_verified_and_cheaper(oversized_day: DemoDay) -> None:
    """Verified by the physics: no violation, lower energy cost and cooling energy."""
    facility, series = oversized_day
    rule_ds = simulate(facility, rule_based(facility, series).schedule, series)
    base_ds = simulate(facility, as_operated(facility, series), series)
    assert find_violations(facility, rule_ds) == []
    assert find_violations(facility, base_ds) == []
    rule, base = summarize(rule_ds), summarize(base_ds)
    assert rule["energy_cost"] < base["energy_cost"]
    assert rule["cooling_energy_kwh"] < base["cooling_energy_kwh"]
    assert rule["carbon_kg"] < base["carbon_kg"]
    # same IT work: the demo day's tier 3 jobs do not fit before their deadline, both run all day
    np.testing.assert_allclose(rule_ds["workload_power"], base_ds["workload_power"])


def _only_job(facility: Facility, name: str, **changes: object) -> tuple[Facility, int]:
    """``facility`` with tier 3 job ``name`` changed and every other tier 3 job emptied."""
    work = facility.workloads
    for other in np.flatnonzero(work.tier == 3):
        if work.ids[other] != name:
            facility = _with_tier3(facility, int(other), energy=0.0)
    job = work.ids.index(name)
    return _with_tier3(facility, job, **changes), job


def _steady(series: xr.Dataset, price: np.ndarray) -> xr.Dataset:
    """``series`` with a constant inference load and weather (a flat load), ``price``."""
    steps = series.sizes["time"]
    return _flat_series(series, price).assign(
        cpu_load=("time", np.full(steps, 0.6)),
        outdoor_temperature=("time", np.full(steps, 25.0)),
        relative_humidity=("time", np.full(steps, 50.0)),
    )


def _with_event(series: xr.Dataset, steps: slice, cap: float) -> xr.Dataset:
    """``series`` with a demand-response event (import cap ``cap`` [W]) over ``steps``."""
    dr = np.full(series.sizes["time"], np.nan)
    dr[steps] = cap
    return series.assign(dr_import_cap=("time", dr))


def _without_battery_power(schedule: Schedule) -> Schedule:
    return dataclasses.replace(schedule, battery_power=np.zeros_like(schedule.battery_power))


def test_tier3_job_runs_flat_skipping_the_dearest_hours(demo_day: DemoDay) -> None:
    """Flat load, a demand charge of 3.5 USD/kW: the job runs at one flat power in every step
    but the four dear ones (skipping them saves more than the higher power adds to the peak;
    at the demo's 15 USD/kW-month it would not)."""
    facility, series = demo_day
    facility = dataclasses.replace(
        facility, grid=dataclasses.replace(facility.grid, demand_charge=3.5 / 1e3)
    )
    steps, step = series.sizes["time"], 900.0
    price = np.full(steps, 30.0)
    price[72:76] = 500.0  # a dear evening hour
    facility, job = _only_job(facility, "llm-pretraining")
    max_power = float(facility.workloads.max_power[job])
    facility = _with_tier3(facility, job, energy=0.5 * max_power * steps * step)
    result = rule_based(facility, _steady(series, price))
    power = result.schedule.workload_power[:, job]
    np.testing.assert_allclose(power[72:76], 0.0)
    running = np.delete(power, np.arange(72, 76))
    np.testing.assert_allclose(running, 0.5 * max_power * steps / (steps - 4), rtol=1e-6)
    assert power.sum() * step == pytest.approx(0.5 * max_power * steps * step)


def test_tier3_job_without_demand_charge_takes_the_cheapest_steps(demo_day: DemoDay) -> None:
    """No demand charge: the dearest steps are dropped as long as the rest can still deliver
    the energy at the maximum power, so 10 steps of work land on the 10 cheapest steps."""
    facility, series = demo_day
    steps, step = series.sizes["time"], 900.0
    facility = dataclasses.replace(
        facility, grid=dataclasses.replace(facility.grid, demand_charge=0.0)
    )
    facility, job = _only_job(facility, "llm-pretraining")
    max_power = float(facility.workloads.max_power[job])
    facility = _with_tier3(facility, job, energy=10 * max_power * step)
    price = np.linspace(100.0, 50.0, steps)  # cheapest last
    price[30:40] = 10.0
    price[70:80] = 5.0  # cheaper, but after the deadline below
    facility = _with_tier3(facility, job, deadline=series["time"].values[60])
    power = rule_based(facility, _flat_series(series, price)).schedule.workload_power[:, job]
    expected = np.zeros(steps)
    expected[30:40] = max_power
    np.testing.assert_allclose(power, expected, rtol=1e-9, atol=1e-6)


def test_tier3_job_never_runs_below_its_minimum_power(demo_day: DemoDay) -> None:
    """Flat over the whole day would be under the minimum power: it runs at (just above) the
    minimum in the cheapest steps instead, and still delivers all its energy."""
    facility, series = demo_day
    step = 900.0
    facility, job = _only_job(facility, "llm-pretraining")
    min_power = float(facility.workloads.min_power[job])
    facility = _with_tier3(facility, job, energy=20.5 * min_power * step)
    price = np.linspace(50.0, 100.0, series.sizes["time"])
    power = rule_based(facility, _steady(series, price)).schedule.workload_power[:, job]
    running = power > 0
    assert running.sum() == 20 and np.all(running[:20])
    assert power[running].min() >= min_power * (1 - 1e-9)
    assert power.sum() * step == pytest.approx(20.5 * min_power * step)


def test_tier3_work_is_delivered_by_its_deadline(demo_day: DemoDay) -> None:
    facility, series = demo_day
    step = 900.0
    time = series["time"].values
    facility, job = _only_job(facility, "finetune-batch")
    max_power = float(facility.workloads.max_power[job])
    facility = _with_tier3(
        facility, job, energy=20 * max_power * step, release=time[10], deadline=time[60]
    )
    result = rule_based(facility, series)
    power = result.schedule.workload_power[:, job]
    assert np.all(power[:10] == 0.0) and np.all(power[60:] == 0.0)
    assert power.sum() * step == pytest.approx(20 * max_power * step)
    assert power.max() <= max_power * (1 + 1e-9)
    assert not any("deadline" in note for note in result.notes)


def test_impossible_deadline_is_noted_and_least_late(demo_day: DemoDay) -> None:
    """20 steps of work between release (step 30) and a deadline at step 40: full power from
    release, the rest right after the deadline, and a note."""
    facility, series = demo_day
    step = 900.0
    time = series["time"].values
    facility, job = _only_job(facility, "llm-pretraining")
    max_power = float(facility.workloads.max_power[job])
    facility = _with_tier3(
        facility, job, energy=20 * max_power * step, release=time[30], deadline=time[40]
    )
    result = rule_based(facility, series)
    power = result.schedule.workload_power[:, job]
    np.testing.assert_allclose(power[30:50], max_power)
    assert np.all(power[:30] == 0.0) and np.all(power[50:] == 0.0)
    note = next(note for note in result.notes if note.startswith("llm-pretraining"))
    assert "deadline" in note and "late (least lateness)" in note


def test_deadline_after_the_horizon_delivers_only_what_cannot_wait(demo_day: DemoDay) -> None:
    """Deadline 6 h after the horizon end: of 10 h of work at full power, the 4 h that do not
    fit after the end are delivered here (rolling horizon)."""
    facility, series = demo_day
    step = 900.0
    end = series["time"].values[-1] + np.timedelta64(15, "m")
    facility, job = _only_job(facility, "llm-pretraining")
    max_power = float(facility.workloads.max_power[job])
    facility = _with_tier3(
        facility, job, energy=10 * 3600 * max_power, deadline=end + np.timedelta64(6, "h")
    )
    power = rule_based(facility, series).schedule.workload_power[:, job]
    assert power.sum() * step == pytest.approx(4 * 3600 * max_power)


def test_demand_response_pauses_work_and_the_battery_holds_the_cap(demo_day: DemoDay) -> None:
    """A 2 h event capped 300 kW under the import without the job: the job pauses, the battery
    pre-charges before the event and discharges through it; verified by the physics."""
    facility, series = demo_day
    step = 900.0
    battery = facility.battery
    assert battery is not None
    facility, job = _only_job(facility, "llm-pretraining")
    max_power = float(facility.workloads.max_power[job])
    facility = _with_tier3(facility, job, energy=40 * max_power * step)
    event = slice(68, 76)
    plain = rule_based(facility, series).schedule
    quiet = dataclasses.replace(
        _without_battery_power(plain), workload_power=plain.workload_power.copy()
    )
    quiet.workload_power[:, job] = 0.0
    load = simulate(facility, quiet, series, per_rack=False)["grid_power"].values
    cap = float(load[event].min()) - 300e3
    capped = _with_event(series, event, cap)
    result = rule_based(facility, capped)
    schedule = result.schedule
    assert np.all(schedule.workload_power[event, job] == 0.0)
    assert schedule.workload_power[:, job].sum() * step == pytest.approx(40 * max_power * step)
    ds = simulate(facility, schedule, capped)
    assert float(ds["grid_power"].values[event].max()) <= cap * (1 + 1e-9)
    assert np.all(schedule.battery_power[event] < 0)
    assert np.any(schedule.battery_power[: event.start] > 0)  # pre-charged
    assert ds["battery_soc"].values[-1] == pytest.approx(battery.initial_soc, abs=1e-6)
    assert find_violations(facility, ds) == []
    assert not any("still breaks" in note for note in result.notes)


def test_tier2_work_waits_through_an_event_that_breaks_the_cap(oversized_day: DemoDay) -> None:
    """A cap under the import: the analytics (2 h max delay) pause through the 1 h event and
    catch up right after, at full capacity; the same work is done."""
    facility, series = oversized_day
    work = facility.workloads
    analytics = work.ids.index("fraud-analytics")
    event = slice(60, 64)
    capped = _with_event(series, event, 1e6)
    result = rule_based(facility, capped)
    power = result.schedule.workload_power[:, analytics]
    profile = rule_based(facility, series).schedule.workload_power[:, analytics]
    np.testing.assert_allclose(power[event], 0.0)
    np.testing.assert_allclose(power[64:68], work.capacity[analytics])
    assert power.sum() == pytest.approx(profile.sum())
    assert any("fraud-analytics" in note and "waits" in note for note in result.notes)
    # the cap of 1 MW is far under the hall's load: the note says it still breaks
    assert any("still breaks its demand-response cap" in note for note in result.notes)


def test_peak_shaving_lowers_the_peak(demo_day: DemoDay) -> None:
    """With a chiller fitted up to 20 °C the rule's chilled water rides the economizer and
    the import has a daily cooling peak to shave.  (With the published McQuay curves the
    chilled water stays at 12.78 °C and the demo day's import is flat within 30 kW: the
    battery cannot shave 50 kW there for lack of hours to recharge.)"""
    facility, series = demo_day
    facility = with_warm_chiller(facility)
    result = rule_based(facility, series)
    with_battery = simulate(facility, result.schedule, series, per_rack=False)
    without = simulate(facility, _without_battery_power(result.schedule), series, per_rack=False)
    peak, peak_idle = float(with_battery["grid_power"].max()), float(without["grid_power"].max())
    assert peak < peak_idle - 50e3
    assert any("peak shaving" in note for note in result.notes)
    assert find_violations(facility, with_battery) == []


def test_battery_charges_cheap_discharges_dear(demo_day: DemoDay) -> None:
    """The naive rule (no peak shaving): charge in the cheap night, discharge in the dear
    evening, recharge after it in the cheapest steps left (60 USD/MWh still pays: 200 · η_d >
    60 / η_c + 2 · wear)."""
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
    assert np.all((price[charging] == 20.0) | (np.arange(steps)[charging] >= 84))
    assert np.all(price[discharging] == 200.0)
    # verified: the physics does not clip it further, SOC stays in its window, ends where it began
    ds = simulate(facility, result.schedule, synthetic, per_rack=False)
    np.testing.assert_allclose(ds["battery_power"], power, atol=1e-6)
    soc = ds["battery_soc"].values
    assert soc.min() >= battery.soc_min - 1e-9
    assert soc.max() <= battery.soc_max + 1e-9
    assert soc[-1] == pytest.approx(battery.initial_soc, abs=1e-6)
    # the window was used: full to soc_max before the evening, empty after it
    assert soc[71] == pytest.approx(battery.soc_max, abs=1e-6)
    assert soc[83] == pytest.approx(battery.soc_min, abs=1e-6)
    # charging stays within the contract capacity (the demo load leaves < 1 MW of headroom)
    assert float(ds["grid_power"].max()) <= facility.grid.contract_capacity * (1 + 1e-9)
    assert find_violations(facility, ds) == []


def test_battery_idle_when_arbitrage_does_not_pay(demo_day: DemoDay) -> None:
    """54 USD/MWh · η_rt (0.899) < 50 USD/MWh: discharging would lose money (no demand charge,
    so no peak shaving either)."""
    facility, series = demo_day
    facility = dataclasses.replace(
        facility, grid=dataclasses.replace(facility.grid, demand_charge=0.0)
    )
    steps = series.sizes["time"]
    price = np.full(steps, 52.0)
    price[8:24] = 50.0
    price[72:84] = 54.0
    result = rule_based(facility, _flat_series(series, price))
    assert np.all(result.schedule.battery_power == 0.0)
    assert any("battery idle" in note for note in result.notes)


@pytest.mark.parametrize("charge_below_peak", [True, False])
def test_battery_ends_at_its_initial_charge(demo_day: DemoDay, charge_below_peak: bool) -> None:
    """Real-looking prices (the demo day), with and without peak shaving: no free energy."""
    facility, series = demo_day
    battery = facility.battery
    assert battery is not None
    result = rule_based(facility, series, charge_below_peak=charge_below_peak)
    assert np.any(result.schedule.battery_power != 0.0)
    soc = integrate_soc(
        battery.initial_soc,
        result.schedule.battery_power,
        900.0,
        battery.capacity,
        battery.charge_efficiency,
        battery.discharge_efficiency,
        battery.soc_min,
        battery.soc_max,
        battery.power,
        battery.power,
    )
    assert not soc.clipped.any()
    assert soc.soc[-1] == pytest.approx(battery.initial_soc, abs=1e-9)


def test_charge_below_peak_sets_no_new_peak(demo_day: DemoDay) -> None:
    facility, series = demo_day
    result = rule_based(facility, series, charge_below_peak=True)
    schedule = result.schedule
    peak_idle = float(
        simulate(facility, _without_battery_power(schedule), series, per_rack=False)[
            "grid_power"
        ].max()
    )
    ds = simulate(facility, schedule, series, per_rack=False)
    assert np.any(schedule.battery_power > 0) and np.any(schedule.battery_power < 0)
    assert float(ds["grid_power"].max()) <= peak_idle * (1 + 1e-9)


def test_lowest_setpoint_and_note_when_nothing_is_safe(demo_day: DemoDay) -> None:
    facility, series = demo_day
    strict = dataclasses.replace(facility, inlet_limit=15.0, inlet_lower_limit=10.0)
    result = rule_based(strict, series)
    assert result.supply_temperature == float(facility.units.supply_temperature_min.min())
    assert any("even at the lowest" in note for note in result.notes)


def test_chilled_water_lowered_for_the_cdu_coolant_limit(demo_day: DemoDay) -> None:
    facility, series = demo_day
    # 14 °C: below the 12.78 °C chilled water the chiller curves allow plus the CDU approach
    cdus = dataclasses.replace(facility.cdus, max_supply_temperature=np.array([14.0, 14.0]))
    tight = dataclasses.replace(facility, cdus=cdus)
    result = rule_based(tight, series)
    ds = simulate(tight, result.schedule, series, per_rack=False)
    coolant = ds["cdu_supply_temperature"].values
    assert coolant.max() == pytest.approx(14.0)  # the limit binds exactly
    assert result.chilled_water_temperature < result.supply_temperature - 4.0
    assert find_violations(tight, ds) == []


def test_tolerance_must_be_positive(demo_day: DemoDay) -> None:
    facility, series = demo_day
    with pytest.raises(ValueError, match="tolerance"):
        rule_based(facility, series, tolerance=0.0)


def test_rule_based_result_is_the_simulation_of_its_schedule(
    demo_day: DemoDay, demo_rule: RuleBasedResult
) -> None:
    """The simulation the rule-based baseline returns (reused by the planner's baselines
    instead of a second run) is the facility-level simulation of its schedule, exactly."""
    facility, series = demo_day
    assert demo_rule.result is not None
    fresh = simulate(facility, demo_rule.schedule, series, per_rack=False)
    xr.testing.assert_identical(demo_rule.result, fresh)


def _plain_bisection(
    facility: Facility, series: xr.Dataset, power: np.ndarray, low: float, high: float
) -> tuple[float, bool, int]:
    """The plain bisection of the supply setpoint (tolerance 0.05 K): setpoint [°C], whether
    ``low`` is safe, and the simulations it ran."""
    runs = 0

    def safe(value: float) -> bool:
        nonlocal runs
        runs += 1
        return cooling._max_inlet(facility, series, power, value) <= facility.inlet_limit

    if safe(high):
        return high, True, runs
    if not safe(low):
        return low, False, runs
    while high - low > 0.05:
        middle = 0.5 * (low + high)
        low, high = (middle, high) if safe(middle) else (low, middle)
    return low, True, runs


@pytest.mark.parametrize("rounds", [cooling._PREDICTED_ROUNDS, 0])
@pytest.mark.parametrize("shift", [-9.0, -2.5, -0.3, 0.0, 0.7, 6.0])
def test_predicted_bisection_returns_the_plain_bisections_setpoint(
    demo_day: DemoDay, monkeypatch: pytest.MonkeyPatch, shift: float, rounds: int
) -> None:
    """Bit for bit the plain bisection's setpoint, at inlet limits ``shift`` K from the demo
    hall's (nothing safe at −9 K, everything at +6 K), with fewer simulations (with no
    predicted round: the plain bisection's own halvings)."""
    facility, series = demo_day
    facility = dataclasses.replace(facility, inlet_limit=facility.inlet_limit + shift)
    power = as_operated(facility, series).workload_power
    index = cooling._representative_steps(power)
    sub, power = cooling._subset(series, index), power[index]
    units = facility.units
    low, high = float(units.supply_temperature_min.min()), float(units.supply_temperature_max.max())
    expected, low_safe, plain_runs = _plain_bisection(facility, sub, power, low, high)
    runs: list[float] = []
    simulate_once = cooling._max_inlet

    def counted(*args: object) -> float:
        runs.append(args[-1])  # type: ignore[arg-type]
        return simulate_once(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(cooling, "_max_inlet", counted)
    monkeypatch.setattr(cooling, "_PREDICTED_ROUNDS", rounds)
    assert cooling._bisect_supply(facility, sub, power, low, high, 0.05) == (expected, low_safe)
    assert len(runs) == len(set(runs))  # no setpoint simulated twice
    if plain_runs > 2 and rounds:
        assert len(runs) <= plain_runs // 2
    else:
        assert len(runs) == plain_runs


def test_rule_based_is_the_same_with_its_chain_passes_shared(
    demo_day: DemoDay, demo_rule: RuleBasedResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The baseline's simulations share their electrical chain passes
    (:mod:`physics.electrical.shared`); with nothing kept (budget 0) every pass is computed
    and the baseline is the same bit for bit: schedule, setpoints, notes, simulation."""
    import physics.electrical.shared

    facility, series = demo_day
    monkeypatch.setattr(physics.electrical.shared, "SHARED_BYTES", 0)
    unshared = rule_based(facility, series)
    for name in ("supply_temperature", "chilled_water_temperature", "battery_power"):
        np.testing.assert_array_equal(
            getattr(unshared.schedule, name), getattr(demo_rule.schedule, name)
        )
    np.testing.assert_array_equal(
        unshared.schedule.workload_power, demo_rule.schedule.workload_power
    )
    assert unshared.supply_temperature == demo_rule.supply_temperature
    assert unshared.chilled_water_temperature == demo_rule.chilled_water_temperature
    assert unshared.notes == demo_rule.notes
    assert unshared.result is not None and demo_rule.result is not None
    xr.testing.assert_identical(unshared.result, demo_rule.result)
    assert unshared.result.attrs == demo_rule.result.attrs
