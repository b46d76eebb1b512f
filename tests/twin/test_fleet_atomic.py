"""Fleet approval is atomic: every site adopts its share or none does; a site moving its live
window keeps the fleet plan; a re-plan places only the fleet work not yet done.

Real parts only: the fleet app under a test client, real SQLite stores, real HiGHS co-plans.
The failures come through real inputs: another connection holding one site's database write
lock longer than its store waits (the adoption at that site fails after the sites before it
had adopted: they are rolled back), and a site's scenario replaced over the API after the
plan was made (the share no longer fits: refused before anything is written).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from tests.fleet_live import fleet_api, fleet_auth, running_fleet
from tests.helpers import Clock
from tests.twin.test_fleet_adopt import replan
from twin.fleet.anchor import window_start
from twin.fleet.live import FleetTwin
from twin.fleet.replan import store_meter
from twin.live.control.reanchor import reanchor
from twin.scenario.points import Reading

pytestmark = pytest.mark.xdist_group("fleet-atomic")  # module fixtures built once

ADMIN = "fleet-admin-token-000001"
FIELDS = ("supply_temperature", "chilled_water_temperature", "battery_power", "workload_power")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("atomic")


@pytest.fixture(scope="module")
def clock() -> Clock:
    """10:03 UTC of the last day that has reached it.  The live window starts at 00:00 UTC the
    day before and replays the demo week from its first day, so prices, and the hours and sites
    where the co-plan puts the fleet's jobs, depend on the time of day only: pinned, every run
    plans the same fleet (at 13:00-14:00 the fine-tuning ran at Frankfurt alone)."""
    now = datetime.now(UTC)
    pinned = now.replace(hour=10, minute=3, second=0, microsecond=0)
    return Clock(pinned if pinned <= now else pinned - timedelta(days=1))


@pytest.fixture(scope="module")
def fleet(folder: Path, clock: Clock) -> Iterator[FleetTwin]:
    with running_fleet(folder, clock) as live:
        yield live


@pytest.fixture(scope="module")
def client(fleet: FleetTwin) -> Iterator[TestClient]:
    with fleet_api(fleet, {ADMIN: "read,admin"}) as c:
        yield c


def hold_write_lock(path: Path, ready: threading.Event, release: threading.Event) -> None:
    """Another connection takes the SQLite write lock of ``path`` and keeps it until
    ``release`` is set (at most 2 min)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    ready.set()
    release.wait(120)
    db.execute("ROLLBACK")
    db.close()


def site_state(fleet: FleetTwin) -> dict[str, dict[str, Any]]:
    """Every site's schedule in force, the virtual plant's, baseline, fleet profiles, watch
    and plans, copied."""
    state = {}
    for name, twin in fleet.twins.items():
        profiles = [str(v) for v in twin.series.data_vars if str(v).startswith("fleet_")]
        state[name] = {
            "schedule": {f: np.array(getattr(twin.schedule, f), copy=True) for f in FIELDS},
            "baseline": np.array(twin.baseline.workload_power, copy=True),
            "profiles": {p: np.array(twin.series[p].values, copy=True) for p in profiles},
            "watch": twin.supervisor.watch,
            "plans": {p["id"]: p["status"] for p in twin.store.list_plans(limit=500)},
        }
    return state


def fleet_audit(client: TestClient) -> list[dict[str, Any]]:
    return list(client.get("/api/v1/fleet/audit", headers=fleet_auth("read")).json())


