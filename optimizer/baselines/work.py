"""Rule-based flexible work: tier 1/2 on their profiles, tier 3 jobs scheduled by rule.

Energies in J, powers in W, prices in currency/MWh.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from physics.constants import JOULES_PER_KWH, WATTS_PER_KILOWATT
from physics.facility import Facility
from physics.schedule import workload_profiles

__all__ = ["flexible_work"]

FloatArray = NDArray[np.float64]


def flexible_work(
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
