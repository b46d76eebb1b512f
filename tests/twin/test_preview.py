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
