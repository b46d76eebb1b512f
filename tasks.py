#!/usr/bin/env python3
"""The two commands of dctwin, with nothing but Python >= 3.11 installed.

    python3 tasks.py run     # set up .venv if needed, then run the main job
    python3 tasks.py test    # set up .venv with test tools; ruff, mypy, import layers, pytest

Extra arguments after ``run`` go to the ``dctwin`` CLI (default: ``serve``, the live twin of the
demo hall with its virtual plant on http://127.0.0.1:8050);
extra arguments after ``test`` are passed to pytest (which runs on one worker per core with
pytest-xdist; ``-n 0`` runs it in one process).  The virtual environment lives in ``.venv``
next to this file and is reinstalled whenever ``pyproject.toml`` changes.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
DEFAULT_RUN = ["serve"]


def _say(message: str) -> None:
    print(f"[tasks] {message}", flush=True)


def _ensure_venv(extras: str) -> None:
    """Create ``.venv`` and install the project (editable) with ``extras`` when out of date.

    An install with the ``test`` extras also satisfies the plain one (``run`` after ``test``
    installs nothing again): the extras only add packages.
    """
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    stamp = VENV / f".installed-{extras or 'base'}-{digest}"
    if stamp.exists() or (not extras and (VENV / f".installed-test-{digest}").exists()):
        return
    if not (BIN / "python").exists():
        _say(f"creating virtual environment in {VENV}")
        venv.EnvBuilder(with_pip=True, clear=False).create(VENV)
    _say("installing dctwin and its dependencies (first run takes a minute or two)")
    pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    target = f".[{extras}]" if extras else "."
    subprocess.run([*pip, "-e", target], check=True, cwd=ROOT)
    for old in VENV.glob(f".installed-{extras or 'base'}-*"):
        old.unlink()
    stamp.touch()


def _run(cmd: list[str]) -> int:
    _say("$ " + " ".join(cmd))
    return subprocess.run(cmd, cwd=ROOT).returncode


def _run_forwarding_signals(cmd: list[str]) -> int:
    """Run ``cmd`` in its own process group and pass SIGINT/SIGTERM on to it.

    Stopping ``tasks.py run`` (Ctrl+C, ``kill <pid>``) stops the server it started, exactly once:
    the child does not also receive the terminal's Ctrl+C, and this waits for it to exit.
    """
    _say("$ " + " ".join(cmd))
    if os.name == "nt":  # no process groups or SIGTERM forwarding there
        return subprocess.run(cmd, cwd=ROOT).returncode
    child = subprocess.Popen(cmd, cwd=ROOT, process_group=0)

    def forward(number: int, frame: object) -> None:
        if child.poll() is None:
            child.send_signal(number)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = child.wait()
        return 128 - code if code < 0 else code  # killed by signal N: exit 128 + N, as a shell
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def run(args: list[str]) -> int:
    _ensure_venv("")
    return _run_forwarding_signals([str(BIN / "dctwin"), *(args or DEFAULT_RUN)])


def test(args: list[str]) -> int:
    _ensure_venv("test")
    steps = [
        [str(BIN / "ruff"), "check", "."],
        [str(BIN / "ruff"), "format", "--check", "."],
        [str(BIN / "mypy")],
        [str(BIN / "lint-imports")],
    ]
    for step in steps:
        code = _run(step)
        if code != 0:
            _say(f"FAILED: {' '.join(step)} (exit {code})")
            return code
    # pytest-xdist, one worker per core (``-n 0`` among the extra arguments turns it off).
    # ``loadgroup``: tests spread one by one, except those of an ``xdist_group`` (modules whose
    # server, browser or plans are module fixtures), which run on one worker and build them
    # once.  It keys tests by node id; tests/conftest.py refuses duplicate node ids.
    code = _run([str(BIN / "python"), "-m", "pytest", "-n", "auto", "--dist", "loadgroup", *args])
    if code == 5:
        _say("FAILED: pytest collected no tests")
        return 1
    return code


def main() -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 - this file must run on any python3 to say so
        print(f"dctwin needs Python >= 3.11; this is {sys.version.split()[0]}")
        return 2
    if len(sys.argv) < 2 or sys.argv[1] not in {"run", "test"}:
        print(__doc__)
        return 2
    command, rest = sys.argv[1], sys.argv[2:]
    return run(rest) if command == "run" else test(rest)


if __name__ == "__main__":
    sys.exit(main())
