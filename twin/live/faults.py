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
not blamed on each of its sensors.  A point is only
judged after ``window`` readings (warm-up).

Recovery: a ``stuck`` or ``drift`` point is excluded until ``recovery_readings`` consecutive
readings are live again (the value changes) and each within ``max(recovery_threshold·σ, drift
floor)`` of its usual residual (``|e|``, with the baseline frozen during the fault and σ as at
detection), and an exponential average of ``e`` over about ``recovery_readings`` readings is
within half the drift limit ``max(k_drift·σ, drift floor)`` (hysteresis: a sensor still near
the limit is not readmitted only to be flagged again).  The reading completing the recovery is
kept, and the point's residual window restarts empty so that fault-era residuals do not judge
it again.  A
point whose physical situation changed for good while it was faulty (sensor moved) stays
excluded until :meth:`FaultDetector.reset`.
``silent`` clears with the next reading.  Spikes need no recovery.

Floors (:class:`Tolerance`, per canonical unit) keep the tests meaningful for quiet or quantized
sensors: temperatures 0.05 K noise, 0.5 K drift, 0.5 K model change; powers 0.2 %, 2 % and 1 % of
the predicted value; voltages 0.005, 0.2, 0.1 V; SOC 0.001, 0.02, 0.01.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from physics.facility import Facility
from twin.scenario.points import PointCatalogue, Reading

__all__ = ["DEFAULT_TOLERANCES", "FaultDetector", "FaultKind", "SensorFault", "Tolerance"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

FaultKind = Literal["stuck", "drift", "spike", "silent"]

_HEALTHY, _STUCK, _DRIFT = 0, 1, 2
_MAD_TO_STD = 1.4826


@dataclass(frozen=True)
class SensorFault:
    """One detected sensor fault.

    Attributes
    ----------
    point
        Point id.
    kind
        ``stuck``, ``drift``, ``spike`` or ``silent``.
    since
        Estimated start of the fault (UTC): first reading of the frozen value, CUSUM change
        point, the spike's time, the last reading before the silence.
    reason
        One sentence with the figures.
    detected
        Time of the check that detected it (UTC).
    """

    point: str
    kind: FaultKind
    since: datetime
    reason: str
    detected: datetime

    def to_dict(self) -> dict[str, str]:
        """JSON-ready dict."""
        return {
            "point": self.point,
            "kind": self.kind,
            "since": self.since.isoformat(),
            "reason": self.reason,
            "detected": self.detected.isoformat(),
        }


@dataclass(frozen=True)
class Tolerance:
    """Floors of the tests for one canonical unit.

    Each floor is ``max(absolute, relative × |prediction|)``.

    Attributes
    ----------
    noise
        Smallest noise standard deviation assumed [unit].
    drift
        Smallest residual offset reported as drift [unit].
    change
        Smallest model movement that makes an unchanged value suspicious [unit].
    noise_relative, drift_relative, change_relative
        The same as fractions of the predicted value [-].
    """

    noise: float
    drift: float
    change: float
    noise_relative: float = 0.0
    drift_relative: float = 0.0
    change_relative: float = 0.0


DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "degC": Tolerance(noise=0.05, drift=0.5, change=0.5),
    "kW": Tolerance(
        noise=0.01,
        drift=0.5,
        change=0.5,
        noise_relative=0.002,
        drift_relative=0.02,
        change_relative=0.01,
    ),
    "V": Tolerance(noise=0.005, drift=0.2, change=0.1),
    "1": Tolerance(noise=0.001, drift=0.02, change=0.01),
}
"""Floors by canonical unit (see the module docstring)."""


def _utc_seconds(moment: datetime, what: str) -> float:
    if not isinstance(moment, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} {moment.isoformat()} has no timezone (naive datetimes refused)")
    return moment.timestamp()


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def _clock(seconds: float) -> str:
    return _time(seconds).strftime("%Y-%m-%d %H:%M UTC")


