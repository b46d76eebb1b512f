"""The ``dctwin`` command line.

Progress and errors go to stderr, results to stdout (``--json`` prints exactly one JSON
object), so the output can be piped.  A bad scenario prints one line per problem and exits 2;
it never shows a traceback.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    name="dctwin",
    help="Digital twin of an AI data center: physics, co-planning, live twin.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DEMO_SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "demo-hall.yaml"

EXIT_BAD_INPUT = 2


def _err(message: str) -> None:
    typer.echo(message, err=True)


def _fail(message: str) -> typer.Exit:
    _err(message)
    return typer.Exit(EXIT_BAD_INPUT)


def _load(path: Path) -> Any:
    from twin.scenario import ScenarioError, load_scenario

    try:
        return load_scenario(path)
    except ScenarioError as exc:
        raise _fail(str(exc)) from None


@app.command()
def simulate(
    scenario: Annotated[
        Path, typer.Argument(help="Scenario YAML file (default: the demo hall).")
    ] = DEMO_SCENARIO,
    out: Annotated[Path | None, typer.Option(help="Write the full result as NetCDF (.nc).")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as one JSON object.")
    ] = False,
    no_racks: Annotated[
        bool, typer.Option("--no-racks", help="Leave per-rack series out of --out.")
    ] = False,
) -> None:
    """Simulate a scenario as operated today and print its summary."""
    from physics.schedule import as_operated_schedule
    from physics.simulate import simulate as run_simulation
    from physics.simulate import summarize
    from physics.violations import find_violations
    from twin.compile import compile_facility
    from twin.series import scenario_series
    from twin.timeseries import SeriesError

    started = time.perf_counter()
    spec = _load(scenario)
    try:
        series = scenario_series(spec, scenario.parent)
    except (SeriesError, KeyError) as exc:
        raise _fail(f"{scenario}: series: {exc}") from None
    facility = compile_facility(spec)
    _err(f"simulating {facility.name}: {facility.racks.count} racks × {series.sizes['time']} steps")
    try:
        schedule = as_operated_schedule(facility, series)
    except KeyError as exc:
        raise _fail(f"{scenario}: {exc.args[0]}") from None
    result = run_simulation(facility, schedule, series, per_rack=not no_racks)
    summary = summarize(result)
    summary["violations"] = [v.message for v in find_violations(facility, result)]
    summary["elapsed_s"] = round(time.perf_counter() - started, 3)
    if out is not None:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            result.to_netcdf(out, engine="h5netcdf")
        except (OSError, ValueError) as exc:
            raise _fail(f"cannot write {out}: {exc}") from None
        _err(f"wrote {out}")
    if as_json:
        typer.echo(json.dumps(summary, indent=2, allow_nan=False, default=_json_default))
    else:
        typer.echo(_format_summary(summary))


def _json_default(value: Any) -> Any:
    return str(value)


def _format_summary(summary: dict[str, Any]) -> str:
    lines = [
        f"steps                 {summary['steps']} × {summary['step_seconds'] / 60:g} min, "
        f"{summary['racks']} racks",
        f"IT energy             {summary['it_energy_kwh']:,.0f} kWh",
        f"cooling energy        {summary['cooling_energy_kwh']:,.0f} kWh",
        f"facility energy       {summary['facility_energy_kwh']:,.0f} kWh",
        f"power-chain losses    {summary['power_chain_loss_kwh']:,.0f} kWh",
        f"PUE                   {summary['pue']:.3f}",
        f"peak grid import      {summary['peak_grid_kw']:,.0f} kW",
        f"hottest inlet         {summary['max_inlet_temperature_c']:.2f} °C "
        f"(limit {summary['inlet_limit_c']:g} °C, {summary['inlet_violations']} rack-steps above)",
        f"lowest busbar voltage {summary['min_busbar_voltage_v']:.3f} V",
    ]
    if "energy_cost" in summary:
        lines.append(f"energy cost           {summary['energy_cost']:,.0f}")
    if "carbon_kg" in summary:
        lines.append(f"emissions             {summary['carbon_kg'] / 1e3:,.1f} t CO2e")
    violations = summary.get("violations", [])
    lines.append(f"violations            {len(violations)}")
    lines += [f"  - {v}" for v in violations]
    return "\n".join(lines)


@app.command()
def schema() -> None:
    """Print the JSON Schema of scenario files."""
    from twin.scenario import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))


@app.command()
def doctor() -> None:
    """Check the installation and solve a toy LP with HiGHS through Pyomo."""
    from twin.doctor import run_checks

    report = run_checks()
    for check in report.checks:
        typer.echo(f"{'ok  ' if check.ok else 'FAIL'} {check.name:<24} {check.detail}")
    if not report.ok:
        raise typer.Exit(1)


if __name__ == "__main__":  # pragma: no cover
    app()
