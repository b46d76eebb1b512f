"""Tests of twin.data: loaders, validation, gap filling, resampling, demo data, CSV."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from physics.variables import VARIABLES
from twin.data.csv import read_series_csv, write_series_csv
from twin.data.demo import DEMO_START, generate_demo_series, write_demo_data
from twin.data.loaders import (
    available_zones,
    load_carbon_csv,
    load_cpu_trace,
    load_epw,
    load_open_meteo,
    load_price_csv,
    load_zone,
)
from twin.data.resample import resample
from twin.data.validation import SeriesError, fill_gaps, validate_series

REPO = Path(__file__).resolve().parents[2]
DEMO_FILE = REPO / "data" / "demo-week.csv"
PRICE_HEADER = "Datetime (UTC),Datetime (Local),Price (USD/MWh)\n"


def _t(text: str) -> np.datetime64:
    """Naive-UTC instant as stored in the datasets."""
    return np.datetime64(text, "ns")


def _series(start: str, step: str, **columns: list[float]) -> xr.Dataset:
    """Small synthetic dataset on a naive-UTC axis (as the loaders produce)."""
    count = len(next(iter(columns.values())))
    times = pd.date_range(start, periods=count, freq=step).to_numpy("datetime64[ns]")
    ds = xr.Dataset({k: ("time", np.asarray(v, dtype=float)) for k, v in columns.items()})
    ds = ds.assign_coords(time=times)
    for name in columns:
        ds[name].attrs.update(VARIABLES[name].attrs)
    return ds


def _price_file(tmp_path: Path, name: str, rows: list[tuple[str, str]]) -> Path:
    path = tmp_path / name
    body = "".join(f"{time}+00:00,{time},{price}\n" for time, price in rows)
    path.write_text(PRICE_HEADER + body, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------
# loaders on the real public files
# ------------------------------------------------------------------------------------------


@pytest.mark.requires_shared_data
def test_price_ercot(shared_data: Path) -> None:
    ds = load_price_csv(shared_data / "grid" / "US-TEX-ERCO" / "price_2023.csv")
    assert ds.sizes["time"] == 8760
    assert ds.time.dtype == np.dtype("datetime64[ns]")
    assert ds.time.values[0] == _t("2023-01-01T00:00")
    assert ds.time.values[-1] == _t("2023-12-31T23:00")
    assert ds.price.values[0] == 10.42
    assert ds.price.attrs["units"] == "USD MWh-1"
    assert ds.time.attrs == {"standard_name": "time", "long_name": "Time (UTC)", "timezone": "UTC"}
    assert ds.price.max() > 4000  # ERCOT scarcity pricing is kept
    validate_series(ds, step="1h")


@pytest.mark.requires_shared_data
def test_price_germany_negative_prices(shared_data: Path) -> None:
    ds = load_price_csv(shared_data / "grid" / "DE-LU" / "price_2023.csv")
    assert ds.price.values[0] == pytest.approx(-3.3622368)
    assert (ds.price < 0).sum() > 0


@pytest.mark.requires_shared_data
def test_carbon_direct_and_lca(shared_data: Path) -> None:
    path = shared_data / "grid" / "US-TEX-ERCO" / "carbon_2023.csv"
    direct = load_carbon_csv(path)
    lca = load_carbon_csv(path, basis="lca")
    assert direct.sizes["time"] == lca.sizes["time"] == 8760
    assert direct.time.values[0] == _t("2023-01-01T00:00")
    assert direct.carbon_intensity.values[0] == 269.79
    assert lca.carbon_intensity.values[0] == 318.54
    assert direct.carbon_intensity.attrs["units"] == "g kW-1 h-1"
    assert lca.carbon_intensity.attrs["basis"] == "lca"
    assert direct.attrs["estimated_values"] == 0
    germany = load_carbon_csv(shared_data / "grid" / "DE-LU" / "carbon_2023.csv")
    assert germany.attrs["estimated_values"] == 30


@pytest.mark.requires_shared_data
def test_open_meteo_fixed_offset(shared_data: Path) -> None:
    # Dallas: the file states utc_offset_seconds = -18000 (CDT) for the whole year; local
    # 2023-01-01T00:00 is therefore 05:00 UTC, and there is no DST jump inside the series.
    ds = load_open_meteo(shared_data / "grid" / "US-TEX-ERCO" / "weather_2023.json")
    assert ds.sizes["time"] == 8760
    assert ds.time.values[0] == _t("2023-01-01T05:00")
    assert ds.time.values[-1] == _t("2024-01-01T04:00")
    assert ds.outdoor_temperature.values[0] == 16.9
    assert ds.relative_humidity.values[0] == 56.0
    assert ds.wind_speed.values[0] == pytest.approx(20.8 / 3.6)  # 20.8 km/h in the file
    assert ds.wind_speed.attrs["units"] == "m s-1"
    assert ds.cloud_cover.attrs["units"] == "%"
    assert ds.attrs["utc_offset_seconds"] == -18000
    germany = load_open_meteo(shared_data / "grid" / "DE-LU" / "weather_2023.json")
    assert germany.time.values[0] == _t("2022-12-31T23:00")
    assert germany.outdoor_temperature.values[0] == 12.9


@pytest.mark.requires_shared_data
def test_open_meteo_afternoon_maximum_is_physical(shared_data: Path) -> None:
    # Evidence for the fixed-offset reading: the mean daily maximum falls 1.5-3.5 h after
    # solar noon in both winter and summer (a DST-aware reading would shift one season by 1 h).
    # The lower bound is 1.5 h, not 2 h: in Singapore's north-east monsoon (Dec-Feb) afternoon
    # convection cuts the heating early and the maximum comes 1.9 h after solar noon; Singapore
    # has no DST, so this is weather, not a clock error. The mid-latitude zones lie at 2.2-3.4 h.
    for zone in available_zones(shared_data):
        ds = load_open_meteo(shared_data / "grid" / zone / "weather_2023.json")
        noon_utc = 12.0 - ds.attrs["longitude"] / 15.0
        for months in ((12, 1, 2), (6, 7, 8)):
            part = ds.outdoor_temperature.where(ds.time.dt.month.isin(months), drop=True)
            profile = part.groupby("time.hour").mean().values
            angle = 2 * np.pi * np.arange(24) / 24
            peak = np.degrees(np.arctan2(profile @ np.sin(angle), profile @ np.cos(angle))) / 15
            lag = (peak - noon_utc) % 24
            assert 1.5 < lag < 3.5, (zone, months, lag)


@pytest.mark.requires_shared_data
def test_epw_phoenix(shared_data: Path) -> None:
    path = shared_data / "weather_epw" / "USA_AZ_Phoenix-Sky.Harbor.epw"
    ds = load_epw(path)
    # first row: 2021-01-01 hour 1 (00:00-01:00 MST, UTC-7) -> 01:00 MST = 08:00 UTC
    assert ds.sizes["time"] == 8760
    assert ds.attrs["year"] == 2021
    assert ds.time.values[0] == _t("2021-01-01T08:00")
    assert ds.time.values[-1] == _t("2022-01-01T07:00")
    assert ds.outdoor_temperature.values[0] == 8.3
    assert ds.relative_humidity.values[0] == 33.0
    assert ds.global_horizontal_irradiance.values[0] == 0.0
    assert ds.global_horizontal_irradiance.attrs["units"] == "W m-2"
    assert ds.attrs["utc_offset_hours"] == -7.0
    # irradiance peaks in the hour that contains solar noon (19:28 UTC at 112.0 W)
    july = ds.global_horizontal_irradiance.where(ds.time.dt.month == 7, drop=True)
    assert int(np.argmax(july.groupby("time.hour").mean().values)) == 20

    mapped = load_epw(path, year=2023)
    assert mapped.time.values[0] == _t("2023-01-01T08:00")
    np.testing.assert_array_equal(mapped.outdoor_temperature.values, ds.outdoor_temperature)


@pytest.mark.requires_shared_data
def test_epw_leap_year_repeats_february_28(shared_data: Path) -> None:
    ds = load_epw(shared_data / "weather_epw" / "USA_AZ_Phoenix-Sky.Harbor.epw", year=2024)
    assert ds.sizes["time"] == 8784
    feb28 = ds.outdoor_temperature.sel(time=slice("2024-02-28T08:00", "2024-02-29T07:00"))
    feb29 = ds.outdoor_temperature.sel(time=slice("2024-02-29T08:00", "2024-03-01T07:00"))
    np.testing.assert_array_equal(feb28.values, feb29.values)


@pytest.mark.requires_shared_data
def test_cpu_traces(shared_data: Path) -> None:
    start = "2023-01-01T00:00Z"
    google = load_cpu_trace(shared_data / "workload" / "google_cpu_hourly.csv", start)
    alibaba = load_cpu_trace(shared_data / "workload" / "alibaba_cpu_hourly.csv", start)
    assert google.sizes["time"] == 8760
    assert alibaba.sizes["time"] == 8904
    assert google.cpu_load.values[0] == 0.474304627
    assert google.cpu_load.attrs["units"] == "1"
    assert google.time.values[-1] == _t("2023-12-31T23:00")
    assert float(google.cpu_load.min()) >= 0 and float(google.cpu_load.max()) <= 1
    shifted = load_cpu_trace(
        shared_data / "workload" / "google_cpu_hourly.csv", "2023-01-01T02:00+02:00", "15min"
    )
    assert shifted.time.values[1] == _t("2023-01-01T00:15")


@pytest.mark.requires_shared_data
def test_load_zone_common_axis(shared_data: Path) -> None:
    # Hours that price, carbon and weather all cover (each file misses a few hours of 2023).
    expected = {
        "DE-LU": 8759,
        "JP-TK": 8751,
        "SG": 8752,
        "US-CAL-CISO": 8753,
        "US-MIDA-PJM": 8756,
        "US-NY-NYIS": 8756,
        "US-TEX-ERCO": 8755,
    }
    assert available_zones(shared_data) == sorted(expected)
    for zone, hours in expected.items():
        ds = load_zone(zone, data_dir=shared_data)
        assert ds.sizes["time"] == hours, zone
        assert set(ds.data_vars) == {
            "price",
            "carbon_intensity",
            "outdoor_temperature",
            "relative_humidity",
            "cloud_cover",
            "wind_speed",
        }
        assert all("units" in ds[name].attrs for name in ds.data_vars)
        assert ds.time.attrs["timezone"] == "UTC"
        validate_series(ds, name=zone, step="1h")
    ercot = load_zone("US-TEX-ERCO", data_dir=shared_data)
    assert ercot.time.values[0] == _t("2023-01-01T05:00")
    assert ercot.price.values[0] == load_price_csv(
        shared_data / "grid" / "US-TEX-ERCO" / "price_2023.csv"
    ).price.sel(time="2023-01-01T05:00")
    known = sorted(folder.name for folder in (shared_data / "grid").iterdir())
    assert len(known) == 7
    for hostile in ("XX-NOWHERE", "../grid/US-TEX-ERCO", "/etc"):
        with pytest.raises(SeriesError, match="available zones: " + ", ".join(known)):
            load_zone(hostile, data_dir=shared_data)
    with pytest.raises(SeriesError, match="years available: 2023"):
        load_zone("US-TEX-ERCO", year=2019, data_dir=shared_data)


@pytest.mark.requires_shared_data
def test_resample_zone_to_15_minutes(shared_data: Path) -> None:
    ds = load_zone("US-TEX-ERCO", data_dir=shared_data)
    day = resample(ds, "15min", start="2023-07-01T00:00Z", end="2023-07-02T00:00Z")
    assert day.sizes["time"] == 96
    hourly = ds.price.sel(time=slice("2023-07-01T00:00", "2023-07-01T23:00")).values
    np.testing.assert_array_equal(day.price.values, np.repeat(hourly, 4))
    assert day.price.attrs["units"] == "USD MWh-1"


# ------------------------------------------------------------------------------------------
# resampling on small synthetic series (exact values)
# ------------------------------------------------------------------------------------------


def test_resample_hold_refines_by_copying() -> None:
    ds = _series("2023-01-01T00:00", "1h", price=[10.0, 20.0, 30.0])
    out = resample(ds, "15min")
    assert out.sizes["time"] == 12
    np.testing.assert_array_equal(out.price.values, [10.0] * 4 + [20.0] * 4 + [30.0] * 4)
    assert out.time.values[-1] == _t("2023-01-01T02:45")
    assert out.price.attrs == ds.price.attrs
    assert out.time.attrs["timezone"] == "UTC"


def test_resample_interpolate_is_linear_in_time() -> None:
    ds = _series("2023-01-01T00:00", "1h", outdoor_temperature=[0.0, 4.0, 8.0])
    out = resample(ds, timedelta(minutes=15))
    # inside the last interval (after the final sample) the last value is held
    expected = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 8.0, 8.0, 8.0]
    np.testing.assert_array_equal(out.outdoor_temperature.values, expected)


def test_resample_mean_coarsens_by_interval_average_and_refines_by_hold() -> None:
    ds = _series("2023-01-01T00:00", "15min", cpu_load=[0.25, 0.5, 0.75, 1.0, 0.5, 0.5, 0, 0])
    coarse = resample(ds, "1h")
    np.testing.assert_array_equal(coarse.cpu_load.values, [0.625, 0.25])
    fine = resample(ds, "5min", end="2023-01-01T00:30Z")
    np.testing.assert_array_equal(fine.cpu_load.values, [0.25] * 3 + [0.5] * 3)


def test_resample_mean_straddling_intervals() -> None:
    ds = _series("2023-01-01T00:00", "1h", cpu_load=[0.25, 0.75])
    out = resample(ds, "45min")
    # [00:00, 00:45) inside hour 0; [00:45, 01:30) is 15 min of 0.25 and 30 min of 0.75
    np.testing.assert_allclose(out.cpu_load.values, [0.25, (15 * 0.25 + 30 * 0.75) / 45])


def test_resample_mixed_rules_and_window() -> None:
    ds = _series(
        "2023-01-01T00:00",
        "1h",
        price=[10.0, 20.0, 30.0, 40.0],
        outdoor_temperature=[0.0, 6.0, 12.0, 18.0],
        cpu_load=[0.5, 0.5, 1.0, 1.0],
    )
    out = resample(ds, "30min", start="2023-01-01T01:30Z", end="2023-01-01T03:00Z")
    assert list(out.time.values) == [
        _t("2023-01-01T01:30"),
        _t("2023-01-01T02:00"),
        _t("2023-01-01T02:30"),
    ]
    np.testing.assert_array_equal(out.price.values, [20.0, 30.0, 30.0])
    np.testing.assert_array_equal(out.outdoor_temperature.values, [9.0, 12.0, 15.0])
    np.testing.assert_array_equal(out.cpu_load.values, [0.5, 1.0, 1.0])
    two_hours = resample(ds, "2h")
    np.testing.assert_array_equal(two_hours.price.values, [10.0, 30.0])  # hold samples
    np.testing.assert_array_equal(two_hours.cpu_load.values, [0.5, 1.0])  # mean averages


def test_resample_window_errors() -> None:
    ds = _series("2023-01-01T00:00", "1h", price=[10.0, 20.0, 30.0])
    with pytest.raises(SeriesError, match=r"outside the data, which covers 2023-01-01T00:00Z"):
        resample(ds, "15min", start="2022-12-31T23:00Z")
    with pytest.raises(SeriesError, match=r"window 2023-01-01T00:00Z\.\.2023-01-01T04:00Z"):
        resample(ds, "15min", end="2023-01-01T04:00Z")
    with pytest.raises(SeriesError, match="not a whole number of 15min steps"):
        resample(ds, "15min", end="2023-01-01T01:10Z")
    with pytest.raises(SeriesError, match="has no timezone"):
        resample(ds, "15min", start="2023-01-01T00:00")
    with pytest.raises(SeriesError, match="has no timezone"):
        resample(ds, "15min", start=datetime(2023, 1, 1))
    with pytest.raises(SeriesError, match="not a fixed time step"):
        resample(ds, "MS")


def test_resample_accepts_offsets_and_aware_datetimes() -> None:
    ds = _series("2023-01-01T00:00", "1h", price=[10.0, 20.0, 30.0])
    start = datetime(2023, 1, 1, 2, tzinfo=timezone(timedelta(hours=1)))  # 01:00 UTC
    out = resample(ds, "1h", start=start)
    np.testing.assert_array_equal(out.price.values, [20.0, 30.0])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=4, max_size=48).filter(
        lambda v: len(v) % 4 == 0
    )
)
def test_resample_mean_preserves_energy(loads: list[float]) -> None:
    ds = _series("2023-01-01T00:00", "15min", cpu_load=loads)
    coarse = resample(ds, "1h")
    assert float(coarse.cpu_load.sum()) * 4 == pytest.approx(sum(loads), abs=1e-9)


# ------------------------------------------------------------------------------------------
# malformed input: each error names file, line/time and what was expected
# ------------------------------------------------------------------------------------------

HOURS = [f"2023-01-01 {h:02d}:00:00" for h in range(6)]


def test_gap_is_an_error(tmp_path: Path) -> None:
    path = _price_file(tmp_path, "gap.csv", [(HOURS[0], "1"), (HOURS[1], "2"), (HOURS[3], "4")])
    with pytest.raises(
        SeriesError, match=r"gap\.csv: gaps in the 1h series, missing 2023-01-01T02:00Z \(1 step\)"
    ):
        load_price_csv(path)


def test_oversized_header_field_is_a_one_line_error(tmp_path: Path) -> None:
    """A header field past the csv module's 128 kB limit: a SeriesError, not a traceback."""
    path = tmp_path / "wide.csv"
    path.write_text(
        f"Datetime (UTC),Price (USD/MWh),{'x' * 200_000}\n2023-01-01 00:00:00,10,1\n",
        encoding="utf-8",
    )
    with pytest.raises(SeriesError) as caught:
        load_price_csv(path)
    message = str(caught.value)
    assert message.startswith("wide.csv: line 1 (header): not a readable CSV (field larger")
    assert "\n" not in message and "xxxx" not in message


