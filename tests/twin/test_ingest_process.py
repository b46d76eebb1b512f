"""Batches validated and committed in a child process (``LiveSettings.ingest_process``, ``dctwin
serve --ingest-process``): the same outcome as in process, processed by the twin, nothing
acknowledged lost when the child dies, no child left behind."""

from __future__ import annotations

import contextlib
import copy
import os
import signal
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from tests.helpers import Clock, api_client, live_twin
from tests.postgres import fresh_database
from twin.api.measurements import MeasurementBatch
from twin.live.live_twin import LiveTwin
from twin.store.errors import StoreBusy
from twin.store.store import Store


def _batch(clock: Clock, twin: LiveTwin, offset_s: int) -> list[Any]:
    """Every rack inlet at two ticks, plus one item of each kind of refusal."""
    inlets = [p for p in twin.catalogue.ids if p.endswith("inlet_temperature")]
    items: list[Any] = [
        {
            "time": (clock() - timedelta(seconds=offset_s - k)).isoformat(),
            "point": point,
            "value": 24.0 + k / 10,
        }
        for k in range(2)
        for point in inlets
    ]
    items += [
        {"time": clock().isoformat(), "point": "rack/NOPE/inlet_temperature", "value": 1.0},
        {"time": "yesterday", "point": inlets[0], "value": 1.0},
        {"time": clock().isoformat(), "point": inlets[0], "value": "2_4"},
        {"time": clock().isoformat(), "point": inlets[0], "value": 75.0, "unit": "degF"},
        {"time": clock().isoformat(), "point": inlets[0], "value": 1.0, "unit": "1/0"},
        ["not", "an", "object"],
        {"time": (clock() - timedelta(days=2)).isoformat(), "point": inlets[1], "value": 24.0},
    ]
    return items


def _child(twin: LiveTwin) -> int:
    """Process id of the twin's ingest child."""
    assert twin._ingest_process is not None
    pid = twin._ingest_process.pid
    assert pid is not None and _alive(pid)
    return pid


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_child_gives_what_the_twin_gives_in_process(
    tmp_path: Path, clock: Clock, backend: str, request: pytest.FixtureRequest
) -> None:
    """The same batches into two twins, one validating in process, one in its child: the same
    counts and refusals (index, point, reason), the same rows stored, the readings processed;
    the second batch repeats part of the first (already stored) and sends a late reading.  On
    PostgreSQL the child connects with the service's URL, password included."""
    outcomes: dict[bool, list[Any]] = {}
    stored: dict[bool, list[tuple[str, Any, float]]] = {}
    server = request.getfixturevalue("postgres_url") if backend == "postgresql" else None
    for child in (False, True):
        with contextlib.ExitStack() as stack:
            url = None if server is None else stack.enter_context(fresh_database(server))
            outcomes[child], stored[child] = _two_batches(tmp_path / str(child), clock, url, child)
    assert outcomes[True] == outcomes[False]
    first, second = outcomes[True]
    assert first.accepted == first.inserted > 0
    assert {r.reason.split()[0] for r in first.rejected} >= {"unknown", "time", "value", "unit"}
    assert second.already_stored > 0
    assert any("out of order" in r.reason for r in second.rejected)
    assert stored[True] == stored[False]
    assert len(stored[True]) == first.inserted + second.inserted


def _two_batches(
    folder: Path, clock: Clock, url: str | None, child: bool
) -> tuple[list[Any], list[tuple[str, Any, float]]]:
    """The two batches of the test above into a new twin; its outcomes and stored rows."""
    folder.mkdir()
    twin = live_twin(folder, clock, url=url, ingest_process=child)
    try:
        twin.start()
        first = twin.ingest(_batch(clock, twin, 60))
        again = _batch(clock, twin, 59)
        again.append(
            {"time": (clock() - timedelta(hours=3)).isoformat(), "point": again[0]["point"],
             "value": 24.0}
        )  # fmt: skip
        second = twin.ingest(again)
        deadline = time.monotonic() + 30
        while twin.processed < first.accepted + second.accepted:
            assert time.monotonic() < deadline, "the worker did not process the readings"
            time.sleep(0.05)
        stored = sorted((r.point, r.time, r.value) for r in twin.store.query(twin.catalogue.ids))
    finally:
        twin.stop()
        twin.store.close()
    return [first, second], stored


