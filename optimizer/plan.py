"""Plan, verify, explain: the co-planner's entry points.

``plan(facility, series, options, state)`` builds the model at the as-operated operating
point over a look-ahead of periods (:mod:`optimizer.horizon`), solves it with HiGHS, holds
each period's decisions over its fine steps, re-simulates them with
:func:`physics.simulate.simulate` and checks every limit and every service contract
(:mod:`optimizer.verify`).  Reported figures are always the verified ones, beside the same
figures for both baselines, all over the same look-ahead and the same tariff, so they compare
equal work (:class:`optimizer.result.Plan`).  Time-out: the best feasible plan with its gap;
none: the as-operated baseline flagged as a fallback.  Infeasible: a diagnosis in physical
terms.
"""

from __future__ import annotations

import xarray as xr
from pyomo.common.gc_manager import PauseGC

from optimizer.accounting import verified_figures
from optimizer.planner import PlanOptions, PlanSolver
from optimizer.progress import Progress
from optimizer.result import COMPARED, Plan
from optimizer.state import PlanState
from optimizer.verify import run_plan
from physics.facility import Facility


class Planner(PlanSolver):
    """A :class:`optimizer.planner.PlanSolver` with the verification loop.

    Parameters
    ----------
    facility
        Compiled facility.
    series
        Exogenous series on the fine axis of the look-ahead.
    options
        Solver control and model switches.
    state
        The state the plan starts from (see :class:`optimizer.state.PlanState`).
    progress
        ``progress(stage, fraction)`` callback (:mod:`optimizer.progress`), or None.
    """

    def run(self) -> Plan:
        """Solve, verify, tighten and re-solve; return the verified plan."""
        with PauseGC():  # see PlanSolver.__init__
            plan = run_plan(self)
        self.progress.done()
        return plan


def plan(
    facility: Facility,
    series: xr.Dataset,
    options: PlanOptions | None = None,
    state: PlanState | None = None,
    progress: Progress | None = None,
) -> Plan:
    """Plan ``facility`` over ``series`` and verify the plan with the physics.

    Parameters
    ----------
    facility
        Compiled facility.
    series
        Exogenous series on the fine (regular) axis of the look-ahead: ``price``
        [USD/MWh], ``carbon_intensity`` [g/kWh], weather, tier 1/2 profiles, optional
        ``pv_capacity_factor`` and the demand-response terms (``dr_import_cap`` [W], ...).
        The look-ahead should contain every deadline planned for
        (:func:`optimizer.horizon.lookahead_end`).
    options
        Solver control and model switches (``committed_hours``: the period whose decisions
        are applied).
    state
        The state the plan starts from: work done, battery SOC, billing peak so far,
        setpoints in force.
    progress
        ``progress(stage, fraction)`` callback [-] (:mod:`optimizer.progress`): called with
        fractions from 0 to 1, never decreasing, ending with ``("done", 1.0)``.

    Returns
    -------
    Plan
    """
    return Planner(facility, series, options, state, progress).run()


__all__ = ["COMPARED", "Plan", "PlanOptions", "PlanState", "Planner", "plan", "verified_figures"]