def test_duplicate_timestamp_is_an_error(tmp_path: Path) -> None:
    path = _price_file(tmp_path, "dup.csv", [(HOURS[0], "1"), (HOURS[1], "2"), (HOURS[1], "3")])
    with pytest.raises(
        SeriesError, match=r"dup\.csv: duplicate timestamps 2023-01-01T01:00Z \(line 4\)"
    ):
        load_price_csv(path)


def test_unsorted_timestamps_are_an_error(tmp_path: Path) -> None:
    path = _price_file(tmp_path, "order.csv", [(HOURS[0], "1"), (HOURS[2], "2"), (HOURS[1], "3")])
    with pytest.raises(
        SeriesError,
        match=r"order\.csv: timestamps not in increasing order: "
        r"2023-01-01T01:00Z \(line 4\) after 2023-01-01T02:00Z",
    ):
        load_price_csv(path)


def test_nan_is_an_error(tmp_path: Path) -> None:
    path = _price_file(tmp_path, "nan.csv", [(HOURS[0], "1"), (HOURS[1], ""), (HOURS[2], "3")])
    with pytest.raises(
        SeriesError, match=r"nan\.csv: missing/NaN values: price at 2023-01-01T01:00Z \(line 3\)"
    ):
        load_price_csv(path)


def test_non_numeric_cell_is_an_error(tmp_path: Path) -> None:
    path = _price_file(tmp_path, "text.csv", [(HOURS[0], "1"), (HOURS[1], "n/a?"), (HOURS[2], "3")])
    with pytest.raises(
        SeriesError,
        match=r"text\.csv: non-numeric cell in column 'Price \(USD/MWh\)': 'n/a\?' \(line 3\); "
        r"expected a number",
    ):
        load_price_csv(path)


