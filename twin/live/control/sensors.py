"""Readmitting an excluded sensor: what an operator does after replacing or recalibrating it.

The screening (:class:`twin.live.faults.FaultDetector`) readmits a stuck or drifting sensor by
itself only when it comes back within a few σ of its old residual (σ as at detection; the drift
floor at least: 0.5 K for a temperature).  A sensor that comes back *right but different* —
replaced, moved, recalibrated, 0.8 K off its old bias — stays excluded for good (the lead's
note of 7 Dec), and before this nothing but a restart could put it back (the detector's state
is not persisted).  :func:`readmit` is that explicit decision
(:meth:`twin.live.faults.FaultDetector.readmit`): the point's residual baseline warms up again
from its next reading (the new bias is learned, not judged against the old one) while its run
history stays (a sensor still frozen is flagged again), the point's active ``sensor_*`` alarms
are cleared, and the decision is audited with the principal and the reason.

The caller checks the principal's scope (``approve``: the API's dependency, the UI's session).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twin.store.errors import Conflict, NotFound

if TYPE_CHECKING:
    from twin.live.live_twin import LiveTwin

__all__ = ["excluded_sensors", "readmit"]


def excluded_sensors(twin: LiveTwin) -> list[dict[str, Any]]:
    """The sensors the screening keeps out now (active ``stuck`` or ``drift`` faults; a
    ``silent`` one clears with its next reading and is listed with ``excluded`` false).

    Returns
    -------
    list of dict
        Per point, sorted: ``point``, ``kind``, ``since`` and ``detected`` (ISO 8601 UTC),
        ``reason`` (one sentence with the figures) and ``excluded`` (its readings are kept
        out of the estimate and the calibration).
    """
    with twin.lock:
        faults = twin.faults.active_faults()
        return [
            {
                "point": fault.point,
                "kind": str(fault.kind),
                "since": fault.since.isoformat(),
                "detected": fault.detected.isoformat(),
                "reason": fault.reason,
                "excluded": twin.faults.is_faulty(fault.point),
            }
            for fault in faults
        ]


def readmit(twin: LiveTwin, point: str, actor: str, reason: str) -> dict[str, Any]:
    """Readmit an excluded sensor: its screening history is forgotten, its active
    ``sensor_*`` alarms cleared, the decision audited (``readmit_sensor``).

    Parameters
    ----------
    twin
        The live twin.
    point
        Point id, e.g. ``rack/A01/inlet_temperature``.
    actor
        Principal acting (``token:<fingerprint>`` or ``user:<name>``).
    reason
        Why (required: e.g. "sensor replaced").

    Returns
    -------
    dict
        ``point``, ``fault`` (the kind it had), ``since`` (ISO 8601 UTC) and
        ``alarms_cleared`` (alarm ids).

    Raises
    ------
    NotFound
        Unknown point.
    Conflict
        The point is not excluded now (nothing to readmit).
    ValueError
        An empty reason.
    """
    if point not in twin.catalogue:
        raise NotFound(f"unknown point {point!r}")
    if not reason.strip():
        raise ValueError("readmitting a sensor needs a reason (e.g. replaced, recalibrated)")
    with twin.lock:  # not in the middle of a screening cycle
        fault = next((f for f in twin.faults.active_faults() if f.point == point), None)
        if fault is None or not twin.faults.is_faulty(point):
            raise Conflict(f"sensor {point} is not excluded now: nothing to readmit")
        twin.faults.readmit(point)
        # a fault found by a cycle whose alarms are not written yet must not be alarmed now
        twin.supervisor.readmitted.add(point)
        now = twin.clock()
        cleared = [
            twin.store.clear_alarm(alarm["id"], time=now)["id"]
            for alarm in twin.store.alarms(active_only=True)
            if alarm["source"] == point and alarm["kind"].startswith("sensor_")
        ]
    detail = {"fault": str(fault.kind), "since": fault.since.isoformat(), "alarms_cleared": cleared}
    twin.store.audit(actor, "readmit_sensor", point, reason, detail)
    return {"point": point, **detail}
