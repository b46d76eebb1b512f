"""Rule-based battery dispatch: daily price arbitrage, ending at the initial state of charge.

Powers in W (positive charging), energies in J, prices in currency/MWh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from physics.facility import Facility

__all__ = ["BLOCK_SECONDS", "JOULES_PER_MWH", "battery_arbitrage"]

FloatArray = NDArray[np.float64]

JOULES_PER_MWH = 3.6e9
"""[J/MWh]"""

BLOCK_SECONDS = 86_400.0
"""Length of one battery arbitrage block, a day counted from the horizon start [s]."""

_SOC_BALANCE_ROUNDS = 20
"""Bound on the passes that bring the final state of charge back to the initial one."""


def battery_arbitrage(
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