def test_error_names_the_physical_line_after_blank_and_multi_line_rows(tmp_path: Path) -> None:
    """Blank lines and a quoted field spanning two lines come before the bad cell: the message
    names the line the bad row is on in the file, not the row number + 2."""
    path = tmp_path / "lines.csv"
    path.write_text(
        "Datetime (UTC),Price (USD/MWh),Note\n"
        "\n"
        '2023-01-01 00:00:00,1,"two\nlines"\n'
        "\n"
        "2023-01-01 01:00:00,2,\n"
        "2023-01-01 02:00:00,n/a?,\n",
        encoding="utf-8",
    )
    assert path.read_text(encoding="utf-8").splitlines()[6].startswith("2023-01-01 02:00:00,n/a")
    with pytest.raises(SeriesError, match=r"'n/a\?' \(line 7\)"):
        load_price_csv(path)
    cpu = tmp_path / "cpu.csv"
    cpu.write_text("cpu_load\n0.5\n\n\n0.6\n1.2\n", encoding="utf-8")
    with pytest.raises(SeriesError, match=r"1\.2 \(line 6\)"):
        load_cpu_trace(cpu, start=datetime(2023, 1, 1, tzinfo=UTC), step="1h")


def test_naive_timestamp_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "naive.csv"
    path.write_text(
        "time,price\n2023-01-01T00:00Z,1\n2023-01-01T01:00,2\n2023-01-01T02:00Z,3\n",
        encoding="utf-8",
    )
    with pytest.raises(
        SeriesError,
        match=r"naive\.csv: timestamp without UTC offset: '2023-01-01T01:00' \(line 3\)",
    ):
        read_series_csv(path)