def test_a_site_that_cannot_adopt_rolls_back_every_site(
    client: TestClient, fleet: FleetTwin, folder: Path
) -> None:
    approve = fleet_auth("approve")
    plan = replan(client)
    before = site_state(fleet)
    names = list(fleet.twins)
    assert names[-1] == "london-edge"  # the sites adopt in file order: London last
    ready, release = threading.Event(), threading.Event()
    london = folder / "london-edge.db"
    holder = threading.Thread(target=hold_write_lock, args=(london, ready, release))
    holder.start()
    try:  # held until the approval has answered, however long the first two sites take
        assert ready.wait(10)
        failed = client.post(f"/api/v1/fleet/plans/{plan['id']}/approve", headers=approve)
    finally:
        release.set()
        holder.join()
    assert failed.status_code == 503, failed.text
    assert failed.headers["Retry-After"] == "1"
    detail = failed.json()["detail"]
    assert "london-edge" in detail and "dallas-core, frankfurt-core rolled back" in detail
    after = site_state(fleet)
    for name in names:  # every site runs what it ran before, the plant included
        for f in FIELDS:
            assert np.array_equal(after[name]["schedule"][f], before[name]["schedule"][f])
        assert fleet.twins[name].plant is None or (
            fleet.twins[name].plant.schedule is fleet.twins[name].schedule  # type: ignore[union-attr]
        )
        assert np.array_equal(after[name]["baseline"], before[name]["baseline"])
        for profile, values in before[name]["profiles"].items():
            assert np.array_equal(after[name]["profiles"][profile], values)
        assert after[name]["watch"] is before[name]["watch"]
        assert fleet.twins[name].applied_plans == []
    # the two sites that had adopted: their site plan reverted, the rollback audited there
    rolled: dict[str, str] = {}
    for name in ("dallas-core", "frankfurt-core"):
        new = {p: s for p, s in after[name]["plans"].items() if p not in before[name]["plans"]}
        assert list(new.values()) == ["reverted"]
        rolled[name] = next(iter(new))
        site_audit = fleet.twins[name].store.audit_log()
        actions = [(e["action"], e["target"]) for e in site_audit]
        assert ("apply", rolled[name]) in actions and ("rollback", rolled[name]) in actions
        assert actions.index(("rollback", rolled[name])) < actions.index(("apply", rolled[name]))
        assert ("fleet_approve", plan["id"]) not in actions
    assert after["london-edge"]["plans"] == before["london-edge"]["plans"]  # nothing written
    # the fleet plan is still proposed, and the failure is in the fleet's audit log
    stored = client.get(f"/api/v1/fleet/plans/{plan['id']}", headers=fleet_auth("read")).json()
    assert stored["status"] == "proposed"
    entry = fleet_audit(client)[0]
    assert entry["action"] == "approve_failed" and entry["target"] == plan["id"]
    assert entry["detail"]["site"] == "london-edge"
    assert entry["detail"]["rolled_back"] == rolled
    assert "StoreBusy" in entry["detail"]["error"]
    # once the lock is gone, the same plan is approved and every site adopts it
    again = client.post(f"/api/v1/fleet/plans/{plan['id']}/approve", headers=approve)
    assert again.status_code == 200, again.text
    for twin in fleet.twins.values():
        applied = twin.store.list_plans(status="applied")
        assert len(applied) == 1 and applied[0]["payload"]["fleet_plan"] == plan["id"]
        assert twin.applied_plans == [applied[0]["id"]]
    assert fleet_audit(client)[0]["action"] == "approve"


