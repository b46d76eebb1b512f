"""Sensor-fault detection: readings screened against the model and each point's own history.

:class:`FaultDetector` looks at every accepted reading's *residual* ``r = reading − prediction``
(the prediction of the calibrated model, :meth:`twin.scenario.points.PointCatalogue.predict`) and at
the point's recent history, and keeps or excludes the reading.  Four kinds of fault:

``spike``
    One residual far from the point's recent residuals: ``|e − median(E)| > k_spike·σ`` with
    ``E`` the last ``window`` accepted residuals and ``σ = max(1.4826·median|Δe| / √2, noise
    floor)`` over the last ``noise_window`` accepted ones (a MAD of first differences,
    insensitive to slow trends and to the spikes themselves).  Only that reading is excluded.
    ``spike_run`` such readings in a row are an offset, reported as ``drift``.  A value equal to
    the previous one that is that far from a moving model is excluded too, but left to the stuck
    test rather than reported as a spike.
``drift``
    The mean of the last ``window`` residuals is beyond ``max(k_drift·σ, drift floor)`` and the
    newer half is at least as far out as the older half (growing, not receding).  ``since`` is
    the change point of a two-sided CUSUM (allowance ``1·σ``) on ``e/σ``.
``stuck``
    The value has not changed over ``stuck_readings`` readings while the model moved by at least
    the change floor, or over ``stuck_readings_long`` readings and ``stuck_window`` seconds for a
    point that jittered before (a live sensor's value changes at most readings: the share of
    changed readings, averaged over ``window`` readings, was at least one half when the run of
    equal values began) and whose value differs from the model's (an exact meter agreeing with a
    steady model, a stopped job at 0 kW, is not flagged).
``silent``
    No reading for longer than ``max(silent_after, silent_intervals × the point's usual
    interval)`` after it had reported.

Residuals are taken relative to the point's own baseline and its peers::

    e = r − b − c

``b`` is the point's usual residual (the model's standing bias at that sensor: the median of its
first ``window`` residuals, then an exponential average with time constant ``baseline_time``), and
``c`` the median of ``r − b`` over the same check's healthy peers (rack points of the same kind,
and of the same row when the facility is given; other equipment has no peers, ``c = 0``), so
that a change that moves a whole row — a cooling unit tripping, the model lagging the load — is
not blamed on each of its sensors.  A point is only judged after ``window`` readings (warm-up).

Recovery: a ``stuck`` or ``drift`` point is excluded until ``recovery_readings`` consecutive
readings are live again (the value changes) and each within ``max(recovery_threshold·σ, drift
floor)`` of its usual residual (``|e|``, with the baseline frozen during the fault and σ as at
detection), and an exponential average of ``e`` over about ``recovery_readings`` readings is
within half the drift limit ``max(k_drift·σ, drift floor)`` (hysteresis), for at least
``recovery_time``.  The reading completing the recovery is kept, and the point's residual window
restarts empty.  A sensor replaced or moved while faulty stays excluded until an operator
readmits it (:meth:`FaultDetector.readmit`: the baseline is learnt again, the run history kept,
so a sensor still stuck is flagged again at once).  Across a restart a held point resumes from
its baseline and σ (:meth:`FaultDetector.screening_state`, :meth:`FaultDetector.restore`).
``silent`` clears with the next reading.  Spikes need no recovery.

Floors (:class:`Tolerance`, per canonical unit) keep the tests meaningful for quiet or quantized
sensors: temperatures 0.05 K noise, 0.5 K drift, 0.5 K model change; powers 0.2 %, 2 % and 1 % of
the predicted value; voltages 0.005, 0.2, 0.1 V; SOC 0.001, 0.02, 0.01.  Each point's history is
kept by :class:`twin.live.faults.history.PointHistory`; the fault records, their wording and the
floors are in :mod:`twin.live.faults.kinds`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from itertools import compress
from operator import attrgetter

import numpy as np
from numpy.typing import NDArray

from physics.facility import Facility
from twin.live.faults.history import CheckLayer, PointHistory, gap_or_zero, nan_to_num, nonzero
from twin.live.faults.kinds import (
    DEFAULT_TOLERANCES,
    FaultKind,
    SensorFault,
    Tolerance,
    drift_reason,
    interleaved_reason,
    offset_reason,
    spike_reason,
    stuck_reason,
    units_floors_groups,
)
from twin.live.faults.repeats import RepeatedValues
from twin.live.faults.ticks import screen_layers
from twin.scenario.points import PointCatalogue, Reading

_POINT, _TIME, _VALUE = attrgetter("point"), attrgetter("time"), attrgetter("value")
__all__ = ["DEFAULT_TOLERANCES", "FaultDetector", "FaultKind", "SensorFault", "Tolerance"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

_HEALTHY, _STUCK, _DRIFT = 0, 1, 2
_MAD_TO_STD = 1.4826


def _utc_seconds(moment: datetime, what: str) -> float:
    if not isinstance(moment, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} {moment.isoformat()} has no timezone (naive datetimes refused)")
    return moment.timestamp()


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


class FaultDetector:
    """Screens readings for stuck, drifting, spiking and silent sensors.

    Parameters
    ----------
    catalogue
        The facility's points.
    window
        Readings per point in the warm-up, the spike centre and the drift mean [-].
    noise_window
        Readings behind the noise estimate σ (default ``5 × window``) [-].
    spike_threshold
        ``k_spike``: robust z beyond which one reading is a spike [-].
    spike_run
        Consecutive spikes that make an offset (reported as ``drift``) [-].
    drift_threshold
        ``k_drift``: window-mean residual over the noise σ that is a drift [-].
    stuck_readings
        Unchanged readings while the model moves that make a stuck sensor [-].
    stuck_readings_long, stuck_window
        Unchanged readings [-] and duration [s] that make a stuck sensor whatever the model
        does, for a point that jittered before.
    stuck_tolerance
        Two values closer than this are "unchanged" [unit].
    silent_after
        Shortest silence reported [s] (300 s: the live twin's staleness threshold).
    silent_intervals
        Silence counted in the point's usual reading intervals [-].
    recovery_readings
        Consecutive good readings that readmit a faulty point [-].
    recovery_threshold
        Residual band (in σ) of a good reading during recovery [-].
    recovery_time
        Shortest span of the good readings that readmit a faulty point [s] (hysteresis in
        time: a sensor that is right for a moment is not readmitted only to fail again).
    repeat_readings, repeat_runs
        A value recurring this many times [-] in this many separate runs [-] among the last
        ``window`` readings is a value stuck between good ones
        (:class:`twin.live.faults.repeats.RepeatedValues`).
    baseline_time
        Time constant of the residual baseline [s]: each accepted reading moves it by
        ``min(Δt / baseline_time, 1/window)`` of its residual, Δt the time since the point's
        previous reading.
    tolerances
        Floors by canonical unit (defaults: :data:`DEFAULT_TOLERANCES`).
    facility
        When given, rack points' peers are the racks of the same row (else all racks of the
        hall).
    min_peers
        Fewest healthy peers reporting in a check for the common-mode correction [-].
    tick_batching
        Screen runs of quiet ticks of a batch together (:mod:`twin.live.faults.ticks`; the
        same decisions and state as one pass per tick, which ``False`` forces).
    """

    def __init__(
        self,
        catalogue: PointCatalogue,
        *,
        window: int = 20,
        noise_window: int | None = None,
        spike_threshold: float = 8.0,
        spike_run: int = 3,
        drift_threshold: float = 3.0,
        stuck_readings: int = 8,
        stuck_readings_long: int = 30,
        stuck_window: float = 600.0,
        stuck_tolerance: float = 1e-9,
        silent_after: float = 300.0,
        silent_intervals: float = 5.0,
        recovery_readings: int = 5,
        recovery_threshold: float = 4.0,
        recovery_time: float = 300.0,
        repeat_readings: int = 4,
        repeat_runs: int = 3,
        baseline_time: float = 2 * 86400.0,
        tolerances: Mapping[str, Tolerance] | None = None,
        facility: Facility | None = None,
        min_peers: int = 3,
        tick_batching: bool = True,
    ) -> None:
        if window < 4:
            raise ValueError(f"window must be at least 4 readings, got {window}")
        if noise_window is not None and noise_window < 4:
            raise ValueError(f"noise_window must be at least 4 readings, got {noise_window}")
        for name, value in (
            ("spike_threshold", spike_threshold),
            ("drift_threshold", drift_threshold),
            ("silent_after", silent_after),
            ("silent_intervals", silent_intervals),
            ("recovery_threshold", recovery_threshold),
            ("baseline_time", baseline_time),
        ):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        for name, count in (
            ("spike_run", spike_run),
            ("stuck_readings", stuck_readings),
            ("stuck_readings_long", stuck_readings_long),
            ("recovery_readings", recovery_readings),
        ):
            if count < 1:
                raise ValueError(f"{name} must be at least 1, got {count}")
        if not (math.isfinite(recovery_time) and recovery_time >= 0):
            raise ValueError(f"recovery_time must be a non-negative number, got {recovery_time!r}")
        self.catalogue = catalogue
        self.window = int(window)
        self.noise_window = int(noise_window if noise_window is not None else 5 * window)
        self.spike_threshold = float(spike_threshold)
        self.spike_run = int(spike_run)
        self.drift_threshold = float(drift_threshold)
        self.stuck_readings = int(stuck_readings)
        self.stuck_readings_long = int(stuck_readings_long)
        self.stuck_window = float(stuck_window)
        self.stuck_tolerance = float(stuck_tolerance)
        self.silent_after = float(silent_after)
        self.silent_intervals = float(silent_intervals)
        self.recovery_readings = int(recovery_readings)
        self.recovery_threshold = float(recovery_threshold)
        self.recovery_time = float(recovery_time)
        self.baseline_time = float(baseline_time)
        self.min_peers = int(min_peers)
        self.tick_batching = bool(tick_batching)
        self.cusum_allowance = 1.0
        """CUSUM allowance for the drift onset estimate, in σ [-]."""
        floors = dict(DEFAULT_TOLERANCES)
        floors.update(tolerances or {})

        self.points = list(catalogue.ids)
        self._index = {p: i for i, p in enumerate(self.points)}
        n = len(self.points)
        self._unit, self._tol, self._group = units_floors_groups(catalogue, floors, facility)

        self._history = PointHistory(n, self.window, self.noise_window, self.stuck_tolerance)
        self._repeats = RepeatedValues(
            n, self.window, int(repeat_readings), int(repeat_runs), tolerance=stuck_tolerance
        )
        self._good_since = np.full(n, np.nan)
        self._excluded = np.zeros((n, 3), dtype=np.int64)  # spike, faulty sensor, late
        self._spikes = np.zeros(n, dtype=np.int64)
        self._spike_start = np.zeros(n)
        self._status = np.zeros(n, dtype=np.int8)
        self._good = np.zeros(n, dtype=np.int64)
        self._frozen_sigma = np.zeros(n)
        self._fault_level = np.full(n, np.nan)
        self._silent = np.zeros(n, dtype=bool)
        self._active: dict[str, SensorFault] = {}
        self.recovered: list[str] = []
        """Points readmitted by the last :meth:`check`."""

    # ------------------------------------------------------------------ public API

    def check(
        self,
        time: datetime,
        readings: Sequence[Reading],
        predicted: Mapping[str, float],
    ) -> tuple[list[Reading], list[SensorFault]]:
        """Screen one batch.

        Parameters
        ----------
        time
            Instant of the check (timezone-aware): silence is measured up to it.
        readings
            Validated readings (canonical units), any order, several per point allowed.
        predicted
            Model prediction of every point (canonical units); points without one are only
            checked for stuck and silent.

        Returns
        -------
        kept
            The readings to use, in input order: not from an unknown point, finite, not a spike,
            not from a stuck or drifting point.
        faults
            Faults detected by this check: each spike, and each new stuck, drift or silent
            fault (:meth:`active_faults` lists those still active).

        Raises
        ------
        ValueError
            ``time`` or a reading's time is naive.
        """
        now = _utc_seconds(time, "check time")
        self.recovered = []
        n = len(self.points)
        prediction = np.full(n, np.nan)
        index = self._index
        for point, value in predicted.items():
            i = index.get(point)
            if i is not None:
                prediction[i] = value  # NaN or ±inf: no prediction (below)
        prediction[~np.isfinite(prediction)] = np.nan

        seconds = self._seconds(readings)
        size, find = len(readings), index.get  # the columns, iterated in C where it can
        rows = np.fromiter((find(p, -1) for p in map(_POINT, readings)), np.int64, size)
        where = nonzero(rows >= 0)
        idx, known = rows[where], map(readings.__getitem__, where.tolist())
        times = np.fromiter(map(seconds.__getitem__, map(_TIME, readings)), float, size)[where]
        values = np.fromiter(map(_VALUE, known), float, where.size)
        usable = np.isfinite(values)
        idx, times, values, where = idx[usable], times[usable], values[usable], where[usable]
        keep = np.zeros(len(readings), dtype=bool)
        faults: list[SensorFault] = []
        if idx.size:
            order = np.lexsort((where, times, idx))  # by point, then time
            idx, times, values, where = idx[order], times[order], values[order], where[order]
            first = np.r_[True, idx[1:] != idx[:-1]]
            starts = nonzero(first)
            count = np.diff(np.r_[starts, idx.size])  # readings of each point
            rank = np.arange(idx.size) - np.repeat(starts, count)
            count = np.repeat(count, count)
            for sel, kept in screen_layers(
                self, idx, times, values, rank, count, prediction, now, faults
            ):
                keep[where[sel]] = kept
        faults.extend(self._silence(now))
        kept_readings = list(compress(readings, keep.tolist()))
        return kept_readings, faults

    @staticmethod
    def _seconds(readings: Sequence[Reading]) -> dict[datetime, float]:
        """Each distinct reading time in seconds since 1970 UTC; ``ValueError`` for the first
        reading (in order) whose time is naive, ``TypeError`` for one that is no datetime."""
        seconds: dict[datetime, float] = {}
        for moment in dict.fromkeys(reading.time for reading in readings):
            try:
                seconds[moment] = _utc_seconds(moment, "")
            except (TypeError, ValueError):
                point = next(r.point for r in readings if r.time == moment)
                _utc_seconds(moment, f"time of reading {point}")
                raise
        return seconds

    def active_faults(self) -> list[SensorFault]:
        """Stuck, drift and silent faults not yet recovered, by point id."""
        return [self._active[p] for p in sorted(self._active)]

    def excluded(self) -> dict[str, dict[str, int]]:
        """Readings excluded so far, per point with any: ``spike`` (one reading far from the
        point's usual residual), ``faulty`` (from a stuck, drifting or interleaved sensor) and
        ``late`` (out of order while faulty) [count]."""
        names = ("spike", "faulty", "late")
        return {
            self.points[p]: {name: int(c) for name, c in zip(names, row, strict=True) if c}
            for p in np.flatnonzero(self._excluded.any(axis=1))
            for row in [self._excluded[p]]
        }

    def is_faulty(self, point: str) -> bool:
        """True while ``point`` has an active stuck or drift fault (its readings excluded)."""
        i = self._index.get(point)
        return i is not None and bool(self._status[i] != _HEALTHY)

    def judged(self, point: str) -> bool:
        """Whether the point's warm-up is done (``window`` accepted readings since the
        detector started or the point was reset): its readings are judged, not only taken."""
        i = self._index.get(point)
        return i is not None and bool(self._history.warm[i])

    def faulty_points(self) -> frozenset[str]:
        """The points with an active stuck or drift fault (their readings excluded)."""
        return frozenset(self.points[p] for p in nonzero(self._status != _HEALTHY))

    def reset(self, point: str) -> None:
        """Forget ``point``'s history and faults (after a sensor is replaced or moved).

        The point warms up again from its next reading.  ``KeyError`` for an unknown point.
        """
        i = self._index[point]
        self._history.forget(i)
        self._repeats.forget(i)
        self._spikes[i] = 0
        self._status[i] = _HEALTHY
        self._good[i] = 0
        self._silent[i] = False
        self._active.pop(point, None)

    def readmit(self, point: str) -> None:
        """Readmit an excluded ``point`` by an operator's decision (the sensor replaced or
        recalibrated in place): its fault ends, its residual baseline warms up again from its
        next reading (a new standing bias is learned, not judged against the old one), while
        its run and change-rate history stay, so a sensor still frozen is flagged again as
        soon as its run qualifies.  ``KeyError`` for an unknown point; a healthy point is
        left as it is."""
        i = self._index[point]
        if self._status[i] == _HEALTHY:
            return
        self._history.relearn(i)
        self._status[i] = _HEALTHY
        self._spikes[i] = 0
        self._good[i] = 0
        self._good_since[i] = np.nan
        self._fault_level[i] = np.nan
        self._active.pop(point, None)

    def screening_state(self, point: str) -> dict[str, float] | None:
        """What the recovery of an excluded ``point`` is judged against: its usual residual
        ``baseline`` and the noise ``sigma`` at detection [point unit], for :meth:`restore`
        after a restart; None for a point not held stuck or drifting."""
        i = self._index.get(point)
        if i is None or self._status[i] == _HEALTHY:
            return None
        return {"baseline": float(self._history.baseline[i]), "sigma": float(self._frozen_sigma[i])}

    def restore(self, fault: SensorFault, baseline: float, sigma: float) -> None:
        """Hold ``fault.point`` (stuck or drift) excluded again after a restart, to recover by
        the same rule against the ``baseline`` and ``sigma`` it had (:meth:`screening_state`).
        ``KeyError``: unknown point; ``ValueError``: another kind, figures not finite, σ ≤ 0."""
        if fault.kind not in ("stuck", "drift"):
            raise ValueError(f"only a stuck or drift fault is held, not {fault.kind!r}")
        if not (math.isfinite(baseline) and math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"baseline {baseline!r} and sigma {sigma!r} must be finite, sigma > 0")
        i = self._index[fault.point]
        self._history.resume(i, baseline)
        self._fault(i, _STUCK if fault.kind == "stuck" else _DRIFT, fault, sigma)

    # ------------------------------------------------------------------ internals

    def _floors(self, i: IntArray, scale: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(noise, drift, change) floors of points ``i`` at magnitude ``scale``."""
        tol = self._tol[i]
        magnitude = np.where(np.isfinite(scale), np.abs(scale), 0.0)
        noise = np.maximum(tol[:, 0], tol[:, 3] * magnitude)
        drift = np.maximum(tol[:, 1], tol[:, 4] * magnitude)
        change = np.maximum(tol[:, 2], tol[:, 5] * magnitude)
        return noise, drift, change

    def _layer(
        self,
        i: IntArray,
        t: FloatArray,
        v: FloatArray,
        prediction: FloatArray,
        now: float,
        faults: list[SensorFault],
        common: FloatArray | None = None,
    ) -> NDArray[np.bool_]:
        """Process one reading per point (points ``i`` distinct); returns which are kept.
        ``common``: the points' common mode [unit] when their peers are not in ``i``."""
        keep = np.ones(i.size, dtype=bool)
        late = t <= self._history.last_time[i]
        if late.any():  # out of order: no statistics, kept while the point is healthy
            keep[late] = self._status[i[late]] == _HEALTHY
            np.add.at(self._excluded[:, 2], i[late & ~keep], 1)
        fresh = nonzero(~late)
        if fresh.size == 0:
            return keep
        shared = None if common is None else common[fresh]
        layer = self._observe(i[fresh], t[fresh], v[fresh], prediction, shared)
        self._check_spikes(layer)
        self._accept(layer)
        self._check_drift(layer)
        self._check_stuck(layer)
        faulty, back = self._check_recovery(layer)
        keep[fresh[faulty]] = False
        keep[fresh[back]] = True
        self._report(layer, _time(now), faults)
        keep[fresh[layer.outlier]] = False
        keep[fresh[self._status[layer.i] != _HEALTHY]] = False
        dropped = ~keep[fresh]
        self._excluded[layer.i[dropped & layer.outlier], 0] += 1
        self._excluded[layer.i[dropped & ~layer.outlier], 1] += 1
        return keep

    def _observe(
        self,
        i: IntArray,
        t: FloatArray,
        v: FloatArray,
        prediction: FloatArray,
        common: FloatArray | None = None,
    ) -> CheckLayer:
        """Take one reading per point into the statistics; their residuals against the model."""
        m = prediction[i]
        healthy = self._status[i] == _HEALTHY
        self._clear_silence(i)
        history = self._history
        gap = history.track_intervals(i, t)
        same, run = history.track_runs(i, t, v, m)
        self._repeats.push(i, t, v)

        # residuals relative to baseline and peers
        scale = np.where(np.isfinite(m), m, v)
        noise_floor, drift_floor, change_floor = self._floors(i, scale)
        r = v - m
        warm = history.warm[i]
        raw = r - np.where(warm, history.baseline[i], 0.0)
        if common is None:
            common = self._common_mode(i, raw, warm & healthy)
        e = raw - common
        center = history.center(i)
        spread = history.step_median(i)
        sigma = np.maximum(nan_to_num(_MAD_TO_STD * spread / math.sqrt(2.0)), noise_floor)
        sigma = np.maximum(sigma, 1e-12)  # a zero floor (custom tolerances) must not divide by 0
        return CheckLayer(
            i=i,
            t=t,
            v=v,
            m=m,
            healthy=healthy,
            warm=warm,
            gap=gap,
            same=same,
            run=run,
            drift_floor=drift_floor,
            change_floor=change_floor,
            e=e,
            center=center,
            sigma=sigma,
            z=np.abs(e - center) / sigma,
            has_residual=np.isfinite(e),
        )

    def _clear_silence(self, i: IntArray) -> None:
        """Silence: a reading clears the silent fault of its point."""
        for p in i[self._silent[i]]:
            self._silent[p] = False
            point = self.points[p]
            if point in self._active and self._active[point].kind == "silent":
                del self._active[point]
                self.recovered.append(point)

    def _check_spikes(self, layer: CheckLayer) -> None:
        """Spike: single readings far from the recent residuals (outliers); runs of them are
        offsets."""
        i = layer.i
        enough = self._history.residual_count[i] >= self.window // 2
        outlier = (
            layer.healthy
            & layer.warm
            & enough
            & layer.has_residual
            & (layer.z > self.spike_threshold)
        )
        spike = outlier & ~layer.same  # an unchanged value far from a moving model: stuck
        self._spike_start[i] = np.where(
            spike & (self._spikes[i] == 0), layer.t, self._spike_start[i]
        )
        self._spikes[i] = np.where(spike, self._spikes[i] + 1, 0)
        layer.outlier = outlier
        layer.spike = spike
        layer.offset = spike & (self._spikes[i] >= self.spike_run)

    def _accept(self, layer: CheckLayer) -> None:
        """Residuals of healthy points that are not outliers feed the statistics."""
        accept = layer.healthy & layer.has_residual & ~layer.outlier
        a = nonzero(accept)
        if a.size:
            rate = np.minimum(gap_or_zero(layer.gap[a]) / self.baseline_time, 1 / self.window)
            self._history.push(
                layer.i[a], layer.e[a], layer.t[a], layer.sigma[a], rate, self.cusum_allowance
            )
        self._history.warmup_done(layer.i[a])
        layer.accept = accept

    def _check_drift(self, layer: CheckLayer) -> None:
        """Drift: the mean residual over the window beyond its limit and growing."""
        n = layer.i.size
        drift = np.zeros(n, dtype=bool)
        mean = np.full(n, np.nan)
        older = np.full(n, np.nan)
        newer = np.full(n, np.nan)
        judged = layer.accept & layer.warm
        if judged.any():
            j = nonzero(judged)
            rows = layer.i[j]
            ordered = self._history.ordered_residuals(rows)
            half = self.window // 2
            add = np.add.reduce  # what ndarray.mean sums with, then divides by the count
            mean[j] = add(ordered, axis=1) / ordered.shape[1]
            older[j] = add(ordered[:, :half], axis=1) / half
            newer[j] = add(ordered[:, half:], axis=1) / (ordered.shape[1] - half)
            limit = np.maximum(self.drift_threshold * layer.sigma[j], layer.drift_floor[j])
            drift[j] = (
                (np.abs(mean[j]) > limit)
                & (np.abs(newer[j]) >= np.abs(older[j]))
                & (np.sign(newer[j]) == np.sign(mean[j]))
            )
        layer.drift = drift
        layer.mean = mean
        layer.older = older
        layer.newer = newer

    def _check_stuck(self, layer: CheckLayer) -> None:
        """Stuck: an unchanged value while the model moved, or for long where it jittered."""
        i, t, v, m, run = layer.i, layer.t, layer.v, layer.m, layer.run
        long_run = (
            (run >= self.stuck_readings_long)
            & (t - self._history.run_start[i] >= self.stuck_window)
            & (self._history.run_change_rate[i] >= 0.5)
            & ~(np.abs(v - m) <= self.stuck_tolerance)
        )
        moved = self._history.run_model_high[i] - self._history.run_model_low[i]
        model_run = (run >= self.stuck_readings) & (nan_to_num(moved) >= layer.change_floor)
        # interleaved: checked where the value recurs, and for faulty points (recovery)
        recurs = np.abs(self._repeats.values[i] - v[:, None]) <= self.stuck_tolerance
        check = nonzero((recurs.sum(axis=1) >= self._repeats.min_repeats) | ~layer.healthy)
        layer.repeat = np.zeros(i.size, dtype=bool)
        layer.repeat_value = np.full(i.size, np.nan)
        layer.repeats = np.zeros(i.size, dtype=np.int64)
        layer.repeat_since = np.full(i.size, np.nan)
        if check.size:
            flagged, value, repeats, first = self._repeats.check(i[check])
            layer.repeat[check], layer.repeat_value[check] = flagged, value
            layer.repeats[check], layer.repeat_since[check] = repeats, first
        layer.stuck = layer.healthy & (model_run | long_run | layer.repeat)
        layer.model_run = model_run
        layer.moved = moved

    def _check_recovery(self, layer: CheckLayer) -> tuple[IntArray, IntArray]:
        """Recovery of stuck or drifting points; returns the positions (in the layer) of the
        faulty points' readings and of those readmitted with this reading."""
        f = nonzero(~layer.healthy)
        if f.size == 0:
            return f, f
        rows = layer.i[f]
        e, has_residual = layer.e[f], layer.has_residual[f]
        sigma_f = self._frozen_sigma[rows]
        band = np.maximum(self.recovery_threshold * sigma_f, layer.drift_floor[f])
        good = ~layer.same[f] & has_residual & (np.abs(e) <= band) & ~layer.repeat[f]
        self._good[rows] = np.where(good, self._good[rows] + 1, 0)
        since = self._good_since[rows]
        self._good_since[rows] = np.where(
            good, np.where(np.isnan(since), layer.t[f], since), np.nan
        )
        lasted = layer.t[f] - self._good_since[rows] >= self.recovery_time
        alpha = 2.0 / (self.recovery_readings + 1.0)
        level = self._fault_level[rows]
        level = np.where(np.isfinite(level), level + alpha * (e - level), e)
        self._fault_level[rows] = np.where(has_residual, level, self._fault_level[rows])
        settled = np.abs(self._fault_level[rows]) <= 0.5 * np.maximum(
            self.drift_threshold * sigma_f, layer.drift_floor[f]
        )
        back = f[(self._good[rows] >= self.recovery_readings) & settled & lasted]
        for k in back:
            self._readmit(int(layer.i[k]))
        return f, back

    def _report(self, layer: CheckLayer, detected: datetime, faults: list[SensorFault]) -> None:
        """New faults of the layer, one per point: stuck before offset before drift before
        spike."""
        claimed = np.zeros(layer.i.size, dtype=bool)
        for found, report in (
            (layer.stuck, self._report_stuck),
            (layer.offset, self._report_offset),
            (layer.drift, self._report_drift),
            (layer.spike, self._report_spike),
        ):
            for k in nonzero(found & ~claimed):
                report(layer, int(k), detected, faults)
            claimed |= found

    def _report_stuck(
        self, layer: CheckLayer, k: int, detected: datetime, faults: list[SensorFault]
    ) -> None:
        p = int(layer.i[k])
        start = self._history.run_start[p]
        value, unit, run = layer.v[k], self._unit[p], layer.run[k]
        if layer.model_run[k]:
            reason = stuck_reason(self.points[p], value, unit, run, moved=layer.moved[k])
        elif layer.repeat[k] and run < self.stuck_readings_long:
            value, start = layer.repeat_value[k], layer.repeat_since[k]
            repeats = int(layer.repeats[k])
            reason = interleaved_reason(self.points[p], value, unit, repeats, self.window)
        else:
            hours = (layer.t[k] - start) / 3600.0
            reason = stuck_reason(self.points[p], value, unit, run, hours=hours)
        fault = SensorFault(self.points[p], "stuck", _time(start), reason, detected)
        self._fault(p, _STUCK, fault, layer.sigma[k])
        faults.append(fault)

    def _report_offset(
        self, layer: CheckLayer, k: int, detected: datetime, faults: list[SensorFault]
    ) -> None:
        p = int(layer.i[k])
        reason = offset_reason(
            self.points[p],
            self._spikes[p],
            layer.e[k],
            layer.center[k],
            layer.z[k],
            self.spike_threshold,
            self._unit[p],
        )
        since = self._spike_start[p]
        fault = SensorFault(self.points[p], "drift", _time(since), reason, detected)
        self._fault(p, _DRIFT, fault, layer.sigma[k])
        faults.append(fault)

    def _report_drift(
        self, layer: CheckLayer, k: int, detected: datetime, faults: list[SensorFault]
    ) -> None:
        p = int(layer.i[k])
        mean, sigma = layer.mean[k], layer.sigma[k]
        side = 0 if mean > 0 else 1
        history = self._history
        since = history.cusum_start[p, side] if history.cusum[p, side] > 0 else layer.t[k]
        per_reading = (layer.newer[k] - layer.older[k]) / (self.window / 2)
        reason = drift_reason(
            self.points[p], mean, sigma, per_reading, self.window, _time(since), self._unit[p]
        )
        fault = SensorFault(self.points[p], "drift", _time(since), reason, detected)
        self._fault(p, _DRIFT, fault, sigma)
        faults.append(fault)

    def _report_spike(
        self, layer: CheckLayer, k: int, detected: datetime, faults: list[SensorFault]
    ) -> None:
        p = int(layer.i[k])
        reason = spike_reason(
            self.points[p],
            layer.v[k],
            layer.e[k],
            layer.center[k],
            layer.z[k],
            self.spike_threshold,
            self._unit[p],
        )
        faults.append(SensorFault(self.points[p], "spike", _time(layer.t[k]), reason, detected))

    def _common_mode(self, i: IntArray, raw: FloatArray, eligible: NDArray[np.bool_]) -> FloatArray:
        """Median of ``raw`` over eligible peers reporting in this layer, per point.

        All groups at once: the eligible values sorted by (group, value), each group's median
        the middle element or the mean of the middle two (as :func:`numpy.median`)."""
        common = np.zeros(i.size)
        groups = self._group[i]
        use = eligible & np.isfinite(raw) & (groups >= 0)
        if use.sum() < self.min_peers:
            return common
        g, r = groups[use], raw[use]
        order = np.lexsort((r, g))
        g, r = g[order], r[order]
        names, first, counts = np.unique(g, return_index=True, return_counts=True)
        median = (r[first + (counts - 1) // 2] + r[first + counts // 2]) / 2.0
        where = np.searchsorted(names, groups).clip(0, names.size - 1)
        member = (names[where] == groups) & (groups >= 0)
        enough = member & (counts[where] >= self.min_peers)
        common[enough] = median[where[enough]]
        return common

    def _fault(self, p: int, status: int, fault: SensorFault, sigma: float) -> None:
        """Point ``p`` held faulty (``status``) from now, its recovery judged with ``sigma``."""
        self._status[p] = status
        self._good[p] = 0
        self._good_since[p] = np.nan
        self._frozen_sigma[p] = sigma
        self._fault_level[p] = np.nan
        self._active[self.points[p]] = fault

    def _readmit(self, p: int) -> None:
        self._status[p] = _HEALTHY
        self._good[p] = 0
        self._spikes[p] = 0
        self._history.restart(p)
        point = self.points[p]
        self._active.pop(point, None)
        self.recovered.append(point)

    def _silence(self, now: float) -> list[SensorFault]:
        """New silent faults at ``now``."""
        timeout = np.fmax(self.silent_after, self.silent_intervals * self._history.interval)
        overdue = (
            np.isfinite(self._history.last_time)
            & ~self._silent
            & (now - self._history.last_time > timeout)
        )
        found: list[SensorFault] = []
        detected = _time(now)
        for p in nonzero(overdue):
            self._silent[p] = True
            point = self.points[p]
            usual = self._history.interval[p]
            every = f"; it reported every {usual:.0f} s before" if math.isfinite(usual) else ""
            fault = SensorFault(
                point,
                "silent",
                _time(self._history.last_time[p]),
                f"{point} has sent nothing for {now - self._history.last_time[p]:.0f} s "
                f"(timeout {timeout[p]:.0f} s{every})",
                detected,
            )
            if point not in self._active:
                self._active[point] = fault
            found.append(fault)
        return found
