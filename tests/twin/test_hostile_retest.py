"""Issue 14 re-attacked before closing: what the first round of fixes missed.

A refused field holding ``NaN`` or ``Infinity`` (Python's JSON reader accepts both) made
FastAPI's own 422 fail to render (its ``input`` is not JSON): a 500 and a traceback.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.helpers import Clock, api_client, critical_inlet_alarm, dctwin_in_process, live_twin
from twin.live.live_twin import LiveTwin

TOKENS = {"read": "read-token-00000000001", "ingest": "ingest-token-000000001"}
TOKENS["admin"] = "admin-token-0000000001"


@pytest.fixture
def client(twin: LiveTwin) -> Iterator[TestClient]:
    scopes = {token: scope for scope, token in TOKENS.items()}
    with api_client(twin, scopes) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("method", "path", "scope", "body", "where"),
    [
        (
            "POST",
            "/api/v1/whatif",
            "read",
            '{"changes": {}, "horizon_hours": NaN}',
            "horizon_hours",
        ),
        ("POST", "/api/v1/measurements", "ingest", '{"items": NaN}', "items"),
        ("PUT", "/api/v1/scenario", "admin", '{"scenario": -Infinity}', "scenario"),
    ],
)
def test_a_refused_non_finite_number_is_a_422_not_a_500(
    client: TestClient, method: str, path: str, scope: str, body: str, where: str
) -> None:
    answer = client.request(
        method,
        path,
        content=body,
        headers={"Authorization": f"Bearer {TOKENS[scope]}", "Content-Type": "application/json"},
    )
    assert answer.status_code == 422, answer.text
    (problem,) = answer.json()["detail"]
    assert problem["loc"] == ["body", where]
    assert problem["input"] in ("nan", "-inf")  # the value refused, as text


def test_a_refused_deep_input_with_nan_is_a_422(client: TestClient) -> None:
    """As deep as the JSON reader goes (900 levels), with a NaN at the bottom."""
    body = '{"changes": ' + "[" * 900 + "NaN" + "]" * 900 + "}"
    answer = client.post(
        "/api/v1/whatif",
        content=body,
        headers={"Authorization": f"Bearer {TOKENS['read']}", "Content-Type": "application/json"},
    )
    assert answer.status_code == 422, answer.text[:300]
    assert answer.json()["detail"][0]["loc"] == ["body", "changes"]
    assert '"nan"' in answer.text


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["plan", "--horizon", "nan"], "--horizon: 'nan' is not a duration"),
        (["plan", "--step", "NaT"], "--step: 'NaT' is not a duration"),
        (["serve", "--replan-minutes", "nan"], "--replan-minutes must be"),
        (["serve", "--replan-minutes", "-3"], "--replan-minutes must be"),
        (["serve", "--replan-minutes", "inf"], "--replan-minutes must be"),
        (["serve", "--retention-days", "nan"], "--retention-days must be"),
        (["serve", "--retention-days", "-1"], "--retention-days must be"),
        (["serve", "--port", "70000"], "65535"),
    ],
)
def test_cli_flags_out_of_range_are_one_line(flags: list[str], message: str) -> None:
    with socket.socket() as taken:  # a serve that accepted the flags stops at its port
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        if flags[0] == "serve" and "--port" not in flags:
            flags = [*flags, "--port", str(taken.getsockname()[1])]
        done = dctwin_in_process(*flags)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture
def client_on(url: str, tmp_path: Path, clock: Clock) -> Iterator[TestClient]:
    """The service on SQLite and on PostgreSQL (whose text cannot hold a NUL character)."""
    twin = live_twin(tmp_path, clock, url=url)
    scopes = {token: scope for scope, token in TOKENS.items()}
    try:
        with api_client(twin, scopes) as test_client:
            yield test_client
    finally:
        twin.stop()
        twin.store.close()


def test_a_nul_character_is_refused_not_a_500(client_on: TestClient, clock: Clock) -> None:
    """A NUL (``\\u0000``) in a path, a reason or a scenario: PostgreSQL cannot hold it in text
    (500s before, and PUT /scenario had replaced the scenario without its audit entry).  Refused
    with a 422 on both stores, nothing written."""
    twin = client_on.app.state.twin  # type: ignore[attr-defined]
    alarm = critical_inlet_alarm(twin, "C04")
    admin = {"Authorization": f"Bearer {TOKENS['admin']}"}
    for path in ("/api/v1/plans/a%00b", "/api/v1/plans?status=%00"):
        answer = client_on.get(path, headers=admin)
        assert answer.status_code == 422, answer.text
    for path in ("/api/v1/plans/a%00b/approve", f"/api/v1/alarms/{alarm['id']}/acknowledge"):
        answer = client_on.post(path, json={"reason": "seen\u0000"}, headers=admin)
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"][0]["loc"] in (["body", "reason"], ["path"])
    assert twin.store.get_alarm(alarm["id"])["acknowledged"] is None
    scenario = client_on.get("/api/v1/scenario", headers=admin).json()
    name = scenario["site"]["name"]
    scenario["site"]["name"] = "Demo\u0000hall"
    put = client_on.put("/api/v1/scenario", json={"scenario": scenario}, headers=admin)
    assert put.status_code == 422, put.text
    assert put.json()["detail"][0]["loc"] == ["body", "scenario", "site", "name"]
    assert client_on.get("/api/v1/scenario", headers=admin).json()["site"]["name"] == name
    assert not twin.store.audit_log(limit=5)


def test_a_cleared_alarm_cannot_be_acknowledged_or_shelved(
    client: TestClient, twin: LiveTwin, clock: Clock
) -> None:
    """Acknowledging or shelving a cleared alarm changed nothing but was answered 200 and
    audited as done (the UI said 'acknowledged by None'): 409, no audit entry."""
    alarm = critical_inlet_alarm(twin, "C04")
    twin.store.clear_alarm(alarm["id"], time=clock())
    admin = {"Authorization": f"Bearer {TOKENS['admin']}"}
    for action, body in (("acknowledge", {}), ("shelve", {"hours": 4})):
        answer = client.post(f"/api/v1/alarms/{alarm['id']}/{action}", json=body, headers=admin)
        assert answer.status_code == 409, answer.text
        assert "cleared" in answer.json()["detail"]
    assert not twin.store.audit_log(limit=5)
    found = twin.store.get_alarm(alarm["id"])
    assert found is not None and found["acknowledged"] is None and found["shelved_until"] is None
