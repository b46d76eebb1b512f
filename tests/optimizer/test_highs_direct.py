"""The hand-over of the planning model to HiGHS (:mod:`optimizer.highs_direct`).

On the demo hall over one day (generated series): the LP HiGHS holds solves to the same
objective as the model written by Pyomo's own MPS writer and read by ``highspy`` alone.
"""

from __future__ import annotations

import os
import tempfile

import highspy
import numpy as np
import pyomo.environ as pyo
import pytest

from optimizer.highs_direct import DirectHighs, new_highs
from optimizer.plan import PlanOptions, PlanSolver
from tests.helpers import demo_hall_dict
from twin.data.series import scenario_series
from twin.scenario.compile import compile_facility
from twin.scenario.loader import scenario_from_dict


@pytest.fixture(scope="module")
def solver() -> PlanSolver:
    scenario = scenario_from_dict(demo_hall_dict(1))
    facility = compile_facility(scenario)
    return PlanSolver(facility, scenario_series(scenario), PlanOptions(shadow_prices=False))


def _mps_objective(model: pyo.ConcreteModel) -> float:
    """The model written by Pyomo's MPS writer, solved by ``highspy`` alone [USD]."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "plan.mps")
        model.write(path, io_options={"symbolic_solver_labels": False})
        alone = new_highs()
        alone.readModel(path)
    alone.run()
    assert alone.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return float(alone.getInfo().objective_function_value)


def test_lp_handed_to_highs_solves_as_pyomos_mps_file(solver: PlanSolver) -> None:
    """Same objective as Pyomo's MPS file in HiGHS alone, as built and after the planner's
    physics corrections were pushed as row bounds (:meth:`PlanSolver.correct`'s path).

    Not the same solution: the file orders rows and columns differently and HiGHS stops at
    another vertex of the same optimum (measured: 137 of the 1,488 columns both name differ,
    objective equal to 1e-9).  This LP has alternative optima; see
    :meth:`optimizer.highs_direct.DirectHighs.refresh_rows` for what that did to the plan.
    """
    model, g = solver.model, solver.model.grid
    running = list(model.workloads.running.values())
    saved = solver.snapshot()
    rng = np.random.default_rng(17)
    for var in running:
        var.domain = pyo.UnitInterval
    try:
        direct = DirectHighs()
        built = direct.solve(model)
        assert built.objective is not None
        assert built.objective == pytest.approx(_mps_objective(model), rel=1e-9)
        for t in model.T:
            g.correction[t] = float(rng.normal(0.0, 20.0))
            g.peak_excess[t] = float(rng.uniform(0.0, 30.0))
        direct.refresh_rows([*g.balance.values(), *g.peak_def.values()])
        corrected = direct.solve(model)
        assert direct.compiles == 1 and corrected.objective is not None
        assert corrected.objective == pytest.approx(_mps_objective(model), rel=1e-9)
        assert corrected.objective != pytest.approx(built.objective, rel=1e-6)
    finally:
        for var in running:
            var.domain = pyo.Binary
        solver.restore(saved)


def test_every_solve_gets_its_whole_time_limit(solver: PlanSolver) -> None:
    """HiGHS counts time_limit against the run time of all runs of one Highs object: each
    solve must set it from the run time so far, or a re-solve inherits what is left."""
    highs = DirectHighs(time_limit=5.0)
    assert highs.solve(solver.model).feasible
    first_run = float(highs._highs.getRunTime())
    assert first_run > 0.0
    assert highs.solve(solver.model).feasible
    limit = highs._highs.getOptionValue("time_limit")
    limit = float(limit[-1] if isinstance(limit, tuple) else limit)
    assert limit - 5.0 == pytest.approx(first_run, abs=0.5)
