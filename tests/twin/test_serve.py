"""``dctwin serve`` as a real process on a real port: start-up, bad input, and the crash test
(every batch acknowledged with a 2xx survives a ``kill -9`` right after)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from twin.store import Store

REPO = Path(__file__).resolve().parents[2]
TOKEN = "crash-test-token-0000001"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(*args: str, env: dict[str, str] | None = None, state_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "twin.cli", "serve", "--state-dir", str(state_dir), *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_healthy(base: str, process: subprocess.Popen[str], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out = process.stdout.read() if process.stdout else ""
            pytest.fail(f"dctwin serve exited with {process.returncode}:\n{out}")
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail("dctwin serve did not answer /api/v1/health within 90 s")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str], Path]]:
    port = free_port()
    process = serve(
        "--port",
        str(port),
        "--no-virtual-plant",
        "--replan-minutes",
        "0",
        env={"DCTWIN_TOKENS": f"{TOKEN}=ingest,read"},
        state_dir=tmp_path,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process)
        yield base, process, tmp_path
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def test_acknowledged_batches_survive_kill_9(
    server: tuple[str, subprocess.Popen[str], Path],
) -> None:
    """1,000-reading batches are posted back to back; right after the 2xx of the 20th the
    server gets SIGKILL.  Every acknowledged reading is in the database file afterwards."""
    base, process, state_dir = server
    now = datetime.now(UTC).replace(microsecond=0)
    acknowledged: list[tuple[str, str]] = []
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        catalogue = client.get("/api/v1/points").json()
        points = [p["point"] for p in catalogue if p["point"].endswith("/inlet_temperature")][:25]
        assert len(points) == 25
        for batch in range(20):
            items = [
                {
                    "time": (now - timedelta(seconds=3600 - batch * 40 - k)).isoformat(),
                    "point": point,
                    "value": 22.0 + k / 100,
                }
                for k in range(40)
                for point in points
            ]
            response = client.post("/api/v1/measurements", json={"items": items})
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["accepted"] == len(items), body["rejected"][:3]
            acknowledged += [(item["point"], item["time"]) for item in items]
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert len(acknowledged) == 20_000
    with Store(f"sqlite:///{state_dir / 'dctwin.db'}") as store:
        assert store.count() == len(acknowledged)
        stored = {(r.point, r.time) for r in store.query(points)}
    missing = [a for a in acknowledged if (a[0], datetime.fromisoformat(a[1])) not in stored]
    assert missing == []


def test_serve_prints_where_the_demo_token_is(tmp_path: Path) -> None:
    """No DCTWIN_TOKENS: one token per scope is generated in a private file, and said where."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DCTWIN_TOKENS"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "twin.cli",
            "serve",
            "--state-dir",
            str(tmp_path),
            "--port",
            str(port),
            "--replan-minutes",
            "0",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process)
        token_file = tmp_path / "tokens.txt"
        assert token_file.stat().st_mode & 0o077 == 0  # owner-only
        read = next(
            line.split()[0] for line in token_file.read_text().splitlines() if line.endswith("read")
        )
        state = httpx.get(
            f"{base}/api/v1/state", headers={"Authorization": f"Bearer {read}"}, timeout=10
        )
        assert state.status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        try:
            out, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
    assert str(token_file.resolve()) in out
    assert read not in out  # the token itself is never printed or logged


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no-such-file.yaml"], "cannot read file"),
        (["--db", "postgresql://nobody@127.0.0.1:1/none"], "cannot open the store"),
        (["--db", "mysql://x/y"], "cannot open the store"),
    ],
)
def test_serve_bad_input_is_one_clear_line(tmp_path: Path, args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "twin.cli", "serve", "--state-dir", str(tmp_path), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_refuses_bad_tokens(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "twin.cli", "serve", "--state-dir", str(tmp_path)],
        cwd=REPO,
        env={**os.environ, "DCTWIN_TOKENS": "short=read"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "DCTWIN_TOKENS" in done.stderr and "16 characters" in done.stderr
    assert "Traceback" not in done.stderr
