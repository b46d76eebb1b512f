"""The fleet plan site by site: one site's LP in memory at a time, for fleets too big for one.

:func:`optimizer.fleet.plan.plan_fleet` keeps every site's planning model in one Pyomo model
and one HiGHS instance; its memory grows with the fleet's racks (≈ 0.6 GB per 1,000 racks,
``docs/fleet.md``).  Once the fleet's decisions are fixed the sites are independent LPs,
which :func:`plan_fleet_per_site` builds, solves, verifies and frees one after another:

1. **sites_alone**: every job pinned home and tier 1 routed as operated.  No fleet variable
   couples two sites then (a job's power is 0 away from home, its energy is due at home, the
   routed tier-1 power at each site is fixed), so the fleet LP is the sum of the sites' LPs and
   solving them one at a time gives the same optimum (the vertex HiGHS returns among equal
   optima, and so the relax-and-fix rounding, may differ).
2. **placement**: the reduced fleet model of :mod:`optimizer.fleet.placement` (stub sites).
3. **co-plan**: the placement's moves and routing fixed, and each moved job's **energy split**
   between its sites fixed to the placement's: each site is again an LP of its own.  Fixing
   the split is a restriction of the joint co-plan (whose split the sites' physics may still
   shift): its optimum is never below the joint one (the plans solved, each within the MIP
   gap, can differ either way by up to that gap); the verified ``sites_alone`` plan stands
   for it when it is dearer or does not verify, as in :func:`plan_fleet`.

The plan's peak memory is then the kept per-site data (as-operated and planned simulations,
linearizations) plus one site's model and HiGHS instance.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyomo.environ as pyo
from pyomo.contrib.appsi.base import TerminationCondition

from optimizer.fleet import plan as joint
from optimizer.fleet.model import copy_cover
from optimizer.fleet.placement import SHARE_TOLERANCE, solve_placement
from optimizer.fleet.problem import SERVE_WORKLOAD, FleetInfeasible, FleetProblem, job_workload
from optimizer.fleet.result import FleetPlan, Judged, infeasible_plan, judge
from optimizer.fleet.solve import SiteOutcome, check_jobs, check_routing, fleet_options
from optimizer.horizon import PlanningAxis
from optimizer.planner import PlanOptions, PlanSolver
from optimizer.verify import schedule_from_model, tighten
from physics.constants import WATTS_PER_KILOWATT
from physics.simulate import simulate
from physics.violations import find_violations


@dataclass
class SiteFleetTerms:
    """The fleet's fixed decisions as one site sees them.

    Attributes
    ----------
    available
        Per fleet job at the site: share of the job present and not being copied in, per
        period (presence − moves whose copy is under way) [-]; the job's power is at most its
        max power times this.
    energy
        Per fleet job at the site: IT energy it delivers there [kWh].
    serve
        Routed tier-1 power per period [kW] (None: no serve workload).
    serve_fine
        Routed tier-1 power per fine step [kW] (the verified schedule's).
    """

    available: dict[str, np.ndarray] = field(default_factory=dict)
    energy: dict[str, float] = field(default_factory=dict)
    serve: np.ndarray | None = None
    serve_fine: np.ndarray | None = None


def _pin_site(problem: FleetProblem, s: int, solver: PlanSolver, terms: SiteFleetTerms) -> None:
    """Add the fleet's fixed decisions to site ``s``'s own model (its objective kept)."""
    site, m = problem.sites[s], solver.model
    w, dt = m.workloads, np.asarray(solver.lin.step_hours, dtype=float)
    for j in site.injected:  # as in the fleet model: the fleet's rows decide their energy
        for t in m.T:
            w.backlog_balance[j, t].deactivate()
            w.backlog[j, t].fix(0.0)
    time_start, time_end = solver.lin.time, solver.lin.axis.end
    jobs = [job for job in problem.jobs if site.name in job.sites]
    for job in jobs:
        k = site.workload_index(job_workload(job.name))
        assert k is not None
        release = int(np.searchsorted(time_start, job.release))
        deadline = int(np.searchsorted(time_end, job.deadline, side="right"))
        available = terms.available.get(job.name, np.zeros(len(dt)))
        for t in m.T:
            var = w.power[k, t]
            var.setub(job.max_power[site.name] * min(max(float(available[t]), 0.0), 1.0))
            if t < release or t >= deadline or available[t] <= SHARE_TOLERANCE:
                var.fix(0.0)
    m.fleet_terms = pyo.Block()
    b = m.fleet_terms
    names = [job.name for job in jobs]
    index = {job.name: site.workload_index(job_workload(job.name)) for job in jobs}

    def delivered(name: str) -> Any:
        return sum(w.power[index[name], t] * float(dt[t]) for t in m.T)

    energy = {name: float(terms.energy.get(name, 0.0)) for name in names}
    b.energy = pyo.Constraint(names, rule=lambda _, n: delivered(n) >= energy[n])
    b.energy_cap = pyo.Constraint(names, rule=lambda _, n: delivered(n) <= energy[n])
    if names:
        b.host = pyo.Constraint(
            m.T,
            rule=lambda _, t: sum(w.power[index[n], t] for n in names) <= float(site.job_capacity),
        )
    serve = site.workload_index(SERVE_WORKLOAD)
    if serve is not None and terms.serve is not None:
        for t in m.T:
            w.power[serve, t].fix(float(terms.serve[t]))


def _outcome(problem: FleetProblem, s: int, solver: PlanSolver, terms: SiteFleetTerms) -> Any:
    schedule = schedule_from_model(
        solver.model, solver.facility, solver.lin, solver.baseline_schedule
    )
    j = problem.sites[s].workload_index(SERVE_WORKLOAD)
    if j is not None and terms.serve_fine is not None:
        schedule.workload_power[:, j] = terms.serve_fine * WATTS_PER_KILOWATT
    facility = solver.facility
    result = simulate(facility, schedule, problem.sites[s].series)
    return SiteOutcome(schedule, result, find_violations(facility, result))


def _solve_site(
    problem: FleetProblem,
    s: int,
    solver: PlanSolver,
    terms: SiteFleetTerms,
    commitments: dict[Any, float] | None,
) -> tuple[str, SiteOutcome | None, dict[Any, float]]:
    """Solve site ``s`` with the fleet's terms fixed, verify and tighten; free its model.

    ``commitments``: on/off decisions to keep first (one LP), relax-and-fix when they no
    longer fit.  Returns the status, the outcome (None: no plan) and the on/off decisions.
    """
    _pin_site(problem, s, solver, terms)
    running = solver.model.workloads.running
    outcome: SiteOutcome | None = None
    status = "optimal"
    try:
        for rounds in range(1, solver.options.max_rounds + 1):
            condition = TerminationCondition.infeasible
            if commitments is not None and rounds == 1:
                for key, var in running.items():
                    var.fix(commitments[key])
                condition, _ = solver._solve_once()
            if condition == TerminationCondition.infeasible:
                condition, _ = solver.solve()
            if condition == TerminationCondition.infeasible:
                return "infeasible", None, {}
            if not solver.solution_loaded:
                return "fallback", None, {}
            status = "optimal" if condition == TerminationCondition.optimal else "time_limit"
            outcome = _outcome(problem, s, solver, terms)
            if not outcome.violations or not tighten(
                solver, outcome.result, outcome.violations, solver.options.model
            ):
                break
        return status, outcome, {key: float(pyo.value(var)) for key, var in running.items()}
    finally:
        # the model and its HiGHS copy are the site's memory: rebuilt for the next stage
        del solver.model, solver.solver


def _home_terms(
    problem: FleetProblem, solver: PlanSolver, s: int, routing: dict[tuple[str, str], np.ndarray]
) -> SiteFleetTerms:
    """Every job at home, tier 1 as operated (``routing``: shares per fine step [-])."""
    site, axis = problem.sites[s], solver.axis
    terms = SiteFleetTerms()
    for job in problem.jobs:
        if job.home == site.name:
            terms.available[job.name] = np.ones(solver.lin.steps)
            terms.energy[job.name] = job.energy
    shares = {
        region.name: axis.reduce(_home_share(routing, region.name, site.name, region), "mean")
        for region in problem.regions
        if site.name in region.eligible
    }
    return _serve_terms(problem, axis, site.name, shares, terms)


def _home_share(routing: dict[tuple[str, str], np.ndarray], region: str, site: str, r: Any) -> Any:
    if (region, site) in routing:
        return np.asarray(routing[(region, site)], dtype=float)
    if len(r.eligible) == 1:
        return np.ones(r.demand.shape)
    raise ValueError(
        f"planning site by site needs the as-operated routing of region {region!r} to {site}"
    )


def _serve_terms(
    problem: FleetProblem,
    axis: PlanningAxis,
    site: str,
    shares: dict[str, np.ndarray],
    terms: SiteFleetTerms,
) -> SiteFleetTerms:
    """Routed tier-1 power per period and per fine step from per-period ``shares`` [-]."""
    if problem.site(site).workload_index(SERVE_WORKLOAD) is None:
        return terms
    serve, fine = np.zeros(axis.periods), np.zeros(axis.steps)
    for region in problem.regions:
        if region.name in shares:
            share = np.clip(shares[region.name], 0.0, 1.0)
            serve += share * axis.reduce(region.demand, "mean")
            fine += axis.expand(share) * region.demand
    terms.serve, terms.serve_fine = serve, fine
    return terms


def _placed_terms(
    problem: FleetProblem, axis: PlanningAxis, placement: pyo.ConcreteModel, s: int
) -> SiteFleetTerms:
    """The placement's moves, routing and each job's energy split, as site ``s`` sees them."""
    site = problem.sites[s]
    dt = np.asarray(placement.step_hours, dtype=float)
    whole = {job.name for job in problem.jobs if not job.splittable}
    moves = placement.jobs.move

    def fixed(key: tuple[str, str, str, int]) -> float:
        value = float(pyo.value(moves[key]) or 0.0)
        value = float(round(value)) if key[0] in whole else value
        return value if value > SHARE_TOLERANCE else 0.0

    covering = copy_cover(placement.jobs.copies)
    terms = SiteFleetTerms()
    for job in problem.jobs:
        if site.name not in job.sites:
            continue
        presence = 1.0 if job.home == site.name else 0.0
        available = np.zeros(dt.size)
        for t in range(dt.size):
            moved_in = sum(
                fixed((job.name, o, site.name, t))
                for o in job.sites
                if (job.name, o, site.name) in placement.jobs.JM
            )
            copying = sum(
                fixed((job.name, o, site.name, t0))
                for o in job.sites
                for t0, _ in covering.get((job.name, o, site.name, t), [])
            )
            moved_out = sum(
                fixed((job.name, site.name, d, t))
                for d in job.sites
                if (job.name, site.name, d) in placement.jobs.JM
            )
            presence += moved_in - moved_out
            available[t] = max(presence - copying, 0.0)
        terms.available[job.name] = available
        j = site.workload_index(job_workload(job.name))
        power = placement.component(f"site_{s}").workloads.power
        terms.energy[job.name] = float(
            sum(float(pyo.value(power[j, t]) or 0.0) * dt[t] for t in range(dt.size))
        )
    shares = {
        region: np.array(
            [
                float(pyo.value(placement.routing.share[region, site.name, t]) or 0.0)
                for t in range(dt.size)
            ]
        )
        for region, name in placement.routing.RS
        if name == site.name
    }
    return _serve_terms(problem, axis, site.name, shares, terms)


@dataclass
class _Stage:
    """One stage's sites solved one by one: their outcomes and on/off decisions."""

    status: str
    outcomes: list[SiteOutcome] | None
    commitments: list[dict[Any, float]]


class _Sites:
    """The sites' planners, each built (baseline, linearization, model) when first solved;
    between stages only their baselines and linearizations stay in memory."""

    def __init__(self, problem: FleetProblem, options: PlanOptions, timings: dict[str, float]):
        self.problem, self.timings = problem, timings
        self.options = fleet_options(problem, options)
        self.solvers: list[PlanSolver] = []

    def get(self, s: int) -> PlanSolver:
        """Site ``s``'s planner with its model built (the tightening of earlier stages kept)."""
        if s < len(self.solvers):
            solver = self.solvers[s]
            if not hasattr(solver, "model"):
                solver._build(solver.options.model)
            return solver
        started = time.perf_counter()
        site = self.problem.sites[s]
        solver = PlanSolver(site.facility, site.series, self.options)
        self.timings["prepare_s"] = self.timings.get("prepare_s", 0.0) + (
            time.perf_counter() - started
        )
        if self.solvers and not np.array_equal(solver.axis.bounds, self.solvers[0].axis.bounds):
            raise ValueError("the sites' planning axes differ; their series must share one axis")
        if not self.solvers:
            check_jobs(self.problem, np.asarray(solver.axis.end), np.asarray(solver.lin.step_hours))
        self.solvers.append(solver)
        return solver

    def all(self) -> list[PlanSolver]:
        """Every site's planner (built if not yet), without their models."""
        for s in range(len(self.problem.sites)):
            solver = self.get(s) if s >= len(self.solvers) else self.solvers[s]
            if hasattr(solver, "model"):
                del solver.model, solver.solver
        return self.solvers


def _run_stage(
    problem: FleetProblem,
    sites: _Sites,
    terms: Callable[[int, PlanSolver], SiteFleetTerms],
    commitments: list[dict[Any, float]] | None,
) -> _Stage:
    """Build, solve, verify and free every site's model in turn."""
    outcomes: list[SiteOutcome] = []
    kept: list[dict[Any, float]] = []
    worst = "optimal"
    for s in range(len(problem.sites)):
        solver = sites.get(s)
        status, outcome, decisions = _solve_site(
            problem,
            s,
            solver,
            terms(s, solver),
            None if commitments is None else commitments[s],
        )
        if outcome is None:
            return _Stage(status, None, [])
        worst = "time_limit" if status == "time_limit" else worst
        outcomes.append(outcome)
        kept.append(decisions)
    return _Stage(worst, outcomes, kept)


@dataclass
class PerSiteFleet:
    """What the plan's summaries read (:func:`optimizer.fleet.plan.routing_summary` and
    :func:`~optimizer.fleet.plan.transfers`): the placement model stands for the fleet
    model, its moves and shares being the co-plan's."""

    problem: FleetProblem
    options: PlanOptions
    axis: PlanningAxis
    routing: dict[tuple[str, str], np.ndarray]
    model: Any = None
    timings: dict[str, float] = field(default_factory=dict)


def judge_sites(
    problem: FleetProblem,
    solvers: list[PlanSolver],
    outcomes: list[SiteOutcome],
    prices: list[float],
    network: dict[str, float],
) -> Judged:
    """:func:`optimizer.fleet.result.judge` against the sites' as-operated schedules."""
    references = [solver.baseline_schedule for solver in solvers]
    return judge(problem, outcomes, references, prices, network)


def _stays_home(
    problem: FleetProblem,
    solvers: list[PlanSolver],
    placement: pyo.ConcreteModel,
    routing: dict[tuple[str, str], np.ndarray],
) -> bool:
    """Whether the placement moves no job and routes tier 1 as the sites_alone plan does
    (the same routed power at every site in every period, within 1 W)."""
    if any(float(pyo.value(v) or 0.0) > SHARE_TOLERANCE for v in placement.jobs.move.values()):
        return False
    for s, solver in enumerate(solvers):
        placed = _placed_terms(problem, solver.axis, placement, s)
        home = _home_terms(problem, solver, s, routing)
        if placed.serve is None or home.serve is None:
            continue
        if float(np.max(np.abs(placed.serve - home.serve), initial=0.0)) > 1e-3:
            return False
    return True


def plan_fleet_per_site(
    problem: FleetProblem,
    options: PlanOptions | None = None,
    *,
    baseline_routing: dict[tuple[str, str], np.ndarray] | None = None,
) -> FleetPlan:
    """Plan the fleet one site's model at a time and verify every site's share.

    As :func:`optimizer.fleet.plan.plan_fleet` (same baselines, placement, verification and
    choice of plan), with each stage's sites solved in turn (see the module notes: the
    ``sites_alone`` optimum is the joint one; the co-plan keeps the placement's energy split
    of every moved job).

    Parameters
    ----------
    problem
        The fleet.
    options
        Solver control and model switches, applied to every site.
    baseline_routing
        The as-operated share of each (region, site) per fine step [-]; needed for every
        region with more than one eligible site.

    Returns
    -------
    FleetPlan
    """
    started = time.perf_counter()
    currency = problem.sites[0].facility.grid.currency
    timings: dict[str, float] = {}
    home_routing = baseline_routing or {}
    stage_started = time.perf_counter()
    try:
        check_routing(problem)
        sites = _Sites(problem, options or PlanOptions(), timings)
        alone_stage = _run_stage(
            problem, sites, lambda s, solver: _home_terms(problem, solver, s, home_routing), None
        )
    except FleetInfeasible as exc:
        return infeasible_plan(problem, exc.explanation)
    timings["sites_alone_solve_s"] = (
        time.perf_counter() - stage_started - timings.get("prepare_s", 0.0)
    )
    solvers = sites.all()
    view = PerSiteFleet(problem, solvers[0].options, solvers[0].axis, home_routing, timings=timings)
    notes = list(problem.notes)
    prices = [float(solver.lin.deferred_energy_price) for solver in solvers]
    as_operated = [
        SiteOutcome(
            s.baseline_schedule, s.baseline_result, find_violations(s.facility, s.baseline_result)
        )
        for s in solvers
    ]
    baselines = {
        "as_operated": judge_sites(problem, solvers, as_operated, prices, joint.NO_TRANSFERS)
    }
    alone: tuple[Judged, dict[str, dict[str, float]], list[str]] | None = None
    if alone_stage.outcomes is not None:
        baselines["sites_alone"] = judge_sites(
            problem, solvers, alone_stage.outcomes, prices, joint.NO_TRANSFERS
        )
        alone = (baselines["sites_alone"], _home_routing_summary(problem, view), [])
    else:
        notes.append(f"sites_alone baseline: {alone_stage.status} (solved site by site)")
    co_stage, reason = _co_plan(problem, sites, view, alone_stage, alone is not None, home_routing)
    timings["total_s"] = time.perf_counter() - started
    if co_stage is None or co_stage.outcomes is None:
        if alone is not None:
            return joint._sites_alone_returned(
                view,
                baselines,
                alone,
                0,
                notes,
                currency,
                reason,
                "optimal" if reason else "time_limit",
            )
        return FleetPlan(
            problem.name,
            "infeasible" if reason else "time_limit",
            None,
            baselines,
            timings=dict(timings),
            explanation=[reason or "no feasible fleet plan"],
            notes=notes,
            currency=currency,
        )
    judged = judge_sites(problem, solvers, co_stage.outcomes, prices, joint.network_figures(view))
    return joint.co_plan_or_alone(
        view, co_stage.status, judged, baselines, alone, 0, notes, currency
    )


def _co_plan(
    problem: FleetProblem,
    sites: _Sites,
    view: PerSiteFleet,
    alone_stage: _Stage,
    have_alone: bool,
    home_routing: dict[tuple[str, str], np.ndarray],
) -> tuple[_Stage | None, str | None]:
    """The placement, then the sites solved in turn with it fixed: the co-plan stage (None
    when it is not run) and why the sites_alone plan stands for it (None: no reason yet)."""
    solvers = sites.all()
    timings = view.timings
    placement, placed, condition = solve_placement(
        problem, solvers, view.options.time_limit, view.options.mip_gap
    )
    timings.update(placed)
    reason: str | None = None
    co_stage: _Stage | None = None
    if placement is None:
        reason = (
            "the fleet placement model found no placement: the sites_alone plan is returned "
            "(no work moves)"
            if condition == TerminationCondition.infeasible
            else None
        )
    elif have_alone and _stays_home(problem, solvers, placement, home_routing):
        reason = (
            "the fleet placement keeps every job at home and routes tier 1 as sites_alone "
            "does: the sites_alone plan is the co-plan (no work moves)"
        )
    else:
        view.model = placement
        terms = [_placed_terms(problem, view.axis, placement, s) for s in range(len(solvers))]
        stage_started = time.perf_counter()
        co_stage = _run_stage(
            problem,
            sites,
            lambda s, _: terms[s],
            alone_stage.commitments if have_alone else None,
        )
        timings["co_plan_solve_s"] = time.perf_counter() - stage_started
        if co_stage.outcomes is None and co_stage.status == "infeasible":
            reason = (
                "the sites found no feasible plan with the fleet placement and its energy "
                "split fixed: the sites_alone plan is returned (no work moves)"
            )
    return co_stage, reason


def _home_routing_summary(problem: FleetProblem, view: PerSiteFleet) -> dict[str, dict[str, float]]:
    """Share of each region's tier-1 energy served by each site as operated [-]."""
    dt = np.asarray(view.axis.period_hours, dtype=float)
    return {
        region.name: {
            site: round(
                float(
                    np.sum(
                        np.clip(view.axis.reduce(share, "mean"), 0.0, 1.0)
                        * view.axis.reduce(region.demand, "mean")
                        * dt
                    )
                )
                / (float(np.sum(view.axis.reduce(region.demand, "mean") * dt)) or 1.0),
                6,
            )
            for site in region.eligible
            if (share := _home_share(view.routing, region.name, site, region)) is not None
        }
        for region in problem.regions
    }
