"""Scenario sweeps: many variants of one scenario, each simulated and planned, into one Zarr store.

A sweep file (YAML) names a base scenario and the fields to vary::

    base: demo-hall.yaml            # relative to the sweep file
    horizon: 24 h                   # planning window of every point (default 24 h)
    step: 15 min
    grid:                           # cartesian product of value lists
      battery.energy: [1000, 2000, 4000]
      grid.carbon_price: [0, 50, 150]
    set:                            # applied to every point, not swept
      workloads[id=finetune-batch].release: 0 h
    random:                         # and/or random samples (combined with the grid by product)
      samples: 8
      seed: 1
      fields:
        cooling.units[*].supply_temperature_max: {uniform: [24, 27]}
        series[0].zone: {choice: [US-TEX-ERCO, US-CAL-CISO]}
    gpus_per_rack: {gpu-120: 64}    # for cost and carbon per GPU-hour

Paths are dotted keys into the scenario YAML with ``[n]`` (list index), ``[*]`` (every item)
and ``[id=X]`` (the item whose ``id`` is X).  Every point is the base scenario with its
overrides applied, validated by :func:`twin.scenario.loader.scenario_from_dict`, then compiled,
simulated as operated and planned with verification (:func:`optimizer.plan.plan`).  A point
that fails records its error and the sweep goes on.

Results are one :class:`xarray.Dataset` with a ``scenario`` dimension (one coordinate per
swept field holding its value), written to a Zarr store created up front for all points;
finished chunks are written with ``to_zarr(region=...)`` and a ``done`` flag, so re-running
the same sweep resumes where it stopped.  The sweep's hash is kept in the store's attributes
and a different sweep is refused.  Points run on a local process pool or on a Dask
distributed cluster (``scheduler`` address).

The parts: :mod:`twin.studies.sweep.spec` (file format, points, paths),
:mod:`twin.studies.sweep.points` (evaluating one point), :mod:`twin.studies.sweep.store` (the Zarr
store); this module runs sweeps and re-exports the public names.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import as_completed as futures_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any

import numpy as np

from twin.studies.sweep.points import (
    TIMING_VARIABLES,
    PointTask,
    ResultVariable,
    evaluate_point,
    result_variables,
)
from twin.studies.sweep.spec import (
    DEFAULT_CHUNK_SIZE,
    MAX_POINTS,
    PathError,
    Sweep,
    SweepError,
    SweepSpec,
    load_sweep,
    set_path,
    sweep_from_dict,
)
from twin.studies.sweep.store import _write, empty_results, open_results, plain_text, prepare_store

# --------------------------------------------------------------------------------------------
# running


@dataclass
class SweepOutcome:
    """What one run of a sweep did."""

    total: int
    """Points in the sweep [-]."""
    selected: int
    """Points in the ``only`` range [-]."""
    skipped: int
    """Selected points already done before this run [-]."""
    computed: int
    """Points computed by this run [-]."""
    failed: int
    """Of those, points that recorded an error [-]."""
    elapsed: float
    """Wall time [s]."""
    run_id: str
    errors: list[str] = field(default_factory=list)
    """``point i: message`` of the failed points (first 20)."""


Progress = Callable[[dict[str, Any], int, int], None]
"""``progress(record, finished, to_do)`` after each finished point."""


def parse_only(text: str, size: int) -> tuple[int, int]:
    """Read ``START:END`` (END exclusive, either may be empty) into bounds within ``size``.

    Parameters
    ----------
    text
        ``"0:16"``, ``":8"``, ``"8:"``.
    size
        Number of points [-].

    Returns
    -------
    tuple of int
        ``(start, end)`` point indices [-].

    Raises
    ------
    ValueError
        Not of that form, or out of ``0..size``.
    """
    match = re.fullmatch(r"\s*(\d*)\s*:\s*(\d*)\s*", text)
    if match is None:
        raise ValueError(f"--only {text!r}: expected START:END, e.g. 0:16")
    start = int(match.group(1)) if match.group(1) else 0
    end = int(match.group(2)) if match.group(2) else size
    if not 0 <= start < end <= size:
        raise ValueError(f"--only {text!r}: expected 0 <= START < END <= {size}")
    return start, end


def run_sweep(
    sweep: Sweep,
    out: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    only: tuple[int, int] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: Progress | None = None,
    connect_timeout: float = 10.0,
    retry_failed: bool = False,
) -> SweepOutcome:
    """Run the points of ``sweep`` not yet done and write them to the Zarr store ``out``.

    Parameters
    ----------
    sweep
        The sweep (see :func:`load_sweep`).
    out
        Zarr store; created for all points when absent, resumed when it holds this sweep.
    workers
        Local worker processes [-] (default ``os.cpu_count()``; 0: run in this process).
        Ignored with ``scheduler``.
    scheduler
        Address of a Dask distributed scheduler (``tcp://host:8786``): run the points there.
    only
        ``(start, end)``: run only points ``start <= i < end`` (a batch job's chunk).
    chunk_size
        Points per Zarr chunk of a new store [-]; a chunk is written when all its points in
        the selection are finished, and whatever is finished is written on interruption.
    progress
        Called after every finished point.
    connect_timeout
        How long to try reaching the Dask scheduler [s].
    retry_failed
        Also run again the points that recorded an error.

    Returns
    -------
    SweepOutcome

    Raises
    ------
    SweepError
        The store holds another sweep, the scheduler cannot be reached, a worker died.
    """
    out = Path(out)
    started = time.perf_counter()
    store = prepare_store(sweep, out, chunk_size)
    chunk = int(store["done"].encoding.get("chunks", (chunk_size,))[0])
    start, end = only if only is not None else (0, sweep.size)
    done = store["done"].values[start:end].astype(bool)
    if retry_failed:
        status = np.asarray(store["status"].values[start:end]).astype(object)
        done &= status != "error"
    todo = [start + int(i) for i in np.flatnonzero(~done)]
    run_id = uuid.uuid4().hex[:12]
    outcome = SweepOutcome(sweep.size, end - start, int(done.sum()), 0, 0, 0.0, run_id)
    template = empty_results(sweep).isel(scenario=slice(0, 0))
    # a store made before a variable was added is resumed without it
    template = template.drop_vars([v for v in template.data_vars if v not in store.data_vars])
    tasks = (
        PointTask(
            i,
            sweep.scenario(i),
            str(sweep.base_dir),
            dict(sweep.spec.gpus_per_rack),
            sweep.spec.time_limit,
            sweep.spec.mip_gap,
            sweep.spec.shadow_prices,
            run_id,
        )
        for i in todo
    )
    # chunk → indices still to finish in it; a chunk is written when that set empties
    waiting: dict[int, set[int]] = {}
    for i in todo:
        waiting.setdefault(i // chunk, set()).add(i)
    pending: dict[int, list[dict[str, Any]]] = {}

    def finished(record: dict[str, Any]) -> None:
        index = int(record["index"])
        outcome.computed += 1
        if record.get("status") == "error":
            outcome.failed += 1
            if len(outcome.errors) < 20:
                outcome.errors.append(f"point {index}: {record['error']}")
        key = index // chunk
        pending.setdefault(key, []).append(record)
        waiting[key].discard(index)
        if not waiting[key]:
            _write(out, pending.pop(key), template)
        if progress is not None:
            progress(record, outcome.computed, len(todo))

    try:
        if not todo:
            pass
        elif scheduler is not None:
            _run_dask(scheduler, tasks, finished, connect_timeout)
        elif workers == 0:
            for task in tasks:
                finished(evaluate_point(task))
        else:
            _run_pool(workers or os.cpu_count() or 1, len(todo), tasks, finished)
    finally:
        leftover = [r for records in pending.values() for r in records]
        if leftover:
            _write(out, leftover, template)
        outcome.elapsed = time.perf_counter() - started
    return outcome


def _failed(task: PointTask, exc: BaseException) -> dict[str, Any]:
    """The record of a point whose task failed outside :func:`evaluate_point`."""
    return {
        "index": task.index,
        "status": "error",
        "error": f"{type(exc).__name__}: {exc}",
        "computed_at": datetime.now(UTC).isoformat(timespec="microseconds"),
        "run_id": task.run_id,
    }


_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

_PRELOAD = (
    "optimizer.plan",
    "twin.data.series",
    "twin.scenario.compile",
    "twin.scenario.window",
    "twin.studies.sweep.points",
)
"""What a point needs (:func:`evaluate_point` and the modules it imports), imported once by
the fork server."""


def _pool_context() -> BaseContext:
    """How the local pool starts its workers: ``forkserver`` where the platform has it.

    The fork server is one fresh interpreter that imports :data:`_PRELOAD` once; each worker
    is then a fork of it, with NumPy, xarray, Pyomo and the twin already imported, instead of
    a ``spawn``-ed interpreter that imports them all again (2-4 CPU-s a worker).  Unlike a
    plain ``fork`` of this process, the server holds no threads, locks or open stores of
    ours.  It is shared by every pool this process starts and inherits the environment of
    the moment it starts (the one-thread BLAS variables set in :func:`_run_pool`).  Where
    there is no ``forkserver`` (Windows), ``spawn``.
    """
    if "forkserver" not in get_all_start_methods():
        return get_context("spawn")
    context = get_context("forkserver")
    context.set_forkserver_preload(list(_PRELOAD))
    return context


def _run_pool(
    workers: int, count: int, tasks: Iterator[PointTask], finished: Callable[[dict[str, Any]], None]
) -> None:
    pool = ProcessPoolExecutor(max_workers=min(workers, count), mp_context=_pool_context())
    futures: dict[Future[dict[str, Any]], PointTask] = {}
    try:
        # one BLAS/OpenMP thread per worker: the workers are the parallelism.  Workers are
        # spawned while the tasks are submitted and inherit the environment at that moment.
        saved = {name: os.environ.get(name) for name in _THREAD_VARIABLES}
        os.environ.update({name: os.environ.get(name) or "1" for name in _THREAD_VARIABLES})
        try:
            futures = {pool.submit(evaluate_point, task): task for task in tasks}
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        for future in futures_completed(futures):
            try:
                record = future.result()
            except BrokenProcessPool:
                raise
            except Exception as exc:  # the task could not run (e.g. not picklable)
                record = _failed(futures[future], exc)
            finished(record)
    except BrokenProcessPool as exc:
        raise SweepError(
            "sweep", [f"a worker process died ({exc}); finished points are saved, re-run to resume"]
        ) from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _run_dask(
    address: str,
    tasks: Iterator[PointTask],
    finished: Callable[[dict[str, Any]], None],
    timeout: float,
) -> None:
    from dask.distributed import Client
    from dask.distributed import as_completed as dask_completed

    try:
        client = Client(address, timeout=f"{timeout}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise SweepError(
            "sweep", [f"cannot reach the Dask scheduler at {address}: {exc}"]
        ) from None
    try:
        futures = {client.submit(evaluate_point, task, pure=False): task for task in tasks}
        for future in dask_completed(list(futures), loop=client.loop):
            try:
                record = future.result()
            except Exception as exc:  # e.g. KilledWorker: the point is recorded as failed
                record = _failed(futures[future], exc)
            finished(record)
    finally:
        client.close()


# --------------------------------------------------------------------------------------------
# batch jobs


def export_jobs(
    sweep: Sweep,
    sweep_file: str | Path,
    out: str | Path,
    folder: str | Path,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    command: str = "dctwin",
) -> list[Path]:
    """Write one batch script per chunk of points (SLURM ``#SBATCH`` header).

    The store is created first (with ``chunk_size`` points per Zarr chunk) so that the jobs,
    each writing only its own chunks, never race to create it.

    Parameters
    ----------
    sweep
        The sweep.
    sweep_file
        Path of the sweep file as the jobs will see it.
    out
        Zarr store path as the jobs will see it.
    folder
        Where to write ``job-00000.sh`` ...
    chunk_size
        Points per job [-] (also the store's chunk size).
    command
        How the jobs call the CLI.

    Returns
    -------
    list of Path
        The scripts written.
    """
    store = prepare_store(sweep, out, chunk_size)
    chunk = int(store["done"].encoding.get("chunks", (chunk_size,))[0])
    if chunk != min(chunk_size, max(sweep.size, 1)):
        raise SweepError(
            str(out), [f"the store has chunks of {chunk} points; use --chunk-size {chunk}"]
        )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sweep_path = Path(sweep_file).resolve()
    out_path = Path(out).resolve()
    written = []
    for number, first in enumerate(range(0, sweep.size, chunk)):
        last = min(first + chunk, sweep.size)
        script = folder / f"job-{number:05d}.sh"
        script.write_text(
            "#!/bin/bash\n"
            f"#SBATCH --job-name=dctwin-sweep-{number:05d}\n"
            "#SBATCH --ntasks=1\n"
            "#SBATCH --cpus-per-task=1\n"
            f"#SBATCH --output={folder.resolve()}/job-{number:05d}.log\n"
            f"# points {first} to {last - 1} of {sweep.size}; re-submitting resumes\n"
            "set -euo pipefail\n"
            f"{command} sweep '{sweep_path}' --out '{out_path}' --only {first}:{last} "
            "--workers 1\n",
            encoding="utf-8",
        )
        script.chmod(0o755)
        written.append(script)
    return written


__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "MAX_POINTS",
    "TIMING_VARIABLES",
    "PathError",
    "PointTask",
    "ResultVariable",
    "Sweep",
    "SweepError",
    "SweepOutcome",
    "SweepSpec",
    "empty_results",
    "evaluate_point",
    "export_jobs",
    "load_sweep",
    "open_results",
    "parse_only",
    "plain_text",
    "prepare_store",
    "result_variables",
    "run_sweep",
    "set_path",
    "sweep_from_dict",
]
