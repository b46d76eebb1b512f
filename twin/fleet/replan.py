"""Fleet re-plans in the live twin: proposed in the background, approved or rejected by an
operator, every step audited.

A fleet re-plan is the co-plan of ``dctwin plan fleet.yaml`` (:func:`optimizer.fleet.plan.
plan_fleet`, HiGHS, every site's share verified by its physics) over the fleet file's window.
It takes tens of seconds to minutes, so :meth:`FleetPlanner.propose` only starts a job and
returns at once; the job stores the plan as ``proposed`` in the fleet's store (older proposals
are ``superseded``, as for a single site).  Approval follows the single-site rules: only a
proposed plan can be decided, once; the approved plan is the fleet plan in force (an older one
is ``superseded``); a plan without a feasible co-plan (``infeasible`` or ``fallback``) cannot
be approved.  The decision is audited in the fleet's store and in every site's store.

With the sites' live twins (``dctwin serve fleet.yaml``), a re-plan covers the live window
from the current time (:mod:`twin.fleet.anchor`: the time rounded down to the fleet's step,
each site as its twin runs it), and the plan keeps every site's schedule on that window.
Approving it makes every site adopt its share (:mod:`twin.fleet.adopt`: a site plan approved
and applied through the site's own path, audited under the approver, watched after) — every
site or none: every share is checked first (nothing is written when one does not fit its site:
``approve_refused``), then the sites adopt in turn, and when one fails the sites that had
adopted are restored and their site plans ``reverted`` (``approve_failed`` in the fleet's
audit, ``rollback`` at each site); the fleet plan stays proposed.  A plan made more than
:attr:`FleetPlanner.max_age` ago is stale and cannot be approved (re-plan); neither can a plan
another proposal superseded.  Approval is refused (nothing adopted anywhere) while a site has
an unshelved critical alarm on what its share moves, unless the approver overrides it with
``force`` and a reason (:mod:`twin.fleet.alarms`; :meth:`FleetPlanner.preview` lists them).
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optimizer.planner import PlanOptions
from twin.fleet.adopt import Adoption, check_share
from twin.fleet.alarms import (
    SiteAlarms,
    check_fleet_alarms,
    flat_alarms,
    fleet_sentences,
    share_alarms,
)
from twin.fleet.anchor import Carried, window_start
from twin.fleet.schema import Fleet
from twin.live.control.approval import sentence
from twin.live.control.payload import schedule_json
from twin.live.control.proposals import SYSTEM, store_proposal
from twin.live.live_twin import LiveTwin
from twin.scenario.fields import resolve_instant
from twin.store.errors import Conflict, StoreBusy
from twin.store.records import PlanRecord
from twin.store.store import Store

NOT_APPROVABLE = ("infeasible", "fallback")
"""Statuses of a fleet plan with no feasible co-plan: they cannot be approved."""


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class FleetJob:
    """A fleet re-plan running in the background.

    Attributes
    ----------
    id
        Job id.
    actor
        Who asked for it.
    reason
        Why (free text for the audit log).
    started
        When it started (UTC).
    status
        ``running``, ``done`` or ``failed``.
    plan_id
        The stored plan, once done.
    error
        Why it failed, once failed.
    finished
        When it ended (UTC).
    elapsed_s
        Its duration [s].
    """

    id: str
    actor: str
    reason: str
    started: datetime
    status: str = "running"
    plan_id: str | None = None
    error: str | None = None
    finished: datetime | None = None
    elapsed_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The job, JSON-ready (times ISO 8601 UTC)."""
        return {
            "id": self.id,
            "status": self.status,
            "actor": self.actor,
            "reason": self.reason,
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat() if self.finished else None,
            "elapsed_s": self.elapsed_s,
            "plan_id": self.plan_id,
            "error": self.error,
        }