def test_a_share_that_no_longer_fits_its_site_refuses_the_whole_approval(
    client: TestClient, fleet: FleetTwin
) -> None:
    plan = replan(client)
    # an operator changes Dallas's scenario (its demand charge) after the plan was made
    scenario = client.get("/api/v1/sites/dallas-core/scenario", headers=fleet_auth("read"))
    data = scenario.json()
    data["grid"]["demand_charge"] = 20
    put = client.put(
        "/api/v1/sites/dallas-core/scenario",
        json={"scenario": data},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert put.status_code == 200, put.text
    # what an approver reads first names the site whose share no longer fits
    misfit = "dallas-core: its scenario was replaced after the fleet plan was made"
    shown = client.get(f"/api/v1/fleet/plans/{plan['id']}", headers=fleet_auth("read")).json()
    assert shown["misfits"] == [misfit]
    proposal = fleet.proposal()
    assert proposal is not None and proposal["id"] == plan["id"]
    assert proposal["misfits"] == [misfit]
    before = site_state(fleet)
    refused = client.post(
        f"/api/v1/fleet/plans/{plan['id']}/approve", headers=fleet_auth("approve")
    )
    assert refused.status_code == 409, refused.text
    detail = refused.json()["detail"]
    assert "dallas-core: its scenario was replaced" in detail and "nothing was adopted" in detail
    after = site_state(fleet)
    for name in fleet.twins:  # nothing written at any site, nothing changed
        assert after[name]["plans"] == before[name]["plans"]
        for f in FIELDS:
            assert np.array_equal(after[name]["schedule"][f], before[name]["schedule"][f])
    stored = client.get(f"/api/v1/fleet/plans/{plan['id']}", headers=fleet_auth("read")).json()
    assert stored["status"] == "proposed"
    entry = fleet_audit(client)[0]
    assert entry["action"] == "approve_refused" and "dallas-core" in entry["reason"]
    # a re-plan on the new scenario is approved
    fresh = replan(client)
    again = client.get(f"/api/v1/fleet/plans/{fresh['id']}", headers=fleet_auth("read")).json()
    assert again["misfits"] == []
    ok = client.post(f"/api/v1/fleet/plans/{fresh['id']}/approve", headers=fleet_auth("approve"))
    assert ok.status_code == 200, ok.text


def test_a_site_moving_its_live_window_keeps_the_fleet_plan(
    client: TestClient, fleet: FleetTwin
) -> None:
    plan = replan(client)
    ok = client.post(f"/api/v1/fleet/plans/{plan['id']}/approve", headers=fleet_auth("approve"))
    assert ok.status_code == 200, ok.text
    job = "fleet:finetune-batch"

    def share(name: str) -> float:  # [kW summed over steps] of the job adopted at a site
        twin = fleet.twins[name]
        return float(twin.schedule.workload_power[:, twin.facility.workloads.ids.index(job)].sum())

    twin = fleet.twins[max(("dallas-core", "frankfurt-core"), key=share)]
    site_plan = twin.applied_plans[-1]
    j = twin.facility.workloads.ids.index(job)
    work = np.array(twin.schedule.workload_power[:, j], copy=True)
    baseline = np.array(twin.baseline.workload_power[:, j], copy=True)
    assert work.sum() > 0 and np.allclose(baseline, work)  # the fleet's work, adopted
    report = reanchor(twin)  # the move a site makes when its window runs short
    # every plan applied on this window is merged again, oldest first: this one last
    assert report[-1] == {"plan": site_plan, "kept": 96, "before_window": 0}
    assert twin.applied_plans == [entry["plan"] for entry in report]
    assert np.array_equal(twin.schedule.workload_power[:, j], work)  # still in force
    assert np.allclose(twin.baseline.workload_power[:, j], work)  # and kept by its own re-plans
    entry = twin.store.audit_log()[0]
    assert entry["action"] == "reanchor" and entry["detail"]["plans"] == report


def approved_then_run(client: TestClient, clock: Clock, hours: float) -> dict[str, Any]:
    """A fleet plan proposed and approved, then ``hours`` [h] of it run (the clock moved)."""
    plan = replan(client)
    ok = client.post(f"/api/v1/fleet/plans/{plan['id']}/approve", headers=fleet_auth("approve"))
    assert ok.status_code == 200, ok.text
    clock.now += timedelta(hours=hours)
    return plan


def test_a_re_plan_places_only_the_work_not_yet_done(
    client: TestClient, fleet: FleetTwin, clock: Clock
) -> None:
    plan = approved_then_run(client, clock, hours=6)
    new = replan(client)
    start = window_start(clock.now, timedelta(minutes=15))
    assert new["payload"]["window"]["start"] == start.isoformat()
    shares = plan["payload"]["site_schedules"]

    def energy(schedules: dict[str, Any], job: str, before: datetime | None = None) -> float:
        total = 0.0
        for share in schedules.values():
            power = np.asarray(share["workload_power_kw"].get(f"fleet:{job}", []), dtype=float)
            times = pd.DatetimeIndex(pd.to_datetime(share["time"], utc=True))[: power.size]
            keep = np.ones(power.size, bool) if before is None else np.asarray(times < before)
            total += float(power[keep].sum()) * 0.25
        return total

    carried = new["payload"]["carried_jobs"]
    done_total = 0.0
    for job, required in (("finetune-batch", 4000.0), ("video-analytics-batch", 150.0)):
        done = energy(shares, job, pd.Timestamp(start))
        done_total += done
        assert carried[job]["delivered_kwh"] == pytest.approx(done, abs=1e-2)
        assert carried[job]["deadline"] == plan["payload"]["jobs"][job]["deadline"]
        # the new plan places what is left, by the approved plan's deadline, not 20 h on
        assert energy(new["payload"]["site_schedules"], job) == pytest.approx(
            required - done, rel=1e-3, abs=1e-2
        )
        deadline = pd.Timestamp(plan["payload"]["jobs"][job]["deadline"])
        for share in new["payload"]["site_schedules"].values():
            power = np.asarray(share["workload_power_kw"].get(f"fleet:{job}", [0.0]))
            times = pd.DatetimeIndex(pd.to_datetime(share["time"], utc=True))[: power.size]
            assert np.all(power[np.asarray(times >= deadline)] <= 1e-6)
    assert done_total > 0  # the six hours did some of the work


def test_work_done_is_taken_from_the_sites_meters_where_they_reported_it(
    client: TestClient, fleet: FleetTwin, clock: Clock
) -> None:
    plan = approved_then_run(client, clock, hours=3)
    start = window_start(clock.now, timedelta(minutes=15))
    job = "finetune-batch"
    shares = plan["payload"]["site_schedules"]
    # the site running most of the job before ``start`` reports it ran at half the plan
    ran: dict[str, tuple[pd.DatetimeIndex, np.ndarray]] = {}
    for site, share in shares.items():
        power = np.asarray(share["workload_power_kw"].get(f"fleet:{job}", []), dtype=float)
        times = pd.DatetimeIndex(pd.to_datetime(share["time"], utc=True))[: power.size]
        before = np.asarray(times < pd.Timestamp(start))
        ran[site] = (times[before], power[before])
    site = max(ran, key=lambda s: float(ran[s][1].sum()))
    times, planned = ran[site]
    assert planned.sum() > 0
    items = [  # two readings a step, averaging half the planned power
        {
            "time": (t + timedelta(minutes=m)).isoformat(),
            "point": f"job/fleet:{job}/power",
            "value": float(kw) * (0.4 if m == 2 else 0.6),
        }
        for t, kw in zip(times, planned, strict=True)
        for m in (2, 9)
    ]
    result = fleet.twins[site].ingest(items)
    assert result.accepted == len(items), result
    new = replan(client)
    carried = new["payload"]["carried_jobs"][job]
    others = sum(float(p.sum()) for s, (_, p) in ran.items() if s != site) * 0.25
    assert carried["delivered_kwh"] == pytest.approx(others + planned.sum() * 0.25 / 2, abs=1e-2)
    assert carried["metered_steps"] == len(times)
    assert carried["planned_steps"] == sum(len(t) for t, _ in ran.values()) - len(times)
    required = plan["payload"]["jobs"][job]["energy_kwh"]  # what the plan in force placed
    assert carried["required_kwh"] == pytest.approx(required, abs=1e-3)
    assert carried["remaining_kwh"] == pytest.approx(required - carried["delivered_kwh"], abs=2e-3)
    # and the new plan places what the meters say is left
    placed = sum(
        float(np.sum(share["workload_power_kw"].get(f"fleet:{job}", [0.0]))) * 0.25
        for share in new["payload"]["site_schedules"].values()
    )
    assert placed == pytest.approx(carried["remaining_kwh"], rel=1e-3, abs=1e-2)

    # a meter reading more than the job can draw there counts as the most it can draw
    twin = fleet.twins[site]
    j = twin.facility.workloads.ids.index(f"fleet:{job}")
    ceiling = twin.facility.workloads.capacity[j] / 1e3  # its racks' dynamic power [kW]
    # (a late reading the API would refuse; one a connector's back-fill could have stored)
    late = Reading(f"job/fleet:{job}/power", (times[0] + timedelta(minutes=5)).to_pydatetime(), 4e5)
    twin.store.insert([late])
    metered = store_meter(fleet.twins, timedelta(minutes=15))(site, job, times)
    assert metered[0] == pytest.approx(min(ceiling, twin.facility.workloads.max_power[j] / 1e3))
    assert np.allclose(metered[1:], planned[1:] / 2, rtol=1e-9, atol=1e-9)
    assert np.isnan(
        store_meter(fleet.twins, timedelta(minutes=15))(site, "no-such-job", times)
    ).all()


def test_a_site_scenario_must_keep_the_fleets_step_and_work(client: TestClient) -> None:
    """A fleet site's replacement scenario keeps the fleet's step and the fleet's workloads
    (a hostile pass, 7 Dec: a 5-minute step made every fleet re-plan fail; a scenario without
    the fleet's workloads left every fleet plan unapprovable, with "re-plan" as the advice).
    Refused with one line each, the scenario in force kept."""
    admin = {"Authorization": f"Bearer {ADMIN}"}
    path = "/api/v1/sites/london-edge/scenario"
    data = client.get(path, headers=fleet_auth("read")).json()
    fleet_work = [w["id"] for w in data["workloads"] if w["id"].startswith("fleet:")]
    assert fleet_work
    faster = {**data, "simulation": {**data["simulation"], "step": "5 min"}}
    without = {**data, "workloads": [w for w in data["workloads"] if w["id"] not in fleet_work]}
    for changed, problem in (
        (faster, "a fleet site runs at the fleet's step, 0:15:00"),
        (without, f"workloads: {', '.join(sorted(fleet_work))} missing"),
    ):
        put = client.put(path, json={"scenario": changed}, headers=admin)
        assert put.status_code == 422, put.text
        assert problem in put.text
    assert client.get(path, headers=fleet_auth("read")).json() == data
