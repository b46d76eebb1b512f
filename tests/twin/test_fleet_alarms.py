"""A fleet approval and a site's critical alarm on a rack its share moves: the fleet preview,
the plan and the fleet summary list it (site, alarm, rack), approval is refused by default
(409, nothing adopted at any site), ``force`` without a reason is refused too, and ``force``
with a reason overrides it, audited at the site and in the fleet's log.

Real parts: the one-day example fleet live in process (three live twins, SQLite stores), a
real HiGHS co-plan, the fleet's FastAPI app through TestClient, and the alarm raised by the
site's own limit monitor from ingested readings.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.fleet_live import fleet_api, fleet_auth, running_fleet, wait_for_job
from tests.helpers import Clock
from twin.fleet.live import FleetTwin
from twin.live.control.approval import alarm_rack
from twin.live.control.watch import moved_points
from twin.live.live_twin import LiveTwin

START = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=7)
"""A time between two 15 min steps, a little before the tests run."""

SITE = "dallas-core"
"""The site whose rack is alarmed."""

pytestmark = pytest.mark.xdist_group("fleet-alarms")  # module fixtures built once


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock(START)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, clock: Clock) -> Iterator[FleetTwin]:
    with running_fleet(tmp_path_factory.mktemp("fleet-alarms"), clock) as live:
        yield live


@pytest.fixture(scope="module")
def client(fleet: FleetTwin) -> Iterator[TestClient]:
    with fleet_api(fleet) as c:
        yield c


def replan(client: TestClient) -> str:
    """Propose a fleet re-plan over HTTP and wait for it; the plan's id."""
    response = client.post(
        "/api/v1/fleet/plans", json={"reason": "t"}, headers=fleet_auth("approve")
    )
    assert response.status_code == 202, response.text
    job = wait_for_job(client, response.headers["Location"])
    assert job["status"] == "done", job
    return str(job["plan_id"])


def _hot(twin: LiveTwin, clock: Clock, point: str, level: float, ticks: int) -> None:
    """``ticks`` readings of ``point`` 30 s apart at about ``level`` °C, each processed."""
    for k in range(ticks):
        clock.now += timedelta(seconds=30)
        value = level + 0.05 * (k % 3)
        result = twin.ingest([{"time": clock.now.isoformat(), "point": point, "value": value}])
        assert not result.rejected, result.rejected
        twin.drain()


def _site_plans(fleet: FleetTwin, plan_id: str) -> dict[str, list[str]]:
    """Every site's stored plans made from fleet plan ``plan_id``."""
    return {
        name: [
            p["id"]
            for p in twin.store.list_plans(limit=100)
            if (twin.store.get_plan(p["id"]) or {}).get("payload", {}).get("fleet_plan") == plan_id
        ]
        for name, twin in fleet.twins.items()
    }


