"""Baselines every plan is compared with: *as operated* and *rule-based*.

*As operated* (:func:`as_operated`) is the facility run as it is today: the scenario's fixed
setpoints, every tier 3 job starting at its release at full power, the battery idle.

*Rule-based* (:func:`rule_based`) is what a careful operator would do with simple rules and
the physics at hand, without an optimizer:

1. **Flexible work.**  Tier 1 and tier 2 workloads stay on their profiles.  Each tier 3 job
   runs at its maximum power in the cheapest rolling window (by the effective price, see
   :func:`effective_price`) of the length needed to deliver its energy, between its release
   and its deadline.
2. **Cooling.**  One static supply air setpoint for all cooling units (clipped into each
   unit's bounds): the highest for which the physics-verified hottest rack inlet over the
   horizon stays at or below the inlet limit, found by bisection on
   :func:`physics.simulate.simulate`.  The chilled water setpoint is then the highest allowed
   by the coil approach of every unit, the plant bounds, the liquid class facility water limit
   and the CDUs' coolant supply limits.
3. **Battery.**  For each 24 h block from the start, charge at full power in the cheapest
   steps and discharge at full power in the most expensive ones, as long as a discharge step
   pays for its charge (round-trip losses and wear included); the state of charge is
   integrated with :func:`physics.battery.integrate_soc` so it never leaves its window, and the
   horizon ends at the initial state of charge so the baseline gets no free energy.

Prices are in currency/MWh (the unit of the ``price`` series), energies in J, powers in W,
temperatures in °C, times in s.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from physics.constants import JOULES_PER_KWH, WATTS_PER_KILOWATT
from physics.facility import Facility
from physics.schedule import Schedule, as_operated_schedule, step_seconds, workload_profiles
from physics.simulate import simulate

__all__ = ["RuleBasedResult", "as_operated", "effective_price", "rule_based"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

JOULES_PER_MWH = 3.6e9
"""[J/MWh]"""

BLOCK_SECONDS = 86_400.0
"""Length of one battery arbitrage block, a day counted from the horizon start [s]."""

_MAX_REPRESENTATIVE_STEPS = 48
"""Bound on the steps simulated during the setpoint bisection (then confirmed on all steps)."""

_SOC_BALANCE_ROUNDS = 20
"""Bound on the passes that bring the final state of charge back to the initial one."""


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
    """

    schedule: Schedule
    supply_temperature: float
    chilled_water_temperature: float
    notes: list[str] = field(default_factory=list)


def as_operated(facility: Facility, series: xr.Dataset) -> Schedule:
    """The as-operated baseline (see :func:`physics.schedule.as_operated_schedule`).

    Fixed setpoints from the scenario, tier 1/2 workloads on their profiles, each tier 3 job
    starting at its release at full power until its energy is delivered, battery idle.

    Parameters
    ----------
    facility
        Compiled facility.
    series
        Exogenous series on the horizon's regular UTC ``time`` axis.

    Returns
    -------
    physics.schedule.Schedule
    """
    return as_operated_schedule(facility, series)


def effective_price(facility: Facility, series: xr.Dataset) -> FloatArray:
    """Energy price plus the carbon price of the grid's emissions [currency/MWh].

    ``price`` [currency/MWh] + ``carbon_price`` [currency/kg] × ``carbon_intensity`` [g/kWh];
    g/kWh equals kg/MWh, so the product is in currency/MWh.  A missing series counts as zero.

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
    return price


def rule_based(
    facility: Facility,
    series: xr.Dataset,
    *,
    tolerance: float = 0.05,
    charge_below_peak: bool = True,
) -> RuleBasedResult:
    """The rule-based baseline: static highest safe setpoints, cheapest windows, arbitrage.

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
        Charge the battery only up to the horizon's peak grid import without the battery, so
        arbitrage never sets a new billing peak (default: a sensible operator would not pay a
        demand charge to charge).  With ``False`` charging is limited only by the battery
        power, the contract capacity and demand-response caps (the naive rule, which on the
        demo hall raises the peak to the contract limit).

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
    time = series["time"].values
    steps = time.size
    step = step_seconds(time)
    notes: list[str] = []
    price = effective_price(facility, series)
    if "price" not in series:
        notes.append("the series has no price: flexible work and battery follow carbon only")

    workload_power = _flexible_work(facility, series, price, step, notes)

    units = facility.units
    if units.count == 0:
        supply_found = float("nan")
        supply = np.zeros((steps, 0))
    else:
        supply_found = _highest_safe_supply(facility, series, workload_power, tolerance, notes)
        supply = np.tile(_unit_setpoints(facility, supply_found), (steps, 1))

    base = Schedule(
        supply_temperature=supply,
        chilled_water_temperature=np.full(steps, facility.chilled_water_temperature),
        battery_power=np.zeros(steps),
        workload_power=workload_power,
    )
    chilled, verified = _highest_chilled_water(facility, series, base, notes)
    base = dataclasses.replace(base, chilled_water_temperature=np.full(steps, chilled))

    battery_power = np.zeros(steps)
    if facility.battery is not None:
        battery_power = _battery_arbitrage(
            facility, series, verified, price, step, notes, charge_below_peak=charge_below_peak
        )
    return RuleBasedResult(
        schedule=dataclasses.replace(base, battery_power=battery_power),
        supply_temperature=supply_found,
        chilled_water_temperature=chilled,
        notes=notes,
    )


