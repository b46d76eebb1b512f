"""UI login sessions in the store (issue 14): they survive a restart of the service, the store
keeps only a hash of each id, expiry and logout end them; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from tests.helpers import token_registry
from twin.api.login import COOKIE, LoginGate, Sessions, UserRegistry, hash_password
from twin.store.sessions import session_hash
from twin.store.store import Store

T0 = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
KEY = "a-random-session-id-0123456789abcdef"
READER = "sessions-reader-token-0001"


def _rows(url: str) -> list[dict[str, object]]:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(sa.text("SELECT * FROM sessions")).mappings()]
    engine.dispose()
    return rows


def test_a_session_survives_reopening_and_only_its_hash_is_stored(url: str) -> None:
    with Store(url) as store:
        store.open_session(KEY, "user:alice", {"read", "approve"}, T0 + timedelta(hours=12), now=T0)
    with Store(url) as store:  # a restart
        found = store.session(KEY, now=T0 + timedelta(hours=1))
        assert found is not None
        assert found.principal == "user:alice"
        assert found.scopes == frozenset({"read", "approve"})
        assert (found.created, found.expires) == (T0, T0 + timedelta(hours=12))
        assert store.session("another-random-session-id-000", now=T0) is None
        assert store.session("", now=T0) is None
    (row,) = _rows(url)
    assert row["id_hash"] == session_hash(KEY) and len(str(row["id_hash"])) == 64
    assert KEY not in {str(v) for v in row.values()}


def test_expiry_logout_and_the_limit(url: str) -> None:
    with Store(url) as store:
        store.open_session(KEY, "user:alice", {"read"}, T0 + timedelta(hours=1), now=T0)
        assert store.session(KEY, now=T0 + timedelta(hours=1)) is None  # expired at its end
        assert _rows(url) == []  # and deleted when met
        store.open_session(KEY, "user:alice", {"read"}, T0 + timedelta(hours=1), now=T0)
        assert store.close_session(KEY) is True
        assert store.close_session(KEY) is False
        assert store.session(KEY, now=T0) is None
        for n in range(5):
            moment = T0 + timedelta(seconds=n)
            store.open_session(f"{KEY}-{n}", f"user:u{n}", {"read"}, T0 + timedelta(1), now=moment)
        store.open_session(
            f"{KEY}-5",
            "user:u5",
            {"read"},
            T0 + timedelta(1),
            now=T0 + timedelta(seconds=5),
            limit=3,
        )
        assert store.session_count(now=T0) == 3
        kept = {n for n in range(6) if store.session(f"{KEY}-{n}", now=T0) is not None}
        assert kept == {3, 4, 5}  # the oldest went first
        # expired sessions go at the next opening
        late = T0 + timedelta(days=2)
        store.open_session(f"{KEY}-6", "user:u6", {"read"}, late + timedelta(hours=1), now=late)
        assert len(_rows(url)) == 1
    with Store(url) as store, pytest.raises(ValueError, match="at least 16"):
        store.open_session("short", "user:x", {"read"}, T0 + timedelta(1), now=T0)
    with Store(url) as store, pytest.raises(ValueError, match="expire after"):
        store.open_session(KEY, "user:x", {"read"}, T0, now=T0)


def test_one_principal_cannot_push_the_others_sessions_out(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A principal logging in over and over replaces its own oldest sessions, never another
    principal's (tester9, 7 Dec: one read token opened 10,000 sessions and logged everyone
    else out); in the store and in memory."""
    with Store(url) as store:
        store.open_session(f"{KEY}-bob", "user:bob", {"read"}, T0 + timedelta(1), now=T0)
        for n in range(6):
            moment = T0 + timedelta(seconds=1 + n)
            store.open_session(
                f"{KEY}-{n}", "token:abcd", {"read"}, T0 + timedelta(1), now=moment,
                limit=5, per_principal=3,
            )  # fmt: skip
        kept = {n for n in range(6) if store.session(f"{KEY}-{n}", now=T0) is not None}
        assert kept == {3, 4, 5}  # its own newest three
        assert store.session(f"{KEY}-bob", now=T0) is not None
        assert store.session_count(now=T0) == 4
        with pytest.raises(ValueError, match="at least 1"):
            store.open_session(KEY, "user:x", {"read"}, T0 + timedelta(1), now=T0, per_principal=0)
    monkeypatch.setattr("twin.api.login.MAX_SESSIONS_PER_PRINCIPAL", 3)
    memory = Sessions()
    bob = memory.open("user:bob", frozenset({"read"}))
    mine = [memory.open("token:abcd", frozenset({"read"})) for _ in range(6)]
    assert [memory.get(k) is not None for k in mine] == [False] * 3 + [True] * 3
    assert memory.get(bob) is not None


async def _inner(scope: Scope, receive: Receive, send: Send) -> None:
    """The UI behind the gate: answers with the principal and scopes the gate passed on."""
    headers = dict(scope["headers"])
    body = headers[b"x-dctwin-principal"] + b" " + headers[b"x-dctwin-scopes"]
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def _gate(url: str, users: UserRegistry, scopes: str = "read,approve") -> tuple[Store, TestClient]:
    store = Store(url)
    gate = LoginGate(_inner, token_registry({READER: scopes}), users, Sessions(store))
    return store, TestClient(gate, base_url="http://127.0.0.1")


def test_the_login_gate_keeps_sessions_across_a_restart(url: str) -> None:
    users = UserRegistry.from_spec(f"alice:read:{hash_password('pw', iterations=2_000)}")
    store, client = _gate(url, users)
    login = client.post("/login", data={"token": READER}, follow_redirects=False)
    assert login.status_code == 303
    cookie = client.cookies[COOKIE]
    assert client.get("/floor").text.endswith("approve,read")
    store.close()

    store, restarted = _gate(url, users)  # a new process: new gate, new store object
    restarted.cookies.set(COOKIE, cookie)
    page = restarted.get("/floor", follow_redirects=False)
    assert page.status_code == 200 and page.text.startswith("token:")
    restarted.get("/logout", follow_redirects=False)
    restarted.cookies.set(COOKIE, cookie)
    assert restarted.get("/floor", follow_redirects=False).status_code == 303
    assert _rows(url) == []
    store.close()


def test_a_restart_with_fewer_scopes_narrows_the_kept_session(url: str) -> None:
    users = UserRegistry()
    store, client = _gate(url, users, "read,approve")
    client.post("/login", data={"token": READER}, follow_redirects=False)
    cookie = client.cookies[COOKIE]
    store.close()
    store, restarted = _gate(url, users, "read")  # approve taken away from the token
    restarted.cookies.set(COOKIE, cookie)
    assert restarted.get("/floor").text.endswith(" read")
    store.close()
    store = Store(url)  # the token removed: the session no longer opens the UI
    gate = LoginGate(_inner, token_registry({}), users, Sessions(store))
    removed = TestClient(gate, base_url="http://127.0.0.1")
    removed.cookies.set(COOKIE, cookie)
    assert removed.get("/floor", follow_redirects=False).status_code == 303
    store.close()
