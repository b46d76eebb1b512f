"""A small live fleet for tests: the small example fleet (two demo halls and the London edge pod)
over one day, its jobs scaled to fit the day, one SQLite store per site."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from fastapi.testclient import TestClient

from optimizer.planner import PlanOptions
from tests.helpers import SCENARIOS, token_registry
from twin.api.fleet.app import create_fleet_app
from twin.fleet.live import FleetTwin, open_fleet
from twin.live.live_twin import LiveSettings

FLEET_TOKENS = {
    "read": "fleet-read-token-0000001",
    "ingest": "fleet-ingest-token-00001",
    "approve": "fleet-approve-token-0001",
}
"""A token per scope (``approve`` also reads)."""


def fleet_auth(scope: str) -> dict[str, str]:
    """The bearer header of the test token with ``scope``."""
    return {"Authorization": f"Bearer {FLEET_TOKENS[scope]}"}


def wait_for_job(client: TestClient, location: str, timeout: float = 300.0) -> dict[str, Any]:
    """The fleet re-plan job at ``location`` once it is no longer running, asked every 0.1 s
    (a job takes seconds: a coarser poll adds up to its interval of idle wait each time).

    Raises
    ------
    AssertionError
        Still running after ``timeout`` [s].
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(location, headers=fleet_auth("read")).json()
        if job["status"] != "running":
            return dict(job)
        time.sleep(0.1)
    raise AssertionError(f"fleet re-plan still running after {timeout:g} s")


def one_day_fleet(folder: Path) -> Path:
    """``scenarios/fleet-small.yaml`` over one day (jobs: 4 MWh of fine-tuning between 2 h and 20 h,
    150 kWh of video analytics by 20 h), written to ``folder / "fleet.yaml"``."""
    data: dict[str, Any] = yaml.safe_load((SCENARIOS / "fleet-small.yaml").read_text())
    data["simulation"]["duration"] = "1 d"
    for site in data["sites"]:
        site["scenario"] = str(SCENARIOS / site["scenario"])
    jobs = {job["name"]: job for job in data["jobs"]}
    jobs["finetune-batch"].update(energy="4000 kWh", release="2 h", deadline="20 h")
    jobs["video-analytics-batch"].update(energy="150 kWh", release="0 h", deadline="20 h")
    path = folder / "fleet.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def live_fleet(folder: Path, clock: Any = None, *, virtual_plant: bool = False) -> FleetTwin:
    """The one-day fleet live, stores ``folder/<site>.db``, no re-plan timer."""
    options: dict[str, Any] = {} if clock is None else {"clock": clock}
    return open_fleet(
        one_day_fleet(folder),
        f"sqlite:///{folder}/{{site}}.db",
        LiveSettings(replan_minutes=0),
        virtual_plant=virtual_plant,
        plan_options=PlanOptions(time_limit=60.0),
        **options,
    )


@contextmanager
def running_fleet(folder: Path, clock: Any = None) -> Iterator[FleetTwin]:
    """:func:`live_fleet` in ``folder`` (on ``clock`` if given), stopped and closed after the
    block."""
    live = live_fleet(folder, clock)
    try:
        yield live
    finally:
        live.stop()
        live.close()


@contextmanager
def fleet_api(fleet: FleetTwin, more: dict[str, str] | None = None) -> Iterator[TestClient]:
    """The fleet's FastAPI app (no background threads) with :data:`FLEET_TOKENS`, the approve
    token reading too, and the tokens of ``more`` (token: scopes), through a TestClient."""
    scopes = {token: scope for scope, token in FLEET_TOKENS.items()}
    scopes[FLEET_TOKENS["approve"]] = "read,approve"
    scopes.update(more or {})
    registry = token_registry(scopes)
    with TestClient(create_fleet_app(fleet, registry, start_background=False)) as client:
        yield client
