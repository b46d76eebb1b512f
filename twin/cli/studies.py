"""``dctwin capacity`` and ``dctwin contingency``: sizing and N-1 studies from the command line.

Registered on :data:`twin.cli.main.app` by importing this module (the last lines of
``twin.cli.main``). Progress and errors go to stderr, results to stdout; ``--json`` prints exactly
one JSON object. Bad input (scenario, rack type, positions) prints one line and exits 2.
"""

from __future__ import annotations

import json
import textwrap
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
from twin.cli.progress import ProgressBars

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
    data: dict[str, Any] = {"currency": spec.grid.currency}
    options = PlanOptions(time_limit=time_limit)
    with ProgressBars() as bars:
        if rack_type:
            err(f"capacity study: {rack_type} in {spec.site.name}, {series.sizes['time']} steps")
            report = capacity_study(
                spec,
                series,
                rack_type,
                wanted,
                extend=extend,
                time_limit=time_limit,
                progress=bars.fraction(f"racks of {rack_type}"),
            )
            data["racks"] = report.to_dict()
        if battery:
            err("battery sizing: co-planning each size ...")
            sizes = bars.reporter("battery sizes co-planned")
            data["battery"] = battery_sizing(
                compile_facility(spec),
                series,
                powers_kw=powers,
                durations_h=tuple(hours),
                options=options,
                progress=sizes,
            ).to_dict()
        if growth:
            err("growth headroom: bisection over the IT growth factor ...")
            factors = bars.reporter("growth factors co-planned")
            data["growth"] = growth_headroom(
                spec, series, max_factor=max_growth, options=options, progress=factors
            ).to_dict()
            factors.finish()
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
        parts.append(_format_battery(data["battery"], data.get("currency", "USD")))
    if "growth" in data:
        parts.append(_format_growth(data["growth"]))
    parts.append(f"study took {data['seconds']:.2f} s")
    return "\n\n".join(parts)


def _format_battery(data: dict[str, Any], currency: str) -> str:
    lines = [
        f"battery sizing over a {data['window_days']:g}-day window (annualized ×365/"
        f"{data['window_days']:g}); capital {data['costs']['energy']:g} {currency}/kWh + "
        f"{data['costs']['power']:g} {currency}/kW + {data['costs']['fixed']:,.0f} {currency}",
        f"peak import: {data['as_operated_peak_kw']:,.0f} kW as operated, "
        f"{data['no_battery_peak_kw']:,.0f} kW co-planned without a battery",
        f"{'energy':>8}{'power':>8}{'saved/yr':>12}{'capital':>12}{'payback':>9}{'peak':>9}",
        f"{'[kWh]':>8}{'[kW]':>8}{f'[{currency}]':>12}{f'[{currency}]':>12}{'[y]':>9}{'[kW]':>9}",
    ]
    for o in data["options"]:
        payback = "-" if o["payback_years"] is None else f"{o['payback_years']:.1f}"
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
            f"{best['annual_savings']:,.0f} {currency} a year, payback "
            f"{best['payback_years']:.1f} years"
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
    with ProgressBars() as bars:
        report = contingency_study(
            facility,
            series,
            crah_response_time=crah_response,
            transfer_time=transfer_time,
            progress=bars.reporter("elements lost in turn"),
        )
    data = report.to_dict()
    data["steps"] = int(series.sizes["time"])
    data["step_minutes"] = float(spec.simulation.step.total_seconds() / 60)
    data["seconds"] = round(time.perf_counter() - started, 3)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        typer.echo(_format_contingency(data))
    if report.failed:
        raise typer.Exit(EXIT_FAILED)


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _fails_on(row: dict[str, Any]) -> str:
    """The limits a loss breaks: 'transient' and the margin kinds below zero."""
    if row["passed"]:
        return ""
    transient = row["transient"]
    kinds = []
    limit_time = transient.get("time_to_inlet_limit_s")
    if limit_time is not None and limit_time < transient.get("response_time_s", 0.0):
        kinds.append("transient")
    ride = transient.get("ride_through_s")
    if ride is not None and ride < transient.get("transfer_time_s", 0.0):
        kinds.append("ride-through")
    kinds += [kind for kind, margin in row["margins"].items() if margin is not None and margin < 0]
    return ", ".join(kinds) or "see detail"


