"""Hostile input against the service, one test per item of the hardening (issue 14).

Paths in requests, ``/dev/zero``, unbounded what-ifs, chunked bodies without a token, poisoned
batches, unknown API paths and query parameters, world-readable token files, bad CLI flags.
The UI's login is tested in ``tests/ui``; billion laughs and the loaders in ``test_scenario.py``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient

from tests.helpers import Clock, api_client, dctwin_in_process
from twin.api.guard import RequestGuard
from twin.api.security import TokenError, TokenRegistry
from twin.api.whatif import WhatIfQueue
from twin.cli.main import private_state_dir
from twin.live.live_twin import LiveTwin
from twin.store.store import Store

TOKENS = {
    "read": "read-token-00000000001",
    "ingest": "ingest-token-000000001",
    "admin": "admin-token-0000000001",
}
SECRET = "s3cr3t-token-that-must-never-be-echoed"


def auth(scope: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[scope]}"}


@pytest.fixture
def client(twin: LiveTwin, tmp_path: Path) -> Iterator[TestClient]:
    root = tmp_path / "public-data"
    (root / "grid" / "XX-ONE").mkdir(parents=True)
    for name in ("price_2023.csv", "carbon_2023.csv", "weather_2023.json"):
        (root / "grid" / "XX-ONE" / name).write_text("")
    scopes = {token: scope for scope, token in TOKENS.items()}
    with api_client(twin, scopes, max_body_bytes=1_000_000, data_root=root) as test_client:
        yield test_client


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens.txt"
    path.write_text(f"{SECRET} admin\n")
    return path


# ------------------------------------------------------------------ 1. no server paths


@pytest.mark.parametrize(
    ("source", "field"),
    [
        ({"file": "SECRET", "variable": "price"}, "file"),
        ({"file": "/dev/zero", "variable": "price"}, "file"),
        ({"zone": "XX-ONE", "data_dir": "/etc"}, "data_dir"),
        ({"zone": "../../etc"}, "zone"),
    ],
)
def test_a_request_cannot_name_a_server_path(
    client: TestClient,
    secret_file: Path,
    caplog: pytest.LogCaptureFixture,
    source: dict[str, Any],
    field: str,
) -> None:
    if source.get("file") == "SECRET":
        source = {**source, "file": str(secret_file)}
    caplog.set_level(logging.DEBUG)
    started = time.perf_counter()
    whatif = client.post(
        "/api/v1/whatif", json={"changes": {"series": [source]}}, headers=auth("read")
    )
    scenario = client.get("/api/v1/scenario", headers=auth("read")).json()
    scenario["series"] = [source]
    put = client.put("/api/v1/scenario", json={"scenario": scenario}, headers=auth("admin"))
    # A hang guard, not a speed test: reading /dev/zero would not end (generous under load).
    assert time.perf_counter() - started < 60
    for response in (whatif, put):
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert any(entry["loc"][-1] == field for entry in detail), detail
        assert SECRET not in response.text
    assert SECRET not in caplog.text  # the log never holds a file's content


def test_unknown_zone_lists_the_known_ones(client: TestClient) -> None:
    response = client.post(
        "/api/v1/whatif", json={"changes": {"series": [{"zone": "NOPE"}]}}, headers=auth("read")
    )
    assert response.status_code == 422
    assert "known zones: XX-ONE" in response.text


def test_the_scenario_in_force_can_be_put_back_unchanged(client: TestClient) -> None:
    """Its own series file (named by the server's scenario, not the request) comes back."""
    scenario = client.get("/api/v1/scenario", headers=auth("read")).json()
    assert any("file" in source for source in scenario["series"])
    response = client.put("/api/v1/scenario", json={"scenario": scenario}, headers=auth("admin"))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"values": [1.0, 2.0], "variable": "x", "step": "15 min"}, "no registered variable"),
        ({"values": [1.0], "variable": "__class__", "step": "1 h"}, "no registered variable"),
        ({"generate": "demo", "seed": -5}, "seed: -5 — expected a value >= 0"),
    ],
)
def test_a_series_the_physics_cannot_read_is_422_not_500(
    client: TestClient, source: dict[str, Any], message: str
) -> None:
    """Found by a hostile pass on the fleet service (7 Dec): a what-if's series of an
    unregistered variable or a negative demo seed was a 500 with a traceback (read token)."""
    series = [{"generate": "demo", "seed": 22}, source]
    for response in (
        client.post(
            "/api/v1/whatif",
            json={"changes": {"series": series}, "horizon_hours": 1},
            headers=auth("read"),
        ),
        client.put(
            "/api/v1/scenario",
            json={"scenario": {**_scenario(client), "series": series}},
            headers=auth("admin"),
        ),
    ):
        assert response.status_code == 422, response.text
        assert message in response.text


