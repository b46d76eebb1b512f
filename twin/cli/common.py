"""What every ``dctwin`` command shares: the Typer app, error output, scenario and series loading.

Commands live in :mod:`twin.cli.main` (simulate, plan, schema, doctor, serve),
:mod:`twin.cli.studies` (capacity, contingency) and :mod:`twin.cli.sweep` (sweep, report);
importing :mod:`twin.cli` registers them all on :data:`app`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
