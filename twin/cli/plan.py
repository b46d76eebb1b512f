"""``dctwin plan``: co-plan setpoints, battery and flexible work over a look-ahead, verified.

``--horizon`` is the committed period (default: the scenario's window); the plan looks ahead
to the latest deadline of every job active in it (at most ``--lookahead-cap``), planned at
the scenario's step for ``--fine`` and hourly after, so that plan and baselines deliver the
same work.  ``--state`` starts from a previous plan's end (``--write-state``): work done,
battery SOC, the billing peak so far and the setpoints in force.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from twin.cli.common import (
    DEMO_SCENARIO,
    PerSiteFlag,
    app,
    check_solver_flags,
    clamped_line,
    err,
    fail,
    json_default,
    load_scenario_file,
    load_series,
    write_netcdf,
)
from twin.cli.progress import ProgressBars

SINGLE_SITE_OPTIONS = (
    "--horizon",
    "--step",
    "--start",
    "--lookahead-cap",
    "--state",
    "--write-state",
    "--out",
    "--shadow-prices/--no-shadow-prices",
)
"""Options of ``dctwin plan`` refused for a fleet file (they apply to one site)."""

MAX_HORIZON_DAYS = 7
"""Longest committed period [d]."""


def _duration(text: str | None, name: str) -> timedelta | None:
    """A CLI duration ("24h", "90 min", "7 d") as a timedelta, or one error line."""
    if text is None:
        return None
    import pandas as pd

    compact = re.sub(r"(?<=[\d.])d$", "D", text.replace(" ", ""))  # pandas wants D for days
    try:
        value = pd.Timedelta(compact).to_pytimedelta()  # "nan" is NaT: no to_pytimedelta
    except (ValueError, TypeError, OverflowError, AttributeError):
        raise fail(f"--{name}: {text!r} is not a duration such as 24h, 90min or 7d") from None
    if value <= timedelta(0):
        raise fail(f"--{name}: expected a positive duration, got {text!r}")
    return value


def _hours(text: str, name: str) -> float:
    """A CLI duration in hours [h], or one error line."""
    value = _duration(text, name)
    assert value is not None
    return value.total_seconds() / 3600


def _instant(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise fail(f"--start: {text!r} is not ISO 8601 (e.g. 2026-07-08T00:00Z)") from None
    if moment.tzinfo is None:
        raise fail(f"--start: {text!r} has no timezone (add Z or +hh:mm)")
    return moment


MAX_STATE_BYTES = 64 * 1024 * 1024
"""Largest plan-state file ``--state`` reads [bytes]."""


def _read_state(path: Path | None) -> Any:
    """The plan state in ``path`` (JSON), or one error line."""
    if path is None:
        return None
    from optimizer.state import PlanState, StateError
    from twin.scenario.loader import read_text_file

    try:
        return PlanState.from_json(json.loads(read_text_file(path, MAX_STATE_BYTES)))
    except OSError as exc:
        raise fail(f"--state {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise fail(f"--state {path}: not JSON ({exc.msg}, line {exc.lineno})") from None
    except RecursionError:
        raise fail(f"--state {path}: nested too deeply for a plan state") from None
    except (StateError, ValueError) as exc:  # ValueError: not a regular file, too large
        raise fail(f"--state {path}: {exc}") from None


def _plan_window(
    spec: Any,
    start: datetime | None,
    horizon: timedelta | None,
    step: timedelta | None,
    cap: timedelta,
    state: Any,
) -> Any:
    """The scenario's look-ahead window for the CLI options, or one error line per problem."""
    from pydantic import ValidationError

    from twin.scenario.errors import format_validation_error
    from twin.scenario.schema import Scenario
    from twin.scenario.window import plan_window, windowed

    try:
        if step is not None:
            spec = windowed(spec, step=step)
        window = plan_window(
            spec, start=start, horizon=horizon, cap_hours=cap.total_seconds() / 3600, state=state
        )
    except ValidationError as exc:
        raise fail("\n".join(format_validation_error(exc, {}, Scenario))) from None
    if window.committed_hours > MAX_HORIZON_DAYS * 24 + 1e-9:
        raise fail(f"--horizon {window.committed_hours:g} h is longer than {MAX_HORIZON_DAYS} days")
    steps = window.committed_hours * 3600 / window.scenario.simulation.step.total_seconds()
    if steps < 2 - 1e-9:
        raise fail(
            f"--horizon {window.committed_hours:g} h is shorter than two steps of "
            f"{window.scenario.simulation.step}"
        )
    return window