def test_naive_start_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "cpu.csv"
    path.write_text(",cpu_load\n0,0.5\n1,0.6\n", encoding="utf-8")
    with pytest.raises(SeriesError, match=r"cpu\.csv: start: time '2023-01-01' has no timezone"):
        load_cpu_trace(path, "2023-01-01")
    with pytest.raises(SeriesError, match="numpy datetime64"):
        load_cpu_trace(path, np.datetime64("2023-01-01T00:00"))  # type: ignore[arg-type]


def test_cpu_load_out_of_range(tmp_path: Path) -> None:
    path = tmp_path / "cpu.csv"
    path.write_text(",cpu_load\n0,0.5\n1,1.00005\n2,1.2\n3,-0.1\n", encoding="utf-8")
    with pytest.raises(
        SeriesError, match=r"cpu_load outside \[0, 1\.0001\]: 1\.2 \(line 4\), -0\.1 \(line 5\)"
    ):
        load_cpu_trace(path, "2023-01-01T00:00Z")
    path.write_text(",cpu_load\n0,0.5\n1,1.00005\n", encoding="utf-8")
    assert load_cpu_trace(path, "2023-01-01T00:00Z").cpu_load.values[1] == 1.0


def test_validate_series_lists_first_few_and_count() -> None:
    values = [1.0, *[np.nan] * 8, 2.0]
    ds = _series("2023-01-01T00:00", "1h", price=values)
    with pytest.raises(
        SeriesError,
        match=r"prices: missing/NaN values: price at 2023-01-01T01:00Z, .*"
        r"price at 2023-01-01T05:00Z \(and 3 more; 8 missing values in total\)",
    ):
        validate_series(ds, name="prices")
    shift = np.zeros(10, dtype="timedelta64[ns]")
    shift[3] = np.timedelta64(10, "m")
    irregular = ds.fillna(0.0).assign_coords(time=ds.time.values + shift)
    with pytest.raises(
        SeriesError,
        match=r"dataset: irregular time step: 70min between 2023-01-01T02:00Z and "
        r"2023-01-01T03:10Z, 50min between 2023-01-01T03:10Z and 2023-01-01T04:00Z; "
        r"expected one row every 1h",
    ):
        validate_series(irregular, step="1h")


