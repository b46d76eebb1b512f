"""Plans: list, read, propose (re-plan now), approve and reject (audited)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from twin.api.deps import API, NO_NUL, Approve, CurrentTwin, Read, error_responses
from twin.live.live_twin import LiveTwin

PlanStatus = Literal["proposed", "approved", "rejected", "applied", "superseded", "reverted"]
"""The states of a stored plan."""

router = APIRouter(prefix=API)
"""The plan routes."""


class Reason(BaseModel):
    """Why an operator approves or rejects."""

    reason: str = Field(
        default="",
        max_length=2000,
        pattern=NO_NUL,
        description="Free text for the audit log (no NUL character)",
    )
    force: bool = Field(
        default=False,
        description="Approve although a critical alarm is active on what the plan moves (the "
        "preview's critical_alarms): refused by default (409); overriding needs a reason and "
        "is audited with the alarms",
    )


class Approval(Reason):
    """Why an operator approves, and the critical alarms overridden."""

    override_alarm_ids: list[int] | None = Field(
        default=None,
        max_length=1000,
        description="With force: the ids of the critical alarms the approver was shown (the "
        "preview's critical_alarms); a blocking alarm raised since, not among them, is not "
        "overridden (409). Omitted: every blocking alarm is overridden",
    )


class PlanOut(BaseModel):
    """A stored plan."""

    id: str = Field(description="Plan id")
    created: datetime = Field(description="When it was proposed (UTC)")
    status: str = Field(description="proposed, approved, applied, rejected, superseded or reverted")
    payload: Any = Field(
        default=None,
        description="summary (verified figures: cost [currency], carbon_kg [kg], peak_grid_kw "
        "[kW], cooling_energy_kwh [kWh], violations), start (UTC), schedule (setpoints [°C], "
        "battery power [kW, + discharge], workload power [kW] per step), preview (what the plan "
        "changes now and over its horizon against the schedule in force: per-job power [kW] "
        "and action, setpoint deltas [K], battery action, cost, peak [kW] and max inlet [°C] of "
        "both on the calibrated twin), revert_of (the plan a fallback reverts)",
    )
    decided_by: str | None = Field(description="Who changed the status last")
    decided_at: datetime | None = Field(description="When (UTC)")
    reason: str | None = Field(description="Why, as given")
    critical_alarms: list[dict[str, Any]] = Field(
        default_factory=list,
        description="On an approval: the active critical alarms on what the plan moves, "
        "overridden with force (id, kind, source, point, rack, message, raised, shelved)",
    )


@router.get("/plans")
def list_plans(
    _: Read,
    twin: CurrentTwin,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
    plan_status: Annotated[PlanStatus | None, Query(alias="status")] = None,
) -> list[dict[str, Any]]:
    """Plans, newest first (without their schedules)."""
    plans = twin.store.list_plans(limit=limit, status=plan_status)
    return [{k: v for k, v in p.items() if k != "payload"} for p in plans]


@router.get("/plans/{plan_id}", responses=error_responses(404))
def get_plan(plan_id: str, _: Read, twin: CurrentTwin) -> PlanOut:
    """One plan with its verified figures and schedule."""
    record = twin.store.get_plan(plan_id)
    if record is None:
        raise HTTPException(404, f"unknown plan {plan_id!r}")
    return PlanOut(**record)


@router.get("/plans/{plan_id}/preview", responses=error_responses(404))
def plan_preview(plan_id: str, _: Read, twin: CurrentTwin) -> dict[str, Any]:
    """What the plan changes now and over its horizon against the schedule in force (the
    ``preview`` of the plan object; computed now for a plan stored without one)."""
    try:
        return twin.plan_preview(plan_id)
    except KeyError as exc:
        raise HTTPException(404, f"unknown plan {plan_id!r}") from exc


@router.post("/plans")
def propose_plan(who: Approve, twin: CurrentTwin, body: Reason | None = None) -> PlanOut:
    """Re-plan now from the estimated state (the result is proposed, not applied)."""
    reason = body.reason if body and body.reason else "requested"
    return PlanOut(**twin.replan(actor=who, reason=reason))


def _decide(twin: LiveTwin, plan_id: str, who: str, body: Reason | None, approve: bool) -> PlanOut:
    reason = body.reason if body else ""
    try:
        if approve:
            alarms = twin.plan_alarms(plan_id)
            force = bool(body and body.force)
            seen = getattr(body, "override_alarm_ids", None)
            record = twin.approve(plan_id, actor=who, reason=reason, force=force, seen_alarms=seen)
            return PlanOut(**record, critical_alarms=alarms)
        return PlanOut(**twin.reject(plan_id, actor=who, reason=reason))
    except KeyError as exc:
        raise HTTPException(404, f"unknown plan {plan_id!r}") from exc
    except ValueError as exc:  # not proposed any more
        raise HTTPException(409, str(exc)) from exc


@router.post("/plans/{plan_id}/approve", responses=error_responses(404, 409))
def approve_plan(
    plan_id: str, who: Approve, twin: CurrentTwin, body: Approval | None = None
) -> PlanOut:
    """Approve and apply a proposed plan (audited); refused (409, naming each alarm and rack)
    while a critical alarm is active on what it moves, unless ``force`` with a reason."""
    return _decide(twin, plan_id, who, body, True)


@router.post("/plans/{plan_id}/reject", responses=error_responses(404, 409))
def reject_plan(
    plan_id: str, who: Approve, twin: CurrentTwin, body: Reason | None = None
) -> PlanOut:
    """Reject a proposed plan (audited)."""
    return _decide(twin, plan_id, who, body, False)