@app.command()
def plan(
    scenario: Annotated[
        Path, typer.Argument(help="Scenario YAML file (default: the demo hall).")
    ] = DEMO_SCENARIO,
    horizon: Annotated[
        str | None,
        typer.Option(help="Committed period, e.g. 24h (default: the scenario's window)."),
    ] = None,
    step: Annotated[str | None, typer.Option(help="Time step, e.g. 15min.")] = None,
    start: Annotated[
        str | None,
        typer.Option(
            help="First instant, ISO 8601 with offset (default: the state's, else the scenario's)."
        ),
    ] = None,
    lookahead_cap: Annotated[
        str | None,
        typer.Option(help="Longest look-ahead for the deadlines planned for [default: 7d]."),
    ] = None,
    fine: Annotated[
        str, typer.Option(help="Look-ahead planned at the scenario's step; hourly after.")
    ] = "24h",
    state_file: Annotated[
        Path | None,
        typer.Option("--state", help="Start from this plan state (JSON from --write-state)."),
    ] = None,
    write_state: Annotated[
        Path | None,
        typer.Option(help="Write the state at the end of the committed period (JSON)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write decisions and verified states as NetCDF.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as one JSON object.")
    ] = False,
    time_limit: Annotated[float, typer.Option(help="Solver time limit per solve [s].")] = 60.0,
    mip_gap: Annotated[float, typer.Option(help="Relative MIP gap [-].")] = 5e-3,
    shadow_prices: Annotated[
        bool | None,
        typer.Option(help="Price relaxed limits by extra solves [default: on; single site]."),
    ] = None,
    carbon_price: Annotated[
        float | None, typer.Option(help="Carbon price for every site [currency/t CO2e].")
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Dask scheduler address: verify a fleet's sites on that cluster."),
    ] = None,
    per_site: PerSiteFlag = False,
) -> None:
    """Co-plan setpoints, battery and flexible work; verify the plan with the physics.

    Given a fleet file (a ``fleet:`` key), plans the fleet (``dctwin fleet plan``); the
    single-site options are refused there (:data:`SINGLE_SITE_OPTIONS`)."""
    from twin.fleet.schema import is_fleet_file

    if is_fleet_file(scenario):
        from twin.cli.fleet import plan_fleet_file

        given = (horizon, step, start, lookahead_cap, state_file, write_state, out, shadow_prices)
        plan_fleet_file(
            scenario,
            dict(zip(SINGLE_SITE_OPTIONS, given, strict=True)),
            as_json=as_json,
            time_limit=time_limit,
            mip_gap=mip_gap,
            fine_hours=_hours(fine, "fine"),
            scheduler=scheduler,
            carbon_price=carbon_price,
            per_site=per_site,
        )
        return
    for flag, used in (("--scheduler", scheduler is not None), ("--per-site", per_site)):
        if used:
            raise fail(f"{flag}: applies to fleet files only (one site is planned here)")
    from optimizer.plan import PlanOptions
    from optimizer.plan import plan as make_plan
    from optimizer.state import StateError
    from twin.scenario.compile import compile_facility

    check_solver_flags(time_limit, mip_gap)
    state = _read_state(state_file)
    fine_hours = _duration(fine, "fine")
    cap = _duration(lookahead_cap or "7d", "lookahead-cap")
    assert fine_hours is not None and cap is not None
    spec = load_scenario_file(scenario)
    if carbon_price is not None:
        spec = spec.model_copy(
            update={"grid": spec.grid.model_copy(update={"carbon_price": carbon_price})}
        )
    window = _plan_window(
        spec,
        _instant(start),
        _duration(horizon, "horizon"),
        _duration(step, "step"),
        cap,
        state,
    )
    spec = window.scenario
    series = load_series(spec, scenario)
    facility = compile_facility(spec)
    err(
        f"planning {facility.name}: {facility.racks.count} racks, committed "
        f"{window.committed_hours:g} h, look-ahead {window.lookahead_hours:g} h "
        f"({series.sizes['time']} steps of {spec.simulation.step})"
    )
    options = PlanOptions(
        time_limit=time_limit,
        mip_gap=mip_gap,
        shadow_prices=shadow_prices is not False,
        fine_hours=fine_hours.total_seconds() / 3600,
        committed_hours=window.committed_hours,
    )
    try:
        with ProgressBars() as bars:
            result = make_plan(facility, series, options, state, bars.fraction("co-planning"))
    except StateError as exc:
        raise fail(f"--state {state_file}: {exc}") from None
    _report(result, out=out, write_state=write_state, as_json=as_json)


