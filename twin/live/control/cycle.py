"""The processing cycle of the live twin: committed batches screened, estimated, alarmed.

The API commits each batch and queues it (:meth:`twin.live.live_twin.LiveTwin.ingest`); one
worker thread takes the batch it waits for **and every batch queued behind it**
(:func:`take_waiting`) and runs one cycle over them (:func:`run_cycle`):

1. **Screening, per batch in arrival order** (:meth:`twin.live.faults.FaultDetector.check` at
   the batch's newest reading time): the detector's state moves reading by reading, so its
   decisions and the times of the faults it reports are those of batch-by-batch processing.
2. **One estimation and calibration pass** over the readings every batch kept, at the newest
   time of the cycle: the state estimator, the calibrator, the calibrated model and the
   prediction are updated and simulated once, however many batches waited.
3. **Alarms per batch** (:meth:`twin.live.control.supervisor.Supervisor.after_batch`), in
   order, at each batch's own time with its own kept readings, faults and readmissions: limit
   alarms still measure their durations and hysteresis from the readings' times.  (The
   estimate and model they fall back on for unmeasured limits are the cycle's, as of its
   newest time.)

Under load the queue grows while a cycle runs, so the next cycle takes several batches and
the fixed cost per cycle (estimation, prediction, calibration history, the alarm bookkeeping)
is paid once for all of them: processing keeps up with ingestion instead of falling behind.
Cycles also begin at most every :attr:`~twin.live.settings.LiveSettings.min_cycle_s`
(50 ms by default): evenly spaced batches, each of which would otherwise arrive to an idle
worker and pay a whole cycle of its own, are gathered the same way (``benchmarks/ingest.py
--rate``: 12.8–16.3 ms of service CPU per 1,000 readings paced against 9.8–10.6 back to back
before this).  A batch after a quiet spell is processed at once.

What ``GET /state`` reads (the estimate, the calibrated parameters, the screening counts) is
published under :attr:`LiveTwin.view_lock`, a lock held only while the estimator's update runs
and the results are swapped in, never for a whole cycle: a request does not wait for the
screening of a queue of batches.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from operator import attrgetter
from typing import TYPE_CHECKING

from twin.live.control.persist import save_calibration
from twin.live.faults.kinds import SensorFault
from twin.scenario.points import Reading

if TYPE_CHECKING:
    from twin.live.live_twin import LiveTwin

__all__ = ["ScreenedBatch", "processing_loop", "run_cycle", "take_waiting"]

log = logging.getLogger(__name__)

Batch = list[Reading]

_TIME = attrgetter("time")


@dataclass(frozen=True)
class ScreenedBatch:
    """One batch after screening.

    Attributes
    ----------
    moment
        Newest reading time of the batch (UTC): the time its alarms are judged at.
    kept
        Readings that passed screening (canonical units).
    faults
        Faults the screening of this batch reported.
    recovered
        Points it readmitted.
    predicted
        The calibrated model's prediction of every point at ``moment`` used to screen it
        (canonical units), also what the plan watch compares the batch with.
    readings
        Every reading of the batch, screened or not (the limit alarms judge the excluded
        ones too).
    """

    moment: datetime
    kept: list[Reading]
    faults: list[SensorFault]
    recovered: list[str]
    predicted: dict[str, float]
    readings: list[Reading] = field(default_factory=list)


def take_waiting(waiting: queue.Queue[Batch | None], first: Batch) -> tuple[list[Batch], bool]:
    """``first`` and every batch queued behind it now, without waiting.

    Returns
    -------
    tuple
        The batches in arrival order, and True when the stop marker (``None``) was met (it is
        consumed: the caller stops after this cycle).
    """
    batches = [first]
    while True:
        try:
            batch = waiting.get_nowait()
        except queue.Empty:
            return batches, False
        if batch is None:
            return batches, True
        batches.append(batch)


def run_cycle(twin: LiveTwin, batches: Sequence[Sequence[Reading]]) -> int:
    """Screen each batch, estimate and calibrate once, judge alarms per batch.

    Parameters
    ----------
    twin
        The live twin.
    batches
        Committed batches in arrival order (empty ones are skipped).

    Returns
    -------
    int
        Readings processed [count]; 0 (and no cycle counted) when every batch was empty.
    """
    work = [list(b) for b in batches if b]
    if not work:
        return 0
    screened: list[ScreenedBatch] = []
    with twin.lock:
        for batch in work:
            moment = max(map(_TIME, batch))  # iterated in C: every reading
            expected = twin.predicted(moment)
            kept, faults = twin.faults.check(moment, batch, expected)
            recovered = list(twin.faults.recovered)
            screened.append(ScreenedBatch(moment, kept, faults, recovered, expected, batch))
        moment = max(s.moment for s in screened)
        _discount(twin, screened)
        predicted = twin.predicted(moment)
        kept = list(chain.from_iterable(s.kept for s in screened))
        offsets = twin.parameters.offsets(twin.facility)
        with twin.view_lock:
            twin.estimator.update(moment, kept, predicted, offsets)
            estimate = twin.estimator.state(moment)
        twin.calibrator.update(moment, kept, predicted)
        history = twin.calibrator.drain_history()
        model = twin.model_at(moment)
        count = sum(len(b) for b in work)
        twin.publish_view(processed=count)
    for done in screened:
        twin.supervisor.after_batch(
            done.moment,
            done.kept,
            done.faults,
            done.recovered,
            estimate,
            model,
            done.predicted,
            done.readings,
        )
    # at most once a minute: a restart resumes from it; at once when a sensor is newly held
    # faulty, so that its calibrated offset after the restart is the one its screening's
    # baseline (kept in its alarm) was judged with
    held = any(f.kind in ("stuck", "drift") for done in screened for f in done.faults)
    save_calibration(twin, moment, force=held)
    if history:
        by_time: dict[datetime, dict[str, tuple[float, float]]] = {}
        for entry in history:
            by_time.setdefault(entry.time, {})[entry.name] = (entry.value, entry.std)
        for when, values in by_time.items():
            twin.store.record_parameters(when, values)
    return count


def _discount(twin: LiveTwin, screened: Sequence[ScreenedBatch]) -> None:
    """A sensor found stuck or drifting in this cycle had its readings used before the
    detection: the calibration and the estimate take back what they learned from them since
    the fault began (:meth:`twin.live.calibration.Calibrator.discount`,
    :meth:`twin.live.state_estimator.StateEstimator.discount`), so the offset does not keep a
    recovered sensor out (alarms6, 7 Dec: +1.77 K learned from a stuck inlet)."""
    for done in screened:
        for fault in done.faults:
            if fault.kind in ("stuck", "drift"):
                twin.calibrator.discount(fault.point, fault.since)
                with twin.view_lock:
                    twin.estimator.discount(fault.point, fault.since)


def processing_loop(
    twin: LiveTwin, waiting: queue.Queue[Batch | None], stop: threading.Event
) -> None:
    """The worker thread's loop until ``stop`` is set or the stop marker is queued: a cycle
    over every waiting batch, the staleness check every 10 s, retention every hour and one
    slice of the store's staging merge per turn while one is pending.  Failures are logged,
    never raised (the twin keeps running)."""
    last_check = 0.0
    last_retention = -math.inf
    last_cycle = -math.inf
    while not stop.is_set():
        if time.monotonic() - last_check > 10.0:
            last_check = time.monotonic()
            try:
                twin.check_staleness()
            except Exception:
                log.exception("staleness check failed")
        if time.monotonic() - last_retention > 3600.0:
            last_retention = time.monotonic()
            try:
                removed = twin.apply_retention()
                if removed:
                    log.info("retention: %d raw readings rolled up and removed", removed)
            except Exception:
                log.exception("applying retention failed")
        merging = twin.store.merge_pending
        if merging:  # one slice per turn: an insert never waits for a whole merge
            try:
                twin.store.merge_step()
            except Exception:
                log.exception("merging the staging buffer failed")
        try:
            batch = waiting.get(timeout=0.01 if merging else 0.5)
        except queue.Empty:
            continue
        if batch is None:
            return
        # gather what arrives until min_cycle_s after the last cycle began (at once after a
        # quiet spell); a stop set meanwhile ends the wait
        stop.wait(last_cycle + twin.settings.min_cycle_s - time.monotonic())
        last_cycle = time.monotonic()
        batches, stopping = take_waiting(waiting, batch)
        try:
            run_cycle(twin, batches)
        except Exception:  # keep the twin running; the failure is logged
            log.exception("processing %d batches failed", len(batches))
        if stopping:
            return
