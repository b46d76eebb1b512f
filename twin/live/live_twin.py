"""The live twin: measurements in, state estimated, model calibrated, plans proposed and applied.

:class:`LiveTwin` ties the parts together; the FastAPI service (:mod:`twin.api.app`) is a thin
layer over it.

* **Clock and window.** The scenario is re-anchored on the current day
  (:func:`live_scenario_dict`): its window starts at 00:00 UTC yesterday and lasts a week, file
  and zone series are replayed from their original start, absolute event times move with it.
* **Ingestion** (:meth:`LiveTwin.ingest`): validated (:mod:`twin.live.ingest`), committed to the
  store, then queued; the response returns only after the commit.
* **Processing** (:mod:`twin.live.control.cycle`, a worker thread that takes every queued
  batch at once): sensor-fault screening (:mod:`twin.live.faults`) per batch, then one pass of
  state estimation (:mod:`twin.live.state_estimator`) and calibration
  (:mod:`twin.live.calibration`) against the prediction of the *calibrated* facility under the
  schedule in force, then the alarms of each batch at its own time.  :meth:`LiveTwin.state`
  reads the view the last cycle published (short :attr:`LiveTwin.view_lock`), never waiting
  for a cycle.
* **Re-planning** (:meth:`LiveTwin.replan`): from the estimated state (battery SOC, job
  progress) over the next ``horizon``; proposed, never applied without approval unless the
  autonomy setting is on and every guardrail holds.  Stale telemetry: only the as-operated
  fallback is proposed.
* **Virtual plant** (demo): the physics with hidden true parameters feeds readings through
  the same ingestion path.
"""

from __future__ import annotations

import copy
import logging
import queue
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from optimizer.baselines import as_operated
from optimizer.plan import PlanOptions, plan
from optimizer.state import PlanState, apply_state
from physics.facility import Facility
from physics.schedule import Schedule
from twin.data.series import scenario_series
from twin.live.calibration import Calibrator
from twin.live.control import approval
from twin.live.control.approval import check_alarms, plan_alarms
from twin.live.control.cycle import processing_loop, run_cycle, take_waiting
from twin.live.control.guardrails import guardrail_problems
from twin.live.control.payload import fallback_payload, schedule_from_json, schedule_json
from twin.live.control.persist import restore_calibration, restore_trend, save_calibration
from twin.live.control.proposals import (
    check_scenario,
    revert_applied,
    store_proposal,
    store_revert,
    supersede_all,
)
from twin.live.control.reanchor import carry_over, reanchor, restore
from twin.live.control.supervisor import Supervisor
from twin.live.control.verification import inlet_risk, plan_on_twin
from twin.live.faults import FaultDetector
from twin.live.ingest import Rejection, parse_batch
from twin.live.ingest_process import ChildOutcome, Committer, IngestProcess
from twin.live.parameters import (
    UncertainParameters,
    add_offsets,
    apply,
    rounded_factors,
    simulate_window,
)
from twin.live.plan_state import lookahead_steps, plan_state
from twin.live.settings import LiveSettings
from twin.live.state_estimator import StateEstimator
from twin.live.state_view import state_payload
from twin.live.virtual_plant import SensorFault, VirtualPlant, default_sensors, demo_truth
from twin.live.window import demo_faults, live_scenario_dict, scenario_digest
from twin.scenario.compile import compile_facility
from twin.scenario.loader import ScenarioError, scenario_from_dict
from twin.scenario.points import PointCatalogue, Reading
from twin.scenario.schema import Scenario
from twin.store.records import PlanRecord
from twin.store.store import Store

log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    """Outcome of one batch: counts and the rejected items with reasons."""

    accepted: int
    inserted: int
    already_stored: int
    rejected: list[Rejection] = field(default_factory=list)


_PREDICTIONS_KEPT = 4
"""Predictions cached (per step, schedule and rounded factors) [count]."""

MIN_LIVE_STEP = timedelta(minutes=5)
"""Shortest step a running twin is switched to: it re-plans every step (1 s: 55.6 GiB)."""


def _now() -> datetime:
    return datetime.now(UTC)


