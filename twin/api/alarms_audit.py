"""Alarms (sensor faults, stale telemetry) and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from twin.api.deps import API, CurrentTwin, Read

router = APIRouter(prefix=API)
"""The alarm and audit routes."""


class AlarmOut(BaseModel):
    """An alarm (sensor fault, stale telemetry)."""

    id: int = Field(description="Alarm id")
    raised: datetime = Field(description="When it was raised (UTC)")
    cleared: datetime | None = Field(description="When it was cleared (UTC); null while active")
    kind: str = Field(description="e.g. sensor_stuck, sensor_drift, telemetry_stale")
    source: str = Field(description="Point id or `site`")
    message: str = Field(description="One sentence for the operator, with figures")


class AuditOut(BaseModel):
    """One line of the audit log."""

    id: int = Field(description="Increasing sequence number")
    time: datetime = Field(description="When (UTC)")
    actor: str = Field(
        description="Who: `token:<first 8 hex of the token's SHA-256>`, `scheduler` or `autonomy`"
    )
    action: str = Field(description="propose, approve, apply, reject, hold, replace_scenario")
    target: str | None = Field(description="Plan id or facility name")
    reason: str | None = Field(description="Why")
    detail: Any = Field(default=None, description="Extra data")


@router.get("/alarms")
def alarms(_: Read, twin: CurrentTwin, active: bool = True) -> list[AlarmOut]:
    """Alarms (sensor faults, stale telemetry), newest first."""
    return [AlarmOut(**a) for a in twin.store.alarms(active_only=active, limit=1000)]


@router.get("/audit")
def audit(
    _: Read, twin: CurrentTwin, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[AuditOut]:
    """The audit log: who approved, rejected or applied what, when and why."""
    return [AuditOut(**e) for e in twin.store.audit_log(limit=limit)]