# --- flexible work -----------------------------------------------------------------------------


def _flexible_work(
    facility: Facility, series: xr.Dataset, price: FloatArray, step: float, notes: list[str]
) -> FloatArray:
    """Workload power above idle [W], shape (T, J): profiles, tier 3 in cheapest windows."""
    work = facility.workloads
    time = series["time"].values
    steps = time.size
    power = workload_profiles(facility, series) * work.capacity[np.newaxis, :]
    tier2 = [work.ids[j] for j in np.flatnonzero(work.tier == 2)]
    if tier2:
        notes.append(f"tier 2 workloads stay on their profiles: {', '.join(tier2)}")
    step_end = time + np.timedelta64(round(step * 1e9), "ns")
    for j in np.flatnonzero(work.tier == 3):
        name = work.ids[j]
        energy, max_power = float(work.energy[j]), float(work.max_power[j])
        power[:, j] = 0.0
        if not energy > 0.0:
            continue
        if not max_power > 0.0:
            notes.append(f"{name}: maximum power is zero, the job cannot run")
            continue
        first = int(np.searchsorted(time, work.release[j], side="left"))  # time >= release
        stop = int(np.searchsorted(step_end, work.deadline[j], side="right"))  # ends <= deadline
        if first >= steps:
            notes.append(f"{name}: released after the horizon, not run")
            continue
        full_steps = energy / (max_power * step)
        length = math.ceil(full_steps - 1e-9)
        shape = np.ones(length)
        shape[-1] = full_steps - (length - 1)  # last step partial
        if stop - first >= length:
            window_price = np.convolve(price[first:stop], shape[::-1], mode="valid")
            start = first + int(np.argmin(window_price))
            power[start : start + length, j] = max_power * shape
            continue
        # it does not fit: run from release at full power, which finishes as early as possible
        # (least lateness) and delivers as much as the horizon allows
        run = min(length, steps - first)
        power[first : first + run, j] = max_power * shape[:run]
        delivered = float(power[:, j].sum()) * step
        if work.deadline[j] > step_end[-1]:
            notes.append(
                f"{name}: its {energy / JOULES_PER_KWH:.0f} kWh do not fit between release and "
                f"the horizon end at {max_power / WATTS_PER_KILOWATT:.0f} kW (deadline after the "
                f"horizon); it runs from release at full power and delivers "
                f"{delivered / JOULES_PER_KWH:.0f} kWh here"
            )
        else:
            notes.append(
                f"{name}: its {energy / JOULES_PER_KWH:.0f} kWh do not fit before its deadline "
                f"at {max_power / WATTS_PER_KILOWATT:.0f} kW; it runs from release at full power "
                f"(least lateness) and delivers {delivered / JOULES_PER_KWH:.0f} kWh in the horizon"
            )
    return power


# --- cooling setpoints -------------------------------------------------------------------------


def _unit_setpoints(facility: Facility, supply: float) -> FloatArray:
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
        supply_temperature=np.tile(_unit_setpoints(facility, supply), (steps, 1)),
        chilled_water_temperature=np.full(steps, facility.chilled_water_temperature),
        battery_power=np.zeros(steps),
        workload_power=workload_power,
    )
    ds = simulate(facility, schedule, series, per_rack=False)
    return float(ds["max_inlet_temperature"].max())


def _bisect_supply(
    facility: Facility,
    series: xr.Dataset,
    workload_power: FloatArray,
    low: float,
    high: float,
    tolerance: float,
) -> tuple[float, bool]:
    """Highest safe setpoint in [low, high] and whether ``low`` itself is safe."""
    limit = facility.inlet_limit

    def safe(value: float) -> bool:
        return _max_inlet(facility, series, workload_power, value) <= limit

    if safe(high):
        return high, True
    if not safe(low):
        return low, False
    while high - low > tolerance:
        middle = 0.5 * (low + high)
        if safe(middle):
            low = middle
        else:
            high = middle
    return low, True


