"""Approving a plan while a critical alarm is active on what it moves.

An approver at night must see that the hall is already in trouble where the plan acts
(tester tryout3 finding 6, 7 Dec: a plan was approved while a critical limit alarm was active
on rack A02, which the plan moves, and neither the preview nor the approval said so).

:func:`plan_alarms` lists the active **critical** alarms on the points a plan moves
(:func:`twin.live.control.watch.moved_points`) and on every other point of the racks those
points belong to (the hall's alarms: limits and sensors, not the ``plan_…`` alarms of a
revert) (an inlet alarm on a rack whose jobs the plan moves concerns it too).  The
preview carries them (``critical_alarms``) and :func:`check_alarms` makes approval refuse by
default while one of them is active and not shelved: the approver overrides it explicitly
(``force`` with a reason, audited with the alarms overridden).  A revert to the as-operated
fallback is never refused (it is the answer to such alarms); nor is a shelved alarm (an
operator already took it in hand), which is listed all the same.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from physics.facility import Facility
from twin.live.control.watch import moved_points
from twin.scenario.points import PointCatalogue
from twin.store.errors import Conflict
from twin.store.records import Alarm

__all__ = [
    "alarm_rack",
    "check_alarms",
    "concerns",
    "describe",
    "plan_alarms",
    "plan_racks",
    "sentence",
]


def alarm_rack(point: str | None) -> str | None:
    """The rack of a ``rack/<id>/…`` point, else None."""
    if point and point.startswith("rack/"):
        parts = point.split("/")
        if len(parts) >= 3:
            return parts[1]
    return None


def plan_racks(points: Sequence[str]) -> set[str]:
    """The racks of the ``rack/<id>/…`` points among ``points``."""
    return {rack for rack in (alarm_rack(p) for p in points) if rack is not None}


def concerns(points: Sequence[str], alarm: Mapping[str, Any]) -> bool:
    """Whether ``alarm`` is on one of ``points`` or on a rack one of them belongs to."""
    point = alarm.get("point") or alarm.get("source")
    if point in points:
        return True
    rack = alarm_rack(point)
    return rack is not None and rack in plan_racks(points)


def plan_alarms(
    preview: Mapping[str, Any],
    facility: Facility,
    catalogue: PointCatalogue,
    active: Sequence[Alarm],
) -> list[dict[str, Any]]:
    """The active critical alarms on what a plan moves, JSON-ready.

    Parameters
    ----------
    preview
        The plan's preview (:func:`twin.live.control.preview.plan_preview`).
    facility, catalogue
        The twin's facility and points.
    active
        The active alarms (:meth:`twin.store.store.Store.alarms`).

    Returns
    -------
    list of dict
        Per alarm: ``id``, ``kind``, ``source``, ``point``, ``rack`` (None off racks),
        ``message``, ``raised`` (ISO UTC) and ``shelved`` (shelved now: not a reason to
        refuse).
    """
    points = moved_points(preview, facility, catalogue)
    out: list[dict[str, Any]] = []
    for alarm in active:
        if alarm["severity"] != "critical" or alarm["cleared"] is not None:
            continue
        if alarm["kind"].startswith("plan_"):  # about a plan (a revert), not the hall
            continue
        if not concerns(points, alarm):
            continue
        out.append(
            {
                "id": alarm["id"],
                "kind": alarm["kind"],
                "source": alarm["source"],
                "point": alarm["point"],
                "rack": alarm_rack(alarm["point"] or alarm["source"]),
                "message": alarm["message"],
                "raised": alarm["raised"].isoformat(),
                "shelved": alarm["shelved_until"] is not None,
            }
        )
    return out


def describe(alarms: Sequence[Mapping[str, Any]]) -> str:
    """One phrase naming each alarm and its rack (or point)."""
    parts = []
    for alarm in alarms:
        where = f"rack {alarm['rack']}" if alarm["rack"] else str(alarm["point"] or alarm["source"])
        parts.append(f"#{alarm['id']} {alarm['kind']} on {where} ({alarm['message']})")
    return "; ".join(parts)


def sentence(alarms: Sequence[Mapping[str, Any]]) -> str:
    """The preview's first line when critical alarms are active on what a plan moves."""
    shelved = [a for a in alarms if a["shelved"]]
    needs = (
        "approving it needs an explicit override (force, with a reason)"
        if len(shelved) < len(alarms)
        else "all shelved"
    )
    return f"Active critical alarm(s) on what this plan moves: {describe(alarms)}; {needs}"


def check_alarms(
    plan_id: str,
    payload: Mapping[str, Any],
    alarms: Sequence[Mapping[str, Any]],
    *,
    force: bool,
    reason: str,
    seen: Collection[int] | None = None,
) -> list[dict[str, Any]]:
    """Refuse to approve a plan while a critical alarm is active on what it moves, unless
    overridden; returns the alarms overridden (to audit).

    Parameters
    ----------
    plan_id
        The plan.
    payload
        Its payload (a revert or fallback is never refused).
    alarms
        :func:`plan_alarms` of the plan now.
    force
        The approver overrides the alarms (needs a ``reason``).
    reason
        The approver's reason.
    seen
        Ids of the alarms the approver was shown when deciding to override; a blocking alarm
        not among them (raised since) is not overridden.  None: every blocking alarm is.

    Raises
    ------
    Conflict
        An unshelved alarm and no ``force``, ``force`` without a reason, or a blocking alarm
        the approver was not shown (409 over the API).
    """
    if payload.get("revert_of") or payload.get("fallback"):
        return []
    blocking = [dict(a) for a in alarms if not a["shelved"]]
    if not blocking:
        return []
    if not force:
        raise Conflict(
            f"plan {plan_id} moves what {len(blocking)} active critical alarm(s) are on: "
            f"{describe(blocking)}. Approve with force and a reason to override"
        )
    if not reason.strip():
        raise Conflict(
            f"plan {plan_id}: overriding the critical alarm(s) {describe(blocking)} needs a reason"
        )
    unseen = [a for a in blocking if seen is not None and a.get("id") not in seen]
    if unseen:
        raise Conflict(
            f"plan {plan_id}: {len(unseen)} critical alarm(s) not among those the approver "
            f"was shown (raised since, or not listed), not overridden: {describe(unseen)}. "
            "Review them and approve again"
        )
    return blocking
