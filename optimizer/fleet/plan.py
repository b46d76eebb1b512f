"""Plan a fleet: one co-plan across sites, verified by every site's physics, and baselines.

``plan_fleet(problem)`` builds the fleet model (:class:`optimizer.fleet.solve.FleetSolver`),
judges the as-operated fleet, solves the ``sites_alone`` baseline (every job pinned home, the
as-operated routing, each site co-planned in time) and then the fleet co-plan (jobs free to
move within their allowed sites, routing free within the latency budgets), each verified by
re-simulating every site's share with its physics.  Infeasible contracts are explained in
words (:class:`optimizer.fleet.problem.FleetInfeasible`).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.contrib.appsi.base import TerminationCondition

from optimizer.fleet.model import pin_home, unpin
from optimizer.fleet.placement import SHARE_TOLERANCE, pin_placement, solve_placement
from optimizer.fleet.problem import FleetInfeasible, FleetProblem
from optimizer.fleet.result import FleetPlan, Judged, infeasible_plan, judge
from optimizer.fleet.solve import FleetSolver, FleetView, SiteOutcome
from optimizer.planner import PlanOptions
from physics.violations import find_violations


def network_figures(solver: FleetView) -> dict[str, float]:
    """Data moved by the loaded solution and its price, energy and carbon."""
    b = solver.model.network
    carbon_kg = float(pyo.value(b.carbon_kg))
    return {
        "transfer_gb": max(float(sum(pyo.value(v) for v in b.moved.values())), 0.0),
        "transfer_cost": max(float(pyo.value(b.transfer_cost)), 0.0),
        "transfer_energy_kwh": max(float(pyo.value(b.energy_kwh)), 0.0),
        "transfer_carbon_kg": max(carbon_kg, 0.0),
        "transfer_carbon_cost": float(pyo.value(b.cost)) - float(pyo.value(b.transfer_cost)),
    }


NO_TRANSFERS = {
    "transfer_gb": 0.0,
    "transfer_cost": 0.0,
    "transfer_energy_kwh": 0.0,
    "transfer_carbon_kg": 0.0,
    "transfer_carbon_cost": 0.0,
}


def transfers(solver: FleetView) -> list[dict[str, Any]]:
    """Every directed link that carried data: GB, cost, energy, and the moves made (each with
    the start of its copy and the end of the copy's last period, from which the job may run
    at the destination, UTC)."""
    model, problem = solver.model, solver.problem
    starts, ends = solver.axis.start, solver.axis.end
    copies = model.jobs.copies

    def instant(value: np.datetime64) -> str:
        return pd.Timestamp(value).tz_localize("UTC").isoformat()

    out = []
    for origin, target in model.network.L:
        gb = [float(pyo.value(model.network.moved[origin, target, t])) for t in model.T]
        if sum(gb) <= 1e-6:
            continue
        link = problem.link(origin, target)
        assert link is not None
        moves = [
            {
                "job": job,
                "start": instant(starts[t]),
                "copy_done": instant(ends[copies[(job, o, d)][t][-1][0]]),
                "share": round(float(pyo.value(var)), 4),
            }
            for (job, o, d, t), var in model.jobs.move.items()
            if o == origin and d == target and pyo.value(var) > 1e-6
        ]
        out.append(
            {
                "from": origin,
                "to": target,
                "gb": round(sum(gb), 3),
                "cost": round(sum(gb) * link.price_from(origin), 4),
                "energy_kwh": round(sum(gb) * link.energy, 4),
                "bandwidth_gbps": link.bandwidth,
                "moves": moves,
            }
        )
    return out


def routing_summary(solver: FleetView) -> tuple[dict[str, dict[str, float]], list[str]]:
    """Share of each region's tier-1 energy served by each site [-], and the latency budgets
    exceeded by the solution (empty when every share goes to a site within budget)."""
    model, problem = solver.model, solver.problem
    dt = model.step_hours
    summary: dict[str, dict[str, float]] = {}
    exceeded: list[str] = []
    for region in problem.regions:
        mean = solver.axis.reduce(region.demand, "mean")
        total = float(np.sum(mean * dt)) or 1.0
        shares: dict[str, float] = {}
        for site in region.eligible:
            values = np.array(
                [pyo.value(model.routing.share[region.name, site, t]) for t in model.T]
            )
            shares[site] = round(float(np.sum(values * mean * dt)) / total, 6)
            latency = region.latency[site]
            if latency > region.budget and values.max() > 1e-6:
                exceeded.append(
                    f"region {region.name!r} routed to {site} at {latency:g} ms (budget "
                    f"{region.budget:g} ms)"
                )
        summary[region.name] = shares
    return summary, exceeded


def _as_operated(solver: FleetSolver) -> Judged:
    outcomes = [
        SiteOutcome(
            site.baseline_schedule,
            site.baseline_result,
            find_violations(site.facility, site.baseline_result),
        )
        for site in solver.sites
    ]
    return _judge(solver, outcomes, NO_TRANSFERS)


def _judge(solver: FleetSolver, outcomes: list[SiteOutcome], network: dict[str, float]) -> Judged:
    references = [site.baseline_schedule for site in solver.sites]
    prices = [float(pyo.value(site.model.deferred_price)) for site in solver.sites]
    return judge(solver.problem, outcomes, references, prices, network)


def _home_routing(
    solver: FleetSolver, routing: dict[tuple[str, str], np.ndarray]
) -> dict[tuple[str, str], np.ndarray]:
    return {key: solver.axis.reduce(values, "mean") for key, values in routing.items()}


def _sites_alone_returned(
    solver: FleetView,
    baselines: dict[str, Judged],
    alone: tuple[Judged, dict[str, dict[str, float]], list[str]],
    rounds: int,
    notes: list[str],
    currency: str,
    reason: str | None = None,
    status: str = "time_limit",
) -> FleetPlan:
    """The co-plan found no solution in time (or none with its placement); the sites_alone
    plan (every job at home, each site planned in time) is a fleet plan that meets the same
    contracts: return it."""
    notes.append(
        reason
        or f"the co-plan found no solution within the {solver.options.time_limit:g} s time "
        "limit: the sites_alone plan is returned (no work moves; savings vs sites_alone "
        "are 0 by construction)"
    )
    return FleetPlan(
        solver.problem.name,
        status,
        alone[0],
        baselines,
        routing=alone[1],
        latency_violations=alone[2],
        timings=dict(solver.timings),
        rounds=rounds,
        notes=notes,
        currency=currency,
        source="sites_alone",
    )


def _stays_home(solver: FleetSolver, placement: pyo.ConcreteModel) -> bool:
    """Whether the placement moves no job and routes tier 1 as the fleet model holds now."""
    if any(float(pyo.value(v) or 0.0) > SHARE_TOLERANCE for v in placement.jobs.move.values()):
        return False
    shares = solver.model.routing.share
    return all(
        abs(float(pyo.value(var) or 0.0) - float(pyo.value(shares[key]) or 0.0)) <= 1e-6
        for key, var in placement.routing.share.items()
    )


def _co_plan(
    solver: FleetSolver, client: Any, have_alone: bool
) -> tuple[str, list[SiteOutcome] | None, int, str | None]:
    """The co-plan by decomposition (:mod:`optimizer.fleet.placement`): the placement, then
    the sites with it fixed, verified.

    Returns
    -------
    tuple
        Status, the sites' outcomes (None: no co-plan), rounds, and why the ``sites_alone``
        plan stands for the co-plan when it does for a reason other than the time limit.
    """
    problem = solver.problem
    placement, placed, condition = solve_placement(
        problem, solver.sites, solver.options.time_limit, solver.options.mip_gap
    )
    solver.timings.update(placed)
    if placement is None:
        if condition == TerminationCondition.infeasible:
            return (
                "infeasible",
                None,
                0,
                "the fleet placement model found no placement: the sites_alone plan is "
                "returned (no work moves)",
            )
        return "fallback", None, 0, None
    if have_alone and _stays_home(solver, placement):
        return (
            "optimal",
            None,
            0,
            "the fleet placement keeps every job at home and routes tier 1 as sites_alone "
            "does: the sites_alone plan is the co-plan (no work moves)",
        )
    unpin(solver.model)
    pin_placement(solver.model, placement, problem)
    # the sites keep sites_alone's on/off decisions (their own work did not move): with the
    # placement fixed this is one LP; relax-and-fix when they do not fit
    solver.keep_commitments = have_alone
    status, outcomes, rounds = solver.solve_verified(client)
    if outcomes is None and status == "infeasible":
        return (
            status,
            None,
            rounds,
            (
                "the sites found no feasible plan with the fleet placement fixed: the sites_alone "
                "plan is returned (no work moves)"
            ),
        )
    return status, outcomes, rounds, None


def _prefer_sites_alone(
    judged: Judged,
    exceeded: list[str],
    alone: tuple[Judged, dict[str, dict[str, float]], list[str]] | None,
) -> str | None:
    """Why the verified ``sites_alone`` plan stands for the co-plan (None: keep the co-plan).

    The sites_alone plan (jobs at home, each site planned in time) is a fleet plan that meets
    the same contracts.  It is kept when the co-plan did not verify (a limit the planning
    model does not hold, e.g. a UPS rating, or one its tightening rounds did not bring back
    within) or when the co-plan verified dearer (within the MIP gap, or through the
    linearization's error).
    """
    if alone is None or not alone[0].verified or alone[2]:
        return None
    if not judged.verified or exceeded:
        broken = [*judged.problems, *exceeded]
        shown = "; ".join(broken[:3]) + (
            f" (and {len(broken) - 3} more)" if len(broken) > 3 else ""
        )
        return (
            f"the co-plan did not verify ({shown}): the verified sites_alone plan is returned "
            "(no work moves)"
        )
    if alone[0].figures["cost"] < judged.figures["cost"]:
        return (
            f"the co-plan verified at {judged.figures['cost']:,.2f}, above sites_alone's "
            f"{alone[0].figures['cost']:,.2f}: the sites_alone plan is returned (no work moves)"
        )
    return None


def plan_fleet(
    problem: FleetProblem,
    options: PlanOptions | None = None,
    *,
    baseline_routing: dict[tuple[str, str], np.ndarray] | None = None,
    client: Any = None,
) -> FleetPlan:
    """Plan the fleet and verify every site's share with its physics.

    Parameters
    ----------
    problem
        The fleet (:mod:`twin.fleet.build` makes it from a fleet file).
    options
        Solver control and model switches, applied to every site.
    baseline_routing
        The as-operated share of each (region, site) per fine step [-]; the ``sites_alone``
        baseline keeps it.  Default: whatever the routing's first solve picks is not pinned.
    client
        A ``dask.distributed.Client``: the sites are simulated on its cluster.

    Returns
    -------
    FleetPlan
    """
    started = time.perf_counter()
    currency = problem.sites[0].facility.grid.currency
    try:
        solver = FleetSolver(problem, options)
    except FleetInfeasible as exc:
        return infeasible_plan(problem, exc.explanation)
    notes = list(problem.notes)
    baselines = {"as_operated": _as_operated(solver)}
    pin_home(solver.model, problem, _home_routing(solver, baseline_routing or {}))
    status, outcomes, _ = solver.solve_verified(client)
    solver.timings["sites_alone_solve_s"] = solver.timings.get("solve_s", 0.0)
    alone: tuple[Judged, dict[str, dict[str, float]], list[str]] | None = None
    if outcomes is not None:
        baselines["sites_alone"] = _judge(solver, outcomes, network_figures(solver))
        alone = (baselines["sites_alone"], *routing_summary(solver))
    else:
        notes.append(
            f"sites_alone baseline: {status} "
            + (
                "(with every job pinned home the contracts cannot all be met on the sites' own)"
                if status == "infeasible"
                else f"(no solution within the {solver.options.time_limit:g} s time limit)"
            )
        )
    status, outcomes, rounds, reason = _co_plan(solver, client, alone is not None)
    solver.timings["total_s"] = time.perf_counter() - started
    # HiGHS alone and the hand-over to it (compile to standard form, pass, sync) [s]
    solver.timings.update({f"fleet_{k}": v for k, v in solver.solver.timings.items()})
    if outcomes is None and alone is not None:
        return _sites_alone_returned(
            solver,
            baselines,
            alone,
            rounds,
            notes,
            currency,
            reason,
            "optimal" if reason else "time_limit",
        )
    if outcomes is None:
        explanation = (
            [
                "the fleet's contracts (every job's energy by its deadline, every region's tier 1 "
                "within its latency budget) cannot all be met within the sites' physical limits"
            ]
            if status == "infeasible"
            else [f"no feasible fleet plan within the {solver.options.time_limit:g} s time limit"]
        )
        return FleetPlan(
            problem.name,
            status,
            None,
            baselines,
            timings=dict(solver.timings),
            rounds=rounds,
            explanation=explanation,
            notes=notes,
            currency=currency,
        )
    judged = _judge(solver, outcomes, network_figures(solver))
    return co_plan_or_alone(solver, status, judged, baselines, alone, rounds, notes, currency)


def co_plan_or_alone(
    view: FleetView,
    status: str,
    judged: Judged,
    baselines: dict[str, Judged],
    alone: tuple[Judged, dict[str, dict[str, float]], list[str]] | None,
    rounds: int,
    notes: list[str],
    currency: str,
) -> FleetPlan:
    """The verified co-plan ``judged`` (its moves and routing read from ``view``), or the
    ``sites_alone`` plan where :func:`_prefer_sites_alone` says it stands for it."""
    routing, exceeded = routing_summary(view)
    moved = transfers(view)
    source = "co_plan"
    why = _prefer_sites_alone(judged, exceeded, alone)
    if why is not None:
        assert alone is not None
        notes.append(why)
        judged, routing, exceeded, moved = alone[0], alone[1], alone[2], []
        source = "sites_alone"
    return FleetPlan(
        view.problem.name,
        status,
        judged,
        baselines,
        transfers=moved,
        routing=routing,
        latency_violations=exceeded,
        timings=dict(view.timings),
        rounds=rounds,
        notes=notes,
        currency=currency,
        source=source,
    )