def _report(result: Any, *, out: Path | None, write_state: Path | None, as_json: bool) -> None:
    """Write the plan's NetCDF and end state when asked, print it; exit 3 when infeasible."""
    if out is not None:
        dataset = result.result.copy()
        dataset.attrs.update({"plan_status": result.status, "plan_verified": int(result.verified)})
        write_netcdf(dataset, out)
    if write_state is not None and result.status not in ("infeasible",):
        _write_state(result.end_state(), write_state)
    data = result.to_json()
    for name in ("clamped_chiller_steps", "clamped_trim_chiller_steps"):
        data[name] = int(result.result.attrs.get(name, 0))
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=json_default))
    else:
        typer.echo(format_plan(data))
    if result.status in ("infeasible", "fallback"):
        raise typer.Exit(3)


def _write_state(state: Any, path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(state.to_json(), indent=2) + "\n")
    except OSError as exc:
        raise fail(f"--write-state {path}: {exc.strerror or exc}") from None
    err(f"wrote the plan's end state to {path}")


_ROWS = (
    ("cost", "total cost", "money"),
    ("energy_cost", "  energy", "money"),
    ("demand_charge", "  demand charge", "money"),
    ("demand_response_penalty", "  DR penalty", "money"),
    ("demand_response_credit", "  DR credit (paid)", "money"),
    ("carbon_cost", "  carbon", "money"),
    ("battery_wear_cost", "  battery wear", "money"),
    ("deferred_cost", "  work left for later", "money"),
    ("carbon_kg", "emissions [kg CO2e]", ""),
    ("peak_grid_kw", "peak import [kW]", ""),
    ("cooling_energy_kwh", "cooling energy [kWh]", ""),
    ("it_energy_kwh", "IT energy [kWh]", ""),
    ("max_inlet_temperature_c", "hottest inlet [°C]", "temperature"),
)


def _cell(value: float, kind: str) -> str:
    return f"{value:>13.2f}" if kind == "temperature" else f"{value:>13,.0f}"


def format_plan(data: dict[str, Any]) -> str:
    """The plan as a report: figures of plan and baselines over the same look-ahead, changes
    (negative = lower than the baseline), contracts, the committed period, notes."""
    from optimizer.result import describe_solve, describe_source

    base, currency = data["baselines"], data.get("currency", "USD")
    look = data.get("lookahead", {})
    lines = [
        f"look-ahead {look.get('start', '?')} → {look.get('end', '?')} "
        f"({look.get('periods', '?')} periods over {look.get('steps', '?')} steps); committed "
        f"until {look.get('committed_end', '?')}",
        f"{describe_solve(data)}; verified {'yes' if data['verified'] else 'NO'} "
        "(physics and contracts)",
        *describe_source(data),  # the co-plan, or the rule-based schedule where it is cheaper
        "",
        f"{'over the look-ahead':<26}{'plan':>13}{'as operated':>13}{'rule-based':>13}",
    ]
    for key, label, kind in _ROWS:
        if key not in data or (kind == "money" and key != "cost" and not _any(data, base, key)):
            continue
        unit = f" [{currency}]" if kind == "money" else ""
        lines.append(
            f"{label + unit:<26}{_cell(data[key], kind)}"
            f"{_cell(base['as_operated'][key], kind)}{_cell(base['rule_based'][key], kind)}"
        )
    work = data.get("equal_work", {})
    unequal = bool(work) and not work.get("equal", True)
    for name in ("as_operated", "rule_based"):
        broken = data.get("baseline_violations", {}).get(name, [])
        if unequal:  # a percentage on unequal work would read as a saving
            lines.append(
                f"change vs {name.replace('_', ' ')}: not shown: plan and baseline deliver "
                "unequal IT energy (see the warning below)"
            )
        else:
            lines.append(_changes(data[f"savings_vs_{name}"], name, broken))
        lines += [f"{name.replace('_', ' ')} breaks: {v}" for v in broken]
    if unequal:
        lines.append(
            f"WARNING: IT energy differs by up to {work['max_relative_difference']:.1%} between "
            "plan and baselines: not equal work"
        )
    lines += _contracts(data)
    lines += _committed(data, currency)
    lines.append(clamped_line(data))
    from optimizer.curve_range import describe

    lines += describe(data.get("curve_range", {}), currency)
    timings = data["timings"]
    lines.append(
        "timings: " + ", ".join(f"{k.removesuffix('_s')} {v:.2f} s" for k, v in timings.items())
    )
    lines += [f"violation: {v}" for v in data["violations"]]
    lines += [f"explanation: {e}" for e in data.get("explanation", [])]
    lines += [f"note: {n}" for n in data["notes"]]
    lines += _shadow_prices(data.get("shadow_prices", {}), currency)
    return "\n".join(lines)


