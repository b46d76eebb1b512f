"""The Fleet page before a fleet approval: the newest proposal's critical alarms at each site on
what its share moves are shown, and its Approve button (the real Dash callback over HTTP, a
signed-in session with ``approve``) refuses without a typed reason and overrides with one,
audited at the site.

Real parts: the one-day example fleet live (SQLite stores per site), a real HiGHS co-plan,
the fleet's API app with the UI mounted, the login gate; the alarm is stored in the site's
real store as the site's limit monitor stores one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.fleet_live import running_fleet
from tests.helpers import critical_alarm_on_a_moved_rack, critical_inlet_alarm
from tests.ui.conftest import APPROVER, find_component, fleet_ui
from twin.fleet.live import FleetTwin
from twin.live.control.watch import moved_points
from ui import views_fleet

SITE = "dallas-core"
"""The site whose rack is alarmed."""

pytestmark = pytest.mark.xdist_group("fleet-approval-ui")  # module fixtures built once


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetTwin]:
    with running_fleet(tmp_path_factory.mktemp("fleet-approval-ui")) as live:
        yield live


@pytest.fixture(scope="module")
def client(fleet: FleetTwin) -> Iterator[TestClient]:
    with fleet_ui(fleet, APPROVER) as test_client:
        yield test_client


def _click_approve(client: TestClient, reason: str | None, shown: Any = None) -> str:
    """The Fleet page's Approve button clicked with ``reason`` typed and the page's
    ``fleet-shown`` store holding ``shown`` (the real callback)."""
    wanted = "fleet-message.children"
    key = next(
        d["output"] for d in client.get("/_dash-dependencies").json() if d["output"] == wanted
    )
    body = {
        "output": key,
        "outputs": {"id": "fleet-message", "property": "children"},
        "inputs": [
            {"id": "fleet-replan", "property": "n_clicks", "value": None},
            {"id": "fleet-approve", "property": "n_clicks", "value": 1},
            {"id": "fleet-reject", "property": "n_clicks", "value": None},
        ],
        "state": [
            {"id": "fleet-reason", "property": "value", "value": reason},
            {"id": "fleet-shown", "property": "data", "value": shown},
        ],
        "changedPropIds": ["fleet-approve.n_clicks"],
    }
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["response"]["fleet-message"]["children"])


def test_the_fleet_page_shows_a_sites_critical_alarms_and_needs_a_typed_reason(
    client: TestClient, fleet: FleetTwin
) -> None:
    record = fleet.planner.replan(actor="user:alice", reason="t")
    plan_id = record["id"]
    twin = fleet.twins[SITE]
    preview = fleet.planner.site_previews(plan_id)[SITE]
    rack, alarm = critical_alarm_on_a_moved_rack(twin, preview)
    where = f"#{alarm['id']} limit_inlet_temperature_high on rack {rack}"

    page = client.get("/_dash-layout", headers={"Referer": "http://127.0.0.1/fleet"}).json()
    shown = json.dumps(find_component(page, "fleet-proposal-alarms"), ensure_ascii=False)
    assert plan_id in shown and f"{SITE}: {where}" in shown and "typed reason" in shown
    drawn = find_component(page, "fleet-shown")["props"]["data"]
    assert _click_approve(client, "ok", None).startswith(  # the page drew no proposal
        f"Fleet plan {plan_id} was not approved: it is not the proposal shown (none)"
    )

    refused = _click_approve(client, None)
    assert "not approved" in refused and f"{SITE}: {where}" in refused
    assert "type the reason" in refused
    assert _click_approve(client, "   ").startswith(f"Fleet plan {plan_id} was not approved")
    assert fleet.store.get_plan(plan_id)["status"] == "proposed"  # type: ignore[index]
    assert twin.store.list_plans(limit=10) == []  # nothing adopted at the site

    why = "D-row inlet sensor reads high since the fan swap; checked"
    assert _click_approve(client, why, drawn) == f"Fleet plan {plan_id} approved."
    entry = next(e for e in twin.store.audit_log(limit=20) if e["action"] == "approve")
    assert [a["id"] for a in entry["detail"]["critical_alarms_overridden"]] == [alarm["id"]]
    assert entry["reason"] == why and entry["actor"].startswith("token:")


def test_the_fleet_page_overrides_only_the_alarms_and_proposal_it_showed(
    client: TestClient, fleet: FleetTwin
) -> None:
    """An alarm raised after the page drew the proposal, or a newer proposal than the one
    drawn, refuses Approve (the review's 3.1 of 7 Dec: force overrode what nobody saw); drawn
    again, the page approves what it shows."""
    record = fleet.planner.replan(actor="user:alice", reason="t")
    twin = fleet.twins[SITE]
    preview = fleet.planner.site_previews(record["id"])[SITE]
    rack, first = critical_alarm_on_a_moved_rack(twin, preview)

    def drawn() -> Any:
        page = client.get("/_dash-layout", headers={"Referer": "http://127.0.0.1/fleet"}).json()
        return find_component(page, "fleet-shown")["props"]["data"]

    shown = drawn()
    assert shown["plan"] == record["id"] and shown["alarms"][SITE] == [first["id"]]
    others = {
        p.split("/")[1]
        for p in moved_points(preview, twin.facility, twin.catalogue)
        if p.startswith("rack/")
    } - {rack}
    second = critical_inlet_alarm(twin, sorted(others)[0], "raised after the page was drawn")
    why = "both racks checked on site"
    refused = _click_approve(client, why, shown)
    assert "raised since" in refused and f"#{second['id']}" in refused
    newer = fleet.planner.replan(actor="user:alice", reason="t")
    stale = _click_approve(client, why, shown)
    assert f"Fleet plan {newer['id']} was not approved: it is not the proposal shown" in stale
    assert fleet.store.get_plan(newer["id"])["status"] == "proposed"  # type: ignore[index]
    assert _click_approve(client, why, drawn()) == f"Fleet plan {newer['id']} approved."


def _alarm(site: str, alarm_id: int, rack: str, shelved: bool) -> dict[str, Any]:
    return {
        "site": site,
        "id": alarm_id,
        "kind": "limit_inlet_temperature_high",
        "source": f"rack/{rack}/inlet_temperature",
        "point": f"rack/{rack}/inlet_temperature",
        "rack": rack,
        "message": f"rack inlet temperature of {rack} above its 27.00 °C limit",
        "raised": "2026-12-07T03:00:00+00:00",
        "shelved": shelved,
    }


def test_the_proposal_alarms_say_which_are_shelved_and_whether_approval_needs_a_reason() -> None:
    def text(alarms: list[dict[str, Any]], misfits: list[str] | None = None) -> str:
        proposal = {"id": "p1", "critical_alarms": alarms, "misfits": misfits or []}
        shown = views_fleet.proposal_alarms(proposal)
        return json.dumps([c.to_plotly_json() for c in shown], default=str, ensure_ascii=False)

    mixed = text([_alarm("dallas-core", 3, "D01", False), _alarm("dallas-core", 4, "D02", True)])
    assert "dallas-core: #3 limit_inlet_temperature_high on rack D01" in mixed
    assert "#4 limit_inlet_temperature_high on rack D02 (" in mixed and "limit), shelved" in mixed
    assert "needs a typed reason" in mixed
    shelved = text([_alarm("london-edge", 5, "B01", True)])
    assert "All shelved" in shelved and "needs a typed reason" not in shelved
    assert "no critical alarm is active at any site" in text([])
    assert "no longer fits" not in text([])
    # a site whose share no longer fits was not checked for alarms: never "at any site"
    misfit = "dallas-core: its scenario was replaced after the fleet plan was made"
    unfit = text([], [misfit])
    assert "p1 no longer fits every site: approving it will be refused; re-plan" in unfit
    assert misfit in unfit and "at any site" not in unfit
    assert "no critical alarm is active at the sites it still fits" in unfit
    both = text([_alarm("london-edge", 5, "B01", False)], [misfit])
    assert misfit in both and "london-edge: #5" in both and "needs a typed reason" in both
    assert views_fleet.proposal_alarms(None) == []
