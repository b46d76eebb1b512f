"""The UI behind a login (issue 14): anonymous pages and callbacks refused, tokens and users
with hashed passwords, cookie flags, logout, scopes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.helpers import Clock, critical_inlet_alarm, token_registry
from tests.ui.conftest import READER
from twin.api.app import create_app
from twin.api.login import UserRegistry, hash_password, verify_password
from twin.api.security import TokenError
from twin.live.live_twin import LiveTwin
from ui.app import mount

INGEST = "ui-ingest-token-00000001"
NAV = ("overview", "floor", "plan", "whatif", "live", "alarms", "fleet")
CALLBACK = {
    "output": "..page.children..." + "...".join(f"nav-{n}.className" for n in NAV) + "..",
    "outputs": [{"id": "page", "property": "children"}]
    + [{"id": f"nav-{n}", "property": "className"} for n in NAV],
    "inputs": [{"id": "url", "property": "pathname", "value": "/plan"}],
    "state": [],
    "changedPropIds": ["url.pathname"],
}
"""The routing callback (the Plan page's layout), as the browser sends it."""


@pytest.fixture
def users(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = f"alice:read,approve:{hash_password('correct horse', iterations=2_000)};"
    spec += f"ingestor:ingest:{hash_password('pw', iterations=2_000)}"
    monkeypatch.setenv("DCTWIN_USERS", spec)


def _client(twin: LiveTwin, base_url: str) -> TestClient:
    registry = token_registry({READER: "read", INGEST: "ingest"})
    api = create_app(twin, registry, start_background=False, root_redirect=False)
    mount(api, twin, registry)
    return TestClient(api, base_url=base_url)


@pytest.fixture
def client(fresh: tuple[LiveTwin, Clock], users: None) -> Iterator[TestClient]:
    with _client(fresh[0], "http://127.0.0.1") as test_client:
        yield test_client


def test_anonymous_pages_redirect_and_callbacks_are_refused(client: TestClient) -> None:
    page = client.get("/plan", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login"
    for path in ("/_dash-layout", "/_dash-dependencies"):
        assert client.get(path, follow_redirects=False).status_code in (303, 401)
    callback = client.post("/_dash-update-component", json=CALLBACK)
    assert callback.status_code == 401
    assert "log in" in callback.json()["detail"]
    assert client.get("/login").status_code == 200
    assert client.get("/api/v1/health").status_code == 200  # the API is not behind the form


def test_a_token_logs_in_and_logout_ends_the_session(client: TestClient) -> None:
    login = client.post("/login", data={"token": READER}, follow_redirects=False)
    assert login.status_code == 303
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert client.post("/_dash-update-component", json=CALLBACK).status_code == 200
    assert client.get("/_dash-layout").status_code == 200
    client.get("/logout", follow_redirects=False)
    assert client.post("/_dash-update-component", json=CALLBACK).status_code == 401


def test_a_chunked_body_to_the_ui_is_refused_with_411(client: TestClient) -> None:
    """The UI's WSGI app reads a body by its length: a chunked one (no ``Content-Length``)
    would reach Dash as empty and fail there with a bare 400; it is answered 411 instead,
    for a session only (a stranger still gets 401), whatever its size."""
    chunked = iter([json.dumps(CALLBACK).encode()])
    assert client.post("/_dash-update-component", content=chunked).status_code == 401
    client.post("/login", data={"token": READER}, follow_redirects=False)
    for size in (1, 20):  # chunks of 1 MB: under and over the body limit
        offered = iter([b" " * 1_000_000] * size)
        refused = client.post("/_dash-update-component", content=offered)
        assert refused.status_code == 411
        assert "Content-Length" in refused.json()["detail"]
    assert client.post("/_dash-update-component", json=CALLBACK).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        [],
        "text",
        {"output": "nowhere.children", "outputs": [], "inputs": []},
        {**CALLBACK, "inputs": "not a list"},
        {**CALLBACK, "inputs": [{"id": "url"}]},
        {**CALLBACK, "outputs": 5},
        {**CALLBACK, "changedPropIds": 7},
    ],
)
def test_a_malformed_callback_request_is_400_not_500(
    client: TestClient, body: object, caplog: pytest.LogCaptureFixture
) -> None:
    """A session's malformed Dash callback request is refused 400 in JSON with one log line,
    never a 500 with a traceback; a well-formed one still answers."""
    client.post("/login", data={"token": READER}, follow_redirects=False)
    with caplog.at_level("WARNING"):
        answer = client.post("/_dash-update-component", json=body)
    assert answer.status_code in (400, 204), answer.text[:200]
    if answer.status_code == 400:
        assert "malformed callback request" in answer.json()["detail"]
    assert not [r for r in caplog.records if r.exc_info]  # no traceback logged
    assert client.post("/_dash-update-component", json=CALLBACK).status_code == 200


def test_users_with_hashed_passwords(client: TestClient) -> None:
    wrong = client.post("/login", data={"user": "alice", "password": "nope"})
    assert wrong.status_code == 401
    assert client.post("/_dash-update-component", json=CALLBACK).status_code == 401
    good = client.post(
        "/login", data={"user": "alice", "password": "correct horse"}, follow_redirects=False
    )
    assert good.status_code == 303
    assert client.post("/_dash-update-component", json=CALLBACK).status_code == 200


@pytest.mark.parametrize(
    "form", [{"token": INGEST}, {"user": "ingestor", "password": "pw"}, {"token": "x" * 40}]
)
def test_ingest_never_suffices(client: TestClient, form: dict[str, str]) -> None:
    response = client.post("/login", data=form, follow_redirects=False)
    assert response.status_code == 401
    assert "set-cookie" not in response.headers
    assert client.post("/_dash-update-component", json=CALLBACK).status_code == 401


def test_the_session_cookie_is_secure_over_https(fresh: tuple[LiveTwin, Clock]) -> None:
    with _client(fresh[0], "https://twin.example") as client:
        login = client.post("/login", data={"token": READER}, follow_redirects=False)
        assert login.status_code == 303
        assert "Secure" in login.headers["set-cookie"]
        assert client.post("/_dash-update-component", json=CALLBACK).status_code == 200


def test_plain_http_from_elsewhere_cannot_log_in(fresh: tuple[LiveTwin, Clock]) -> None:
    with _client(fresh[0], "http://twin.example") as client:
        assert "behind HTTPS" in client.get("/login").text
        login = client.post("/login", data={"token": READER}, follow_redirects=False)
        assert login.status_code == 401


def test_a_forged_principal_header_is_replaced(client: TestClient) -> None:
    client.post("/login", data={"token": READER})
    gate = client.app.state.ui_gate  # type: ignore[attr-defined]
    seen: list[list[tuple[bytes, bytes]]] = []
    inner = gate.app

    async def spy(scope, receive, send):  # type: ignore[no-untyped-def]
        seen.append(scope["headers"])
        await inner(scope, receive, send)

    gate.app = spy
    try:
        client.get("/_dash-layout", headers={"X-Dctwin-Principal": "user:root"})
    finally:
        gate.app = inner
    principals = [v for k, v in seen[0] if k == b"x-dctwin-principal"]
    assert len(principals) == 1 and principals[0].startswith(b"token:")


def test_password_hashes_and_bad_user_specs() -> None:
    stored = hash_password("pw", iterations=2_000)
    assert verify_password("pw", stored) and not verify_password("pW", stored)
    assert not verify_password("pw", "pbkdf2_sha256$x$y$z")
    with pytest.raises(TokenError, match="never the password itself"):
        UserRegistry.from_spec("bob:read:plaintext")
    with pytest.raises(TokenError, match="unknown scope"):
        UserRegistry.from_spec(f"bob:root:{stored}")


def _alarm_click(alarm_id: int, button: str = "alarm-ack", hours: float = 1.0) -> dict[str, object]:
    """The Alarms page's action callback as the browser sends it after a click."""
    buttons = ("alarm-ack", "alarm-shelve", "alarm-unshelve")
    return {
        "output": "alarm-action-message.children",
        "outputs": {"id": "alarm-action-message", "property": "children"},
        "inputs": [
            {"id": b, "property": "n_clicks", "value": 1 if b == button else None} for b in buttons
        ],
        "state": [
            {"id": "alarm-choice", "property": "value", "value": alarm_id},
            {"id": "alarm-shelve-hours", "property": "value", "value": hours},
        ],
        "changedPropIds": [f"{button}.n_clicks"],
    }


def test_alarm_buttons_act_as_the_session_user_and_need_approve(
    fresh: tuple[LiveTwin, Clock], client: TestClient
) -> None:
    twin = fresh[0]
    alarm = critical_inlet_alarm(
        twin, "C04", "rack inlet temperature of C04 is 27.6 °C, above its limit of 27 °C"
    )
    alarm_id = alarm["id"]
    client.post("/login", data={"token": READER})  # read only: refused, nothing written
    refused = client.post("/_dash-update-component", json=_alarm_click(alarm_id))
    assert refused.status_code == 200 and "'approve' scope" in refused.text
    unchanged = twin.store.get_alarm(alarm_id)
    assert unchanged is not None and unchanged["acknowledged"] is None
    client.get("/logout", follow_redirects=False)
    client.post("/login", data={"user": "alice", "password": "correct horse"})
    done = client.post("/_dash-update-component", json=_alarm_click(alarm_id))
    assert "acknowledged by user:alice" in done.text
    shelved = client.post(
        "/_dash-update-component", json=_alarm_click(alarm_id, "alarm-shelve", 168.0)
    )
    assert "shelved for 168 h by user:alice" in shelved.text
    client.post("/_dash-update-component", json=_alarm_click(alarm_id, "alarm-unshelve"))
    entries = [e for e in twin.store.audit_log(limit=10) if e["target"] == str(alarm_id)]
    assert {(e["actor"], e["action"]) for e in entries} == {
        ("user:alice", "acknowledge_alarm"),
        ("user:alice", "shelve_alarm"),
        ("user:alice", "unshelve_alarm"),
    }
    found = twin.store.get_alarm(alarm_id)
    assert found is not None and found["acknowledged_by"] == "user:alice"
    assert found["shelved_until"] is None  # unshelved


@pytest.mark.parametrize(
    "forged",
    [
        {"x_dctwin_scopes": "approve,read", "x_dctwin_principal": "user:root"},
        {"X_Dctwin-Scopes": "approve", "x-dctwin_principal": "user:root"},
    ],
)
def test_a_forged_scope_header_with_underscores_grants_nothing(
    fresh: tuple[LiveTwin, Clock], client: TestClient, forged: dict[str, str]
) -> None:
    """The UI is WSGI: ``x_dctwin_scopes`` and ``x-dctwin-scopes`` both become
    ``HTTP_X_DCTWIN_SCOPES``, joined with a comma, so a read session sending its own
    ``x_dctwin_scopes: approve`` must not acknowledge an alarm (it did: the WSGI adapter
    joined the forged value to the gate's)."""
    twin = fresh[0]
    alarm = critical_inlet_alarm(
        twin, "C04", "rack inlet temperature of C04 is 27.6 °C, above its limit of 27 °C"
    )
    client.post("/login", data={"token": READER})  # read only
    answer = client.post("/_dash-update-component", json=_alarm_click(alarm["id"]), headers=forged)
    assert answer.status_code == 200 and "'approve' scope" in answer.text
    assert "root" not in answer.text
    unchanged = twin.store.get_alarm(alarm["id"])
    assert unchanged is not None and unchanged["acknowledged"] is None
    assert not [e for e in twin.store.audit_log(limit=10) if e["target"] == str(alarm["id"])]


def test_a_password_check_neither_stops_the_service_nor_piles_up(
    fresh: tuple[LiveTwin, Clock], monkeypatch: pytest.MonkeyPatch
) -> None:
    """PBKDF2 ran on the event loop: while strangers posted passwords to /login, every API
    request waited (GET /health: 2 ms -> 3.9 s with four of them).  It runs beside the loop
    now, one at a time; a login arriving meanwhile is 429.  The real check is held open until
    the other requests are answered (the order is the test, not the machine's speed: a sleep
    of 0.5 s against a check of about a second failed on a faster run)."""
    monkeypatch.setenv("DCTWIN_USERS", f"bob:read:{hash_password('secret')}")
    started, release = threading.Event(), threading.Event()
    real_check = UserRegistry.check

    def held_check(self: UserRegistry, name: str, password: str) -> object:
        started.set()
        release.wait(30)
        return real_check(self, name, password)

    monkeypatch.setattr(UserRegistry, "check", held_check)
    finished: dict[str, float] = {}
    answers: dict[str, int] = {}
    with _client(fresh[0], "http://127.0.0.1") as client:

        def login() -> None:
            answer = client.post("/login", data={"user": "bob", "password": "wrong"})
            finished["login"] = time.monotonic()
            answers["login"] = answer.status_code

        first = threading.Thread(target=login)
        first.start()
        assert started.wait(30), "the first password check never started"
        health = client.get("/api/v1/health")
        finished["health"] = time.monotonic()
        second = client.post("/login", data={"user": "bob", "password": "secret"})
        release.set()
        first.join()
    assert health.status_code == 200
    assert finished["health"] < finished["login"]  # answered during the check
    assert answers["login"] == 401
    assert second.status_code == 429 and second.headers["retry-after"] == "1"
