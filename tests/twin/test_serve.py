"""``dctwin serve`` as a real process on a real port: start-up, bad input, and the crash test
(every batch acknowledged with a 2xx survives a ``kill -9`` right after)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.helpers import dctwin_in_process
from tests.processes import REPO, dctwin, free_port, serving
from twin.store.store import Store

TOKEN = "crash-test-token-0000001"


@pytest.fixture(params=[(), ("--ingest-process",)], ids=["in-process", "ingest-process"])
def server(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    args = ("--no-virtual-plant", "--replan-minutes", "0", *request.param)
    with serving(*args, state_dir=tmp_path, tokens=f"{TOKEN}=ingest,read") as (base, process):
        yield base, process, tmp_path


def _descendants(pid: int) -> list[int]:
    """Process ids of the children of ``pid`` and theirs."""
    found, pending = [], [pid]
    while pending:
        for task in Path(f"/proc/{pending.pop()}/task").iterdir():
            children = [int(c) for c in (task / "children").read_text().split()]
            found += children
            pending += children
    return found


def _running(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_acknowledged_batches_survive_kill_9(
    server: tuple[str, subprocess.Popen[bytes], Path],
) -> None:
    """1,000-reading batches are posted back to back; right after the 2xx of the 20th the
    server gets SIGKILL.  Every acknowledged reading is in the database file afterwards.  With
    ``--ingest-process`` (the batches committed by a child), the child ends too."""
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
    children = _descendants(process.pid)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    deadline = time.monotonic() + 10
    while any(map(_running, children)):  # the ingest child watches its parent
        assert time.monotonic() < deadline, [c for c in children if _running(c)]
        time.sleep(0.1)
    assert len(acknowledged) == 20_000
    with Store(f"sqlite:///{state_dir / 'dctwin.db'}") as store:
        assert store.count() == len(acknowledged)
        stored = {(r.point, r.time) for r in store.query(points)}
    missing = [a for a in acknowledged if (a[0], datetime.fromisoformat(a[1])) not in stored]
    assert missing == []


def test_serve_prints_where_the_demo_token_is(tmp_path: Path) -> None:
    """No DCTWIN_TOKENS: one token per scope is generated in a private file, and said where."""
    with serving("--replan-minutes", "0", state_dir=tmp_path, tokens=None) as (base, process):
        token_file = tmp_path / "tokens.txt"
        assert token_file.stat().st_mode & 0o077 == 0  # owner-only
        read = next(
            line.split()[0] for line in token_file.read_text().splitlines() if line.endswith("read")
        )
        state = httpx.get(
            f"{base}/api/v1/state", headers={"Authorization": f"Bearer {read}"}, timeout=10
        )
        assert state.status_code == 200
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    out = (tmp_path / "serve.log").read_text()
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
    port = free_port()
    done = dctwin_in_process("serve", "--port", str(port), "--state-dir", tmp_path, *args)
    assert done.returncode != 0
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert_port_released(port)


def assert_port_released(port: int) -> None:
    """The refused ``serve`` closed the socket it had bound: the port can be listened on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))  # EADDRINUSE while the refused serve's socket listens
        again.listen(1)


@pytest.mark.parametrize(
    ("option", "value", "unit"),
    [
        ("--alarm-min-duration", "-1", "seconds"),
        ("--alarm-min-duration", "nan", "seconds"),
        ("--alarm-min-duration", "inf", "seconds"),
        ("--min-cycle-ms", "-5", "milliseconds"),
        ("--min-cycle-ms", "nan", "milliseconds"),
    ],
)
def test_serve_refuses_a_bad_live_option(
    tmp_path: Path, option: str, value: str, unit: str
) -> None:
    """Refused in one line before anything loads or is written, for a hall or a fleet."""
    for scenario in ([], [str(REPO / "scenarios" / "fleet.yaml")]):
        done = dctwin_in_process(
            "serve", *scenario, "--port", str(free_port()), "--state-dir", tmp_path / "state",
            option, value,
        )  # fmt: skip
        assert done.returncode == 2
        assert done.stderr == f"{option} must be a finite number of {unit} >= 0, got {value}\n"
        assert not (tmp_path / "state").exists()


