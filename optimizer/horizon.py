"""The planning axis: fine steps first, coarser periods later, boundaries where contracts change.

A plan looks ahead far enough to contain every deadline it plans for (otherwise a short
window "saves" by pushing work past its end), but a week at 15 min over thousands of racks is a
big model.  The look-ahead is therefore cut into *periods*: every fine step of the series for
the first ``fine_hours`` (the decisions applied soonest), then periods of ``coarse_hours``,
with extra boundaries at every job release and deadline and at the edges of demand-response
events so that no period straddles a contract instant.  The physics always runs on the fine
steps: a period's decisions are held over its fine steps (:meth:`PlanningAxis.expand`) and the
plan is verified there.

>>> axis = planning_axis(time, fine_hours=24, coarse_hours=1)     # doctest: +SKIP
>>> axis.periods, axis.period_hours[:3], axis.period_hours[-1]    # doctest: +SKIP
(240, array([0.25, 0.25, 0.25]), 1.0)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from physics.constants import SECONDS_PER_HOUR
from physics.facility import Facility
from physics.schedule import step_seconds

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
TimeArray = NDArray[np.datetime64]

DEFAULT_FINE_HOURS = 24.0
"""Length of the look-ahead planned at the series' own step [h]."""

DEFAULT_COARSE_HOURS = 1.0
"""Length of the periods after that [h]."""

DEFAULT_LOOKAHEAD_CAP_HOURS = 7 * 24.0
"""Longest look-ahead a plan extends to for the deadlines it contains [h]."""

Reduction = Literal["mean", "max", "min"]


@dataclass(frozen=True)
class PlanningAxis:
    """Periods of a plan over the fine (regular) time axis of its series.

    Attributes
    ----------
    fine_time
        Start of every fine step, UTC ``datetime64[ns]``, shape (N,).
    step_seconds
        Length of a fine step [s].
    bounds
        Period ``k`` covers the fine steps ``bounds[k]`` to ``bounds[k + 1] - 1``; shape
        (K + 1,), ``bounds[0] = 0`` and ``bounds[-1] = N``.
    """

    fine_time: TimeArray
    step_seconds: float
    bounds: IntArray

    @property
    def periods(self) -> int:
        """Number of periods K [-]."""
        return int(self.bounds.size - 1)

    @property
    def steps(self) -> int:
        """Number of fine steps N [-]."""
        return int(self.fine_time.size)

    @property
    def counts(self) -> IntArray:
        """Fine steps per period [-], shape (K,)."""
        return np.diff(self.bounds)

    @property
    def period_hours(self) -> FloatArray:
        """Length of each period [h], shape (K,)."""
        return np.asarray(self.counts * self.step_seconds / SECONDS_PER_HOUR, dtype=np.float64)

    @property
    def start(self) -> TimeArray:
        """Start of each period, UTC, shape (K,)."""
        return self.fine_time[self.bounds[:-1]]

    @property
    def end(self) -> TimeArray:
        """End of each period (the start of the next), UTC, shape (K,)."""
        return self.start + (self.counts * self._step).astype("timedelta64[ns]")

    @property
    def end_time(self) -> np.datetime64:
        """End of the look-ahead, UTC."""
        return self.fine_time[-1] + self._step

    @property
    def _step(self) -> np.timedelta64:
        return np.timedelta64(round(self.step_seconds * 1e9), "ns")

    @property
    def is_fine(self) -> bool:
        """Whether every period is one fine step."""
        return bool(np.all(self.counts == 1))

    def period_of(self, fine_step: IntArray | int) -> IntArray:
        """Index of the period holding each fine step [-]."""
        return np.searchsorted(self.bounds, fine_step, side="right") - 1

    def expand(self, values: np.ndarray, axis: int = 0) -> np.ndarray:
        """Hold each period's value over its fine steps (length K → N along ``axis``)."""
        return np.repeat(values, self.counts, axis=axis)

    def reduce(self, values: np.ndarray, how: Reduction = "mean", axis: int = 0) -> np.ndarray:
        """Mean, max or min of fine-step values per period (length N → K along ``axis``).

        NaN values are ignored by ``max`` and ``min`` (a period with only NaN stays NaN).
        """
        values = np.asarray(values, dtype=float)
        if self.is_fine:
            return values
        starts = self.bounds[:-1]
        if how == "mean":
            total = np.add.reduceat(values, starts, axis=axis)
            shape = [1] * values.ndim
            shape[axis] = self.periods
            return total / self.counts.reshape(shape)
        fill = -np.inf if how == "max" else np.inf
        filled = np.where(np.isnan(values), fill, values)
        ufunc = np.maximum if how == "max" else np.minimum
        reduced = ufunc.reduceat(filled, starts, axis=axis)
        return np.where(np.isinf(reduced), np.nan, reduced)


