"""Shared pytest fixtures: the public reference data and the demo hall over one day.

The builders behind them are in :mod:`tests.helpers`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import xarray as xr

    from physics.facility import Facility

# tests.helpers (the twin, its API and CLI) is imported where a fixture needs it: with
# pytest-xdist this file is also loaded by the controlling process, which runs no test.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.hookimpl(trylast=True)  # after pytest-xdist's own hook
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Send each ``xdist_group`` to one worker, and refuse duplicate node ids.

    With ``--dist loadgroup`` (``tasks.py test``) pytest-xdist suffixes the node id of a test
    marked ``xdist_group(NAME)`` with ``@NAME`` and runs each group on one worker, so a
    module's server, browser or plans (module fixtures) are built once.  pytest-xdist 3.8
    writes the suffix to ``Item._nodeid``, which pytest 9 no longer reads: the marks were
    silently ignored.  The suffix is set here on the node id pytest 9 reports (a no-op where
    xdist's own suffix took).  The scheduler keys tests by node id, so of tests sharing one
    it would run only one (as happened to the schemathesis cases once): refused.
    """
    if getattr(config.option, "loadgroup", False):
        for item in items:
            names = {
                str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                for mark in item.iter_markers("xdist_group")
            }
            node_id = getattr(item, "_id", None)
            if names and node_id is not None and "@" not in item.nodeid:
                item._id = type(node_id).parse(f"{item.nodeid}@{'_'.join(sorted(names))}")
    counts = Counter(item.nodeid for item in items)
    shared = sorted(nodeid for nodeid, count in counts.items() if count > 1)
    if shared:
        raise pytest.UsageError(f"{len(shared)} node ids are not unique, e.g. {shared[0]}")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The public reference data folder ``<repo root>/../shared/data``, or skip."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"../shared/data not found: {SHARED_DATA} (public reference data absent)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def demo_day() -> tuple[Facility, xr.Dataset]:
    """(facility, series) of the demo hall over one generated day."""
    from tests.helpers import demo_hall_dict, facility_and_series

    return facility_and_series(demo_hall_dict(1))
