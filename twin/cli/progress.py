"""Progress bars on stderr for the long commands (capacity, contingency, plan).

:class:`ProgressBars` draws one rich progress line per stage, with the elapsed time, a bar and
``done/total`` where the study reports its steps (:data:`twin.studies.StudyProgress`), a
percentage and the running stage where it reports fractions (:mod:`optimizer.progress`: a
plan, a capacity study), or a spinner where it reports nothing.  Bars are drawn only when
stderr is a terminal, so piped output and tests see the plain stage lines alone.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class ProgressBars:
    """Progress lines on stderr, one per stage (a no-op when stderr is not a terminal).

    Parameters
    ----------
    enabled
        Draw bars; default: when stderr is a terminal.
    """

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[last]}"),
            console=Console(stderr=True),
            disable=not self.enabled,
        )

    def __enter__(self) -> ProgressBars:
        self.progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.progress.stop()

    def reporter(self, description: str) -> StageReporter:
        """A :data:`twin.studies.StudyProgress` callback drawing a bar for one stage."""
        return StageReporter(self.progress, self.progress.add_task(description, last=""))

    def fraction(self, description: str) -> FractionReporter:
        """A :data:`optimizer.progress.Progress` callback drawing a bar for one task: its
        fraction done in percent and the stage now running."""
        task = self.progress.add_task(description, total=100, last="")
        return FractionReporter(self.progress, task)

    @contextmanager
    def stage(self, description: str) -> Iterator[None]:
        """A spinner with the elapsed time while the block runs (a stage without steps)."""
        task = self.progress.add_task(description, total=None, last="")
        try:
            yield
        finally:
            self.progress.update(task, total=1, completed=1)


class StageReporter:
    """The callback of one stage: moves its bar to ``done`` of ``total``, shows ``what``."""

    def __init__(self, progress: Progress, task: TaskID) -> None:
        self.progress = progress
        self.task = task

    def __call__(self, what: str, done: int, total: int) -> None:
        """Record that ``done`` of ``total`` steps are finished, the last being ``what``."""
        self.progress.update(self.task, completed=done, total=max(total, done), last=what)

    def finish(self) -> None:
        """Fill the bar (a bisection may end before its upper bound of steps)."""
        task = next(t for t in self.progress.tasks if t.id == self.task)
        total = task.completed or 1
        self.progress.update(self.task, completed=total, total=total)


class FractionReporter:
    """``progress(stage, fraction)``: moves one bar to ``fraction`` × 100 %, shows ``stage``."""

    def __init__(self, progress: Progress, task: TaskID) -> None:
        self.progress = progress
        self.task = task

    def __call__(self, stage: str, fraction: float) -> None:
        """Record that ``fraction`` [-] of the task is done and ``stage`` runs now."""
        self.progress.update(self.task, completed=round(100 * fraction), last=stage)