def test_dr_import_cap_may_hold_nan() -> None:
    ds = _series("2023-01-01T00:00", "1h", dr_import_cap=[np.nan, 5e6, np.nan])
    validate_series(ds)
    out = resample(ds, "30min")
    np.testing.assert_array_equal(
        out.dr_import_cap.values, [np.nan, np.nan, 5e6, 5e6, np.nan, np.nan]
    )


# ------------------------------------------------------------------------------------------
# opt-in gap filling
# ------------------------------------------------------------------------------------------


def test_max_gap_fills_short_gaps_by_rule(tmp_path: Path) -> None:
    path = _price_file(
        tmp_path,
        "gap.csv",
        [(HOURS[0], "10"), (HOURS[1], "20"), (HOURS[3], "40"), (HOURS[4], ""), (HOURS[5], "60")],
    )
    ds = load_price_csv(path, max_gap="1h")
    np.testing.assert_array_equal(ds.price.values, [10, 20, 20, 40, 40, 60])  # hold
    assert ds.attrs["filled_values"] == "price: 2"
    with pytest.raises(
        SeriesError, match="max_gap=30min does not cover: price at 2023-01-01T02:00Z"
    ):
        load_price_csv(path, max_gap="30min")


def test_fill_gaps_interpolates_weather_and_refuses_long_or_edge_gaps() -> None:
    ds = _series("2023-01-01T00:00", "1h", outdoor_temperature=[0.0, np.nan, np.nan, 6.0, 7.0])
    filled = fill_gaps(ds, "2h")
    np.testing.assert_allclose(filled.outdoor_temperature.values, [0.0, 2.0, 4.0, 6.0, 7.0])
    assert filled.outdoor_temperature.attrs["units"] == "degC"
    with pytest.raises(
        SeriesError,
        match=r"2023-01-01T01:00Z\.\.2023-01-01T02:00Z \(2 steps, longer than max_gap\)",
    ):
        fill_gaps(ds, "1h")
    edge = _series("2023-01-01T00:00", "1h", outdoor_temperature=[np.nan, 1.0, 2.0])
    with pytest.raises(SeriesError, match="at the end of the series, cannot fill"):
        fill_gaps(edge, "3h")
    missing_row = ds.isel(time=[0, 3, 4])  # drops 01:00 and 02:00 entirely
    np.testing.assert_allclose(
        fill_gaps(missing_row, "2h", step="1h").outdoor_temperature.values, [0, 2, 4, 6, 7]
    )