def _highest_safe_supply(
    facility: Facility,
    series: xr.Dataset,
    workload_power: FloatArray,
    tolerance: float,
    notes: list[str],
) -> float:
    """Highest static supply setpoint keeping every inlet within the limit [°C]."""
    units = facility.units
    low = float(units.supply_temperature_min.min())
    high = float(units.supply_temperature_max.max())
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


def _highest_chilled_water(
    facility: Facility, series: xr.Dataset, schedule: Schedule, notes: list[str]
) -> tuple[float, xr.Dataset]:
    """Highest allowed static chilled water setpoint [°C] and the simulation verifying it."""
    units, cdus = facility.units, facility.cdus
    low, high = facility.chilled_water_temperature_bounds
    limits = [(float(high), "the plant's upper chilled water bound")]
    if units.count:
        coil = schedule.supply_temperature[0] - units.coil_approach
        worst = int(np.argmin(coil))
        limits.append((float(coil[worst]), f"{units.ids[worst]}'s coil approach"))
    if cdus.count:
        limits.append((facility.facility_water_limit, "the liquid class facility water limit"))
    steps = schedule.battery_power.size
    chilled = min(value for value, _ in limits)
    ds = simulate(
        facility,
        dataclasses.replace(schedule, chilled_water_temperature=np.full(steps, chilled)),
        series,
        per_rack=False,
    )
    if cdus.count:
        # coolant supply = facility water + approach × load fraction, the load does not depend
        # on the water temperature: the highest water temperature follows in closed form
        active = cdus.capacity > 0
        fraction = ds["cdu_load"].values.max(axis=0) / np.where(active, cdus.capacity, 1.0)
        allowed = np.where(active, cdus.max_supply_temperature - cdus.approach * fraction, np.inf)
        worst = int(np.argmin(allowed))
        if allowed[worst] < chilled:
            chilled = float(allowed[worst])
            limits.append((chilled, f"{cdus.ids[worst]}'s coolant supply limit"))
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


# --- battery -----------------------------------------------------------------------------------


def _battery_arbitrage(
    facility: Facility,
    series: xr.Dataset,
    verified: xr.Dataset,
    price: FloatArray,
    step: float,
    notes: list[str],
    *,
    charge_below_peak: bool,
) -> FloatArray:
    """Battery power, positive charging [W], shape (T,): daily cheapest/dearest steps.

    ``verified`` is the simulation of the schedule without battery; its facility power limits
    charging to the contract capacity and demand-response caps (and the peak import without
    battery with ``charge_below_peak``), and discharging to the load when export is not
    allowed.
    """
    battery = facility.battery
    assert battery is not None
    steps = price.size
    load = verified["facility_power"].values - (
        verified["pv_power"].values + verified["pv_curtailed"].values
    )
    import_cap = np.full(steps, facility.grid.contract_capacity)
    if "dr_import_cap" in series:
        dr = np.asarray(series["dr_import_cap"].values, dtype=float)
        import_cap = np.fmin(import_cap, dr)
    if charge_below_peak:
        import_cap = np.minimum(import_cap, float(np.max(verified["grid_power"].values)))
    charge_limit = np.clip(np.minimum(battery.power, import_cap - load), 0.0, None)
    discharge_limit = np.full(steps, battery.power)
    if not facility.grid.export_allowed:
        discharge_limit = np.clip(np.minimum(discharge_limit, load), 0.0, None)

    usable = (battery.soc_max - battery.soc_min) * battery.capacity
    per_joule = price / JOULES_PER_MWH  # currency/J
    block = max(1, round(BLOCK_SECONDS / step))
    request = np.zeros(steps)
    for start in range(0, steps, block):
        window = np.arange(start, min(start + block, steps))
        request[window] = _block_dispatch(
            per_joule[window],
            charge_limit[window] * battery.charge_efficiency * step,
            discharge_limit[window] / battery.discharge_efficiency * step,
            usable,
            battery.charge_efficiency,
            battery.discharge_efficiency,
            battery.wear_cost,
        )
        # back to grid-side power [W]
        charging = request[window] > 0
        request[window] = np.where(
            charging,
            request[window] / (battery.charge_efficiency * step),
            request[window] * battery.discharge_efficiency / step,
        )
    if not np.any(request):
        notes.append("battery idle: no step is expensive enough to pay for charging it")
        return request
    power = _integrate(facility, request, step).power
    return _balance_final_soc(facility, power, price, step, notes)


