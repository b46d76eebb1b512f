"""Approving a fleet plan makes every site adopt its share, on a window anchored at "now":
real HTTP (the fleet app under a test client), real SQLite stores, real HiGHS co-plans."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from tests.fleet_live import fleet_api, fleet_auth, running_fleet, wait_for_job
from tests.helpers import Clock
from twin.fleet.anchor import window_start
from twin.fleet.live import FleetTwin

START = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=7)
"""A time between two 15 min steps, a little before the tests run."""


pytestmark = pytest.mark.xdist_group("fleet-adopt")  # module fixtures built once


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock(START)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, clock: Clock) -> Iterator[FleetTwin]:
    with running_fleet(tmp_path_factory.mktemp("adopt"), clock) as live:
        yield live


@pytest.fixture(scope="module")
def client(fleet: FleetTwin) -> Iterator[TestClient]:
    with fleet_api(fleet) as c:
        yield c


def replan(client: TestClient) -> dict[str, Any]:
    """Propose a fleet re-plan over HTTP and wait for it; the stored plan."""
    response = client.post(
        "/api/v1/fleet/plans", json={"reason": "t"}, headers=fleet_auth("approve")
    )
    assert response.status_code == 202, response.text
    job = wait_for_job(client, response.headers["Location"])
    assert job["status"] == "done", job
    plan = client.get(f"/api/v1/fleet/plans/{job['plan_id']}", headers=fleet_auth("read"))
    return dict(plan.json())


def test_a_live_re_plan_covers_the_window_from_now(client: TestClient, clock: Clock) -> None:
    plan = replan(client)
    start = window_start(clock.now, timedelta(minutes=15))
    assert start <= clock.now < start + timedelta(minutes=15)
    assert plan["payload"]["window"]["start"] == start.isoformat()  # not the file's 2026-07-06
    assert plan["payload"]["window"]["end"] == (start + timedelta(days=1)).isoformat()
    dallas = plan["payload"]["site_schedules"]["dallas-core"]
    times = pd.DatetimeIndex(pd.to_datetime(dallas["time"], utc=True))
    assert times[0] == start and len(times) == 96
    # the fine-tuning (4 MWh, released 2 h after the window's start, due 20 h after it) runs
    # inside that span, counted from now
    sites = plan["payload"]["site_schedules"]
    power = sum(
        np.asarray(s["workload_power_kw"].get("fleet:finetune-batch", np.zeros(96)))
        for s in sites.values()
    )
    assert power[:8].max() == pytest.approx(0.0, abs=1e-6)  # before the release
    assert power[80:].max() == pytest.approx(0.0, abs=1e-6)  # after the deadline
    assert power.sum() * 0.25 == pytest.approx(4000.0, rel=1e-3)


def test_approving_makes_every_site_adopt_its_share(
    client: TestClient, fleet: FleetTwin, clock: Clock
) -> None:
    read, approve = fleet_auth("read"), fleet_auth("approve")
    plan = replan(client)
    plan_id = plan["id"]
    refused = client.post(f"/api/v1/fleet/plans/{plan_id}/approve", headers=read)
    assert refused.status_code == 403  # the approve scope is needed
    assert fleet.sites["dallas-core"].twin.store.list_plans(status="applied") == []
    approved = client.post(
        f"/api/v1/fleet/plans/{plan_id}/approve", json={"reason": "move it"}, headers=approve
    )
    assert approved.status_code == 200, approved.text
    decision = client.get("/api/v1/fleet/audit", headers=read).json()[0]
    assert decision["action"] == "approve" and decision["actor"].startswith("token:")
    site_plans = {}
    for name, site in fleet.sites.items():
        applied = client.get(f"/api/v1/sites/{name}/plans?status=applied", headers=read).json()
        assert len(applied) == 1
        site_plans[name] = applied[0]["id"]
        record = client.get(f"/api/v1/sites/{name}/plans/{site_plans[name]}", headers=read).json()
        payload = record["payload"]
        assert payload["fleet_plan"] == plan_id and payload["reason"] == f"fleet plan {plan_id}"
        share = plan["payload"]["site_schedules"][name]
        adopted = payload["schedule"]
        assert adopted["time"] == share["time"]  # the same steps of the live window
        for job, kwh in share["workload_power_kw"].items():
            assert adopted["workload_power_kw"][job] == pytest.approx(kwh, abs=1e-3)
        assert adopted["battery_power_kw"] == pytest.approx(share["battery_power_kw"], abs=1e-3)
        # the twin runs it: its schedule over those steps is the site's share
        twin = site.twin
        first = twin.step_index(datetime.fromisoformat(share["time"][0]))
        j = twin.facility.workloads.ids.index("fleet:serve")
        served = twin.schedule.workload_power[first : first + len(share["time"]), j] / 1e3
        assert served == pytest.approx(share["workload_power_kw"]["fleet:serve"], abs=1e-3)
        audit = client.get(f"/api/v1/sites/{name}/audit", headers=read).json()
        actions = [(e["action"], e["target"]) for e in audit]
        for action in ("propose", "approve", "apply"):
            assert (action, site_plans[name]) in actions
        principal = {
            e["actor"]
            for e in audit
            if e["target"] == site_plans[name] and e["action"] in ("propose", "approve", "apply")
        }
        assert principal == {decision["actor"]}  # named after who approved the fleet plan
        proposed = next(
            e for e in audit if e["target"] == site_plans[name] and e["action"] == "propose"
        )
        assert proposed["reason"] == f"fleet plan {plan_id}"  # its own, not "move it"
        assert ("watch_start", site_plans[name]) in actions  # the site's watch applies
        assert (
            twin.supervisor.watch is not None and twin.supervisor.watch.plan_id == site_plans[name]
        )
    # the fleet's work stays in the site's own profile, so its own re-plans keep it
    dallas = fleet.sites["dallas-core"].twin
    j = dallas.facility.workloads.ids.index("fleet:finetune-batch")
    share = plan["payload"]["site_schedules"]["dallas-core"]["workload_power_kw"]
    expected = float(np.sum(share["fleet:finetune-batch"])) * 0.25
    assert float(dallas.baseline.workload_power[:, j].sum()) * 0.25 / 1e3 == pytest.approx(
        expected, rel=1e-3
    )


def test_a_superseded_or_stale_plan_is_refused(client: TestClient, clock: Clock) -> None:
    approve = fleet_auth("approve")
    first = replan(client)
    second = replan(client)
    older = client.post(f"/api/v1/fleet/plans/{first['id']}/approve", headers=approve)
    assert older.status_code == 409  # superseded by the newer proposal
    record = client.get(f"/api/v1/fleet/plans/{first['id']}", headers=fleet_auth("read")).json()
    assert record["decided_by"] == "system"  # nobody decided on it (tryout3 finding 8)
    assert record["reason"].startswith(f"superseded by {second['id']} (proposed by token:")
    clock.now = clock.now + timedelta(hours=2)
    stale = client.post(f"/api/v1/fleet/plans/{second['id']}/approve", headers=approve)
    assert stale.status_code == 409 and "stale" in stale.json()["detail"]
    state = client.get(f"/api/v1/fleet/plans/{second['id']}", headers=fleet_auth("read")).json()
    assert state["status"] == "proposed"  # refused: nothing decided, nothing adopted


def test_a_site_proposal_made_before_the_fleet_approval_is_superseded(
    client: TestClient, fleet: FleetTwin
) -> None:
    """A site's own proposal is computed without the fleet's work: once the site adopts its
    share of a fleet plan, approving that proposal would drop the work (a hostile pass, 7 Dec:
    25,000 kWh of a fleet job gone at Dallas).  The adoption supersedes it; approving it is
    refused."""
    approve = fleet_auth("approve")
    own = client.post("/api/v1/sites/dallas-core/plans", headers=approve)
    assert own.status_code in (200, 201), own.text
    own_id = own.json()["id"]
    plan = replan(client)
    adopted = client.post(
        f"/api/v1/fleet/plans/{plan['id']}/approve", json={"reason": "adopt"}, headers=approve
    )
    assert adopted.status_code == 200, adopted.text
    record = client.get(f"/api/v1/sites/dallas-core/plans/{own_id}", headers=approve).json()
    assert record["status"] == "superseded"
    assert f"fleet plan {plan['id']} adopted" in record["reason"]
    late = client.post(
        f"/api/v1/sites/dallas-core/plans/{own_id}/approve", json={"reason": "x"}, headers=approve
    )
    assert late.status_code == 409, late.text


def test_an_override_for_an_unknown_site_is_refused(client: TestClient) -> None:
    """``override_alarm_ids`` naming no site of the fleet overrides nothing: 422 naming the
    sites, not silently ignored (hostile pass, 7 Dec), and nothing decided."""
    plan = replan(client)
    answer = client.post(
        f"/api/v1/fleet/plans/{plan['id']}/approve",
        json={"reason": "x", "force": True, "override_alarm_ids": {"nosite": [6]}},
        headers=fleet_auth("approve"),
    )
    assert answer.status_code == 422, answer.text
    assert "no site 'nosite'; sites: dallas-core" in answer.json()["detail"]
    state = client.get(f"/api/v1/fleet/plans/{plan['id']}", headers=fleet_auth("read")).json()
    assert state["status"] == "proposed"