def test_open_meteo_synthetic_offset_and_units(tmp_path: Path) -> None:
    document = {
        "utc_offset_seconds": 7200,
        "timezone": "Europe/Berlin",
        "hourly_units": {"time": "iso8601", "temperature_2m": "°F", "wind_speed_10m": "km/h"},
        "hourly": {
            "time": ["2023-03-26T01:00", "2023-03-26T02:00", "2023-03-26T03:00"],
            "temperature_2m": [32.0, 50.0, None],
            "wind_speed_10m": [36.0, 18.0, 0.0],
        },
    }
    path = tmp_path / "weather.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(
        SeriesError, match=r"outdoor_temperature at 2023-03-26T01:00Z \(hourly index 2\)"
    ):
        load_open_meteo(path)
    document["hourly"]["temperature_2m"][2] = 68.0  # type: ignore[index]
    path.write_text(json.dumps(document), encoding="utf-8")
    ds = load_open_meteo(path)
    assert ds.time.values[0] == _t("2023-03-25T23:00")
    np.testing.assert_allclose(ds.outdoor_temperature.values, [0.0, 10.0, 20.0])
    np.testing.assert_allclose(ds.wind_speed.values, [10.0, 5.0, 0.0])


# ------------------------------------------------------------------------------------------
# demo generator and the project's CSV format
# ------------------------------------------------------------------------------------------


