"""Moving the live window without dropping the plans in force.

When less than a planning horizon is left in the live window, :meth:`twin.live.live_twin.
LiveTwin.reanchor_if_needed` moves it (:func:`twin.live.window.live_scenario_dict`: from 00:00
UTC yesterday, a week long).  The new window starts from the as-operated schedule on its own
series; :func:`carry_over` then merges back, in the order they were applied, every plan the
twin applied since its scenario was loaded that is still ``applied`` (not reverted), at the
instants of its own schedule — so an approved plan keeps running until it ends or a newer
plan replaces it.  The new window starts before "now" and ends later than the old one, so
only steps already in the past can fall outside it; they are counted, never hidden.
:func:`reanchor` does the whole move and writes one ``reanchor`` audit entry naming the plans
kept (and the steps of each that fell before the new window).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from physics.schedule import Schedule
from twin.live.control.payload import schedule_from_json

if TYPE_CHECKING:
    from physics.facility import Facility
    from twin.live.live_twin import LiveTwin
    from twin.store.records import PlanRecord

__all__ = ["carry_over", "reanchor"]

_FIELDS = ("supply_temperature", "chilled_water_temperature", "battery_power", "workload_power")


def carry_over(
    schedule: Schedule,
    facility: Facility,
    times: pd.DatetimeIndex,
    records: Sequence[PlanRecord],
) -> tuple[Schedule, list[dict[str, Any]]]:
    """``schedule`` (on ``times``, UTC step starts) with the applied plans ``records`` merged
    back at their own instants, oldest first (a later plan overwrites an earlier one where
    they overlap, as when they were applied).

    Returns
    -------
    tuple
        The merged schedule (SI units as :class:`physics.schedule.Schedule`: °C, W) and, per
        plan, ``plan`` (id), ``kept`` and ``before_window`` (steps [count]) or ``dropped``
        (why a plan could not be merged: its schedule does not fit the facility).
    """
    merged = {name: np.array(getattr(schedule, name), copy=True) for name in _FIELDS}
    report: list[dict[str, Any]] = []
    for record in records:
        payload = record["payload"] or {}
        data = payload.get("schedule") or {}
        try:
            planned = schedule_from_json(data, facility)
            index = pd.DatetimeIndex(pd.to_datetime(list(data["time"]), utc=True))
        except (KeyError, ValueError, TypeError) as exc:
            report.append({"plan": record["id"], "dropped": f"{type(exc).__name__}: {exc}"})
            continue
        found = np.asarray(times.get_indexer(index))
        inside = np.flatnonzero(found >= 0)
        for name, array in merged.items():
            array[found[inside]] = getattr(planned, name)[inside]
        report.append(
            {
                "plan": record["id"],
                "kept": int(inside.size),
                "before_window": int(np.count_nonzero(index < times[0])),
            }
        )
    return Schedule(**merged), report


def reanchor(twin: LiveTwin) -> list[dict[str, Any]]:
    """Move ``twin``'s live window onto the current day, keeping the plans in force (see
    module docs); audited as ``reanchor``.  Returns :func:`carry_over`'s report."""
    records = []
    for plan_id in twin.applied_plans:
        record = twin.store.get_plan(plan_id)
        if record is not None and record["status"] == "applied":
            records.append(record)
    with twin.lock:
        old = (twin.times[0], twin.times[-1])
        twin.load_window()
        schedule, report = carry_over(twin.baseline, twin.facility, twin.times, records)
        twin.applied_plans = [
            entry["plan"] for entry in report if entry.get("kept") and entry["kept"] > 0
        ]
        twin.set_schedule(schedule)
    for observer in list(twin.reanchor_observers):
        observer()
    twin.store.audit(
        "twin",
        "reanchor",
        twin.facility.name,
        f"live window moved from {old[0].isoformat()} to {twin.times[0].isoformat()}; "
        f"{len(twin.applied_plans)} applied plan(s) kept",
        {
            "window": [twin.times[0].isoformat(), twin.times[-1].isoformat()],
            "previous_window": [old[0].isoformat(), old[1].isoformat()],
            "plans": report,
        },
    )
    return report
