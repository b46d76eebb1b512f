"""Shadow prices re-solved in the planner's own HiGHS model (issue 17).

The battery and deadline prices are finite differences of the planner's LP relaxation, made
by changing bounds and costs in the held HiGHS model and re-solving warm.  Checked here
against the same finite difference taken the slow way: two models built from scratch for
the facility as it is and as changed, each solved cold.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from optimizer.explain import _relaxed
from optimizer.highs_direct import DirectHighs
from optimizer.model import build_model
from optimizer.plan import Planner, PlanOptions
from physics.constants import JOULES_PER_KWH
from physics.facility import Facility
from twin.data.series import scenario_series
from twin.scenario.compile import compile_facility
from twin.scenario.loader import scenario_from_dict
from twin.scenario.synthetic import synthetic_hall


def _scenario() -> dict[str, Any]:
    """A 40-rack synthetic day: a training job on the GPU rows due after 20 h with a third
    of its window to spare, inference elsewhere, a small battery (so both bind)."""
    data = synthetic_hall(40, days=1.0, step="15 min")
    gpu = [row for row in data["rows"] if row["type"] == "gpu-120"]
    air = [row for row in data["rows"] if row["type"] != "gpu-120"]
    kind = data["rack_types"]["gpu-120"]
    dynamic = kind["design_power"] * (1 - kind["fan_fraction"]) * (1 - kind["idle_fraction"])
    job_kw = 0.9 * dynamic * sum(row["count"] for row in gpu)
    it_kw = sum(
        row["count"] * data["rack_types"][row["type"]]["design_power"] for row in data["rows"]
    )
    data["workloads"] = [
        {
            "id": "inference",
            "tier": 1,
            "racks": [f"{r['row']}??" for r in air],
            "profile": "cpu_load",
        },
        {
            "id": "training",
            "tier": 3,
            "racks": [f"{r['row']}??" for r in gpu],
            "max_power": round(job_kw, 1),
            "energy": round(job_kw * 20.0 * 2 / 3, 1),
            "min_power": round(0.3 * job_kw, 1),
            "release": "0 h",
            "deadline": "20 h",
        },
    ]
    data["battery"] = {"energy": round(0.05 * it_kw, 1), "power": round(0.05 * it_kw, 1)}
    data["grid"]["demand_charge"] = 3.5
    data["grid"]["carbon_price"] = 50.0
    return data


pytestmark = pytest.mark.xdist_group("shadow-prices")  # module fixtures built once


@pytest.fixture(scope="module")
def planned() -> tuple[Planner, Facility]:
    scenario = scenario_from_dict(_scenario())
    facility = compile_facility(scenario)
    planner = Planner(facility, scenario_series(scenario), PlanOptions(shadow_prices=True))
    planner.result = planner.run()  # type: ignore[attr-defined]
    return planner, facility


def _rebuilt(planner: Planner, facility: Facility) -> float:
    """LP-relaxation objective of a model built from scratch for ``facility``, cold."""
    model = build_model(facility, planner.lin, options=planner.model.options_)
    with _relaxed(model):
        result = DirectHighs().solve(model)
    assert result.objective is not None
    return result.objective


def test_battery_and_deadline_prices_match_a_rebuilt_finite_difference(planned: Any) -> None:
    planner, facility = planned
    prices = planner.result.shadow_prices
    base = _rebuilt(planner, facility)
    bigger = dataclasses.replace(
        facility.battery, capacity=facility.battery.capacity + JOULES_PER_KWH
    )
    battery = base - _rebuilt(planner, dataclasses.replace(facility, battery=bigger))
    work = facility.workloads
    (j,) = np.flatnonzero(work.tier == 3)
    later = work.deadline.copy()
    later[j] = later[j] + np.timedelta64(1, "h")
    changed = dataclasses.replace(facility, workloads=dataclasses.replace(work, deadline=later))
    deadline = base - _rebuilt(planner, changed)
    # both limits bind: more battery and a later deadline save money
    assert battery > 1e-3 and deadline > 1e-2
    assert prices["battery_energy_per_kwh"] > 0.0
    assert prices["deadline_per_hour"]["training"] > 0.0
    # same magnitude: the planner's model also carries its verification rows and leaves out
    # the minimum-power rows of the hour the deadline opens
    assert prices["battery_energy_per_kwh"] == pytest.approx(battery, rel=0.05, abs=1e-3)
    assert prices["deadline_per_hour"]["training"] == pytest.approx(deadline, rel=0.05)


def test_changed_solve_leaves_the_held_model_unchanged(planned: Any) -> None:
    planner, _ = planned
    m, solver = planner.model, planner.solver
    with _relaxed(m):
        before = solver.solve(m).objective
        bt = m.battery
        changed = solver.solve_changed(m, rows={bt.start: (5.0, 5.0)})
        after = solver.solve(m).objective
    assert changed.objective is not None and before is not None
    assert changed.objective != pytest.approx(before, rel=1e-9)
    assert after == pytest.approx(before, rel=1e-9)


def test_refreshed_row_constants_solve_as_a_recompiled_model(planned: Any) -> None:
    """The planner's correction parameters pushed as row bounds give the optimum a
    recompiled model gives."""
    planner, _ = planned
    m, solver = planner.model, planner.solver
    g = m.grid
    saved = planner.snapshot()
    rng = np.random.default_rng(17)
    try:
        for t in m.T:
            g.correction[t] = float(rng.normal(0.0, 20.0))
            g.peak_excess[t] = float(rng.uniform(0.0, 30.0))
        solver.refresh_rows([*g.balance.values(), *g.peak_def.values()])
        with _relaxed(m):
            refreshed = solver.solve(m)
            solver.invalidate()
            cold = solver.solve(m)
    finally:
        planner.restore(saved)
    assert refreshed.objective is not None and cold.objective is not None
    assert refreshed.objective == pytest.approx(cold.objective, rel=1e-9)
    before = planner.solver.solves
    with _relaxed(m):
        back = solver.solve(m)
    assert planner.solver.solves == before + 1 and back.objective is not None
    assert back.objective != pytest.approx(refreshed.objective, rel=1e-6)
