"""What every ``dctwin`` command shares: the Typer app, error output, scenario and series loading.

Commands live in :mod:`twin.cli.main` (simulate, plan, schema, doctor, serve),
:mod:`twin.cli.studies` (capacity, contingency) and :mod:`twin.cli.sweep` (sweep, report);
importing :mod:`twin.cli` registers them all on :data:`app`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    name="dctwin",
    help="Digital twin of an AI data center: physics, co-planning, live twin.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: no '<bool>' beside flags, nothing truncated
)

DEMO_SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "demo-hall.yaml"

EXIT_BAD_INPUT = 2


def err(message: str) -> None:
    typer.echo(message, err=True)


def fail(message: str) -> typer.Exit:
    err(message)
    return typer.Exit(EXIT_BAD_INPUT)


def check_solver_flags(time_limit: float, mip_gap: float | None = None) -> None:
    """Refuse (exit 2) a solver time limit that is not positive or a gap that is negative.

    Parameters
    ----------
    time_limit
        ``--time-limit`` [s].
    mip_gap
        ``--mip-gap`` [-] (None: the command has none).
    """
    import math

    if not (math.isfinite(time_limit) and time_limit > 0):
        raise fail(f"--time-limit: expected a positive number of seconds, got {time_limit:g}")
    if mip_gap is not None and not (math.isfinite(mip_gap) and 0 <= mip_gap < 1):
        raise fail(f"--mip-gap: expected a relative gap in [0, 1), got {mip_gap:g}")


def load_scenario_file(path: Path) -> Any:
    from twin.scenario.loader import ScenarioError, load_scenario

    try:
        return load_scenario(path)
    except ScenarioError as exc:
        raise fail(str(exc)) from None


def load_series(spec: Any, scenario: Path) -> Any:
    """The scenario's series (relative files read next to ``scenario``), or one error line."""
    from twin.data.series import scenario_series
    from twin.data.validation import SeriesError

    try:
        return scenario_series(spec, scenario.parent)
    except (SeriesError, KeyError) as exc:
        raise fail(f"{scenario}: series: {exc}") from None


def write_netcdf(dataset: Any, out: Path) -> None:
    """Write ``dataset`` to ``out`` (NetCDF4 via h5netcdf); a clear message on failure."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        dataset.to_netcdf(out, engine="h5netcdf")
    except (OSError, ValueError) as exc:
        raise fail(f"cannot write {out}: {exc}") from None
    err(f"wrote {out}")


def json_default(value: Any) -> Any:
    """JSON fallback for values json cannot write (times, numpy scalars): their text."""
    return str(value)


def clamped_line(figures: dict[str, Any]) -> str:
    """The clamped-curve counter as one line of text output (``simulate`` and ``plan``).

    Parameters
    ----------
    figures
        A summary or plan JSON with ``clamped_curve_evaluations`` [-] and optionally
        ``clamped_chiller_steps`` and ``clamped_trim_chiller_steps`` [-].
    """
    total = int(figures.get("clamped_curve_evaluations", 0))
    if not total:
        return "curve range           all performance curves evaluated within their limits"
    return (
        f"curve range           {total:,} evaluations outside the fitted range, clamped "
        f"(chiller steps {figures.get('clamped_chiller_steps', 0)}, trim chiller steps "
        f"{figures.get('clamped_trim_chiller_steps', 0)}): results there rest on curves held at "
        "their limits, outside the published fit"
    )


PerSiteFlag = Annotated[
    bool,
    typer.Option(
        "--per-site",
        help="Fleet files: plan one site's model at a time (fleets too big for one model).",
    ),
]
"""``--per-site`` of ``dctwin plan`` and ``dctwin fleet plan``."""
