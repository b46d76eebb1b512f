"""The fleet's own routes: ``/api/v1/fleet`` (the fleet now), ``/api/v1/fleet/plans``
(propose in the background, read, preview, approve, reject), ``/api/v1/fleet/jobs`` (re-plans under
way) and ``/api/v1/fleet/audit``.

Scopes as for a single site's plans: reads need ``read``; proposing, approving and rejecting
need ``approve``; every decision is audited (:mod:`twin.fleet.replan`).  A fleet co-plan takes
tens of seconds, so ``POST /api/v1/fleet/plans`` answers ``202 Accepted`` at once with the job
and its ``Location`` (``GET /api/v1/fleet/jobs/{id}``: ``running``, then ``done`` with the
``plan_id``, or ``failed`` with the ``error``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import Field

from twin.api.alarms_audit import AuditOut
from twin.api.deps import API, Approve, Read, error_responses
from twin.api.plans import PlanOut, PlanStatus, Reason
from twin.fleet.alarms import flat_alarms
from twin.fleet.live import FleetTwin
from twin.fleet.replan import job_list
from twin.store.errors import StoreBusy

FLEET = API + "/fleet"
"""Prefix of the fleet's own routes."""

router = APIRouter(prefix=FLEET)
"""The fleet routes."""

sites_router = APIRouter(prefix=API)
"""``GET /api/v1/sites`` and the fleet's health."""


async def current_fleet(request: Request) -> FleetTwin:
    """Dependency: the fleet the app serves (``app.state.fleet``)."""
    fleet: FleetTwin = request.app.state.fleet
    return fleet


CurrentFleet = Annotated[FleetTwin, Depends(current_fleet)]
"""The live fleet served (a dependency)."""


@sites_router.get("/sites")
def sites(_: Read, fleet: CurrentFleet) -> list[dict[str, Any]]:
    """The fleet's sites: name, facility, metro, grid zone, where [degrees], and the prefix of
    their routes (``/api/v1/sites/{site}/...``: state, alarms, measurements, plans...)."""
    return [
        {
            "site": name,
            "facility": site.twin.facility.name,
            "metro": site.source.spec.metro,
            "grid_zone": site.source.spec.grid_zone,
            "latitude": site.source.latitude,
            "longitude": site.source.longitude,
            "routes": f"{API}/sites/{name}/",
        }
        for name, site in fleet.sites.items()
    ]


@sites_router.get("/health")
def health(fleet: CurrentFleet) -> dict[str, Any]:
    """Liveness of the fleet: every site's twin answers; per site, stale or not."""
    return {
        "status": "ok",
        "fleet": fleet.name,
        "sites": {
            name: {"stale": bool(site.twin.estimator.state(site.twin.clock()).stale)}
            for name, site in fleet.sites.items()
        },
    }


@router.get("")
def fleet_summary(_: Read, fleet: CurrentFleet) -> dict[str, Any]:
    """The fleet now: per site facility power [kW], grid import [kW], PUE [-], carbon intensity
    [g CO2e/kWh], price [currency/MWh], active alarms [count], where [degrees]; totals; the
    fleet plan in force (work moved between sites [kWh], transfers per link [GB], per-site
    figures) and any re-plan under way."""
    return fleet.summary()


@router.get("/plans")
def list_fleet_plans(
    _: Read,
    fleet: CurrentFleet,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
    plan_status: Annotated[PlanStatus | None, Query(alias="status")] = None,
) -> list[dict[str, Any]]:
    """Fleet plans, newest first (without their payloads)."""
    plans = fleet.store.list_plans(limit=limit, status=plan_status)
    return [{k: v for k, v in p.items() if k != "payload"} for p in plans]


class FleetReason(Reason):
    """Why an operator approves or rejects a fleet plan."""

    force: bool = Field(
        default=False,
        description="Approve although a critical alarm at a site is active on what its share "
        "moves (the fleet preview's critical_alarms): refused by default (409, nothing adopted "
        "anywhere); overriding needs a reason and is audited at each site and in the fleet's "
        "log with the alarms",
    )


