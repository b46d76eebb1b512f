"""``dctwin capacity`` and ``dctwin contingency``: sizing and N-1 studies from the command line.

Registered on :data:`twin.cli.main.app` by importing this module (the last lines of
``twin.cli.main``). Progress and errors go to stderr, results to stdout; ``--json`` prints exactly
one JSON object. Bad input (scenario, rack type, positions) prints one line and exits 2.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from twin.cli.common import (
    DEMO_SCENARIO,
    app,
    check_solver_flags,
    err,
    fail,
    load_scenario_file,
    load_series,
)

EXIT_FAILED = 3
"""Exit code of ``contingency`` when some element's loss fails (like ``plan``'s infeasible)."""


@app.command()
def capacity(
    scenario: Annotated[
        Path, typer.Argument(help="Scenario YAML file (default: the demo hall).")
    ] = DEMO_SCENARIO,
    rack_type: Annotated[
        str, typer.Option("--rack-type", help="Rack type from the scenario's rack_types.")
    ] = "",
    positions: Annotated[
        str | None,
        typer.Option(help="Candidate positions ROW:POSITION,... (default: free positions)."),
    ] = None,
    extend: Annotated[
        int, typer.Option(help="Free positions offered past the end of each row [-].", min=0)
    ] = 4,
    battery: Annotated[
        bool,
        typer.Option(
            "--battery", help="Also size the facility battery (co-planned sizes, payback)."
        ),
    ] = False,
    battery_powers: Annotated[
        str | None,
        typer.Option(help="Battery powers to try, kW, e.g. 250,500 (default: 10/20/40 % of peak)."),
    ] = None,
    battery_hours: Annotated[
        str, typer.Option(help="Battery durations to try (energy over power), h, e.g. 1,2,4.")
    ] = "1,2,4",
    growth: Annotated[
        bool,
        typer.Option(
            "--growth", help="Also find how much IT can grow with the grid peak held flat."
        ),
    ] = False,
    max_growth: Annotated[
        float, typer.Option(help="Largest IT growth factor tried by --growth [-].", min=1.0)
    ] = 2.0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as one JSON object.")
    ] = False,
    time_limit: Annotated[float, typer.Option(help="Solver time limit per solve [s].")] = 60.0,
) -> None:
    """The most racks of a type that fit, the binding limit and the cost of one more;
    optionally battery sizing (--battery) and growth headroom at a flat peak (--growth)."""
    from optimizer.plan import PlanOptions
    from twin.scenario.compile import compile_facility
    from twin.studies.battery import battery_sizing
    from twin.studies.capacity import capacity_study
    from twin.studies.growth import growth_headroom
    from twin.studies.positions import CapacityError, candidate_positions, parse_positions

    started = time.perf_counter()
    check_solver_flags(time_limit)
    spec = load_scenario_file(scenario)
    if not (rack_type or battery or growth):
        known = ", ".join(sorted(spec.rack_types))
        raise fail(
            f"give --rack-type (the catalogue of {scenario.name} has: {known}), --battery "
            "or --growth"
        )
    try:
        powers = _numbers(battery_powers, "--battery-powers") if battery_powers else None
        hours = _numbers(battery_hours, "--battery-hours")
    except ValueError as exc:
        raise fail(str(exc)) from None
    wanted = None
    if rack_type:
        try:
            wanted = parse_positions(positions) if positions is not None else None
            candidate_positions(spec, rack_type, wanted, extend)
        except CapacityError as exc:
            raise fail(f"{scenario}: {exc}") from None
    series = load_series(spec, scenario)
    data: dict[str, Any] = {}
    if rack_type:
        err(f"capacity study: {rack_type} in {spec.site.name}, {series.sizes['time']} steps")
        report = capacity_study(
            spec, series, rack_type, wanted, extend=extend, time_limit=time_limit
        )
        data["racks"] = report.to_dict()
    options = PlanOptions(time_limit=time_limit)
    if battery:
        err("battery sizing: co-planning each size ...")
        data["battery"] = battery_sizing(
            compile_facility(spec),
            series,
            powers_kw=powers,
            durations_h=tuple(hours),
            options=options,
        ).to_dict()
    if growth:
        err("growth headroom: bisection over the IT growth factor ...")
        data["growth"] = growth_headroom(
            spec, series, max_factor=max_growth, options=options
        ).to_dict()
    data["seconds"] = round(time.perf_counter() - started, 3)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    typer.echo(_format_studies(data))


def _numbers(text: str, option: str) -> list[float]:
    """Positive numbers from ``"1,2,4"``; ``ValueError`` with a one-line message otherwise."""
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"{option}: expected positive numbers like 1,2,4, got {text!r}") from None
    if not values or any(not v > 0 for v in values):
        raise ValueError(f"{option}: expected positive numbers like 1,2,4, got {text!r}")
    return values


def _format_studies(data: dict[str, Any]) -> str:
    parts = []
    if "racks" in data:
        parts.append(_format_capacity(data["racks"]))
    if "battery" in data:
        parts.append(_format_battery(data["battery"]))
    if "growth" in data:
        parts.append(_format_growth(data["growth"]))
    parts.append(f"{data['seconds']:.2f} s")
    return "\n\n".join(parts)


def _format_battery(data: dict[str, Any]) -> str:
    lines = [
        f"battery sizing over a {data['window_days']:g}-day window (annualized ×365/"
        f"{data['window_days']:g}); capital {data['costs']['energy']:g}/kWh + "
        f"{data['costs']['power']:g}/kW + {data['costs']['fixed']:,.0f}",
        f"peak import: {data['as_operated_peak_kw']:,.0f} kW as operated, "
        f"{data['no_battery_peak_kw']:,.0f} kW co-planned without a battery",
        f"{'kWh':>8}{'kW':>8}{'saved/yr':>12}{'capital':>12}{'payback':>9}{'peak kW':>9}",
    ]
    for o in data["options"]:
        payback = "-" if o["payback_years"] is None else f"{o['payback_years']:.1f} y"
        lines.append(
            f"{o['energy_kwh']:>8,.0f}{o['power_kw']:>8,.0f}{o['annual_savings']:>12,.0f}"
            f"{o['capital']:>12,.0f}{payback:>9}{o['peak_kw']:>9,.0f}"
        )
    best = data["best"]
    if best is None:
        lines.append(
            f"no size repays its capital within {data['costs']['lifetime']:g} years at these "
            "costs (the co-planner's flexibility already takes most of the peak)"
        )
    else:
        lines.append(
            f"best: {best['energy_kwh']:,.0f} kWh / {best['power_kw']:,.0f} kW, saves "
            f"{best['annual_savings']:,.0f} a year, payback {best['payback_years']:.1f} years"
        )
    return "\n".join(lines)


def _format_growth(data: dict[str, Any]) -> str:
    bound = "at least " if data["capped_at_maximum"] else ""
    lines = [
        f"growth headroom: IT can grow {bound}{data['it_growth_percent']:.1f} % "
        f"({data['it_energy_today_kwh']:,.0f} → {data['it_energy_grown_kwh']:,.0f} kWh over the "
        f"window) with the grid peak held at today's {data['peak_today_kw']:,.0f} kW"
    ]
    lines += [f"limited by: {text}" for text in data["limited_by"]]
    return "\n".join(lines)


def _format_capacity(data: dict[str, Any]) -> str:
    lines = [
        f"{data['count']} × {data['rack_type']} fit "
        f"(+{data['added_design_power_kw']:,.0f} kW design IT), verified by simulation: "
        f"{'yes' if data['verified'] else 'NO'}",
        f"added at: {', '.join(data['added']) or '(none)'}",
    ]
    if data["no_position_left"]:
        lines.append("one more: no free position left (give more with --positions)")
    elif data["binding"]:
        first = data["binding"][0]
        lines.append(f"binding: {first['kind']} of {first['equipment']}")
        lines.append("to fit one more, add: " + "; ".join(b["text"] for b in data["binding"]))
    for message in data["violations_next"]:
        lines.append(f"with one more ({', '.join(data['next_added'])}): {message}")
    for message in data["violations_at_count"]:
        lines.append(f"unresolved: {message}")
    for rack, why in data["excluded"].items():
        lines.append(f"excluded {rack}: {why}")
    if data["skipped"]:
        lines.append(f"skipped {len(data['skipped'])} positions: {data['skipped'][0]} ...")
    for text in data["pre_existing_violations"]:
        lines.append(f"already broken before adding racks (ignored): {text}")
    lines.append(f"{len(data['candidates'])} candidate positions, {data['iterations']} solve(s)")
    return "\n".join(lines)


@app.command()
def contingency(
    scenario: Annotated[
        Path, typer.Argument(help="Scenario YAML file (default: the demo hall).")
    ] = DEMO_SCENARIO,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as one JSON object.")
    ] = False,
    crah_response: Annotated[
        float, typer.Option(help="Takeover time after a cooling-unit trip [s].", min=0)
    ] = 60.0,
    transfer_time: Annotated[
        float, typer.Option(help="Transfer time after a feed loss [s].", min=0)
    ] = 10.0,
) -> None:
    """N-1: lose each cooling unit, chiller, CDU, feed and shelf PSU; pass/fail with margins.

    Given a fleet file, loses each site and each link instead (``dctwin fleet contingency``)."""
    from twin.fleet.schema import is_fleet_file

    if is_fleet_file(scenario):
        from twin.cli.fleet import run_fleet_contingency

        run_fleet_contingency(scenario, as_json=as_json)
        return
    from twin.scenario.compile import compile_facility
    from twin.studies.contingency import contingency_study

    started = time.perf_counter()
    spec = load_scenario_file(scenario)
    series = load_series(spec, scenario)
    facility = compile_facility(spec)
    err(f"N-1 study of {facility.name}: {series.sizes['time']} steps")
    report = contingency_study(
        facility, series, crah_response_time=crah_response, transfer_time=transfer_time
    )
    data = report.to_dict()
    data["seconds"] = round(time.perf_counter() - started, 3)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        typer.echo(_format_contingency(data))
    if report.failed:
        raise typer.Exit(EXIT_FAILED)


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _format_contingency(data: dict[str, Any]) -> str:
    header = (
        f"{'element':<16}{'result':<8}{'max inlet':>10}{'margin':>8}{'transient':>12}  "
        "tightest margin | detail"
    )
    lines = [header, "-" * len(header)]
    for row in data["results"]:
        transient = row["transient"]
        if "time_to_inlet_limit_s" in transient:
            ride = _number(transient["time_to_inlet_limit_s"], ".0f") + " s"
        elif "ride_through_s" in transient:
            ride = _number(transient["ride_through_s"], ".0f") + " s"
        else:
            ride = ""
        detail = row["violations"][0] if row["violations"] else row["note"]
        lines.append(
            f"{row['element']:<16}{'pass' if row['passed'] else 'FAIL':<8}"
            f"{_number(row['max_inlet_c'], '.1f'):>10}{_number(row['inlet_margin_k'], '.1f'):>8}"
            f"{ride:>12}  {row['tightest'] or '-'} | {detail}"
        )
    lines.append(
        f"{data['elements']} elements, {len(data['failed'])} fail; transient = time to the inlet "
        f"limit after a CRAH trip or rack BBU ride-through after a feed loss; "
        f"{data['seconds']:.2f} s"
    )
    lines += [f"already broken before any loss: {v}" for v in data["baseline_violations"]]
    return "\n".join(lines)
