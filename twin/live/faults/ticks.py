"""Screening several ticks of a batch at once: the fault detector's fast path.

:meth:`twin.live.faults.FaultDetector.check` processes a batch's readings layer by layer (the
first reading of each point, then the second, ...), one pass of numpy calls per layer, because
its state — residual rings and their medians, baseline, CUSUM, runs, the peers' common-mode
median — moves reading by reading.  A batch of 36 points × 27 ticks is 27 such passes.

:func:`screen_ticks` takes a run of consecutive layers over the same points (a point × tick
matrix) and computes what the per-layer passes would, tick by tick only where the state feeds
back within a tick's arithmetic (the baseline and the common-mode median; the interval, change
rate and CUSUM averages), and for all ticks at once elsewhere: residual steps, the noise σ and
the spike centre as medians of sliding windows over the rings, the robust z, the drift means,
the recurring-value counts.  It then keeps the longest prefix of ticks in which nothing
happens — every reading fresh (in time order) with a changed value and a finite residual, no
outlier, no drift, no recurring value — writes the state the per-layer passes would have left
after that prefix, and returns its length.  The detector screens the first tick where
something happens with its exact per-layer pass, then tries again from the next.  Every
decision, fault time and state array is the per-layer code's, bit for bit (the same
floating-point operations on the same operands in the same order; tested on random batches).

The fast path applies only to points that are all healthy, warm, with full residual rings and
a finite prediction; otherwise it returns 0 at once and the per-layer pass runs.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from twin.live.faults.history import PointHistory, nan_to_num, row_median

if TYPE_CHECKING:
    from twin.live.faults.detector import FaultDetector, SensorFault

__all__ = ["screen_layers", "screen_ticks"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

_HEALTHY = 0  # twin.live.faults' status of a point neither stuck nor drifting
_MAD_TO_STD = 1.4826  # as twin.live.faults


def _first(bad: BoolArray | np.bool_, size: int) -> int:
    """Index of the first true entry of ``bad``, ``size`` if none."""
    hits = np.asarray(bad).nonzero()[0]
    return int(hits[0]) if hits.size else size


def _windows(old: FloatArray, new: FloatArray, start: int) -> FloatArray:
    """Ring contents over the ticks: ``old`` (P, w) oldest first, then ``new`` (P, K) pushed
    one per tick; row ``(p, k)`` of the result is point p's ring after ``k + start`` pushes,
    oldest first, as one C-contiguous (P·K, w) array."""
    width, ticks = old.shape[1], new.shape[1]
    sequence = np.concatenate((old, new), axis=1)
    view = sliding_window_view(sequence, width, axis=1)[:, start : start + ticks]
    return np.ascontiguousarray(view).reshape(-1, width)


def _ordered(ring: FloatArray, head: IntArray, i: IntArray) -> FloatArray:
    """Rows ``i`` of a ring buffer, oldest first."""
    width = ring.shape[1]
    columns = (head[i, None] + np.arange(width)) % width
    return ring[i[:, None], columns]


def _append(
    rings: tuple[FloatArray, ...], head: IntArray, i: IntArray, new: list[FloatArray]
) -> None:
    """Push the columns of each ``new`` (P, n) into the rows ``i`` of the matching ring, as n
    pushes one by one would (only the last ``width`` pushes stay)."""
    width, n = rings[0].shape[1], new[0].shape[1]
    last = min(n, width)
    columns = (head[i, None] + np.arange(n - last, n)) % width
    for ring, values in zip(rings, new, strict=True):
        ring[i[:, None], columns] = values[:, n - last :]
    head[i] = (head[i] + n) % width


class _Peers:
    """The common-mode median of a fixed set of points (all eligible): each group's members as
    a NaN-padded index matrix, so one tick's medians are one sort.  ``others``: the groups of
    points that are not eligible (their common mode is their group's median too)."""

    def __init__(self, groups: IntArray, others: IntArray, min_peers: int) -> None:
        size = groups.size
        member = groups >= 0
        names, position, counts = np.unique(groups[member], return_inverse=True, return_counts=True)
        rows = member.nonzero()[0]
        order = np.argsort(position, kind="stable")
        first = np.r_[0, np.cumsum(counts)[:-1]]
        matrix = np.full((names.size, int(counts.max(initial=1))), size)
        ranked = position[order]
        matrix[ranked, np.arange(rows.size) - first[ranked]] = rows[order]
        self.none = bool(member.sum() < min_peers or names.size == 0)
        self.matrix = matrix
        self.rows = np.arange(names.size)
        self.low, self.high = (counts - 1) // 2, counts // 2
        self.where, self.enough = self._lookup(names, counts, groups, min_peers)
        self.other_where, self.other_enough = self._lookup(names, counts, others, min_peers)
        self.padded = np.full(size + 1, np.nan)
        self.medians: list[FloatArray] = []

    @staticmethod
    def _lookup(
        names: IntArray, counts: IntArray, groups: IntArray, min_peers: int
    ) -> tuple[IntArray, BoolArray]:
        """Each point's group among ``names`` and whether it has enough peers (as
        ``FaultDetector._common_mode``)."""
        where = np.searchsorted(names, groups).clip(0, max(names.size - 1, 0))
        if names.size == 0:
            return where, np.zeros(groups.size, dtype=bool)
        member = (names[where] == groups) & (groups >= 0)
        return where, member & (counts[where] >= min_peers)

    def median(self, raw: FloatArray) -> FloatArray:
        """Common mode of each point for residuals ``raw`` (finite) [unit]; the groups'
        medians are kept for :meth:`others`."""
        if self.none:
            return np.zeros(raw.size)
        self.padded[:-1] = raw
        ordered = np.sort(self.padded[self.matrix], axis=1)
        median = (ordered[self.rows, self.low] + ordered[self.rows, self.high]) / 2.0
        self.medians.append(median)
        return np.where(self.enough, median[self.where], 0.0)

    def others(self, tick: int) -> FloatArray:
        """Common mode of the ineligible points at a tick [unit]."""
        if self.none:
            return np.zeros(self.other_where.size)
        return np.where(self.other_enough, self.medians[tick][self.other_where], 0.0)


def _ready(detector: FaultDetector, i: IntArray, m: FloatArray) -> bool:
    """The points qualify for the fast path (healthy, warm, finite history)."""
    history = detector._history
    return bool(
        np.isfinite(m).all()
        and (detector._status[i] == _HEALTHY).all()
        and history.warm[i].all()
        and np.isfinite(history.last_residual[i]).all()
        and np.isfinite(history.last_value[i]).all()
        and np.isfinite(history.baseline[i]).all()
    )


def screen_layers(
    detector: FaultDetector,
    idx: IntArray,
    times: FloatArray,
    values: FloatArray,
    rank: IntArray,
    count: IntArray,
    prediction: FloatArray,
    now: float,
    faults: list[SensorFault],
) -> Iterator[tuple[IntArray, BoolArray]]:
    """Screen a check's readings layer by layer, runs of quiet layers over the same points at
    once (:func:`screen_ticks`).

    Parameters
    ----------
    detector
        The detector.
    idx, times, values
        The readings' points, times [s since 1970-01-01 UTC] and values [unit], sorted by point
        then time.
    rank, count
        Each reading's place among its point's readings [-] and its point's readings [-].
    prediction
        Model prediction of every point [unit]; NaN without one.
    now
        Time of the check [s since 1970-01-01 UTC].
    faults
        Where new faults are appended.

    Yields
    ------
    positions, kept
        Positions of readings (in the sorted order) and whether each is kept.
    """
    layers, layer, misses = int(rank.max()) + 1, 0, 0
    while layer < layers:
        sel = (rank == layer).nonzero()[0]
        if detector.tick_batching and misses < 2:  # after two misses, one pass per layer
            run = sel[:, None] + np.arange(int(count[sel].min()) - layer)
            kept = screen_ticks(
                detector, idx[sel], times[run], values[run], prediction, now, faults
            )
            if kept.shape[1]:
                yield run[:, : kept.shape[1]].ravel(), kept.ravel()
                layer, misses = layer + kept.shape[1], 0
                continue
            misses += 1
        yield sel, detector._layer(idx[sel], times[sel], values[sel], prediction, now, faults)
        layer += 1


def screen_ticks(
    detector: FaultDetector,
    i: IntArray,
    t: FloatArray,
    v: FloatArray,
    prediction: FloatArray,
    now: float,
    faults: list[SensorFault],
) -> BoolArray:
    """Screen readings of points ``i`` at ``K`` ticks, committing the quiet prefix.

    The points that feed the common mode (healthy, warm, with a prediction) are screened
    together; the others (faulty, warming up, without prediction: their residuals do not
    move their peers') one tick at a time with the detector's own pass, given the common
    mode.  The run stops before the first tick where an eligible point's reading is late, has
    not changed, or is an outlier, a drift or a recurring value, and after a tick where an
    ineligible point becomes eligible.

    Parameters
    ----------
    detector
        The detector whose state is read and advanced.
    i
        Points (distinct, ascending: the detector's layer order), shape (P,).
    t, v
        Reading times [s since 1970-01-01 UTC] and values [unit] (finite), shape (P, K); column
        k is the detector's k-th layer of the run.
    prediction
        Model prediction of every point of the catalogue [unit]; NaN without one.
    now
        Time of the check [s since 1970-01-01 UTC] (the detection time of faults).
    faults
        Where new faults (of ineligible points) are appended.

    Returns
    -------
    numpy.ndarray
        Whether each reading of the ticks screened is kept, shape (P, n), n from 0 (nothing
        done) to K.  The detector's state is that of the per-layer passes over those ticks.
    """
    history = detector._history
    m = prediction[i]
    eligible = (detector._status[i] == _HEALTHY) & history.warm[i] & np.isfinite(m)
    a, p = eligible.nonzero()[0], (~eligible).nonzero()[0]
    if a.size == 0 or not _ready(detector, i[a], m[a]):
        return np.zeros((i.size, 0), dtype=bool)
    peers = _Peers(detector._group[i[a]], detector._group[i[p]], detector.min_peers)
    with np.errstate(all="ignore"):  # ticks past the first event hold garbage: not committed
        found = _quiet(detector, i[a], t[a], v[a], m[a], peers)
    if found is None:
        return np.zeros((i.size, 0), dtype=bool)
    ticks, e, baseline, steps, sigma, gap, runs = found
    fresh = eligible | (t[:, 0] > history.last_time[i])
    detector._clear_silence(i[fresh])  # in layer order, as the first layer would
    kept = np.ones((i.size, ticks), dtype=bool)
    for k in range(ticks if p.size else 0):
        kept[p, k] = detector._layer(
            i[p], t[p, k], v[p, k], prediction, now, faults, common=peers.others(k)
        )
        joins = (detector._status[i[p]] == _HEALTHY) & history.warm[i[p]] & np.isfinite(m[p])
        if joins.any():  # from the next tick it moves its peers' common mode
            ticks = k + 1
            kept = kept[:, :ticks]
            break
    ia, ta = i[a], t[a, :ticks]
    _commit(detector, ia, ta, v[a, :ticks], gap, e[:, :ticks], steps, sigma, runs)
    history.baseline[ia] = baseline[ticks - 1]
    return kept


@dataclass
class _Runs:
    """The runs of unchanged values after each tick, shape (P, K) (as
    ``PointHistory.track_runs`` leaves them)."""

    same: BoolArray
    run: IntArray
    start: FloatArray
    low: FloatArray
    high: FloatArray
    rate: FloatArray
    """``change_rate``."""
    run_rate: FloatArray
    """``run_change_rate``."""


def _runs(
    detector: FaultDetector, i: IntArray, t: FloatArray, v: FloatArray, m: FloatArray
) -> _Runs:
    """Runs of unchanged values over the ticks of ``t`` and ``v`` (P, K)."""
    history = detector._history
    points, ticks = t.shape
    previous = np.concatenate((history.last_value[i, None], v[:, :-1]), axis=1)
    same = np.abs(v - previous) <= detector.stuck_tolerance  # previous values finite
    step = np.arange(ticks)
    last = np.maximum.accumulate(np.where(same, -1, step), axis=1)  # the run's first tick
    began = last >= 0
    rows, first = np.arange(points)[:, None], np.maximum(last, 0)
    run = np.where(began, step - last + 1, history.run_count[i, None] + step + 1)
    low = np.where(began, m[:, None], np.fmin(history.run_model_low[i], m)[:, None])
    high = np.where(began, m[:, None], np.fmax(history.run_model_high[i], m)[:, None])
    rate, rates = history.change_rate[i], np.empty((ticks, points))
    changed = (~same).T.astype(np.float64)  # ~same − rate, as track_runs
    for k in range(ticks):
        rate = rate + (changed[k] - rate) / detector.window
        rates[k] = rate
    rate_t = rates.T.copy()
    return _Runs(
        same=same,
        run=run,
        start=np.where(began, t[rows, first], history.run_start[i, None]),
        low=low,
        high=high,
        rate=rate_t,
        run_rate=np.where(began, rate_t[rows, first], history.run_change_rate[i, None]),
    )


def _stuck(
    detector: FaultDetector,
    t: FloatArray,
    v: FloatArray,
    m: FloatArray,
    change_floor: FloatArray,
    runs: _Runs,
) -> BoolArray:
    """The run-based stuck rules at each tick of ``t`` (P, K) (as
    ``FaultDetector._check_stuck``)."""
    n = t.shape[1]
    run = runs.run[:, :n]
    long_run = (
        (run >= detector.stuck_readings_long)
        & (t - runs.start[:, :n] >= detector.stuck_window)
        & (runs.run_rate[:, :n] >= 0.5)
        & ~(np.abs(v - m[:, None]) <= detector.stuck_tolerance)
    )
    moved = runs.high[:, :n] - runs.low[:, :n]
    model_run = (run >= detector.stuck_readings) & (nan_to_num(moved) >= change_floor[:, None])
    return np.asarray(long_run | model_run)


def _quiet(
    detector: FaultDetector,
    i: IntArray,
    t: FloatArray,
    v: FloatArray,
    m: FloatArray,
    peers: _Peers,
) -> tuple[int, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, _Runs] | None:
    """The quiet ticks of eligible points: their count, the residuals (P, K), the baseline
    after each tick (K, P), the residual steps and σ (P, K), the reading gaps (P, K) [s], the
    runs; ``None`` when the first tick is not quiet."""
    history = detector._history
    before = np.concatenate((history.last_time[i, None], t[:, :-1]), axis=1)
    ticks = _first(~(t > before).all(axis=0), t.shape[1])
    if ticks == 0:
        return None
    t, v, gap = t[:, :ticks], v[:, :ticks], (t - before)[:, :ticks]
    runs = _runs(detector, i, t, v, m)
    e, baseline, ticks = _chain(detector, i, v - m[:, None], gap, peers)
    if ticks == 0:
        return None
    found = _judge(detector, i, m, t[:, :ticks], v[:, :ticks], e[:, :ticks], runs)
    if found is None:
        return None
    quiet, steps, sigma = found
    return quiet, e, baseline, steps, sigma, gap, runs


def _chain(
    detector: FaultDetector, i: IntArray, r: FloatArray, gap: FloatArray, peers: _Peers
) -> tuple[FloatArray, FloatArray, int]:
    """The baseline and common mode, tick by tick: residuals ``e`` (P, K), the baseline after
    each tick (K, P), and the ticks before the first non-finite residual."""
    history = detector._history
    rate = np.minimum(
        np.where(gap == np.inf, 0.0, gap) / detector.baseline_time, 1 / detector.window
    )
    ticks = r.shape[1]
    b = history.baseline[i]
    raws, es, baselines = (
        np.empty((ticks, i.size)),
        np.empty((ticks, i.size)),
        np.empty((ticks, i.size)),
    )
    rt, ratet = r.T.copy(), rate.T.copy()
    for k in range(ticks):
        raw = rt[k] - b
        e = raw - peers.median(raw)
        b = b + ratet[k] * e
        raws[k], es[k], baselines[k] = raw, e, b
    finite = np.isfinite(raws).all(axis=1) & np.isfinite(es).all(axis=1)
    return es.T.copy(), baselines, _first(np.asarray(~finite), ticks)


def _judge(
    detector: FaultDetector,
    i: IntArray,
    m: FloatArray,
    t: FloatArray,
    v: FloatArray,
    e: FloatArray,
    runs: _Runs,
) -> tuple[int, FloatArray, FloatArray] | None:
    """The spike, drift and recurring-value tests of every tick at once: the ticks before the
    first that finds anything, the residual steps (P, K) and the noise σ (P, K); ``None``
    when the first tick finds something."""
    history, repeats = detector._history, detector._repeats
    points, ticks = e.shape
    w, half = detector.window, detector.window // 2
    last = np.concatenate((history.last_residual[i, None], e[:, :-1]), axis=1)
    steps = np.abs(e - last)
    filled = np.minimum(history.step_count[i, None] + np.arange(ticks), detector.noise_window)
    old_steps = _ordered(history.steps, history.step_head, i)
    spread = row_median(_windows(old_steps, steps, 0), filled.ravel()).reshape(points, ticks)
    noise, drift_floor, change_floor = detector._floors(i, m)
    sigma = np.maximum(nan_to_num(_MAD_TO_STD * spread / math.sqrt(2.0)), noise[:, None])
    sigma = np.maximum(sigma, 1e-12)
    old = history.ordered_residuals(i)
    filled = np.minimum(history.residual_count[i, None] + np.arange(ticks), w)
    center = row_median(_windows(old, e, 0), filled.ravel()).reshape(points, ticks)
    outlier = (filled >= half) & (np.abs(e - center) / sigma > detector.spike_threshold)
    ordered = _windows(old, e, 1)  # the rings after each tick's push, oldest first
    add = np.add.reduce  # as FaultDetector._check_drift
    mean = (add(ordered, axis=1) / w).reshape(points, ticks)
    older = (add(ordered[:, :half], axis=1) / half).reshape(points, ticks)
    newer = (add(ordered[:, half:], axis=1) / (w - half)).reshape(points, ticks)
    limit = np.maximum(detector.drift_threshold * sigma, drift_floor[:, None])
    drift = (
        (np.abs(mean) > limit)
        & (np.abs(newer) >= np.abs(older))
        & (np.sign(newer) == np.sign(mean))
    )
    outlier |= drift | _stuck(detector, t, v, m, change_floor, runs)
    values = _windows(_ordered(repeats.values, repeats.head, i), v, 1)
    recurs = np.abs(values.reshape(points, ticks, -1) - v[:, :, None]) <= detector.stuck_tolerance
    check = (recurs.sum(axis=2) >= repeats.min_repeats).ravel().nonzero()[0]
    if check.size:  # a recurring value: interleaved stuck?
        times = _windows(_ordered(repeats.times, repeats.head, i), t, 1)
        flagged = repeats.check_rings(values[check], times[check])[0]
        outlier.ravel()[check[flagged]] = True
    quiet = _first(outlier.any(axis=0), ticks)
    return (quiet, steps, sigma) if quiet else None


def _commit(
    detector: FaultDetector,
    i: IntArray,
    t: FloatArray,
    v: FloatArray,
    gap: FloatArray,
    e: FloatArray,
    steps: FloatArray,
    sigma: FloatArray,
    runs: _Runs,
) -> None:
    """Write the state of the per-layer passes after the ticks of ``t`` (P, n), all kept:
    every history array but the baseline (the caller's)."""
    history: PointHistory = detector._history
    n = t.shape[1]
    gaps = gap[:, :n].T.copy()
    interval = history.interval[i]
    interval = np.where(np.isfinite(interval), 0.8 * interval + 0.2 * gaps[0], gaps[0])
    for k in range(1, n):  # finite from the first tick on
        interval = 0.8 * interval + 0.2 * gaps[k]
    u = (e / sigma[:, :n]).T
    pushes = np.stack((u, -u), axis=2)  # (n, P, 2); c − u is c + (−u) exactly
    allowance = detector.cusum_allowance
    cusum = np.empty((n + 1, *history.cusum[i].shape))
    cusum[0] = history.cusum[i]
    for k in range(n):
        np.maximum(cusum[k] + pushes[k] - allowance, 0.0, out=cusum[k + 1])
    # each side's start: the time of the last tick that found it at 0 (as PointHistory.push)
    zero = np.where(cusum[:n] <= 0, np.arange(n)[:, None, None], -1)
    latest = np.maximum.accumulate(zero, axis=0)[-1]  # (P, 2)
    started = t[np.arange(t.shape[0])[:, None], np.maximum(latest, 0)]
    start = np.where(latest >= 0, started, history.cusum_start[i])
    last = n - 1
    history.last_time[i] = t[:, last]
    history.interval[i] = interval
    history.last_value[i] = v[:, last]
    history.change_rate[i] = runs.rate[:, last]
    history.run_change_rate[i] = runs.run_rate[:, last]
    history.run_count[i] = runs.run[:, last]
    history.run_start[i] = runs.start[:, last]
    history.run_model_low[i] = runs.low[:, last]
    history.run_model_high[i] = runs.high[:, last]
    repeats = detector._repeats
    _append((repeats.values, repeats.times), repeats.head, i, [v, t])
    _append((history.residuals,), history.residual_head, i, [e])
    history.residual_count[i] = np.minimum(history.residual_count[i] + n, detector.window)
    _append((history.steps,), history.step_head, i, [steps[:, :n]])
    history.step_count[i] = np.minimum(history.step_count[i] + n, detector.noise_window)
    history.last_residual[i] = e[:, last]
    history.cusum[i], history.cusum_start[i] = cusum[n], start
    detector._spikes[i] = 0