class FleetApproval(FleetReason):
    """Why an operator approves a fleet plan, and the critical alarms overridden."""

    override_alarm_ids: dict[str, list[int]] | None = Field(
        default=None,
        max_length=1000,
        description="With force: per site, the ids of the critical alarms the approver was "
        "shown (the fleet preview's critical_alarms); a blocking alarm raised since, not among "
        "them, is not overridden (409, nothing adopted). Omitted: every blocking alarm is",
    )


class FleetPlanOut(PlanOut):
    """A stored fleet plan."""

    critical_alarms: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Of a proposed plan (read) or on an approval: every site's active critical "
        "alarms on what its share moves, now or overridden with force (site, id, kind, "
        "source, point, rack, message, raised, shelved)",
    )
    misfits: list[str] = Field(
        default_factory=list,
        description="Of a proposed plan: per site whose share does not fit it any more, why "
        '("dallas-core: its scenario was replaced after the fleet plan was made"); approval '
        "is refused while one does not (re-plan)",
    )


@router.get("/plans/{plan_id}", responses=error_responses(404))
def get_fleet_plan(plan_id: str, _: Read, fleet: CurrentFleet) -> FleetPlanOut:
    """One fleet plan: ``payload.summary`` is the ``dctwin plan fleet.yaml --json`` object
    (without the baselines' per-job detail), ``payload.flows`` the work moved from each job's
    home site [kWh]; a proposed plan's ``critical_alarms`` are every site's active critical
    alarms on what its share moves (approval refuses while one is not shelved), its
    ``misfits`` the sites whose share does not fit them any more (approval refuses)."""
    record = fleet.store.get_plan(plan_id)
    if record is None:
        raise HTTPException(404, f"unknown fleet plan {plan_id!r}")
    if record["status"] != "proposed":
        return FleetPlanOut(**record)
    alarms, misfits = fleet.planner.proposal_check(plan_id)
    return FleetPlanOut(**record, critical_alarms=flat_alarms(alarms), misfits=misfits)


@router.get("/plans/{plan_id}/preview", responses=error_responses(404))
def fleet_plan_preview(plan_id: str, _: Read, fleet: CurrentFleet) -> dict[str, Any]:
    """What the fleet plan changes at each site now (``sites``: per site the single-site
    preview of its share, job power [kW], setpoints [°C], battery, cost, peak [kW], hottest
    inlet [°C] against the schedule in force, with its ``critical_alarms`` and their sentence
    first in ``changes``); ``critical_alarms`` of every site (each with its ``site``) and
    ``changes`` (one line per site with alarms).  A site whose share does not fit it any more
    is left out (approval names it)."""
    try:
        return fleet.planner.preview(plan_id)
    except KeyError as exc:
        raise HTTPException(404, f"unknown fleet plan {plan_id!r}") from exc


@router.post("/plans", status_code=202)
def propose_fleet_plan(
    who: Approve, fleet: CurrentFleet, response: Response, body: Reason | None = None
) -> dict[str, Any]:
    """Re-plan the fleet in the background (202 with the job; poll its ``Location``).  One
    re-plan at a time: while one runs, its job is answered (``new`` false)."""
    reason = body.reason if body and body.reason else "requested"
    job, started = fleet.planner.propose(actor=who, reason=reason)
    response.headers["Location"] = f"{FLEET}/jobs/{job.id}"
    return {**job.to_dict(), "new": started}


@router.get("/jobs")
def fleet_jobs(_: Read, fleet: CurrentFleet) -> list[dict[str, Any]]:
    """Fleet re-plans since the server started, newest first."""
    return job_list(fleet.planner.jobs.values())


