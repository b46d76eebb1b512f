"""The fleet co-plan by decomposition: a placement model, then the sites with it fixed.

Solving every site's Blocks and the fleet's placement binaries as one MIP does not finish in
a minute on a real fleet (``docs/fleet.md``: seven sites, 2,880 presence binaries on top of
the sites' own on/off decisions).  The decomposition splits the two:

1. **Placement** (:func:`build_placement_model`): the fleet's Blocks (``jobs``, ``routing``,
   ``network`` of :mod:`optimizer.fleet.model`, unchanged) over the same planning axis, with
   each site reduced to the power of its fleet workloads.  Every kWh of fleet IT energy at
   site s in period k costs c_s,k = r_s,k · (price_s,k + carbon price_s · intensity_s,k)
   [currency/kWh of IT], r_s,k the site's grid import per IT energy in the period at its
   as-operated simulation (cooling and power-chain losses, PV) — a linear curve taken from the
   site's own physics.  Demand charges and the sites' own timing are left to step 2.
2. **Sites with the placement fixed**: the moves and routing shares of step 1 are fixed in
   the full fleet model (:func:`pin_placement`), so the presence of every job is fixed too;
   what remains is every site's own plan in time (its on/off decisions, setpoints, battery,
   the fleet jobs' power within their presence windows), solved and verified as the
   ``sites_alone`` baseline is.

The caller keeps the cheaper verified plan of this co-plan and ``sites_alone``
(:func:`optimizer.fleet.plan.plan_fleet`).
"""

from __future__ import annotations

import time

import numpy as np
import pyomo.environ as pyo
from pyomo.contrib.appsi.base import TerminationCondition

from optimizer.fleet.model import add_jobs, add_network, add_routing
from optimizer.fleet.problem import FleetProblem
from optimizer.highs_direct import DirectHighs
from optimizer.planner import PlanSolver

SHARE_TOLERANCE = 1e-7
"""Moves and shares below this [-] are read as 0 when a placement is fixed."""


def placement_costs(problem: FleetProblem, solvers: list[PlanSolver]) -> np.ndarray:
    """Cost of one kWh of fleet IT energy at each site in each period [currency/kWh of IT].

    Parameters
    ----------
    problem
        The fleet.
    solvers
        The sites' planners (their as-operated simulations and linearizations).

    Returns
    -------
    numpy.ndarray
        Shape (sites, periods): grid import per IT energy of the period at the as-operated
        operating point [-] × (energy price [currency/kWh] + carbon price [currency/kg] ×
        carbon intensity [kg/kWh]).
    """
    rows = []
    for site, solver in zip(problem.sites, solvers, strict=True):
        base = solver.baseline_result
        grid = solver.axis.reduce(np.asarray(base["grid_power"].values, dtype=float), "mean")
        it = solver.axis.reduce(np.asarray(base["it_power"].values, dtype=float), "mean")
        ratio = np.where(it > 1.0, np.maximum(grid, 0.0) / np.maximum(it, 1.0), 1.0)
        carbon_price = float(site.facility.grid.carbon_price)  # currency/kg
        effective = np.asarray(solver.lin.price, dtype=float) + carbon_price * np.asarray(
            solver.lin.carbon, dtype=float
        )
        rows.append(ratio * effective)
    return np.vstack(rows)


def _site_stub(fleet: pyo.ConcreteModel, problem: FleetProblem, s: int) -> pyo.Block:
    """A site reduced to the power of its fleet workloads [kW] and its carbon intensity."""
    site = problem.sites[s]
    solver_carbon = fleet.site_carbon[s]
    block = pyo.Block()
    fleet.add_component(f"site_{s}", block)
    block.workloads = pyo.Block()
    block.workloads.J = pyo.Set(initialize=site.injected, ordered=True)
    block.workloads.power = pyo.Var(block.workloads.J, fleet.T, within=pyo.NonNegativeReals)
    block.grid = pyo.Block()
    block.grid.carbon = pyo.Param(
        fleet.T, initialize=lambda b, t: float(solver_carbon[t]), mutable=False
    )
    return block


