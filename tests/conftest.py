"""Shared pytest fixtures: the public reference data and the demo hall over one day."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import xarray as xr
import yaml

from physics.facility import Facility
from twin.data.series import scenario_series
from twin.scenario.compile import compile_facility
from twin.scenario.loader import scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The public reference data folder ``<repo root>/../shared/data``, or skip."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"../shared/data not found: {SHARED_DATA} (public reference data absent)")
    return SHARED_DATA


def demo_hall_dict(days: int = 1) -> dict[str, Any]:
    """The demo hall scenario as a dict, on generated demo series for ``days`` days."""
    data = yaml.safe_load((ROOT / "scenarios" / "demo-hall.yaml").read_text())
    data["simulation"]["duration"] = f"{days} d"
    data["series"] = [{"generate": "demo"}]
    for work in data["workloads"]:
        if work["tier"] == 3:
            work["release"], work["deadline"] = "0 h", f"{days} d"
    data["grid"]["demand_response"] = []
    return data


@pytest.fixture(scope="session")
def demo_day() -> tuple[Facility, xr.Dataset]:
    """(facility, series) of the demo hall over one generated day."""
    scenario = scenario_from_dict(demo_hall_dict(1))
    return compile_facility(scenario), scenario_series(scenario, ROOT / "scenarios")