@router.get("/jobs/{job_id}", responses=error_responses(404))
def fleet_job(job_id: str, _: Read, fleet: CurrentFleet) -> dict[str, Any]:
    """One fleet re-plan: ``running``, ``done`` (``plan_id``) or ``failed`` (``error``);
    ``elapsed_s`` [s] once ended."""
    job = fleet.planner.jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"unknown fleet re-plan {job_id!r}")
    return job.to_dict()


def _decide(
    fleet: FleetTwin, plan_id: str, who: str, body: Reason | None, approve: bool
) -> FleetPlanOut:
    reason = body.reason if body else ""
    try:
        if approve:
            force = bool(body and body.force)
            seen = getattr(body, "override_alarm_ids", None)
            unknown = sorted(set(seen or {}) - set(fleet.sites))
            if unknown:  # an override for no site overrides nothing: say so, not ignore it
                raise HTTPException(
                    422,
                    f"override_alarm_ids: no site {', '.join(map(repr, unknown))}; sites: "
                    f"{', '.join(fleet.sites)}",
                )
            record = fleet.planner.approve(
                plan_id, actor=who, reason=reason, force=force, seen_alarms=seen
            )
            return FleetPlanOut(**record, critical_alarms=_overridden(fleet, plan_id))
        return FleetPlanOut(**fleet.planner.reject(plan_id, actor=who, reason=reason))
    except KeyError as exc:
        raise HTTPException(404, f"unknown fleet plan {plan_id!r}") from exc
    except ValueError as exc:  # not proposed any more, no feasible co-plan, does not fit
        raise HTTPException(409, str(exc)) from exc
    except StoreBusy as exc:  # a site's store locked: every site rolled back, retry
        raise HTTPException(503, str(exc), headers={"Retry-After": "1"}) from exc


def _overridden(fleet: FleetTwin, plan_id: str) -> list[dict[str, Any]]:
    """The alarms an approval of ``plan_id`` overrode, per site (its ``approve`` entry in the
    fleet's audit log), flattened."""
    for entry in fleet.store.audit_log(limit=20, actions=["approve"]):
        if entry["target"] == plan_id:
            return flat_alarms((entry["detail"] or {}).get("critical_alarms_overridden") or {})
    return []


@router.post("/plans/{plan_id}/approve", responses=error_responses(404, 409, 503))
def approve_fleet_plan(
    plan_id: str, who: Approve, fleet: CurrentFleet, body: FleetApproval | None = None
) -> FleetPlanOut:
    """Approve a proposed fleet plan: the fleet plan in force, and every site adopts its share
    (a site plan approved and applied under the same principal, then watched; audited here and
    at every site).  409 when the plan is not proposed any more (decided, superseded), has no
    feasible co-plan, is stale (its window started more than an hour ago: re-plan), a share
    does not fit its site any more (e.g. its scenario was replaced), or a site has an
    unshelved critical alarm on what its share moves (named with its site and rack) and
    ``force`` with a ``reason`` does not override it: nothing adopted.  When overridden,
    ``critical_alarms`` lists what was, as do each site's ``approve`` entry and the fleet's.
    Every site adopts or none does: when a site fails (503 when its store stayed locked), the
    sites that had adopted are rolled back, and the plan stays proposed."""
    return _decide(fleet, plan_id, who, body, True)


@router.post("/plans/{plan_id}/reject", responses=error_responses(404, 409))
def reject_fleet_plan(
    plan_id: str, who: Approve, fleet: CurrentFleet, body: Reason | None = None
) -> FleetPlanOut:
    """Reject a proposed fleet plan (audited here and at every site)."""
    return _decide(fleet, plan_id, who, body, False)


@router.get("/audit")
def fleet_audit(
    _: Read, fleet: CurrentFleet, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[AuditOut]:
    """The fleet's audit log (fleet plans proposed, approved, rejected), newest first."""
    return [AuditOut(**entry) for entry in fleet.store.audit_log(limit=limit)]
