"""The live twin's API through FastAPI's TestClient: every endpoint, real store, real solves."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from tests.helpers import (
    DEMO_HALL,
    Clock,
    api_client,
    demo_hall_due_today,
    live_twin,
    token_registry,
)
from twin.api.app import GC_YOUNG_THRESHOLD, create_app
from twin.api.whatif import merge_patch
from twin.live.live_twin import LiveTwin, live_scenario_dict

SCENARIO = DEMO_HALL
TOKENS = {
    "read": "read-token-00000000001",
    "ingest": "ingest-token-000000001",
    "approve": "approve-token-00000001",
    "admin": "admin-token-0000000001",
}


def auth(scope: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[scope]}"}


@pytest.fixture
def client(twin: LiveTwin) -> Iterator[TestClient]:
    scopes = {token: scope for scope, token in TOKENS.items()}
    with api_client(twin, scopes, max_body_bytes=2_000_000) as test_client:
        yield test_client


@pytest.fixture
def day_twin(tmp_path: Path, clock: Clock) -> Iterator[LiveTwin]:
    """The ``twin`` fixture on the demo hall with its jobs due within a day
    (:func:`tests.helpers.demo_hall_due_today`): its re-plans and what-ifs look a day ahead,
    not to the demo week's deadlines."""
    twin = live_twin(tmp_path, clock, plan_time_limit_s=30, scenario=demo_hall_due_today())
    yield twin
    twin.stop()


@pytest.fixture
def day_client(day_twin: LiveTwin) -> Iterator[TestClient]:
    """``client`` on :func:`day_twin`."""
    scopes = {token: scope for scope, token in TOKENS.items()}
    with api_client(day_twin, scopes, max_body_bytes=2_000_000) as test_client:
        yield test_client


def readings(
    twin: LiveTwin, moment: datetime, points: list[str] | None = None
) -> list[dict[str, Any]]:
    """The model's own predictions as measurements (a perfectly calibrated plant)."""
    predicted = twin.predicted(moment)
    chosen = points or list(predicted)
    return [
        {"time": moment.isoformat(), "point": p, "value": round(predicted[p], 4)} for p in chosen
    ]


def test_live_window_is_anchored_on_yesterday() -> None:
    data = yaml.safe_load(SCENARIO.read_text())
    now = datetime(2026, 11, 18, 12, 30, tzinfo=UTC)
    live = live_scenario_dict(data, now)
    assert live["simulation"]["start"] == "2026-11-17T00:00:00+00:00"
    offset = datetime(2026, 11, 17, tzinfo=UTC) - datetime(2026, 7, 6, tzinfo=UTC)
    event = live["grid"]["demand_response"][0]
    assert event["start"] == (datetime(2026, 7, 7, 22, tzinfo=UTC) + offset).isoformat()
    assert live["series"][0]["replay_from"].startswith("2026-07-06T00:00:00")


def test_health_is_open_and_everything_else_needs_a_token(client: TestClient) -> None:
    assert client.get("/api/v1/health").json()["status"] == "ok"
    assert client.get("/api/v1/state").status_code == 401
    assert client.get("/api/v1/state", headers={"Authorization": "Bearer nope"}).status_code == 401
    response = client.post("/api/v1/measurements", json={"items": []}, headers=auth("read"))
    assert response.status_code == 403
    assert "ingest" in response.json()["detail"]
    assert client.post("/api/v1/plans/x/approve", headers=auth("ingest")).status_code == 403
    assert (
        client.put("/api/v1/scenario", json={"scenario": {}}, headers=auth("approve")).status_code
        == 403
    )


def test_ingest_validates_commits_and_is_idempotent(
    client: TestClient, twin: LiveTwin, clock: Clock
) -> None:
    batch = readings(twin, clock.now - timedelta(minutes=1))
    batch.append({"time": "2026-11-18T11:59:00", "point": "battery/soc", "value": 0.5})
    batch.append({"time": "2026-11-18T11:59:00Z", "point": "rack/Q1/power", "value": 1})
    response = client.post("/api/v1/measurements", json={"items": batch}, headers=auth("ingest"))
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == body["inserted"] == len(batch) - 2
    assert [r["index"] for r in body["rejected"]] == [len(batch) - 2, len(batch) - 1]
    assert "timezone" in body["rejected"][0]["reason"]
    assert "unknown point" in body["rejected"][1]["reason"]
    # durable: a fresh Store on the same file sees every accepted reading
    again = client.post("/api/v1/measurements", json={"items": batch}, headers=auth("ingest"))
    assert again.json()["inserted"] == 0
    assert again.json()["already_stored"] == len(batch) - 2