def _block_dispatch(
    price: FloatArray,
    charge_room: FloatArray,
    discharge_room: FloatArray,
    usable: float,
    charge_efficiency: float,
    discharge_efficiency: float,
    wear_cost: float,
) -> FloatArray:
    """Stored-energy change per step of one block [J], positive charging.

    Walks the cheapest steps upward and the dearest downward, matching stored energy charged
    with stored energy discharged, while a unit of stored energy bought at the charge step's
    price and sold at the discharge step's price pays for its losses and wear, until the
    usable energy has been cycled once.  Charging and discharging never share a step: a step
    would need to be dearer than itself.

    Parameters
    ----------
    price
        Effective price [currency/J].
    charge_room, discharge_room
        Stored energy one step can add or remove at the power limits [J].
    usable
        Usable energy of the SOC window [J].
    charge_efficiency, discharge_efficiency
        [-]
    wear_cost
        [currency/J] of cell throughput.
    """
    cheap = np.argsort(price, kind="stable")
    dear = cheap[::-1]
    cheap = cheap[charge_room[cheap] > 0]
    dear = dear[discharge_room[dear] > 0]
    stored = np.zeros(price.size)
    cycled = 0.0
    i = k = 0
    left_c = charge_room[cheap[0]] if cheap.size else 0.0
    left_d = discharge_room[dear[0]] if dear.size else 0.0
    while i < cheap.size and k < dear.size and cycled < usable * (1 - 1e-12):
        c, d = cheap[i], dear[k]
        # one J stored costs price_c/η_c, returns price_d·η_d, and wears 2 J of throughput
        if price[d] * discharge_efficiency <= price[c] / charge_efficiency + 2.0 * wear_cost:
            break
        amount = min(left_c, left_d, usable - cycled)
        stored[c] += amount
        stored[d] -= amount
        cycled += amount
        left_c -= amount
        left_d -= amount
        if left_c <= 1e-9 * charge_room[c]:
            i += 1
            left_c = charge_room[cheap[i]] if i < cheap.size else 0.0
        if left_d <= 1e-9 * discharge_room[d]:
            k += 1
            left_d = discharge_room[dear[k]] if k < dear.size else 0.0
    return stored


@dataclass(frozen=True)
class _SOC:
    """Clipped battery power [W] and SOC trajectory [-]."""

    power: FloatArray
    soc: FloatArray


def _integrate(facility: Facility, request: FloatArray, step: float) -> _SOC:
    battery = facility.battery
    assert battery is not None
    result = battery.integrate(request, step)
    return _SOC(np.asarray(result.power, dtype=float), np.asarray(result.soc, dtype=float))


def _balance_final_soc(
    facility: Facility, power: FloatArray, price: FloatArray, step: float, notes: list[str]
) -> FloatArray:
    """Trim the least profitable steps until the horizon ends at the initial SOC.

    SOC clipping can leave the battery emptier (free energy for the baseline) or fuller (paid
    for and unused) than it started; discharges in the cheapest discharge steps, or charges in
    the dearest charge steps, are reduced by the difference.
    """
    battery = facility.battery
    assert battery is not None
    eta_c, eta_d = battery.charge_efficiency, battery.discharge_efficiency
    tolerance = 1e-9 * battery.capacity
    state = _integrate(facility, power, step)
    for _ in range(_SOC_BALANCE_ROUNDS):
        power = state.power.copy()
        excess = (state.soc[-1] - battery.initial_soc) * battery.capacity  # stored J
        if abs(excess) <= tolerance:
            break
        if excess < 0:  # emptier: discharge less, cheapest discharge steps first
            order = [t for t in np.argsort(price, kind="stable") if power[t] < 0]
            for t in order:
                stored = -power[t] / eta_d * step
                cut = min(stored, -excess)
                power[t] += cut * eta_d / step
                excess += cut
                if excess >= -tolerance:
                    break
        else:  # fuller: charge less, dearest charge steps first
            order = [t for t in np.argsort(-price, kind="stable") if power[t] > 0]
            for t in order:
                stored = power[t] * eta_c * step
                cut = min(stored, excess)
                power[t] -= cut / (eta_c * step)
                excess -= cut
                if excess <= tolerance:
                    break
        state = _integrate(facility, power, step)
    final = float(state.soc[-1])
    if abs(final - battery.initial_soc) * battery.capacity > 1e3 * tolerance:
        notes.append(
            f"battery ends the horizon at SOC {final:.3f}, "
            f"not at its initial {battery.initial_soc:.3f}"
        )
    return state.power
