"""Rule-based battery dispatch: demand-response caps, peak shaving, then daily arbitrage.

The rules (see :func:`battery_dispatch`), on the grid import the schedule has without the
battery (from the physics):

1. **Caps and peak.**  Wherever the import would exceed the contract capacity, a
   demand-response cap or the peak-shaving threshold, the battery discharges the excess (as
   far as its power allows).  The energy for it is charged beforehand in the cheapest steps
   that still have room: charging never lifts the import above those limits, and the state
   of charge stays in its window.
2. **Threshold.**  The threshold is chosen among a few values from the lowest the battery can
   hold (its energy and power, found by bisection) up to the peak without the battery: the
   one with the lowest estimated energy cost, demand charge and wear, arbitrage included.
   Without a demand charge there is no peak shaving.  An import already billed in a step's
   billing period (``billed``, the plan state's peak so far) costs nothing more: the limit
   of that step is never below it, and the demand charge is counted per billing period above
   it, as :func:`optimizer.accounting.demand_charge` bills it.
3. **Arbitrage.**  In each 24 h block from the start, the remaining room is used for price
   arbitrage: a cheap step charges for a dear one (either order), best price spread first,
   as long as the spread pays for the round-trip losses and wear, with the state of charge in
   its window at every step.
4. The horizon ends at the initial state of charge (no free energy for the baseline); the
   result is checked with :func:`physics.battery.integrate_soc` (through
   :meth:`physics.facility.Battery.integrate`).

Powers in W (positive charging), energies in J, prices in currency/MWh (currency/J inside).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from optimizer.accounting import billing_labels
from optimizer.baselines.work import JOULES_PER_MWH
from physics.constants import JOULES_PER_KWH, WATTS_PER_KILOWATT
from physics.facility import Battery, Facility

__all__ = ["BLOCK_SECONDS", "battery_dispatch", "import_limit"]

FloatArray = NDArray[np.float64]

BLOCK_SECONDS = 86_400.0
"""Length of one battery arbitrage block, a day counted from the horizon start [s]."""

_SOC_BALANCE_ROUNDS = 20
"""Bound on the passes that bring the final state of charge back to the initial one."""

_THRESHOLD_CANDIDATES = 7
"""Peak-shaving thresholds compared, from the lowest the battery holds to the peak."""

_BISECTION_ROUNDS = 14
"""Bisection steps for the lowest threshold (the peak range over 2^14)."""


def import_limit(facility: Facility, series: xr.Dataset) -> FloatArray:
    """Grid import limit of each step: contract capacity and demand-response caps, hard or
    priced [W].

    Parameters
    ----------
    facility
        Compiled facility.
    series
        Exogenous series with optional ``dr_import_cap`` and ``dr_soft_cap`` [W] (NaN outside
        events).

    Returns
    -------
    numpy.ndarray
        Limit [W], shape (T,).
    """
    limit = np.full(series.sizes["time"], facility.grid.contract_capacity)
    for name in ("dr_import_cap", "dr_soft_cap"):  # a priced cap is kept like a hard one
        if name in series:
            limit = np.fmin(limit, np.asarray(series[name].values, dtype=float))
    return limit


@dataclass(frozen=True)
class _Problem:
    """What the battery rules see."""

    battery: Battery
    load: FloatArray
    """Grid import without the battery, net of PV [W]."""
    limit: FloatArray
    """Contract capacity and demand-response caps [W]."""
    price: FloatArray
    """Effective price [currency/J]."""
    step: float
    export_allowed: bool
    demand_charge: float
    """[currency/W]"""
    billed: FloatArray
    """Import already billed in each step's billing period [W] (0: none)."""
    periods: NDArray[np.int64]
    """Billing period of each step, numbered from 0 [-]."""

    @property
    def initial(self) -> float:
        """Initial stored energy [J]."""
        return self.battery.initial_soc * self.battery.capacity

    @property
    def lowest(self) -> float:
        """Lowest stored energy [J]."""
        return self.battery.soc_min * self.battery.capacity

    @property
    def highest(self) -> float:
        """Highest stored energy [J]."""
        return self.battery.soc_max * self.battery.capacity

    @property
    def tolerance(self) -> float:
        """Energy tolerance [J]."""
        return 1e-9 * self.battery.capacity

    def stored(self, power: FloatArray) -> FloatArray:
        """Stored energy at the start of each step and at the end [J], shape (T + 1,)."""
        battery = self.battery
        change = np.where(
            power > 0, power * battery.charge_efficiency, power / battery.discharge_efficiency
        )
        return self.initial + np.concatenate([[0.0], np.cumsum(change * self.step)])

    def limit_at(self, threshold: float) -> FloatArray:
        """Import limit of each step with a peak-shaving ``threshold`` [W]: the contract
        capacity and caps, and the threshold, not below the import already billed."""
        return np.minimum(self.limit, np.maximum(threshold, self.billed))

    def billed_peak_charge(self, grid: FloatArray) -> float:
        """Demand charge of an import ``grid`` [W] above the import already billed, summed
        over the billing periods [currency]."""
        charge = 0.0
        for period in range(int(self.periods.max()) + 1 if self.periods.size else 0):
            inside = self.periods == period
            before = float(self.billed[inside].max())
            charge += max(float(grid[inside].max()) - before, 0.0)
        return self.demand_charge * charge

    def grid(self, power: FloatArray) -> FloatArray:
        """Grid import with battery power ``power`` [W]."""
        grid = self.load + power
        return grid if self.export_allowed else np.maximum(grid, 0.0)

    def cost(self, power: FloatArray) -> float:
        """Energy cost, demand charge and wear of a dispatch [currency]."""
        battery = self.battery
        grid = self.grid(power)
        throughput = np.where(
            power > 0, power * battery.charge_efficiency, -power / battery.discharge_efficiency
        )
        return (
            float(np.sum(self.price * grid)) * self.step
            + self.billed_peak_charge(grid)
            + battery.wear_cost * float(throughput.sum()) * self.step
        )