def _any(data: dict[str, Any], base: dict[str, Any], key: str) -> bool:
    values = [data.get(key, 0.0), *(figures.get(key, 0.0) for figures in base.values())]
    return any(abs(v) > 1e-9 for v in values)


def _changes(saved: dict[str, float | None], name: str, broken: list[str]) -> str:
    """The change line against one baseline; a baseline that breaks a limit or contract
    (``broken``, its violation messages) is named, since a saving counts only against one
    that meets them."""

    def change(key: str) -> str:
        value = saved.get(key)
        return "n/a" if value is None else f"{-value:+.1%}".replace("-", "−")

    line = (
        f"change vs {name.replace('_', ' ')}: cost {change('cost')}, emissions "
        f"{change('carbon_kg')}, peak {change('peak_grid_kw')}, cooling "
        f"{change('cooling_energy_kwh')} (negative: lower than the baseline)"
    )
    if broken:
        what = "; ".join(dict.fromkeys(v.split(": ", 1)[0] for v in broken))
        line += f", against a baseline that breaks {what}"
    return line


def _contracts(data: dict[str, Any]) -> list[str]:
    lines = []
    for name, entry in data.get("sla", {}).items():
        if entry["tier"] != 3:
            continue
        state = "met" if entry["met"] else "NOT MET"
        if entry["met"] and entry["deferred_kwh"] > 0:  # its deadline is past the look-ahead
            state = "not yet due (on track)"
        extra = []
        if entry["late_kwh"] > 0:
            extra.append(f"{entry['late_kwh']:,.0f} kWh late (up to {entry['max_delay_h']:g} h)")
        if entry["unserved_kwh"] > 0:
            extra.append(f"{entry['unserved_kwh']:,.0f} kWh not delivered")
        if entry["deferred_kwh"] > 0:
            extra.append(f"{entry['deferred_kwh']:,.0f} kWh left for after the look-ahead")
        lines.append(
            f"job {name} ({entry['contract']}): {entry['on_time_kwh']:,.0f} of "
            f"{entry['required_kwh']:,.0f} kWh by {entry['deadline']}, {state}"
            + (f"; {', '.join(extra)}" if extra else "")
        )
    tier1 = [n for n, e in data.get("sla", {}).items() if e["tier"] == 1]
    if tier1:
        untouched = all(data["sla"][n]["met"] for n in tier1)
        lines.append(f"tier 1 ({', '.join(tier1)}): {'untouched' if untouched else 'CHANGED'}")
    return lines


def _committed(data: dict[str, Any], currency: str) -> list[str]:
    committed = data.get("committed", {})
    if not committed or data.get("lookahead", {}).get("committed_end") == data.get(
        "lookahead", {}
    ).get("end"):
        return []
    plan, operated = committed["plan"], committed["as_operated"]
    rule = committed["rule_based"]
    return [
        f"committed period alone: cost {plan['cost']:,.0f} {currency} (as operated "
        f"{operated['cost']:,.0f}, rule-based {rule['cost']:,.0f}), IT energy "
        f"{plan['it_energy_kwh']:,.0f} kWh (as operated {operated['it_energy_kwh']:,.0f}): "
        "work may move between the committed period and the rest of the look-ahead, so "
        "compare the look-ahead figures above"
    ]


def _shadow_prices(prices: dict[str, Any], currency: str) -> list[str]:
    lines = []
    for feed, value in prices.get("feed_capacity_per_kw", {}).items():
        lines.append(f"shadow price: 1 kW more on feed {feed} is worth {value:,.2f} {currency}")
    if "inlet_limit_per_k" in prices:
        lines.append(
            f"shadow price: a 1 K higher inlet limit is worth {prices['inlet_limit_per_k']:,.2f} "
            f"{currency}"
        )
    if "battery_energy_per_kwh" in prices:
        lines.append(
            "shadow price: 1 kWh more battery is worth "
            f"{prices['battery_energy_per_kwh']:,.2f} {currency}"
        )
    for job, value in prices.get("deadline_per_hour", {}).items():
        lines.append(
            f"shadow price: job {job}'s deadline 1 h later is worth {value:,.2f} {currency}"
        )
    return lines
