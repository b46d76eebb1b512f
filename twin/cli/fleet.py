"""``dctwin fleet plan`` (and ``dctwin plan fleet.yaml``): one co-plan across a fleet's sites.

The fleet file (:mod:`twin.fleet.schema`) names the sites' scenarios, the users' regions, the
links and the fleet jobs; the plan moves work in time and in space, verified by every site's
physics, beside the ``as_operated`` and ``sites_alone`` baselines.  ``--scheduler`` simulates
the sites on a Dask cluster.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from twin.cli.common import PerSiteFlag, app, check_solver_flags, err, fail, json_default

EXIT_FAILED = 3
"""Exit code when the fleet plan is infeasible (or a fallback) or a contingency fails, as for
``dctwin plan`` and ``dctwin contingency``."""

fleet_app = typer.Typer(help="Plan many sites together (fleet files).", no_args_is_help=True)
app.add_typer(fleet_app, name="fleet")


def _client(scheduler: str | None) -> Any:
    if scheduler is None:
        return None
    try:
        from distributed import Client
    except ImportError:
        raise fail("--scheduler needs dask.distributed (pip install 'dask[distributed]')") from None
    try:
        return Client(scheduler, timeout="10s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise fail(f"--scheduler {scheduler}: cannot connect ({exc})") from None


def check_fleet_flags(
    time_limit: float, mip_gap: float, fine_hours: float, carbon_price: float | None
) -> None:
    """Refuse (exit 2, one line each) a bad time limit, MIP gap [-], fine span [h] or carbon
    price [currency/t CO2e]."""
    import math

    check_solver_flags(time_limit, mip_gap)
    lines = []
    if not (math.isfinite(fine_hours) and fine_hours >= 0):
        lines.append(f"--fine: expected a non-negative number of hours, got {fine_hours:g}")
    if carbon_price is not None and not (math.isfinite(carbon_price) and carbon_price >= 0):
        lines.append(
            f"--carbon-price: expected a non-negative price per tonne CO2e, got {carbon_price:g}"
        )
    if lines:
        raise fail("\n".join(lines))


def run_fleet_plan(
    path: Path,
    *,
    as_json: bool,
    time_limit: float = 60.0,
    mip_gap: float = 5e-3,
    fine_hours: float = 24.0,
    scheduler: str | None = None,
    carbon_price: float | None = None,
    per_site: bool = False,
) -> None:
    """Plan the fleet in ``path`` and print the report (or one JSON object).

    Parameters
    ----------
    path
        The fleet file.
    as_json
        Print one JSON object instead of the report.
    time_limit
        Solver time limit per solve [s].
    mip_gap
        Relative MIP gap [-].
    fine_hours
        Hours planned at the fleet's step, hourly after [h].
    scheduler
        Dask scheduler address: the sites are verified on that cluster in parallel.
    carbon_price
        Carbon price for every site [currency/t CO2e], overriding the scenarios' and the fleet
        file's (None: keep them).
    per_site
        Plan one site's model at a time (:func:`optimizer.fleet.per_site.plan_fleet_per_site`:
        memory of one site's model instead of the fleet's; the co-plan keeps the placement's
        energy split of each moved job); no Dask scheduler then.
    """
    from optimizer.fleet.per_site import plan_fleet_per_site
    from optimizer.fleet.plan import plan_fleet
    from optimizer.planner import PlanOptions
    from twin.cli.progress import ProgressBars
    from twin.fleet.build import build_fleet
    from twin.fleet.schema import FleetError

    check_fleet_flags(time_limit, mip_gap, fine_hours, carbon_price)
    if per_site and scheduler is not None:
        raise fail("--scheduler: the fleet planned site by site (--per-site) runs in this process")
    try:
        ready = build_fleet(path, carbon_price=carbon_price)
    except FleetError as exc:
        raise fail(str(exc)) from None
    problem = ready.problem
    err(
        f"planning fleet {problem.name!r}: {len(problem.sites)} sites, {len(problem.regions)} "
        f"regions, {len(problem.jobs)} fleet jobs, {problem.time.size} steps"
    )
    options = PlanOptions(time_limit=time_limit, mip_gap=mip_gap, fine_hours=fine_hours)
    client = _client(scheduler)
    try:
        with ProgressBars() as bars, bars.stage("co-planning, verifying every site, baselines"):
            if per_site:
                result = plan_fleet_per_site(
                    problem, options, baseline_routing=ready.baseline_routing
                )
            else:
                result = plan_fleet(
                    problem, options, baseline_routing=ready.baseline_routing, client=client
                )
    finally:
        if client is not None:
            client.close()
    data = result.to_json()
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=json_default))
    else:
        typer.echo(format_fleet_plan(data))
    if result.status in ("infeasible", "fallback"):
        raise typer.Exit(EXIT_FAILED)


def plan_fleet_file(
    path: Path,
    single_site: dict[str, Any],
    *,
    as_json: bool,
    time_limit: float,
    mip_gap: float,
    fine_hours: float,
    scheduler: str | None,
    carbon_price: float | None,
    per_site: bool = False,
) -> None:
    """``dctwin plan FLEET.yaml``: refuse (exit 2, one line each) the single-site options
    given (``single_site``: option name → value, None when not given), then plan the fleet.

    The other parameters are those of :func:`run_fleet_plan` (``fine_hours`` [h]).
    """
    refused = [name for name, value in single_site.items() if value is not None]
    if refused:
        raise fail(
            "\n".join(
                f"{name}: applies to a single-site scenario, not to the fleet file {path}"
                for name in refused
            )
        )
    run_fleet_plan(
        path,
        as_json=as_json,
        time_limit=time_limit,
        mip_gap=mip_gap,
        fine_hours=fine_hours,
        scheduler=scheduler,
        carbon_price=carbon_price,
        per_site=per_site,
    )


def run_fleet_contingency(path: Path, *, as_json: bool) -> None:
    """Lose each site and link of the fleet in ``path``; print pass/fail with margins."""
    from optimizer.fleet.contingency import fleet_contingency
    from twin.fleet.build import build_fleet
    from twin.fleet.schema import FleetError

    try:
        ready = build_fleet(path)
    except FleetError as exc:
        raise fail(str(exc)) from None
    err(f"fleet contingency of {ready.problem.name!r}: {len(ready.problem.sites)} sites")
    data = fleet_contingency(ready.problem)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        typer.echo(format_fleet_contingency(data))
    if not data["passed"]:
        raise typer.Exit(EXIT_FAILED)


def format_fleet_contingency(data: dict[str, Any]) -> str:
    """Each lost site and link: regions served within budget or not, margins, ride-through."""
    lines = []
    for site, case in data["sites"].items():
        minutes = case["ride_through_min"]
        battery = "no battery" if minutes is None else f"battery ride-through {minutes:,.1f} min"
        lines.append(f"lose site {site}: {'PASS' if case['passed'] else 'FAIL'} ({battery})")
        for region, entry in case["regions"].items():
            if entry["passed"]:
                lines.append(
                    f"  region {region}: served within budget, margin {entry['margin_kw']:,.1f} kW"
                )
            else:
                lines.append(
                    f"  region {region}: up to {entry['unserved_peak_kw']:,.1f} kW cannot be "
                    f"served within budget ({entry['unserved_kwh']:,.0f} kWh over "
                    f"{entry['hours_short']:g} h)"
                )
    for link, entry in data["links"].items():
        jobs = ", ".join(entry["jobs_that_cannot_move"]) or "none"
        lines.append(f"lose link {link}: PASS (tier 1 unaffected; jobs that cannot move: {jobs})")
    lines.append(f"overall: {'PASS' if data['passed'] else 'FAIL'}")
    return "\n".join(lines)


@fleet_app.command("contingency")
def fleet_contingency_command(
    fleet_file: Annotated[Path, typer.Argument(help="Fleet YAML file.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as one JSON object.")
    ] = False,
) -> None:
    """Lose each site and each link: tier 1 within latency budgets? Ride-through on batteries."""
    run_fleet_contingency(fleet_file, as_json=as_json)


@fleet_app.command("plan")
def fleet_plan(
    fleet_file: Annotated[Path, typer.Argument(help="Fleet YAML file.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as one JSON object.")
    ] = False,
    time_limit: Annotated[float, typer.Option(help="Solver time limit per solve [s].")] = 60.0,
    mip_gap: Annotated[float, typer.Option(help="Relative MIP gap [-].")] = 5e-3,
    fine: Annotated[
        float, typer.Option(help="Hours planned at the fleet's step; hourly after [h].")
    ] = 24.0,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Dask scheduler address: simulate the sites on that cluster."),
    ] = None,
    carbon_price: Annotated[
        float | None,
        typer.Option(help="Carbon price for every site [currency/t CO2e] (default: each site's)."),
    ] = None,
    per_site: PerSiteFlag = False,
) -> None:
    """Co-plan a fleet: jobs move between sites, tier 1 routed within latency budgets."""
    run_fleet_plan(
        fleet_file,
        as_json=as_json,
        time_limit=time_limit,
        mip_gap=mip_gap,
        fine_hours=fine,
        scheduler=scheduler,
        carbon_price=carbon_price,
        per_site=per_site,
    )


def _number(value: float) -> str:
    """A figure rounded to a whole number, without a negative zero."""
    return f"{(value if abs(value) >= 0.5 else 0.0):>14,.0f}"


def _change(saved: dict[str, Any], key: str) -> str:
    value = saved.get(key)
    return "n/a" if value is None else f"{-value:+.1%}".replace("-", "−")


def format_fleet_plan(data: dict[str, Any]) -> str:
    """The fleet plan as a report: fleet figures beside both baselines, per site, jobs,
    routing, transfers, notes."""
    currency = data.get("currency", "USD")
    lines = [
        f"fleet {data['fleet']}: status {data['status']}, verified "
        f"{'yes' if data['verified'] else 'NO'} (every site's physics and contracts)"
    ]
    if data.get("plan_source") == "sites_alone":
        lines.append("plan returned: sites_alone (every job at home; see the notes)")
    lines += [f"explanation: {line}" for line in data.get("explanation", [])]
    base = data.get("baselines", {})
    if "cost" in data:
        names = [n for n in ("as_operated", "sites_alone") if n in base]
        header = "".join(f"{n.replace('_', ' '):>14}" for n in names)
        lines += ["", f"{'over the window':<26}{'plan':>14}{header}"]
        for key, label in _table_rows(data, [base[n] for n in names], currency):
            cells = "".join(_number(base[n].get(key, 0.0)) for n in names)
            lines.append(f"{label:<26}{_number(data.get(key, 0.0))}{cells}")
        for name in names:
            saved = data.get(f"savings_vs_{name}", {})
            if saved.get("not_reported"):
                lines.append(
                    f"change vs {name.replace('_', ' ')}: not reported ({saved['not_reported']})"
                )
                continue
            lines.append(
                f"change vs {name.replace('_', ' ')}: cost {_change(saved, 'cost')}, emissions "
                f"{_change(saved, 'carbon_kg')} (negative: lower than the baseline)"
            )
        lines += _sites(data, currency) + _jobs(data, currency) + _routing(data)
        lines += _transfers(data, currency)
    lines += [f"latency budget exceeded: {line}" for line in data.get("latency_violations", [])]
    lines += [f"problem: {line}" for line in data.get("problems", [])]
    timings = data.get("timings", {})
    if timings:
        lines.append(
            "timings: " + ", ".join(f"{k.removesuffix('_s')} {v:.2f} s" for k, v in timings.items())
        )
    lines += [f"note: {line}" for line in data.get("notes", [])]
    return "\n".join(lines)


_COST_ROWS = (
    ("energy_cost", "energy"),
    ("demand_charge", "demand charge"),
    ("demand_response_penalty", "DR penalty"),
    ("demand_response_credit", "DR credit (paid)"),
    ("carbon_cost", "carbon"),
    ("battery_wear_cost", "battery wear"),
    ("lateness_cost", "lateness"),
    ("unserved_cost", "work not served"),
    ("deferred_cost", "work left for later"),
    ("transfer_cost", "network"),
)
"""The parts of the fleet's cost, in the order of the report (the cost is their sum, the
DR credit subtracted)."""


def _table_rows(
    data: dict[str, Any], baselines: list[dict[str, Any]], currency: str
) -> list[tuple[str, str]]:
    """The report table's rows: the cost, each of its parts that is not zero in the plan or
    a baseline (so the parts shown add up to the cost), then emissions, work and data."""
    columns = [data, *baselines]
    parts = [
        (key, f"  {label} [{currency}]")
        for key, label in _COST_ROWS
        if key == "energy_cost" or any(abs(c.get(key) or 0.0) >= 0.5 for c in columns)
    ]
    return [
        ("cost", f"cost [{currency}]"),
        *parts,
        ("carbon_kg", "emissions [kg CO2e]"),
        ("it_energy_kwh", "IT energy [kWh]"),
        ("transfer_gb", "data moved [GB]"),
    ]


def _sites(data: dict[str, Any], currency: str) -> list[str]:
    lines = [""]
    for name, site in data.get("sites", {}).items():
        lines.append(
            f"site {name} ({site.get('grid_zone') or 'zone ?'}): cost {site['cost']:,.0f} "
            f"{currency}, {site['carbon_kg']:,.0f} kg CO2e, peak {site['peak_grid_kw']:,.0f} kW, "
            f"verified {'yes' if site['verified'] else 'NO'}"
        )
    return lines


def _jobs(data: dict[str, Any], currency: str = "") -> list[str]:
    lines = []
    alone = ((data.get("baselines") or {}).get("sites_alone") or {}).get("jobs") or {}
    for name, job in data.get("jobs", {}).items():
        where = ", ".join(f"{site} {kwh:,.0f}" for site, kwh in job["by_site_kwh"].items())
        lines.append(
            f"job {name} (home {job['home']}): {job['on_time_kwh']:,.0f} of "
            f"{job['required_kwh']:,.0f} kWh by {job['deadline']} ({where} kWh), "
            f"{'met' if job['met'] else 'NOT MET'}"
        )
        why = _paid(job, currency)
        if why:
            home = _paid(alone.get(name) or {}, currency)
            lines.append(
                f"  mean grid price and carbon over its hours: {why}"
                + (f" (sites alone: {home})" if home else "")
            )
    return lines


def _paid(job: dict[str, Any], currency: str) -> str:
    """Where a job ran, at what mean price and carbon intensity (its power-weighted mean)."""
    prices = job.get("mean_price_per_mwh") or {}
    carbon = job.get("mean_carbon_g_per_kwh") or {}
    return ", ".join(
        f"{site} {price:,.1f} {currency}/MWh"
        + (f", {carbon[site]:,.0f} g CO2e/kWh" if site in carbon else "")
        for site, price in prices.items()
    )


def _routing(data: dict[str, Any]) -> list[str]:
    return [
        f"region {region}: "
        + ", ".join(f"{site} {share:.0%}" for site, share in shares.items() if share > 5e-4)
        for region, shares in data.get("routing", {}).items()
    ]


def _transfers(data: dict[str, Any], currency: str) -> list[str]:
    lines = []
    for t in data.get("transfers", []):
        lines.append(
            f"transfer {t['from']} → {t['to']}: {t['gb']:,.1f} GB, {t['cost']:,.2f} {currency}, "
            f"{t['energy_kwh']:,.2f} kWh"
        )
        lines += [
            f"  move {m['job']} ({m['share']:.0%}): copy from {m['start']}, runs there from "
            f"{m['copy_done']}"
            for m in t.get("moves", [])
            if "copy_done" in m
        ]
    return lines