def battery_dispatch(
    facility: Facility,
    series: xr.Dataset,
    verified: xr.Dataset,
    price: FloatArray,
    step: float,
    notes: list[str],
    *,
    charge_below_peak: bool,
    billed: FloatArray | None = None,
) -> FloatArray:
    """Battery power, positive charging [W], shape (T,), by the rules of this module.

    Parameters
    ----------
    facility
        Compiled facility (with a battery).
    series
        Exogenous series (optional ``dr_import_cap`` [W]).
    verified
        Simulation of the schedule without the battery (its facility and PV power).
    price
        Effective price [currency/MWh], shape (T,).
    step
        Step length [s].
    notes
        Plain-language remarks, appended to.
    charge_below_peak
        Peak shaving on (with a demand charge), and charging never lifts the import above the
        peak without the battery.  ``False``: the naive rule, no peak shaving and charging
        limited only by the battery power, the contract capacity and demand-response caps.
    billed
        Grid import already billed in each step's billing period [W], shape (T,)
        (:func:`optimizer.accounting.billed_before`); None: nothing billed yet.

    Returns
    -------
    numpy.ndarray
        Battery power [W], shape (T,).
    """
    battery = facility.battery
    assert battery is not None
    steps = series.sizes["time"]
    labels = billing_labels(facility, series["time"].values)
    _, periods = np.unique(labels, return_inverse=True)
    load = verified["facility_power"].values - (
        verified["pv_power"].values + verified["pv_curtailed"].values
    )
    problem = _Problem(
        battery=battery,
        load=np.asarray(load, dtype=float),
        limit=import_limit(facility, series),
        price=price / JOULES_PER_MWH,
        step=step,
        export_allowed=facility.grid.export_allowed,
        demand_charge=facility.grid.demand_charge,
        billed=np.zeros(steps) if billed is None else np.asarray(billed, dtype=float),
        periods=np.asarray(periods, dtype=np.int64).reshape(steps),
    )
    peak = float(problem.load.max())
    if not charge_below_peak:
        power, short = _required(problem, math.inf)
        power = _arbitrage(problem, power, math.inf)
    else:
        power, short = _required(problem, peak)
        if short == 0.0 and problem.demand_charge > 0.0:
            power = _shave_peak(problem, notes)
        else:
            power = _arbitrage(problem, power, peak)
    if short > 0.0:
        notes.append(
            "the battery cannot keep the grid import within the contract capacity and "
            f"demand-response caps at every step (short by {short / JOULES_PER_KWH:.0f} kWh of "
            "stored energy or its power)"
        )
    if not np.any(power):
        notes.append("battery idle: no step is expensive enough to pay for charging it")
        return power
    return _balance_final_soc(facility, power, price, step, notes)