def fleet_flows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Work moved between sites by a fleet plan: each fleet job's energy run away from its
    home site (the as-operated baseline runs it at home).

    Parameters
    ----------
    summary
        The fleet plan as :meth:`optimizer.fleet.result.FleetPlan.to_json` gives it.

    Returns
    -------
    list of dict
        ``job``, ``from`` (home site), ``to`` (site), ``kwh`` [kWh] for every job share run
        away from home, largest first.
    """
    sites = summary.get("sites") or {}
    home_sites = ((summary.get("baselines") or {}).get("as_operated") or {}).get("sites") or {}
    home: dict[str, str] = {}
    for site, figures in home_sites.items():
        for job, kwh in (figures.get("fleet_job_kwh") or {}).items():
            if kwh > 0:
                home[job] = site
    flows = []
    for site, figures in sites.items():
        for job, kwh in (figures.get("fleet_job_kwh") or {}).items():
            origin = home.get(job)
            if origin is not None and origin != site and kwh > 1e-6:
                flows.append({"job": job, "from": origin, "to": site, "kwh": round(kwh, 3)})
    return sorted(flows, key=lambda flow: -flow["kwh"])


Meter = Callable[[str, str, pd.DatetimeIndex], np.ndarray]
"""``meter(site, job, step_starts)``: the site's measured mean power of fleet job ``job`` in
each step [kW], NaN where it reported nothing."""


def carried_jobs(
    payload: Mapping[str, Any], start: datetime, meter: Meter | None = None
) -> dict[str, Carried]:
    """The jobs of an approved fleet plan (its stored ``payload``) still running at ``start``
    (deadline after it), each with the energy run before ``start`` [kWh] (:mod:`twin.fleet.
    anchor`: a re-plan from ``start`` places only what is left): per site and step, what
    ``meter`` measured, or what the plan scheduled where it measured nothing (every step
    without ``meter``).  A plan stored without its jobs' instants carries nothing."""
    hours = float((payload.get("window") or {}).get("step_s") or 0.0) / 3600.0
    carried: dict[str, Carried] = {}
    for name, job in (payload.get("jobs") or {}).items():
        deadline = datetime.fromisoformat(str(job["deadline"]))
        if deadline <= start:
            continue
        delivered, metered, planned = 0.0, 0, 0
        for site, share in (payload.get("site_schedules") or {}).items():
            power = (share.get("workload_power_kw") or {}).get(f"fleet:{name}")
            if power is None:
                continue
            times = pd.DatetimeIndex(pd.to_datetime(share["time"], utc=True))
            before = np.flatnonzero(np.asarray(times < pd.Timestamp(start)))
            kw = np.asarray(power, dtype=float)[before]
            if meter is not None and before.size:
                measured = np.asarray(meter(site, name, times[before]), dtype=float)
                seen = np.isfinite(measured)
                kw = np.where(seen, measured, kw)
                metered += int(seen.sum())
            planned += before.size
            delivered += float(np.sum(kw)) * hours
        release = datetime.fromisoformat(str(job["release"]))
        carried[name] = Carried(
            release, deadline, float(job["energy_kwh"]), delivered, metered, planned - metered
        )
    return carried


def store_meter(twins: Mapping[str, LiveTwin], step: timedelta) -> Meter:
    """A :data:`Meter` on the sites' stores: the mean of each step's readings of
    ``job/fleet:<job>/power`` [kW] (:meth:`twin.store.store.Store.downsample`), held within
    what the job can draw at the site: 0 to its maximum power and its racks' dynamic power
    (a meter reading more cannot shorten the work left by more than the job could run)."""

    def meter(site: str, job: str, starts: pd.DatetimeIndex) -> np.ndarray:
        out = np.full(len(starts), np.nan)
        twin = twins.get(site)
        if twin is None or not len(starts) or f"fleet:{job}" not in twin.facility.workloads.ids:
            return out
        workloads = twin.facility.workloads
        j = workloads.ids.index(f"fleet:{job}")
        limits = [float(workloads.capacity[j]), float(workloads.max_power[j])]
        ceiling_kw = min((v for v in limits if np.isfinite(v) and v >= 0.0), default=np.inf) / 1e3
        times, values = twin.store.downsample(
            f"job/fleet:{job}/power",
            starts[0].to_pydatetime(),
            (starts[-1] + step).to_pydatetime(),
            step,
            "mean",
        )
        found = starts.get_indexer(pd.DatetimeIndex(times))
        inside = found >= 0
        out[found[inside]] = np.clip(np.asarray(values, dtype=float)[inside], 0.0, ceiling_kw)
        return out

    return meter


