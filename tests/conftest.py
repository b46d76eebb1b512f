"""Shared pytest fixtures: the public reference data and the demo hall over one day.

The builders behind them are in :mod:`tests.helpers`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import xarray as xr

from physics.facility import Facility
from tests.helpers import ROOT, demo_hall_dict, facility_and_series

SHARED_DATA = ROOT.parent / "shared" / "data"


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