def _shave_peak(problem: _Problem, notes: list[str]) -> FloatArray:
    """Dispatch of the cheapest threshold among the candidates, arbitrage included [W]."""
    peak = float(problem.load.max())
    # below an import already billed in every step, a lower threshold saves nothing
    floor = float(problem.billed.min())
    lowest = max(_lowest_threshold(problem), min(floor, peak))
    best_cost, best_power, best_threshold = math.inf, np.zeros(problem.load.size), peak
    for threshold in np.linspace(lowest, peak, _THRESHOLD_CANDIDATES):
        power, _ = _required(problem, float(threshold))
        power = _arbitrage(problem, power, float(threshold))
        cost = problem.cost(power)
        if cost < best_cost:
            best_cost, best_power, best_threshold = cost, power, float(threshold)
    kw = WATTS_PER_KILOWATT
    if floor >= peak:
        notes.append(
            f"battery peak shaving: none, the grid import ({peak / kw:.0f} kW without the "
            f"battery) stays within the {floor / kw:.0f} kW already billed this billing period"
        )
    elif best_threshold < peak:
        billed = f", {floor / kw:.0f} kW already billed" if floor > 0.0 else ""
        notes.append(
            f"battery peak shaving: grid import held at or below "
            f"{best_threshold / kw:.0f} kW ({peak / kw:.0f} kW without the battery{billed})"
        )
    return best_power


def _lowest_threshold(problem: _Problem) -> float:
    """Lowest peak-shaving threshold the battery can hold [W] (bisection)."""
    peak = float(problem.load.max())
    low = max(peak - problem.battery.power, float(problem.load.min()), 0.0)
    high = peak
    if _required(problem, low)[1] == 0.0:
        return low
    for _ in range(_BISECTION_ROUNDS):
        middle = 0.5 * (low + high)
        if _required(problem, middle)[1] == 0.0:
            high = middle
        else:
            low = middle
    return high


