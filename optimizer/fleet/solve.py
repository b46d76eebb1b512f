"""Build the fleet's site models on one planning axis, solve them together, verify each site.

:class:`FleetSolver` builds one :class:`optimizer.planner.PlanSolver` per site (its baseline
is the as-operated fleet at that site, its model the site's Blocks), joins them into the fleet
model (:mod:`optimizer.fleet.model`) and solves it with HiGHS, with relax-and-fix for the
sites' on/off decisions as in the single-site planner.  :meth:`FleetSolver.verify` holds each
site's decisions over its fine steps and re-simulates them with that site's physics, on a Dask
cluster when a client is given; violated limits tighten the site's Block (lazy inlet rows,
derating) and the fleet is re-solved.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pyomo.environ as pyo
import xarray as xr
from pyomo.contrib.appsi.base import TerminationCondition

from optimizer.accounting import month_starts
from optimizer.fleet.model import build_fleet_model, site_block
from optimizer.fleet.problem import SERVE_WORKLOAD, FleetInfeasible, FleetProblem
from optimizer.highs_direct import DirectHighs
from optimizer.horizon import PlanningAxis, contract_instants
from optimizer.planner import PlanOptions, PlanSolver, event_signature
from optimizer.verify import schedule_from_model, tighten
from physics.constants import WATTS_PER_KILOWATT
from physics.schedule import Schedule
from physics.simulate import simulate
from physics.violations import Violation, find_violations


@dataclass
class SiteOutcome:
    """One site's share of a plan, simulated by its physics.

    Attributes
    ----------
    schedule
        Setpoints, battery and workload power on the fine steps.
    result
        :func:`physics.simulate.simulate` of the schedule.
    violations
        Limits the physics found broken.
    """

    schedule: Schedule
    result: xr.Dataset
    violations: list[Violation]


def _simulate_site(facility: Any, schedule: Schedule, series: xr.Dataset) -> xr.Dataset:
    """Simulate one site (run locally or on a Dask worker)."""
    return simulate(facility, schedule, series)


def _breakpoints(problem: FleetProblem) -> tuple[np.datetime64, ...]:
    """Every instant at which some site or job needs a period to start (UTC)."""
    instants: list[np.datetime64] = []
    time_axis = problem.time
    for site in problem.sites:
        # every demand-response term a site's planner starts a period at (caps, soft caps,
        # penalties, credits, baselines): the sites must share one axis
        instants += contract_instants(site.facility, event_signature(site.series), time_axis)
        instants += month_starts(site.facility, time_axis)
    for job in problem.jobs:
        instants += [job.release, job.deadline]
    return tuple(np.asarray(instants, dtype="datetime64[ns]"))


def check_routing(problem: FleetProblem) -> None:
    """Raise :class:`FleetInfeasible` when a region's tier 1 cannot be served at all: no site
    within its latency budget, or more demand than the eligible sites' inference racks."""
    lines = []
    for region in problem.regions:
        if not region.eligible:
            nearest = min(region.latency.items(), key=lambda item: item[1])
            lines.append(
                f"region {region.name!r}: no site with inference racks within its "
                f"{region.budget:g} ms latency budget (nearest: {nearest[0]} at "
                f"{nearest[1]:g} ms); tier-1 demand of up to {region.demand.max():,.1f} kW "
                "cannot be served"
            )
            continue
        capacity = sum(problem.site(name).inference_capacity for name in region.eligible)
        if region.demand.max() > capacity + 1e-9:
            lines.append(
                f"region {region.name!r}: tier-1 demand reaches {region.demand.max():,.1f} kW "
                f"but the sites within its {region.budget:g} ms budget "
                f"({', '.join(region.eligible)}) have {capacity:,.1f} kW of inference racks"
            )
    if lines:
        raise FleetInfeasible(lines)


def check_jobs(problem: FleetProblem, axis_end: np.ndarray, step_hours: np.ndarray) -> None:
    """Raise :class:`FleetInfeasible` for a job whose energy cannot fit between its release
    and deadline even at full power at every allowed site at once."""
    lines = []
    starts = axis_end - (step_hours * 3.6e12).astype("timedelta64[ns]")
    for job in problem.jobs:
        inside = (starts >= job.release) & (axis_end <= job.deadline)
        hours = float(step_hours[inside].sum())
        power = sum(min(job.max_power[s], problem.site(s).job_capacity) for s in job.sites)
        if power * hours < job.energy - 1e-6:
            lines.append(
                f"job {job.name!r}: {job.energy:,.0f} kWh due by {job.deadline} but its allowed "
                f"sites ({', '.join(job.sites)}) offer at most {power:,.0f} kW for {hours:g} h "
                f"= {power * hours:,.0f} kWh between its release and deadline"
            )
    if lines:
        raise FleetInfeasible(lines)


