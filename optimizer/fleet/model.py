"""The fleet model: every site's planning model as a Block, joined by the fleet's Blocks.

Each site keeps the model :class:`optimizer.planner.PlanSolver` builds for it (workloads,
cooling, power, battery, grid, its cost terms), added whole as the Block ``site_<i>`` of one
Pyomo model; its own objective is switched off and its cost expression enters the fleet's.
The fleet's workloads at a site (:mod:`optimizer.fleet.problem`) are ordinary flexible
workloads of that Block whose power the fleet Blocks below decide; their backlog rows are
switched off.  All sites share one planning axis (periods k of Δt_k hours).

``jobs`` (:func:`add_jobs`)
    Where each fleet job is, how it moves, and its energy by the deadline.
``routing`` (:func:`add_routing`)
    Which sites serve each region's tier-1 demand, within its latency budget.
``network`` (:func:`add_network`)
    Data moved over each link per period, within its bandwidth, with its price and energy.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyomo.environ as pyo

from optimizer.fleet.problem import SERVE_WORKLOAD, FleetProblem, job_workload
from optimizer.linearize import Linearization
from optimizer.planner import PlanSolver


def site_block(fleet: pyo.ConcreteModel, index: int) -> pyo.Block:
    """The Block of site ``index`` in a fleet model."""
    return fleet.component(f"site_{index}")


def build_fleet_model(problem: FleetProblem, solvers: list[PlanSolver]) -> pyo.ConcreteModel:
    """One model of the fleet over the shared planning axis.

    Parameters
    ----------
    problem
        The fleet.
    solvers
        One built :class:`~optimizer.planner.PlanSolver` per site, in the order of
        ``problem.sites``, all on the same planning axis.

    Returns
    -------
    pyomo.environ.ConcreteModel
        Blocks ``site_<i>`` (the sites' models), ``jobs``, ``routing``, ``network`` and the
        objective ``cost`` = Σ site costs + network cost.  Plain attribute ``step_hours``:
        Δt per period [h].
    """
    fleet = pyo.ConcreteModel(name="dctwin fleet plan")
    lin = solvers[0].lin
    fleet.T = pyo.Set(initialize=range(lin.steps), ordered=True)
    fleet.step_hours = np.asarray(lin.step_hours, dtype=float)
    for index, (site, solver) in enumerate(zip(problem.sites, solvers, strict=True)):
        m = solver.model
        m.cost.deactivate()
        fleet.add_component(f"site_{index}", m)
        w = m.workloads
        for j in site.injected:
            for t in m.T:
                w.backlog_balance[j, t].deactivate()
                w.backlog[j, t].fix(0.0)
    add_jobs(fleet, problem, solvers)
    add_routing(fleet, problem, solvers)
    add_network(fleet, problem, solvers)
    fleet.cost = pyo.Objective(
        expr=sum(site_block(fleet, i).cost.expr for i in range(len(solvers))) + fleet.network.cost,
        sense=pyo.minimize,
    )
    return fleet


def add_jobs(fleet: pyo.ConcreteModel, problem: FleetProblem, solvers: list[PlanSolver]) -> None:
    """Add ``fleet.jobs``: presence, moves and the energy of every fleet job.

    Notes
    -----
    Symbols of ``fleet.jobs``; JS: (job, site) pairs allowed, JM: (job, from, to) moves between
    allowed sites joined by a link, S: sites, T: periods of Δt [h]; p_js,t is the power of the
    job's workload in site s's Block.

    ==========  ==========  =======  ====  ========================================================
    name        kind        index    unit  meaning
    ==========  ==========  =======  ====  ========================================================
    presence    Var         JS, T    [-]   share of the job's state at the site, 0 … 1; binary
                                           (one site at a time) unless the job is splittable
    move        Var         JM, T    [-]   share moved at the start of period t, ≥ 0
    balance     Constraint  JS, T    [-]   presence = previous (home: 1 before the start, else 0)
                                           + moves in − moves out
    run         Constraint  JS, T    kW    p ≤ max power · (presence − moves whose copy is
                                           still under way in t): a job does not run at its
                                           destination until its copy is done (the copy takes
                                           as many periods as the link needs,
                                           :meth:`FleetProblem.copy_periods`; a move whose
                                           copy would not end in the horizon is bounded to 0)
    energy      Constraint  jobs     kWh   Σ_s Σ_t p·Δt ≥ energy (a hard contract; p is fixed
                                           to 0 outside release … deadline)
    energy_cap  Constraint  jobs     kWh   Σ_s Σ_t p·Δt ≤ energy
    host        Constraint  S, T     kW    Σ jobs at the site p ≤ its job racks' dynamic power
    ==========  ==========  =======  ====  ========================================================
    """
    b = fleet.jobs = pyo.Block()
    lin = solvers[0].lin
    dt = fleet.step_hours
    pairs = [(job.name, site) for job in problem.jobs for site in job.sites]
    moves = [
        (job.name, origin, target)
        for job in problem.jobs
        for origin in job.sites
        for target in job.sites
        if origin != target and problem.link(origin, target) is not None
    ]
    b.JS = pyo.Set(initialize=pairs, dimen=2, ordered=True)
    b.JM = pyo.Set(initialize=moves, dimen=3, ordered=True)
    b.presence = pyo.Var(b.JS, fleet.T, bounds=(0.0, 1.0))
    b.move = pyo.Var(b.JM, fleet.T, within=pyo.NonNegativeReals)
    jobs = {job.name: job for job in problem.jobs}
    for name, site in pairs:
        if not jobs[name].splittable:
            for t in fleet.T:
                b.presence[name, site, t].domain = pyo.Binary
    index = {site.name: i for i, site in enumerate(problem.sites)}

    def power(job: str, site: str, t: int) -> pyo.Var:
        s = index[site]
        j = problem.sites[s].workload_index(job_workload(job))
        return site_block(fleet, s).workloads.power[j, t]

    b.copies = problem.copy_periods(dt)
    covering = copy_cover(b.copies)
    for key in moves:
        for t in fleet.T:
            if t not in b.copies[key]:
                b.move[(*key, t)].setub(0.0)  # its copy would not end inside the horizon

    def moved_in(job: str, site: str, t: int) -> pyo.Expression:
        return sum(b.move[job, o, site, t] for o in jobs[job].sites if (job, o, site) in b.JM)

    def copying_in(job: str, site: str, t: int) -> pyo.Expression:
        return sum(
            b.move[job, o, site, t0]
            for o in jobs[job].sites
            for t0, _ in covering.get((job, o, site, t), [])
        )

    def moved_out(job: str, site: str, t: int) -> pyo.Expression:
        return sum(b.move[job, site, d, t] for d in jobs[job].sites if (job, site, d) in b.JM)

    def balance(block: pyo.Block, job: str, site: str, t: int) -> pyo.Expression:
        before = block.presence[job, site, t - 1] if t > 0 else float(site == jobs[job].home)
        return block.presence[job, site, t] == before + moved_in(job, site, t) - moved_out(
            job, site, t
        )

    b.balance = pyo.Constraint(b.JS, fleet.T, rule=balance)
    b.run = pyo.Constraint(
        b.JS,
        fleet.T,
        rule=lambda block, job, site, t: (
            power(job, site, t)
            <= jobs[job].max_power[site] * (block.presence[job, site, t] - copying_in(job, site, t))
        ),
    )
    _bound_job_power(problem, lin, list(fleet.T), power)

    def delivered(job: str) -> pyo.Expression:
        return sum(power(job, s, t) * float(dt[t]) for s in jobs[job].sites for t in fleet.T)

    names = list(jobs)
    b.energy = pyo.Constraint(names, rule=lambda block, job: delivered(job) >= jobs[job].energy)
    b.energy_cap = pyo.Constraint(names, rule=lambda block, job: delivered(job) <= jobs[job].energy)
    hosting = [
        (s, t)
        for s, site in enumerate(problem.sites)
        for t in fleet.T
        if _jobs_at(problem, site.name)
    ]

    def host(block: pyo.Block, s: int, t: int) -> pyo.Expression:
        site = problem.sites[s].name
        return sum(power(job, site, t) for job in _jobs_at(problem, site)) <= float(
            problem.sites[s].job_capacity
        )

    b.host = pyo.Constraint(hosting, rule=host)


def _bound_job_power(
    problem: FleetProblem,
    lin: Linearization,
    periods: list[int],
    power: Callable[[str, str, int], pyo.Var],
) -> None:
    """Each job's power at each allowed site at most its maximum there [kW], and 0 outside
    its release … deadline (``lin``: the linearization whose time axis the fleet shares)."""
    for job in problem.jobs:
        release = int(np.searchsorted(lin.time, job.release))
        deadline = int(np.searchsorted(lin.axis.end, job.deadline, side="right"))
        for site in job.sites:
            for t in periods:
                var = power(job.name, site, t)
                var.setub(job.max_power[site])
                if t < release or t >= deadline:
                    var.fix(0.0)


def copy_cover(
    copies: dict[tuple[str, str, str], dict[int, list[tuple[int, float]]]],
) -> dict[tuple[str, str, str, int], list[tuple[int, float]]]:
    """Per (job, from, to, period t): the moves (their period t0) whose copy is under way in t
    and the GB each sends in t [GB] (:meth:`FleetProblem.copy_periods` turned around)."""
    covering: dict[tuple[str, str, str, int], list[tuple[int, float]]] = {}
    for (job, origin, target), starts in copies.items():
        for t0, spans in starts.items():
            for t, gigabytes in spans:
                covering.setdefault((job, origin, target, t), []).append((t0, gigabytes))
    return covering


def _jobs_at(problem: FleetProblem, site: str) -> list[str]:
    return [job.name for job in problem.jobs if site in job.sites]


def add_routing(fleet: pyo.ConcreteModel, problem: FleetProblem, solvers: list[PlanSolver]) -> None:
    """Add ``fleet.routing``: which sites serve each region's tier-1 demand.

    Notes
    -----
    Symbols of ``fleet.routing``; RS: (region, site) pairs within the region's latency budget
    (and residency), D̄_r,t and D̂_r,t: the region's mean and highest demand in period t [kW].

    ==========  ==========  =======  ====  ========================================================
    name        kind        index    unit  meaning
    ==========  ==========  =======  ====  ========================================================
    share       Var         RS, T    [-]   share of the region's demand the site serves, 0 … 1
    served      Constraint  R, T     [-]   Σ_s share = 1 (tier 1 is always served)
    serve       Constraint  S, T     kW    the site's serve workload power = Σ_r share · D̄
    capacity    Constraint  S, T     kW    Σ_r share · D̂ ≤ the inference racks' dynamic power
    ==========  ==========  =======  ====  ========================================================
    """
    b = fleet.routing = pyo.Block()
    axis = solvers[0].axis
    pairs = [(region.name, site) for region in problem.regions for site in region.eligible]
    b.RS = pyo.Set(initialize=pairs, dimen=2, ordered=True)
    b.share = pyo.Var(b.RS, fleet.T, bounds=(0.0, 1.0))
    mean = {r.name: axis.reduce(r.demand, "mean") for r in problem.regions}
    high = {r.name: axis.reduce(r.demand, "max") for r in problem.regions}
    eligible = {r.name: r.eligible for r in problem.regions}
    by_site: dict[str, list[str]] = {}
    for region, site in pairs:
        by_site.setdefault(site, []).append(region)
    b.served = pyo.Constraint(
        list(eligible),
        fleet.T,
        rule=lambda block, region, t: (
            sum(block.share[region, s, t] for s in eligible[region]) == 1.0
        ),
    )
    serving = [
        s for s, site in enumerate(problem.sites) if site.workload_index(SERVE_WORKLOAD) is not None
    ]

    def serve(block: pyo.Block, s: int, t: int) -> pyo.Expression:
        site = problem.sites[s]
        j = site.workload_index(SERVE_WORKLOAD)
        routed = sum(
            block.share[r, site.name, t] * float(mean[r][t]) for r in by_site.get(site.name, [])
        )
        return site_block(fleet, s).workloads.power[j, t] == routed

    def capacity(block: pyo.Block, s: int, t: int) -> pyo.Expression:
        site = problem.sites[s]
        routed = sum(
            block.share[r, site.name, t] * float(high[r][t]) for r in by_site.get(site.name, [])
        )
        if isinstance(routed, int | float):
            return pyo.Constraint.Skip
        return routed <= float(site.inference_capacity)

    b.serve = pyo.Constraint(serving, fleet.T, rule=serve)
    b.capacity = pyo.Constraint(serving, fleet.T, rule=capacity)


def add_network(fleet: pyo.ConcreteModel, problem: FleetProblem, solvers: list[PlanSolver]) -> None:
    """Add ``fleet.network``: data moved over each link, its bandwidth, price and energy.

    Notes
    -----
    Symbols of ``fleet.network``; L: directed links (from, to) both ways, T: periods of
    Δt [h].

    ============  ==========  =====  ============  ==============================================
    name          kind        index  unit          meaning
    ============  ==========  =====  ============  ==============================================
    moved         Var         L, T   GB            data sent in the period: Σ over the moves
                                                   whose copy is under way in it of the move ·
                                                   the GB its copy sends then (the checkpoint +
                                                   the data unless the destination is home, at
                                                   the link's full bandwidth from the move's
                                                   period on)
    moved_def     Constraint  L, T   GB            its definition
    bandwidth     Constraint  L, T   GB            moved ≤ bandwidth · 3600/8 · Δt
    energy_kwh    Expression         kWh           Σ moved · transfer energy per GB
    carbon_kg     Expression         kg            Σ moved · energy per GB · carbon intensity of
                                                   the sending site
    cost          Expression         currency      Σ moved · price per GB + the sending site's
                                                   carbon price · carbon
    ============  ==========  =====  ============  ==============================================
    """
    b = fleet.network = pyo.Block()
    jobs = problem.jobs
    dt = fleet.step_hours
    directed = [(link.ends[0], link.ends[1]) for link in problem.links] + [
        (link.ends[1], link.ends[0]) for link in problem.links
    ]
    b.L = pyo.Set(initialize=directed, dimen=2, ordered=True)
    b.moved = pyo.Var(b.L, fleet.T, within=pyo.NonNegativeReals)
    m = fleet.jobs

    covering = copy_cover(m.copies)

    def moved_def(block: pyo.Block, origin: str, target: str, t: int) -> pyo.Expression:
        total = sum(
            m.move[job.name, origin, target, t0] * gigabytes
            for job in jobs
            for t0, gigabytes in covering.get((job.name, origin, target, t), [])
        )
        return block.moved[origin, target, t] == total

    b.moved_def = pyo.Constraint(b.L, fleet.T, rule=moved_def)

    def bandwidth(block: pyo.Block, origin: str, target: str, t: int) -> pyo.Expression:
        link = problem.link(origin, target)
        assert link is not None
        return block.moved[origin, target, t] <= link.gigabytes_per_hour() * float(dt[t])

    b.bandwidth = pyo.Constraint(b.L, fleet.T, rule=bandwidth)
    index = {site.name: i for i, site in enumerate(problem.sites)}

    def carbon(origin: str, t: int) -> float:
        return float(pyo.value(site_block(fleet, index[origin]).grid.carbon[t]))

    def energy(origin: str, target: str) -> float:
        link = problem.link(origin, target)
        assert link is not None
        return link.energy

    b.energy_kwh = pyo.Expression(
        expr=sum(b.moved[o, d, t] * energy(o, d) for (o, d) in directed for t in fleet.T)
    )
    b.carbon_kg = pyo.Expression(
        expr=sum(
            b.moved[o, d, t] * energy(o, d) * carbon(o, t) for (o, d) in directed for t in fleet.T
        )
    )
    price = {(o, d): problem.link(o, d).price_from(o) for (o, d) in directed}  # type: ignore[union-attr]
    carbon_price = {s.name: s.facility.grid.carbon_price for s in problem.sites}
    b.transfer_cost = pyo.Expression(
        expr=sum(b.moved[o, d, t] * price[(o, d)] for (o, d) in directed for t in fleet.T)
    )
    b.cost = pyo.Expression(
        expr=b.transfer_cost
        + sum(
            b.moved[o, d, t] * energy(o, d) * carbon(o, t) * carbon_price[o]
            for (o, d) in directed
            for t in fleet.T
        )
    )


def pin_home(
    fleet: pyo.ConcreteModel, problem: FleetProblem, routing: dict[tuple[str, str], np.ndarray]
) -> None:
    """Fix every job at home (no moves) and the routing to ``routing`` (per period): the
    ``sites_alone`` baseline, each site co-planned in time only."""
    b, r = fleet.jobs, fleet.routing
    for job, origin, target, t in list(b.move.keys()):
        b.move[job, origin, target, t].fix(0.0)
    for (region, site), values in routing.items():
        for t in fleet.T:
            if (region, site) in r.RS:
                r.share[region, site, t].fix(float(values[t]))


def unpin(fleet: pyo.ConcreteModel) -> None:
    """Free the moves and the routing again (see :func:`pin_home`)."""
    for var in fleet.jobs.move.values():
        var.unfix()
    for var in fleet.routing.share.values():
        var.unfix()
