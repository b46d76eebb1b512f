"""Background jobs: long solves (what-if plans) run on a small thread pool, polled by id.

The web UI submits a job and polls :meth:`JobRunner.status` (a ``dcc.Interval``), so no
request ever waits for a solve.  A job function receives a ``progress(fraction, message)``
callback; its return value (JSON-ready) or its exception message is kept with the job.
Finished jobs are forgotten oldest first beyond ``keep`` jobs.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

JobState = Literal["queued", "running", "done", "failed"]
Progress = Callable[[float, str], None]


@dataclass
class Job:
    """One background job.

    Attributes
    ----------
    id
        Job id (12 hex characters).
    name
        What it does, for people.
    state
        ``queued``, ``running``, ``done`` or ``failed``.
    fraction
        Progress reported by the job [-], 0..1.
    message
        Latest progress message.
    result
        Return value once done.
    error
        One-line error once failed.
    submitted, started, finished
        Timestamps (UTC).
    owner
        Who started it (the session's principal), None if unknown.
    """

    id: str
    name: str
    owner: str | None = None
    state: JobState = "queued"
    fraction: float = 0.0
    message: str = "queued"
    result: Any = None
    error: str | None = None
    submitted: datetime = field(default_factory=lambda: datetime.now(UTC))
    started: datetime | None = None
    finished: datetime | None = None

    def to_dict(self, with_result: bool = True) -> dict[str, Any]:
        """JSON-ready dict (``elapsed_s`` [s] since submission or until finished)."""
        end = self.finished or datetime.now(UTC)
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "fraction": self.fraction,
            "message": self.message,
            "error": self.error,
            "result": self.result if with_result else None,
            "submitted": self.submitted.isoformat(),
            "started": None if self.started is None else self.started.isoformat(),
            "finished": None if self.finished is None else self.finished.isoformat(),
            "elapsed_s": round((end - self.submitted).total_seconds(), 3),
        }


class JobQueueFull(RuntimeError):
    """Raised by :meth:`JobRunner.submit` when ``max_pending`` jobs are queued or running."""


class JobRunner:
    """A thread pool running jobs by id, with a bounded queue.

    Parameters
    ----------
    workers
        Threads [-] (solves are CPU-bound: keep it small).
    keep
        Finished jobs remembered [-].
    max_pending
        Jobs queued or running at most [-]; one more is refused (:class:`JobQueueFull`), so a
        page clicked many times cannot pile up solves (nor a shutdown that waits for them).
    max_per_owner
        Jobs of one owner (a session's principal) queued or running at most [-], so that
        one principal cannot take every place of the queue (as the API's what-if queue,
        one per token).
    """

    def __init__(
        self, workers: int = 1, keep: int = 50, max_pending: int = 3, max_per_owner: int = 1
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if max_pending < 1 or max_per_owner < 1:
            raise ValueError(
                "max_pending and max_per_owner must be at least 1, "
                f"got {max_pending} and {max_per_owner}"
            )
        self._max_pending = max_pending
        self._max_per_owner = max_per_owner
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dctwin-job")
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._keep = keep

    def submit(
        self, name: str, function: Callable[[Progress], Any], owner: str | None = None
    ) -> str:
        """Queue ``function(progress)``; returns the job id at once.

        Parameters
        ----------
        name
            What the job does, for people.
        function
            Called on a worker thread with a ``progress(fraction [-], message)`` callback.
        owner
            Who starts it (the session's principal); None: counted only against
            ``max_pending``.

        Raises
        ------
        JobQueueFull
            When ``max_pending`` jobs are already queued or running, or ``max_per_owner`` of
            ``owner``'s.
        """
        job = Job(id=uuid.uuid4().hex[:12], name=name, owner=owner)
        with self._lock:
            active = [j for j in self._jobs.values() if j.state in ("queued", "running")]
            own = sum(j.owner == owner for j in active) if owner is not None else 0
            if own >= self._max_per_owner:
                raise JobQueueFull(
                    f"{own} of your background jobs is already queued or running; "
                    "try again when it has finished"
                )
            pending = len(active)
            if pending >= self._max_pending:
                raise JobQueueFull(
                    f"{pending} background jobs are already queued or running; "
                    "try again when one has finished"
                )
            self._jobs[job.id] = job
            self._forget_old()

        def progress(fraction: float, message: str) -> None:
            with self._lock:
                job.fraction = float(min(max(fraction, 0.0), 1.0))
                job.message = message

        def run() -> None:
            with self._lock:
                job.state = "running"
                job.started = datetime.now(UTC)
                job.message = "running"
            try:
                result = function(progress)
            except Exception as exc:  # the job's failure is data for the poller
                with self._lock:
                    job.state = "failed"
                    job.error = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                    job.message = "failed"
                    job.finished = datetime.now(UTC)
                return
            with self._lock:
                job.result = result
                job.state = "done"
                job.fraction = 1.0
                job.message = "done"
                job.finished = datetime.now(UTC)

        self._pool.submit(run)
        return job.id

    def _forget_old(self) -> None:
        finished = [k for k, j in self._jobs.items() if j.state in ("done", "failed")]
        for key in finished[: max(len(finished) - self._keep, 0)]:
            del self._jobs[key]

    def status(self, job_id: str) -> dict[str, Any]:
        """The job as a dict (``KeyError`` for an unknown or forgotten id)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise KeyError(f"unknown job {job_id!r}")
            return job.to_dict()

    def jobs(self) -> list[dict[str, Any]]:
        """Every remembered job, oldest first, without results."""
        with self._lock:
            return [j.to_dict(with_result=False) for j in self._jobs.values()]

    def wait(self, job_id: str, timeout: float) -> dict[str, Any]:
        """Poll until the job is done or failed or ``timeout`` [s] passes; returns its status."""
        deadline = time.monotonic() + timeout
        while True:
            current = self.status(job_id)
            if current["state"] in ("done", "failed") or time.monotonic() > deadline:
                return current
            time.sleep(0.05)

    def shutdown(self) -> None:
        """Stop accepting jobs; running jobs finish in the background."""
        self._pool.shutdown(wait=False, cancel_futures=True)


__all__ = ["Job", "JobQueueFull", "JobRunner", "JobState", "Progress"]