def test_generator_is_deterministic_and_plausible() -> None:
    first = generate_demo_series(DEMO_START)
    second = generate_demo_series("2026-07-06T02:00+02:00")
    xr.testing.assert_identical(first, second)
    for name in first.data_vars:
        assert first[name].values.tobytes() == second[name].values.tobytes()
    assert first.sizes["time"] == 7 * 96
    other = generate_demo_series(DEMO_START, seed=1)
    assert not np.array_equal(first.price.values, other.price.values)
    validate_series(first, step="15min")
    assert float(first.carbon_intensity.min()) >= 150 and float(first.carbon_intensity.max()) <= 500
    assert float(first.cpu_load.min()) >= 0.35 and float(first.cpu_load.max()) <= 0.85
    assert float(first.pv_capacity_factor.max()) <= 0.85
    night = first.pv_capacity_factor.where(first.time.dt.hour.isin([0, 1, 2, 22, 23]), drop=True)
    assert float(night.max()) == 0.0
    assert float(first.price.min()) >= -20 and float(first.price.max()) <= 300
    assert float(first.price.median()) > 10
    # midday solar lowers carbon intensity
    carbon_by_hour = first.carbon_intensity.groupby("time.hour").mean()
    assert float(carbon_by_hour.sel(hour=13)) < float(carbon_by_hour.sel(hour=21)) - 80
    for name in first.data_vars:
        assert first[name].attrs["units"] == VARIABLES[str(name)].units
    hot = generate_demo_series(DEMO_START, days=2, step="1h", climate="hot")
    assert float(hot.outdoor_temperature.mean()) > float(first.outdoor_temperature.mean()) + 8
    with pytest.raises(SeriesError, match="climate must be one of"):
        generate_demo_series(DEMO_START, climate="tropical")  # type: ignore[arg-type]
    with pytest.raises(SeriesError, match="has no timezone"):
        generate_demo_series("2026-07-06")


