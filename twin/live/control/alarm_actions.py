"""What an operator does to an alarm: acknowledge, shelve, unshelve — each with its audit entry.

One implementation for every caller: the API routes (:mod:`twin.api.alarms_audit`) and the web
UI's Alarms page call these functions with the principal that acts (``token:<fingerprint>`` or
``user:<name>``), which becomes the actor of the audit entry.  Checking that the principal has
the ``approve`` scope is the caller's job (the API's dependency, the UI's session).

Unknown alarm ids raise :class:`twin.store.errors.NotFound`; acting on a cleared alarm (which
changes nothing) raises :class:`twin.store.errors.Conflict`, with no audit entry.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import TYPE_CHECKING, Any

from twin.store.errors import Conflict
from twin.store.records import Alarm

if TYPE_CHECKING:
    from twin.live.live_twin import LiveTwin

__all__ = [
    "MAX_SHELVE_HOURS",
    "SHELVE_CHOICES",
    "acknowledge",
    "shelve",
    "unshelve",
]

MAX_SHELVE_HOURS = 24.0 * 7
"""Longest shelving [h]."""

SHELVE_CHOICES: tuple[tuple[str, float], ...] = (
    ("1 h", 1.0),
    ("4 h", 4.0),
    ("8 h", 8.0),
    ("24 h", 24.0),
    ("3 days", 72.0),
    ("7 days", MAX_SHELVE_HOURS),
)
"""Shelving durations offered in the UI: label and length [h]."""


def _summary(alarm: Alarm) -> dict[str, Any]:
    return {"kind": alarm["kind"], "source": alarm["source"], "severity": alarm["severity"]}


def acknowledge(twin: LiveTwin, alarm_id: int, actor: str, reason: str = "") -> Alarm:
    """Acknowledge an alarm (the first acknowledgement stays) and audit it.

    Parameters
    ----------
    twin
        The live twin (its store and clock).
    alarm_id
        Alarm id.
    actor
        Principal acting, e.g. ``user:alice`` or ``token:1a2b3c4d``.
    reason
        Free text for the audit log.

    Returns
    -------
    Alarm
        The alarm after the change.
    """
    done = twin.store.acknowledge_alarm(alarm_id, actor, time=twin.clock())
    if done["acknowledged"] is None:  # cleared before anyone acknowledged it: nothing done
        raise Conflict(f"alarm {alarm_id} is cleared: nothing to acknowledge")
    twin.store.audit(actor, "acknowledge_alarm", str(alarm_id), reason, _summary(done))
    return done


def shelve(twin: LiveTwin, alarm_id: int, actor: str, hours: float, reason: str = "") -> Alarm:
    """Shelve an alarm for ``hours`` [h] from now (0 unshelves) and audit it.

    A shelved alarm stays listed but leaves the active count until then.

    Parameters
    ----------
    twin
        The live twin.
    alarm_id
        Alarm id.
    actor
        Principal acting.
    hours
        How long [h], 0 to :data:`MAX_SHELVE_HOURS`; 0 unshelves (``ValueError`` outside).
    reason
        Free text for the audit log.
    """
    if not 0.0 <= hours <= MAX_SHELVE_HOURS:
        raise ValueError(f"shelve for 0 to {MAX_SHELVE_HOURS:g} h, not {hours:g} h")
    until = None
    if hours > 0:
        until = twin.clock().astimezone(UTC) + timedelta(hours=hours)
    done = twin.store.shelve_alarm(alarm_id, actor, until)
    if done["cleared"] is not None:  # only an active alarm is shelved: nothing done
        raise Conflict(f"alarm {alarm_id} is cleared: nothing to shelve or unshelve")
    action = "shelve_alarm" if until is not None else "unshelve_alarm"
    detail = {**_summary(done), "until": until.isoformat() if until else None}
    twin.store.audit(actor, action, str(alarm_id), reason, detail)
    return done


def unshelve(twin: LiveTwin, alarm_id: int, actor: str, reason: str = "") -> Alarm:
    """Unshelve an alarm (it counts as active again) and audit it."""
    return shelve(twin, alarm_id, actor, 0.0, reason)
