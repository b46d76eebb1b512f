"""What is operated: setpoints, battery dispatch and workload power over time.

A :class:`Schedule` is the decision side of a simulation; the co-planner produces one, the
as-operated baseline is :func:`as_operated_schedule`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from physics.facility import Facility

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Schedule:
    """Decisions over T steps.

    Attributes
    ----------
    supply_temperature
        Supply air setpoint per cooling unit [°C], shape (T, U).
    chilled_water_temperature
        Chilled (and CDU facility) water supply setpoint [°C], shape (T,).
    battery_power
        Facility battery power, positive charging [W], shape (T,).
    workload_power
        IT power above idle given to each workload [W], shape (T, J).
    """

    supply_temperature: FloatArray
    chilled_water_temperature: FloatArray
    battery_power: FloatArray
    workload_power: FloatArray

    def check(self, facility: Facility, steps: int) -> None:
        """Raise ``ValueError`` naming the array whose shape does not fit ``facility``."""
        expected = {
            "supply_temperature": (steps, facility.units.count),
            "chilled_water_temperature": (steps,),
            "battery_power": (steps,),
            "workload_power": (steps, facility.workloads.count),
        }
        for name, shape in expected.items():
            got = np.shape(getattr(self, name))
            if got != shape:
                raise ValueError(f"schedule.{name} has shape {got}, expected {shape}")
            if not np.all(np.isfinite(getattr(self, name))):
                raise ValueError(f"schedule.{name} contains NaN or infinite values")


def workload_profiles(facility: Facility, series: xr.Dataset) -> FloatArray:
    """Tier 1/2 utilization over time from profiles or constants [-], shape (T, J).

    Tier 3 columns are zero.  Raises ``KeyError`` naming a missing profile series.
    """
    work = facility.workloads
    steps = series.sizes["time"]
    utilization = np.zeros((steps, work.count))
    for j in range(work.count):  # J is a handful of workloads, not racks
        if work.tier[j] == 3:
            continue
        name = work.profile[j]
        if name is None:
            utilization[:, j] = work.utilization[j]
        else:
            if name not in series:
                raise KeyError(
                    f"workload {work.ids[j]!r} uses profile {name!r}, which is not among the "
                    f"series ({', '.join(map(str, series.data_vars))})"
                )
            utilization[:, j] = np.clip(series[name].values, 0.0, 1.0) * work.profile_scale[j]
    return utilization


def as_operated_schedule(facility: Facility, series: xr.Dataset) -> Schedule:
    """The facility run as it is today.

    Fixed setpoints from the scenario, battery idle, tier 1/2 on their profiles, each tier 3
    job starting at its release at full power until its energy is delivered.

    Parameters
    ----------
    facility
        Compiled facility.
    series
        Exogenous series on the simulation time axis (needs the tier 1/2 profiles).

    Returns
    -------
    Schedule
    """
    time = series["time"].values
    steps = time.size
    step = step_seconds(time)
    work = facility.workloads
    power = workload_profiles(facility, series) * work.capacity[np.newaxis, :]
    for j in np.flatnonzero(work.tier == 3):
        running = time >= work.release[j]
        full = np.where(running, work.max_power[j], 0.0)
        delivered_before = np.concatenate([[0.0], np.cumsum(full * step)[:-1]])
        remaining = np.clip(work.energy[j] - delivered_before, 0.0, None)
        power[:, j] = np.minimum(full, remaining / step)
    return Schedule(
        supply_temperature=np.tile(facility.units.supply_temperature, (steps, 1)),
        chilled_water_temperature=np.full(steps, facility.chilled_water_temperature),
        battery_power=np.zeros(steps),
        workload_power=power,
    )


def step_seconds(time: NDArray[np.datetime64]) -> float:
    """Length of the simulation step of a regular time axis.

    Parameters
    ----------
    time
        The ``time`` axis (UTC).

    Returns
    -------
    float
        The constant step [s].

    Raises
    ------
    ValueError
        Fewer than two steps, or a step that is not constant and positive.
    """
    if time.size < 2:
        raise ValueError("a simulation needs at least two time steps")
    steps = np.diff(time).astype("timedelta64[ns]").astype(np.int64)
    if np.any(steps != steps[0]) or steps[0] <= 0:
        raise ValueError("the time axis must be increasing with a constant step")
    return float(steps[0]) / 1e9  # ns per s