class FleetView(Protocol):
    """What a plan's summaries read: the fleet, its options and axis, a model holding the
    plan's moves and routing shares (``jobs``, ``routing``, ``network`` Blocks) and the
    stages' timings [s]."""

    problem: FleetProblem
    options: PlanOptions
    axis: PlanningAxis
    model: Any
    timings: dict[str, float]


def fleet_options(problem: FleetProblem, base: PlanOptions) -> PlanOptions:
    """Every site's planner options: ``base`` without shadow prices, with every instant at
    which some site or job needs a period to start, so that all sites share one axis."""
    return PlanOptions(
        time_limit=base.time_limit,
        mip_gap=base.mip_gap,
        max_rounds=base.max_rounds,
        model=base.model,
        shadow_prices=False,
        fine_hours=base.fine_hours,
        coarse_hours=base.coarse_hours,
        committed_hours=base.committed_hours,
        extra_breakpoints=_breakpoints(problem),
    )


class FleetSolver:
    """The fleet model, built once and solved (and re-solved after tightening).

    Parameters
    ----------
    problem
        The fleet.
    options
        Solver control and model switches applied to every site.
    """

    def __init__(self, problem: FleetProblem, options: PlanOptions | None = None) -> None:
        self.problem = problem
        base = options or PlanOptions()
        self.timings: dict[str, float] = {}
        started = time.perf_counter()
        check_routing(problem)
        self.options = fleet_options(problem, base)
        self.sites = [
            PlanSolver(site.facility, site.series, self._site_options()) for site in problem.sites
        ]
        bounds = {tuple(solver.axis.bounds.tolist()) for solver in self.sites}
        if len(bounds) != 1:
            raise ValueError("the sites' planning axes differ; their series must share one axis")
        self.axis = self.sites[0].axis
        check_jobs(problem, np.asarray(self.axis.end), np.asarray(self.sites[0].lin.step_hours))
        self.timings["linearize_s"] = time.perf_counter() - started
        started = time.perf_counter()
        self.model = build_fleet_model(problem, self.sites)
        self.solver = DirectHighs(time_limit=base.time_limit, mip_gap=base.mip_gap)
        for site in self.sites:
            site.solver = self.solver  # tightening a site pushes rows into the fleet's solver
        self.timings["build_s"] = time.perf_counter() - started
        # True: the next solve first keeps the sites' on/off decisions of the last one (fixed)
        self.keep_commitments = False

    def _site_options(self) -> PlanOptions:
        from dataclasses import replace

        return replace(self.options, model=replace(self.options.model))

    def solve(self) -> tuple[TerminationCondition, bool]:
        """Solve the fleet model (relax-and-fix for the sites' on/off decisions).

        Returns
        -------
        tuple
            The termination condition and whether a feasible solution was loaded.
        """
        started = time.perf_counter()
        # with every move fixed (sites_alone; the co-plan's placement fixed) the balance rows
        # fix each job's presence exactly: solved as continuous, the rounds after the LP
        # relaxation stay LPs that HiGHS starts from the previous basis
        placed = all(var.fixed for var in self.model.jobs.move.values())
        relaxed = [
            var for var in self.model.jobs.presence.values() if placed and var.domain is pyo.Binary
        ]
        for var in relaxed:
            var.domain = pyo.UnitInterval
        try:
            return self._solve()
        finally:
            for var in relaxed:
                var.domain = pyo.Binary
            self.timings["solve_s"] = self.timings.get("solve_s", 0.0) + (
                time.perf_counter() - started
            )

    def _solve(self) -> tuple[TerminationCondition, bool]:
        running = [
            (solver, key, var)
            for solver in self.sites
            for key, var in solver.model.workloads.running.items()
        ]
        presence = [v for v in self.model.jobs.presence.values() if v.domain is pyo.Binary]
        if not running:
            return self._solve_once()
        if self.keep_commitments and all(var.fixed for _, _, var in running):
            # the sites' on/off decisions of the last plan, kept: one LP when the presence is
            # fixed too (the co-plan's second step); relax-and-fix if they no longer fit
            condition, loaded = self._solve_once()
            if condition != TerminationCondition.infeasible:
                return condition, loaded
        for _, _, var in running:
            var.unfix()
            var.domain = pyo.UnitInterval
        for var in presence:
            var.domain = pyo.UnitInterval
        try:
            condition, loaded = self._solve_once()
            if condition != TerminationCondition.optimal:
                # a relaxation stopped early is no plan: its on/off decisions are fractional
                return condition, False
            for var in presence:
                var.domain = pyo.Binary
            for solver, (j, period), var in running:
                m = solver.model
                steps = np.flatnonzero(m.commitment_group == period)
                mean = np.average(
                    [pyo.value(m.workloads.power[j, int(t)]) for t in steps],
                    weights=solver.lin.step_hours[steps],
                )
                minimum = solver.facility.workloads.min_power[j] / WATTS_PER_KILOWATT
                var.fix(1.0 if mean >= 0.5 * minimum else 0.0)
            condition, loaded = self._solve_once()
            if condition != TerminationCondition.infeasible:
                return condition, loaded
        finally:
            for _, _, var in running:
                var.domain = pyo.Binary
            for var in presence:
                var.domain = pyo.Binary
        for _, _, var in running:
            var.unfix()
        return self._solve_once()

    def _solve_once(self) -> tuple[TerminationCondition, bool]:
        result = self.solver.solve(self.model)
        if not result.feasible:
            return result.condition, False
        self.solver.load_values()
        return result.condition, True

    def schedules(self) -> list[Schedule]:
        """Each site's decisions held over its fine steps; routed tier 1 follows the regions'
        fine-step demand at each period's shares."""
        out = []
        routing = self.model.routing
        for s, (site, solver) in enumerate(zip(self.problem.sites, self.sites, strict=True)):
            block = site_block(self.model, s)
            schedule = schedule_from_model(
                block, solver.facility, solver.lin, solver.baseline_schedule
            )
            j = site.workload_index(SERVE_WORKLOAD)
            if j is not None:
                power = np.zeros(self.axis.steps)
                for region in self.problem.regions:
                    if (region.name, site.name) not in routing.RS:
                        continue
                    share = np.array(
                        [pyo.value(routing.share[region.name, site.name, t]) for t in self.model.T]
                    )
                    power += self.axis.expand(np.clip(share, 0.0, 1.0)) * region.demand
                schedule.workload_power[:, j] = power * WATTS_PER_KILOWATT
            out.append(schedule)
        return out

    def simulate(self, schedules: list[Schedule], client: Any = None) -> list[SiteOutcome]:
        """Simulate every site's schedule with its physics (on ``client``'s Dask cluster when
        given, else here) and find the violated limits."""
        started = time.perf_counter()
        sites = self.problem.sites
        if client is None:
            results = [
                _simulate_site(site.facility, schedule, site.series)
                for site, schedule in zip(sites, schedules, strict=True)
            ]
        else:
            futures = [
                client.submit(_simulate_site, site.facility, schedule, site.series, pure=False)
                for site, schedule in zip(sites, schedules, strict=True)
            ]
            results = client.gather(futures)
        outcomes = [
            SiteOutcome(schedule, result, find_violations(site.facility, result))
            for site, schedule, result in zip(sites, schedules, results, strict=True)
        ]
        self.timings["verify_s"] = self.timings.get("verify_s", 0.0) + time.perf_counter() - started
        return outcomes

    def solve_verified(self, client: Any = None) -> tuple[str, list[SiteOutcome] | None, int]:
        """Solve, verify every site, tighten the sites whose limits broke, and re-solve.

        Returns
        -------
        tuple
            Status (``optimal``, ``time_limit``, ``infeasible`` or ``fallback``), the sites'
            outcomes of the last solution (None without one) and the rounds taken.
        """
        outcomes: list[SiteOutcome] | None = None
        status = "optimal"
        for rounds in range(1, self.options.max_rounds + 1):
            condition, loaded = self.solve()
            if condition == TerminationCondition.infeasible:
                return "infeasible", None, rounds
            if not loaded:
                return "fallback", None, rounds
            status = "optimal" if condition == TerminationCondition.optimal else "time_limit"
            outcomes = self.simulate(self.schedules(), client)
            changed = False
            for solver, outcome in zip(self.sites, outcomes, strict=True):
                if outcome.violations:
                    changed |= tighten(
                        solver, outcome.result, outcome.violations, solver.options.model
                    )
            if not changed:
                return status, outcomes, rounds
        return status, outcomes, self.options.max_rounds
