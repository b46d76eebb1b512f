"""The background job runner: ids, progress, results, failures, forgetting."""

from __future__ import annotations

import threading

import pytest

from ui.jobs import JobQueueFull, JobRunner


def test_a_job_reports_progress_then_its_result() -> None:
    runner = JobRunner(workers=1)
    gate = threading.Event()
    reached = threading.Event()

    def work(progress: object) -> dict[str, int]:
        assert callable(progress)
        progress(0.4, "half way")
        reached.set()
        gate.wait(5)
        return {"answer": 42}

    job = runner.submit("demo", work)
    assert reached.wait(5)
    running = runner.status(job)
    assert running["state"] == "running"
    assert running["fraction"] == pytest.approx(0.4) and running["message"] == "half way"
    assert running["result"] is None and running["finished"] is None
    gate.set()
    done = runner.wait(job, timeout=5)
    assert done["state"] == "done" and done["fraction"] == 1.0
    assert done["result"] == {"answer": 42} and done["error"] is None
    assert done["elapsed_s"] >= 0 and done["finished"] is not None
    runner.shutdown()


def test_a_failing_job_keeps_one_line_of_error() -> None:
    runner = JobRunner()

    def work(progress: object) -> None:
        raise ValueError("rack 'A01': cooling unit 'CRAH-9' does not exist\nsecond line")

    job = runner.submit("bad", work)
    failed = runner.wait(job, timeout=5)
    assert failed["state"] == "failed"
    assert failed["error"] == "rack 'A01': cooling unit 'CRAH-9' does not exist"
    runner.shutdown()


def test_jobs_queue_behind_one_worker_and_old_ones_are_forgotten() -> None:
    runner = JobRunner(workers=1, keep=2)
    gate = threading.Event()
    first = runner.submit("slow", lambda progress: gate.wait(5))
    second = runner.submit("next", lambda progress: "second")
    assert runner.status(second)["state"] == "queued"
    gate.set()
    assert runner.wait(second, timeout=5)["result"] == "second"
    ids = [runner.submit(f"job {n}", lambda progress, n=n: n) for n in range(3)]
    for job in ids:
        runner.wait(job, timeout=5)
    runner.submit("trigger forgetting", lambda progress: None)
    remembered = {j["id"] for j in runner.jobs()}
    assert first not in remembered and second not in remembered
    with pytest.raises(KeyError, match="unknown job"):
        runner.status(first)
    with pytest.raises(ValueError):
        JobRunner(workers=0)
    runner.shutdown()


def test_the_queue_is_bounded_and_frees_up_when_a_job_ends() -> None:
    """Fifteen clicks on What-if must not queue fifteen solves (issue 14): beyond
    ``max_pending`` queued or running jobs a submit is refused at once."""
    runner = JobRunner(workers=1, max_pending=2)
    gate = threading.Event()
    running = runner.submit("slow", lambda progress: gate.wait(5))
    runner.submit("queued", lambda progress: "queued")
    with pytest.raises(JobQueueFull, match="2 background jobs are already queued or running"):
        runner.submit("one too many", lambda progress: None)
    gate.set()
    runner.wait(running, timeout=5)
    for job in runner.jobs():
        runner.wait(job["id"], timeout=5)
    assert runner.wait(runner.submit("room again", lambda progress: 1), timeout=5)["result"] == 1
    with pytest.raises(ValueError, match="max_pending"):
        JobRunner(max_pending=0)
    runner.shutdown()


def test_one_owner_cannot_take_every_place() -> None:
    """One job of each owner (a session's principal) at a time, as the API's what-if queue
    (tester9, 7 Dec: the UI's queue was shared: one session filled it for everyone)."""
    runner = JobRunner(workers=1, max_pending=3)
    gate = threading.Event()
    mine = runner.submit("slow", lambda progress: gate.wait(5), owner="token:aaaa")
    with pytest.raises(JobQueueFull, match="1 of your background jobs"):
        runner.submit("again", lambda progress: None, owner="token:aaaa")
    theirs = runner.submit("theirs", lambda progress: "theirs", owner="user:bob")
    gate.set()
    assert runner.wait(mine, timeout=5)["state"] == "done"
    assert runner.wait(theirs, timeout=5)["result"] == "theirs"
    again = runner.submit("again", lambda progress: 2, owner="token:aaaa")  # its turn again
    assert runner.wait(again, timeout=5)["result"] == 2
    with pytest.raises(ValueError, match="max_per_owner"):
        JobRunner(max_per_owner=0)
    runner.shutdown()
