"""Progress of long computations: ``progress(stage, fraction)`` callbacks.

A :data:`Progress` callback receives the name of the stage now running and the fraction of
the whole task done so far [-] (0 at the start, 1 at the end).  :class:`Tracker` wraps a
callback (or none) so that the fractions it passes on are clipped to [0, 1] and never go
down, and :meth:`Tracker.part` hands a sub-task its own 0 → 1 over a slice of the parent's
range.  The planner (:class:`optimizer.planner.PlanSolver`, :func:`optimizer.plan.plan`, the
verification loop of :mod:`optimizer.verify`) and the sizing studies report through it; the
CLI draws the bars (:mod:`twin.cli.progress`).
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, float], None]
"""``progress(stage, fraction)``: stage name, fraction of the whole task done [-] (0 → 1)."""


class Tracker:
    """Reports one task's progress to ``callback`` with fractions clipped and monotonic.

    Parameters
    ----------
    callback
        Receiver of ``(stage, fraction)``; None: nothing is reported (calls are cheap).
    """

    def __init__(self, callback: Progress | None = None) -> None:
        self.callback = callback
        self.last = 0.0
        """Highest fraction reported so far [-]."""

    def __call__(self, stage: str, fraction: float) -> None:
        """Report that ``stage`` runs with ``fraction`` [-] of the task done."""
        self.last = max(self.last, min(max(float(fraction), 0.0), 1.0))
        if self.callback is not None:
            self.callback(stage, self.last)

    def part(self, start: float, stop: float) -> Tracker:
        """A tracker for a sub-task whose 0 → 1 is ``start`` → ``stop`` [-] of this one."""

        def scaled(stage: str, fraction: float) -> None:
            self(stage, start + (stop - start) * fraction)

        return Tracker(scaled if self.callback is not None else None)

    def done(self, stage: str = "done") -> None:
        """Report the end of the task (fraction 1)."""
        self(stage, 1.0)


def tracker(progress: Progress | Tracker | None) -> Tracker:
    """``progress`` as a :class:`Tracker` (a tracker is returned as is)."""
    return progress if isinstance(progress, Tracker) else Tracker(progress)


__all__ = ["Progress", "Tracker", "tracker"]
