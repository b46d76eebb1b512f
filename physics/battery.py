"""Battery energy storage: state of charge, efficiencies, power and SOC limits, wear cost.

Sign convention: battery power is the grid-side (AC terminal) power, positive when charging
(power drawn into the battery) and negative when discharging (power delivered out).  The
stored energy changes by ``+P · η_charge · Δt`` when charging and by ``−|P| / η_discharge · Δt``
when discharging; the state of charge (SOC) is stored energy divided by the usable nameplate
capacity, a fraction in 0..1.

Units: power [W], energy [J], time [s], SOC and efficiencies [-].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from physics.constants import JOULES_PER_KWH

__all__ = ["BatteryResult", "integrate_soc", "round_trip_efficiency", "wear_cost"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


def round_trip_efficiency(
    charge_efficiency: ArrayLike, discharge_efficiency: ArrayLike
) -> FloatArray:
    """Round-trip efficiency: energy delivered out divided by energy drawn in, ``η_c · η_d``.

    Parameters
    ----------
    charge_efficiency
        Stored energy divided by grid-side energy drawn while charging [-].
    discharge_efficiency
        Grid-side energy delivered divided by stored energy taken while discharging [-].

    Returns
    -------
    numpy.ndarray
        Round-trip efficiency [-].
    """
    return np.multiply(
        np.asarray(charge_efficiency, dtype=np.float64),
        np.asarray(discharge_efficiency, dtype=np.float64),
    )


@dataclass(frozen=True)
class BatteryResult:
    """Trajectory of batteries over time.

    ``T`` is the number of steps and ``N...`` the battery dimensions (none for one battery).

    Attributes
    ----------
    power
        Actual grid-side battery power after clipping, positive charging [W]; ``(T, N...)``.
    soc
        State of charge at the start of each step and at the end of the last one [-];
        ``(T + 1, N...)``.
    clipped
        The requested power was reduced by a power limit or the SOC window [bool];
        ``(T, N...)``.
    throughput
        Energy moved into and out of the cells, ``Σ |Δ stored energy|``, both directions
        counted [J]; ``(N...)``.
    losses
        Conversion losses over the horizon, grid-side energy in minus out minus stored-energy
        change [J]; ``(N...)``.
    step_losses
        Conversion loss in each step [J]; ``(T, N...)``.
    """

    power: FloatArray
    soc: FloatArray
    clipped: BoolArray
    throughput: FloatArray
    losses: FloatArray
    step_losses: FloatArray


def integrate_soc(
    initial_soc: ArrayLike,
    requested_power: ArrayLike,
    step: float,
    capacity: ArrayLike,
    charge_efficiency: ArrayLike,
    discharge_efficiency: ArrayLike,
    soc_min: ArrayLike = 0.0,
    soc_max: ArrayLike = 1.0,
    max_charge_power: ArrayLike = np.inf,
    max_discharge_power: ArrayLike = np.inf,
) -> BatteryResult:
    """Integrate the state of charge of batteries under requested powers, with clipping.

    Each step, the requested power is first clipped to
    ``[−max_discharge_power, max_charge_power]``, then, if the resulting SOC would leave
    ``[soc_min, soc_max]``, reduced so the SOC ends exactly on the bound; the SOC never leaves
    the window.

    Method: SOC clipping is sequential (a clipped step shifts every later SOC), so it has no
    closed form.  The SOC is first computed in closed form by a cumulative sum of the
    power-clipped steps for all batteries at once; only batteries whose cumulative-sum SOC
    leaves the window are then re-integrated by a loop over time, vectorized across those
    batteries and started at their earliest violation (the SOC before it is already exact).

    Parameters
    ----------
    initial_soc
        SOC at the start, within ``[soc_min, soc_max]`` [-]; broadcasts to ``(N...)``.
    requested_power
        Requested grid-side power, positive charging, negative discharging [W]; shape ``(T,)``
        or ``(T, N...)``.
    step
        Duration of each step, > 0 [s].
    capacity
        Usable nameplate energy capacity, > 0 [J]; broadcasts to ``(N...)``.
    charge_efficiency
        Stored energy divided by grid-side energy while charging, in (0, 1] [-].
    discharge_efficiency
        Grid-side energy divided by stored energy while discharging, in (0, 1] [-].
    soc_min
        Lowest allowed SOC [-].
    soc_max
        Highest allowed SOC [-].
    max_charge_power
        Largest grid-side charging power, >= 0 [W].
    max_discharge_power
        Largest grid-side discharging power (a positive number), >= 0 [W].

    Returns
    -------
    BatteryResult
        Actual power [W], SOC trajectory [-], clipping flags, throughput [J] and losses [J].

    Raises
    ------
    ValueError
        If a parameter is outside its valid range or ``initial_soc`` is outside the window.
    """
    requested = np.asarray(requested_power, dtype=np.float64)
    if requested.ndim == 0:
        raise ValueError("requested_power needs a leading time axis, shape (T,) or (T, N...)")
    if not (np.isfinite(step) and step > 0.0):
        raise ValueError(f"step must be a positive duration in s, got {step}")
    cells = _flat_batteries(
        requested.shape[1:],
        initial_soc,
        capacity,
        charge_efficiency,
        discharge_efficiency,
        soc_min,
        soc_max,
        max_charge_power,
        max_discharge_power,
    )
    steps, count = requested.shape[0], cells.initial.size
    request = np.broadcast_to(requested, (steps, *cells.shape)).reshape(steps, count)
    power = np.clip(request, -cells.discharge_limit, cells.charge_limit)
    charging = power > 0.0
    # SOC increment of each step [-]: stored-energy change divided by capacity.
    increment = np.where(charging, power * cells.eta_charge, power / cells.eta_discharge)
    increment *= step / cells.capacity

    soc = np.empty((steps + 1, count))
    soc[0] = cells.initial
    np.cumsum(increment, axis=0, out=soc[1:])
    soc[1:] += cells.initial
    soc_clipped = _clip_to_window(soc, increment, cells.low, cells.high)
    if soc_clipped.any():
        _back_out_power(power, charging, soc, soc_clipped, cells, step)

    clipped = soc_clipped | (power != request)
    charging = power > 0.0
    step_losses = np.where(
        charging, power * (1.0 - cells.eta_charge), power * (1.0 - 1.0 / cells.eta_discharge)
    )
    step_losses *= step
    cell_energy = np.where(charging, power * cells.eta_charge, -power / cells.eta_discharge)
    cell_energy *= step

    def unflatten(values: FloatArray, leading: tuple[int, ...] = ()) -> FloatArray:
        return values.reshape((*leading, *cells.shape))

    return BatteryResult(
        power=unflatten(power, (steps,)),
        soc=unflatten(soc, (steps + 1,)),
        clipped=clipped.reshape(steps, *cells.shape),
        throughput=unflatten(cell_energy.sum(axis=0)),
        losses=unflatten(step_losses.sum(axis=0)),
        step_losses=unflatten(step_losses, (steps,)),
    )


@dataclass(frozen=True)
class _Batteries:
    """Parameters of :func:`integrate_soc` broadcast to the battery shape, flattened to (N,)."""

    shape: tuple[int, ...]
    initial: FloatArray
    capacity: FloatArray
    eta_charge: FloatArray
    eta_discharge: FloatArray
    low: FloatArray
    high: FloatArray
    charge_limit: FloatArray
    discharge_limit: FloatArray


def _flat_batteries(request_shape: tuple[int, ...], *values: ArrayLike) -> _Batteries:
    """Broadcast and check the battery parameters, in the order of :class:`_Batteries`."""
    parameters = [np.asarray(value, dtype=np.float64) for value in values]
    battery_shape = np.broadcast_shapes(request_shape, *(p.shape for p in parameters))
    count = int(np.prod(battery_shape, dtype=np.int64))
    cells = _Batteries(
        battery_shape, *(np.broadcast_to(p, battery_shape).reshape(count) for p in parameters)
    )
    if np.any(cells.capacity <= 0.0) or not np.all(np.isfinite(cells.capacity)):
        raise ValueError("capacity must be finite and > 0 J")
    if np.any(~((cells.eta_charge > 0.0) & (cells.eta_charge <= 1.0))) or np.any(
        ~((cells.eta_discharge > 0.0) & (cells.eta_discharge <= 1.0))
    ):
        raise ValueError("charge and discharge efficiencies must lie in (0, 1]")
    if np.any(~((cells.low >= 0.0) & (cells.low <= cells.high) & (cells.high <= 1.0))):
        raise ValueError("need 0 <= soc_min <= soc_max <= 1")
    if np.any(~((cells.initial >= cells.low) & (cells.initial <= cells.high))):
        raise ValueError("initial_soc must lie within [soc_min, soc_max]")
    if np.any(~(cells.charge_limit >= 0.0)) or np.any(~(cells.discharge_limit >= 0.0)):
        raise ValueError("max_charge_power and max_discharge_power must be >= 0 W")
    return cells


def _clip_to_window(
    soc: FloatArray, increment: FloatArray, low: FloatArray, high: FloatArray
) -> BoolArray:
    """Re-integrate in place the batteries whose cumulative-sum ``soc`` (T + 1, N) leaves
    ``[low, high]``, clipping each step, from their earliest violation on.

    Returns the steps (T, N) where the SOC was clipped.
    """
    steps = increment.shape[0]
    violation = (soc[1:] < low) | (soc[1:] > high)
    soc_clipped = np.zeros(increment.shape, dtype=bool)
    columns = np.flatnonzero(violation.any(axis=0))
    if not columns.size:
        return soc_clipped
    first = int(violation[:, columns].argmax(axis=0).min())
    sub_soc = soc[:, columns]
    sub_clipped = soc_clipped[:, columns]
    sub_increment = increment[:, columns]
    sub_low, sub_high = low[columns], high[columns]
    state = sub_soc[first].copy()
    for index in range(first, steps):  # sequential only where clipping happens
        target = state + sub_increment[index]
        state = np.clip(target, sub_low, sub_high)
        sub_clipped[index] = state != target
        sub_soc[index + 1] = state
    soc[:, columns] = sub_soc
    soc_clipped[:, columns] = sub_clipped
    return soc_clipped


def _back_out_power(
    power: FloatArray,
    charging: BoolArray,
    soc: FloatArray,
    soc_clipped: BoolArray,
    cells: _Batteries,
    step: float,
) -> None:
    """Set in place the grid-side power of SOC-clipped steps from the SOC actually reached."""
    rows, cols = np.nonzero(soc_clipped)
    stored_rate = (soc[rows + 1, cols] - soc[rows, cols]) * cells.capacity[cols] / step
    limited = power[rows, cols]
    backed_out = np.where(
        charging[rows, cols],
        stored_rate / cells.eta_charge[cols],
        stored_rate * cells.eta_discharge[cols],
    )
    # Rounding must never push the result past the power-limited request or reverse it.
    power[rows, cols] = np.clip(backed_out, np.minimum(limited, 0.0), np.maximum(limited, 0.0))


def wear_cost(throughput: ArrayLike, cost_per_kwh: ArrayLike) -> FloatArray:
    """Degradation cost of moving energy through the cells.

    Parameters
    ----------
    throughput
        Cell energy throughput, charge and discharge both counted (as
        :attr:`BatteryResult.throughput`) [J].
    cost_per_kwh
        Wear cost per kWh of that throughput [currency/kWh].  A cost quoted per kWh
        *discharged* (one direction) corresponds to half of it here.

    Returns
    -------
    numpy.ndarray
        Wear cost [currency].
    """
    return (
        np.asarray(throughput, dtype=np.float64)
        / JOULES_PER_KWH
        * np.asarray(cost_per_kwh, dtype=np.float64)
    )