def build_placement_model(
    problem: FleetProblem, solvers: list[PlanSolver], costs: np.ndarray
) -> pyo.ConcreteModel:
    """The placement model: the fleet's Blocks on stub sites with linear energy costs.

    Parameters
    ----------
    problem
        The fleet.
    solvers
        The sites' planners (for the planning axis and each site's carbon intensity).
    costs
        :func:`placement_costs` [currency/kWh of IT], shape (sites, periods).

    Returns
    -------
    pyomo.environ.ConcreteModel
        Blocks ``site_<i>`` (``workloads.power`` [kW] of the fleet workloads only,
        ``grid.carbon`` [kg/kWh]), ``jobs``, ``routing``, ``network`` as in the fleet model and
        the objective ``cost`` = Σ_s Σ_k c_s,k · Δt_k · Σ fleet power + network cost
        [currency].
    """
    fleet = pyo.ConcreteModel(name="dctwin fleet placement")
    lin = solvers[0].lin
    fleet.T = pyo.Set(initialize=range(lin.steps), ordered=True)
    fleet.step_hours = np.asarray(lin.step_hours, dtype=float)
    fleet.site_carbon = [np.asarray(solver.lin.carbon, dtype=float) for solver in solvers]
    blocks = [_site_stub(fleet, problem, s) for s in range(len(problem.sites))]
    add_jobs(fleet, problem, solvers)
    add_routing(fleet, problem, solvers)
    add_network(fleet, problem, solvers)
    dt = fleet.step_hours
    fleet.cost = pyo.Objective(
        expr=sum(
            float(costs[s, t] * dt[t]) * block.workloads.power[j, t]
            for s, block in enumerate(blocks)
            for j in block.workloads.J
            for t in fleet.T
        )
        + fleet.network.cost,
        sense=pyo.minimize,
    )
    return fleet


def solve_placement(
    problem: FleetProblem,
    solvers: list[PlanSolver],
    time_limit: float,
    mip_gap: float,
) -> tuple[pyo.ConcreteModel | None, dict[str, float], TerminationCondition]:
    """Build and solve the placement model with HiGHS.

    Returns
    -------
    tuple
        The solved model (None when HiGHS found no feasible placement), timings [s]
        (``placement_build_s``, ``placement_solve_s``) and HiGHS' termination condition.
    """
    started = time.perf_counter()
    model = build_placement_model(problem, solvers, placement_costs(problem, solvers))
    built = time.perf_counter()
    highs = DirectHighs(time_limit=time_limit, mip_gap=mip_gap)
    result = highs.solve(model)
    timings = {
        "placement_build_s": built - started,
        "placement_solve_s": time.perf_counter() - built,
    }
    if not result.feasible or result.condition == TerminationCondition.infeasible:
        return None, timings, result.condition
    highs.load_values()
    return model, timings, result.condition


def pin_placement(
    fleet: pyo.ConcreteModel, placement: pyo.ConcreteModel, problem: FleetProblem
) -> None:
    """Fix the fleet model's moves and routing shares to the placement model's [-].

    A job that is not splittable moves whole (its moves are rounded to 0 or 1); the presence
    of every job then follows from the balance rows.  :func:`optimizer.fleet.model.unpin`
    frees them again.
    """
    whole = {job.name for job in problem.jobs if not job.splittable}
    for key, var in placement.jobs.move.items():
        value = float(pyo.value(var) or 0.0)
        value = float(round(value)) if key[0] in whole else value
        fleet.jobs.move[key].fix(value if value > SHARE_TOLERANCE else 0.0)
    for key, var in placement.routing.share.items():
        value = min(max(float(pyo.value(var) or 0.0), 0.0), 1.0)
        fleet.routing.share[key].fix(value if value > SHARE_TOLERANCE else 0.0)
