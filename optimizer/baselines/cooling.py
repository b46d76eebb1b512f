"""Rule-based cooling: the highest safe static supply air and chilled water setpoints.

Temperatures in °C; every decision is verified with :func:`physics.simulate.simulate`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from optimizer.curve_range import chilled_water_ceiling, chilled_water_floor
from physics.facility import Facility
from physics.liquid.cdu import FACILITY_LOOP
from physics.schedule import Schedule
from physics.simulate import hottest_inlet, simulate

__all__ = ["highest_chilled_water", "highest_safe_supply", "unit_setpoints"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_MAX_REPRESENTATIVE_STEPS = 48
"""Bound on the steps simulated during the setpoint bisection (then confirmed on all steps)."""
_PREDICTED_ROUNDS = 3
"""Rounds of predicted halvings in :func:`_bisect_supply` before it simulates each one."""

Bracket = tuple[float, float]
"""A bisection bracket (safe lower end, unsafe upper end) [°C]."""


def unit_setpoints(facility: Facility, supply: float) -> FloatArray:
    """One static supply air setpoint clipped into each unit's bounds [°C], shape (U,)."""
    units = facility.units
    return np.clip(supply, units.supply_temperature_min, units.supply_temperature_max)


def _representative_steps(workload_power: FloatArray) -> IntArray:
    """Steps whose workload power is not dominated by another step's (the hottest candidates).

    Rack power, hence every rack inlet, rises with the power of each workload, so the hottest
    inlet over the horizon occurs at a step on this Pareto front.  The front is bounded to
    :data:`_MAX_REPRESENTATIVE_STEPS` steps (highest IT load first, plus each workload's
    peak); the full horizon is checked afterwards anyway.
    """
    unique, first_index = np.unique(workload_power, axis=0, return_index=True)
    count = unique.shape[0]
    dominated = np.zeros(count, dtype=bool)
    for lo in range(0, count, 256):  # chunks keep the (chunk, count, J) comparison small
        block = unique[lo : lo + 256]
        geq = np.all(unique[np.newaxis, :, :] >= block[:, np.newaxis, :], axis=2)
        gt = np.any(unique[np.newaxis, :, :] > block[:, np.newaxis, :], axis=2)
        dominated[lo : lo + 256] = np.any(geq & gt, axis=1)
    front = first_index[~dominated]
    if front.size > _MAX_REPRESENTATIVE_STEPS:
        total = workload_power[front].sum(axis=1)
        peaks = np.argmax(workload_power, axis=0)
        keep = front[np.argsort(-total, kind="stable")[:_MAX_REPRESENTATIVE_STEPS]]
        front = np.union1d(keep, peaks)
    return np.sort(front).astype(np.int64)


def _subset(series: xr.Dataset, index: IntArray) -> xr.Dataset:
    """The steps ``index`` of ``series`` on a regular time axis (the simulation needs one)."""
    sub = series.isel(time=index)
    return sub.assign_coords(time=series["time"].values[: index.size])


def _max_inlet(
    facility: Facility, series: xr.Dataset, workload_power: FloatArray, supply: float
) -> float:
    """Hottest rack inlet over the steps of ``series`` at a static setpoint [°C]."""
    steps = series.sizes["time"]
    schedule = Schedule(
        supply_temperature=np.tile(unit_setpoints(facility, supply), (steps, 1)),
        chilled_water_temperature=np.full(steps, facility.chilled_water_temperature),
        battery_power=np.zeros(steps),
        workload_power=workload_power,
    )
    return hottest_inlet(facility, schedule, series)


def _bracket(low: float, high: float, tolerance: float, safe: Callable[[float], bool]) -> Bracket:
    """The final bracket of the bisection of [low, high] under the predicate ``safe``."""
    while high - low > tolerance:
        middle = 0.5 * (low + high)
        if safe(middle):
            low = middle
        else:
            high = middle
    return low, high


