"""``dctwin serve fleet.yaml``: every site's routes under ``/api/v1/sites/{site}/``, the
fleet's under ``/api/v1/fleet`` (real SQLite stores, real HiGHS co-plans), and the command."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.fleet_live import fleet_api, fleet_auth, one_day_fleet, running_fleet, wait_for_job
from tests.helpers import dctwin_in_process
from tests.processes import serving
from twin.fleet.live import FleetTwin
from twin.fleet.sites import store_url

pytestmark = pytest.mark.xdist_group("fleet-serve")  # module fixtures built once


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetTwin]:
    with running_fleet(tmp_path_factory.mktemp("fleet")) as live:
        yield live


@pytest.fixture(scope="module")
def client(fleet: FleetTwin) -> Iterator[TestClient]:
    with fleet_api(fleet) as test_client:
        yield test_client


def test_store_url_needs_the_site_placeholder() -> None:
    assert store_url("sqlite:///x/{site}.db", "edge") == "sqlite:///x/edge.db"
    with pytest.raises(ValueError, match=r"\{site\}"):
        store_url("sqlite:///x/one.db", "edge")


def test_fleet_summary_has_every_site_where_it_is_and_its_power(client: TestClient) -> None:
    assert client.get("/api/v1/fleet").status_code == 401
    summary = client.get("/api/v1/fleet", headers=fleet_auth("read")).json()
    sites = {s["site"]: s for s in summary["sites"]}
    assert list(sites) == ["dallas-core", "frankfurt-core", "london-edge"]
    assert sites["frankfurt-core"]["latitude"] == pytest.approx(50.11)  # its metro, not Dallas
    assert sites["dallas-core"]["latitude"] == pytest.approx(32.78)
    for site in sites.values():
        assert site["power_kw"] > 0 and site["carbon_g_per_kwh"] > 0
        assert site["alarms"] == 0
    # an edge pod of 12 racks draws far less than a 2.5 MW hall
    assert sites["london-edge"]["power_kw"] < 0.1 * sites["dallas-core"]["power_kw"]
    assert summary["power_kw"] == pytest.approx(sum(s["power_kw"] for s in sites.values()))
    assert summary["plan"] is None or summary["plan"]["id"]
    listed = client.get("/api/v1/sites", headers=fleet_auth("read")).json()
    assert [s["routes"] for s in listed][2] == "/api/v1/sites/london-edge/"


def test_every_site_has_its_own_routes_and_store(client: TestClient, fleet: FleetTwin) -> None:
    read = fleet_auth("read")
    edge = client.get("/api/v1/sites/london-edge/state", headers=read)
    hall = client.get("/api/v1/sites/dallas-core/state", headers=read)
    assert edge.status_code == hall.status_code == 200
    assert edge.json()["kpis"]["it_power_kw"] < hall.json()["kpis"]["it_power_kw"]
    unknown = client.get("/api/v1/sites/nowhere/state", headers=read)
    assert unknown.status_code == 404 and "london-edge" in unknown.json()["detail"]
    assert client.get("/api/v1/state", headers=read).status_code == 404  # no site: no route
    assert client.get("/api/v1/sites/london-edge/state").status_code == 401
    measurements = "/api/v1/sites/london-edge/measurements"
    refused = client.post(measurements, json={"items": []}, headers=read)
    assert refused.status_code == 403
    points = client.get("/api/v1/sites/london-edge/points", headers=read).json()
    point = next(p["point"] for p in points if p["point"].endswith("/inlet_temperature"))
    moment = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)
    items = [{"time": moment.isoformat(), "point": point, "value": 23.5}]
    posted = client.post(measurements, json={"items": items}, headers=fleet_auth("ingest"))
    assert posted.status_code == 200 and posted.json()["accepted"] == 1
    assert fleet.sites["london-edge"].twin.store.count(point) == 1
    assert fleet.sites["dallas-core"].twin.store.count() == 0  # the other sites' stores: untouched
    assert fleet.store.count() == 0
    schema = client.get("/openapi.json").json()
    assert "/api/v1/sites/{site}/alarms" in schema["paths"]
    assert "/api/v1/fleet/plans/{plan_id}/approve" in schema["paths"]


def test_fleet_plan_is_proposed_in_the_background_then_approved_and_audited(
    client: TestClient, fleet: FleetTwin
) -> None:
    read, approve = fleet_auth("read"), fleet_auth("approve")
    assert client.post("/api/v1/fleet/plans", headers=read).status_code == 403
    started = time.monotonic()
    response = client.post("/api/v1/fleet/plans", json={"reason": "test"}, headers=approve)
    answered = time.monotonic() - started
    assert response.status_code == 202, response.text
    assert answered < 5.0  # the co-plan runs in the background
    assert response.json()["new"] is True and response.json()["status"] == "running"
    again = client.post("/api/v1/fleet/plans", headers=approve).json()
    assert again["id"] == response.json()["id"] and again["new"] is False  # one at a time
    job = wait_for_job(client, response.headers["Location"])
    assert job["status"] == "done", job
    plan_id = str(job["plan_id"])
    plan = client.get(f"/api/v1/fleet/plans/{plan_id}", headers=read).json()
    assert plan["status"] == "proposed"
    summary = plan["payload"]["summary"]
    assert summary["status"] in ("optimal", "time_limit") and summary["contracts_met"]
    assert set(summary["sites"]) == set(fleet.sites)
    for flow in plan["payload"]["flows"]:  # work moved away from its home site
        assert flow["from"] != flow["to"] and flow["kwh"] > 0
    assert client.post(f"/api/v1/fleet/plans/{plan_id}/approve", headers=read).status_code == 403
    approved = client.post(
        f"/api/v1/fleet/plans/{plan_id}/approve", json={"reason": "looks right"}, headers=approve
    )
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    twice = client.post(f"/api/v1/fleet/plans/{plan_id}/reject", headers=approve)
    assert twice.status_code == 409  # decided once
    assert client.post("/api/v1/fleet/plans/nope/approve", headers=approve).status_code == 404
    audit = client.get("/api/v1/fleet/audit", headers=read).json()
    assert [(e["action"], e["target"]) for e in audit[:2]] == [
        ("approve", plan_id),
        ("propose", plan_id),
    ]
    assert audit[0]["reason"] == "looks right" and audit[0]["actor"].startswith("token:")
    for name in fleet.sites:
        site_audit = client.get(f"/api/v1/sites/{name}/audit", headers=read).json()
        assert ("fleet_approve", plan_id) in [(e["action"], e["target"]) for e in site_audit]
    in_force = client.get("/api/v1/fleet", headers=read).json()["plan"]
    assert in_force["id"] == plan_id and in_force["status"] == "approved"
    listed = client.get("/api/v1/fleet/plans", headers=read).json()
    assert listed[0]["id"] == plan_id and "payload" not in listed[0]


def test_serve_fleet_refuses_a_db_without_site(tmp_path: Path) -> None:
    fleet_file = one_day_fleet(tmp_path)
    done = dctwin_in_process(
        "serve", fleet_file, "--state-dir", tmp_path, "--db", f"sqlite:///{tmp_path}/one.db"
    )
    assert done.returncode == 2
    assert "{site}" in done.stderr and "one store per site" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_fleet_runs_one_twin_per_site(tmp_path: Path) -> None:
    fleet_file = one_day_fleet(tmp_path)
    token = "fleet-serve-token-000001"
    args = (str(fleet_file), "--replan-minutes", "0")
    with serving(*args, state_dir=tmp_path, tokens=f"{token}=read", timeout=180) as (base, _):
        headers = {"Authorization": f"Bearer {token}"}
        summary = httpx.get(f"{base}/api/v1/fleet", headers=headers, timeout=60).json()
        assert [s["site"] for s in summary["sites"]] == [
            "dallas-core",
            "frankfurt-core",
            "london-edge",
        ]
        state = httpx.get(f"{base}/api/v1/sites/london-edge/state", headers=headers, timeout=60)
        assert state.status_code == 200
    for name in ("dallas-core", "frankfurt-core", "london-edge", "fleet"):
        assert (tmp_path / f"{name}.db").exists()  # one store per site, and the fleet's


def test_fleet_metrics_label_every_sample_with_its_site(client: TestClient) -> None:
    assert client.get("/metrics").status_code == 401
    response = client.get("/metrics", headers=fleet_auth("read"))
    assert response.status_code == 200
    text = response.text
    assert text.count("# TYPE dctwin_metrics_section_up gauge") == 1  # one family per name
    for site in ("dallas-core", "frankfurt-core", "london-edge"):
        assert f'dctwin_metrics_section_up{{section="kpis",site="{site}"}} 1.0' in text
    samples = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert samples and all('site="' in line for line in samples)
