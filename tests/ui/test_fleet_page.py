"""The Fleet page over HTTP (the fleet's API app with the UI mounted: real SQLite stores per
site, real HiGHS co-plans): the map of sites with its offline world outline, per-site KPIs, the
drill-down into a site's pages, and the fleet re-plan / approval from the page."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.fleet_live import running_fleet
from tests.ui.conftest import READER, find_component, fleet_ui, tokens
from twin.fleet.live import FleetTwin
from ui import views_fleet
from ui.app import mount

pytestmark = pytest.mark.xdist_group("fleet-page")  # module fixtures built once


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetTwin]:
    with running_fleet(tmp_path_factory.mktemp("fleet-ui")) as live:
        yield live


@pytest.fixture(scope="module")
def client(fleet: FleetTwin) -> Iterator[TestClient]:
    with fleet_ui(fleet, READER) as test_client:
        yield test_client


def _layout(client: TestClient, path: str) -> Any:
    response = client.get("/_dash-layout", headers={"Referer": f"http://127.0.0.1{path}"})
    assert response.status_code == 200, response.text
    return response.json()


def test_the_world_outline_is_served_by_the_ui_itself(client: TestClient) -> None:
    response = client.get("/assets/topojson/world_110m.json")
    assert response.status_code == 200
    outline = json.loads(response.content)
    assert {"countries", "land", "coastlines"} <= set(outline["objects"])


def test_the_fleet_page_maps_every_site_with_its_power_and_carbon(client: TestClient) -> None:
    layout = _layout(client, "/fleet")
    graph = find_component(layout, "fleet-map")
    assert graph is not None
    props = graph["props"]
    assert props["config"]["topojsonURL"] == "/assets/topojson/"  # offline, not a CDN
    sites = next(t for t in props["figure"]["data"] if t.get("name") == "sites")
    assert sites["text"] == ["dallas-core", "frankfurt-core", "london-edge"]
    assert sites["lat"][1] == pytest.approx(50.11)
    sizes, colours = sites["marker"]["size"], sites["marker"]["color"]
    assert sizes[2] < sizes[0]  # the edge pod draws less than the hall
    assert all(c > 0 for c in colours)  # carbon intensity now [g/kWh]
    table = json.dumps(find_component(layout, "fleet-sites"))
    assert "/site/london-edge" in table and "carbon g CO2e/kWh" in table


def test_a_site_link_selects_the_site_every_page_shows(client: TestClient) -> None:
    assert client.get("/site/nowhere", follow_redirects=False).status_code == 404
    chosen = client.get("/site/london-edge", follow_redirects=False)
    assert chosen.status_code == 303 and chosen.headers["location"] == "/"
    assert "dctwin_site=london-edge" in chosen.headers["set-cookie"]
    layout = _layout(client, "/")
    status = find_component(layout, "overview-status")
    assert status is not None and "london-edge" in json.dumps(status)
    assert "site: london-edge" in json.dumps(find_component(layout, "nav-site"))
    client.get("/site/dallas-core", follow_redirects=False)
    assert "dallas-core" in json.dumps(find_component(_layout(client, "/"), "overview-status"))


def test_fleet_replan_and_approval_need_the_approve_scope(fleet: FleetTwin) -> None:
    assert "Sign in" in views_fleet.propose(fleet, None, frozenset())
    reader = views_fleet.propose(fleet, "token:reader", frozenset({"read"}))
    assert "lacks the 'approve' scope" in reader
    assert fleet.planner.running() is None
    scopes = frozenset({"read", "approve"})
    assert "No proposed fleet plan" in views_fleet.decide(fleet, True, "user:alice", scopes)
    started = views_fleet.propose(fleet, "user:alice", scopes)
    assert "started" in started
    fleet.planner.wait(timeout=300)
    proposed = fleet.store.list_plans(limit=1, status="proposed")
    assert proposed, [j.to_dict() for j in fleet.planner.jobs.values()]
    panel = json.dumps(views_fleet.plan_panel(fleet.summary()).to_plotly_json(), default=str)
    assert proposed[0]["id"] in panel and "proposed" in panel
    assert "approved" in views_fleet.decide(fleet, True, "user:alice", scopes)
    record = fleet.store.get_plan(proposed[0]["id"])
    assert record is not None and record["status"] == "approved"
    assert record["decided_by"] == "user:alice"
    audit = fleet.store.audit_log(limit=1)[0]
    assert (audit["actor"], audit["action"]) == ("user:alice", "approve")


def test_the_map_draws_work_moved_between_sites() -> None:
    summary = {
        "sites": [
            {"site": "a", "latitude": 50.0, "longitude": 8.0, "power_kw": 100.0,
             "carbon_g_per_kwh": 300.0, "alarms": 0, "metro": "x", "grid_zone": "z"},
            {"site": "b", "latitude": 51.0, "longitude": 0.0, "power_kw": 10.0,
             "carbon_g_per_kwh": 100.0, "alarms": 2, "metro": "y", "grid_zone": "w"},
        ],
        "plan": {"flows": [{"job": "j", "from": "b", "to": "a", "kwh": 150.0}]},
    }  # fmt: skip
    figure = views_fleet.fleet_map(summary)
    line = figure.data[0]
    assert list(line.lat) == [51.0, 50.0] and line.mode == "lines"
    markers = figure.data[-1]
    assert list(markers.marker.line.color) == ["#333", "#c0392b"]  # alarms: a red ring


def test_a_single_site_twin_says_the_fleet_page_needs_a_fleet(tmp_path: Path) -> None:
    from tests.helpers import live_twin
    from twin.api.app import create_app

    twin = live_twin(tmp_path)
    registry = tokens()
    api = create_app(twin, registry, start_background=False, root_redirect=False)
    mount(api, twin, registry)
    with TestClient(api, base_url="http://127.0.0.1") as test_client:
        test_client.post("/login", data={"token": READER}, follow_redirects=False)
        status = find_component(_layout(test_client, "/fleet"), "fleet-status")
        assert status is not None and "serves one site" in json.dumps(status)
    twin.store.close()


@pytest.mark.parametrize(
    ("cost", "carbon_kg", "expected"),
    [
        # fractions of sites_alone's 92,014 USD and 206,957 kg (fleet-small.yaml, 2026-12-07)
        (4e-6, -1.1e-4, "cost unchanged, emissions 0.02 t CO2e higher (0.01%)."),
        (0.0496, 0.0036, "cost 4,564 USD lower (4.96%), emissions 0.75 t CO2e lower (0.36%)."),
        (-0.001, 0.0, "cost 92 USD higher (0.10%), emissions unchanged."),
    ],
)
def test_the_saving_against_sites_alone_reads_with_its_sign_and_amount(
    cost: float, carbon_kg: float, expected: str
) -> None:
    """The savings are fractions of the baseline: until 2026-12-07 the page showed them as
    amounts, so a co-plan 4.96 % cheaper than the sites alone read "cost unchanged"."""
    summary = {
        "plan": {
            "id": "p1",
            "status": "proposed",
            "plan": {"status": "optimal", "cost": 1.0, "carbon_kg": 1.0, "currency": "USD"},
            "savings_vs_sites_alone": {"cost": cost, "carbon_kg": carbon_kg},
            "sites_alone": {"cost": 92_014.0, "carbon_kg": 206_957.0, "verified": True},
        }
    }
    text = str(views_fleet.plan_panel(summary))
    assert f"Against each site planned alone: {expected}" in text


def test_a_saving_not_reported_says_why() -> None:
    summary = {
        "plan": {
            "id": "p1",
            "status": "proposed",
            "plan": {"status": "optimal", "cost": 1.0, "carbon_kg": 1.0, "currency": "USD"},
            "savings_vs_sites_alone": {
                "cost": None,
                "carbon_kg": None,
                "not_reported": "sites_alone is not verified",
            },
            "sites_alone": {"cost": 2.0, "carbon_kg": 2.0, "verified": False},
        }
    }
    text = str(views_fleet.plan_panel(summary))
    assert "not compared (sites_alone is not verified)" in text


def test_a_transfer_says_when_the_copy_runs_and_the_job_starts_there() -> None:
    summary = {
        "plan": {
            "id": "p1",
            "status": "proposed",
            "plan": {"status": "optimal", "cost": 1.0, "carbon_kg": 1.0, "currency": "USD"},
            "transfers": [
                {
                    "from": "san-jose-pod",
                    "to": "dallas-pod",
                    "gb": 700.0,
                    "cost": 14.0,
                    "moves": [
                        {
                            "job": "finetune",
                            "start": "2026-12-07T04:00:00+00:00",
                            "copy_done": "2026-12-07T06:00:00+00:00",
                            "share": 1.0,
                        }
                    ],
                }
            ],
        }
    }
    text = str(views_fleet.plan_panel(summary))
    assert (
        "san-jose-pod → dallas-pod: 700.0 GB (14.00 USD); finetune copied from 2026-12-07 04:00 "
        "UTC, runs there from 2026-12-07 06:00 UTC"
    ) in text


def test_a_site_link_needs_a_login_like_every_ui_page(client: TestClient) -> None:
    """``/site/<name>`` is part of the UI: behind the login (it answered anonymously, and its
    404 listed the fleet's sites)."""
    anonymous = TestClient(client.app, base_url="http://127.0.0.1")
    for path in ("/site/london-edge", "/site/nowhere"):
        answer = anonymous.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/login", path
        assert "set-cookie" not in answer.headers
        assert "dallas-core" not in answer.text