def test_a_scenario_stepping_under_five_minutes_is_not_served(client: TestClient) -> None:
    """A running twin re-plans every step: switched to 1-second steps, its next re-plan asked
    for 55.6 GiB (hostile pass, 7 Dec).  Refused, the scenario in force kept."""
    scenario = _scenario(client)
    fast = {**scenario, "simulation": {**scenario["simulation"], "step": "1 s"}}
    response = client.put("/api/v1/scenario", json={"scenario": fast}, headers=auth("admin"))
    assert response.status_code == 422, response.text
    assert "a live twin steps at least 0:05:00" in response.text
    assert _scenario(client)["simulation"] == scenario["simulation"]


def _scenario(client: TestClient) -> dict[str, Any]:
    return dict(client.get("/api/v1/scenario", headers=auth("read")).json())


# ------------------------------------------------------------------ 2. bounded what-if


@pytest.mark.parametrize(
    ("changes", "horizon", "message"),
    [
        ({"rows": [{"id": "X", "count": 10_000}]}, 24, "a what-if plans at most 2,000"),
        ({"series": [{"variable": "price", "values": [1.0] * 10_001}]}, 24, "at most 10,000"),
        ({}, 169, "less than or equal to 168"),
        ({}, 0.5, "greater than or equal to 1"),
    ],
)
def test_whatif_beyond_its_limits_is_refused(
    client: TestClient, changes: dict[str, Any], horizon: float, message: str
) -> None:
    started = time.perf_counter()
    response = client.post(
        "/api/v1/whatif",
        json={"changes": changes, "horizon_hours": horizon},
        headers=auth("read"),
    )
    assert response.status_code == 422, response.text
    assert message in response.text
    # A hang guard, not a speed test: planning these would take minutes (generous under load).
    assert time.perf_counter() - started < 60


def test_whatif_nested_too_deep_is_refused(client: TestClient) -> None:
    deep: dict[str, Any] = {}
    for _ in range(200):
        deep = {"x": deep}
    response = client.post("/api/v1/whatif", json={"changes": deep}, headers=auth("read"))
    assert response.status_code == 422
    assert "nested deeper" in response.text


def test_one_whatif_per_token_and_a_small_queue(client: TestClient) -> None:
    queue: WhatIfQueue = client.app.state.whatif_queue  # type: ignore[attr-defined]
    who = f"token:{TokenRegistry.fingerprint(TOKENS['read'])}"
    with queue.admit(who):
        response = client.post("/api/v1/whatif", json={"changes": {}}, headers=auth("read"))
    assert response.status_code == 429
    assert response.headers["Retry-After"]
    assert "already running or queued" in response.json()["detail"]
    full = WhatIfQueue(running=1, waiting=0)
    with full.admit("a"):
        with pytest.raises(HTTPException) as caught, full.admit("b"):
            pass
        assert caught.value.status_code == 429
        assert "1 what-ifs running or queued" in caught.value.detail
    with full.admit("b"):  # the slot is free again
        pass


# ------------------------------------------------------------------ 3. body limits


