"""Shared pytest fixtures: the public reference data and the demo hall over one day.

The builders behind them are in :mod:`tests.helpers`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import xarray as xr

from physics.facility import Facility
from tests.helpers import ROOT, demo_hall_dict, facility_and_series

SHARED_DATA = ROOT.parent / "shared" / "data"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Refuse a collection where two tests share a node id.

    pytest-xdist's ``loadgroup`` scheduler (``tasks.py test``) keys tests by node id: of tests
    sharing one, it would run only one (as happened to the schemathesis cases once).
    """
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
    return facility_and_series(demo_hall_dict(1))
