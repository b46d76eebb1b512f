"""A sensor stuck at a plausible value *between* good readings: one value that keeps recurring.

A second source writing to a point (a gateway replaying a cached value, two channels mapped to
one point, a multiplexer that skips a channel) produces a fixed value interleaved with the live
sensor's readings.  The run-based stuck rules of :mod:`twin.live.faults` never see it (the
value changes at every other reading), and when the fixed value is plausible no residual test
does either.  What gives it away is exact repetition: a live sensor with a fine resolution
practically never reads the same value twice, let alone four times in twenty readings.

:class:`RepeatedValues` keeps each point's last ``window`` values (every fresh reading, spikes
included) and flags a point when, over that window,

* one value recurs at least ``min_repeats`` times (within ``tolerance``),
* in at least ``min_runs`` separate runs (interleaved, not one frozen stretch: that is the
  run-based stuck rule's case), and
* the other readings are mostly distinct (at least ``distinct_share`` of them are values seen
  once), so that a quantized sensor — which repeats its few levels all the time — is not
  flagged.

The flag lasts until the recurring value has left the window, which is also what readmits the
point (:meth:`twin.live.faults.FaultDetector` requires it besides its usual recovery rule).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["RepeatedValues"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


class RepeatedValues:
    """The last values of ``count`` points and the recurring-value test.

    Parameters
    ----------
    count
        Points [-].
    window
        Values kept per point [-].
    min_repeats
        Occurrences of one value that make it recurring [-].
    min_runs
        Separate runs the recurring value must form [-].
    distinct_share
        Share of the other readings that must be values seen once [-].
    tolerance
        Two values closer than this are equal [unit].
    """

    def __init__(
        self,
        count: int,
        window: int = 20,
        min_repeats: int = 4,
        min_runs: int = 3,
        distinct_share: float = 0.8,
        tolerance: float = 1e-9,
    ) -> None:
        if min_repeats < 2 or min_runs < 2 or window < min_repeats + min_runs - 1:
            raise ValueError(
                f"need min_repeats ≥ 2, min_runs ≥ 2 and a window of at least "
                f"min_repeats + min_runs − 1 values (got {min_repeats}, {min_runs}, {window})"
            )
        self.window = int(window)
        self.min_repeats = int(min_repeats)
        self.min_runs = int(min_runs)
        self.distinct_share = float(distinct_share)
        self.tolerance = float(tolerance)
        self.values = np.full((count, window), np.nan)
        """Ring of the last values (n, window) [unit]."""
        self.times = np.full((count, window), np.nan)
        """Their reading times (n, window) [s since 1970-01-01 UTC]."""
        self.head = np.zeros(count, dtype=np.int64)
        """Next slot of each ring."""

    def push(self, i: IntArray, t: FloatArray, v: FloatArray) -> None:
        """Add values ``v`` read at ``t`` [s] of points ``i`` (distinct)."""
        self.values[i, self.head[i]] = v
        self.times[i, self.head[i]] = t
        self.head[i] = (self.head[i] + 1) % self.window

    def forget(self, p: int) -> None:
        """Point ``p`` starts afresh."""
        self.values[p] = np.nan
        self.times[p] = np.nan
        self.head[p] = 0

    def check(self, i: IntArray) -> tuple[BoolArray, FloatArray, IntArray, FloatArray]:
        """The recurring-value test on points ``i``.

        Returns
        -------
        flagged
            The point has a recurring value (see the module docstring).
        value
            The most frequent value of each point [unit] (NaN for an empty ring).
        repeats
            Its occurrences in the window [-].
        first
            Time of its first occurrence in the window [s since 1970-01-01 UTC].
        """
        order = (self.head[i, None] + np.arange(self.window)) % self.window
        ring = np.take_along_axis(self.values[i], order, axis=1)  # oldest first
        times = np.take_along_axis(self.times[i], order, axis=1)
        return self.check_rings(ring, times)

    def check_rings(
        self, ring: FloatArray, times: FloatArray
    ) -> tuple[BoolArray, FloatArray, IntArray, FloatArray]:
        """The recurring-value test on rings of values [unit] and their times [s], oldest
        first, shape (k, window); returns as :meth:`check`."""
        valid = np.isfinite(ring)
        equal = np.abs(ring[:, :, None] - ring[:, None, :]) <= self.tolerance  # NaN: False
        counts = equal.sum(axis=2)  # occurrences of each entry's value
        mode = np.argmax(counts, axis=1)
        rows = np.arange(len(ring))
        repeats = counts[rows, mode].astype(np.int64)
        value = np.where(repeats > 0, ring[rows, mode], np.nan)
        same = equal[rows, mode]  # (k, window): the entries equal to the mode, oldest first
        first = times[rows, np.argmax(same, axis=1)]
        runs = (same & ~np.c_[np.zeros((len(ring), 1), dtype=bool), same[:, :-1]]).sum(axis=1)
        others = valid & ~same
        singles = (others & (counts == 1)).sum(axis=1)
        flagged = (
            (repeats >= self.min_repeats)
            & (runs >= self.min_runs)
            & (singles >= self.distinct_share * others.sum(axis=1))
        )
        return flagged, value, repeats, first