def test_chunked_50_mb_without_a_token_is_refused_unread(client: TestClient) -> None:
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(50):
            sent += 1_000_000
            yield b"[" + b"1," * 499_999 + b"1"

    response = client.post(
        "/api/v1/measurements", content=body(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401
    assert sent <= 1_000_000  # at most the first chunk was produced, none parsed


def test_chunked_body_over_the_limit_is_cut_off_at_the_limit(client: TestClient) -> None:
    response = client.post(
        "/api/v1/measurements",
        content=iter([b" " * 600_000, b" " * 600_000]),
        headers={**auth("ingest"), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert "larger than 1000000 bytes" in response.json()["detail"]


def test_the_guard_stops_reading_when_the_limit_is_crossed() -> None:
    """At the ASGI level (the test client drains what is left of a body, a server does
    not): 50 MB offered in 100 kB chunks, read up to the limit, answered 413 at once."""
    received: list[int] = []
    sent: list[dict[str, Any]] = []

    async def route(scope: Any, receive: Any, send: Any) -> None:
        while (message := await receive())["type"] == "http.request":
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"read it all"})

    async def receive() -> dict[str, Any]:
        received.append(100_000)
        return {"type": "http.request", "body": b" " * 100_000, "more_body": len(received) < 500}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    guard = RequestGuard(route, max_body_bytes=1_000_000, routes=list, tokens=TokenRegistry)
    scope = {"type": "http", "method": "POST", "path": "/api/v1/x", "headers": []}
    asyncio.run(guard(scope, receive, send))
    assert sum(received) == 1_100_000  # the chunk that crossed the limit, no more
    assert sent[0]["status"] == 413
    assert len(sent) == 2


def test_a_read_token_cannot_post_a_body(client: TestClient) -> None:
    response = client.post("/api/v1/measurements", content=b"x" * 500_000, headers=auth("read"))
    assert response.status_code == 403


# ------------------------------------------------------------------ 5. per-item refusal


def test_a_poisoned_batch_keeps_its_valid_items(client: TestClient, clock: Clock) -> None:
    now = clock.now.isoformat()
    good = {"time": now, "point": "rack/A01/inlet_temperature", "value": 24.0}
    items: list[Any] = [
        good,
        {**good, "point": "rack/A02/inlet_temperature", "value": True},
        {**good, "point": "rack/A03/inlet_temperature", "value": "2_4"},
        {**good, "point": "rack/A04/inlet_temperature", "unit": "1/0"},
        {**good, "point": "rack/A05/inlet_temperature", "unit": "**"},
        {**good, "point": "rack/A06/inlet_temperature", "time": "0001-01-01T00:00+05:00"},
        {**good, "point": "rack/A07/inlet_temperature", "time": "9999-12-31T23:59:59-05:00"},
        {**good, "point": "rack/A08/inlet_temperature", "time": 1_700_000_000},
        {**good, "point": "rack/A09/inlet_temperature", "time": "1970-01-01T00:00Z"},
        "not an object",
        None,
        {**good, "point": "rack/A03/inlet_temperature", "value": "24.5"},
    ]
    response = client.post("/api/v1/measurements", json={"items": items}, headers=auth("ingest"))
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["accepted"] == 2 and out["inserted"] == 2, out
    assert [r["index"] for r in out["rejected"]] == list(range(1, 11))
    reasons = " | ".join(r["reason"] for r in out["rejected"])
    for expected in ("not a number", "'2_4'", "'1/0'", "out of the calendar", "days old"):
        assert expected in reasons


def test_csv_with_poisoned_rows_and_a_doubled_column(client: TestClient, clock: Clock) -> None:
    now = clock.now.isoformat()
    text = (
        "time,point,value\n"
        f"{now},rack/A01/inlet_temperature,24\n"
        "0001-01-01T00:00+05:00,rack/A02/inlet_temperature,24\n"
        f"{now},rack/A03/inlet_temperature,2_4\n"
    )
    headers = {**auth("ingest"), "Content-Type": "text/csv"}
    response = client.post("/api/v1/measurements/csv", content=text, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    assert [r["index"] for r in response.json()["rejected"]] == [1, 2]
    ragged = (  # a row with more fields than the header: refused on its own, line named
        "time,point,value,unit\n"
        f"{now},rack/A04/inlet_temperature,24,degC\n"
        f"{now},rack/A05/inlet_temperature,24,degC,extra,columns\n"
        f"{now},rack/A06/inlet_temperature,2_4\n"
        f"{now},rack/A07/inlet_temperature,24\n"
    )
    response = client.post("/api/v1/measurements/csv", content=ragged, headers=headers)
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["accepted"] == 2 and out["inserted"] == 2, out
    assert out["rejected"][0] == {
        "index": 1,
        "point": "rack/A05/inlet_temperature",
        "reason": "CSV line 3: 2 more field(s) than the header",
    }
    assert [(r["index"], r["point"]) for r in out["rejected"][1:]] == [
        (2, "rack/A06/inlet_temperature")  # the batch's own index, after the ragged row
    ]
    doubled = "time,point,value,value\n" + f"{now},rack/A01/inlet_temperature,1,2\n"
    response = client.post("/api/v1/measurements/csv", content=doubled, headers=headers)
    assert response.status_code == 400
    assert "repeats column(s): value" in response.text


def test_csv_field_size_error_names_the_real_file_line(client: TestClient, clock: Clock) -> None:
    """The line of a CSV error is the file's own line, the header being line 1."""
    now = clock.now.isoformat()
    headers = {**auth("ingest"), "Content-Type": "text/csv"}
    text = (
        "time,point,value\n"  # line 1
        f"{now},rack/A01/inlet_temperature,24\n"  # line 2
        f"{now},rack/A02/inlet_temperature,24\n"  # line 3
        f"{now},{'x' * 200_000},24\n"  # line 4: a field beyond the csv module's limit
        f"{now},rack/A03/inlet_temperature,24\n"
    )
    response = client.post("/api/v1/measurements/csv", content=text, headers=headers)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("CSV line 4: field larger than field limit")
    header = f"time,point,value,{'y' * 200_000}\n{now},rack/A01/inlet_temperature,24\n"
    response = client.post("/api/v1/measurements/csv", content=header, headers=headers)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("CSV line 1: field larger")


@pytest.mark.parametrize("start", ["0001-01-01T00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_query_times_beyond_the_calendar_are_a_422(client: TestClient, start: str) -> None:
    response = client.get(
        "/api/v1/measurements",
        params={"point": "rack/A01/inlet_temperature", "start": start, "end": start},
        headers=auth("read"),
    )
    assert response.status_code == 422
    assert "out of the calendar" in response.text


def test_unknown_api_paths_and_parameters_answer_json(client: TestClient) -> None:
    response = client.get("/api/v1/nothing", headers=auth("read"))
    assert response.status_code == 404
    assert response.json() == {"detail": "no API route /api/v1/nothing"}
    response = client.delete("/api/v1/state", headers=auth("admin"))
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"
    response = client.get("/api/v1/alarms", params={"sneaky": "1"}, headers=auth("read"))
    assert response.status_code == 422
    assert "unknown query parameter(s) 'sneaky'" in response.text


def test_a_whatif_shorter_than_two_steps_is_a_422_not_a_500(client: TestClient) -> None:
    response = client.post(
        "/api/v1/whatif",
        json={"changes": {"simulation": {"step": "1h"}}, "horizon_hours": 1},
        headers=auth("read"),
    )
    assert response.status_code == 422, response.text


# ------------------------------------------------------------------ 7. file modes


def test_a_token_file_readable_by_others_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "tokens.txt"
    path.write_text(f"{SECRET} admin\n")
    path.chmod(0o644)
    with pytest.raises(TokenError, match=f"chmod 600 {path}") as caught:
        TokenRegistry.from_file(path)
    assert SECRET not in str(caught.value)
    path.chmod(0o600)
    assert TokenRegistry.from_file(path).scopes(SECRET) is not None


def test_state_dir_database_and_wal_are_owner_only(tmp_path: Path) -> None:
    mask = os.umask(0o022)
    try:
        state = tmp_path / "state"
        private_state_dir(state)
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
    finally:
        os.umask(mask)
    other = tmp_path / "other" / "dctwin.db"
    mask = os.umask(0o022)  # even with a permissive umask
    try:
        with Store(f"sqlite:///{other}") as store:
            assert store.count() == 0
    finally:
        os.umask(mask)
    assert stat.S_IMODE(other.stat().st_mode) == 0o600
    assert stat.S_IMODE(other.parent.stat().st_mode) == 0o700
    for extra in other.parent.glob("dctwin.db-*"):
        assert stat.S_IMODE(extra.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--time-limit", "-5"], "--time-limit: expected a positive number"),
        (["--time-limit", "0"], "--time-limit: expected a positive number"),
        (["--mip-gap", "-1"], "--mip-gap: expected a relative gap in [0, 1)"),
        (["--horizon", "15min"], "shorter than two steps"),
    ],
)
def test_plan_flags_are_validated(flags: list[str], message: str) -> None:
    done = dctwin_in_process("plan", *flags)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
