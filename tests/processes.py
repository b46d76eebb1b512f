"""Running ``dctwin`` as a user would, for tests and benchmarks: one-shot commands and a
``dctwin serve`` process on a free port of 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
"""Debian's Chromium (``apt-get install chromium``); no browser is ever downloaded."""
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Headless, as root, on a machine with no outside network: without the background-networking
flags Chromium keeps opening connections this machine refuses."""


def dctwin(
    *args: str | Path, cwd: Path = REPO, env: Mapping[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m twin.cli ARGS`` and return the finished process (never raises on a
    non-zero exit).

    Parameters
    ----------
    args
        Command-line arguments.
    cwd
        Working folder (default: the repository root).
    env
        Environment (default: this process's).
    timeout
        Longest run [s].
    """
    return subprocess.run(
        [sys.executable, "-m", "twin.cli", *map(str, args)],
        cwd=cwd,
        env=dict(env) if env is not None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def in_ci() -> bool:
    """Whether the ``CI`` environment variable asks for a strict run (missing real components
    fail instead of skipping)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_chromium() -> None:
    """At a browser test module's top: skip the module when Debian's Chromium is missing
    (fail it on CI, where ``.ci/run`` installs it)."""
    import pytest

    if CHROMIUM.exists():
        return
    if in_ci():
        pytest.fail(
            f"{CHROMIUM} is missing on CI (.ci/run installs Debian's chromium)", pytrace=False
        )
    pytest.skip(
        f"{CHROMIUM} not installed (apt-get install chromium); browser tests skipped",
        allow_module_level=True,
    )


def free_port() -> int:
    """A TCP port of 127.0.0.1 free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeFailed(RuntimeError):
    """``dctwin serve`` exited or did not answer in time (the message holds its log)."""


@contextmanager
def serving(
    *args: str,
    state_dir: Path,
    tokens: str | None,
    timeout: float = 90.0,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``dctwin serve ARGS --port P --state-dir DIR`` until it answers ``/api/v1/health``.

    Yields the base URL and the process; on exit the process is terminated (killed after
    10 s) if still running.  Its output goes to ``state_dir / "serve.log"``.

    Parameters
    ----------
    args
        Extra ``serve`` arguments (scenario, ``--no-virtual-plant``, ``--replan-minutes 0`` …).
    state_dir
        Folder for the store, the demo tokens and the log.
    tokens
        ``DCTWIN_TOKENS`` value; None removes the variable (the demo then writes its tokens).
    timeout
        Longest wait for the first healthy answer [s].

    Raises
    ------
    ServeFailed
        The process exited, or did not answer within ``timeout``.
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DCTWIN_TOKENS"}
    if tokens is not None:
        env["DCTWIN_TOKENS"] = tokens
    log_path = state_dir / "serve.log"
    with log_path.open("wb") as log:
        command = [sys.executable, "-m", "twin.cli", "serve", "--port", str(port)]
        process = subprocess.Popen(
            [*command, "--state-dir", str(state_dir), *args],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    raise ServeFailed(f"dctwin serve exited:\n{log_path.read_text()}")
                try:
                    if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise ServeFailed(f"dctwin serve did not answer within {timeout:g} s")
                time.sleep(0.2)
            yield base, process
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
