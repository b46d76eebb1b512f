"""Approving a fleet plan makes every site adopt its share, as a single site adopts a plan —
every site or none.

A fleet plan holds each site's schedule on the re-plan window (setpoints, battery dispatch,
the power of every workload, the fleet's jobs and routed tier 1 included;
:class:`optimizer.fleet.result.Judged`).  On approval, :class:`Adoption` turns a site's share
into a plan of that site's own store (``reason: fleet plan <id>``, ``fleet_plan`` in its
payload) and approves it through the site's own path (:meth:`twin.live.live_twin.LiveTwin.
approve`): the schedule is merged into the twin's schedule and the virtual plant's,
``propose``, ``approve`` and ``apply`` are audited under the operator who approved the fleet
plan, and the site's post-approval watch starts on it (a trip proposes the site's fallback,
as for any applied plan).  The fleet workloads' profiles (``fleet_job_<i>``, ``fleet_serve``;
:mod:`twin.fleet.sites`) are set to the adopted power over the window, and the site's
as-operated baseline is recomputed with them, so that the site's own re-plans and its
fallback keep the fleet's work where the fleet plan put it.

**Every site or none** (:meth:`twin.fleet.replan.FleetPlanner.approve`): every share is first
checked against its site as it is now (:func:`check_share`: the site's scenario is the one the
plan was made on, the share lies whole on the live window and names only the site's units and
workloads), then the sites adopt in turn; when one fails (its store locked by another writer,
a conflict), :meth:`Adoption.undo` restores every site that had adopted — its schedule, the
virtual plant's, the fleet profiles, the baseline and the watch as they were — marks its site
plan ``reverted`` and audits a ``rollback``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from optimizer.baselines import as_operated
from physics.constants import WATTS_PER_KILOWATT as KW
from physics.schedule import Schedule
from twin.live.control.payload import schedule_from_json
from twin.live.control.proposals import supersede_older
from twin.live.control.watch import PlanWatch
from twin.live.live_twin import LiveTwin
from twin.store.errors import StoreError
from twin.store.records import PlanRecord

__all__ = ["Adoption", "check_share", "keep_fleet_work", "site_payload"]

log = logging.getLogger(__name__)


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


def keep_fleet_work(twin: LiveTwin) -> None:
    """After the live window moved (:mod:`twin.live.control.reanchor`), write the fleet work
    of the plans kept into the fleet workloads' profiles again (the new window's profiles are
    0: only kept fleet plans run fleet work) and recompute the baseline."""
    _keep_fleet_work(twin, 0, len(twin.times))


def check_share(
    twin: LiveTwin,
    share: Mapping[str, Any],
    fleet_plan: str,
    summary: Mapping[str, Any],
    digest: str | None = None,
) -> dict[str, Any]:
    """The site plan ``twin`` would adopt for ``share`` (:func:`site_payload`), once checked
    against the site as it is now; nothing is written.

    Parameters
    ----------
    digest
        The site's :attr:`twin.live.live_twin.LiveTwin.scenario_digest` when the fleet plan
        was made (None: not checked).

    Raises
    ------
    ValueError
        The site's scenario changed since the plan was made, the share does not lie whole on
        the live window, or it names units or workloads the site does not have.
    """
    if digest is not None and digest != twin.scenario_digest:
        raise ValueError("its scenario was replaced after the fleet plan was made")
    payload = site_payload(twin, share, fleet_plan, summary)
    steps = len(payload["schedule"]["time"])
    if steps != len(share["time"]):
        raise ValueError(
            f"only {steps} of the share's {len(share['time'])} steps lie on the live window"
        )
    facility = twin.facility
    unknown = sorted(
        {*(share.get("supply_temperature_c") or {})} - set(facility.units.ids)
        | {*(share.get("workload_power_kw") or {})} - set(facility.workloads.ids)
    )
    if unknown:
        raise ValueError(f"the share names what the site does not have: {', '.join(unknown)}")
    schedule_from_json(payload["schedule"], facility).check(facility, steps)
    return payload


@dataclass
class Adoption:
    """One site adopting its share of a fleet plan, with what it changes kept to undo it.

    Parameters
    ----------
    twin
        The site's live twin.
    payload
        The site plan (:func:`check_share`).
    plan_id
        Its id in the site's store.
    overriding
        The ids of the site's critical alarms on what the share moves that the fleet's
        approver overrode (:func:`twin.fleet.alarms.check_fleet_alarms`): the site's approval
        overrides those only, with the fleet's reason, and audits them; any other critical
        alarm on what it moves (none overridden, or one raised since) refuses the site's
        approval (and the fleet's, every site rolled back).
    """

    twin: LiveTwin
    payload: dict[str, Any]
    plan_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    overriding: list[int] = field(default_factory=list)
    _schedule: Schedule | None = None
    _baseline: Schedule | None = None
    _profiles: dict[str, xr.DataArray] = field(default_factory=dict)
    _watch: PlanWatch | None = None
    _stored: bool = False

    def apply(self, *, actor: str, reason: str) -> PlanRecord:
        """Adopt: store, approve and apply the site plan, keep the fleet work in the
        profiles (see module docs); returns the applied site plan."""
        twin = self.twin
        with twin.lock:
            self._schedule, self._baseline = twin.schedule, twin.baseline
            self._profiles = {
                str(name): twin.series[name].copy(deep=True)
                for name in twin.series.data_vars
                if str(name).startswith("fleet_")
            }
            self._watch = twin.supervisor.watch
        payload = dict(self.payload)
        if "preview" not in payload:  # the fleet's approval judged the alarms on it
            payload["preview"] = twin.supervisor.preview(payload)
        payload["scenario_digest"] = twin.scenario_digest  # restored after a restart only on it
        fleet_plan = str(payload["fleet_plan"])
        twin.store.add_plan(self.plan_id, twin.clock(), "proposed", payload)
        self._stored = True
        # the site plan's own reason, not the approval's (tryout3 finding 8)
        proposed = str(payload.get("reason") or f"site part of fleet plan {fleet_plan}")
        twin.store.audit(actor, "propose", self.plan_id, proposed, {"fleet_plan": fleet_plan})
        # critical alarms on what the site plan moves: overridden only where the fleet's
        # approver overrode them (force and a reason, audited here too); an alarm raised
        # since the fleet's check refuses it, and the fleet's approval rolls back
        why = reason or f"fleet plan {fleet_plan} approved"
        record = twin.approve(
            self.plan_id,
            actor=actor,
            reason=why,
            force=bool(self.overriding),
            seen_alarms=self.overriding,
        )
        _keep_fleet_work(twin, int(payload["start_index"]), len(payload["schedule"]["time"]))
        # the site's own proposals were made without the fleet's work: approving one later
        # would drop it (hostile pass, 7 Dec: 25,000 kWh of a fleet job gone at Dallas)
        supersede_older(
            twin.store,
            twin.supervisor.proposal_lock,
            self.plan_id,
            twin.clock(),
            f"its share of fleet plan {fleet_plan} adopted",
        )
        return record

    def undo(self, *, actor: str, reason: str) -> None:
        """Restore the site as it was before :meth:`apply` (schedule, virtual plant, fleet
        profiles, baseline, watch), mark the site plan ``reverted`` (``rejected`` if it was
        not applied yet) and audit a ``rollback``.  Store errors are logged: the site's state
        in memory is restored first."""
        twin = self.twin
        if self._schedule is None:
            return
        with twin.lock:
            for name, values in self._profiles.items():
                twin.series[name] = values
            if self._baseline is not None:
                twin.baseline = self._baseline
            twin.set_schedule(self._schedule)
            twin.supervisor.watch = self._watch
            twin.applied_plans = [p for p in twin.applied_plans if p != self.plan_id]
        if not self._stored:
            return
        try:
            record = twin.store.get_plan(self.plan_id)
            status = None if record is None else record["status"]
            final = {"applied": "reverted", "approved": "superseded", "proposed": "rejected"}
            if status in final:
                twin.store.set_plan_status(self.plan_id, final[status], actor, reason)
            twin.store.audit(
                actor, "rollback", self.plan_id, reason, {"fleet_plan": self.payload["fleet_plan"]}
            )
        except StoreError:
            log.exception("site plan %s: the rollback could not be recorded", self.plan_id)
