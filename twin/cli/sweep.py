"""``dctwin sweep`` and ``dctwin report``: scenario sweeps on a process pool or Dask, and reports.

Registered on :data:`twin.cli.main.app` by importing this module (``twin/cli.py`` does it).
Progress (a tqdm bar) and errors go to stderr; a bad sweep file prints one line per problem
and exits 2, never a traceback.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from twin.cli.common import app, err, fail

EXIT_INTERRUPTED = 130


@app.command()
def sweep(
    sweep_file: Annotated[
        Path, typer.Argument(help="Sweep YAML file (base scenario, grid/random).")
    ],
    out: Annotated[
        Path | None, typer.Option(help="Zarr store of the results (resumed when it exists).")
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (default: local pool)."
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Local worker processes (default: CPU count; 0: in this process)."),
    ] = None,
    only: Annotated[
        str | None, typer.Option(help="Run only points START:END (END exclusive), e.g. 0:16.")
    ] = None,
    chunk_size: Annotated[
        int, typer.Option(help="Points per Zarr chunk (and per job with --export-jobs).")
    ] = 16,
    export_jobs: Annotated[
        Path | None,
        typer.Option(help="Write one SLURM batch script per chunk into this folder; run nothing."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and list the points; run nothing.")
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Run again the points that recorded an error.")
    ] = False,
) -> None:
    """Simulate and plan every point of a sweep; results to one Zarr store (resumable)."""
    from twin.studies.sweep.runner import SweepError, load_sweep, parse_only, run_sweep
    from twin.studies.sweep.runner import export_jobs as write_jobs

    try:
        spec = load_sweep(sweep_file)
    except SweepError as exc:
        raise fail(str(exc)) from None
    if dry_run:
        err(f"{sweep_file}: {spec.size} point(s) over {', '.join(spec.fields) or 'no field'}")
        for index, point in enumerate(spec.points):
            typer.echo(json.dumps({"scenario": index, **point}, default=str))
        return
    if out is None:
        raise fail("--out RESULTS.zarr is required (or --dry-run)")
    if workers is not None and workers < 0:
        raise fail(f"--workers must be 0 or more, got {workers}")
    if chunk_size < 1:
        raise fail(f"--chunk-size must be at least 1, got {chunk_size}")
    if export_jobs is not None:
        try:
            scripts = write_jobs(spec, sweep_file, out, export_jobs, chunk_size)
        except (SweepError, OSError) as exc:
            raise fail(str(exc)) from None
        err(
            f"wrote {len(scripts)} job script(s) to {export_jobs} ({chunk_size} points each) and "
            f"created {out}; submit with: for f in {export_jobs}/job-*.sh; do sbatch $f; done"
        )
        return
    bounds = None
    if only is not None:
        try:
            bounds = parse_only(only, spec.size)
        except ValueError as exc:
            raise fail(str(exc)) from None
    if scheduler:
        where = f"Dask scheduler {scheduler}"
    elif workers == 0:
        where = "this process"
    else:
        where = f"{workers or os.cpu_count()} local worker process(es)"
    err(f"sweep {sweep_file}: {spec.size} point(s) on {where} → {out}")
    bar = _Bar(progress)
    try:
        outcome = run_sweep(
            spec,
            out,
            workers=workers,
            scheduler=scheduler,
            only=bounds,
            chunk_size=chunk_size,
            progress=bar.update,
            retry_failed=retry_failed,
        )
    except SweepError as exc:
        bar.close()
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        bar.close()
        err(f"interrupted: finished points are saved in {out}; run the same command to resume")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    bar.close()
    for line in outcome.errors:
        err(f"failed {line}")
    err(
        f"{outcome.computed} point(s) computed ({outcome.failed} failed), {outcome.skipped} "
        f"already done, in {outcome.elapsed:.1f} s → {out}"
    )
    typer.echo(
        json.dumps(
            {
                "out": str(out),
                "points": outcome.total,
                "selected": outcome.selected,
                "computed": outcome.computed,
                "skipped": outcome.skipped,
                "failed": outcome.failed,
                "elapsed_s": round(outcome.elapsed, 3),
                "run_id": outcome.run_id,
            }
        )
    )


class _Bar:
    """A tqdm bar created on the first finished point (so the total is known)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None

    def update(self, record: dict[str, Any], finished: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="point", desc="sweep", dynamic_ncols=True)
        self.bar.update(1)
        if record.get("status") == "error":
            self.bar.set_postfix_str(f"point {record['index']} failed", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@app.command()
def report(
    result: Annotated[Path, typer.Argument(help="Sweep result store (.zarr) or NetCDF (.nc).")],
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default: RESULT's name + '-report').")
    ] = None,
) -> None:
    """Write report.html, summary.csv and PNG plots of a sweep result."""
    from twin.studies.report import ReportError, load_results, write_report

    try:
        ds = load_results(result)
    except ReportError as exc:
        raise fail(str(exc)) from None
    folder = out or result.with_name(result.stem + "-report")
    try:
        files = write_report(ds, folder)
    except OSError as exc:
        raise fail(f"cannot write the report to {folder}: {exc}") from None
    for note in files.notes:
        err(f"note: {note}")
    err(f"wrote {files.html}, {files.csv} and {len(files.plots)} plot(s)")
    typer.echo(
        json.dumps(
            {
                "html": str(files.html),
                "csv": str(files.csv),
                "plots": [str(p) for p in files.plots],
            }
        )
    )