def _bisect_supply(
    facility: Facility,
    series: xr.Dataset,
    workload_power: FloatArray,
    low: float,
    high: float,
    tolerance: float,
) -> tuple[float, bool]:
    """Highest safe setpoint in [low, high] and whether ``low`` itself is safe.

    The answer of the plain bisection (halve [low, high] until it is ``tolerance`` wide,
    keeping the safe half), found with fewer simulations.  The hottest inlet rises with the
    setpoint, so the hottest inlets simulated so far predict which way each halving goes
    (first at 1 K per K from the safe end, then along the line through the two setpoints
    simulated nearest); the predicted final bracket is simulated at both ends and, while an
    end disagrees, predicted again with the new points.  Once its lower end is safe and its
    upper end is not, every setpoint the plain bisection would simulate lies at or below
    the one or at or above the other, so it takes the same halvings and returns the same
    setpoint (bit for bit: the same midpoints, computed the same way).  Four or five
    simulations instead of ten; after :data:`_PREDICTED_ROUNDS` rounds the remaining
    halvings are simulated one by one, as the plain bisection does.
    """
    limit = facility.inlet_limit
    hottest: dict[float, float] = {}  # setpoint [°C] -> hottest inlet simulated there [°C]

    def simulated(value: float) -> float:
        if value not in hottest:
            hottest[value] = _max_inlet(facility, series, workload_power, value)
        return hottest[value]

    if simulated(high) <= limit:
        return high, True
    if simulated(low) > limit:
        return low, False

    def predicted(value: float) -> bool:
        if value in hottest:
            return hottest[value] <= limit
        if len(hottest) == 2:
            # first guess: every inlet mixes the supply air one for one (the mixing matrix's
            # rows sum to one), so the hottest inlet rises 1 K per K from the safe end
            return hottest[low] + (value - low) <= limit
        # then the line through the two setpoints simulated nearest to ``value`` (the local
        # slope near the limit: steeper than 1 once server fans speed up above their knee)
        (a, fa), (b, fb) = sorted(hottest.items(), key=lambda item: abs(item[0] - value))[:2]
        return fa + (fb - fa) * (value - a) / (b - a) <= limit

    for attempt in range(_PREDICTED_ROUNDS + 1):
        found, above = _bracket(low, high, tolerance, predicted)
        if found in hottest and above in hottest:
            return found, True
        if attempt == _PREDICTED_ROUNDS:
            break
        simulated(found)
        simulated(above)
    found, _ = _bracket(low, high, tolerance, lambda value: simulated(value) <= limit)
    return found, True


def highest_safe_supply(
    facility: Facility,
    series: xr.Dataset,
    workload_power: FloatArray,
    tolerance: float,
    notes: list[str],
) -> float:
    """Highest static supply setpoint keeping every inlet within the limit [°C]."""
    units = facility.units
    high = float(units.supply_temperature_max.max())
    # no colder than the lower inlet limit: every inlet is at least the coldest supply
    low = min(max(float(units.supply_temperature_min.min()), facility.inlet_lower_limit), high)
    index = _representative_steps(workload_power)
    representative = index.size < series.sizes["time"]
    index = np.repeat(index, 2) if index.size < 2 else index  # a simulation needs two steps
    found, ok = _bisect_supply(
        facility, _subset(series, index), workload_power[index], low, high, tolerance
    )
    # confirm on the full horizon; bisect again below the candidate if it fails there
    if (
        ok
        and representative
        and _max_inlet(facility, series, workload_power, found) > facility.inlet_limit
    ):
        found, ok = _bisect_supply(facility, series, workload_power, low, found, tolerance)
    if not ok:
        hottest = _max_inlet(facility, series, workload_power, low)
        notes.append(
            f"rack inlets exceed the {facility.inlet_limit:.1f} °C limit even at the lowest "
            f"supply air setpoint {low:.1f} °C (hottest inlet {hottest:.2f} °C); the lowest "
            "setpoint is used"
        )
    elif found >= high:
        notes.append(f"the supply air setpoint is at the units' maximum {high:.1f} °C")
    return found


