"""Keeping the plans in force when the live window moves and when the service restarts.

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

After a restart the twin starts again from the as-operated schedule; :func:`restore` (called
once by :meth:`twin.live.live_twin.LiveTwin.start`) merges back the plans the store still holds
as ``applied`` that were made on the same scenario (:func:`twin.live.window.scenario_digest`
stamped in each plan) and reach into the live window, in the order they were applied, restarts
the watch of the newest one if its watch had not ended, and writes one ``restore`` audit entry
naming the plans restored and those left out with the reason.
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

__all__ = ["RESTORE_SCAN", "carry_over", "reanchor", "restore"]

RESTORE_SCAN = 500
"""Applied plans examined at a restart, newest first [count] (older ones ended long ago)."""

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


def _merged_in_force(twin: LiveTwin, records: Sequence[PlanRecord]) -> list[dict[str, Any]]:
    """Under ``twin.lock``: ``records`` merged onto the as-operated schedule, in force (the
    twin's and the virtual plant's), and those with a step kept made the plans in force;
    returns :func:`carry_over`'s report."""
    schedule, report = carry_over(twin.baseline, twin.facility, twin.times, records)
    twin.applied_plans = [entry["plan"] for entry in report if entry.get("kept")]
    twin.set_schedule(schedule)
    return report


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
        report = _merged_in_force(twin, records)
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


def restore(twin: LiveTwin) -> list[dict[str, Any]]:
    """Merge back into ``twin``'s schedule the plans in force before a restart (see module
    docs); audited as ``restore`` when any applied plan was found.  Returns the report: per
    plan, :func:`carry_over`'s entry or ``skipped`` (why it was left out)."""
    store = twin.store
    candidates = store.list_plans(limit=RESTORE_SCAN, status="applied")
    # a scenario replaced over the API took every plan applied before it out of force
    replaced = store.audit_log(limit=1, actions=["replace_scenario"])
    cut = replaced[0]["id"] if replaced else -1
    applied_at = {
        entry["target"]: entry["id"]
        for entry in reversed(store.audit_log(limit=4 * RESTORE_SCAN, actions=["apply"]))
    }
    window_start = twin.times[0]
    kept: list[PlanRecord] = []
    report: list[dict[str, Any]] = []
    for record in sorted(candidates, key=_applied_at):
        payload = record["payload"] or {}
        times = (payload.get("schedule") or {}).get("time") or []
        if payload.get("scenario_digest") != twin.scenario_digest:
            why = "made on another scenario" if payload.get("scenario_digest") else "no digest"
            report.append({"plan": record["id"], "skipped": why})
        elif applied_at.get(record["id"], -1) < cut:
            since = f"{replaced[0]['time']:%Y-%m-%d %H:%M} UTC"
            why = f"out of force since the scenario was replaced ({since})"
            report.append({"plan": record["id"], "skipped": why})
        elif not times or pd.Timestamp(times[-1]) < window_start:
            report.append({"plan": record["id"], "skipped": "ended before the live window"})
        else:
            kept.append(record)
    if not report and not kept:
        return []
    with twin.lock:
        merged = _merged_in_force(twin, kept)
    for observer in list(twin.reanchor_observers):
        observer()
    report.extend(merged)
    newest = next((r for r in reversed(kept) if r["id"] in twin.applied_plans), None)
    twin.store.audit(
        "twin",
        "restore",
        twin.facility.name,
        f"{len(twin.applied_plans)} plan(s) in force again after a restart; "
        f"{len(report) - len(twin.applied_plans)} applied plan(s) left out (see detail)",
        {"plans": report},
    )
    if newest is not None and newest["decided_at"] is not None:
        minutes = twin.settings.watch_minutes
        if twin.clock() - newest["decided_at"] < pd.Timedelta(minutes=minutes):
            model = twin.supervisor.watch_model(newest["id"])  # the model it was watched with
            twin.supervisor.plan_applied(newest, twin.clock(), model)  # watched again, in full
    return report


def _applied_at(record: PlanRecord) -> tuple[Any, Any]:
    return (record["decided_at"] or record["created"], record["created"])