def _transient(row: dict[str, Any]) -> str:
    transient = row["transient"]
    if "time_to_inlet_limit_s" in transient:
        limit = _number(transient["time_to_inlet_limit_s"], ".0f")
        return f"limit in {limit} s" if limit != "-" else "never at limit"
    if "ride_through_s" in transient:
        return f"BBU {_number(transient['ride_through_s'], '.0f')} s"
    return ""


def _contingency_groups(results: list[dict[str, Any]]) -> list[tuple[list[str], dict[str, Any]]]:
    """Rows with the same outcome (same kind, result, figures and detail) as one group."""
    groups: dict[tuple[Any, ...], tuple[list[str], dict[str, Any]]] = {}
    for row in results:
        own = row["element"].split(" ", 1)[-1]
        tightest = (row["tightest"] or "-").replace(f" {own}:", " (own):")
        detail = row["violations"][0] if row["violations"] else row["note"]
        key = (
            row["kind"],
            row["passed"],
            _number(row["max_inlet_c"], ".1f"),
            _number(row["inlet_margin_k"], ".1f"),
            _transient(row),
            tightest,
            detail.replace(own, "(own)"),
        )
        names, _ = groups.setdefault(key, ([], row))
        names.append(row["element"])
    return list(groups.values())


def _group_name(names: list[str]) -> str:
    if len(names) == 1:
        return names[0]
    prefix = names[0].split(" ", 1)[0] + " " if " " in names[0] else ""
    ids = [n.removeprefix(prefix) for n in names]
    listed = ", ".join(ids) if len(ids) <= 3 else f"{ids[0]} … {ids[-1]}"
    return f"{prefix}{listed} ({len(ids)})"


def _format_contingency(data: dict[str, Any]) -> str:
    titles = ["element lost", "result", "fails on", "inlet max", "margin", "transient"]
    units = ["", "", "", "[°C]", "[K]", ""]
    table: list[tuple[list[str], str, list[str]]] = []
    for names, row in _contingency_groups(data["results"]):
        own = row["element"].split(" ", 1)[-1]
        tightest = row["tightest"] or "-"
        details = row["violations"] or [row["note"]]
        if len(names) > 1:
            tightest = tightest.replace(f" {own}:", " of each:")
            details = [d.replace(own, "each") for d in details]
        cells = [
            _group_name(names),
            "pass" if row["passed"] else "FAIL",
            _fails_on(row) or "-",
            _number(row["max_inlet_c"], ".1f"),
            _number(row["inlet_margin_k"], ".1f"),
            _transient(row) or "-",
        ]
        table.append((cells, tightest, [d for d in details if d]))
    widths = [max(len(t), *(len(c[k]) for c, _, _ in table)) for k, t in enumerate(titles)]

    def line(cells: list[str], last: str) -> str:
        text = [
            cell.ljust(width) if k < 3 else cell.rjust(width)
            for k, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return ("  ".join(text) + "  " + last).rstrip()

    header = line(titles, "tightest margin after the loss")
    lines = [
        f"N-1 study of {data['facility']} over {data.get('steps', '?')} steps of "
        f"{data.get('step_minutes', 0):g} min: {data['elements']} elements, "
        f"{len(data['failed'])} fail",
        "",
        header,
        line(units, ""),
        "-" * len(header),
    ]
    for cells, tightest, details in table:
        lines.append(line(cells, tightest))
        lines += [f"    {detail}" for detail in details]
    lines += [
        "",
        *textwrap.wrap(
            "inlet max, margin: the hottest rack inlet over the window once the loss is "
            "absorbed (steady state) and its margin to the inlet limit. transient: when a "
            "CRAH's zone reaches the inlet limit after its trip (a fail when sooner than the "
            "takeover), or the rack BBUs' ride-through after a feed loss. Rows with the same "
            "outcome are grouped.",
            width=100,
        ),
        f"study took {data['seconds']:.2f} s",
    ]
    lines += [f"already broken before any loss: {v}" for v in data["baseline_violations"]]
    return "\n".join(lines)
