"""Fixtures of the UI tests: a live twin of the demo hall fed by its virtual plant.

A controllable clock stands in for time (:class:`tests.helpers.Clock`): 40 plant ticks
30 s apart (20 min of telemetry) run in about a second, with real SQLite and physics.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import START, Clock, feed, live_twin, token_registry
from twin.api.fleet.app import create_fleet_app
from twin.api.security import TokenRegistry
from twin.fleet.live import FleetTwin
from twin.live.live_twin import LiveTwin
from ui.app import mount
from ui.callbacks import UIContext
from ui.jobs import JobRunner

ADMIN = "ui-admin-token-000000001"
APPROVER = "ui-approve-token-0000001"
READER = "ui-read-token-0000000001"


def tokens() -> TokenRegistry:
    return token_registry({ADMIN: "admin", APPROVER: "approve,read", READER: "read"})


def find_component(tree: Any, component_id: str) -> dict[str, Any] | None:
    """The component with ``component_id`` in a Dash layout's JSON (``/_dash-layout``), or
    None."""
    if isinstance(tree, list):
        for item in tree:
            found = find_component(item, component_id)
            if found is not None:
                return found
    elif isinstance(tree, dict):
        props = tree.get("props", {})
        if props.get("id") == component_id:
            return dict(tree)
        for value in props.values():
            found = find_component(value, component_id)
            if found is not None:
                return found
    return None


@contextmanager
def fleet_ui(fleet: FleetTwin, token: str) -> Iterator[TestClient]:
    """The fleet's API with the web UI mounted (the first site's twin), logged in with
    ``token`` (one of :func:`tokens`), through a TestClient."""
    registry = tokens()
    api = create_fleet_app(fleet, registry, start_background=False, root_redirect=False)
    mount(api, next(iter(fleet.twins.values())), registry)
    with TestClient(api, base_url="http://127.0.0.1") as client:
        login = client.post("/login", data={"token": token}, follow_redirects=False)
        assert login.status_code == 303, login.text
        yield client


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveTwin, Clock]]:
    """A twin with 20 min of telemetry (shared by a module's tests: read-only use)."""
    clock = Clock(START)
    twin = live_twin(tmp_path_factory.mktemp("ui"), clock, virtual_plant=True)
    feed(twin, clock, 40)
    yield twin, clock
    twin.store.close()


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[tuple[LiveTwin, Clock]]:
    """A twin of its own with 10 min of telemetry (for tests that change plans)."""
    clock = Clock(START)
    twin = live_twin(tmp_path, clock, virtual_plant=True)
    feed(twin, clock, 20)
    yield twin, clock
    twin.store.close()


@pytest.fixture
def context(fresh: tuple[LiveTwin, Clock]) -> Iterator[UIContext]:
    runner = JobRunner(workers=1)
    yield UIContext(fresh[0], tokens(), runner)
    runner.shutdown()


PLOTLY_TRACES_JS = """() => {
    const registered = window.Plotly ? Object.keys(window.Plotly.PlotSchema.get().traces) : [];
    const drawn = [];
    document.querySelectorAll('.js-plotly-plot').forEach((gd) =>
        (gd.data || []).forEach((t) => drawn.push(t.type || 'scatter')));
    return [registered, drawn];
}"""


def plotly_traces(tab: Any) -> tuple[set[str], set[str]]:
    """Trace types of the plotly.js the browser ``tab`` loaded, and those of every trace
    drawn in its page (a type missing from the bundle would draw nothing)."""
    registered, drawn = tab.evaluate(PLOTLY_TRACES_JS)
    return set(registered), set(drawn)
