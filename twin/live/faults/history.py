"""Each point's recent history as the sensor-fault checks see it (:mod:`twin.live.faults`).

:class:`PointHistory` keeps, per point of the catalogue, arrays indexed by point: when it last
reported and its usual reading interval; the run of unchanged values (length, start, the
model's range over it, how often the value used to change); the ring of the last ``window``
accepted residuals and the ring of the last ``noise_window`` absolute differences between
consecutive ones (the noise estimate); the residual baseline and the two-sided CUSUM of the
drift onset.  The fault rules read these arrays; only :class:`PointHistory` writes them.
:class:`CheckLayer` is one reading of each of some points in one check, with what each rule
found.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = ["CheckLayer", "PointHistory", "gap_or_zero", "nan_to_num", "nonzero", "row_median"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


_BIG = np.finfo(np.float64).max


def nan_to_num(x: FloatArray) -> FloatArray:
    """:func:`numpy.nan_to_num` of a float array (NaN 0, ±inf ± the largest float), with
    fewer calls: the detector runs it for every reading layer."""
    return np.where(np.isnan(x), 0.0, np.minimum(np.maximum(x, -_BIG), _BIG))


def nonzero(mask: BoolArray) -> IntArray:
    """Positions of the true entries of a 1-D mask (:func:`numpy.flatnonzero`, one call)."""
    return mask.nonzero()[0]


def gap_or_zero(gap: FloatArray) -> FloatArray:
    """``numpy.nan_to_num(gap, posinf=0.0)`` [s]: a first reading's infinite gap counts 0."""
    return np.where(np.isnan(gap) | (gap == np.inf), 0.0, np.maximum(gap, -_BIG))


