"""Approving a fleet plan makes every site adopt its share, as a single site adopts a plan.

A fleet plan holds each site's schedule on the re-plan window (setpoints, battery dispatch,
the power of every workload, the fleet's jobs and routed tier 1 included;
:class:`optimizer.fleet.result.Judged`).  On approval, :func:`adopt_share` turns a site's
share into a plan of that site's own store (``reason: fleet plan <id>``, ``fleet_plan`` in
its payload) and approves it through the site's own path (:meth:`twin.live.live_twin.
LiveTwin.approve`): the schedule is merged into the twin's schedule and the virtual plant's,
``propose``, ``approve`` and ``apply`` are audited under the operator who approved the fleet
plan, and the site's post-approval watch starts on it (a trip proposes the site's fallback,
as for any applied plan).  The fleet workloads' profiles (``fleet_job_<i>``, ``fleet_serve``;
:mod:`twin.fleet.sites`) are set to the adopted power over the window, and the site's
as-operated baseline is recomputed with them, so that the site's own re-plans and its
fallback keep the fleet's work where the fleet plan put it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from optimizer.baselines import as_operated
from physics.constants import WATTS_PER_KILOWATT as KW
from twin.live.live_twin import LiveTwin
from twin.store.records import PlanRecord

__all__ = ["adopt_share", "site_payload"]


def _positions(twin: LiveTwin, times: list[str]) -> tuple[int, int, int]:
    """(first step of the twin, first entry of the share, steps) where the share's times
    fall on the twin's live window."""
    index = pd.DatetimeIndex(pd.to_datetime(times, utc=True))
    found = np.asarray(twin.times.get_indexer(index))
    inside = np.flatnonzero(found >= 0)
    if inside.size == 0:
        raise ValueError(
            f"the plan's window ({times[0]} → {times[-1]}) is outside the site's live window "
            f"({twin.times[0].isoformat()} → {twin.times[-1].isoformat()})"
        )
    breaks = np.flatnonzero(np.diff(inside) != 1)
    steps = int(breaks[0]) + 1 if breaks.size else int(inside.size)
    first = int(inside[0])
    return int(found[first]), first, steps


def site_payload(
    twin: LiveTwin, share: Mapping[str, Any], fleet_plan: str, summary: Mapping[str, Any]
) -> dict[str, Any]:
    """The payload of a site plan adopting ``share`` (a stored site schedule of the fleet
    plan ``fleet_plan``; units as :func:`twin.live.control.payload.schedule_json`).

    Units and jobs the share does not name keep the twin's schedule in force.

    Raises
    ------
    ValueError
        When the share's window does not meet the twin's live window.
    """
    start, offset, steps = _positions(twin, list(share["time"]))
    cut = slice(offset, offset + steps)
    span = slice(start, start + steps)
    current = twin.schedule

    def column(values: Any, fallback: np.ndarray) -> list[float]:
        if values is None:
            return [float(v) for v in np.round(fallback, 4)]
        return [float(v) for v in list(values)[cut]]

    supply = share.get("supply_temperature_c") or {}
    work = share.get("workload_power_kw") or {}
    schedule = {
        "time": [t.isoformat() for t in twin.times[span]],
        "supply_temperature_c": {
            unit: column(supply.get(unit), current.supply_temperature[span, u])
            for u, unit in enumerate(twin.facility.units.ids)
        },
        "chilled_water_temperature_c": column(
            share.get("chilled_water_temperature_c"), current.chilled_water_temperature[span]
        ),
        "battery_power_kw": column(share.get("battery_power_kw"), current.battery_power[span] / KW),
        "workload_power_kw": {
            name: column(work.get(name), current.workload_power[span, j] / KW)
            for j, name in enumerate(twin.facility.workloads.ids)
        },
    }
    return {
        "summary": dict(summary),
        "start": twin.times[start].isoformat(),
        "start_index": start,
        "reason": f"fleet plan {fleet_plan}",
        "fleet_plan": fleet_plan,
        "schedule": schedule,
    }


def _keep_fleet_work(twin: LiveTwin, start: int, steps: int) -> None:
    """Write the adopted power of the fleet's workloads into their profiles over the adopted
    steps and recompute the as-operated baseline (see module docs)."""
    work = twin.facility.workloads
    span = slice(start, start + steps)
    with twin.lock:
        for j, name in enumerate(work.ids):
            profile = work.profile[j]
            if not name.startswith("fleet:") or profile is None or profile not in twin.series:
                continue
            capacity = float(work.capacity[j]) * float(work.profile_scale[j])
            power = twin.schedule.workload_power[span, j]
            utilization = np.clip(power / capacity, 0.0, 1.0) if capacity > 0 else 0.0 * power
            values = np.array(twin.series[profile].values, dtype=float, copy=True)
            values[span] = utilization
            twin.series[profile] = (twin.series[profile].dims, values, twin.series[profile].attrs)
        twin.baseline = as_operated(twin.facility, twin.series)


def adopt_share(
    twin: LiveTwin,
    share: Mapping[str, Any],
    fleet_plan: str,
    summary: Mapping[str, Any],
    *,
    actor: str,
    reason: str = "",
) -> PlanRecord:
    """Make ``twin`` adopt its share of the approved fleet plan ``fleet_plan`` (see module
    docs); returns the site's applied plan.

    Raises
    ------
    ValueError
        When the share's window does not meet the twin's live window.
    """
    payload = site_payload(twin, share, fleet_plan, summary)
    payload["preview"] = twin.supervisor.preview(payload)
    plan_id = uuid.uuid4().hex[:12]
    why = reason or f"fleet plan {fleet_plan} approved"
    twin.store.add_plan(plan_id, twin.clock(), "proposed", payload)
    twin.store.audit(actor, "propose", plan_id, why, {"fleet_plan": fleet_plan})
    record = twin.approve(plan_id, actor=actor, reason=why)
    _keep_fleet_work(twin, int(payload["start_index"]), len(payload["schedule"]["time"]))
    return record