def test_a_dead_child_fails_only_its_batch(tmp_path: Path, clock: Clock) -> None:
    """The child is killed: the batch sent to the dead child is refused as StoreBusy (503),
    the next batch starts a new child and is stored; every acknowledged reading is in the
    store, and stopping the twin leaves no child running."""
    twin = live_twin(tmp_path, clock, ingest_process=True)
    try:
        twin.start()
        acknowledged = twin.ingest(_batch(clock, twin, 60)).inserted
        child = _child(twin)
        os.kill(child, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _alive(child):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with pytest.raises(StoreBusy, match="send it again"):
            twin.ingest(_batch(clock, twin, 50))
        acknowledged += twin.ingest(_batch(clock, twin, 40)).inserted
        assert acknowledged > 0
        assert twin.store.count() == acknowledged
        new_child = _child(twin)
        assert new_child != child
    finally:
        twin.stop()
        twin.store.close()
    assert not _alive(new_child)


def test_the_child_merges_the_staging_buffer_it_fills(tmp_path: Path, clock: Clock) -> None:
    """With a 100-row SQLite staging buffer, ~300 staged readings are merged by the child
    (the twin's worker merges only what it counted itself: nothing here)."""
    twin = live_twin(tmp_path, clock, staging_rows=100, ingest_process=True)
    try:
        twin.start()
        stored = sum(twin.ingest(_batch(clock, twin, s)).inserted for s in (90, 80, 70, 60))
        assert stored > 200
        deadline = time.monotonic() + 15
        while True:
            with Store(f"sqlite:///{tmp_path / 'twin.db'}", staging_rows=100) as other:
                staged, count = other.staged, other.count()
            if staged < 100:
                break
            assert time.monotonic() < deadline, f"{staged} rows still staged"
            time.sleep(0.1)
        assert count == stored
    finally:
        twin.stop()
        twin.store.close()


def test_the_child_is_kept_while_the_points_stay_the_same(tmp_path: Path, clock: Clock) -> None:
    """The daily re-anchoring loads the same points again: the child is kept (it was
    restarted, ~1.5 s of start-up, on every load); other points start a new child."""
    twin = live_twin(tmp_path, clock, ingest_process=True)
    try:
        twin.start()
        child = twin._ingest_process
        assert child is not None
        first = _child(twin)
        child.replace_catalogue(copy.deepcopy(twin.catalogue))
        assert child.pid == first
        fewer = copy.deepcopy(twin.catalogue)
        fewer.kinds.pop(next(iter(fewer.kinds)))
        child.replace_catalogue(fewer)
        assert child.pid is None
        assert twin.ingest(_batch(clock, twin, 30)).inserted > 0
        assert _child(twin) != first
    finally:
        twin.stop()
        twin.store.close()


HOSTILE_BODIES: dict[str, tuple[bytes, str | None]] = {
    "empty": (b"", "application/json"),
    "null": (b"null", "application/json"),
    "a list": (b"[]", "application/json"),
    "items not a list": (b'{"items": 5}', "application/json"),
    "no items": (b'{"x": 1}', "application/json"),
    "cut off": (b'{"items": [', "application/json"),
    "not UTF-8": (b'{"items": ["\xff"]}', "application/json"),
    "50,000 deep": (b"[" * 50_000 + b"]" * 50_000, "application/json"),
    "text/plain": (b'{"items": []}', "text/plain"),
    "no content type": (b'{"items": []}', None),
    "over the limit": (b'{"items": [' + b",".join([b"1"] * 10_001) + b"]}", "application/json"),
}


@pytest.mark.parametrize("child", [False, True], ids=["in process", "child"])
def test_a_bad_json_body_gets_fastapis_own_answer(
    tmp_path: Path, clock: Clock, child: bool
) -> None:
    """``POST /measurements`` reads its body raw and parses it where it is committed (the child
    with ``--ingest-process``): every body refused whole gets the status and detail FastAPI
    gives for a ``MeasurementBatch`` body parameter (a reference route in the same app), and
    a good batch beside them is stored."""
    twin = live_twin(tmp_path, clock, ingest_process=child)
    twin.start()  # starts the child
    token = "ingest-token-0000000001"
    with api_client(twin, {token: "ingest"}) as client:
        app = client.app
        assert isinstance(app, FastAPI)

        @app.post("/reference")
        def reference(batch: MeasurementBatch) -> dict[str, int]:
            return {"items": len(batch.items)}

        for name, (body, content_type) in HOSTILE_BODIES.items():
            headers = {"Authorization": f"Bearer {token}"}
            if content_type is not None:
                headers["content-type"] = content_type
            ours = client.post("/api/v1/measurements", content=body, headers=headers)
            theirs = client.post("/reference", content=body, headers=headers)
            if name == "over the limit":  # FastAPI takes it; the service's limit is 10,000
                assert theirs.status_code == 200 and ours.status_code == 413, name
                assert ours.json()["detail"] == "batch of 10001 items; the limit is 10000"
                continue
            assert ours.status_code == theirs.status_code and ours.status_code >= 400, name
            assert ours.json() == theirs.json(), name
        assert (twin._ingest_process is not None) is child  # the child parsed them
        good = _batch(clock, twin, 60)[:4]
        headers = {"Authorization": f"Bearer {token}"}
        answer = client.post("/api/v1/measurements", json={"items": good}, headers=headers)
        assert answer.status_code == 200 and answer.json()["inserted"] == 4, answer.text
    twin.stop()
    assert len(twin.store.query(twin.catalogue.ids)) == 4
    twin.store.close()