def row_median(values: FloatArray, counts: IntArray) -> FloatArray:
    """Median of the first ``counts`` non-NaN entries of each row (NaN-padded rows).

    Parameters
    ----------
    values
        Rows of values, NaN-padded, shape (n, w).
    counts
        Entries of each row, shape (n,) [-].

    Returns
    -------
    numpy.ndarray
        Median per row, NaN for an empty row, shape (n,).
    """
    ordered = np.sort(values, axis=1)  # NaN last
    width = values.shape[1]
    if counts.size and counts.min() == width:  # every ring full: the same middle columns
        median = 0.5 * (ordered[:, (width - 1) // 2] + ordered[:, width // 2])
        return median
    low = np.minimum(np.maximum((counts - 1) // 2, 0), width - 1)
    high = np.minimum(np.maximum(counts // 2, 0), width - 1)
    rows = np.arange(values.shape[0])
    median = 0.5 * (ordered[rows, low] + ordered[rows, high])
    return np.where(counts > 0, median, np.nan)


class PointHistory:
    """Recent readings and residuals of ``count`` points.

    Parameters
    ----------
    count
        Points [-].
    window
        Residuals kept per point, and the averaging length of the change rate [-].
    noise_window
        Residual differences kept per point for the noise estimate [-].
    stuck_tolerance
        Two values closer than this are "unchanged" [unit].

    Attributes
    ----------
    last_time
        Time of the point's last reading [s since 1970-01-01 UTC]; −inf before the first.
    interval
        Usual interval between its readings (exponential average) [s]; NaN until known.
    last_value
        Its last value [unit]; NaN before the first.
    run_count, run_start
        Readings in the current run of unchanged values [-] and the time of its first [s].
    run_model_low, run_model_high
        Range of the model's prediction over the run [unit].
    change_rate
        Share of readings whose value changed (average over ``window`` readings) [-].
    run_change_rate
        ``change_rate`` when the current run began [-].
    residuals, residual_head, residual_count
        Ring of the last accepted residuals (n, window) [unit], its next slot and its fill.
    steps, step_head, step_count
        Ring of the absolute differences of consecutive accepted residuals (n, noise_window)
        [unit], its next slot and its fill.
    last_residual
        The last accepted residual [unit]; NaN when there is none to difference against.
    baseline
        The point's usual residual, subtracted once warm [unit].
    warm
        The warm-up (``window`` accepted residuals) is done.
    cusum, cusum_start
        Upward and downward CUSUM of the residuals in σ (n, 2) [-] and when each last left 0
        [s].
    """

    def __init__(self, count: int, window: int, noise_window: int, stuck_tolerance: float):
        n = count
        self.window = window
        self.noise_window = noise_window
        self.stuck_tolerance = stuck_tolerance
        self.last_time = np.full(n, -np.inf)
        self.interval = np.full(n, np.nan)
        self.last_value = np.full(n, np.nan)
        self.run_count = np.zeros(n, dtype=np.int64)
        self.run_start = np.zeros(n)
        self.run_model_low = np.full(n, np.nan)
        self.run_model_high = np.full(n, np.nan)
        self.change_rate = np.zeros(n)
        self.run_change_rate = np.zeros(n)
        self.residuals = np.full((n, window), np.nan)
        self.residual_head = np.zeros(n, dtype=np.int64)
        self.residual_count = np.zeros(n, dtype=np.int64)
        self.steps = np.full((n, noise_window), np.nan)
        self.step_head = np.zeros(n, dtype=np.int64)
        self.step_count = np.zeros(n, dtype=np.int64)
        self.last_residual = np.full(n, np.nan)
        self.baseline = np.zeros(n)
        self.warm = np.zeros(n, dtype=bool)
        self.cusum = np.zeros((n, 2))
        self.cusum_start = np.zeros((n, 2))

    def track_intervals(self, i: IntArray, t: FloatArray) -> FloatArray:
        """Take the reading times ``t`` of points ``i`` (distinct).

        Returns
        -------
        numpy.ndarray
            Time since each point's previous reading [s]; inf for a first reading.
        """
        seen = np.isfinite(self.last_time[i])
        gap = t - self.last_time[i]
        old = self.interval[i]
        self.interval[i] = np.where(
            seen, np.where(np.isfinite(old), 0.8 * old + 0.2 * gap, gap), np.nan
        )
        self.last_time[i] = t
        return gap

    def track_runs(
        self, i: IntArray, t: FloatArray, v: FloatArray, m: FloatArray
    ) -> tuple[BoolArray, IntArray]:
        """Take the values ``v`` at ``t`` of points ``i`` (distinct), the model predicting ``m``.

        Returns
        -------
        same
            The value equals the previous one (within ``stuck_tolerance``).
        run
            Readings in the run of unchanged values, this one included [-].
        """
        prev = self.last_value[i]
        same = np.isfinite(prev) & (np.abs(v - prev) <= self.stuck_tolerance)
        rate = self.change_rate[i]
        rate = np.where(np.isfinite(prev), rate + (~same - rate) / self.window, rate)
        self.change_rate[i] = rate
        self.run_change_rate[i] = np.where(same, self.run_change_rate[i], rate)
        run = np.where(same, self.run_count[i] + 1, 1)
        self.run_count[i] = run
        self.run_start[i] = np.where(same, self.run_start[i], t)
        self.run_model_low[i] = np.where(same, np.fmin(self.run_model_low[i], m), m)
        self.run_model_high[i] = np.where(same, np.fmax(self.run_model_high[i], m), m)
        self.last_value[i] = v
        return same, run

    def center(self, i: IntArray) -> FloatArray:
        """Median of the recent accepted residuals of points ``i`` [unit]; NaN for none."""
        return row_median(self.residuals[i], self.residual_count[i])

    def step_median(self, i: IntArray) -> FloatArray:
        """Median absolute difference of consecutive accepted residuals [unit]; NaN for none."""
        return row_median(self.steps[i], self.step_count[i])

    def ordered_residuals(self, i: IntArray) -> FloatArray:
        """The residual rings of points ``i``, oldest first, shape (len(i), window) [unit]."""
        columns = (self.residual_head[i, None] + np.arange(self.window)) % self.window
        return self.residuals[i[:, None], columns]

    def push(
        self,
        i: IntArray,
        e: FloatArray,
        t: FloatArray,
        sigma: FloatArray,
        rate: FloatArray,
        allowance: float,
    ) -> None:
        """Add accepted residuals to the rings, baseline and CUSUM.

        Parameters
        ----------
        i
            Points (distinct).
        e
            Their residuals [unit].
        t
            Reading times [s].
        sigma
            Their noise estimates [unit].
        rate
            Weight of the residual in the baseline's exponential average [-].
        allowance
            CUSUM allowance [σ].
        """
        w = self.window
        last = self.last_residual[i]
        has_last = np.isfinite(last)
        d = has_last.nonzero()[0]
        if d.size:
            rows = i[d]
            self.steps[rows, self.step_head[rows]] = np.abs(e[d] - last[d])
            self.step_head[rows] = (self.step_head[rows] + 1) % self.noise_window
            self.step_count[rows] = np.minimum(self.step_count[rows] + 1, self.noise_window)
        self.last_residual[i] = e
        self.residuals[i, self.residual_head[i]] = e
        self.residual_head[i] = (self.residual_head[i] + 1) % w
        self.residual_count[i] = np.minimum(self.residual_count[i] + 1, w)
        warm = self.warm[i]
        rows = i[warm]
        if rows.size:
            ew = e[warm]
            self.baseline[rows] += rate[warm] * ew
            u = ew / sigma[warm]
            cusum = self.cusum[rows]  # (k, 2): upward, downward
            self.cusum_start[rows] = np.where(cusum <= 0, t[warm][:, None], self.cusum_start[rows])
            up = cusum[:, 0] + u - allowance
            down = cusum[:, 1] - u - allowance
            self.cusum[rows] = np.maximum(np.column_stack((up, down)), 0.0)

    def warmup_done(self, i: IntArray) -> None:
        """Points that just collected ``window`` residuals: set the baseline, start judging."""
        done = i[~self.warm[i] & (self.residual_count[i] >= self.window)]
        if done.size == 0:
            return
        base = row_median(self.residuals[done], self.residual_count[done])
        self.baseline[done] = base
        self.residuals[done] -= base[:, None]
        self.last_residual[done] -= base
        self.warm[done] = True
        self.cusum[done] = 0.0

    def relearn(self, p: int) -> None:
        """Point ``p`` is readmitted by an operator (replaced or recalibrated in place): its
        residual window, baseline and CUSUM warm up again, so a new standing bias is learned
        rather than judged against the old one; its run, change rate and intervals are kept,
        so a sensor still frozen is still seen as one."""
        self.residuals[p] = np.nan
        self.steps[p] = np.nan
        self.residual_head[p] = self.residual_count[p] = self.step_head[p] = 0
        self.step_count[p] = 0
        self.last_residual[p] = np.nan
        self.baseline[p] = 0.0
        self.warm[p] = False
        self.cusum[p] = 0.0

    def resume(self, p: int, baseline: float) -> None:
        """Point ``p``, held faulty before a restart, is judged again against the usual
        residual ``baseline`` [point unit] it had then (its warm-up is not repeated)."""
        self.baseline[p] = baseline
        self.warm[p] = True

    def restart(self, p: int) -> None:
        """Point ``p`` is readmitted after a fault: the residuals of the fault era must not
        judge it, its run and CUSUM start again (baseline and noise estimate are kept)."""
        self.cusum[p] = 0.0
        self.run_count[p] = 1
        self.last_residual[p] = np.nan
        self.residuals[p] = np.nan
        self.residual_head[p] = self.residual_count[p] = 0

    def forget(self, p: int) -> None:
        """Point ``p`` starts afresh (a replaced or moved sensor): warm-up again."""
        self.last_time[p] = -np.inf
        self.interval[p] = np.nan
        self.last_value[p] = np.nan
        self.run_count[p] = 0
        self.change_rate[p] = 0.0
        self.run_change_rate[p] = 0.0
        self.relearn(p)


@dataclass
class CheckLayer:
    """One reading of each of some points (distinct) in one check: its statistics, then what
    the check of each fault kind found.

    Every array has one entry per reading.  The detector (:mod:`twin.live.faults`) sets the
    statistics when it observes the readings; the findings (not in ``__init__``) are set by
    its checks, in order: spikes, accepted residuals, drift, stuck.
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
    """Time since the point's previous reading [s]; inf for its first one."""
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
    repeat: BoolArray = field(init=False)
    """A value recurs between readings that change (interleaved stuck)."""
    repeat_value: FloatArray = field(init=False)
    """The recurring value [unit]; NaN where not checked."""
    repeats: IntArray = field(init=False)
    """Its occurrences among the last ``window`` readings [-]."""
    repeat_since: FloatArray = field(init=False)
    """Time of its first occurrence there [s]."""
