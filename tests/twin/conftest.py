"""Fixtures shared by the twin's tests: a stopped clock, a live twin on it, and an empty
database on each store backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import START, Clock, live_twin
from tests.postgres import fresh_database, postgres_url  # noqa: F401  (registers the fixture)
from twin.live.live_twin import LiveTwin


@pytest.fixture
def clock() -> Clock:
    """A clock standing at ``START`` that the test moves by hand."""
    return Clock(START)


@pytest.fixture
def twin(tmp_path: Path, clock: Clock) -> Iterator[LiveTwin]:
    """The demo hall's live twin on ``clock`` (plans limited to 30 s), stopped afterwards."""
    live = live_twin(tmp_path, clock, plan_time_limit_s=30)
    yield live
    live.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh database on the PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    server = request.getfixturevalue("postgres_url")
    with fresh_database(server) as database:
        yield database
