"""A plan's preview compares like with like (real SQLite store, real HiGHS re-plan on the
demo hall's live twin)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import Clock
from tests.twin.test_live import make_twin
from tests.twin.test_restore import NOW, _approved


def test_a_plan_previewed_against_itself_in_force_shows_no_saving(tmp_path: Path) -> None:
    """The preview's in-force side is judged as a plan is (the demand charge above the billing
    peak so far): with the plan itself in force, cost, peak and energy agree on both sides
    (the in-force side used to charge the whole peak again, ~48,800 USD of saving that did
    not exist)."""
    clock = Clock(NOW)
    twin = make_twin(tmp_path, clock)
    record = _approved(twin, clock)
    figures = twin.supervisor.preview(record["payload"])["figures"]
    plan_cost = figures["cost"]["plan"]
    assert plan_cost > 0
    for name in ("cost", "peak_grid_kw", "grid_energy_kwh"):
        side = figures[name]
        assert side["in_force"] == pytest.approx(side["plan"], rel=1e-4), name
    twin.store.close()


def test_a_preview_on_unequal_work_says_so_and_claims_no_saving(tmp_path: Path) -> None:
    """Proposed at noon on a fresh twin, the plan starts from the measured work (none done),
    while the schedule in force is a timetable that assumes the jobs ran since the window
    started: over the horizon current operation delivers less work and would miss both hard
    deadlines.  The preview says so first, in the API and in the sentences the UI shows, and
    does not present the cost difference as a saving (tester finding 1: "expected cost
    17,621.68 → 13,189.79 USD (-4,431.89)" on 18.5 MWh less work).  With the plan itself in
    force, the same preview compares equal work and the cost change is shown again."""
    clock = Clock(NOW)
    twin = make_twin(tmp_path, clock)
    record = _approved(twin, clock)
    preview = record["payload"]["preview"]  # computed when it was proposed
    comparison = preview["comparison"]
    assert comparison["equal_work"] is False and comparison["cost_is_saving"] is False
    energy = comparison["job_energy_kwh"]
    assert energy["plan"] - energy["in_force"] > 1000.0
    jobs = {job["job"]: job["energy_kwh"] for job in preview["jobs"]}
    assert energy["in_force"] == pytest.approx(sum(j["in_force"] for j in jobs.values()), abs=0.01)
    missed = comparison["in_force_misses"]
    assert any("'llm-pretraining'" in line for line in missed), missed
    changes = preview["changes"]
    assert changes[0].startswith("NOT EQUAL WORK") and "not a saving" in changes[0]
    assert any(line.startswith("current operation would MISS a hard contract") for line in changes)
    cost = next(line for line in changes if line.startswith("expected cost"))
    assert cost.endswith("(not a saving: see above)"), cost

    again = twin.supervisor.preview(record["payload"])  # the plan itself now in force
    assert again["comparison"]["equal_work"] is True
    assert again["comparison"]["in_force_misses"] == []
    assert again["comparison"]["cost_is_saving"] is True
    cost = next(line for line in again["changes"] if line.startswith("expected cost"))
    assert "not a saving" not in cost
    twin.store.close()
