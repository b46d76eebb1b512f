"""Per-equipment series streamed to a NetCDF-4 file (``simulate(store=...)``).

The file must hold exactly what the in-memory run keeps (bit for bit, same dtypes and
attributes), for chunks that do not line up with the write windows, in both precisions, and
open alone as a CF dataset.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import physics.simulate
from physics.facility import Facility
from physics.runtime.stream import SeriesWriter
from physics.schedule import as_operated_schedule
from physics.simulate import simulate, summarize
from physics.violations import find_violations
from physics.warnings import CurveRangeWarning
from twin.data.series import scenario_series
from twin.scenario.compile import compile_facility
from twin.scenario.loader import scenario_from_dict
from twin.scenario.synthetic import synthetic_hall

pytestmark = pytest.mark.xdist_group("stream")  # module fixtures built once


@pytest.fixture(scope="module")
def hall_day() -> tuple[Facility, xr.Dataset]:
    """A synthetic ORv3 hall of 150 racks over a day (the compiled power chain)."""
    scenario = scenario_from_dict(synthetic_hall(150, days=1, step="15 min"))
    return compile_facility(scenario), scenario_series(scenario)


def _simulate(facility: Facility, series: xr.Dataset, **options: object) -> xr.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CurveRangeWarning)
        return simulate(facility, as_operated_schedule(facility, series), series, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("precision", ["double", "single"])
def test_streamed_series_equal_the_in_memory_ones(
    demo_day: tuple[Facility, xr.Dataset],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    precision: str,
) -> None:
    """Windows of 2 chunks of 5 steps (96 steps: a partial last window): identical result."""
    facility, series = demo_day
    memory = _simulate(facility, series, chunk_steps=5, precision=precision)
    widest = max(facility.racks.count, facility.busbars.count)
    monkeypatch.setattr(physics.simulate, "WINDOW_BYTES", 8 * widest * 10)
    path = tmp_path / "series.nc"
    streamed = _simulate(facility, series, chunk_steps=5, precision=precision, store=path)
    per_equipment = [n for n in memory.data_vars if memory[n].ndim == 2 and n != "workload_power"]
    per_equipment.remove("supply_temperature")  # the schedule's, not a simulated series
    assert {"inlet_temperature", "busbar_collapsed", "crah_airflow", "feed_power"} <= set(
        per_equipment
    )
    for name in per_equipment:
        assert streamed[name].chunks is not None, name  # lazy, read from the file
        assert streamed[name].data.chunks[0][:2] == (10, 10), name
    loaded = streamed.load()
    xr.testing.assert_identical(loaded, memory)
    for name in memory.data_vars:
        assert loaded[name].dtype == memory[name].dtype, name
    if precision == "single":
        assert loaded["busbar_collapsed"].dtype == bool
        assert loaded["inlet_temperature"].dtype == np.float32


def test_the_file_is_a_cf_dataset_of_the_kept_series(
    hall_day: tuple[Facility, xr.Dataset], tmp_path: Path
) -> None:
    """Opened alone: UTC time, rack ids, CF attrs; only what ``outputs`` keeps is written."""
    facility, series = hall_day
    path = tmp_path / "lean.nc"
    kept = ["inlet_temperature", "rack_power"]
    ds = _simulate(facility, series, outputs=kept, store=path)
    memory = _simulate(facility, series, outputs=kept)
    xr.testing.assert_identical(ds.load(), memory)
    with xr.open_dataset(path, engine="h5netcdf") as stored:
        assert sorted(stored.data_vars) == sorted(kept)
        np.testing.assert_array_equal(stored["time"].values, series["time"].values)
        assert stored["time"].attrs["timezone"] == "UTC"
        assert list(stored["rack"].values) == list(memory["rack"].values)
        for name in kept:
            assert {"units", "long_name"} <= set(stored[name].attrs), name
            np.testing.assert_array_equal(stored[name].values, memory[name].values)
    facility_only = _simulate(facility, series, per_rack=False, outputs=[], store=path)
    with xr.open_dataset(path, engine="h5netcdf") as stored:
        assert list(stored.data_vars) == []
    assert "inlet_temperature" not in facility_only
    np.testing.assert_array_equal(facility_only["grid_power"], memory["grid_power"])


def test_writer_splits_chunks_across_windows(tmp_path: Path) -> None:
    """Chunks of 4 steps into windows of 3: every step lands once, in order; out of order raises."""
    time = np.arange(10).astype("datetime64[h]").astype("datetime64[ns]")
    coords = {"time": time, "rack": np.array(["a", "b"])}
    writer = SeriesWriter(tmp_path / "w.nc", coords, {"rack_power": "rack"}, 3, ())
    values = np.arange(20.0).reshape(10, 2)
    for start in range(0, 10, 4):
        writer.add({"rack_power": values[start : start + 4]}, start)
    with pytest.raises(ValueError, match="in order"):
        writer.add({"rack_power": values[:4]}, 0)
    writer.close()
    writer.close()  # closing twice is harmless
    (lazy,) = writer.series().values()
    assert lazy.chunks[0] == (3, 3, 3, 1)
    np.testing.assert_array_equal(np.asarray(lazy), values)


def test_summary_and_violations_read_the_lazy_series(
    demo_day: tuple[Facility, xr.Dataset], tmp_path: Path
) -> None:
    """``summarize`` and ``find_violations`` give the same answers on a streamed result."""
    facility, series = demo_day
    schedule = as_operated_schedule(facility, series)
    hot = dataclasses.replace(
        schedule, supply_temperature=np.full_like(schedule.supply_temperature, 26.0)
    )
    memory = simulate(facility, hot, series)
    streamed = simulate(facility, hot, series, store=tmp_path / "hot.nc")
    assert summarize(streamed) == summarize(memory)
    found = [v.message for v in find_violations(facility, streamed)]
    assert found and found == [v.message for v in find_violations(facility, memory)]