def _case_limit(
    facility: Facility,
    ds: xr.Dataset,
    chilled: float,
    limits: list[tuple[float, str]],
    notes: list[str],
) -> float:
    """The chilled water lowered until the cold-plate cases keep their limit [°C].

    A case on a chilled-water CDU moves one for one with the chilled water at fixed flows
    and loads, so the highest setpoint is the one ``ds`` was simulated at plus the hall's
    smallest case margin (conservative when some plated racks sit on the warm-water loop).
    Racks only on the warm-water loop are out of the rule's reach (it moves neither the
    loop setpoint nor the work): a note says by how much they break their limit.
    """
    racks, cdus = facility.racks, facility.cdus
    plated = (racks.cold_plate >= 0) & (racks.cdu >= 0)
    if not plated.any() or "min_case_margin" not in ds:
        return chilled
    margin = float(ds["min_case_margin"].min())
    if margin >= 0.0:
        return chilled
    if np.any(cdus.loop[racks.cdu[plated]] != FACILITY_LOOP):
        allowed = float(ds["chilled_water_temperature"].values[0]) + margin
        if allowed < chilled:
            limits.append((allowed, "the cold-plate case temperature limit"))
            return allowed
        return chilled
    notes.append(
        f"cold-plate cases on the warm-water loop exceed their limit by up to {-margin:.2f} K: "
        "the rule moves neither the loop setpoint nor the work to keep them (the plan's case "
        "rows do)"
    )
    return chilled


def highest_chilled_water(
    facility: Facility, series: xr.Dataset, schedule: Schedule, notes: list[str]
) -> tuple[float, xr.Dataset]:
    """Highest allowed static chilled water setpoint [°C] and the simulation verifying it.

    Allowed: within the plant's bounds, the coil approach of the coldest supply, the liquid
    limits and, wherever the chillers run, the chiller curves' fitted range
    (:func:`optimizer.curve_range.chilled_water_ceiling`)."""
    units, cdus = facility.units, facility.cdus
    low, high = facility.chilled_water_temperature_bounds
    limits = [(float(high), "the plant's upper chilled water bound")]
    if units.count:
        coil = schedule.supply_temperature[0] - units.coil_approach
        worst = int(np.argmin(coil))
        limits.append((float(coil[worst]), f"{units.ids[worst]}'s coil approach"))
    if np.any(cdus.loop != FACILITY_LOOP):
        limits.append((facility.facility_water_limit, "the liquid class facility water limit"))
    steps = schedule.battery_power.size
    chilled = min(value for value, _ in limits)
    ds = simulate(
        facility,
        dataclasses.replace(schedule, chilled_water_temperature=np.full(steps, chilled)),
        series,
        per_rack=False,
    )
    on_chilled = cdus.loop != FACILITY_LOOP
    if np.any(on_chilled):
        # coolant supply = facility water + approach × load fraction, the load does not depend
        # on the water temperature: the highest water temperature follows in closed form
        active = (cdus.capacity > 0) & on_chilled
        fraction = ds["cdu_load"].values.max(axis=0) / np.where(active, cdus.capacity, 1.0)
        allowed = np.where(active, cdus.max_supply_temperature - cdus.approach * fraction, np.inf)
        worst = int(np.argmin(allowed))
        if allowed[worst] < chilled:
            chilled = float(allowed[worst])
            limits.append((chilled, f"{cdus.ids[worst]}'s coolant supply limit"))
    # a static setpoint keeps the chiller curves in their fitted range at every step
    ceiling = float(chilled_water_ceiling(facility, ds["wet_bulb_temperature"].values).min())
    if ceiling < chilled:
        chilled = max(ceiling, chilled_water_floor(facility))
        limits.append((chilled, "the chiller curves' fitted range"))
    chilled = _case_limit(facility, ds, chilled, limits, notes)
    binding = min(limits, key=lambda item: item[0])
    if chilled < low:
        notes.append(
            f"{binding[1]} needs chilled water at or below {chilled:.2f} °C, under the plant's "
            f"lowest setpoint {low:.1f} °C; the lowest setpoint is used"
        )
        chilled = float(low)
    if chilled != float(ds["chilled_water_temperature"].values[0]):
        ds = simulate(
            facility,
            dataclasses.replace(schedule, chilled_water_temperature=np.full(steps, chilled)),
            series,
            per_rack=False,
        )
    return chilled, ds
