"""The shipped real-data fleet (scenarios/fleet-real.yaml: 3 core halls and 4 edge pods in seven
grid zones) planned on the real 2023 price, carbon and weather of a summer and a winter week.

Hourly steps (the file's own step is 15 min) keep the test to minutes; the contracts are the
same.  Skipped with its reason when ``../shared/data`` is absent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from optimizer.fleet.plan import plan_fleet
from optimizer.planner import PlanOptions
from tests.helpers import ROOT
from twin.fleet.build import build_fleet

pytestmark = pytest.mark.slow


def week_file(tmp_path: Path, data_dir: Path, week: str) -> Path:
    """A copy of scenarios/fleet-real.yaml replaying ``week`` (ISO instant), hourly."""
    data: dict[str, Any] = yaml.safe_load((ROOT / "scenarios" / "fleet-real.yaml").read_text())
    data["simulation"]["step"] = "1 h"
    for site in data["sites"]:
        site["scenario"] = str(ROOT / "scenarios" / site["scenario"])
        for source in site["series"]:
            source.update({"data_dir": str(data_dir), "replay_from": week})
    path = tmp_path / "fleet-week.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize(
    "week", ["2023-07-10T00:00:00Z", "2023-01-09T00:00:00Z"], ids=["summer", "winter"]
)
def test_real_fleet_week_is_verified_with_deadlines_budgets_and_equal_work(
    shared_data: Path, tmp_path: Path, week: str
) -> None:
    ready = build_fleet(week_file(tmp_path, shared_data, week))
    assert len(ready.problem.sites) == 7
    zones = {site.grid_zone for site in ready.problem.sites}
    assert len(zones) == 7
    # a generous limit: the answer must not depend on how busy the machine is
    options = PlanOptions(time_limit=900.0, fine_hours=24.0)
    plan = plan_fleet(ready.problem, options, baseline_routing=ready.baseline_routing)
    data = plan.to_json()
    assert plan.verified, data["problems"]
    assert all(site["verified"] for site in data["sites"].values())
    # every fleet job's energy by its deadline
    for name, job in data["jobs"].items():
        assert job["met"], name
        assert job["on_time_kwh"] >= job["required_kwh"] * (1 - 1e-6) - 1e-3
    # every region served within its latency budget
    assert data["latency_violations"] == []
    budgets = {r["name"]: r for r in yaml.safe_load(week_file_text(tmp_path))["regions"]}
    for region, shares in data["routing"].items():
        served = {site for site, share in shares.items() if share > 1e-6}
        latency = {k: float(str(v).split()[0]) for k, v in budgets[region]["latency"].items()}
        budget = float(str(budgets[region]["latency_budget"]).split()[0])
        assert served and all(latency[site] <= budget for site in served), region
        assert sum(shares.values()) == pytest.approx(1.0, abs=1e-4)
    # the equal-work rule: plan and both baselines deliver the same IT energy (0.5 %)
    assert data["equal_work"]["equal"]
    alone = data["baselines"]["sites_alone"]
    assert alone["verified"], alone["problems"]
    # the returned plan is never dearer than the sites planned alone
    assert data["cost"] <= alone["cost"] * (1 + 1e-6)


def week_file_text(tmp_path: Path) -> str:
    return (tmp_path / "fleet-week.yaml").read_text()
