"""Fixtures of the UI tests: a live twin of the demo hall fed by its virtual plant.

A controllable clock stands in for time (as in tests/twin/test_live.py): 40 plant ticks
30 s apart (20 min of telemetry) run in about a second, with real SQLite and physics.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from twin.api.security import TokenRegistry
from twin.live.live_twin import LiveSettings, LiveTwin
from twin.store.store import Store
from ui.callbacks import UIContext
from ui.jobs import JobRunner

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "demo-hall.yaml"
START = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
TICK = timedelta(seconds=30)
ADMIN = "ui-admin-token-000000001"
APPROVER = "ui-approve-token-0000001"
READER = "ui-read-token-0000000001"


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


def feed(twin: LiveTwin, clock: Clock, ticks: int) -> None:
    """``ticks`` virtual-plant readings 30 s apart, processed."""
    for _ in range(ticks):
        twin.plant_tick()
        twin.drain()
        clock.now += TICK


def make_twin(folder: Path, clock: Clock) -> LiveTwin:
    data = yaml.safe_load(SCENARIO.read_text())
    store = Store(f"sqlite:///{folder / 'twin.db'}")
    return LiveTwin(
        data,
        SCENARIO.parent,
        store,
        LiveSettings(replan_minutes=0),
        virtual_plant=True,
        clock=clock,
    )


def tokens() -> TokenRegistry:
    return TokenRegistry.from_spec(f"{ADMIN}=admin;{APPROVER}=approve,read;{READER}=read")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveTwin, Clock]]:
    """A twin with 20 min of telemetry (shared by a module's tests: read-only use)."""
    clock = Clock(START)
    twin = make_twin(tmp_path_factory.mktemp("ui"), clock)
    feed(twin, clock, 40)
    yield twin, clock
    twin.store.close()


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[tuple[LiveTwin, Clock]]:
    """A twin of its own with 10 min of telemetry (for tests that change plans)."""
    clock = Clock(START)
    twin = make_twin(tmp_path, clock)
    feed(twin, clock, 20)
    yield twin, clock
    twin.store.close()


@pytest.fixture
def context(fresh: tuple[LiveTwin, Clock]) -> Iterator[UIContext]:
    runner = JobRunner(workers=1)
    yield UIContext(fresh[0], tokens(), runner)
    runner.shutdown()