def _instants(spec: Fleet) -> dict[str, dict[str, Any]]:
    """Every job of the (anchored) fleet ``spec``: release and deadline instants (ISO 8601
    UTC), energy [kWh]."""
    start = spec.simulation.start
    return {
        job.name: {
            "release": resolve_instant(job.release, start).isoformat(),
            "deadline": resolve_instant(job.deadline, start).isoformat(),
            "energy_kwh": float(job.energy),
        }
        for job in spec.jobs
    }


def _site_digest(summary: Mapping[str, Any], site: str, plan_id: str) -> dict[str, Any]:
    """The ``summary`` of the site plan a site's share becomes: the co-plan's status, whether
    the site's share was verified, the fleet plan, its source and the fleet jobs' energy at
    the site [kWh]."""
    figures = (summary.get("sites") or {}).get(site) or {}
    return {
        "status": summary.get("status"),
        "verified": bool(figures.get("verified")),
        "fleet_plan": plan_id,
        "plan_source": summary.get("plan_source"),
        "fleet_job_kwh": figures.get("fleet_job_kwh") or {},
    }


def _compact(summary: dict[str, Any]) -> dict[str, Any]:
    """The fleet plan without the baselines' per-job detail (kept: their figures and sites)."""
    compact = dict(summary)
    compact["baselines"] = {
        name: {k: v for k, v in figures.items() if k != "jobs"}
        for name, figures in (summary.get("baselines") or {}).items()
    }
    return compact