def test_batch_and_body_limits(client: TestClient, twin: LiveTwin, clock: Clock) -> None:
    twin.settings.max_batch_items = 10
    batch = readings(twin, clock.now)[:11]
    response = client.post("/api/v1/measurements", json={"items": batch}, headers=auth("ingest"))
    assert response.status_code == 413
    big = "x" * 2_100_000
    response = client.post(
        "/api/v1/measurements",
        content=big,
        headers={**auth("ingest"), "Content-Type": "application/json"},
    )
    assert response.status_code == 413


def test_csv_upload_and_queries(client: TestClient, clock: Clock) -> None:
    lines = ["time,point,value,unit"]
    for minute in range(0, 60, 5):
        t = (clock.now - timedelta(minutes=60 - minute)).isoformat()
        lines.append(f"{t},rack/A01/inlet_temperature,{70 + minute / 10},degF")
    lines.append(f"{clock.now.isoformat()},rack/A01/inlet_temperature,999,degF")
    response = client.post(
        "/api/v1/measurements/csv",
        content="\n".join(lines),
        headers={**auth("ingest"), "Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 12
    assert "physical range" in response.json()["rejected"][0]["reason"]
    params = {
        "point": "rack/A01/inlet_temperature",
        "start": (clock.now - timedelta(hours=2)).isoformat(),
        "end": clock.now.isoformat(),
    }
    raw = client.get("/api/v1/measurements", params=params, headers=auth("read")).json()
    assert raw["unit"] == "degC"
    assert len(raw["value"]) == 12
    assert raw["value"][0] == pytest.approx((70 - 32) / 1.8)
    bucketed = client.get(
        "/api/v1/measurements", params={**params, "bucket_s": 1800}, headers=auth("read")
    ).json()
    assert sum(1 for v in bucketed["value"] if v is not None) == 2
    bad = client.post(
        "/api/v1/measurements/csv",
        content="a,b\n1,2",
        headers={**auth("ingest"), "Content-Type": "text/csv"},
    )
    assert bad.status_code == 400 and "time" in bad.json()["detail"]


def test_state_after_processing(client: TestClient, twin: LiveTwin, clock: Clock) -> None:
    moment = clock.now - timedelta(minutes=1)
    client.post(
        "/api/v1/measurements", json={"items": readings(twin, moment)}, headers=auth("ingest")
    )
    assert twin.drain() == 1
    state = client.get("/api/v1/state", headers=auth("read")).json()
    assert state["stale"] is False
    assert state["kpis"]["it_power_kw"] > 0
    assert len(state["racks"]) == twin.facility.racks.count
    rack = client.get("/api/v1/state/racks/A01", headers=auth("read")).json()
    assert rack["rack"] == "A01"
    assert client.get("/api/v1/state/racks/ZZ", headers=auth("read")).status_code == 404
    assert len(client.get("/api/v1/points", headers=auth("read")).json()) == len(twin.catalogue.ids)


def test_plans_are_proposed_then_approved_and_audited(
    day_client: TestClient, day_twin: LiveTwin, clock: Clock
) -> None:
    client, twin = day_client, day_twin
    client.post(
        "/api/v1/measurements", json={"items": readings(twin, clock.now)}, headers=auth("ingest")
    )
    twin.drain()
    proposed = client.post("/api/v1/plans", json={"reason": "test"}, headers=auth("approve"))
    assert proposed.status_code == 200, proposed.text
    plan = proposed.json()
    assert plan["status"] == "proposed"
    assert plan["payload"]["summary"]["verified"] is True
    listed = client.get("/api/v1/plans", headers=auth("read")).json()
    assert [p["id"] for p in listed] == [plan["id"]]
    before = twin.schedule
    approved = client.post(
        f"/api/v1/plans/{plan['id']}/approve",
        json={"reason": "looks right"},
        headers=auth("approve"),
    )
    assert approved.status_code == 200
    assert approved.json()["status"] == "applied"
    assert twin.schedule is not before
    again = client.post(f"/api/v1/plans/{plan['id']}/reject", headers=auth("approve"))
    assert again.status_code == 409
    assert client.post("/api/v1/plans/nope/approve", headers=auth("approve")).status_code == 404
    log = client.get("/api/v1/audit", headers=auth("read")).json()
    actions = [entry["action"] for entry in log]
    assert {"propose", "approve", "apply"} <= set(actions)
    assert all(TOKENS["approve"] not in str(entry) for entry in log)


def test_stale_state_proposes_only_the_fallback(client: TestClient, clock: Clock) -> None:
    """No telemetry at all: the re-plan is the as-operated fallback, unverified."""
    plan = client.post("/api/v1/plans", headers=auth("approve")).json()
    assert plan["payload"]["summary"]["status"] == "fallback"


def test_whatif_compares_with_the_current_scenario(day_client: TestClient) -> None:
    client = day_client
    body = {"changes": {"battery": {"energy": "12 MWh"}}, "horizon_hours": 12}
    response = client.post("/api/v1/whatif", json=body, headers=auth("read"))
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["current"]["verified"] and out["modified"]["verified"]
    assert set(out["difference"]) == {"cost", "carbon_kg", "peak_grid_kw", "cooling_energy_kwh"}
    bad = client.post(
        "/api/v1/whatif", json={"changes": {"battery": {"energy": "-1 MWh"}}}, headers=auth("read")
    )
    assert bad.status_code == 422


def test_scenario_get_and_replace(client: TestClient, twin: LiveTwin) -> None:
    current = client.get("/api/v1/scenario", headers=auth("read")).json()
    assert current["site"]["name"] == twin.base_data["site"]["name"]
    broken = merge_patch(current, {"cooling": {"units": None}})
    response = client.put("/api/v1/scenario", json={"scenario": broken}, headers=auth("admin"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"]
    changed = merge_patch(current, {"site": {"name": "renamed hall"}})
    response = client.put("/api/v1/scenario", json={"scenario": changed}, headers=auth("admin"))
    assert response.status_code == 200
    assert (
        client.get("/api/v1/scenario", headers=auth("read")).json()["site"]["name"]
        == "renamed hall"
    )


def test_calibration_and_alarms_endpoints(client: TestClient) -> None:
    calibration = client.get("/api/v1/calibration", headers=auth("read")).json()
    assert "status" in calibration and "history" in calibration
    assert client.get("/api/v1/alarms", headers=auth("read")).json() == []


def test_merge_patch() -> None:
    assert merge_patch({"a": {"b": 1, "c": 2}}, {"a": {"b": None, "d": 3}}) == {
        "a": {"c": 2, "d": 3}
    }
    assert merge_patch({"a": [1, 2]}, {"a": [3]}) == {"a": [3]}


def test_start_up_predicts_before_the_freeze_and_restores_the_collector(twin: LiveTwin) -> None:
    """Served (background threads on): the model's first prediction is made at start-up,
    before the collector freezes what start-up built, and the young-generation threshold
    raised while the app runs is restored when it stops."""
    before = gc.get_threshold()
    assert not twin._predictions
    scopes = {token: scope for scope, token in TOKENS.items()}
    with TestClient(create_app(twin, token_registry(scopes))) as served:
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:])
        steps = {key[0] for key in twin._predictions}
        assert steps == {twin.step_index(twin.clock())}
        assert served.get("/api/v1/health").status_code == 200
    assert gc.get_threshold() == before


def test_a_served_fleet_predicts_then_freezes_and_restores_the_collector(tmp_path: Path) -> None:
    """The fleet app does at start-up what a single site's does: every site's first
    prediction, then the freeze and the raised young-generation threshold, restored after."""
    from tests.fleet_live import FLEET_TOKENS, live_fleet
    from twin.api.fleet.app import create_fleet_app

    fleet = live_fleet(tmp_path)
    before = gc.get_threshold()
    try:
        assert not any(twin._predictions for twin in fleet.twins.values())
        scopes = {token: scope for scope, token in FLEET_TOKENS.items()}
        with TestClient(create_fleet_app(fleet, token_registry(scopes))) as served:
            assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:])
            assert all(twin._predictions for twin in fleet.twins.values())
            assert served.get("/api/v1/health").status_code == 200
        assert gc.get_threshold() == before
    finally:
        fleet.close()
