"""What the live twin does after each ingestion cycle and each applied plan: alarms and watch.

:class:`Supervisor` belongs to one :class:`twin.live.live_twin.LiveTwin` and keeps the alarm
side of the loop out of it:

* **Sensor-fault alarms** (:meth:`Supervisor.after_batch`): each new stuck, drift, silent
  fault of :class:`twin.live.faults.FaultDetector` raises ``sensor_<kind>`` (warning) on the
  point, cleared when the point is readmitted; a spike raises ``sensor_spike`` (warning) on
  the point, cleared after :data:`SPIKE_CLEAR_S` without another.  Raised on a reading beyond
  a hard limit, the alarm is critical and says the limit is crossed unless the sensor is
  wrong.  After a restart the sensor-fault alarms left active are re-judged by the new
  detector (:meth:`Supervisor._rejudge`).
* **Limit alarms**: the events of :class:`~twin.live.control.limit_alarms.LimitMonitor`
  written to the store (raise, escalate, lower, clear), in the ingestion cycle that causes
  them; the monitor judges the readings the screening excluded too (suspected readings).
* **The watch** (:class:`~twin.live.control.watch.PlanWatch`): started by
  :meth:`Supervisor.plan_applied` for every applied plan except a fallback, judging the
  readings against the model as calibrated at that moment (frozen, so the online
  calibration cannot learn a divergence away; audited with ``watch_start``); when it trips,
  :meth:`Supervisor.revert` proposes the safe fallback (the as-operated setpoints and job
  states from now on) and, under autonomy, approves it at once; the plan becomes
  ``reverted``, an alarm (``plan_reverted`` or ``plan_revert_proposed``, critical) and the
  audit log say why.  ``plan_reverted`` clears once no critical limit alarm is active;
  ``plan_revert_proposed`` once the proposal is decided.
* **Previews** (:meth:`Supervisor.preview`): a plan against the schedule in force, with the
  figures of both on the calibrated twin.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from optimizer.accounting import sla_report
from optimizer.baselines import as_operated
from optimizer.plan import verified_figures
from optimizer.state import apply_state
from physics.schedule import Schedule
from physics.simulate import simulate
from twin.live.control.approval import concerns
from twin.live.control.limit_alarms import LimitEvent, LimitMonitor
from twin.live.control.limit_table import DEFAULT_BANDS
from twin.live.control.preview import continued_from_state, hard_contracts_missed, plan_preview
from twin.live.control.proposals import RevertBarrier
from twin.live.control.verification import check_on_twin
from twin.live.control.watch import (
    PlanWatch,
    WatchTrip,
    model_from_json,
    model_json,
    moved_points,
)
from twin.live.estimation import EstimatedState
from twin.live.faults.kinds import FaultKind, SensorFault
from twin.live.parameters import UncertainParameters
from twin.scenario.points import Reading
from twin.store.records import Alarm, PlanRecord

if TYPE_CHECKING:
    from twin.live.live_twin import LiveTwin

__all__ = ["REVERT_KINDS", "SPIKE_CLEAR_S", "Supervisor"]

SPIKE_CLEAR_S = 600.0
"""A ``sensor_spike`` alarm clears after this long without another spike on its point [s]."""

REVERT_KINDS = ("plan_reverted", "plan_revert_proposed")
"""Alarm kinds of the watch's reverts."""


