"""Alarms (limits, sensor faults, stale telemetry, plan reverts): list, acknowledge, shelve;
the sensors the screening keeps out, and readmitting one (:mod:`twin.live.control.sensors`);
and the audit log.  Acknowledging, shelving and readmitting need the ``approve`` scope and
are audited."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, Field

from twin.api.deps import API, NO_NUL, Approve, CurrentTwin, ErrorOut, Read, error_responses
from twin.live.control import alarm_actions, sensors
from twin.live.control.alarm_actions import MAX_SHELVE_HOURS
from twin.store.errors import Conflict, NotFound
from twin.store.records import Alarm

router = APIRouter(prefix=API)
"""The alarm and audit routes."""

AlarmId = Annotated[int, Path(ge=1, le=2**62, description="Alarm id")]
"""An alarm id in a path (within the database's integer range)."""


class AlarmOut(BaseModel):
    """An alarm (limit, sensor fault, stale telemetry, plan revert)."""

    id: int = Field(description="Alarm id")
    raised: datetime = Field(description="When it was raised (UTC)")
    cleared: datetime | None = Field(description="When it was cleared (UTC); null while active")
    kind: str = Field(
        description="e.g. limit_inlet_temperature_high, limit_undervoltage, sensor_stuck, "
        "sensor_spike, sensor_silent, sensor_drift, telemetry_stale, plan_reverted"
    )
    source: str = Field(description="Point id, equipment source, plan id or `site`")
    message: str = Field(description="One sentence for the operator, with figures")
    severity: str = Field(default="warning", description="warning or critical")
    point: str | None = Field(default=None, description="The point whose trend shows it")
    acknowledged: datetime | None = Field(default=None, description="When acknowledged (UTC)")
    acknowledged_by: str | None = Field(default=None, description="Who acknowledged it")
    shelved_until: datetime | None = Field(
        default=None, description="Shelved (left out of the active count) until (UTC)"
    )
    shelved_by: str | None = Field(default=None, description="Who shelved it")
    detail: Any = Field(default=None, description="value, limit, margin, unit, basis ...")


class AuditOut(BaseModel):
    """One line of the audit log."""

    id: int = Field(description="Increasing sequence number")
    time: datetime = Field(description="When (UTC)")
    actor: str = Field(
        description="Who: `token:<first 8 hex of the token's SHA-256>`, `scheduler`, "
        "`autonomy` or `watch`"
    )
    action: str = Field(
        description="propose, approve, apply, reject, hold, revert, propose_revert, "
        "watch_start, watch_trip, watch_passed, acknowledge_alarm, shelve_alarm, "
        "unshelve_alarm, readmit_sensor, replace_scenario"
    )
    target: str | None = Field(description="Plan id, alarm id or facility name")
    reason: str | None = Field(description="Why")
    detail: Any = Field(default=None, description="Extra data")


class AlarmAction(BaseModel):
    """Why an operator acknowledges or shelves an alarm."""

    reason: str = Field(
        default="",
        max_length=2000,
        pattern=NO_NUL,
        description="Free text for the audit log (no NUL character)",
    )


class Shelve(AlarmAction):
    """Shelve an alarm for a while (0 unshelves)."""

    hours: float = Field(ge=0.0, le=MAX_SHELVE_HOURS, description="How long [h]; 0 unshelves")


@router.get("/alarms")
def alarms(
    _: Read,
    twin: CurrentTwin,
    active: bool = True,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> list[AlarmOut]:
    """Alarms, newest first (``active=false``: cleared ones too)."""
    return [AlarmOut(**a) for a in twin.store.alarms(active_only=active, limit=limit)]


@router.get("/alarms/{alarm_id}", responses=error_responses(404))
def alarm(alarm_id: AlarmId, _: Read, twin: CurrentTwin) -> AlarmOut:
    """One alarm."""
    found = twin.store.get_alarm(alarm_id)
    if found is None:
        raise HTTPException(404, f"unknown alarm {alarm_id}")
    return AlarmOut(**found)


def _change(alarm_id: int, change: Callable[[], Alarm]) -> Alarm:
    try:
        return change()
    except NotFound as exc:
        raise HTTPException(404, f"unknown alarm {alarm_id}") from exc
    except Conflict as exc:  # a cleared alarm: nothing done, nothing audited
        raise HTTPException(409, str(exc)) from exc


CLEARED: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorOut, "description": "The alarm is cleared: nothing done"}
}
"""The answer to acting on a cleared alarm."""