def _required(problem: _Problem, threshold: float) -> tuple[FloatArray, float]:
    """Discharges that keep the import within the limits and threshold, and their charging.

    Returns the battery power [W] and the shortfall (stored energy the battery could not
    provide plus the excess over its power, as energy) [J]; 0 when every limit holds.
    Deficits of stored energy are filled in time order from the cheapest earlier step with
    charging room (import below the limits) and state-of-charge headroom; the horizon ends
    at least at the initial stored energy.
    """
    battery, step = problem.battery, problem.step
    eta_c, eta_d = battery.charge_efficiency, battery.discharge_efficiency
    limit = problem.limit_at(threshold)
    excess = np.clip(problem.load - limit, 0.0, None)
    power = -np.minimum(excess, battery.power)
    short = float(np.sum(excess + power)) * step
    room = np.where(excess > 0, 0.0, np.clip(limit - problem.load, 0.0, battery.power))
    blocked = room <= 0.0
    tolerance = problem.tolerance
    for _ in range(8 * power.size + 16):
        stored = problem.stored(power)
        below = np.flatnonzero(stored[1:] < problem.lowest - tolerance)
        if below.size:
            last, amount = int(below[0]), problem.lowest - float(stored[below[0] + 1])
        elif stored[-1] < problem.initial - tolerance:
            last, amount = power.size - 1, problem.initial - float(stored[-1])
        else:
            break
        usable = np.flatnonzero(~blocked[: last + 1])
        if usable.size == 0:  # nothing can charge before: discharge less, latest first
            short += amount
            for t in np.flatnonzero(power[: last + 1] < 0)[::-1]:
                cut = min(-power[t] / eta_d * step, amount)
                power[t] += cut * eta_d / step
                amount -= cut
                if amount <= tolerance:
                    break
            continue
        # the cheapest, the latest of equal prices (holds the charge the shortest)
        cheapest = usable[::-1][int(np.argmin(problem.price[usable][::-1]))]
        headroom = problem.highest - float(stored[cheapest + 1 :].max())
        added = min(amount, (room[cheapest] - power[cheapest]) * eta_c * step, headroom)
        if added <= tolerance:
            blocked[cheapest] = True
            continue
        power[cheapest] += added / (eta_c * step)
        blocked[cheapest] = room[cheapest] - power[cheapest] <= 1e-9 * battery.power
    return power, short


def _arbitrage(problem: _Problem, power: FloatArray, threshold: float) -> FloatArray:
    """Daily price arbitrage in the room ``power`` leaves [W] (a new array).

    In each block, pairs of a charging and a discharging step (in either order) take turns,
    best spread first; a pair moves as much stored energy as both steps' power room and the
    state-of-charge window between them allow.  A step charges or discharges, not both.
    """
    battery, step = problem.battery, problem.step
    eta_c, eta_d = battery.charge_efficiency, battery.discharge_efficiency
    power = power.copy()
    limit = problem.limit_at(threshold)
    charge_room = np.where(
        power >= 0, np.clip(np.minimum(battery.power, limit - problem.load) - power, 0, None), 0
    )
    discharge_cap = np.full(power.size, battery.power)
    if not problem.export_allowed:
        discharge_cap = np.minimum(discharge_cap, problem.load)
    discharge_room = np.where(power <= 0, np.clip(discharge_cap + power, 0, None), 0)
    stored = problem.stored(power)
    block = max(1, round(BLOCK_SECONDS / step))
    tolerance = problem.tolerance
    for start in range(0, power.size, block):
        steps = np.arange(start, min(start + block, power.size))
        price = problem.price[steps]
        # value of one stored joule charged at c and discharged at d [currency/J]
        value = price[np.newaxis, :] * eta_d - price[:, np.newaxis] / eta_c - 2 * battery.wear_cost
        pairs = np.argwhere(value > 0)
        if pairs.size == 0:
            continue
        order = np.argsort(-value[pairs[:, 0], pairs[:, 1]], kind="stable")
        for c_index, d_index in pairs[order]:
            c, d = int(steps[c_index]), int(steps[d_index])
            if charge_room[c] <= 0.0 or discharge_room[d] <= 0.0:
                continue
            between = stored[c + 1 : d + 1] if c < d else stored[d + 1 : c + 1]
            headroom = (
                problem.highest - float(between.max())
                if c < d
                else float(between.min()) - problem.lowest
            )
            moved = min(charge_room[c] * eta_c * step, discharge_room[d] / eta_d * step, headroom)
            if moved <= tolerance:
                continue
            power[c] += moved / (eta_c * step)
            power[d] -= moved * eta_d / step
            charge_room[c] -= moved / (eta_c * step)
            discharge_room[d] -= moved * eta_d / step
            discharge_room[c] = charge_room[d] = 0.0
            between += moved if c < d else -moved
    return power


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
