"""The calibrated state kept in the store, so that a restart resumes from it.

Tester tryout3 finding 2 (7 Dec): a restart mid-watch reset the calibration to its prior
(``plant/power`` 101.6 kW off the model again).  The live twin now writes the calibrator's
state (:meth:`twin.live.calibration.Calibrator.state_dict`: factors, per-rack offsets, their
variances, sample and clip counts, the time of the last update) to the store's ``meta`` table
(:meth:`twin.store.store.Store.save_snapshot`, ``snapshot/calibration``) at most once a
minute of readings (:data:`SAVE_EVERY_S`) and when it stops, and :func:`restore_calibration`
(run once by :meth:`twin.live.live_twin.LiveTwin.start`, like the plans' restore) resumes
from it when it was made on the same scenario (its ``scenario_digest``; a scenario replaced
over the API is not served again after a restart, as for plans).  The forgetting then counts
from the saved time, so the uncertainty grows over the time the twin was down.  Audited as
``restore_calibration`` (restored or skipped, with the reason).

The hall's hottest estimated inlet per minute (the Overview's trend,
:meth:`twin.live.estimation.EstimateHistory.hottest`) is saved with it (snapshot
``estimate_hottest``, the last day) and resumed with it (:func:`restore_trend`): before, the
trend was empty after every restart.  The other estimates are not kept: a restart estimates
them again from the readings.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from twin.store.errors import StoreError

if TYPE_CHECKING:
    from twin.live.live_twin import LiveTwin

__all__ = [
    "CALIBRATION",
    "HOTTEST",
    "SAVE_EVERY_S",
    "restore_calibration",
    "restore_trend",
    "save_calibration",
]

log = logging.getLogger(__name__)

CALIBRATION = "calibration"
"""Name of the calibrated state's snapshot in the store."""

HOTTEST = "estimate_hottest"
"""Name of the snapshot of the hall's hottest estimated inlet per minute."""

SAVE_EVERY_S = 60.0
"""Least time between two saves of the calibrated state, on the readings' clock [s]."""


def save_calibration(twin: LiveTwin, moment: datetime, *, force: bool = False) -> bool:
    """Write the calibrated state at ``moment`` (timezone-aware) unless the last write is
    less than :data:`SAVE_EVERY_S` old (``force``: always); True when written.  A store error
    is logged, not raised (the next cycle tries again)."""
    last = twin.calibration_saved
    if not force and last is not None and (moment - last).total_seconds() < SAVE_EVERY_S:
        return False
    data: dict[str, Any] = {
        "scenario_digest": twin.scenario_digest,
        "saved": moment.isoformat(),
        **twin.calibrator.state_dict(),
    }
    with twin.lock:  # the estimator is replaced under it; its history has a lock of its own
        history = twin.estimator.history
    trend = history.hottest_saved()  # ~1,440 samples × racks read: outside the twin's lock
    hottest = {"scenario_digest": twin.scenario_digest, "saved": moment.isoformat(), **trend}
    try:
        twin.store.save_snapshot(CALIBRATION, data)
        twin.store.save_snapshot(HOTTEST, hottest)
    except (StoreError, ValueError):
        log.exception("the calibrated state could not be saved")
        return False
    twin.calibration_saved = moment
    return True


def restore_trend(twin: LiveTwin) -> int:
    """Resume the hall's hottest estimated inlet per minute a stopped twin saved, when it was
    made on the same scenario; returns the samples resumed (0: none, or not readable: logged).
    """
    data = twin.store.snapshot(HOTTEST)
    if data is None or data.get("scenario_digest") != twin.scenario_digest:
        return 0
    with twin.lock:
        history = twin.estimator.history
    try:
        return history.restore_hottest(data)
    except (KeyError, TypeError, ValueError):
        log.exception("the saved hottest-inlet trend could not be read")
        return 0


def restore_calibration(twin: LiveTwin) -> bool:
    """Resume the calibration from the store (module docstring); True when restored."""
    data = twin.store.snapshot(CALIBRATION)
    if data is None:
        return False
    if data.get("scenario_digest") != twin.scenario_digest:
        why = "made on another scenario"
    else:
        try:
            racks = twin.calibrator.load_state(data)
        except (KeyError, TypeError, ValueError) as exc:
            why = f"not readable: {exc}"
        else:
            twin.publish_view()
            status = twin.calibrator.status()
            factors = {
                name: {"value": status[name]["value"], "samples": status[name]["samples"]}
                for name in ("crah_fan_factor", "plant_power_factor", "busbar_resistance_factor")
            }
            twin.store.audit(
                "system",
                "restore_calibration",
                CALIBRATION,
                f"calibration of {data.get('saved')} resumed ({racks} racks' offsets)",
                {"saved": data.get("saved"), "racks": racks, "factors": factors},
            )
            return True
    twin.store.audit(
        "system",
        "restore_calibration",
        CALIBRATION,
        f"calibration of {data.get('saved')} not resumed: {why}",
        {"saved": data.get("saved"), "skipped": why},
    )
    return False
