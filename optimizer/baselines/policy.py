"""Baselines every plan is compared with: *as operated* and *rule-based*.

*As operated* (:func:`as_operated`) is the facility run as it is today: the scenario's fixed
setpoints, every tier 3 job starting at its release at full power, the battery idle.

*Rule-based* (:func:`rule_based`) is the strongest simple policy a facility engineer would
script without an optimizer, with the physics at hand to check it:

1. **Flexible work** (:mod:`optimizer.baselines.work`).  Tier 1 stays on its profile.  Each
   tier 3 job runs at one flat power over its window ``[release, deadline)``, skipping the
   dearest steps (by the effective price, :func:`effective_price`) as long as the energy saved
   pays for the higher power and billing peak, between its minimum and maximum power; it
   pauses during demand-response events unless its deadline needs them.  Energy that fits
   after the horizon end (deadline beyond it) waits; a job that cannot meet its deadline runs
   at full power from its release (least lateness) and a note says so.  Tier 2 stays on its
   profile unless a demand-response cap is at risk: then its work waits through the event
   (within ``max_delay``) and catches up after.
2. **Cooling** (:mod:`optimizer.baselines.cooling`).  One static supply air setpoint for all
   cooling units (clipped into each unit's bounds): the highest for which the
   physics-verified hottest rack inlet over the horizon stays at or below the inlet limit,
   found by bisection on :func:`physics.simulate.simulate`.  The chilled water setpoint is
   then the highest allowed by the coil approach of every unit, the plant bounds, the liquid
   class facility water limit and the CDUs' coolant supply limits.
3. **Battery** (:mod:`optimizer.baselines.battery`).  It discharges whatever the import
   would have above the contract capacity, a demand-response cap or a peak-shaving threshold
   (the cheapest of a few, from the lowest the battery can hold to the peak), having charged
   for it beforehand in cheap steps without lifting the import above those limits; the room
   left goes to daily price arbitrage.  A grid import already billed this billing period
   (the plan state's ``peak_so_far_kw``) costs nothing more: the threshold never goes below
   it and charging may use the room up to it.  The state of charge stays in its window (checked
   with :func:`physics.battery.integrate_soc`) and the horizon ends at the initial state of
   charge, so the baseline gets no free energy.
4. **Check.**  The final schedule is simulated; a demand-response cap or the contract
   capacity that still breaks is reported in the notes.

Prices are in currency/MWh (the unit of the ``price`` series), energies in J, powers in W,
temperatures in °C, times in s.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from optimizer.accounting import billed_before
from optimizer.baselines.battery import battery_dispatch, import_limit
from optimizer.baselines.cooling import highest_chilled_water, highest_safe_supply, unit_setpoints
from optimizer.baselines.work import flexible_work
from optimizer.blocks.options import ModelOptions
from optimizer.state import PlanState
from physics.constants import WATTS_PER_KILOWATT
from physics.electrical.shared import shared_chain_passes
from physics.facility import Facility
from physics.schedule import Schedule, as_operated_schedule, step_seconds
from physics.simulate import simulate

__all__ = ["RuleBasedResult", "as_operated", "effective_price", "rule_based"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class RuleBasedResult:
    """The rule-based baseline.

    Attributes
    ----------
    schedule
        Setpoints, battery power and workload power over the horizon.
    supply_temperature
        The static supply air setpoint found, before clipping into each unit's bounds [°C].
    chilled_water_temperature
        The static chilled (and CDU facility) water setpoint [°C].
    notes
        Plain-language remarks: rules that could not be met and choices made instead.
    result
        :func:`physics.simulate.simulate` of :attr:`schedule` over the series, facility-level
        output only (``per_rack=False``): the check of the import limits made it; reuse it
        instead of simulating the same schedule again.
    """

    schedule: Schedule
    supply_temperature: float
    chilled_water_temperature: float
    notes: list[str] = field(default_factory=list)
    result: xr.Dataset | None = None


RAMP_LIMITS = ModelOptions().ramps
"""Default setpoint ramp limits of the plan: supply air and chilled water [K per step]."""


def _rate_limited(target: FloatArray, start: FloatArray, limit: float) -> FloatArray:
    """``target`` (T, …) followed from ``start`` (…) moving at most ``limit`` per step."""
    out = np.array(target, dtype=float, copy=True)
    previous = np.asarray(start, dtype=float)
    for t in range(out.shape[0]):
        previous = np.clip(out[t], previous - limit, previous + limit)
        out[t] = previous
    return out


def from_setpoints_in_force(
    facility: Facility,
    schedule: Schedule,
    state: PlanState | None,
    ramps: tuple[float, float] = RAMP_LIMITS,
) -> Schedule:
    """``schedule`` with its setpoints reached from those in force at the ramp limits.

    From the state's supply air setpoint of each unit and its chilled water setpoint [°C],
    each step moves toward the schedule's setpoints by at most the ramp limits, as the plan's
    must (:func:`optimizer.verify.ramp_violations`).  Units the state does not name, and a
    state without setpoints, start on the schedule.

    Parameters
    ----------
    facility
        Compiled facility.
    schedule
        The baseline's schedule [°C setpoints].
    state
        The state the horizon starts from, or None (the schedule is returned unchanged).
    ramps
        Ramp limits of the supply air and the chilled water setpoints [K per step].

    Returns
    -------
    physics.schedule.Schedule
    """
    if state is None:
        return schedule
    supply = np.asarray(schedule.supply_temperature, dtype=float)
    chilled = np.asarray(schedule.chilled_water_temperature, dtype=float)
    if state.supply_temperature and supply.size:
        now = np.array(
            [
                state.supply_temperature.get(unit, supply[0, u])
                for u, unit in enumerate(facility.units.ids)
            ]
        )
        supply = _rate_limited(supply, now, ramps[0])
    if state.chilled_water_temperature is not None and chilled.size:
        chilled = _rate_limited(chilled, np.asarray(state.chilled_water_temperature), ramps[1])
    return dataclasses.replace(
        schedule, supply_temperature=supply, chilled_water_temperature=chilled
    )


def as_operated(
    facility: Facility,
    series: xr.Dataset,
    state: PlanState | None = None,
    ramps: tuple[float, float] = RAMP_LIMITS,
) -> Schedule:
    """The as-operated baseline (see :func:`physics.schedule.as_operated_schedule`).

    Fixed setpoints from the scenario, tier 1/2 workloads on their profiles, each tier 3 job
    starting at its release at full power until its energy is delivered, battery idle.  From
    a state, the fixed setpoints are reached from those in force at the ramp limits
    (:func:`from_setpoints_in_force`).

    Parameters
    ----------
    facility
        Compiled facility (from the state: :func:`optimizer.state.apply_state`).
    series
        Exogenous series on the horizon's regular UTC ``time`` axis.
    state
        The state the horizon starts from (its setpoints in force), or None.
    ramps
        Ramp limits of the supply air and the chilled water setpoints [K per step].

    Returns
    -------
    physics.schedule.Schedule
    """
    return from_setpoints_in_force(facility, as_operated_schedule(facility, series), state, ramps)


def effective_price(facility: Facility, series: xr.Dataset) -> FloatArray:
    """Energy price plus the carbon price of the grid's emissions and any demand-response
    credit [currency/MWh].

    ``price`` [currency/MWh] + ``carbon_price`` [currency/kg] × ``carbon_intensity`` [g/kWh]
    (g/kWh equals kg/MWh, so the product is in currency/MWh) + 1,000 × ``dr_credit``
    [currency/kWh] during paid demand-response events.  A missing series counts as zero.

    Parameters
    ----------
    facility
        Compiled facility (for the carbon price).
    series
        Exogenous series with optional ``price`` [currency/MWh] and ``carbon_intensity``
        [g/kWh].

    Returns
    -------
    numpy.ndarray
        Effective price per step [currency/MWh], shape (T,).
    """
    steps = series.sizes["time"]
    price = np.zeros(steps)
    if "price" in series:
        price = price + np.asarray(series["price"].values, dtype=float)
    if "carbon_intensity" in series:
        intensity = np.asarray(series["carbon_intensity"].values, dtype=float)
        price = price + facility.grid.carbon_price * intensity
    if "dr_credit" in series:  # a kWh not imported during a paid event also earns its credit
        credit = np.asarray(series["dr_credit"].values, dtype=float)
        price = price + np.nan_to_num(credit) * 1e3  # currency/kWh -> currency/MWh
    return price


def rule_based(
    facility: Facility,
    series: xr.Dataset,
    *,
    tolerance: float = 0.05,
    charge_below_peak: bool = True,
    state: PlanState | None = None,
    ramps: tuple[float, float] = RAMP_LIMITS,
) -> RuleBasedResult:
    """The rule-based baseline: flat work off the dearest hours, safe setpoints, battery rules.

    See the module docstring for the rules.  Every temperature decision is checked with
    :func:`physics.simulate.simulate`; the battery's state of charge with
    :func:`physics.battery.integrate_soc`.

    Parameters
    ----------
    facility
        Compiled facility.
    series
        Exogenous series on a regular UTC ``time`` axis: weather as
        :func:`physics.simulate.simulate` needs it, the tier 1/2 profiles, ``price``
        [currency/MWh] and optionally ``carbon_intensity`` [g/kWh], ``pv_capacity_factor``
        [-] and ``dr_import_cap`` [W].
    tolerance
        Width of the final bisection bracket of the supply air setpoint [K]; the setpoint found
        is within ``tolerance`` of the highest safe one.
    charge_below_peak
        Peak shaving (with a demand charge), and charging never lifts the grid import above
        the peak-shaving threshold, at most the horizon's peak without the battery (default:
        a sensible operator would not pay a demand charge to charge).  With ``False`` there
        is no peak shaving and charging is limited only by the battery power, the contract
        capacity and demand-response caps (the naive rule, which on the demo hall raises the
        peak to the contract limit).
    state
        The state the horizon starts from, as a plan from it sees it: ``facility`` must
        already carry its work done and battery SOC (:func:`optimizer.state.apply_state`);
        its billing peak so far [kW] is the floor of the peak the work and battery rules
        weigh (a peak already billed costs nothing more), and its setpoints in force are
        where the static setpoints are ramped from (:func:`from_setpoints_in_force`).  None:
        a clean start.
    ramps
        Ramp limits of the supply air and the chilled water setpoints [K per step].

    Returns
    -------
    RuleBasedResult
        The schedule, the static setpoints found [°C] and notes.

    Raises
    ------
    ValueError
        If ``tolerance`` is not positive or the time axis is not regular.
    """
    if not tolerance > 0.0:
        raise ValueError(f"tolerance must be > 0 K, got {tolerance}")
    # one workload at several setpoints: the simulations share their electrical chain passes
    # at identical rack power (the fan iteration's first pass), the same results bit for bit
    with shared_chain_passes(facility):
        return _rule_based(facility, series, tolerance, charge_below_peak, state, ramps)


def _rule_based(
    facility: Facility,
    series: xr.Dataset,
    tolerance: float,
    charge_below_peak: bool,
    state: PlanState | None,
    ramps: tuple[float, float],
) -> RuleBasedResult:
    """The body of :func:`rule_based` (parameters and result as there)."""
    time = series["time"].values
    steps = time.size
    step = step_seconds(time)
    notes: list[str] = []
    price = effective_price(facility, series)
    if "price" not in series:
        notes.append("the series has no price: flexible work and battery follow carbon only")

    billed = billed_before(facility, time, state)  # [W]
    workload_power = flexible_work(
        facility, series, price, step, notes, billed_floor=float(billed.min())
    )

    units = facility.units
    if units.count == 0:
        supply_found = float("nan")
        supply = np.zeros((steps, 0))
    else:
        supply_found = highest_safe_supply(facility, series, workload_power, tolerance, notes)
        supply = np.tile(unit_setpoints(facility, supply_found), (steps, 1))

    base = Schedule(
        supply_temperature=supply,
        chilled_water_temperature=np.full(steps, facility.chilled_water_temperature),
        battery_power=np.zeros(steps),
        workload_power=workload_power,
    )
    chilled, verified = highest_chilled_water(facility, series, base, notes)
    base = dataclasses.replace(base, chilled_water_temperature=np.full(steps, chilled))

    battery_power = np.zeros(steps)
    if facility.battery is not None:
        battery_power = battery_dispatch(
            facility,
            series,
            verified,
            price,
            step,
            notes,
            charge_below_peak=charge_below_peak,
            billed=billed,
        )
    schedule = dataclasses.replace(base, battery_power=battery_power)
    ramped = from_setpoints_in_force(facility, schedule, state, ramps)
    moved = np.flatnonzero(
        np.any(ramped.supply_temperature != schedule.supply_temperature, axis=-1)
        | (ramped.chilled_water_temperature != schedule.chilled_water_temperature)
    )
    if moved.size:
        notes.append(
            f"setpoints ramped from those in force over the first {int(moved.max()) + 1} "
            f"step(s) (at most {ramps[0]:g} K per step supply air, {ramps[1]:g} K chilled water)"
        )
    schedule = ramped
    result = _check_limits(facility, series, schedule, notes)
    return RuleBasedResult(
        schedule=schedule,
        supply_temperature=supply_found,
        chilled_water_temperature=chilled,
        notes=notes,
        result=result,
    )


def _check_limits(
    facility: Facility, series: xr.Dataset, schedule: Schedule, notes: list[str]
) -> xr.Dataset:
    """Note the steps where the simulated grid import breaks its cap or the contract; return
    the simulation (facility-level output)."""
    ds = simulate(facility, schedule, series, per_rack=False)
    grid = np.asarray(ds["grid_power"].values, dtype=float)
    limit = import_limit(facility, series)
    over = grid - limit
    broken = over > 1e-6 * np.maximum(limit, 1.0)
    if not np.any(broken):
        return ds
    in_event = np.isfinite(series["dr_import_cap"].values) if "dr_import_cap" in series else None
    what = (
        "demand-response cap"
        if in_event is not None and bool(np.all(in_event[broken]))
        else "import limit (contract capacity or demand-response cap)"
    )
    notes.append(
        f"the grid import still breaks its {what} at {int(broken.sum())} step(s), by up to "
        f"{float(over[broken].max()) / WATTS_PER_KILOWATT:.0f} kW: the flexible work and the "
        "battery cannot hold it"
    )
    return ds
