"""Where the wall-clock time of a command goes: on a CPU, waiting for one, or neither.

    .venv/bin/python benchmarks/cpu_wait.py -- .venv/bin/dctwin plan scenarios/fleet.yaml --json
    .venv/bin/python benchmarks/cpu_wait.py --quick     # a 1 s busy loop in a child Python

Runs the command and samples, every 0.1 s, ``/proc/<pid>/task/<tid>/schedstat`` of every
thread of it and of its child processes (Linux): the time each ran on a CPU and the time it
was runnable but waiting in the run queue.  Printed (one JSON line, on stderr; the command's
own output passes through): wall [s], CPU [s], run-queue wait [s] (summed over threads),
the rest of the wall time of the main thread (sleeping or blocked on I/O, locks, other
processes) [s], thread and process counts, and the load average before and after
(``--quick``: on stdout).  A
command whose wall time is its CPU time plus its run-queue wait was slowed by other
processes on the machine, not by waiting on anything of its own.  Threads that end between
two samples lose at most 0.1 s of their figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

TICK = 0.1
"""Sampling period [s]."""


def _children(pid: int) -> list[int]:
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            text = (task / "children").read_text()
        except OSError:
            continue
        for child in text.split():
            found += _children(int(child))
    return found


def _sample(pids: list[int], seen: dict[tuple[int, int], tuple[int, int]]) -> None:
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                run_ns, wait_ns, _ = (int(v) for v in (task / "schedstat").read_text().split())
            except (OSError, ValueError):
                continue
            seen[(pid, int(task.name))] = (run_ns, wait_ns)


def main() -> None:
    args = sys.argv[1:]
    quick = args[:1] == ["--quick"]
    if quick:
        args = [
            sys.executable,
            "-c",
            "import time\nend = time.process_time() + 1\nwhile time.process_time() < end: pass",
        ]
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        sys.exit("usage: cpu_wait.py -- COMMAND [ARGS...]")
    load = os.getloadavg()
    started = time.perf_counter()
    process = subprocess.Popen(args)
    seen: dict[tuple[int, int], tuple[int, int]] = {}
    main_thread = (process.pid, process.pid)
    while process.poll() is None:
        _sample(_children(process.pid), seen)
        time.sleep(TICK)
    wall = time.perf_counter() - started
    cpu = sum(run for run, _ in seen.values()) / 1e9
    wait = sum(w for _, w in seen.values()) / 1e9
    main_run, main_wait = (v / 1e9 for v in seen.get(main_thread, (0, 0)))
    print(
        json.dumps(
            {
                "command": " ".join(args),
                "returncode": process.returncode,
                "wall_s": round(wall, 1),
                "cpu_s": round(cpu, 1),
                "runqueue_wait_s": round(wait, 1),
                "main_thread": {
                    "cpu_s": round(main_run, 1),
                    "runqueue_wait_s": round(main_wait, 1),
                    "other_s": round(wall - main_run - main_wait, 1),
                },
                "threads": len(seen),
                "processes": len({pid for pid, _ in seen}),
                "load_before": [round(v, 2) for v in load],
                "load_after": [round(v, 2) for v in os.getloadavg()],
            }
        ),
        file=sys.stdout if quick else sys.stderr,
    )
    sys.exit(process.returncode)


if __name__ == "__main__":
    main()
