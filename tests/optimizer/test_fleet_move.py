"""``scenarios/fleet-move.yaml``, the fleet where moving pays, planned as shipped (real January
2023 data of CAISO and ERCOT; skipped without ../shared/data): the job leaves its expensive
home for the cheap pod over a link that needs two periods for its copy, with the same work,
every latency budget held, the network counted, and each pod verified with the moved load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from optimizer.fleet.plan import plan_fleet
from optimizer.planner import PlanOptions
from tests.helpers import SCENARIOS
from twin.fleet.build import build_fleet


def test_the_fleet_where_moving_pays_moves_the_job_with_equal_work(shared_data: Path) -> None:
    del shared_data  # the fixture skips when ../shared/data is absent
    ready = build_fleet(SCENARIOS / "fleet-move.yaml")
    plan = plan_fleet(
        ready.problem, PlanOptions(time_limit=60.0), baseline_routing=ready.baseline_routing
    )
    data = plan.to_json()
    assert plan.status == "optimal" and plan.verified, data["problems"]
    assert data["plan_source"] == "co_plan"
    # where the work went: all of the job at the cheap pod, on time
    job = data["jobs"]["finetune"]
    assert job["met"] and job["on_time_kwh"] == pytest.approx(600.0, rel=1e-6)
    assert job["by_site_kwh"]["dallas-pod"] == pytest.approx(600.0, rel=1e-6)
    # equal work: the fleet's IT energy, and every job's energy by its deadline, in all three
    assert data["equal_work"]["equal"] and data["equal_work"]["max_relative_difference"] < 1e-6
    for baseline in data["baselines"].values():
        assert baseline["verified"]
        assert baseline["jobs"]["finetune"]["met"]
        assert baseline["jobs"]["finetune"]["by_site_kwh"]["san-jose-pod"] == pytest.approx(600.0)
    # the move: 500 GB of data + 200 GB of checkpoint at 450 GB/h take the first two hours,
    # during which the job runs at neither pod
    (transfer,) = data["transfers"]
    assert (transfer["from"], transfer["to"]) == ("san-jose-pod", "dallas-pod")
    assert transfer["gb"] == pytest.approx(700.0) and transfer["cost"] == pytest.approx(14.0)
    (move,) = transfer["moves"]
    hours = np.datetime64(move["copy_done"][:19]) - np.datetime64(move["start"][:19])
    assert hours == np.timedelta64(2, "h")
    schedules = plan.plan.schedules  # type: ignore[union-attr]
    for site in ("san-jose-pod", "dallas-pod"):
        j = ready.problem.site(site).workload_index("fleet:finetune")
        assert np.all(schedules[site].workload_power[:2, j] <= 1e-6)
    # the network is in the cost: sites' costs + transfer price + the transfer's carbon price
    sites = sum(site["cost"] for site in data["sites"].values())
    network = data["transfer_cost"] + data["transfer_carbon_kg"] * 0.05  # 50 USD/t
    assert data["cost"] == pytest.approx(sites + network, rel=1e-9)
    # every pod verified with the moved load; no latency budget exceeded
    assert data["sites"]["dallas-pod"]["verified"]
    assert data["sites"]["dallas-pod"]["fleet_job_kwh"]["finetune"] == pytest.approx(600.0)
    assert data["latency_violations"] == []
    assert data["routing"]["bay-area"] == {"san-jose-pod": 1.0}
    assert data["routing"]["dallas-metro"] == {"dallas-pod": 1.0}
    # moving pays: more than the energy price difference of the job minus the network
    assert data["savings_vs_sites_alone"]["cost"] > 0.04
    assert data["baselines"]["sites_alone"]["cost"] - data["cost"] > 100.0
