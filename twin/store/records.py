"""Plans, the audit log, calibrated parameters and alarms of a store.

:class:`RecordsMixin` holds the methods; :class:`twin.store.store.Store` mixes it in.  Each
record is returned as a JSON-ready dict (:class:`PlanRecord`, :class:`AuditEntry`,
:class:`ParameterValue`, :class:`Alarm`) with aware UTC times.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypedDict

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection

from twin.store.engine import (
    Database,
    dialect_insert,
    finite_number,
    from_json,
    from_microseconds,
    optional_from_microseconds,
    to_json,
    to_microseconds,
)
from twin.store.errors import Conflict, NotFound
from twin.store.schema import ALARMS, AUDIT, META, PARAMETERS, PLANS

__all__ = [
    "ALARM_SEVERITIES",
    "PLAN_STATUSES",
    "PLAN_TRANSITIONS",
    "Alarm",
    "AuditEntry",
    "ParameterValue",
    "PlanRecord",
    "RecordsMixin",
]

PLAN_STATUSES = ("proposed", "approved", "rejected", "applied", "superseded", "reverted")
"""Every status a plan can have."""

PLAN_TRANSITIONS: dict[str, frozenset[str]] = {
    "proposed": frozenset({"approved", "rejected", "superseded"}),
    "approved": frozenset({"applied", "superseded"}),
    "applied": frozenset({"reverted"}),
}
"""Allowed status changes: a decision is taken once, on a proposed plan; an approved plan can
then only be applied or superseded; an applied plan can be reverted (the watch after an
application found it unsafe).  ``rejected``, ``superseded`` and ``reverted`` are final."""

ALARM_SEVERITIES = ("warning", "critical")
"""Alarm severities, least severe first."""


class PlanRecord(TypedDict):
    """A stored plan (a JSON-ready dict).

    Keys
    ----
    id
        Plan id.
    created
        When it was stored (UTC).
    status
        One of :data:`PLAN_STATUSES`.
    payload
        The plan as JSON-compatible data.
    decided_by, decided_at, reason
        Who changed the status last, when (UTC) and why (None while proposed).
    """

    id: str
    created: datetime
    status: str
    payload: Any
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None


class AuditEntry(TypedDict):
    """One line of the audit log (a dict).

    Keys
    ----
    id
        Increasing sequence number.
    time
        When (UTC).
    actor
        Who (user name or ``system``).
    action
        What, e.g. ``plan.approved``.
    target
        On what (plan id, point id, …), or None.
    reason
        Why, as given, or None.
    detail
        Extra JSON-compatible data, or None.
    """

    id: int
    time: datetime
    actor: str
    action: str
    target: str | None
    reason: str | None
    detail: Any


class ParameterValue(TypedDict):
    """One calibrated parameter value (a dict).

    Keys
    ----
    name
        Parameter name.
    time
        Time of the calibration (UTC).
    value
        Estimate [the parameter's unit].
    std
        Standard deviation of the estimate [same unit], or None.
    """

    name: str
    time: datetime
    value: float
    std: float | None


class Alarm(TypedDict):
    """One alarm (a dict).

    Keys
    ----
    id
        Alarm id.
    raised
        When it was raised (UTC).
    cleared
        When it was cleared (UTC), None while active.
    kind
        Kind, e.g. ``sensor_stuck``.
    source
        What raised it, e.g. a point id.
    message
        One sentence for the operator.
    severity
        ``warning`` or ``critical`` (:data:`ALARM_SEVERITIES`).
    point
        The point whose trend shows it, or None.
    acknowledged, acknowledged_by
        When (UTC) and by whom it was acknowledged; None until then (and again after an
        escalation).
    shelved_until, shelved_by
        Until when (UTC) and by whom it is shelved; None when not shelved.
    detail
        Extra JSON-compatible data (value, limit, unit, basis), or None.
    """

    id: int
    raised: datetime
    cleared: datetime | None
    kind: str
    source: str
    message: str
    severity: str
    point: str | None
    acknowledged: datetime | None
    acknowledged_by: str | None
    shelved_until: datetime | None
    shelved_by: str | None
    detail: Any


class RecordsMixin:
    """Plans, audit log, calibrated parameters and alarms: the methods of
    :class:`twin.store.store.Store` besides the measurements."""

    _database: Database
    """The database; set by the class that mixes this in."""

    # ------------------------------------------------------------------------------- plans

    def add_plan(
        self,
        plan_id: str,
        created: datetime | None,
        status: str,
        payload: Any,
    ) -> PlanRecord:
        """Store a new plan.

        Parameters
        ----------
        plan_id
            Unique id.
        created
            Creation time (timezone-aware; None: now).
        status
            Initial status, normally ``proposed`` (one of :data:`PLAN_STATUSES`).
        payload
            JSON-compatible data (numpy values and datetimes are converted; NaN refused).

        Returns
        -------
        PlanRecord
            The stored plan (payload as read back from JSON).

        Raises
        ------
        Conflict
            A plan with this id exists.
        ValueError
            Unknown status, or payload not JSON-compatible.
        """
        _check_status(status)
        when = to_microseconds(created or datetime.now(UTC), "created")
        text = to_json(payload, "plan payload")
        statement = sa.insert(PLANS).values(id=plan_id, created=when, status=status, payload=text)
        try:
            self._database.write(lambda conn: conn.execute(statement))
        except sa_exc.IntegrityError as exc:
            raise Conflict(f"plan {plan_id!r} already exists") from exc
        return PlanRecord(
            id=plan_id,
            created=from_microseconds(when),
            status=status,
            payload=json.loads(text),
            decided_by=None,
            decided_at=None,
            reason=None,
        )

    def get_plan(self, plan_id: str) -> PlanRecord | None:
        """The plan with this id, or None."""
        query = sa.select(PLANS).where(PLANS.c.id == plan_id)
        return self._database.read(lambda conn: _optional_plan(conn.execute(query).one_or_none()))

    def list_plans(self, limit: int = 50, status: str | None = None) -> list[PlanRecord]:
        """Newest plans first.

        Parameters
        ----------
        limit
            At most this many.
        status
            Only plans with this status.
        """
        if status is not None:
            _check_status(status)
        query = sa.select(PLANS).order_by(PLANS.c.created.desc(), PLANS.c.id.desc())
        if status is not None:
            query = query.where(PLANS.c.status == status)
        query = query.limit(limit)
        return self._database.read(lambda conn: [_plan_record(row) for row in conn.execute(query)])

    def set_plan_status(
        self,
        plan_id: str,
        status: str,
        actor: str,
        reason: str | None = None,
        *,
        time: datetime | None = None,
    ) -> PlanRecord:
        """Change a plan's status as :data:`PLAN_TRANSITIONS` allows.

        The check and the change are one ``UPDATE … WHERE status IN (allowed)``, so of two
        operators deciding at once only one succeeds.  Nothing is audited here: the caller
        writes the audit entry (:meth:`audit`).

        Parameters
        ----------
        plan_id
            Plan id.
        status
            New status.
        actor
            Who decides (stored as ``decided_by``).
        reason
            Why.
        time
            When (timezone-aware; default: now).

        Returns
        -------
        PlanRecord
            The plan after the change.

        Raises
        ------
        NotFound
            No such plan (a ``KeyError``).
        Conflict
            Not allowed from the plan's current status, e.g. approving a rejected plan (a
            ``ValueError``).
        """
        _check_status(status)
        allowed_from = [old for old, new in PLAN_TRANSITIONS.items() if status in new]
        when = to_microseconds(time or datetime.now(UTC), "time")
        update = (
            sa.update(PLANS)
            .where(PLANS.c.id == plan_id, PLANS.c.status.in_(allowed_from))
            .values(status=status, decided_by=actor, decided_at=when, reason=reason)
        )
        select = sa.select(PLANS).where(PLANS.c.id == plan_id)

        def work(conn: Connection) -> PlanRecord:
            changed = conn.execute(update).rowcount == 1
            record = _optional_plan(conn.execute(select).one_or_none())
            if record is None:
                raise NotFound(f"no plan {plan_id!r}")
            if not changed:
                raise Conflict(
                    f"plan {plan_id!r} is {record['status']}: it cannot become {status} "
                    f"(only a plan that is {' or '.join(allowed_from)} can)"
                )
            return record

        return self._database.write(work)

    # ------------------------------------------------------------------------------- audit

    def audit(
        self,
        actor: str,
        action: str,
        target: str | None = None,
        reason: str | None = None,
        detail: Any = None,
        *,
        time: datetime | None = None,
    ) -> int:
        """Append one entry to the audit log.

        Parameters
        ----------
        actor
            Who.
        action
            What (dotted name, e.g. ``setpoint.override``).
        target
            On what.
        reason
            Why.
        detail
            Extra JSON-compatible data.
        time
            When (default: now).

        Returns
        -------
        int
            The entry's id (increasing).
        """
        values = {
            "time": to_microseconds(time or datetime.now(UTC), "time"),
            "actor": actor,
            "action": action,
            "target": target,
            "reason": reason,
            "detail": None if detail is None else to_json(detail, "audit detail"),
        }
        statement = sa.insert(AUDIT).values(values)

        def work(conn: Connection) -> int:
            key = conn.execute(statement).inserted_primary_key
            assert key is not None
            return int(key[0])

        return self._database.write(work)

    def audit_log(
        self,
        limit: int = 100,
        since: datetime | None = None,
        actions: Sequence[str] | None = None,
    ) -> list[AuditEntry]:
        """Audit entries, newest first (``id`` grows with each entry written).

        Parameters
        ----------
        limit
            At most this many.
        since
            Only entries with ``time >= since``.
        actions
            Only entries with one of these actions (None: every action).
        """
        a = AUDIT
        query = sa.select(a).order_by(a.c.id.desc()).limit(limit)
        if since is not None:
            query = query.where(a.c.time >= to_microseconds(since, "since"))
        if actions is not None:
            query = query.where(a.c.action.in_(list(actions)))

        def work(conn: Connection) -> list[AuditEntry]:
            return [
                AuditEntry(
                    id=row.id,
                    time=from_microseconds(row.time),
                    actor=row.actor,
                    action=row.action,
                    target=row.target,
                    reason=row.reason,
                    detail=from_json(row.detail),
                )
                for row in conn.execute(query)
            ]

        return self._database.read(work)

    # -------------------------------------------------------------------------- parameters

    def record_parameters(
        self, time: datetime, values: Mapping[str, tuple[float, float | None] | float]
    ) -> int:
        """Store calibrated parameter values at one time (a second call at the same time and
        name replaces the value).

        Parameters
        ----------
        time
            Time of the calibration (timezone-aware).
        values
            Name → ``(value, std)`` or value alone [the parameter's unit].

        Returns
        -------
        int
            Values stored.
        """
        when = to_microseconds(time, "time")
        rows: list[dict[str, Any]] = []
        for name, item in values.items():
            value, std = item if isinstance(item, tuple) else (item, None)
            rows.append(
                {
                    "name": name,
                    "time": when,
                    "value": finite_number(value, f"parameter {name}"),
                    "std": None if std is None else finite_number(std, f"std of parameter {name}"),
                }
            )
        if not rows:
            return 0
        insert = dialect_insert(self._database.backend, PARAMETERS)
        statement = insert.on_conflict_do_update(
            index_elements=[PARAMETERS.c.name, PARAMETERS.c.time],
            set_={"value": insert.excluded.value, "std": insert.excluded.std},
        )
        self._database.write(lambda conn: conn.execute(statement, rows))
        return len(rows)

    def save_snapshot(self, name: str, data: Mapping[str, Any]) -> None:
        """Store a JSON snapshot under ``name`` (replacing the previous one), in the ``meta``
        table as ``snapshot/<name>`` (the live twin's calibrated state: what a restart
        resumes from)."""
        key = f"snapshot/{name}"
        text = json.dumps(dict(data), allow_nan=False)

        def work(conn: Connection) -> None:
            conn.execute(sa.delete(META).where(META.c.key == key))
            conn.execute(sa.insert(META).values(key=key, value=text))

        self._database.write(work)

    def snapshot(self, name: str) -> dict[str, Any] | None:
        """The snapshot stored under ``name`` (:meth:`save_snapshot`), or None."""
        key = f"snapshot/{name}"
        query = sa.select(META.c.value).where(META.c.key == key)
        text = self._database.read(lambda conn: conn.execute(query).scalar_one_or_none())
        if text is None:
            return None
        data = json.loads(text)
        return data if isinstance(data, dict) else None

    def parameter_history(
        self, name: str | None = None, since: datetime | None = None, limit: int | None = None
    ) -> list[ParameterValue]:
        """Stored parameter values in time order (then name).

        Parameters
        ----------
        name
            Only this parameter (default: all).
        since
            Only values with ``time >= since``.
        limit
            At most this many: the most recent ones (still returned oldest first).
        """
        p = PARAMETERS
        query = sa.select(p.c.name, p.c.time, p.c.value, p.c.std)
        if name is not None:
            query = query.where(p.c.name == name)
        if since is not None:
            query = query.where(p.c.time >= to_microseconds(since, "since"))
        if limit is not None:
            query = query.order_by(p.c.time.desc(), p.c.name.desc()).limit(limit)
        else:
            query = query.order_by(p.c.time, p.c.name)

        def work(conn: Connection) -> list[ParameterValue]:
            rows = list(conn.execute(query))
            if limit is not None:
                rows.reverse()
            return [
                ParameterValue(name=n, time=from_microseconds(t), value=value, std=std)
                for n, t, value, std in rows
            ]

        return self._database.read(work)

    # ------------------------------------------------------------------------------ alarms

    def raise_alarm(
        self,
        kind: str,
        source: str,
        message: str,
        *,
        time: datetime | None = None,
        severity: str = "warning",
        point: str | None = None,
        detail: Any = None,
    ) -> Alarm:
        """Raise an alarm, unless one of the same kind and source is still active.

        An active alarm of the same kind and source that is *less* severe is escalated: its
        severity, message and detail are replaced and its acknowledgement and shelving are
        lifted (a worse condition is news).  Otherwise the active alarm is left unchanged.

        Parameters
        ----------
        kind
            Kind, e.g. ``sensor_stuck``.
        source
            What raised it, e.g. a point id.
        message
            One sentence for the operator.
        time
            When (default: now).
        severity
            One of :data:`ALARM_SEVERITIES`.
        point
            The point whose trend shows the condition, if any.
        detail
            Extra JSON-compatible data (value, limit, unit, …).

        Returns
        -------
        Alarm
            The new alarm, or the active one of the same kind and source (escalated or
            unchanged).
        """
        _check_severity(severity)
        when = to_microseconds(time or datetime.now(UTC), "time")
        a = ALARMS
        text = None if detail is None else to_json(detail, "alarm detail")
        insert = dialect_insert(self._database.backend, a)
        statement = insert.values(
            raised=when,
            kind=kind,
            source=source,
            message=message,
            severity=severity,
            point=point,
            detail=text,
        ).on_conflict_do_nothing(
            index_elements=[a.c.kind, a.c.source], index_where=a.c.cleared.is_(None)
        )
        active = sa.select(a).where(a.c.kind == kind, a.c.source == source, a.c.cleared.is_(None))
        rank = ALARM_SEVERITIES.index(severity)

        def work(conn: Connection) -> Alarm:
            conn.execute(statement)
            alarm = _alarm_record(conn.execute(active).one())
            if ALARM_SEVERITIES.index(alarm["severity"]) < rank:
                conn.execute(
                    sa.update(a)
                    .where(a.c.id == alarm["id"])
                    .values(
                        severity=severity,
                        message=message,
                        detail=text,
                        acknowledged=None,
                        acknowledged_by=None,
                        shelved_until=None,
                        shelved_by=None,
                    )
                )
                alarm = _alarm_record(conn.execute(active).one())
            return alarm

        return self._database.write(work)

    def update_alarm(
        self,
        alarm_id: int,
        *,
        severity: str | None = None,
        message: str | None = None,
        detail: Any = None,
    ) -> Alarm:
        """Change an active alarm's severity (e.g. critical back to warning), message or detail.

        A cleared alarm is not changed.  ``NotFound`` for an unknown id.
        """
        values: dict[str, Any] = {}
        if severity is not None:
            _check_severity(severity)
            values["severity"] = severity
        if message is not None:
            values["message"] = message
        if detail is not None:
            values["detail"] = to_json(detail, "alarm detail")
        return self._alarm_change(alarm_id, values)

    def acknowledge_alarm(
        self, alarm_id: int, actor: str, *, time: datetime | None = None
    ) -> Alarm:
        """Acknowledge an alarm: the operator has seen it (the first acknowledgement stays).

        The caller writes the audit entry.  ``NotFound`` for an unknown id.
        """
        when = to_microseconds(time or datetime.now(UTC), "time")
        return self._alarm_change(
            alarm_id,
            {"acknowledged": when, "acknowledged_by": actor},
            ALARMS.c.acknowledged.is_(None),
        )

    def shelve_alarm(self, alarm_id: int, actor: str, until: datetime | None) -> Alarm:
        """Shelve an alarm until ``until`` (UTC), or unshelve it (``until`` None).

        A shelved alarm stays active and listed but is left out of the active count until
        then.  The caller writes the audit entry.  ``NotFound`` for an unknown id.
        """
        values: dict[str, Any] = {"shelved_until": None, "shelved_by": None}
        if until is not None:
            values = {"shelved_until": to_microseconds(until, "until"), "shelved_by": actor}
        return self._alarm_change(alarm_id, values)

    def get_alarm(self, alarm_id: int) -> Alarm | None:
        """The alarm with this id, or None."""
        query = sa.select(ALARMS).where(ALARMS.c.id == alarm_id)

        def work(conn: Connection) -> Alarm | None:
            row = conn.execute(query).one_or_none()
            return None if row is None else _alarm_record(row)

        return self._database.read(work)

    def _alarm_change(
        self, alarm_id: int, values: dict[str, Any], *conditions: sa.ColumnElement[bool]
    ) -> Alarm:
        """Apply ``values`` to an active alarm (where ``conditions`` hold); the alarm after."""
        a = ALARMS
        active = sa.and_(a.c.id == alarm_id, a.c.cleared.is_(None), *conditions)
        update = sa.update(a).where(active).values(values)

        def work(conn: Connection) -> Alarm:
            if values:
                conn.execute(update)
            row = conn.execute(sa.select(a).where(a.c.id == alarm_id)).one_or_none()
            if row is None:
                raise NotFound(f"no alarm {alarm_id}")
            return _alarm_record(row)

        return self._database.write(work)

    def clear_alarm(self, alarm_id: int, *, time: datetime | None = None) -> Alarm:
        """Clear an alarm (clearing a cleared alarm changes nothing).

        Raises
        ------
        NotFound
            No alarm with this id.
        """
        when = to_microseconds(time or datetime.now(UTC), "time")
        a = ALARMS
        update = sa.update(a).where(a.c.id == alarm_id, a.c.cleared.is_(None)).values(cleared=when)

        def work(conn: Connection) -> Alarm:
            conn.execute(update)
            row = conn.execute(sa.select(a).where(a.c.id == alarm_id)).one_or_none()
            if row is None:
                raise NotFound(f"no alarm {alarm_id}")
            return _alarm_record(row)

        return self._database.write(work)

    def alarms(
        self,
        active_only: bool = True,
        limit: int | None = None,
        *,
        since: datetime | None = None,
    ) -> list[Alarm]:
        """Alarms, newest first.

        Parameters
        ----------
        active_only
            Only alarms not cleared.
        limit
            At most this many.
        since
            Only alarms still active or cleared at or after this time (UTC).
        """
        a = ALARMS
        query = sa.select(a).order_by(a.c.raised.desc(), a.c.id.desc())
        if active_only:
            query = query.where(a.c.cleared.is_(None))
        if since is not None:
            when = to_microseconds(since, "since")
            query = query.where(sa.or_(a.c.cleared.is_(None), a.c.cleared >= when))
        if limit is not None:
            query = query.limit(limit)
        return self._database.read(lambda conn: [_alarm_record(row) for row in conn.execute(query)])


def _check_severity(severity: str) -> None:
    """Raise ``ValueError`` for a severity not in :data:`ALARM_SEVERITIES`."""
    if severity not in ALARM_SEVERITIES:
        raise ValueError(
            f"unknown alarm severity {severity!r} (known: {', '.join(ALARM_SEVERITIES)})"
        )


def _check_status(status: str) -> None:
    """Raise ``ValueError`` for a status not in :data:`PLAN_STATUSES`."""
    if status not in PLAN_STATUSES:
        raise ValueError(f"unknown plan status {status!r} (known: {', '.join(PLAN_STATUSES)})")


def _optional_plan(row: sa.Row[Any] | None) -> PlanRecord | None:
    """The plan of a ``plans`` row, or None when there is no row."""
    return None if row is None else _plan_record(row)


def _plan_record(row: sa.Row[Any]) -> PlanRecord:
    """The plan of a ``plans`` row."""
    return PlanRecord(
        id=row.id,
        created=from_microseconds(row.created),
        status=row.status,
        payload=json.loads(row.payload),
        decided_by=row.decided_by,
        decided_at=optional_from_microseconds(row.decided_at),
        reason=row.reason,
    )


def _alarm_record(row: sa.Row[Any]) -> Alarm:
    """The alarm of an ``alarms`` row."""
    return Alarm(
        id=row.id,
        raised=from_microseconds(row.raised),
        cleared=optional_from_microseconds(row.cleared),
        kind=row.kind,
        source=row.source,
        message=row.message,
        severity=row.severity,
        point=row.point,
        acknowledged=optional_from_microseconds(row.acknowledged),
        acknowledged_by=row.acknowledged_by,
        shelved_until=optional_from_microseconds(row.shelved_until),
        shelved_by=row.shelved_by,
        detail=from_json(row.detail),
    )