def test_a_critical_alarm_on_a_moved_rack_refuses_the_fleet_approval_until_overridden(
    client: TestClient, fleet: FleetTwin, clock: Clock
) -> None:
    read, approve = fleet_auth("read"), fleet_auth("approve")
    plan_id = replan(client)
    preview = client.get(f"/api/v1/fleet/plans/{plan_id}/preview", headers=read)
    assert preview.status_code == 200, preview.text
    assert preview.json()["critical_alarms"] == [] and set(preview.json()["sites"]) == set(
        fleet.sites
    )
    twin = fleet.twins[SITE]
    points = moved_points(preview.json()["sites"][SITE], twin.facility, twin.catalogue)
    rack = next(p.split("/")[1] for p in points if p.startswith("rack/"))
    point = f"rack/{rack}/inlet_temperature"
    _hot(twin, clock, point, 30.5, 4)
    (alarm,) = [
        a
        for a in twin.store.alarms(active_only=True)
        if a["point"] == point and a["severity"] == "critical"
    ]
    where = f"#{alarm['id']} {alarm['kind']} on rack {rack}"
    # the estimator pulls the measured rack's neighbours up too: a neighbour the share moves
    # may be alarmed as well (estimated), and is listed likewise
    racks = {p.split("/")[1] for p in points if p.startswith("rack/")}
    expected = sorted(
        a["id"]
        for a in twin.store.alarms(active_only=True)
        if a["severity"] == "critical" and alarm_rack(a["point"]) in racks
    )
    assert alarm["id"] in expected

    # listed before approving: the fleet preview, the plan and the fleet now
    shown = client.get(f"/api/v1/fleet/plans/{plan_id}/preview", headers=read).json()
    assert {a["site"] for a in shown["critical_alarms"]} == {SITE}
    assert sorted(a["id"] for a in shown["critical_alarms"]) == expected
    assert rack in {a["rack"] for a in shown["critical_alarms"]}
    assert (
        shown["changes"][0].startswith(f"{SITE}: Active critical alarm")
        and where in (shown["changes"][0])
    )
    assert where in shown["sites"][SITE]["changes"][0]  # the site's own preview says it first
    assert all(shown["sites"][s]["critical_alarms"] == [] for s in fleet.sites if s != SITE)
    record = client.get(f"/api/v1/fleet/plans/{plan_id}", headers=read).json()
    assert sorted(a["id"] for a in record["critical_alarms"]) == expected
    assert {a["site"] for a in record["critical_alarms"]} == {SITE}
    proposal = client.get("/api/v1/fleet", headers=read).json()["proposal"]
    assert proposal["id"] == plan_id
    assert sorted(a["id"] for a in proposal["critical_alarms"]) == expected

    schedules = {name: t.schedule for name, t in fleet.twins.items()}
    url = f"/api/v1/fleet/plans/{plan_id}/approve"
    refused = client.post(url, json={"reason": "night shift"}, headers=approve)
    assert refused.status_code == 409, refused.text
    detail = refused.json()["detail"]
    assert f"site {SITE}" in detail and where in detail and "force" in detail
    no_reason = client.post(url, json={"force": True}, headers=approve)
    assert no_reason.status_code == 409 and "needs a reason" in no_reason.json()["detail"]
    blank = client.post(url, json={"force": True, "reason": "  "}, headers=approve)
    assert blank.status_code == 409, blank.text
    # refused: nothing adopted anywhere, the plan still proposed, the refusals audited
    assert _site_plans(fleet, plan_id) == {name: [] for name in fleet.sites}
    for name, site_twin in fleet.twins.items():
        assert site_twin.schedule is schedules[name] and site_twin.applied_plans == []
    assert fleet.store.get_plan(plan_id)["status"] == "proposed"  # type: ignore[index]
    refusals = fleet.store.audit_log(limit=10, actions=["approve_refused"])
    assert len(refusals) == 3
    assert sorted(a["id"] for a in refusals[0]["detail"]["critical_alarms"][SITE]) == expected

    # shelved: still listed, said to be shelved
    until = clock.now + timedelta(hours=1)
    for alarm_id in expected:
        twin.store.shelve_alarm(alarm_id, "operator", until)
    shelved = client.get(f"/api/v1/fleet/plans/{plan_id}/preview", headers=read).json()
    assert all(a["shelved"] for a in shelved["critical_alarms"])
    assert "all shelved" in shelved["changes"][0]
    for alarm_id in expected:
        twin.store.shelve_alarm(alarm_id, "operator", None)

    why = "rack fan replaced, the sensor lags; checked on site"
    # force overrides only the alarms the approver was shown: none shown at the site, 409
    unseen = {"force": True, "reason": why, "override_alarm_ids": {SITE: []}}
    refused = client.post(url, json=unseen, headers=approve)
    assert refused.status_code == 409 and "raised since" in refused.json()["detail"]
    assert all(f"#{a}" in refused.json()["detail"] for a in expected)
    assert _site_plans(fleet, plan_id) == {name: [] for name in fleet.sites}
    seen = {"force": True, "reason": why, "override_alarm_ids": {SITE: expected}}
    answer = client.post(url, json=seen, headers=approve)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "approved"
    assert {a["site"] for a in body["critical_alarms"]} == {SITE}
    assert sorted(a["id"] for a in body["critical_alarms"]) == expected
    fleet_entry = fleet.store.audit_log(limit=5, actions=["approve"])[0]
    overridden = fleet_entry["detail"]["critical_alarms_overridden"]
    assert list(overridden) == [SITE] and sorted(a["id"] for a in overridden[SITE]) == expected
    for name, site_twin in fleet.twins.items():
        (site_plan,) = _site_plans(fleet, plan_id)[name]
        entry = next(
            e
            for e in site_twin.store.audit_log(limit=50, actions=["approve"])
            if e["target"] == site_plan
        )
        listed = entry["detail"].get("critical_alarms_overridden", [])
        assert sorted(a["id"] for a in listed) == (expected if name == SITE else [])
        assert entry["reason"] == why


def test_a_fleet_approval_takes_force_and_reason_in_the_openapi(client: TestClient) -> None:
    schema: dict[str, Any] = client.get("/openapi.json").json()
    route = schema["paths"]["/api/v1/fleet/plans/{plan_id}/approve"]["post"]
    assert "409" in route["responses"]
    body = route["requestBody"]["content"]["application/json"]["schema"]
    refs = [body.get("$ref")] + [s.get("$ref") for s in body.get("anyOf", [])]
    name = next(r for r in refs if r).rsplit("/", 1)[1]
    fields = schema["components"]["schemas"][name]["properties"]
    assert set(fields) == {"reason", "force", "override_alarm_ids"}
    assert fields["force"]["type"] == "boolean" and fields["force"]["default"] is False
    assert "critical alarm" in fields["force"]["description"]
    preview = schema["paths"]["/api/v1/fleet/plans/{plan_id}/preview"]["get"]
    assert "404" in preview["responses"]
    answer = route["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    out = schema["components"]["schemas"][answer.rsplit("/", 1)[1]]["properties"]
    assert "site" in out["critical_alarms"]["description"]
