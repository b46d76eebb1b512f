"""A plan's stored form: the schedule as JSON, and the safe fallback as a plan payload.

* :func:`schedule_json` / :func:`schedule_from_json` — a :class:`physics.schedule.Schedule` as
  the JSON of a stored plan (``time`` ISO UTC, ``supply_temperature_c`` per unit,
  ``chilled_water_temperature_c``, ``battery_power_kw`` + charging, ``workload_power_kw`` per
  job) and back.
* :func:`fallback_payload` — the payload of the safe fallback: the as-operated setpoints,
  battery and job states over a span of the live window.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from physics.constants import WATTS_PER_KILOWATT as KW
from physics.facility import Facility
from physics.schedule import Schedule

__all__ = ["fallback_payload", "schedule_from_json", "schedule_json"]


def schedule_json(
    schedule: Schedule, facility: Facility, times: pd.DatetimeIndex
) -> dict[str, Any]:
    """A schedule as JSON: times, setpoints [°C], battery [kW], workload power [kW].

    Parameters
    ----------
    schedule
        The schedule (SI: °C, W).
    facility
        The facility (unit and workload ids).
    times
        Start of each step (UTC); the JSON covers the shorter of it and the schedule.
    """
    n = min(len(times), schedule.supply_temperature.shape[0])
    return {
        "time": [t.isoformat() for t in times[:n]],
        "supply_temperature_c": {
            unit: np.round(schedule.supply_temperature[:n, u], 4).tolist()
            for u, unit in enumerate(facility.units.ids)
        },
        "chilled_water_temperature_c": np.round(schedule.chilled_water_temperature[:n], 4).tolist(),
        "battery_power_kw": np.round(schedule.battery_power[:n] / KW, 4).tolist(),
        "workload_power_kw": {
            name: np.round(schedule.workload_power[:n, j] / KW, 4).tolist()
            for j, name in enumerate(facility.workloads.ids)
        },
    }


def schedule_from_json(data: Mapping[str, Any], facility: Facility) -> Schedule:
    """The :class:`Schedule` of a stored plan's ``schedule`` (inverse of the JSON form)."""
    supply = np.column_stack([data["supply_temperature_c"][u] for u in facility.units.ids])
    work = [
        np.asarray(data["workload_power_kw"][j], dtype=float) * KW for j in facility.workloads.ids
    ]
    steps = supply.shape[0]
    return Schedule(
        supply_temperature=supply.astype(float),
        chilled_water_temperature=np.asarray(data["chilled_water_temperature_c"], dtype=float),
        battery_power=np.asarray(data["battery_power_kw"], dtype=float) * KW,
        workload_power=np.column_stack(work) if work else np.zeros((steps, 0)),
    )


def fallback_payload(
    baseline: Schedule,
    facility: Facility,
    times: pd.DatetimeIndex,
    span: slice,
    reason: str,
) -> dict[str, Any]:
    """The payload of the safe fallback over ``span`` of the live window.

    Parameters
    ----------
    baseline
        The as-operated schedule over the whole window (SI).
    facility
        The facility.
    times
        Start of each step of the window (UTC).
    span
        The steps of the fallback.
    reason
        Why it is proposed (first line of its explanation).

    Returns
    -------
    dict
        ``summary`` (status ``fallback``, not verified, the explanation), ``start`` (ISO UTC),
        ``start_index``, ``reason`` (``revert``), ``fallback`` (True) and ``schedule``.
    """
    part = Schedule(
        supply_temperature=baseline.supply_temperature[span],
        chilled_water_temperature=baseline.chilled_water_temperature[span],
        battery_power=baseline.battery_power[span],
        workload_power=baseline.workload_power[span],
    )
    start = int(span.start or 0)
    return {
        "summary": {
            "status": "fallback",
            "verified": False,
            "explanation": [reason, "the safe fallback: as-operated setpoints and job states"],
        },
        "start": times[start].isoformat(),
        "start_index": start,
        "reason": "revert",
        "fallback": True,
        "schedule": schedule_json(part, facility, times[span]),
    }