def _row_median(values: FloatArray, counts: IntArray) -> FloatArray:
    """Median of the first ``counts`` non-NaN entries of each row (NaN-padded rows)."""
    ordered = np.sort(values, axis=1)  # NaN last
    low = np.clip((counts - 1) // 2, 0, values.shape[1] - 1)
    high = np.clip(counts // 2, 0, values.shape[1] - 1)
    rows = np.arange(values.shape[0])
    median = 0.5 * (ordered[rows, low] + ordered[rows, high])
    return np.where(counts > 0, median, np.nan)


@dataclass
class _Layer:
    """One reading of each of some points (distinct) in one check: its statistics, then what
    the check of each fault kind found.

    Every array has one entry per reading.  :meth:`FaultDetector._observe` sets the statistics;
    the findings (not in ``__init__``) are set by the checks, in order: spikes, accepted
    residuals, drift, stuck.
    """

    i: IntArray
    """Point indices."""
    t: FloatArray
    """Reading times [s since 1970-01-01 UTC]."""
    v: FloatArray
    """Values [the point's unit]."""
    m: FloatArray
    """Model predictions [the point's unit]; NaN without one."""
    healthy: BoolArray
    """The point was neither stuck nor drifting before this reading."""
    warm: BoolArray
    """The point had finished its warm-up before this reading."""
    gap: FloatArray
    """Time since the point's previous reading [s]; NaN for its first one."""
    same: BoolArray
    """The value equals the previous one (within the stuck tolerance)."""
    run: IntArray
    """Readings in the run of equal values, this one included [-]."""
    drift_floor: FloatArray
    """Smallest residual offset reported as drift [unit]."""
    change_floor: FloatArray
    """Smallest model movement that makes an unchanged value suspicious [unit]."""
    e: FloatArray
    """Residual relative to the point's baseline and its peers [unit]."""
    center: FloatArray
    """Median of the point's recent accepted residuals [unit]."""
    sigma: FloatArray
    """Noise estimate σ [unit]."""
    z: FloatArray
    """Robust z of the residual, ``|e − center| / σ`` [-]."""
    has_residual: BoolArray
    """The residual is finite (the point has a prediction)."""
    outlier: BoolArray = field(init=False)
    """Far from the recent residuals (a spike, or an unchanged value far from the model)."""
    spike: BoolArray = field(init=False)
    """A spike: an outlier whose value changed."""
    offset: BoolArray = field(init=False)
    """The latest of ``spike_run`` spikes in a row."""
    accept: BoolArray = field(init=False)
    """The residual fed the statistics."""
    drift: BoolArray = field(init=False)
    """The window's mean residual is beyond the drift limit and growing."""
    mean: FloatArray = field(init=False)
    """Mean residual over the window [unit]; NaN where not judged."""
    older: FloatArray = field(init=False)
    """Mean of the window's older half [unit]."""
    newer: FloatArray = field(init=False)
    """Mean of the window's newer half [unit]."""
    stuck: BoolArray = field(init=False)
    """The value is stuck."""
    model_run: BoolArray = field(init=False)
    """Stuck while the model moved (else: stuck for long where it jittered)."""
    moved: FloatArray = field(init=False)
    """Range of the model over the run of equal values [unit]."""


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
        Shortest silence reported [s].
    silent_intervals
        Silence counted in the point's usual reading intervals [-].
    recovery_readings
        Consecutive good readings that readmit a faulty point [-].
    recovery_threshold
        Residual band (in σ) of a good reading during recovery [-].
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
        silent_after: float = 600.0,
        silent_intervals: float = 5.0,
        recovery_readings: int = 5,
        recovery_threshold: float = 4.0,
        baseline_time: float = 2 * 86400.0,
        tolerances: Mapping[str, Tolerance] | None = None,
        facility: Facility | None = None,
        min_peers: int = 3,
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
        self.baseline_time = float(baseline_time)
        self.min_peers = int(min_peers)
        self.cusum_allowance = 1.0
        """CUSUM allowance for the drift onset estimate, in σ [-]."""
        floors = dict(DEFAULT_TOLERANCES)
        floors.update(tolerances or {})

        self.points = list(catalogue.ids)
        self._index = {p: i for i, p in enumerate(self.points)}
        n = len(self.points)
        self._unit: list[str] = []
        tol = np.zeros((n, 6))
        group_keys: list[str] = []
        for i, point in enumerate(self.points):
            kind, index = catalogue.kinds[point]
            self._unit.append(kind.unit)
            t = floors.get(kind.unit, Tolerance(0.0, 0.0, 0.0))
            tol[i] = (
                t.noise,
                t.drift,
                t.change,
                t.noise_relative,
                t.drift_relative,
                t.change_relative,
            )
            if kind.prefix == "rack":
                key = f"{kind.prefix}/{kind.quantity}"
                if facility is not None and index is not None:
                    key += f"@{facility.racks.row[index]}"
            else:
                key = ""  # no peers: equipment of one kind is not alike (jobs, feeds, CRAHs)
            group_keys.append(key)
        self._tol = tol
        names = sorted(set(group_keys) - {""})
        self._group = np.array([names.index(k) if k else -1 for k in group_keys], dtype=np.int64)

        w = self.window
        self._last_t = np.full(n, -np.inf)
        self._interval = np.full(n, np.nan)
        self._prev_v = np.full(n, np.nan)
        self._run_count = np.zeros(n, dtype=np.int64)
        self._run_start = np.zeros(n)
        self._run_low = np.full(n, np.nan)
        self._run_high = np.full(n, np.nan)
        self._change_rate = np.zeros(n)
        self._run_rate = np.zeros(n)
        self._e = np.full((n, w), np.nan)
        self._e_head = np.zeros(n, dtype=np.int64)
        self._e_count = np.zeros(n, dtype=np.int64)
        self._de = np.full((n, self.noise_window), np.nan)
        self._de_head = np.zeros(n, dtype=np.int64)
        self._de_count = np.zeros(n, dtype=np.int64)
        self._last_e = np.full(n, np.nan)
        self._baseline = np.zeros(n)
        self._warm = np.zeros(n, dtype=bool)
        self._cusum = np.zeros((n, 2))
        self._cusum_start = np.zeros((n, 2))
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

        seconds: dict[datetime, float] = {}
        idx_list: list[int] = []
        time_list: list[float] = []
        value_list: list[float] = []
        where_list: list[int] = []
        for position, reading in enumerate(readings):
            i = index.get(reading.point)
            moment = reading.time
            t = seconds.get(moment)
            if t is None or moment.tzinfo is None:  # naive: always refused
                t = seconds[moment] = _utc_seconds(moment, f"time of reading {reading.point}")
            if i is not None:
                idx_list.append(i)
                time_list.append(t)
                value_list.append(reading.value)
                where_list.append(position)
        idx = np.asarray(idx_list, dtype=np.int64)
        times = np.asarray(time_list, dtype=float)
        values = np.asarray(value_list, dtype=float)
        where = np.asarray(where_list, dtype=np.int64)
        usable = np.isfinite(values)
        idx, times, values, where = idx[usable], times[usable], values[usable], where[usable]
        keep = np.zeros(len(readings), dtype=bool)
        faults: list[SensorFault] = []
        if idx.size:
            order = np.lexsort((where, times, idx))  # by point, then time
            idx, times, values, where = idx[order], times[order], values[order], where[order]
            first = np.r_[True, idx[1:] != idx[:-1]]
            starts = np.flatnonzero(first)
            rank = np.arange(idx.size) - np.repeat(starts, np.diff(np.r_[starts, idx.size]))
            for layer in range(int(rank.max()) + 1):
                sel = np.flatnonzero(rank == layer)
                kept = self._layer(idx[sel], times[sel], values[sel], prediction, now, faults)
                keep[where[sel]] = kept
        faults.extend(self._silence(now))
        kept_readings = [r for r, k in zip(readings, keep, strict=True) if k]
        return kept_readings, faults

    def active_faults(self) -> list[SensorFault]:
        """Stuck, drift and silent faults not yet recovered, by point id."""
        return [self._active[p] for p in sorted(self._active)]

    def is_faulty(self, point: str) -> bool:
        """True while ``point`` has an active stuck or drift fault (its readings excluded)."""
        i = self._index.get(point)
        return i is not None and bool(self._status[i] != _HEALTHY)

    def reset(self, point: str) -> None:
        """Forget ``point``'s history and faults (after a sensor is replaced or moved).

        The point warms up again from its next reading.  ``KeyError`` for an unknown point.
        """
        i = self._index[point]
        self._last_t[i] = -np.inf
        self._interval[i] = np.nan
        self._prev_v[i] = np.nan
        self._run_count[i] = 0
        self._change_rate[i] = 0.0
        self._run_rate[i] = 0.0
        self._e[i] = np.nan
        self._de[i] = np.nan
        self._e_head[i] = self._e_count[i] = self._de_head[i] = self._de_count[i] = 0
        self._last_e[i] = np.nan
        self._baseline[i] = 0.0
        self._warm[i] = False
        self._cusum[i] = 0.0
        self._spikes[i] = 0
        self._status[i] = _HEALTHY
        self._good[i] = 0
        self._silent[i] = False
        self._active.pop(point, None)

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
    ) -> NDArray[np.bool_]:
        """Process one reading per point (points ``i`` distinct); returns which are kept."""
        keep = np.ones(i.size, dtype=bool)
        late = t <= self._last_t[i]
        if late.any():  # out of order: no statistics, kept while the point is healthy
            keep[late] = self._status[i[late]] == _HEALTHY
        fresh = np.flatnonzero(~late)
        if fresh.size == 0:
            return keep
        layer = self._observe(i[fresh], t[fresh], v[fresh], prediction)
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
        return keep

    def _observe(self, i: IntArray, t: FloatArray, v: FloatArray, prediction: FloatArray) -> _Layer:
        """Take one reading per point into the statistics; their residuals against the model."""
        m = prediction[i]
        healthy = self._status[i] == _HEALTHY
        self._clear_silence(i)
        gap = self._track_intervals(i, t)
        same, run = self._track_runs(i, t, v, m)

        # residuals relative to baseline and peers
        scale = np.where(np.isfinite(m), m, v)
        noise_floor, drift_floor, change_floor = self._floors(i, scale)
        r = v - m
        warm = self._warm[i]
        raw = r - np.where(warm, self._baseline[i], 0.0)
        common = self._common_mode(i, raw, warm & healthy)
        e = raw - common
        center = _row_median(self._e[i], self._e_count[i])
        spread = _row_median(self._de[i], self._de_count[i])
        sigma = np.maximum(np.nan_to_num(_MAD_TO_STD * spread / math.sqrt(2.0)), noise_floor)
        sigma = np.maximum(sigma, 1e-12)  # a zero floor (custom tolerances) must not divide by 0
        return _Layer(
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

    def _track_intervals(self, i: IntArray, t: FloatArray) -> FloatArray:
        """Update the points' usual reading interval; the time since their previous reading
        [s] (NaN for a first reading)."""
        seen = np.isfinite(self._last_t[i])
        gap = t - self._last_t[i]
        old = self._interval[i]
        self._interval[i] = np.where(
            seen, np.where(np.isfinite(old), 0.8 * old + 0.2 * gap, gap), np.nan
        )
        self._last_t[i] = t
        return gap

    def _track_runs(
        self, i: IntArray, t: FloatArray, v: FloatArray, m: FloatArray
    ) -> tuple[NDArray[np.bool_], IntArray]:
        """Update the runs of unchanged values (and the model's range over each run); returns
        whether each value equals the previous one and the run's length [-]."""
        prev = self._prev_v[i]
        same = np.isfinite(prev) & (np.abs(v - prev) <= self.stuck_tolerance)
        rate = self._change_rate[i]
        rate = np.where(np.isfinite(prev), rate + (~same - rate) / self.window, rate)
        self._change_rate[i] = rate
        self._run_rate[i] = np.where(same, self._run_rate[i], rate)
        run = np.where(same, self._run_count[i] + 1, 1)
        self._run_count[i] = run
        self._run_start[i] = np.where(same, self._run_start[i], t)
        self._run_low[i] = np.where(same, np.fmin(self._run_low[i], m), m)
        self._run_high[i] = np.where(same, np.fmax(self._run_high[i], m), m)
        self._prev_v[i] = v
        return same, run

    def _check_spikes(self, layer: _Layer) -> None:
        """Spike: single readings far from the recent residuals (outliers); runs of them are
        offsets."""
        i = layer.i
        enough = self._e_count[i] >= self.window // 2
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

    def _accept(self, layer: _Layer) -> None:
        """Residuals of healthy points that are not outliers feed the statistics."""
        accept = layer.healthy & layer.has_residual & ~layer.outlier
        a = np.flatnonzero(accept)
        if a.size:
            rate = np.minimum(
                np.nan_to_num(layer.gap[a], posinf=0.0) / self.baseline_time, 1 / self.window
            )
            self._push(layer.i[a], layer.e[a], layer.t[a], layer.sigma[a], rate)
        self._warmup_done(layer.i[a])
        layer.accept = accept

    def _check_drift(self, layer: _Layer) -> None:
        """Drift: the mean residual over the window beyond its limit and growing."""
        n = layer.i.size
        drift = np.zeros(n, dtype=bool)
        mean = np.full(n, np.nan)
        older = np.full(n, np.nan)
        newer = np.full(n, np.nan)
        judged = layer.accept & layer.warm
        if judged.any():
            j = np.flatnonzero(judged)
            rows = layer.i[j]
            ordered = np.take_along_axis(
                self._e[rows],
                (self._e_head[rows, None] + np.arange(self.window)) % self.window,
                axis=1,
            )
            half = self.window // 2
            mean[j] = ordered.mean(axis=1)
            older[j] = ordered[:, :half].mean(axis=1)
            newer[j] = ordered[:, half:].mean(axis=1)
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

    def _check_stuck(self, layer: _Layer) -> None:
        """Stuck: an unchanged value while the model moved, or for long where it jittered."""
        i, t, v, m, run = layer.i, layer.t, layer.v, layer.m, layer.run
        long_run = (
            (run >= self.stuck_readings_long)
            & (t - self._run_start[i] >= self.stuck_window)
            & (self._run_rate[i] >= 0.5)
            & ~(np.abs(v - m) <= self.stuck_tolerance)
        )
        moved = self._run_high[i] - self._run_low[i]
        model_run = (run >= self.stuck_readings) & (np.nan_to_num(moved) >= layer.change_floor)
        layer.stuck = layer.healthy & (model_run | long_run)
        layer.model_run = model_run
        layer.moved = moved

    def _check_recovery(self, layer: _Layer) -> tuple[IntArray, IntArray]:
        """Recovery of stuck or drifting points; returns the positions (in the layer) of the
        faulty points' readings and of those readmitted with this reading."""
        f = np.flatnonzero(~layer.healthy)
        if f.size == 0:
            return f, f
        rows = layer.i[f]
        e, has_residual = layer.e[f], layer.has_residual[f]
        sigma_f = self._frozen_sigma[rows]
        band = np.maximum(self.recovery_threshold * sigma_f, layer.drift_floor[f])
        good = ~layer.same[f] & has_residual & (np.abs(e) <= band)
        self._good[rows] = np.where(good, self._good[rows] + 1, 0)
        alpha = 2.0 / (self.recovery_readings + 1.0)
        level = self._fault_level[rows]
        level = np.where(np.isfinite(level), level + alpha * (e - level), e)
        self._fault_level[rows] = np.where(has_residual, level, self._fault_level[rows])
        settled = np.abs(self._fault_level[rows]) <= 0.5 * np.maximum(
            self.drift_threshold * sigma_f, layer.drift_floor[f]
        )
        back = f[(self._good[rows] >= self.recovery_readings) & settled]
        for k in back:
            self._readmit(int(layer.i[k]))
        return f, back

    def _report(self, layer: _Layer, detected: datetime, faults: list[SensorFault]) -> None:
        """New faults of the layer, one per point: stuck before offset before drift before
        spike."""
        claimed = np.zeros(layer.i.size, dtype=bool)
        for found, report in (
            (layer.stuck, self._report_stuck),
            (layer.offset, self._report_offset),
            (layer.drift, self._report_drift),
            (layer.spike, self._report_spike),
        ):
            for k in np.flatnonzero(found & ~claimed):
                report(layer, int(k), detected, faults)
            claimed |= found

    def _report_stuck(
        self, layer: _Layer, k: int, detected: datetime, faults: list[SensorFault]
    ) -> None:
        p = int(layer.i[k])
        point = self.points[p]
        unit = self._unit[p]
        run = layer.run[k]
        if layer.model_run[k]:
            reason = (
                f"{point} has read {_value(layer.v[k], unit)} for {run} readings while the "
                f"model moved by {_delta(layer.moved[k], unit)}"
            )
        else:
            hours = (layer.t[k] - self._run_start[p]) / 3600.0
            reason = (
                f"{point} has read {_value(layer.v[k], unit)} for {run} readings over "
                f"{hours:.1f} h although it changed at every reading before"
            )
        self._fault(
            p, _STUCK, "stuck", self._run_start[p], reason, detected, layer.sigma[k], faults
        )

    def _report_offset(
        self, layer: _Layer, k: int, detected: datetime, faults: list[SensorFault]
    ) -> None:
        p = int(layer.i[k])
        unit = self._unit[p]
        e, center = layer.e[k], layer.center[k]
        reason = (
            f"{self.points[p]} has read {self._spikes[p]} values in a row "
            f"{_delta(abs(e - center), unit)} {'above' if e > center else 'below'}"
            f" its usual residual (robust z {layer.z[k]:.0f} > {self.spike_threshold:g}): an offset"
        )
        self._fault(
            p, _DRIFT, "drift", self._spike_start[p], reason, detected, layer.sigma[k], faults
        )

    def _report_drift(
        self, layer: _Layer, k: int, detected: datetime, faults: list[SensorFault]
    ) -> None:
        p = int(layer.i[k])
        unit = self._unit[p]
        mean, sigma = layer.mean[k], layer.sigma[k]
        side = 0 if mean > 0 else 1
        since = self._cusum_start[p, side] if self._cusum[p, side] > 0 else layer.t[k]
        per_reading = (layer.newer[k] - layer.older[k]) / (self.window / 2)
        reason = (
            f"{self.points[p]} reads {_delta(abs(mean), unit)} "
            f"{'above' if mean > 0 else 'below'} its usual residual on average over the "
            f"last {self.window} readings ({abs(mean) / sigma:.1f} × its noise of "
            f"{_delta(sigma, unit)}), growing by {_delta(abs(per_reading), unit)} per "
            f"reading, since about {_clock(since)}"
        )
        self._fault(p, _DRIFT, "drift", since, reason, detected, sigma, faults)

    def _report_spike(
        self, layer: _Layer, k: int, detected: datetime, faults: list[SensorFault]
    ) -> None:
        p = int(layer.i[k])
        unit = self._unit[p]
        e, center = layer.e[k], layer.center[k]
        direction = "above" if e > center else "below"
        faults.append(
            SensorFault(
                self.points[p],
                "spike",
                _time(layer.t[k]),
                f"{self.points[p]} read {_value(layer.v[k], unit)}, "
                f"{_delta(abs(e - center), unit)} {direction} its usual residual "
                f"against the model (robust z {layer.z[k]:.0f} > {self.spike_threshold:g}); "
                "this reading is excluded",
                detected,
            )
        )

    def _common_mode(self, i: IntArray, raw: FloatArray, eligible: NDArray[np.bool_]) -> FloatArray:
        """Median of ``raw`` over eligible peers reporting in this layer, per point."""
        common = np.zeros(i.size)
        use = eligible & np.isfinite(raw) & (self._group[i] >= 0)
        if use.sum() < self.min_peers:
            return common
        groups = self._group[i]
        for g in np.unique(groups[use]):
            members = use & (groups == g)
            if members.sum() >= self.min_peers:
                common[groups == g] = float(np.median(raw[members]))
        return common

    def _push(
        self, i: IntArray, e: FloatArray, t: FloatArray, sigma: FloatArray, rate: FloatArray
    ) -> None:
        """Add accepted residuals to the rings, baseline and CUSUM."""
        w = self.window
        last = self._last_e[i]
        has_last = np.isfinite(last)
        d = np.flatnonzero(has_last)
        if d.size:
            rows = i[d]
            self._de[rows, self._de_head[rows]] = np.abs(e[d] - last[d])
            self._de_head[rows] = (self._de_head[rows] + 1) % self.noise_window
            self._de_count[rows] = np.minimum(self._de_count[rows] + 1, self.noise_window)
        self._last_e[i] = e
        self._e[i, self._e_head[i]] = e
        self._e_head[i] = (self._e_head[i] + 1) % w
        self._e_count[i] = np.minimum(self._e_count[i] + 1, w)
        warm = self._warm[i]
        rows = i[warm]
        if rows.size:
            self._baseline[rows] += rate[warm] * e[warm]
            u = e[warm] / sigma[warm]
            up = self._cusum[rows, 0] + u - self.cusum_allowance
            down = self._cusum[rows, 1] - u - self.cusum_allowance
            self._cusum_start[rows, 0] = np.where(
                self._cusum[rows, 0] <= 0, t[warm], self._cusum_start[rows, 0]
            )
            self._cusum_start[rows, 1] = np.where(
                self._cusum[rows, 1] <= 0, t[warm], self._cusum_start[rows, 1]
            )
            self._cusum[rows, 0] = np.maximum(up, 0.0)
            self._cusum[rows, 1] = np.maximum(down, 0.0)

    def _warmup_done(self, i: IntArray) -> None:
        """Points that just collected ``window`` residuals: set the baseline, start judging."""
        done = i[~self._warm[i] & (self._e_count[i] >= self.window)]
        if done.size == 0:
            return
        base = _row_median(self._e[done], self._e_count[done])
        self._baseline[done] = base
        self._e[done] -= base[:, None]
        self._last_e[done] -= base
        self._warm[done] = True
        self._cusum[done] = 0.0

    def _fault(
        self,
        p: int,
        status: int,
        kind: FaultKind,
        since: float,
        reason: str,
        detected: datetime,
        sigma: float,
        faults: list[SensorFault],
    ) -> None:
        self._status[p] = status
        self._good[p] = 0
        self._frozen_sigma[p] = sigma
        self._fault_level[p] = np.nan
        fault = SensorFault(self.points[p], kind, _time(since), reason, detected)
        self._active[self.points[p]] = fault
        faults.append(fault)

    def _readmit(self, p: int) -> None:
        self._status[p] = _HEALTHY
        self._good[p] = 0
        self._spikes[p] = 0
        self._cusum[p] = 0.0
        self._run_count[p] = 1
        self._last_e[p] = np.nan
        self._e[p] = np.nan  # residuals of the fault era must not judge the readmitted sensor
        self._e_head[p] = self._e_count[p] = 0
        point = self.points[p]
        self._active.pop(point, None)
        self.recovered.append(point)

    def _silence(self, now: float) -> list[SensorFault]:
        """New silent faults at ``now``."""
        timeout = np.fmax(self.silent_after, self.silent_intervals * self._interval)
        overdue = np.isfinite(self._last_t) & ~self._silent & (now - self._last_t > timeout)
        found: list[SensorFault] = []
        detected = _time(now)
        for p in np.flatnonzero(overdue):
            self._silent[p] = True
            point = self.points[p]
            usual = self._interval[p]
            every = f"; it reported every {usual:.0f} s before" if math.isfinite(usual) else ""
            fault = SensorFault(
                point,
                "silent",
                _time(self._last_t[p]),
                f"{point} has sent nothing for {now - self._last_t[p]:.0f} s "
                f"(timeout {timeout[p]:.0f} s{every})",
                detected,
            )
            if point not in self._active:
                self._active[point] = fault
            found.append(fault)
        return found


def _value(value: float, unit: str) -> str:
    """A reading with its unit, e.g. ``23.40 °C``."""
    if unit == "degC":
        return f"{value:.2f} °C"
    if unit == "1":
        return f"{value:.3f}"
    return f"{value:.2f} {unit}"


def _delta(value: float, unit: str) -> str:
    """A difference with its unit (K for temperatures), e.g. ``1.8 K``."""
    if unit == "degC":
        return f"{value:.2f} K"
    if unit == "1":
        return f"{value:.3f}"
    return f"{value:.2f} {unit}"
