"""A real MQTT broker for tests: Debian's Mosquitto (``apt-get install mosquitto``) started
on a free port of 127.0.0.1 with a throwaway configuration, stopped at the end.

When ``mosquitto`` is not installed the tests that need it are skipped with the reason —
except when the ``CI`` environment variable is set: CI must test MQTT, so they fail
(``.ci/run`` installs the package).

Use: ``from tests.mosquitto import mosquitto`` in a test module registers the fixture; it
yields a :class:`Mosquitto` that can also be stopped and started again (same port) to test
reconnection.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import free_port, in_ci

__all__ = ["Mosquitto", "MosquittoUnavailable", "mosquitto", "mosquitto_binary"]


class MosquittoUnavailable(RuntimeError):
    """No Mosquitto broker can be started here."""


def mosquitto_binary() -> Path:
    """Path of Debian's ``mosquitto`` (``/usr/sbin/mosquitto``, or on PATH)."""
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/bin")
    if not found:
        raise MosquittoUnavailable("mosquitto not found (apt-get install mosquitto)")
    return Path(found)


class Mosquitto:
    """One broker process on 127.0.0.1:``port`` (anonymous, no persistence, log in
    ``folder/mosquitto.log``).

    Parameters
    ----------
    folder
        Folder for the configuration and the log.
    """

    def __init__(self, folder: Path) -> None:
        self.binary = mosquitto_binary()
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.config = folder / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence false\n"
            "log_dest stderr\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
        )

    @property
    def url(self) -> str:
        """``mqtt://127.0.0.1:<port>``."""
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        """Start the broker and wait until it accepts connections.

        Raises
        ------
        MosquittoUnavailable
            It exited or did not listen within ``timeout`` [s].
        """
        log = (self.folder / "mosquitto.log").open("ab")
        self.process = subprocess.Popen(
            [str(self.binary), "-c", str(self.config)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise MosquittoUnavailable(f"mosquitto exited:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise MosquittoUnavailable(f"mosquitto did not listen within {timeout:g} s:\n{self.log()}")

    def stop(self) -> None:
        """Stop the broker (sessions and queued messages are lost: no persistence)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def log(self) -> str:
        """The broker's log so far."""
        path = self.folder / "mosquitto.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


@pytest.fixture
def mosquitto() -> Iterator[Mosquitto]:
    """A running broker of its own for one test (skip, or fail in CI, when impossible)."""
    folder = Path(tempfile.mkdtemp(prefix="dctwin-mqtt-"))
    try:
        broker = Mosquitto(folder)
        broker.start()
    except MosquittoUnavailable as exc:
        shutil.rmtree(folder, ignore_errors=True)
        if in_ci():
            pytest.fail(f"CI must test MQTT, but Mosquitto is not available: {exc}")
        pytest.skip(f"Mosquitto not available: {exc}")
    try:
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(folder, ignore_errors=True)