class LiveTwin:
    """The synchronized twin of one facility.

    Parameters
    ----------
    scenario_data
        The scenario as a plain mapping (as read from YAML).
    scenario_dir
        Folder relative file references in the scenario are read from.
    store
        The measurement and plan store.
    settings
        Behaviour (re-plan period, autonomy, guardrails).
    virtual_plant
        Run the demo plant (hidden true parameters, noise, faults) feeding readings.
    clock
        Current time (tests pass a controllable clock).
    seed
        Seed of the virtual plant.
    """

    def __init__(
        self,
        scenario_data: Mapping[str, Any],
        scenario_dir: Path,
        store: Store,
        settings: LiveSettings | None = None,
        *,
        virtual_plant: bool = False,
        clock: Callable[[], datetime] = _now,
        seed: int = 0,
    ) -> None:
        self.settings = settings or LiveSettings()
        self.store = store
        self.scenario_dir = scenario_dir
        self.clock = clock
        self.lock = threading.RLock()
        self.view_lock = threading.Lock()
        """Short lock of what ``GET /state`` reads (:mod:`twin.live.control.cycle`)."""
        self._committer = Committer(store)  # validation, commit, newest time per point
        self._queue: queue.Queue[list[Reading] | None] = queue.Queue()
        self._ingest_process: IngestProcess | None = None
        """The child validating and committing batches (``settings.ingest_process``; from
        :meth:`start` to :meth:`stop`)."""
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self.ingest_observers: list[Callable[[Sequence[Reading], IngestResult], None]] = []
        """Called with the accepted readings and the outcome of every batch, after its commit
        (metrics, connectors); an observer must be quick and must not raise."""
        self.base_data = copy.deepcopy(dict(scenario_data))
        self.applied_plans: list[str] = []  # since the scenario was loaded, kept by re-anchoring
        self.reanchor_observers: list[Callable[[], None]] = []  # called after each window move
        # held while the scenario is replaced, and from a plan's check to its adoption
        self.scenario_lock = threading.RLock()
        # a replacement scenario's further checks (a fleet site's), a line per problem each
        self.scenario_checks: list[Callable[[Scenario], list[str]]] = []
        self._restored = False
        self.calibration_saved: datetime | None = None
        """When the calibrated state was last written to the store (:mod:`twin.live.control.
        persist`)."""
        self._load(self.base_data)
        self.plant: VirtualPlant | None = None
        self._seed = seed
        if virtual_plant:
            self.plant = self._new_plant(demo_truth(self.facility, seed))
        self.processed = 0
        """Readings processed by the worker [count]."""
        self.cycles = 0
        """Processing cycles run (each over one or more queued batches) [count]."""

    # ------------------------------------------------------------------ model and window

    def _new_plant(
        self, truth: UncertainParameters, faults: Sequence[SensorFault] | None = None
    ) -> VirtualPlant:
        """The virtual plant over the current window (demo faults from now by default)."""
        sensors = default_sensors(self.facility, self.series)
        if faults is None:
            faults = demo_faults(sensors, self.clock())
        return VirtualPlant(
            self.facility, self.series, truth, seed=self._seed, faults=faults, sensors=sensors
        )

    def _load(self, data: Mapping[str, Any], keep_state: bool = False) -> None:
        self.anchor = self.clock()
        """The instant the live window was anchored on (it starts 00:00 UTC the day before)."""
        self.scenario_digest = scenario_digest(data)
        """:func:`twin.live.window.scenario_digest` of the scenario as written."""
        self.scenario_data = live_scenario_dict(data, self.anchor, self.settings.window_days)
        self.scenario: Scenario = scenario_from_dict(self.scenario_data)
        self.facility: Facility = compile_facility(self.scenario)
        self.series: xr.Dataset = scenario_series(self.scenario, self.scenario_dir)
        self.catalogue = PointCatalogue(self.facility)
        if self._ingest_process is not None:
            self._ingest_process.replace_catalogue(self.catalogue)
        self._kpi_points = [
            *(f"rack/{r}/power" for r in self.facility.racks.ids),
            *(f"feed/{f}/power" for f in self.facility.feeds.ids),
            "grid/power",
            "plant/power",
            "battery/soc",
        ]
        self.times = pd.DatetimeIndex(self.series["time"].values).tz_localize("UTC")
        self.baseline = as_operated(self.facility, self.series)
        self.schedule: Schedule = self.baseline
        if not keep_state:
            previous = getattr(self, "estimator", None)
            self.estimator = StateEstimator(self.facility, stale_after=self.settings.stale_after_s)
            if previous is not None:  # a replaced scenario: readings kept arriving meanwhile
                self.estimator.carry_times(previous)
            self.faults = FaultDetector(
                self.catalogue, facility=self.facility, silent_after=self.settings.silent_after_s
            )
            self.calibrator = Calibrator(self.facility, history_interval=300.0)
            self.supervisor = Supervisor(self)
            self.rejected: Counter[str] = Counter()
            """Items refused at ingestion, per point id (unknown points under their id)."""
        self._predictions: dict[Any, tuple[dict[str, float], xr.Dataset]] = {}
        self.publish_view()

    def live_scenario(self, data: Mapping[str, Any]) -> Scenario:
        """``data`` validated on the twin's current live window (same anchor, same steps), so
        a modified scenario's series line up with :attr:`series` step by step.

        Raises :class:`twin.scenario.loader.ScenarioError` when invalid.
        """
        return scenario_from_dict(live_scenario_dict(data, self.anchor, self.settings.window_days))

    def step_index(self, moment: datetime) -> int:
        """Index of the series step containing ``moment`` (clipped to the window)."""
        position = int(self.times.searchsorted(pd.Timestamp(moment), side="right")) - 1
        return int(np.clip(position, 0, len(self.times) - 1))

    @property
    def parameters(self) -> UncertainParameters:
        """Current calibrated parameters."""
        return self.calibrator.estimates()

    def calibrated_facility(self) -> Facility:
        """The facility with the calibrated parameters applied."""
        return apply(self.facility, self.parameters)

    def predicted(
        self, moment: datetime, params: UncertainParameters | None = None
    ) -> dict[str, float]:
        """Every point's value predicted by the calibrated model (or ``params``) at ``moment``.

        The simulation (two steps, ~20 ms on the demo hall, ~0.1 s at 1,000 racks) is cached
        per step, schedule and calibrated *factors* rounded to 0.1 % (below the 1 % noise of
        the power meters they act on; the calibration then settles within one such step);
        the per-rack inlet offsets are exact, added to the cached values on every call.
        """
        params = params or self.parameters
        return add_offsets(dict(self._predict(moment, params)[1]), self.facility, params)

    def model_at(self, moment: datetime) -> xr.Dataset:
        """The calibrated model (factors, no offsets) at the step of ``moment``: every
        :func:`physics.simulate.simulate` variable of that step (SI units), cached with
        :meth:`predicted`."""
        return self._predict(moment, self.parameters)[2]

    def _predict(
        self, moment: datetime, params: UncertainParameters
    ) -> tuple[Any, dict[str, float], xr.Dataset]:
        step = self.step_index(moment)
        factors = rounded_factors(params)
        key = (step, id(self.schedule), factors)
        # a few entries: the worker predicts at the readings' time, GET /state at now, which
        # can be another step; replaced whole (copy on write: request threads read it too)
        hit = self._predictions.get(key)
        if hit is None:
            first = max(step - 1, 0)  # as twin.live.parameters.predict: two steps
            result = simulate_window(
                self.facility, factors, self.schedule, self.series, first, first + 2
            )
            hit = (self.catalogue.predict(result, step - first), result.isel(time=step - first))
            kept = list(self._predictions.items())[-(_PREDICTIONS_KEPT - 1) :]
            self._predictions = {**dict(kept), key: hit}
        return (key, *hit)

    def publish_view(self, processed: int = 0) -> None:
        """Swap in what ``GET /state`` reads (calibrated parameters, screening counts) under
        :attr:`view_lock`; called at the end of each processing cycle with the readings it
        processed [count]."""
        parameters = self.calibrator.estimates()
        excluded = self.faults.excluded()
        faulty = self.faults.faulty_points()
        with self.view_lock:
            self._parameters_view = parameters
            self._screening_view = (excluded, faulty)
            if processed:
                self.processed += processed
                self.cycles += 1

    # ------------------------------------------------------------------ ingestion

    def ingest(self, items: Sequence[Any]) -> IngestResult:
        """Validate, commit, queue for processing (returns after the commit)."""
        now = self.clock()
        child = self._ingest_process
        if child is not None:  # validated and committed in the child process
            return self._from_child(child.ingest(items, now))
        readings, rejected, inserted, already = self._committer.commit(items, self.catalogue, now)
        return self._committed(readings, rejected, inserted, already)

    def ingest_body(self, body: bytes) -> IngestResult:
        """:meth:`ingest` of a raw JSON batch ``{"items": [...]}`` parsed by
        :func:`twin.live.ingest.parse_batch` (in the ingest child if there is one).

        Raises
        ------
        twin.live.ingest.BatchInvalid
            The body is not such a batch (nothing stored).
        """
        limit = self.settings.max_batch_items
        child = self._ingest_process
        if child is not None:
            return self._from_child(child.ingest_body(body, self.clock(), limit))
        return self.ingest(parse_batch(body, limit))

    def _from_child(self, o: ChildOutcome) -> IngestResult:
        return self._committed(o.readings(), o.rejected, o.inserted, o.already_stored)

    def _committed(
        self, readings: list[Reading], rejected: list[Rejection], inserted: int, already: int
    ) -> IngestResult:
        """After a batch's commit: refusals counted, readings queued, observers told."""
        if rejected:
            with self.view_lock:
                self.rejected.update(r.point or "(no point)" for r in rejected)
        if readings:
            self._queue.put(readings)
        outcome = IngestResult(len(readings), inserted, already, rejected)
        for observer in self.ingest_observers:
            observer(readings, outcome)
        return outcome

    def process(self, readings: Sequence[Reading]) -> None:
        """Screen, estimate and calibrate from readings already committed (one cycle of
        :func:`twin.live.control.cycle.run_cycle`)."""
        run_cycle(self, [readings])

    def drain(self, timeout: float = 0.0) -> int:
        """Process every queued batch now, in one cycle (tests and the CLI); returns the
        batches processed."""
        try:
            first = self._queue.get(timeout=timeout) if timeout else self._queue.get_nowait()
        except queue.Empty:
            return 0
        if first is None:
            return 0
        batches, _ = take_waiting(self._queue, first)
        run_cycle(self, batches)
        return len(batches)

    # ------------------------------------------------------------------ state

    def state(self) -> dict[str, Any]:
        """The estimated state, facility KPIs and alarms, JSON-ready
        (:func:`twin.live.state_view.state_payload`)."""
        return state_payload(self)

    def screening(self) -> dict[str, dict[str, Any]]:
        """Readings kept out, per point with any: ``rejected`` at ingestion (malformed, out of
        range, too late, out of order) and the screening's exclusions (``spike``, ``faulty``:
        while a stuck or drift fault was active, ``late``) [count], and ``faulty_now`` (such a
        fault is active now)."""
        with self.view_lock:
            excluded, faulty = self._screening_view
            rejected = dict(self.rejected)
        out: dict[str, dict[str, Any]] = {}
        for point in sorted(set(excluded) | set(rejected)):
            out[point] = {
                "rejected": int(rejected.get(point, 0)),
                **excluded.get(point, {}),
                "faulty_now": point in faulty,
            }
        return out

    # ------------------------------------------------------------------ plans

    def plan_state(self, now: datetime) -> PlanState:
        """The state a plan made at ``now`` starts from (:func:`twin.live.plan_state.
        plan_state`: work done per job, battery SOC, billing peak so far, setpoints in force)
        on the calibrated facility."""
        start = self.step_index(now)
        with self.lock:
            return plan_state(
                self.calibrated_facility(),
                self.estimator.state(now),
                self.schedule,
                start,
                self.store,
                now,
                self.step_seconds,
                self.times[0].to_pydatetime(),
            )

    def state_facility(self) -> Facility:
        """The calibrated facility with the estimated state now: SOC as the initial SOC, the
        tier-3 energy already delivered subtracted (what re-plans and previews start from)."""
        return apply_state(self.calibrated_facility(), self.plan_state(self.clock()))

    def check_staleness(self) -> bool:
        """Raise (or clear) the ``telemetry_stale`` alarm; returns True while stale."""
        now = self.clock()
        with self.lock:
            estimated = self.estimator.state(now)
        stale = bool(estimated.stale)
        active = [a for a in self.store.alarms(active_only=True) if a["kind"] == "telemetry_stale"]
        if stale and not active:
            self.store.raise_alarm(
                "telemetry_stale",
                "site",
                f"{estimated.stale_reason or 'telemetry is stale'}: re-plans propose only "
                "the as-operated fallback",
                time=now,
                severity="critical",
            )
        elif not stale:
            for alarm in active:
                self.store.clear_alarm(alarm["id"], time=now)
        return stale

    def apply_retention(self) -> int:
        """Roll up and delete raw readings older than ``retention_days``; returns rows removed."""
        if self.settings.retention_days <= 0:
            return 0
        cutoff = self.clock() - timedelta(days=self.settings.retention_days)
        return self.store.apply_retention(cutoff)

    def _plan_record(self, plan_id: str) -> PlanRecord:
        record = self.store.get_plan(plan_id)
        if record is None:
            raise KeyError(plan_id)
        return record

    def replan(self, *, actor: str = "scheduler", reason: str = "periodic") -> PlanRecord:
        """Plan the next horizon from the estimated state; store it as proposed."""
        self.reanchor_if_needed()
        now = self.clock()
        start = self.step_index(now)
        with self.lock:
            digest = self.scenario_digest  # the scenario this plan is made on
            stale = self.estimator.state(now).stale
            facility = self.calibrated_facility()
            state = plan_state(
                facility,
                self.estimator.state(now),
                self.schedule,
                start,
                self.store,
                now,
                self.step_seconds,
                self.times[0].to_pydatetime(),
            )
        steps = lookahead_steps(
            apply_state(facility, state),
            state,
            self.times[start].to_pydatetime(),
            self.horizon_steps(self.settings.horizon_hours),
            len(self.times) - start,
            self.step_seconds,
            self.settings.lookahead_cap_hours,
        )
        window = self.series.isel(time=slice(start, start + steps))
        if stale:
            result = None
            status = "fallback"
            schedule = as_operated(apply_state(facility, state), window)
            summary: dict[str, Any] = {
                "status": "fallback",
                "verified": False,
                "explanation": ["telemetry is stale: only the as-operated fallback is proposed"],
            }
        else:
            options = PlanOptions(
                time_limit=self.settings.plan_time_limit_s,
                shadow_prices=False,
                committed_hours=self.settings.horizon_hours,
            )
            offsets = self.parameters.offsets(self.facility)  # verified on the twin as calibrated
            result, check = plan_on_twin(facility, offsets, window, options, state, planner=plan)
            status, schedule, summary = result.status, result.schedule, result.to_json()
            with self.view_lock:  # the margin against the estimate's uncertainty
                estimate = self.estimator.state(now)
            risk = inlet_risk(check, estimate.racks, estimate.inlet_temperature_std)
            summary["twin_check"] = check.to_dict() | risk
        plan_id = uuid.uuid4().hex[:12]
        payload = {
            "summary": summary,
            "start": self.times[start].isoformat(),
            "start_index": start,
            "reason": reason,
            "schedule": schedule_json(schedule, self.facility, self.times[start : start + steps]),
            "scenario_digest": digest,
        }
        payload["preview"] = self.supervisor.preview(payload)
        lock, barrier = self.supervisor.proposal_lock, self.supervisor.barrier
        newer = store_proposal(self.store, lock, plan_id, now, payload, actor, barrier)
        detail = {"status": status} | ({"superseded_by": newer} if newer else {})
        self.store.audit(actor, "propose", plan_id, reason, detail)
        if self.settings.autonomy and result is not None and newer is None:
            problems = guardrail_problems(self, result, start, plan_id)
            if not problems:
                self.approve(plan_id, actor="autonomy", reason="within guardrails")
            else:
                self.store.audit("autonomy", "hold", plan_id, "; ".join(problems), {})
        return self._plan_record(plan_id)

    @property
    def step_seconds(self) -> float:
        """The window's time step [s]."""
        return (
            float((self.times[1] - self.times[0]).total_seconds()) if len(self.times) > 1 else 900.0
        )

    def horizon_steps(self, hours: float) -> int:
        """Steps in a planning horizon of ``hours`` [h] (at least one)."""
        return max(1, round(hours * 3600 / self.step_seconds))

    def approve(
        self,
        plan_id: str,
        *,
        actor: str,
        reason: str = "",
        force: bool = False,
        seen_alarms: Collection[int] | None = None,
    ) -> PlanRecord:
        """Approve a proposed plan and apply it (virtual plant and the twin's schedule).

        Raises ``KeyError`` for an unknown plan, ``ValueError``
        (:class:`twin.store.errors.Conflict`) when the plan is not proposed any more, was
        made on another scenario (its ``scenario_digest`` is not the twin's: a ``PUT
        /scenario`` since), or moves what an active critical alarm is on and ``force`` (with
        a ``reason``) does not override it, or one not among ``seen_alarms`` (the ids the
        approver was shown) (:func:`twin.live.control.approval.check_alarms`; the alarms
        overridden are audited).  Approving a revert supersedes every proposal
        made before (:func:`twin.live.control.proposals.revert_applied`).  Under
        :attr:`scenario_lock`: the scenario cannot change between the check and the apply.
        """
        with self.scenario_lock:
            return self._approve(
                plan_id, actor=actor, reason=reason, force=force, seen_alarms=seen_alarms
            )

    def _approve(
        self,
        plan_id: str,
        *,
        actor: str,
        reason: str,
        force: bool,
        seen_alarms: Collection[int] | None,
    ) -> PlanRecord:
        record = self._plan_record(plan_id)
        check_scenario(record, self.scenario_digest)  # 409 when made on another scenario
        payload = record["payload"] or {}
        overridden: list[dict[str, Any]] = []
        if record["status"] == "proposed":  # else the store refuses it, saying why
            alarms = self.plan_alarms(plan_id)
            overridden = check_alarms(
                plan_id, payload, alarms, force=force, reason=reason, seen=seen_alarms
            )
        self._merged(record)  # a plan that does not fit is refused before anything is written
        self.store.set_plan_status(plan_id, "approved", actor, reason, time=self.clock())
        override = {"critical_alarms_overridden": overridden} if overridden else {}
        self.store.audit(actor, "approve", plan_id, reason, override)
        with self.lock:
            self.set_schedule(self._merged(record))
        self.applied_plans.append(plan_id)
        self.store.set_plan_status(plan_id, "applied", actor, reason, time=self.clock())
        self.store.audit(actor, "apply", plan_id, reason, {})
        reverted = (record["payload"] or {}).get("revert_of")
        if reverted:
            self.store.set_plan_status(str(reverted), "reverted", actor, f"reverted by {plan_id}")
            lock, barrier = self.supervisor.proposal_lock, self.supervisor.barrier
            older = revert_applied(
                self.store, lock, barrier, plan_id, str(reverted), self.clock(), actor
            )
            detail = {"fallback": plan_id, "superseded": older}
            self.store.audit(actor, "revert", str(reverted), reason, detail)
        self.supervisor.plan_applied(record, self.clock())
        return self._plan_record(plan_id)

    def propose_fallback(self, reason: str, *, revert_of: str, actor: str) -> PlanRecord:
        """Store the safe fallback as a proposal (:func:`twin.live.control.payload.
        fallback_payload`: the as-operated setpoints, battery and job states from the current
        step over the planning horizon), marked as the revert of plan ``revert_of``: approving
        it marks that plan ``reverted``; re-plans do not supersede it, it supersedes every
        proposal made before it (:func:`twin.live.control.proposals.store_revert`)."""
        now = self.clock()
        start = self.step_index(now)
        span = slice(start, start + self.horizon_steps(self.settings.horizon_hours))
        payload = fallback_payload(self.baseline, self.facility, self.times, span, reason)
        payload["revert_of"] = revert_of
        payload["scenario_digest"] = self.scenario_digest
        payload["preview"] = self.supervisor.preview(payload)
        plan_id = uuid.uuid4().hex[:12]
        lock, barrier = self.supervisor.proposal_lock, self.supervisor.barrier
        older = store_revert(self.store, lock, barrier, plan_id, now, payload, actor)
        detail = {"revert_of": revert_of, "superseded": older}
        self.store.audit(actor, "propose_revert", plan_id, reason, detail)
        return self._plan_record(plan_id)

    def plan_preview(self, plan_id: str) -> dict[str, Any]:
        """The preview of a stored plan (computed now for a plan stored without one);
        ``KeyError`` for an unknown plan."""
        payload = self._plan_record(plan_id)["payload"] or {}
        preview = dict(payload.get("preview") or self.supervisor.preview(payload))
        alarms = self.plan_alarms(plan_id, preview)
        preview["critical_alarms"] = alarms
        if alarms:  # first: an approver at night must see it (tryout3 finding 6)
            preview["changes"] = [approval.sentence(alarms), *preview.get("changes", [])]
        return preview

    def plan_alarms(
        self, plan_id: str, preview: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """The active critical alarms on what plan ``plan_id`` moves, now
        (:func:`twin.live.control.approval.plan_alarms`); ``KeyError`` for an unknown plan."""
        payload = self._plan_record(plan_id)["payload"] or {}
        preview = preview or payload.get("preview") or self.supervisor.preview(payload)
        active = self.store.alarms(active_only=True)
        return plan_alarms(preview, self.facility, self.catalogue, active)

    def reject(self, plan_id: str, *, actor: str, reason: str = "") -> PlanRecord:
        """Reject a proposed plan (``KeyError`` unknown, ``ValueError`` not proposed)."""
        self._plan_record(plan_id)
        self.store.set_plan_status(plan_id, "rejected", actor, reason)
        self.store.audit(actor, "reject", plan_id, reason, {})
        return self._plan_record(plan_id)

    def _merged(self, record: PlanRecord) -> Schedule:
        """The schedule in force with ``record``'s merged at its own instants
        (:func:`twin.live.control.reanchor.carry_over`); ValueError when it does not fit the
        facility or has no step on the live window."""
        schedule, report = carry_over(self.schedule, self.facility, self.times, [record])
        if "dropped" in report[0] or not report[0]["kept"]:
            why = report[0].get("dropped", "no step of it lies on the live window")
            raise ValueError(f"plan {record['id']} cannot be applied: {why}")
        return schedule

    def set_schedule(self, schedule: Schedule) -> None:
        """Make ``schedule`` the one in force, the twin's and the virtual plant's (SI units,
        over the whole live window)."""
        with self.lock:
            self.schedule = schedule
            self._predictions = {}
        if self.plant is not None:
            self.plant.apply_schedule(schedule)

    # ------------------------------------------------------------------ scenario

    def replace_scenario(self, data: Mapping[str, Any], *, actor: str) -> None:
        """Validate and switch to a new scenario (raises ScenarioError when invalid); every
        proposal waiting is superseded (it was made on the scenario replaced)."""
        scenario = scenario_from_dict(
            live_scenario_dict(data, self.clock(), self.settings.window_days)
        )
        problems = [problem for check in self.scenario_checks for problem in check(scenario)]
        if scenario.simulation.step < MIN_LIVE_STEP:
            problems.append(
                f"simulation.step: {scenario.simulation.step}; a live twin steps at least "
                f"{MIN_LIVE_STEP} (it re-plans and estimates every step)"
            )
        if problems:
            raise ScenarioError("scenario", problems)
        with self.scenario_lock:  # never between an approval's check and its adoption
            with self.lock:
                self.base_data = copy.deepcopy(dict(data))
                self._load(self.base_data)
                self.applied_plans = []
                if self.plant is not None:
                    self.plant = self._new_plant(demo_truth(self.facility, self._seed))
            lock = self.supervisor.proposal_lock  # made on the old scenario: not approvable
            older = supersede_all(self.store, lock, actor, "the scenario was replaced")
        detail = {"superseded": older}
        self.store.audit(actor, "replace_scenario", self.facility.name, "", detail)

    # ------------------------------------------------------------------ background work

    def reanchor_if_needed(self) -> bool:
        """Move the live window when less than a planning horizon is left in it, keeping
        the applied plans that reach into it (:func:`twin.live.control.reanchor.reanchor`)."""
        now = self.clock()
        horizon = timedelta(hours=self.settings.horizon_hours)
        if pd.Timestamp(now + horizon) < self.times[-1]:
            return False
        reanchor(self)
        return True

    def load_window(self) -> None:
        """Re-anchor the scenario on today (estimator, calibration, faults, plant truth kept)."""
        with self.lock:
            self._load(self.base_data, keep_state=True)
            if self.plant is not None:
                self.plant = self._new_plant(self.plant.truth, self.plant.faults)

    def plant_tick(self) -> IngestResult | None:
        """Feed the virtual plant's readings for now through the ingestion path."""
        if self.plant is None:
            return None
        self.reanchor_if_needed()
        now = self.clock()
        items = [
            {"time": r.time.isoformat(), "point": r.point, "value": r.value}
            for r in self.plant.readings(now)
        ]
        return self.ingest(items)

    def resume(self) -> None:
        """Resume, once, what a stopped twin left in the store: the calibration
        (:func:`twin.live.control.persist.restore_calibration`) and the hottest-inlet trend
        (:func:`twin.live.control.persist.restore_trend`), then the sensors it held stuck
        or drifting (:meth:`twin.live.control.supervisor.Supervisor.restore_screening`: only
        with the calibration resumed, since their baselines were judged against its offsets;
        otherwise their alarms are re-judged from scratch), and the plans in force
        (:func:`twin.live.control.reanchor.restore`).  :meth:`start` calls it first."""
        if self._restored:
            return
        self._restored = True
        if restore_calibration(self):
            self.supervisor.restore_screening(self.store.alarms(active_only=True))
        restore_trend(self)
        restore(self)

    def start(self) -> None:
        """Start the worker threads (processing, virtual plant, re-plan timer); the first
        start resumes the state a stopped twin left (:meth:`resume`)."""
        self.resume()
        self._stop.clear()
        with self._queue.mutex:  # a stop marker a stopped worker left unread would end the new one
            kept = [batch for batch in self._queue.queue if batch is not None]
            self._queue.queue.clear()
            self._queue.queue.extend(kept)
        if self.settings.ingest_process and self._ingest_process is None:
            self._ingest_process = IngestProcess(self.catalogue, self.store)
            self._ingest_process.warm_up()

        def worker() -> None:
            processing_loop(self, self._queue, self._stop)

        def plant_loop() -> None:
            while not self._stop.wait(self.settings.plant_interval_s):
                try:
                    self.plant_tick()
                except Exception:
                    log.exception("virtual plant tick failed")

        def replan_loop() -> None:
            period = self.settings.replan_minutes * 60.0
            first = True
            while not self._stop.wait(10.0 if first else period):
                first = False
                try:
                    self.replan()
                except Exception:
                    log.exception("re-plan failed")

        targets: list[Callable[[], None]] = [worker]
        if self.plant is not None:
            targets.append(plant_loop)
        if self.settings.replan_minutes > 0:
            targets.append(replan_loop)
        for target in targets:
            thread = threading.Thread(target=target, name=f"dctwin-{target.__name__}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop the worker threads (queued batches are already committed)."""
        self._stop.set()
        self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=5.0)
        self._threads.clear()
        if self.calibrator.updates:
            save_calibration(self, self.clock(), force=True)
        if self._ingest_process is not None:
            self._ingest_process.close()
            self._ingest_process = None


__all__ = ["IngestResult", "LiveSettings", "LiveTwin", "live_scenario_dict", "schedule_from_json"]