@dataclass
class FleetPlanner:
    """Fleet re-plans of one fleet file, stored in the fleet's store.

    Parameters
    ----------
    path
        The fleet file.
    store
        The fleet's own store (its plans and their audit).
    site_stores
        Every site's store (fleet decisions are audited there too).
    options
        Solver options of the co-plan (time limit [s], MIP gap [-]).
    clock
        Current time (tests pass a controllable clock).
    twins
        Every site's live twin: re-plans cover the live window from now and approval makes
        every site adopt its share (none: the file's window, nothing adopted).
    max_age
        Longest time from a plan's making to its approval; older plans are stale.
    """

    path: Path
    store: Store
    site_stores: dict[str, Store] = field(default_factory=dict)
    options: PlanOptions = field(default_factory=lambda: PlanOptions(time_limit=60.0))
    clock: Callable[[], datetime] = _now
    twins: dict[str, LiveTwin] = field(default_factory=dict)
    max_age: timedelta = timedelta(hours=1)
    jobs: dict[str, FleetJob] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _decide: threading.Lock = field(default_factory=threading.Lock)
    _proposals: threading.Lock = field(default_factory=threading.Lock)
    """Held while a new fleet proposal supersedes the older ones and is stored
    (:func:`twin.live.control.proposals.store_proposal`)."""
    _threads: list[threading.Thread] = field(default_factory=list)

    def running(self) -> FleetJob | None:
        """The re-plan running now, if any (one at a time)."""
        with self._lock:
            return next((j for j in self.jobs.values() if j.status == "running"), None)

    def propose(self, *, actor: str, reason: str = "requested") -> tuple[FleetJob, bool]:
        """Start a fleet re-plan in the background (or return the one running).

        Returns
        -------
        tuple
            The job and whether it was started now (False: one was already running).
        """
        with self._lock:
            busy = next((j for j in self.jobs.values() if j.status == "running"), None)
            if busy is not None:
                return busy, False
            job = FleetJob(uuid.uuid4().hex[:12], actor, reason, self.clock())
            self.jobs[job.id] = job
            thread = threading.Thread(
                target=self._run, args=(job,), name="dctwin-fleet-replan", daemon=True
            )
            self._threads.append(thread)
        thread.start()
        return job, True

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the background re-plans to end (tests, shutdown) [s]."""
        for thread in list(self._threads):
            thread.join(timeout)

    def _run(self, job: FleetJob) -> None:
        started = time.perf_counter()
        try:
            record = self.replan(actor=job.actor, reason=job.reason)
            job.plan_id, job.status = record["id"], "done"
        except Exception as exc:  # the job reports it; the server keeps running
            job.error, job.status = f"{type(exc).__name__}: {exc}", "failed"
        job.finished = self.clock()
        job.elapsed_s = round(time.perf_counter() - started, 3)

    def replan(self, *, actor: str, reason: str) -> PlanRecord:
        """Plan the fleet now (blocking) and store the plan as proposed."""
        from optimizer.fleet.plan import plan_fleet
        from twin.fleet.anchor import live_fleet_input
        from twin.fleet.build import build_fleet

        created = self.clock()  # the instant its state is taken: the newest proposal wins
        digests = {name: twin.scenario_digest for name, twin in self.twins.items()}
        carried: dict[str, Carried] = {}
        if self.twins:
            now = self.clock()
            for in_force in self.store.list_plans(limit=1, status="approved"):
                old = in_force["payload"] or {}
                step_s = (old.get("window") or {}).get("step_s")
                if step_s:
                    step = timedelta(seconds=step_s)
                    meter = store_meter(self.twins, step)
                    carried = carried_jobs(old, window_start(now, step), meter)
            ready = live_fleet_input(self.path, self.twins, now, carried)
        else:
            ready = build_fleet(self.path)
        result = plan_fleet(ready.problem, self.options, baseline_routing=ready.baseline_routing)
        summary = result.to_json()
        plan_id = uuid.uuid4().hex[:12]
        times = pd.DatetimeIndex(ready.problem.time).tz_localize("UTC")
        step = ready.spec.simulation.step
        payload = {
            "summary": _compact(summary),
            "flows": fleet_flows(summary),
            "reason": reason,
            "fleet_file": str(self.path),
            "window": {
                "start": times[0].isoformat(),
                "end": (times[-1] + step).isoformat(),
                "step_s": step.total_seconds(),
            },
            "site_scenarios": digests,
            "jobs": _instants(ready.spec),
            "carried_jobs": {name: job.to_dict() for name, job in carried.items()},
            "site_schedules": {}
            if result.plan is None
            else {
                site.name: schedule_json(result.plan.schedules[site.name], site.facility, times)
                for site in ready.problem.sites
                if site.name in result.plan.schedules
            },
        }
        # supersede-then-store under the proposal lock, newest by creation time wins (as a
        # single site: two re-plans finishing in either order leave the newest proposed)
        newer = store_proposal(self.store, self._proposals, plan_id, created, payload, actor)
        detail = {"status": result.status} | ({"superseded_by": newer} if newer else {})
        self.store.audit(actor, "propose", plan_id, reason, detail)
        return self._plan(plan_id)

    def _plan(self, plan_id: str) -> PlanRecord:
        record = self.store.get_plan(plan_id)
        if record is None:
            raise KeyError(plan_id)
        return record

    def _audit_sites(self, actor: str, action: str, plan_id: str, reason: str) -> None:
        for store in self.site_stores.values():
            store.audit(actor, f"fleet_{action}", plan_id, reason, {"fleet_plan": plan_id})

    def site_previews(
        self, plan_id: str, sites: Iterable[str] | None = None
    ) -> dict[str, dict[str, Any]]:
        """What each site's share of fleet plan ``plan_id`` changes at the site now, per site
        (:func:`twin.fleet.adopt.check_share`, then the site's own preview; ``sites``: only
        those); a site whose share does not fit it any more is left out (its approval is
        refused, naming it: :meth:`proposal_check`).  ``KeyError`` for an unknown plan; empty
        without live sites."""
        plans, _ = self._site_plans(plan_id, self._plan(plan_id)["payload"] or {}, sites)
        return self._previews(plans)

    def _previews(self, plans: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Each checked site plan previewed at its site now (one whose preview fails is left
        out, as one that does not fit)."""
        previews: dict[str, dict[str, Any]] = {}
        for name, site_plan in plans.items():
            try:
                previews[name] = dict(self.twins[name].supervisor.preview(site_plan))
            except (KeyError, TypeError, ValueError):
                continue
        return previews

    def _site_plans(
        self, plan_id: str, payload: Mapping[str, Any], sites: Iterable[str] | None = None
    ) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """The site plan each live site (``sites``: only those) would adopt for its share of
        fleet plan ``plan_id``, checked against the site now (:func:`twin.fleet.adopt.
        check_share`), and for every site whose share does not fit, why ("dallas-core: its
        scenario was replaced after the fleet plan was made"); nothing is written."""
        summary = payload.get("summary") or {}
        shares = payload.get("site_schedules") or {}
        digests = payload.get("site_scenarios") or {}
        wanted = set(self.twins) if sites is None else set(sites)
        plans: dict[str, dict[str, Any]] = {}
        problems: list[str] = []
        for name, twin in self.twins.items():  # in the fleet file's order
            if name not in wanted:
                continue
            share = shares.get(name)
            if share is None:
                problems.append(f"{name}: the plan holds no schedule for it")
                continue
            digest = _site_digest(summary, name, plan_id)
            try:
                plans[name] = check_share(twin, share, plan_id, digest, digests.get(name))
            except (KeyError, TypeError, ValueError) as exc:
                problems.append(f"{name}: {exc}")
        return plans, problems

    def site_alarms(self, plan_id: str) -> SiteAlarms:
        """Per site, the active critical alarms on what its share of fleet plan ``plan_id``
        moves, now (the first of :meth:`proposal_check`).  ``KeyError`` for an unknown plan.
        """
        return self.proposal_check(plan_id)[0]

    def proposal_check(self, plan_id: str) -> tuple[SiteAlarms, list[str]]:
        """What an approver of fleet plan ``plan_id`` must see first, now: per site whose
        share fits it, the active critical alarms on what the share moves
        (:func:`twin.fleet.alarms.share_alarms`; an empty list for a site without any), and
        per site whose share does not fit it any more, why (approval is refused while one
        does not, naming it).  Every share is checked (a few ms a site); only a site with an
        active critical alarm is previewed (the Fleet page reads this every refresh: a
        preview costs ~35 ms of CPU per demo hall).  ``KeyError`` for an unknown plan."""
        plans, problems = self._site_plans(plan_id, self._plan(plan_id)["payload"] or {})
        alarmed = {
            name: plans[name]
            for name, twin in self.twins.items()
            if name in plans
            and any(a["severity"] == "critical" for a in twin.store.alarms(active_only=True))
        }
        previews = self._previews(alarmed)
        out: SiteAlarms = {}
        for name, twin in self.twins.items():  # in the fleet file's order
            if name in previews:
                out[name] = share_alarms(twin, previews[name])
            elif name in plans and name not in alarmed:
                out[name] = []
        return out, problems

    def preview(self, plan_id: str) -> dict[str, Any]:
        """The fleet plan's preview: per site, what its share changes there now with its
        ``critical_alarms`` (the single-site preview's sentence first in its ``changes``);
        ``critical_alarms`` of every site (each with its ``site``) and ``changes`` (one
        line per site with alarms).  ``KeyError`` for an unknown plan."""
        record = self._plan(plan_id)
        sites: dict[str, dict[str, Any]] = {}
        alarms: SiteAlarms = {}
        for name, preview in self.site_previews(plan_id).items():
            alarms[name] = share_alarms(self.twins[name], preview)
            first = [sentence(alarms[name])] if alarms[name] else []  # as a site's preview
            changes = first + list(preview.get("changes", []))
            sites[name] = {**preview, "critical_alarms": alarms[name], "changes": changes}
        return {
            "plan_id": plan_id,
            "status": record["status"],
            "sites": sites,
            "critical_alarms": flat_alarms(alarms),
            "changes": fleet_sentences(alarms),
        }

    def approve(
        self,
        plan_id: str,
        *,
        actor: str,
        reason: str = "",
        force: bool = False,
        seen_alarms: Mapping[str, Collection[int]] | None = None,
    ) -> PlanRecord:
        """Approve a proposed fleet plan: every site adopts its share, or none does (see
        module docs); it becomes the fleet plan in force.

        Refused while an unshelved critical alarm at a site is active on what its share moves
        (:func:`twin.fleet.alarms.check_fleet_alarms`) unless ``force`` with a ``reason``
        overrides it (only the alarms of ``seen_alarms``, per site, when given: the ids the
        approver was shown): each site's ``approve`` entry and the fleet's name the alarms
        overridden.

        Raises ``KeyError`` for an unknown plan; ``ValueError`` when the plan is not proposed
        any more, has no feasible co-plan, is stale, a share does not fit its site, a
        critical alarm is not overridden (:class:`twin.store.errors.Conflict`, audited
        ``approve_refused``), or a site's adoption failed on a conflict (the sites rolled
        back); :class:`twin.store.errors.StoreBusy` when a site's store stayed locked (rolled
        back).
        """
        with self._decide:
            record = self._plan(plan_id)
            payload = record["payload"] or {}
            if record["status"] != "proposed":
                raise Conflict(
                    f"plan {plan_id!r} is {record['status']}: it cannot become approved "
                    "(only a plan that is proposed can)"
                )
            status = (payload.get("summary") or {}).get("status")
            if status in NOT_APPROVABLE:
                raise ValueError(f"fleet plan {plan_id} has no feasible co-plan ({status})")
            self._check_fresh(plan_id, payload, record["created"])
            with contextlib.ExitStack() as held:
                # no site's scenario changes between the shares' check and their adoption
                for name in sorted(self.twins):
                    held.enter_context(self.twins[name].scenario_lock)
                adoptions = self._prepare(plan_id, payload, actor)
                overridden = self._check_alarms(
                    plan_id, adoptions, actor, force, reason, seen_alarms
                )
                why = reason or f"fleet plan {plan_id} approved"
                self._adopt_all(plan_id, adoptions, actor, why)
            in_force = self.store.list_plans(limit=500, status="approved")
            try:
                decided = self.store.set_plan_status(plan_id, "approved", actor, reason)
            except Exception as exc:
                self._roll_back(plan_id, adoptions, actor, f"fleet plan {plan_id}: {exc}")
                raise
            self._audit_sites(actor, "approve", plan_id, reason)
            site_plans = {name: adoption.plan_id for name, adoption in adoptions}
            detail: dict[str, Any] = {"site_plans": site_plans}
            if overridden:
                detail["critical_alarms_overridden"] = overridden
            self.store.audit(actor, "approve", plan_id, reason, detail)
            for old in in_force:  # nobody decided on it: the reason says who approved
                why = f"superseded by {plan_id} (approved by {actor})"
                self.store.set_plan_status(old["id"], "superseded", SYSTEM, why)
            return decided

    def _check_fresh(self, plan_id: str, payload: dict[str, Any], created: datetime) -> None:
        """Refuse a live fleet's plan that is stale (``ValueError``): made on another window
        than the live one, or made more than :attr:`max_age` ago (counted from its window's
        start when that is later: a window starts at most one fleet step before the plan is
        made, so counting from the window's start gave a fleet at a 1 h step between 0 and
        60 min to approve, and one at a longer step often none)."""
        if not self.twins:
            return
        window = payload.get("window")
        if not window or not payload.get("site_schedules"):
            raise ValueError(
                f"fleet plan {plan_id} holds no site schedules on a live window: re-plan"
            )
        start = datetime.fromisoformat(str(window["start"]))
        made = max(start, created)
        age = self.clock() - made
        if age > self.max_age:
            raise ValueError(
                f"fleet plan {plan_id} is stale: it was made {made.isoformat()}, "
                f"{age.total_seconds() / 60:.0f} min ago (at most "
                f"{self.max_age.total_seconds() / 60:.0f} min); re-plan"
            )

    def _prepare(
        self, plan_id: str, payload: dict[str, Any], actor: str
    ) -> list[tuple[str, Adoption]]:
        """Every live site's adoption, each share checked against its site now
        (:func:`twin.fleet.adopt.check_share`); nothing is written.  A share that does not fit
        refuses the whole approval (``ValueError``, audited ``approve_refused``)."""
        plans, problems = self._site_plans(plan_id, payload)
        if problems:  # refused before any site is previewed (~35 ms each)
            why = "; ".join(problems)
            self.store.audit(actor, "approve_refused", plan_id, why, {"problems": problems})
            raise ValueError(
                f"fleet plan {plan_id} does not fit every site, nothing was adopted: {why}; re-plan"
            )
        adoptions: list[tuple[str, Adoption]] = []
        for name, site_plan in plans.items():
            # previewed now: its critical alarms are judged on it, and the site plan keeps it
            site_plan["preview"] = self.twins[name].supervisor.preview(site_plan)
            adoptions.append((name, Adoption(self.twins[name], site_plan)))
        return adoptions

    def _check_alarms(
        self,
        plan_id: str,
        adoptions: list[tuple[str, Adoption]],
        actor: str,
        force: bool,
        reason: str,
        seen: Mapping[str, Collection[int]] | None,
    ) -> SiteAlarms:
        """Every site's critical alarms on what its share moves (on the preview its site plan
        keeps), refused unless overridden (audited ``approve_refused`` with them); marks the
        adoptions of the sites overridden (their site approval overrides the same alarms).
        Returns the alarms overridden per site (``seen``: see
        :func:`twin.fleet.alarms.check_fleet_alarms`)."""
        alarms = {name: share_alarms(a.twin, a.payload["preview"]) for name, a in adoptions}
        try:
            overridden = check_fleet_alarms(plan_id, alarms, force=force, reason=reason, seen=seen)
        except Conflict as exc:
            shown = {name: listed for name, listed in alarms.items() if listed}
            detail = {"critical_alarms": shown}
            self.store.audit(actor, "approve_refused", plan_id, str(exc), detail)
            raise
        for name, adoption in adoptions:
            adoption.overriding = [int(a["id"]) for a in overridden.get(name, [])]
        return overridden

    def _adopt_all(
        self, plan_id: str, adoptions: list[tuple[str, Adoption]], actor: str, reason: str
    ) -> None:
        """Every site adopts in turn; on a failure the sites that had adopted (and the failing
        one, as far as it got) are restored, and the error is raised again, naming them."""
        for done, (name, adoption) in enumerate(adoptions):
            try:
                adoption.apply(actor=actor, reason=reason)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                why = f"fleet plan {plan_id} not adopted: site {name} failed ({error})"
                rolled = self._roll_back(plan_id, adoptions[: done + 1], actor, why, name, error)
                message = (
                    f"site {name} could not adopt fleet plan {plan_id} ({error}); nothing was "
                    f"adopted: {', '.join(rolled) or 'no site had'} rolled back; the plan is "
                    "still proposed"
                )
                if isinstance(exc, StoreBusy):
                    raise StoreBusy(message) from exc
                if isinstance(exc, ValueError):
                    raise ValueError(message) from exc
                raise

    def _roll_back(
        self,
        plan_id: str,
        adoptions: list[tuple[str, Adoption]],
        actor: str,
        why: str,
        failed: str | None = None,
        error: str | None = None,
    ) -> list[str]:
        """Undo ``adoptions`` newest first; audit ``approve_failed`` in the fleet's store.
        Returns the sites rolled back (the failing one left out)."""
        for _, adoption in reversed(adoptions):
            adoption.undo(actor=actor, reason=why)
        rolled = {name: a.plan_id for name, a in adoptions if name != failed}
        detail = {"site": failed, "error": error, "rolled_back": rolled}
        self.store.audit(actor, "approve_failed", plan_id, why, detail)
        return list(rolled)

    def reject(self, plan_id: str, *, actor: str, reason: str = "") -> PlanRecord:
        """Reject a proposed fleet plan (``KeyError`` unknown, ``ValueError`` not proposed)."""
        with self._decide:
            self._plan(plan_id)
            decided = self.store.set_plan_status(plan_id, "rejected", actor, reason)
            self.store.audit(actor, "reject", plan_id, reason, {})
            self._audit_sites(actor, "reject", plan_id, reason)
            return decided

    def in_force(self) -> PlanRecord | None:
        """The approved fleet plan, else the newest proposal, else None."""
        for status in ("approved", "proposed"):
            plans = self.store.list_plans(limit=1, status=status)
            if plans:
                return plans[0]
        return None


def job_list(jobs: Iterable[FleetJob]) -> list[dict[str, Any]]:
    """Fleet re-plan jobs, newest first, JSON-ready."""
    return [job.to_dict() for job in sorted(jobs, key=lambda j: j.started, reverse=True)]


__all__ = ["NOT_APPROVABLE", "FleetJob", "FleetPlanner", "fleet_flows", "job_list"]