def planning_axis(
    time: TimeArray,
    *,
    fine_hours: float = DEFAULT_FINE_HOURS,
    coarse_hours: float = DEFAULT_COARSE_HOURS,
    breakpoints: Iterable[np.datetime64] = (),
) -> PlanningAxis:
    """The periods of a plan over the regular axis ``time``.

    Parameters
    ----------
    time
        Start of every fine step, regular, UTC ``datetime64``, shape (N,).
    fine_hours
        Look-ahead kept at the fine step from the start [h] (``inf``: all of it).
    coarse_hours
        Length of the later periods [h]; at most the fine step means no coarsening.
    breakpoints
        Instants at which a period must start (job releases and deadlines, event edges); each
        is rounded down to a fine step, those outside the axis are ignored.

    Returns
    -------
    PlanningAxis

    Raises
    ------
    ValueError
        If the axis has fewer than two steps or is not regular, or ``coarse_hours`` is not
        positive.
    """
    time = np.asarray(time, dtype="datetime64[ns]")
    step = step_seconds(time)
    if not coarse_hours > 0:
        raise ValueError(f"coarse_hours must be > 0 h, got {coarse_hours}")
    steps = time.size
    per_period = max(1, round(coarse_hours * SECONDS_PER_HOUR / step))
    fine = steps if not np.isfinite(fine_hours) else int(np.ceil(fine_hours * 3600 / step - 1e-9))
    fine = min(max(fine, 0), steps)
    bounds = {0, steps, *range(fine), *range(fine, steps, per_period)}
    offsets = (np.asarray(list(breakpoints), dtype="datetime64[ns]") - time[0]) / np.timedelta64(
        round(step * 1e9), "ns"
    )
    for index in np.floor(np.asarray(offsets, dtype=float)):
        if 0 < index < steps:
            bounds.add(int(index))
    return PlanningAxis(time, step, np.array(sorted(bounds), dtype=np.int64))


def contract_instants(
    facility: Facility, dr_cap: FloatArray, time: TimeArray
) -> list[np.datetime64]:
    """Instants where a period must begin: tier-3 releases and deadlines, DR event edges.

    Parameters
    ----------
    facility
        Compiled facility (its tier-3 jobs).
    dr_cap
        Demand-response import cap per fine step, NaN outside events, shape (N,).
    time
        Fine time axis, UTC, shape (N,).
    """
    work = facility.workloads
    instants: list[np.datetime64] = []
    for j in np.flatnonzero(work.tier == 3):
        instants += [work.release[j], work.deadline[j]]
    active = np.isfinite(np.asarray(dr_cap, dtype=float))
    edges = np.flatnonzero(np.diff(active.astype(int)) != 0) + 1
    instants += [time[i] for i in edges]
    # a change of cap inside an event is an edge too
    changes = np.flatnonzero(active[1:] & active[:-1] & (np.diff(np.nan_to_num(dr_cap)) != 0)) + 1
    instants += [time[i] for i in changes]
    return instants


def lookahead_end(
    facility: Facility,
    start: np.datetime64,
    committed_end: np.datetime64,
    cap_hours: float = DEFAULT_LOOKAHEAD_CAP_HOURS,
    job_energy_done: dict[str, float] | None = None,
) -> np.datetime64:
    """End of the look-ahead a plan needs: the committed end or the latest deadline of a job
    active in it, at most ``cap_hours`` after ``start``.

    A tier-3 job is active when it is released before the committed end, its deadline lies
    after ``start`` and it has energy left (its energy less ``job_energy_done`` [kWh]).

    Parameters
    ----------
    facility
        Compiled facility.
    start, committed_end
        Start of the plan and end of the period whose decisions are committed, UTC.
    cap_hours
        Longest look-ahead [h].
    job_energy_done
        Tier-3 energy already delivered [kWh] by workload id.

    Returns
    -------
    numpy.datetime64
        End of the look-ahead, UTC (≥ ``committed_end`` unless the cap is shorter).
    """
    work = facility.workloads
    done = job_energy_done or {}
    end = _ns(committed_end)
    start = _ns(start)
    for j in np.flatnonzero(work.tier == 3):
        left = float(work.energy[j]) / 3.6e6 - done.get(work.ids[j], 0.0)
        if left <= 1e-9 or work.release[j] >= end or work.deadline[j] <= start:
            continue
        end = max(end, _ns(work.deadline[j]))
    cap = start + np.timedelta64(round(cap_hours * SECONDS_PER_HOUR * 1e9), "ns")
    return min(end, max(cap, _ns(committed_end)))


def _ns(value: object) -> np.datetime64:
    """An instant (datetime64, aware datetime or ISO text) as UTC ``datetime64[ns]``."""
    if hasattr(value, "tzinfo") and getattr(value, "tzinfo", None) is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)  # type: ignore[attr-defined]
    return np.asarray(value, dtype="datetime64[ns]")[()]  # type: ignore[return-value]