class Supervisor:
    """Alarms, the watch after each applied plan, reverts and previews of one live twin.

    Parameters
    ----------
    twin
        The live twin (its store, clock, settings, facility, schedule and plan methods).
    """

    def __init__(self, twin: LiveTwin) -> None:
        self.twin = twin
        settings = twin.settings
        self.limits = LimitMonitor(
            twin.facility,
            twin.catalogue.ids,
            bands={
                "degC": dataclasses.replace(DEFAULT_BANDS["degC"], warning=settings.alarm_warning_k)
            },
            min_duration=settings.alarm_min_duration_s,
            clear_duration=settings.alarm_clear_duration_s,
            max_gap=max(settings.stale_after_s, 2.0 * settings.alarm_min_duration_s),
        )
        self.watch: PlanWatch | None = None
        """The watch of the last applied plan (None before the first)."""
        self._last_spike: dict[str, datetime] = {}
        self._inherited: set[str] = set()  # points with sensor alarms from before a restart
        self.readmitted: set[str] = set()
        """Points an operator readmitted (:func:`twin.live.control.sensors.readmit`) since
        their last stuck or drift fault was alarmed: a fault the cycle found before the
        readmission, alarmed after it, is not alarmed."""
        self._adopted = False
        self._rejudge_limits: set[int] = set()  # adopted limit alarms stored with old limits
        self._revert_alarms = True  # look for revert alarms to clear (e.g. after a restart)
        self.proposal_lock = threading.Lock()
        """Held while a new proposal supersedes the older ones and is stored
        (:func:`twin.live.control.proposals.store_proposal`)."""
        self.barrier = RevertBarrier()
        """The newest revert proposed or approved: older proposals are superseded by it."""

    # ------------------------------------------------------------------ each ingestion cycle

    def after_batch(
        self,
        moment: datetime,
        kept: Sequence[Reading],
        faults: Sequence[SensorFault],
        recovered: Sequence[str],
        estimate: EstimatedState,
        model: xr.Dataset | Mapping[str, Any],
        predicted: Mapping[str, float],
        readings: Sequence[Reading] | None = None,
    ) -> list[LimitEvent]:
        """Alarms and the watch for one ingestion cycle; returns the limit events.

        Parameters
        ----------
        moment
            Instant of the cycle (timezone-aware).
        kept
            Readings that passed screening.
        faults
            Faults the screening detected in this cycle.
        recovered
            Points it readmitted.
        estimate
            The state estimate at ``moment``.
        model
            The calibrated model at the current step (simulation variables, SI).
        predicted
            The twin's prediction of every point (canonical units, offsets in).
        readings
            Every reading of the batch, screened or not (default: ``kept``): the limit alarms
            judge the excluded ones too, as suspected readings.
        """
        store = self.twin.store
        # readings may be stamped up to MAX_FUTURE ahead (a gateway's clock): no alarm, trip
        # or clearing is stamped after the twin's clock; the alarm's detail says by how much
        ahead = (moment - self.twin.clock()).total_seconds()
        moment = moment - timedelta(seconds=max(ahead, 0.0))
        if not self._adopted:
            self._adopt(store.alarms(active_only=True))
        excluded: list[Reading] = []
        if readings is not None and len(readings) != len(kept):  # kept: a subset, in order
            taken = {id(r) for r in kept}
            excluded = [r for r in readings if id(r) not in taken]
        newest: dict[str, Reading] = {}
        for reading in excluded:
            if reading.point not in newest or reading.time >= newest[reading.point].time:
                newest[reading.point] = reading
        for reading in kept if newest else ():
            if reading.point in newest and reading.time > newest[reading.point].time:
                newest[reading.point] = reading
        self._sensor_alarms(moment, faults, recovered, newest)
        suspected = self._suspected(excluded)
        events = self.limits.evaluate(moment, kept, estimate, model, excluded, suspected)
        if self._rejudge_limits:  # alarms stored with the limits of another scenario
            events += self.limits.rejudge(moment, self._rejudge_limits)
        if ahead > 0:
            for event in events:
                event.detail["readings_ahead_s"] = round(ahead, 3)
        self._write_limit_events(events)
        critical = [
            (e.source, e.message)
            for e in events
            if e.action == "raise" and e.severity == "critical"
        ]
        watch = self.watch
        if watch is not None and watch.active:
            if watch.parameters is not None:  # the model as calibrated when it was applied
                predicted = self.twin.predicted(moment, watch.parameters)
            # every reading of its points, screened or not: the screening takes a plant that
            # left the model for a faulty meter once the calibration moved (tester finding 2)
            seen = kept if readings is None else readings
            # only a watch with alarms standing at its start reads them (per batch otherwise)
            levels = self.limits.critical_now() if watch.standing else None
            trip = watch.observe(moment, seen, predicted, critical, levels)
            if trip is not None:
                self.revert(trip, readings_ahead_s=max(ahead, 0.0))
            elif watch.passed:
                store.audit("watch", "watch_passed", watch.plan_id, "nothing unexpected", {})
        if self._revert_alarms:
            self._clear_revert_alarms(moment)
        return events

    def restore_screening(self, active: Sequence[Alarm]) -> list[str]:
        """Hold excluded again, before the first batch is screened, the points whose stuck or
        drift alarm a stopped twin left active, with the baseline and σ its screening had
        (the alarm's ``detail["screening"]``): a restart neither readmits a faulty sensor
        unjudged nor learns its offset as its usual residual.  Alarms without them (older,
        damaged) are re-judged from scratch (:meth:`_rejudge`).  Returns the points held."""
        detector, held = self.twin.faults, []
        for alarm in active:
            kind, source, detail = alarm["kind"], alarm["source"], alarm.get("detail")
            state = detail.get("screening") if isinstance(detail, dict) else None
            if kind not in ("sensor_stuck", "sensor_drift") or not isinstance(state, dict):
                continue
            try:
                since = datetime.fromisoformat(str(detail["since"]))
                fault_kind: FaultKind = "stuck" if kind == "sensor_stuck" else "drift"
                fault = SensorFault(source, fault_kind, since, alarm["message"], alarm["raised"])
                detector.restore(fault, float(state["baseline"]), float(state["sigma"]))
            except (KeyError, TypeError, ValueError):  # unknown point, damaged detail
                continue
            held.append(source)
        return held

    def _adopt(self, active: Sequence[Alarm]) -> None:
        """Take over the alarms a twin that stopped left active (after a restart): the limit
        levels (:meth:`LimitMonitor.adopt`); a spike alarm clears :data:`SPIKE_CLEAR_S` after
        its spike; a stuck, drift or silent alarm is re-judged by the new fault detector,
        which has no memory of it (:meth:`_rejudge`)."""
        limit_alarms = [a for a in active if a["kind"].startswith("limit_")]
        self.limits.adopt(limit_alarms)
        self._rejudge_limits = self.limits.changed_limits(limit_alarms)
        for alarm in active:
            kind, source = alarm["kind"], alarm["source"]
            if kind == "sensor_spike":
                self._last_spike.setdefault(source, alarm["raised"])
            elif kind.startswith("sensor_") and source in self.twin.faults.catalogue:
                self._inherited.add(source)
        self._adopted = True

    def _rejudge(self, moment: datetime, gone: set[str]) -> None:
        """Clear the inherited sensor-fault alarms (:meth:`_adopt`) of points the new fault
        detector has judged (its warm-up done) and does not hold faulty; a point it holds
        faulty keeps its alarms until it is readmitted."""
        detector = self.twin.faults
        for point in list(self._inherited):
            if point in gone:
                self._inherited.discard(point)
            elif detector.judged(point) and not detector.is_faulty(point):
                gone.add(point)
                self._inherited.discard(point)

    def _suspected(self, excluded: Sequence[Reading]) -> dict[str, str]:
        """Why each point of ``excluded`` was excluded: its active fault's kind, else a
        spike."""
        if not excluded:
            return {}
        active = {f.point: f.kind for f in self.twin.faults.active_faults()}
        return {r.point: active.get(r.point, "spike") for r in excluded}

    def _sensor_alarms(
        self,
        moment: datetime,
        faults: Sequence[SensorFault],
        recovered: Sequence[str],
        newest: Mapping[str, Reading],
    ) -> None:
        store = self.twin.store
        for fault in faults:
            if fault.kind == "spike":
                self._last_spike[fault.point] = fault.detected
            elif fault.kind in ("stuck", "drift") and fault.point in self.readmitted:
                self.readmitted.discard(fault.point)
                if not self.twin.faults.is_faulty(fault.point):  # readmitted since found
                    continue
            severity, message = "warning", fault.reason
            reading = newest.get(fault.point)
            crossed = [] if reading is None else self.limits.crossed(fault.point, reading.value)
            if crossed:  # a suspected reading beyond a hard limit: the limit may be crossed
                severity = "critical"
                message = (
                    f"{fault.reason.rstrip('.')}. The reading is {' and '.join(crossed)}: "
                    "the limit is crossed unless the sensor is wrong (the limit alarm judges "
                    "the reading too)"
                )
            detail: dict[str, Any] = {"since": fault.since.isoformat()}
            held = self.twin.faults.screening_state(fault.point)
            if held is not None:  # what a restart resumes its recovery from (restore_screening)
                detail["screening"] = held
            store.raise_alarm(
                kind=f"sensor_{fault.kind}",
                source=fault.point,
                message=message,
                time=min(fault.detected, moment),
                severity=severity,
                point=fault.point,
                detail=detail,
            )
        gone = set(recovered)
        if self._inherited:
            self._rejudge(moment, gone)
        done = {p for p, t in self._last_spike.items() if moment - t >= _SPIKE_CLEAR}
        if not (gone or done):
            return
        for alarm in store.alarms(active_only=True):
            source, kind = alarm["source"], alarm["kind"]
            spike_done = kind == "sensor_spike" and source in done
            if spike_done or (
                source in gone and kind.startswith("sensor_") and kind != "sensor_spike"
            ):
                store.clear_alarm(alarm["id"], time=moment)
        for point in done:
            del self._last_spike[point]

    def _write_limit_events(self, events: Sequence[LimitEvent]) -> None:
        store = self.twin.store
        active: dict[tuple[str, str], Alarm] | None = None
        for event in events:
            if event.action == "raise":
                store.raise_alarm(
                    event.alarm,
                    event.source,
                    event.message,
                    time=event.time,
                    severity=event.severity,
                    point=event.point,
                    detail=event.detail,
                )
                continue
            if active is None:
                active = {(a["kind"], a["source"]): a for a in store.alarms(active_only=True)}
            alarm = active.get((event.alarm, event.source))
            if alarm is None:
                continue
            if event.action == "clear":
                store.clear_alarm(alarm["id"], time=event.time)
            else:
                store.update_alarm(
                    alarm["id"], severity=event.severity, message=event.message, detail=event.detail
                )

    # ------------------------------------------------------------------ plans

    def plan_applied(
        self,
        record: PlanRecord,
        applied_at: datetime,
        parameters: UncertainParameters | None = None,
    ) -> None:
        """Start the watch of an applied plan (none for a fallback, which ends any watch).

        The watch compares the readings with the model as calibrated now (or ``parameters``:
        a watch restarted after a restart keeps the model of its ``watch_start``), written to
        the ``watch_start`` audit entry as ``model``.
        """
        payload = record["payload"] or {}
        if payload.get("revert_of") or payload.get("fallback"):
            self.watch = None
            return
        preview = payload.get("preview") or self.preview(payload)
        twin = self.twin
        points = moved_points(preview, twin.facility, twin.catalogue)
        self.watch = PlanWatch(
            plan_id=record["id"],
            started=applied_at,
            points=points,
            units={p: twin.catalogue.kind(p).unit for p in points},
            minutes=twin.settings.watch_minutes,
            residual_minutes=twin.settings.watch_residual_minutes,
            parameters=parameters or twin.parameters,
            max_gap_s=twin.settings.stale_after_s,
            standing=self._standing(points),
            worsen_seconds=twin.settings.alarm_min_duration_s,
        )
        twin.store.audit(
            "watch",
            "watch_start",
            record["id"],
            f"watching {len(points)} points for {twin.settings.watch_minutes:g} min against "
            "the model as calibrated now",
            {"points": points, "model": model_json(self.watch.parameters or twin.parameters)},
        )

    def _standing(self, points: Sequence[str]) -> dict[tuple[str, str], float]:
        """The critical limit alarms active now on what a plan moves (its ``points`` and
        their racks): (kind, source) → margin now [unit] (the monitor's; after a restart the
        stored alarm's, else NaN), for the watch to judge whether they worsen."""
        levels = self.limits.critical_now()
        stored = {
            (a["kind"], a["source"]): a
            for a in self.twin.store.alarms(active_only=True)
            if a["kind"].startswith("limit_") and a["severity"] == "critical"
        }
        standing: dict[tuple[str, str], float] = {}
        for key in set(levels) | set(stored):
            point = levels[key][2] if key in levels else stored[key]["point"]
            if not concerns(points, {"point": point, "source": key[1]}):
                continue
            margin = levels[key][0] if key in levels else math.nan
            if not math.isfinite(margin) and key in stored:
                margin = float((stored[key]["detail"] or {}).get("margin", math.nan))
            standing[key] = margin
        return standing

    def watch_model(self, plan_id: str) -> UncertainParameters | None:
        """The model the newest watch of ``plan_id`` compared with (its ``watch_start``
        audit entry), None when none was written."""
        for entry in self.twin.store.audit_log(limit=200, actions=["watch_start"]):
            if entry["target"] == plan_id:
                return model_from_json((entry["detail"] or {}).get("model"))
        return None

    def revert(self, trip: WatchTrip, readings_ahead_s: float = 0.0) -> PlanRecord:
        """Revert the watched plan to the safe fallback (proposed; approved under autonomy);
        ``readings_ahead_s`` [s]: how far the readings that tripped it were stamped after the
        twin's clock (the trip is stamped at the clock; audited when > 0)."""
        twin = self.twin
        store = twin.store
        ahead = {"readings_ahead_s": round(readings_ahead_s, 3)} if readings_ahead_s > 0 else {}
        store.audit("watch", "watch_trip", trip.plan_id, trip.reason, trip.to_dict() | ahead)
        reason = f"watch of plan {trip.plan_id} tripped: {trip.reason}"
        record = twin.propose_fallback(reason, revert_of=trip.plan_id, actor="watch")
        if twin.settings.autonomy:
            record = twin.approve(record["id"], actor="autonomy", reason=reason)
            kind = "plan_reverted"
            message = (
                f"plan {trip.plan_id} reverted to the as-operated fallback (plan "
                f"{record['id']}): {trip.reason}"
            )
        else:
            kind = "plan_revert_proposed"
            message = (
                f"plan {trip.plan_id} should be reverted: {trip.reason}. Approve plan "
                f"{record['id']} (the as-operated fallback) on the Plan page"
            )
        store.raise_alarm(
            kind,
            trip.plan_id,
            message,
            time=trip.time,
            severity="critical",
            point=trip.point if trip.point in twin.catalogue else None,
            detail={"fallback_plan": record["id"], **trip.to_dict()},
        )
        self._revert_alarms = True
        return record

    def _clear_revert_alarms(self, moment: datetime) -> None:
        store = self.twin.store
        active = store.alarms(active_only=True)
        pending = [a for a in active if a["kind"] in REVERT_KINDS]
        if not pending:
            self._revert_alarms = False
            return
        critical = any(
            a["kind"].startswith("limit_") and a["severity"] == "critical" for a in active
        )
        for alarm in pending:
            if alarm["kind"] == "plan_reverted":
                if not critical:
                    store.clear_alarm(alarm["id"], time=moment)
                continue
            fallback = (alarm["detail"] or {}).get("fallback_plan")
            plan = store.get_plan(str(fallback)) if fallback else None
            if plan is None or plan["status"] != "proposed":
                store.clear_alarm(alarm["id"], time=moment)

    # ------------------------------------------------------------------ previews

    def preview(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The plan of ``payload`` against the schedule in force
        (:func:`twin.live.control.preview.plan_preview`), with the cost, peak and hottest inlet
        of both on the calibrated twin (the in-force schedule simulated now)."""
        twin = self.twin
        schedule = payload["schedule"]
        start = twin.step_index(pd.Timestamp(schedule["time"][0]).to_pydatetime())
        steps = twin.horizon_steps(_hours(schedule["time"], twin.step_seconds))
        summary = payload.get("summary") or {}
        plan_figures = dict(summary)
        check = summary.get("twin_check") or {}
        if "max_inlet_temperature_c" in check:
            plan_figures["max_inlet_temperature_c"] = check["max_inlet_temperature_c"]
        figures, misses, current = self.in_force_figures(start, steps)
        return plan_preview(
            schedule,
            current,
            twin.times,
            twin.facility,
            plan_figures=plan_figures,
            in_force_figures=figures,
            currency=getattr(twin.scenario, "currency", None) or "USD",
            step_seconds=twin.step_seconds,
            in_force_misses=misses,
        )

    def in_force_figures(
        self, start: int, steps: int
    ) -> tuple[dict[str, float], list[str], Schedule]:
        """Cost [currency], peak [kW], grid energy [kWh] and hottest inlet with the offsets
        [°C] of the schedule in force over ``steps`` steps from ``start``, on the calibrated
        twin with the estimated state, judged as a plan is (:func:`optimizer.accounting.
        verified_figures` with that state: the demand charge above the billing peak so far,
        the work left to do), so a preview compares like with like; and the hard contracts
        it would miss from that state (:func:`~twin.live.control.preview.
        hard_contracts_missed`), in words; and the schedule in force as compared: continued
        from the work actually done (:func:`~twin.live.control.preview.continued_from_state`),
        so that it delivers the same work as a plan from the same state."""
        twin = self.twin
        stop = min(start + steps, len(twin.times))
        if stop - start < 1:
            return {}, [], twin.schedule
        window = twin.series.isel(time=slice(start, stop))
        state = twin.plan_state(twin.clock())
        facility = apply_state(twin.calibrated_facility(), state)
        current = continued_from_state(twin.schedule, facility, twin.times, start, stop)
        part = Schedule(
            supply_temperature=np.asarray(current.supply_temperature)[start:stop],
            chilled_water_temperature=np.asarray(current.chilled_water_temperature)[start:stop],
            battery_power=np.asarray(current.battery_power)[start:stop],
            workload_power=np.asarray(current.workload_power)[start:stop],
        )
        result = simulate(facility, part, window)
        # judged as the plan is: demand charged above the billing peak so far, work left
        figures = verified_figures(facility, part, result, state=state)
        offsets = twin.parameters.offsets(twin.facility)
        figures["max_inlet_temperature_c"] = check_on_twin(
            facility, result, offsets
        ).max_inlet_temperature_c
        report = sla_report(
            facility,
            part,
            result["time"].values,
            twin.step_seconds,
            as_operated(facility, window),
        )
        return figures, hard_contracts_missed(report), current


_SPIKE_CLEAR = timedelta(seconds=SPIKE_CLEAR_S)


def _hours(times: Sequence[str], step_seconds: float) -> float:
    """Length of a plan whose periods start at ``times`` [h] (the last as long as the one
    before)."""
    if len(times) < 2:
        return step_seconds / 3600.0
    first, second_last, last = (pd.Timestamp(t) for t in (times[0], times[-2], times[-1]))
    return float(((last - first) + (last - second_last)).total_seconds()) / 3600.0