def test_serve_live_options_reach_the_twin_settings() -> None:
    """``--min-cycle-ms`` becomes the twin's ``min_cycle_s`` (and the others theirs)."""
    from twin.cli.serve_fleet import LiveOptions

    settings = LiveOptions(5.0, True, 30.0, 12.0, True, 20.0).checked().settings()
    assert settings.min_cycle_s == pytest.approx(0.02)
    assert (settings.replan_minutes, settings.autonomy, settings.retention_days) == (5, True, 30)
    assert (settings.alarm_min_duration_s, settings.ingest_process) == (12.0, True)


def test_serve_refuses_bad_tokens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DCTWIN_TOKENS", "short=read")
    port = free_port()
    done = dctwin_in_process("serve", "--port", str(port), "--state-dir", tmp_path)
    assert done.returncode != 0
    assert "DCTWIN_TOKENS" in done.stderr and "16 characters" in done.stderr
    assert "Traceback" not in done.stderr
    assert_port_released(port)


def test_serve_fleet_refuses_bad_tokens_and_releases_its_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DCTWIN_TOKENS", "short=read")
    port = free_port()
    fleet = REPO / "scenarios" / "fleet-small.yaml"
    done = dctwin_in_process("serve", fleet, "--port", str(port), "--state-dir", tmp_path)
    assert done.returncode != 0
    assert "DCTWIN_TOKENS" in done.stderr and "16 characters" in done.stderr
    assert_port_released(port)


def test_serve_refuses_malformed_yaml_and_duplicate_keys(tmp_path: Path) -> None:
    for text, message in (
        ("site: [\n", "malformed YAML"),
        ("site: {}\nsite: {}\n", "duplicate key"),
    ):
        scenario = tmp_path / "bad.yaml"
        scenario.write_text(text)
        done = dctwin_in_process(
            "serve", scenario, "--port", str(free_port()), "--state-dir", tmp_path
        )
        assert done.returncode != 0
        assert message in done.stderr
        assert "Traceback" not in done.stderr


def test_serve_reports_a_taken_port_before_loading(tmp_path: Path) -> None:
    import socket
    import time

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.perf_counter()
        done = dctwin("serve", "--port", str(port), "--state-dir", str(tmp_path))
        elapsed = time.perf_counter() - started
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"port {port} on 127.0.0.1 is already in use (another `dctwin serve`? stop it, or pick "
        f"another with --port {port + 1})"
    )
    assert "loading" not in done.stderr and not (tmp_path / "dctwin.db").exists()
    assert elapsed < 15  # no scenario, store or twin was loaded first


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_tasks_run_forwards_the_stop_signal_to_serve(tmp_path: Path, stop: signal.Signals) -> None:
    """`python3 tasks.py run` stopped with SIGTERM or Ctrl+C leaves no server behind."""
    import sys
    import time

    from tests.processes import REPO

    port = free_port()
    log = (tmp_path / "run.log").open("wb")
    runner = subprocess.Popen(
        [
            *(sys.executable, str(REPO / "tasks.py"), "run", "serve", "--port", str(port)),
            *("--state-dir", str(tmp_path), "--no-virtual-plant", "--replan-minutes", "0"),
        ],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert runner.poll() is None, (tmp_path / "run.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).is_success:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not answer"
            time.sleep(0.3)
        runner.send_signal(stop)
        assert runner.wait(timeout=30) in (0, 128 + stop)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
    finally:
        if runner.poll() is None:
            runner.kill()
        log.close()


def test_tasks_run_after_tasks_test_installs_nothing_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ``test`` install (a superset) satisfies ``run``; the converse does not."""
    import hashlib

    import tasks

    class Installs(Exception):
        pass

    def installs(message: str) -> None:  # _ensure_venv says something only when it installs
        raise Installs(message)

    digest = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()[:16]
    monkeypatch.setattr(tasks, "VENV", tmp_path)
    monkeypatch.setattr(tasks, "BIN", tmp_path / "bin")
    monkeypatch.setattr(tasks, "_say", installs)
    with pytest.raises(Installs):
        tasks._ensure_venv("")
    (tmp_path / f".installed-test-{digest}").touch()
    tasks._ensure_venv("")
    tasks._ensure_venv("test")
    (tmp_path / f".installed-test-{digest}").unlink()
    (tmp_path / f".installed-base-{digest}").touch()
    tasks._ensure_venv("")
    with pytest.raises(Installs):
        tasks._ensure_venv("test")
    (tmp_path / f".installed-base-{digest}").unlink()
    (tmp_path / ".installed-test-0123456789abcdef").touch()  # an older pyproject.toml
    with pytest.raises(Installs):
        tasks._ensure_venv("")
