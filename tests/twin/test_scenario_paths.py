"""Relative series paths resolve against the scenario file's folder, not the working
directory (``load_scenario`` then ``scenario_series`` without a folder)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import xarray as xr

from twin.data.series import scenario_series
from twin.data.validation import SeriesError
from twin.scenario.loader import load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[2]


def test_relative_series_path_from_the_scenario_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the demo's layout (scenarios/demo-hall.yaml reads ../data/demo-week.csv) elsewhere
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "data").mkdir()
    shutil.copy(ROOT / "scenarios" / "demo-hall.yaml", tmp_path / "scenarios")
    shutil.copy(ROOT / "data" / "demo-week.csv", tmp_path / "data")
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)  # ../data from here does not exist
    scenario = load_scenario(Path("../../scenarios/demo-hall.yaml"))
    series = scenario_series(scenario)
    expected = scenario_series(scenario, tmp_path / "scenarios")
    xr.testing.assert_identical(series, expected)
    assert series.sizes["time"] == 672
    # an explicit folder still wins
    with pytest.raises(SeriesError, match="does not exist"):
        scenario_series(scenario, elsewhere)


def test_scenario_built_in_memory_resolves_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_memory = parse_scenario((ROOT / "scenarios" / "demo-hall.yaml").read_text())
    monkeypatch.chdir(ROOT / "scenarios")
    assert scenario_series(in_memory).sizes["time"] == 672
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SeriesError, match="does not exist"):
        scenario_series(in_memory)
