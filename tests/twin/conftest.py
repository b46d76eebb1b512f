"""Fixtures shared by the live twin's service tests: a stopped clock and a live twin on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import START, Clock, live_twin
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