def test_series_csv_round_trip_is_exact(tmp_path: Path) -> None:
    ds = generate_demo_series("2026-01-05T00:00Z", days=2, step="1h", seed=3, climate="cold")
    path = write_series_csv(ds, tmp_path / "series.csv")
    back = read_series_csv(path)
    assert list(back.data_vars) == list(ds.data_vars)
    np.testing.assert_array_equal(back.time.values, ds.time.values)
    for name in ds.data_vars:
        assert back[name].values.tobytes() == ds[name].values.tobytes()
        assert back[name].attrs == ds[name].attrs
    assert (
        path.read_text(encoding="utf-8").splitlines()[3]
        == "# carbon_intensity [g kW-1 h-1] Grid carbon intensity"
    )


def test_series_csv_rejects_wrong_units_and_unknown_columns(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    path.write_text("# price [EUR MWh-1]\ntime,price\n2023-01-01T00:00Z,1\n2023-01-01T01:00Z,2\n")
    with pytest.raises(
        SeriesError, match=r"declared in \[EUR MWh-1\] but dctwin expects \[USD MWh-1\]"
    ):
        read_series_csv(path)
    path.write_text("time,price_usd\n2023-01-01T00:00Z,1\n2023-01-01T01:00Z,2\n")
    with pytest.raises(SeriesError, match="column 'price_usd' is not a registered variable"):
        read_series_csv(path)


def test_shipped_demo_week_matches_generator(tmp_path: Path) -> None:
    regenerated = write_demo_data(tmp_path / "demo-week.csv")
    assert DEMO_FILE.read_text(encoding="utf-8") == regenerated.read_text(encoding="utf-8"), (
        "data/demo-week.csv drifted from twin.data.demo.write_demo_data; regenerate it"
    )
    ds = read_series_csv(DEMO_FILE, step="15min")
    assert ds.sizes["time"] == 672
    assert ds.time.values[0] == _t("2026-07-06T00:00")
    assert pd.Timestamp(ds.time.values[0]).day_name() == "Monday"
    hourly = resample(ds, "1h")
    assert hourly.sizes["time"] == 168