@router.post("/alarms/{alarm_id}/acknowledge", responses={**error_responses(404), **CLEARED})
def acknowledge(
    alarm_id: AlarmId, who: Approve, twin: CurrentTwin, body: AlarmAction | None = None
) -> AlarmOut:
    """Acknowledge an active alarm (the first acknowledgement stays; audited); 409 for a
    cleared alarm (nothing done)."""
    reason = body.reason if body else ""
    return AlarmOut(
        **_change(alarm_id, lambda: alarm_actions.acknowledge(twin, alarm_id, who, reason))
    )


@router.post("/alarms/{alarm_id}/shelve", responses={**error_responses(404), **CLEARED})
def shelve(alarm_id: AlarmId, who: Approve, twin: CurrentTwin, body: Shelve) -> AlarmOut:
    """Shelve an active alarm for ``hours`` (it stays listed but leaves the active count);
    ``hours`` 0 unshelves (audited); 409 for a cleared alarm (nothing done)."""
    return AlarmOut(
        **_change(
            alarm_id, lambda: alarm_actions.shelve(twin, alarm_id, who, body.hours, body.reason)
        )
    )


class SensorFaultOut(BaseModel):
    """A sensor fault the screening holds now."""

    point: str = Field(description="Point id")
    kind: str = Field(description="stuck, drift or silent")
    since: datetime = Field(description="Estimated start of the fault (UTC)")
    detected: datetime = Field(description="When the screening detected it (UTC)")
    reason: str = Field(description="One sentence with the figures")
    excluded: bool = Field(
        description="Its readings are kept out of the estimate and the calibration (stuck, "
        "drift) until it recovers or is readmitted; a silent sensor clears with its next reading"
    )


class Readmit(BaseModel):
    """Readmit an excluded sensor (after replacing or recalibrating it)."""

    point: str = Field(min_length=1, max_length=200, description="Point id")
    reason: str = Field(
        min_length=1,
        max_length=2000,
        pattern=r"^[^\x00]*\S[^\x00]*$",
        description="Why, for the audit log (required, not blank, no NUL character)",
    )


class ReadmitOut(BaseModel):
    """What readmitting a sensor did."""

    point: str = Field(description="Point id")
    fault: str = Field(description="The fault it had: stuck or drift")
    since: datetime = Field(description="When that fault began (UTC)")
    alarms_cleared: list[int] = Field(description="Its sensor alarms cleared")


@router.get("/sensors/faults")
def sensor_faults(_: Read, twin: CurrentTwin) -> list[SensorFaultOut]:
    """The sensor faults the screening holds now (stuck, drift, silent), by point."""
    return [SensorFaultOut(**f) for f in sensors.excluded_sensors(twin)]


@router.post(
    "/sensors/readmit",
    responses={
        **error_responses(404),
        409: {"model": ErrorOut, "description": "The sensor is not excluded now"},
    },
)
def readmit_sensor(who: Approve, twin: CurrentTwin, body: Readmit) -> ReadmitOut:
    """Readmit a sensor the screening keeps out (stuck or drifting): a sensor that came back
    right but different (replaced, recalibrated) is otherwise never readmitted.  Its
    screening history restarts, its sensor alarms are cleared; audited with the reason."""
    try:
        return ReadmitOut(**sensors.readmit(twin, body.point, who, body.reason))
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except Conflict as exc:
        raise HTTPException(409, str(exc)) from exc


@router.get("/audit")
def audit(
    _: Read, twin: CurrentTwin, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[AuditOut]:
    """The audit log: who approved, rejected, applied, reverted, acknowledged or shelved what,
    when and why."""
    return [AuditOut(**e) for e in twin.store.audit_log(limit=limit)]
