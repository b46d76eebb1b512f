"""Read model of the Alarms page: alarms in site time with their state, and the screening
counts per point.

An alarm's *state* is ``active`` (raised, not acknowledged), ``acknowledged``, ``shelved``
(acknowledged or not, left out of the active count until ``shelved_until``) or ``cleared``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from twin.live.live_twin import LiveTwin
from twin.store.records import Alarm

ALARM_LIMIT = 500
"""Most alarms listed on the page [-]."""


def alarm_state(alarm: Alarm, now: datetime) -> str:
    """``cleared``, ``shelved``, ``acknowledged`` or ``active`` at ``now``."""
    if alarm["cleared"] is not None:
        return "cleared"
    shelved = alarm["shelved_until"]
    if shelved is not None and shelved > now:
        return "shelved"
    return "acknowledged" if alarm["acknowledged"] is not None else "active"


def trend_link(point: str | None) -> str | None:
    """The Live page showing ``point``'s trend (None without a point)."""
    return None if not point else "/live?point=" + quote(point, safe="")


def _local(moment: datetime | None, timezone: ZoneInfo) -> str | None:
    return None if moment is None else moment.astimezone(timezone).strftime("%Y-%m-%d %H:%M:%S")


def alarm_rows(twin: LiveTwin, timezone: ZoneInfo, *, cleared: bool = True) -> list[dict[str, Any]]:
    """Alarms, active ones first (critical first), then the cleared ones, newest first.

    Parameters
    ----------
    twin
        The live twin.
    timezone
        Site timezone (times are shown in it).
    cleared
        Include cleared alarms.

    Returns
    -------
    list of dict
        ``id``, ``state``, ``severity``, ``kind``, ``source``, ``message``, ``raised``,
        ``cleared``, ``acknowledged`` (site time, ``YYYY-MM-DD HH:MM:SS``), ``acknowledged_by``,
        ``shelved_until`` (site time), ``point`` and ``trend`` (link to the Live page).
    """
    now = twin.clock()
    alarms = twin.store.alarms(active_only=not cleared, limit=ALARM_LIMIT)
    rows = [
        {
            "id": a["id"],
            "state": alarm_state(a, now),
            "severity": a["severity"],
            "kind": a["kind"],
            "source": a["source"],
            "message": a["message"],
            "raised": _local(a["raised"], timezone),
            "cleared": _local(a["cleared"], timezone),
            "acknowledged": _local(a["acknowledged"], timezone),
            "acknowledged_by": a["acknowledged_by"],
            "shelved_until": _local(a["shelved_until"], timezone),
            "point": a["point"],
            "trend": trend_link(a["point"]),
        }
        for a in alarms
    ]
    order = {"active": 0, "acknowledged": 1, "shelved": 2, "cleared": 3}
    rows.sort(key=lambda r: (order[str(r["state"])], r["severity"] != "critical"))
    return rows


def alarmed_racks(twin: LiveTwin) -> dict[str, str]:
    """Racks with an active, unshelved alarm on one of their points: rack → worst severity."""
    now = twin.clock()
    racks: dict[str, str] = {}
    for alarm in twin.store.alarms(active_only=True, limit=ALARM_LIMIT):
        if alarm_state(alarm, now) == "shelved":
            continue
        parts = (alarm["point"] or alarm["source"]).split("/")
        if len(parts) >= 2 and parts[0] == "rack":
            worst = racks.get(parts[1])
            racks[parts[1]] = "critical" if "critical" in (worst, alarm["severity"]) else "warning"
    return racks


def sensor_faults(twin: LiveTwin) -> dict[str, str]:
    """Points whose sensor is faulty now: point → kind (``stuck``, ``drift``, ``silent``,
    ``spike``).

    The one definition the Floor (purple cross) and the Alarms page ("Readings kept out")
    share: an active stuck, drift or silent fault of the screening, or an active (not cleared)
    ``sensor_<kind>`` alarm on the point — a spike's alarm stays active for
    :data:`twin.live.control.supervisor.SPIKE_CLEAR_S` after the last spike.
    """
    with twin.lock:
        faults = {f.point: str(f.kind) for f in twin.faults.active_faults()}
    for alarm in twin.store.alarms(active_only=True, limit=ALARM_LIMIT):
        point = alarm["point"] or alarm["source"]
        if alarm["kind"].startswith("sensor_") and point in twin.catalogue:
            faults.setdefault(point, alarm["kind"].removeprefix("sensor_"))
    return faults


def screening_rows(twin: LiveTwin) -> list[dict[str, Any]]:
    """Readings kept out per point (:meth:`twin.live.live_twin.LiveTwin.screening`), the
    points with most first: ``point``, ``rejected``, ``spike``, ``faulty``, ``late``
    [count], ``faulty_now`` (:func:`sensor_faults`: the same as the Floor's marker),
    ``fault`` (its kind or None) and ``trend``.  A point with a faulty sensor and nothing
    kept out yet (silent) is listed too."""
    faulty = sensor_faults(twin)
    screened = twin.screening()
    for point in faulty:
        screened.setdefault(point, {})
    rows = [
        {
            "point": point,
            "rejected": counts.get("rejected", 0),
            "spike": counts.get("spike", 0),
            "faulty": counts.get("faulty", 0),
            "late": counts.get("late", 0),
            "faulty_now": point in faulty or bool(counts.get("faulty_now")),
            "fault": faulty.get(point),
            "trend": trend_link(point) if point in twin.catalogue else None,
        }
        for point, counts in screened.items()
    ]
    rows.sort(
        key=lambda r: (not r["faulty_now"], -(r["rejected"] + r["spike"] + r["faulty"] + r["late"]))
    )
    return rows


__all__ = [
    "ALARM_LIMIT",
    "alarm_rows",
    "alarm_state",
    "alarmed_racks",
    "screening_rows",
    "sensor_faults",
]
