"""Busbar rows implied by another busbar's row are left out, and the LP is the same.

``optimizer.blocks.screening.undominated_rows`` keeps, per class of busbars with the same
load per kW of every workload and the same capacity, only the row with the highest load at
the operating point at each step.  These tests check the rule on hand-made arrays and that
the planning LP of a synthetic hall has the same optimum with and without the other rows —
with the busbar limits derated so that they bind.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import numpy as np
import pytest

from optimizer.blocks.options import ModelOptions
from optimizer.blocks.screening import undominated_rows
from optimizer.explain import _relaxed
from optimizer.highs_direct import DirectHighs
from optimizer.model import build_model
from optimizer.planner import PlanOptions, PlanSolver
from twin.data.series import scenario_series
from twin.scenario.compile import compile_facility
from twin.scenario.loader import scenario_from_dict
from twin.scenario.synthetic import synthetic_hall


def test_only_the_highest_row_of_a_class_stays_at_each_step() -> None:
    base = np.array([[1.0, 5.0], [3.0, 2.0], [3.0, 9.0], [0.0, 0.0]])  # (N=4, T=2)
    per_work = np.array([[0.5], [0.5], [0.7], [0.5]])  # busbar 2 is its own class
    capacity = np.array([10.0, 10.0, 10.0, 10.0])
    rows = [(i, t) for i in range(4) for t in range(2)]
    kept = undominated_rows(rows, base, per_work, capacity)
    assert kept == [(0, 1), (1, 0), (2, 0), (2, 1)]
    # a different capacity is a different class
    capacity[3] = 9.0
    assert (3, 0) in undominated_rows(rows, base, per_work, capacity)
    # ties keep the lowest index; a row not given cannot be kept
    base[0, 0] = 3.0
    assert undominated_rows(rows, base, per_work, capacity)[0] == (0, 0)
    assert (0, 0) not in undominated_rows(rows[1:], base, per_work, capacity)


def test_every_dropped_row_is_implied_by_a_kept_row() -> None:
    rng = np.random.default_rng(7)
    base = rng.integers(0, 4, size=(30, 6)).astype(float)
    per_work = rng.integers(0, 2, size=(30, 2)).astype(float)
    capacity = rng.choice([5.0, 6.0], size=30)
    rows = [(i, t) for i, t in itertools.product(range(30), range(6)) if rng.random() < 0.8]
    kept = set(undominated_rows(rows, base, per_work, capacity))
    assert len(kept) < len(rows)
    for i, t in set(rows) - kept:
        assert any(
            k_t == t
            and capacity[k] == capacity[i]
            and np.array_equal(per_work[k], per_work[i])
            and base[k, t] >= base[i, t]
            for k, k_t in kept
        )


def _hall() -> dict[str, Any]:
    """120 racks for a day, hourly: a training job on the GPU rows due in 20 h that needs 16 h
    at their full dynamic power, which their busbars' shelves cannot quite carry (so it runs
    near the shelves' limit); inference on
    the air-cooled rows."""
    data = synthetic_hall(120, days=1.0, step="1 h")
    gpu = [row for row in data["rows"] if row["type"] == "gpu-120"]
    air = [row for row in data["rows"] if row["type"] != "gpu-120"]
    kind = data["rack_types"]["gpu-120"]
    dynamic = kind["design_power"] * (1 - kind["fan_fraction"]) * (1 - kind["idle_fraction"])
    job_kw = dynamic * sum(row["count"] for row in gpu)
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
            "energy": round(job_kw * 16.0, 1),
            "release": "0 h",
            "deadline": "20 h",
        },
    ]
    # 22 of 25 rectifiers (N+3) give 121 kW: below a GPU rack's 124 kW at full power
    data["power"]["busbar_templates"]["orv3-gpu"]["shelf"]["psu_count"] = 25
    return data


@pytest.fixture(scope="module")
def planner() -> PlanSolver:
    scenario = scenario_from_dict(_hall())
    facility = compile_facility(scenario)
    return PlanSolver(facility, scenario_series(scenario), PlanOptions())


def _optimum(planner: PlanSolver, options: ModelOptions, busbars: bool = True) -> tuple[float, int]:
    model = build_model(planner.facility, planner.lin, options=options)
    if not busbars:
        model.power.busbar.deactivate()
    with _relaxed(model):
        result = DirectHighs().solve(model)
    assert result.objective is not None
    return result.objective, len(model.power.busbar)


@pytest.mark.parametrize("derating", [0.0, 0.05])
def test_the_plan_lp_is_the_same_without_the_implied_busbar_rows(
    planner: PlanSolver, derating: float
) -> None:
    options = dataclasses.replace(planner.options.model, limit_derating={"busbar": derating})
    merged, merged_rows = _optimum(planner, options)
    full, full_rows = _optimum(planner, dataclasses.replace(options, merge_implied_rows=False))
    assert 0 < merged_rows < full_rows / 10  # one row per rack class and step, not per rack
    assert merged == pytest.approx(full, rel=1e-9, abs=1e-6)


def test_the_busbar_rows_bind(planner: PlanSolver) -> None:
    """The equivalence above is not vacuous: without the busbar rows the optimum is lower."""
    options = planner.options.model
    with_rows = _optimum(planner, options)[0]
    assert with_rows > _optimum(planner, options, busbars=False)[0] * (1 + 1e-6)
