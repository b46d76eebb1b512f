"""Loaders of the public time series formats.

Hourly wholesale prices and grid carbon intensity (Electricity Maps / GridStatus CSV), Open-Meteo
weather JSON, EnergyPlus EPW weather files, normalized cluster CPU traces, and the grid zones of
the public reference data (``../shared/data``: price, carbon and weather of one zone on one
axis).  Each loader checks its file strictly (see :mod:`twin.data.validation`) and takes an
opt-in ``max_gap`` to fill short gaps.

The public data in ``../shared/data`` (checked 2023 files) has no gaps, duplicates or NaN;
see ``data/README.md`` for what was found, including the Open-Meteo time-zone handling.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import xarray as xr

from twin.data.validation import (
    SHOWN_ITEMS,
    SeriesError,
    SeriesTable,
    StepLike,
    TimeLike,
    abridged,
    finish_table,
    parse_numbers,
    parse_times,
    read_series_text,
    set_time_attributes,
    time_step,
    utc_instant,
)

__all__ = [
    "available_zones",
    "default_data_dir",
    "load_carbon_csv",
    "load_cpu_trace",
    "load_epw",
    "load_open_meteo",
    "load_price_csv",
    "load_zone",
]

_HOUR = pd.Timedelta("1h")


def _record_lines(text: str, count: int) -> np.ndarray:
    """Physical line (1-based) on which each of the ``count`` data records of ``text`` starts.

    Blank lines are skipped as pandas skips them, and a quoted field spanning several lines
    moves the following records down.  When the csv module cannot follow the text as pandas
    did (a data field past its 128 kB limit, a different record count), the lines are counted
    as one record per line after the header.
    """
    lines: list[int] = []
    reader = csv.reader(io.StringIO(text), skipinitialspace=True)
    header = False
    try:
        before = reader.line_num
        for record in reader:
            if len(record) > 1 or (record and record[0].strip()):  # not a blank line
                if header:
                    lines.append(before + 1)
                header = True
            before = reader.line_num
    except csv.Error:
        lines = []
    if len(lines) != count:
        return np.arange(count) + 2  # line 1 is the header
    return np.asarray(lines, dtype=np.int64)


def _read_csv_text(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """The CSV file as text columns, and the physical line of each row [1-based]."""
    text = read_series_text(path)
    try:
        frame = pd.read_csv(
            io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True
        )
    except (ValueError, pd.errors.ParserError) as error:
        raise SeriesError(f"{path.name}: not a readable CSV file ({error})") from None
    try:
        header = next(csv.reader(io.StringIO(text.partition("\n")[0])), [])
    except csv.Error as error:  # a header field beyond the csv module's limit (128 kB)
        raise SeriesError(f"{path.name}: line 1 (header): not a readable CSV ({error})") from None
    twice = sorted({name.strip() for name in header if header.count(name) > 1})
    if twice:
        raise SeriesError(
            f"{path.name}: column(s) {', '.join(map(repr, twice))} given twice in the header; "
            "expected each column once"
        )
    return frame, _record_lines(text, len(frame))


def _column(frame: pd.DataFrame, source: str, *candidates: str) -> str:
    for name in candidates:
        if name in frame.columns:
            return name
    raise SeriesError(
        f"{source}: missing column {candidates[0]!r}; found columns {list(frame.columns)}"
    )


def load_price_csv(path: str | Path, *, max_gap: StepLike | None = None) -> xr.Dataset:
    """Load an hourly wholesale price CSV (Electricity Maps / GridStatus layout).

    Parameters
    ----------
    path
        CSV with columns ``Datetime (UTC)`` (ISO 8601; an offset, if present, is applied,
        otherwise the header's UTC applies) and ``Price (USD/MWh)``; other columns (e.g.
        ``Datetime (Local)``) are ignored.
    max_gap
        Opt-in: fill missing hours up to this long (price is ``hold``: previous value).

    Returns
    -------
    xarray.Dataset
        ``price`` [USD MWh-1] on an hourly UTC ``time``; each value applies to the hour that
        starts at its timestamp.  Negative prices are kept.
    """
    path = Path(path)
    frame, rows = _read_csv_text(path)
    time_col = _column(frame, path.name, "Datetime (UTC)")
    price_col = _column(frame, path.name, "Price (USD/MWh)")
    times = parse_times(frame[time_col].to_numpy(), path.name, rows, assume_utc=True)
    price = parse_numbers(frame[price_col].to_numpy(), path.name, price_col, rows)
    table = SeriesTable(path.name, times, {"price": price}, rows, attrs={"source": path.name})
    return finish_table(table, _HOUR, max_gap)


def load_carbon_csv(
    path: str | Path,
    basis: Literal["direct", "lca"] = "direct",
    *,
    max_gap: StepLike | None = None,
) -> xr.Dataset:
    """Load an hourly grid carbon-intensity CSV (Electricity Maps layout).

    Parameters
    ----------
    path
        CSV with ``Datetime (UTC)`` (naive text, UTC per its header) and
        ``Carbon Intensity gCO₂eq/kWh (direct)`` / ``(LCA)`` columns.
    basis
        ``"direct"`` (stack emissions, the registry meaning) or ``"lca"`` (life-cycle).
    max_gap
        Opt-in: fill missing hours up to this long (``hold``: previous value).

    Returns
    -------
    xarray.Dataset
        ``carbon_intensity`` [g kW-1 h-1, i.e. gCO2e/kWh] on an hourly UTC ``time``;
        ``attrs["basis"]`` and, if the file flags them, ``attrs["estimated_values"]`` (count
        of rows the provider estimated).
    """
    if basis not in ("direct", "lca"):
        raise SeriesError(f"basis must be 'direct' or 'lca', got {basis!r}")
    path = Path(path)
    frame, rows = _read_csv_text(path)
    time_col = _column(frame, path.name, "Datetime (UTC)")
    suffix = "(direct)" if basis == "direct" else "(lca)"
    matches = [
        str(c)
        for c in frame.columns
        if str(c).lower().startswith("carbon intensity") and str(c).lower().endswith(suffix)
    ]
    if not matches:
        raise SeriesError(
            f"{path.name}: missing column 'Carbon Intensity gCO₂eq/kWh {suffix}'; found "
            f"columns {list(frame.columns)}"
        )
    times = parse_times(frame[time_col].to_numpy(), path.name, rows, assume_utc=True)
    carbon = parse_numbers(frame[matches[0]].to_numpy(), path.name, matches[0], rows)
    attrs: dict[str, object] = {"source": path.name, "carbon_basis": basis}
    if "Data Estimated" in frame.columns:
        attrs["estimated_values"] = int((frame["Data Estimated"].str.lower() == "true").sum())
    table = SeriesTable(path.name, times, {"carbon_intensity": carbon}, rows, attrs=attrs)
    ds = finish_table(table, _HOUR, max_gap)
    ds["carbon_intensity"].attrs["basis"] = basis
    if basis == "lca":
        ds["carbon_intensity"].attrs["description"] = (
            "Life-cycle (LCA) grid emissions in g CO2e per kWh imported."
        )
    return ds


# Open-Meteo variable names (2023 renamed some: cloudcover → cloud_cover, ...).
_OPEN_METEO = {
    "outdoor_temperature": ("temperature_2m",),
    "relative_humidity": ("relative_humidity_2m", "relativehumidity_2m"),
    "cloud_cover": ("cloud_cover", "cloudcover"),
    "wind_speed": ("wind_speed_10m", "windspeed_10m"),
}
_WIND_TO_METRES_PER_SECOND = {"km/h": 1 / 3.6, "m/s": 1.0, "mp/h": 0.44704, "kn": 0.514444}


def load_open_meteo(path: str | Path, *, max_gap: StepLike | None = None) -> xr.Dataset:
    """Load an Open-Meteo hourly weather JSON file.

    ``hourly.time`` holds local wall-clock times (``"2023-01-01T00:00"``) in the response's
    ``timezone``, but Open-Meteo applies **one fixed** ``utc_offset_seconds`` to the whole
    response (the offset valid when the request was made; no DST switch inside the series,
    see open-meteo/open-meteo#261).  The loader therefore computes
    ``UTC = local − utc_offset_seconds`` for every row.  ``timeformat=unixtime`` files
    (``hourly_units.time == "unixtime"``) are read as UTC seconds.

    Parameters
    ----------
    path
        The JSON file with ``hourly.time``, ``temperature_2m`` [°C or °F],
        ``relative_humidity_2m`` [%], ``cloudcover``/``cloud_cover`` [%] and
        ``windspeed_10m``/``wind_speed_10m`` [km/h, m/s, mp/h or kn] (units from
        ``hourly_units``); variables absent from the file are left out.
    max_gap
        Opt-in: fill missing hours up to this long (linear in time).

    Returns
    -------
    xarray.Dataset
        ``outdoor_temperature`` [degC], ``relative_humidity`` [%], ``cloud_cover`` [%],
        ``wind_speed`` [m s-1] on an hourly UTC ``time``; ``attrs`` keep latitude,
        longitude, elevation, timezone and utc_offset_seconds.
    """
    path = Path(path)
    source = path.name
    try:
        document = json.loads(read_series_text(path))
    except json.JSONDecodeError as error:
        raise SeriesError(f"{source}: not valid JSON ({error})") from None
    except RecursionError:
        raise SeriesError(f"{source}: JSON nested too deeply") from None
    hourly = document.get("hourly") if isinstance(document, dict) else None
    if not isinstance(hourly, dict) or "time" not in hourly:
        raise SeriesError(f"{source}: expected an Open-Meteo response with 'hourly.time'")
    units = document.get("hourly_units", {}) or {}
    stamps = list(hourly["time"])
    rows = np.arange(len(stamps))
    if units.get("time") == "unixtime":
        seconds = parse_numbers(stamps, source, "hourly.time", rows, row_label="hourly index")
        if not np.isfinite(seconds).all():
            raise SeriesError(f"{source}: missing values in hourly.time")
        times = (seconds.astype(np.int64) * 1_000_000_000).astype("datetime64[ns]")
    else:
        if "utc_offset_seconds" not in document:
            raise SeriesError(f"{source}: local hourly.time needs 'utc_offset_seconds'")
        offset = np.timedelta64(int(document["utc_offset_seconds"]), "s").astype("timedelta64[ns]")
        local = pd.to_datetime(pd.Series(stamps, dtype=object), format="ISO8601", errors="coerce")
        if local.isna().any():
            bad = [f"{stamps[i]!r} (hourly index {i})" for i in np.flatnonzero(local.isna())]
            raise SeriesError(
                f"{source}: cannot parse hourly.time {abridged(bad, 'timestamps')}; expected "
                f"'YYYY-MM-DDThh:mm' local time"
            )
        if local.dt.tz is not None:
            times = local.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]")
        else:
            times = local.to_numpy("datetime64[ns]") - offset
    values: dict[str, np.ndarray] = {}
    for name, keys in _OPEN_METEO.items():
        key = next((k for k in keys if k in hourly), None)
        if key is None:
            continue
        column = hourly[key]
        if len(column) != len(stamps):
            raise SeriesError(
                f"{source}: hourly.{key} has {len(column)} values for {len(stamps)} times"
            )
        data = parse_numbers(column, source, f"hourly.{key}", rows, row_label="hourly index")
        unit = str(units.get(key, ""))
        if name == "outdoor_temperature" and unit == "°F":
            data = (data - 32.0) * 5.0 / 9.0
        elif name == "wind_speed":
            if unit and unit not in _WIND_TO_METRES_PER_SECOND:
                raise SeriesError(f"{source}: unknown wind speed unit {unit!r} of hourly.{key}")
            data = data * _WIND_TO_METRES_PER_SECOND.get(unit or "km/h", 1.0)
        values[name] = data
    if not values:
        raise SeriesError(f"{source}: no known hourly variable among {sorted(hourly)}")
    attrs: dict[str, object] = {"source": source}
    for key in ("latitude", "longitude", "elevation", "timezone", "utc_offset_seconds"):
        if key in document:
            attrs[key] = document[key]
    table = SeriesTable(source, times, values, rows, "hourly index", attrs)
    return finish_table(table, _HOUR, max_gap)


def load_epw(
    path: str | Path, year: int | None = None, *, max_gap: StepLike | None = None
) -> xr.Dataset:
    """Load an EnergyPlus EPW weather file (e.g. a typical meteorological year).

    EPW rows are hours 1..24 in local **standard** time (no DST) with the offset from the
    ``LOCATION`` line; row *h* describes the hour ending at *h*:00, so it is placed at that
    instant (hour 24 → 00:00 next day), as pvlib does.  A TMY mixes source years, so every
    row is mapped onto one ``year``.  If ``year`` is a leap year and the file has no
    29 February, that day repeats 28 February; a 29 February in the file is dropped for a
    non-leap ``year``.  Missing-value codes (99.9 °C, 999 %, 9999 W/m²) become NaN (error
    unless ``max_gap`` fills them).

    Parameters
    ----------
    path
        The ``.epw`` file.
    year
        Calendar year to map the rows onto; default: the year of the first data row.
    max_gap
        Opt-in: fill missing values up to this long (linear in time).

    Returns
    -------
    xarray.Dataset
        ``outdoor_temperature`` [degC] (dry bulb), ``relative_humidity`` [%] and
        ``global_horizontal_irradiance`` [W m-2] (energy over the preceding hour) on an
        hourly UTC ``time``; ``attrs`` keep station, latitude, longitude, utc_offset_hours,
        elevation and year.  Wet-bulb temperature is not computed here.
    """
    path = Path(path)
    source = path.name
    lines = read_series_text(path, encoding_errors="replace").splitlines()
    if not lines or not lines[0].startswith("LOCATION"):
        raise SeriesError(f"{source}: line 1 should be the EPW 'LOCATION,...' header")
    location = lines[0].split(",")
    try:
        latitude, longitude = float(location[6]), float(location[7])
        offset_hours, elevation = float(location[8]), float(location[9])
    except (IndexError, ValueError):
        raise SeriesError(
            f"{source}: line 1 LOCATION needs latitude, longitude, time zone [h] and "
            f"elevation in fields 7..10, got {lines[0]!r}"
        ) from None
    try:
        first_data = next(i for i, line in enumerate(lines) if line.startswith("DATA PERIODS")) + 1
    except StopIteration:
        raise SeriesError(f"{source}: no 'DATA PERIODS' header line") from None
    records = [line.split(",") for line in lines[first_data:] if line.strip()]
    rows = np.arange(len(records)) + first_data + 1
    short = [int(rows[i]) for i, rec in enumerate(records) if len(rec) < 14]
    if short:
        raise SeriesError(f"{source}: data lines {short[:SHOWN_ITEMS]} have fewer than 14 fields")
    fields = np.array([rec[:14] for rec in records], dtype=object)
    calendar = {
        name: parse_numbers(fields[:, column], source, f"EPW field {name}", rows)
        for column, name in ((0, "year"), (1, "month"), (2, "day"), (3, "hour"))
    }
    for name, numbers in calendar.items():
        not_integer = ~np.isfinite(numbers) | (numbers != np.round(numbers))
        if not_integer.any():
            i = int(np.flatnonzero(not_integer)[0])
            raise SeriesError(f"{source}: EPW {name} is not an integer at line {rows[i]}")
    month = calendar["month"].astype(int)
    day = calendar["day"].astype(int)
    hour = calendar["hour"].astype(int)
    if ((hour < 1) | (hour > 24)).any():
        i = int(np.flatnonzero((hour < 1) | (hour > 24))[0])
        raise SeriesError(f"{source}: EPW hour must be 1..24, got {hour[i]} at line {rows[i]}")
    target = int(calendar["year"][0]) if year is None else int(year)
    weather = {
        "outdoor_temperature": (6, 99.9),
        "relative_humidity": (8, 999.0),
        "global_horizontal_irradiance": (13, 9999.0),
    }
    values: dict[str, np.ndarray] = {}
    for name, (column, missing) in weather.items():
        data = parse_numbers(fields[:, column], source, f"EPW field {column + 1}", rows)
        data[data >= missing] = np.nan
        values[name] = data

    leap = pd.Timestamp(year=target, month=1, day=1).is_leap_year
    is_feb29 = (month == 2) & (day == 29)
    if not leap and is_feb29.any():
        keep = ~is_feb29
        month, day, hour, rows = month[keep], day[keep], hour[keep], rows[keep]
        values = {name: data[keep] for name, data in values.items()}
    elif leap and not is_feb29.any() and ((month == 2) & (day == 28)).any():
        feb28 = np.flatnonzero((month == 2) & (day == 28))
        insert_at = int(feb28[-1]) + 1
        order = np.concatenate((np.arange(insert_at), feb28, np.arange(insert_at, month.size)))
        copied = np.zeros(order.size, dtype=bool)
        copied[insert_at : insert_at + feb28.size] = True
        month, hour, rows = month[order], hour[order], rows[order]
        day = np.where(copied, 29, day[order])
        values = {name: data[order] for name, data in values.items()}
    try:
        dates = pd.to_datetime(
            pd.DataFrame({"year": target, "month": month, "day": day}), errors="raise"
        ).to_numpy("datetime64[ns]")
    except (ValueError, pd.errors.OutOfBoundsDatetime) as error:
        raise SeriesError(f"{source}: invalid month/day for year {target} ({error})") from None
    offset = np.timedelta64(round(offset_hours * 3600), "s").astype("timedelta64[ns]")
    times = dates + hour.astype("timedelta64[h]").astype("timedelta64[ns]") - offset
    attrs: dict[str, object] = {
        "source": source,
        "station": location[1],
        "latitude": latitude,
        "longitude": longitude,
        "utc_offset_hours": offset_hours,
        "elevation": elevation,
        "year": target,
    }
    table = SeriesTable(source, times, values, rows, attrs=attrs)
    return finish_table(table, _HOUR, max_gap)


def load_cpu_trace(
    path: str | Path,
    start: TimeLike,
    step: StepLike = "1h",
    *,
    max_gap: StepLike | None = None,
) -> xr.Dataset:
    """Load a normalized cluster CPU-load trace (dc-rl layout: index column, ``cpu_load``).

    The files hold no timestamps: row *i* is placed at ``start + i·step``.

    Parameters
    ----------
    path
        CSV with a ``cpu_load`` column of fractions; other columns are ignored.
    start
        Instant of the first row (tz-aware) [UTC or with offset].
    step
        Spacing of the rows, e.g. ``"1h"``.
    max_gap
        Opt-in: fill empty/NaN cells in runs up to this long (linear in time).

    Returns
    -------
    xarray.Dataset
        ``cpu_load`` [1] (fraction of capacity); values in (1, 1.0001] are clipped to 1.

    Raises
    ------
    SeriesError
        For a naive ``start``, non-numeric cells, NaN (without ``max_gap``) and values
        outside [0, 1.0001].
    """
    path = Path(path)
    first = utc_instant(start, f"{path.name}: start")
    spacing = time_step(step)
    frame, rows = _read_csv_text(path)
    column = _column(frame, path.name, "cpu_load")
    load = parse_numbers(frame[column].to_numpy(), path.name, column, rows)
    outside = np.flatnonzero((load < 0.0) | (load > 1.0001))
    if outside.size:
        listed = [f"{load[i]:g} (line {rows[i]})" for i in outside]
        raise SeriesError(
            f"{path.name}: cpu_load outside [0, 1.0001]: {abridged(listed, 'values')}; expected "
            f"a fraction of capacity"
        )
    times = first + np.arange(load.size) * np.timedelta64(spacing.value, "ns")
    attrs: dict[str, object] = {"source": path.name}
    table = SeriesTable(path.name, times, {"cpu_load": np.minimum(load, 1.0)}, rows, attrs=attrs)
    return finish_table(table, spacing, max_gap)


def default_data_dir() -> Path:
    """The public reference data folder: ``<project root>/../shared/data``."""
    return Path(__file__).resolve().parents[3] / "shared" / "data"


def _grid_dir(data_dir: str | Path | None) -> Path:
    root = default_data_dir() if data_dir is None else Path(data_dir)
    grid = root / "grid" if (root / "grid").is_dir() else root
    if not grid.is_dir():
        raise SeriesError(f"no grid data folder at {grid} (expected <data_dir>/grid/<ZONE>)")
    return grid


def available_zones(data_dir: str | Path | None = None) -> list[str]:
    """Zones (folder names such as ``"US-TEX-ERCO"``) with price, carbon and weather files.

    Parameters
    ----------
    data_dir
        Folder holding ``grid/<ZONE>/`` (or the ``grid`` folder itself); default
        :func:`default_data_dir`.
    """
    grid = _grid_dir(data_dir)
    return sorted(
        folder.name
        for folder in grid.iterdir()
        if folder.is_dir()
        and any(folder.glob("price_*.csv"))
        and any(folder.glob("carbon_*.csv"))
        and any(folder.glob("weather_*.json"))
    )


ZONE_DATA_YEAR = 2023
"""Year of the public zone files (``price_<year>.csv`` …) :func:`load_zone` reads by default."""


def same_week_in_data(instant: pd.Timestamp | str, year: int = ZONE_DATA_YEAR) -> pd.Timestamp:
    """Where to replay zone data from for a window starting at ``instant``: the same time of
    day, the same weekday and (within three days) the same date in ``year``, moved by whole
    weeks to lie between 2 January and 20 December, so that a week or two of hourly data
    lies inside the year's files (which start a few hours late in zones west of UTC).

    Parameters
    ----------
    instant
        Start of the window to fill (timezone-aware, or UTC if naive).
    year
        Year of the zone data.

    Returns
    -------
    pandas.Timestamp
        UTC instant in ``year`` for ``replay_from``.
    """
    start = pd.Timestamp(instant)
    start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
    day = min(start.day, 28) if start.month == 2 else start.day
    same = pd.Timestamp(year, start.month, day, start.hour, start.minute, tz="UTC")
    same += pd.Timedelta(days=(start.weekday() - same.weekday() + 3) % 7 - 3)  # ±3 days
    week = pd.Timedelta(days=7)
    while same.normalize() < pd.Timestamp(year, 1, 2, tz="UTC"):
        same += week
    while same.normalize() > pd.Timestamp(year, 12, 20, tz="UTC"):
        same -= week
    return same


def load_zone(
    zone: str,
    year: int = ZONE_DATA_YEAR,
    data_dir: str | Path | None = None,
    *,
    carbon_basis: Literal["direct", "lca"] = "direct",
    max_gap: StepLike | None = None,
) -> xr.Dataset:
    """Price, carbon intensity and weather of one grid zone on their common hourly UTC axis.

    The weather file covers whole *local* days, so its UTC span is shifted by the zone's
    offset against the UTC-aligned price and carbon files; the result keeps only the hours
    all three cover (e.g. 8,755 hours for ``US-TEX-ERCO`` 2023, offset −5 h).

    Parameters
    ----------
    zone
        Zone folder name, e.g. ``"US-TEX-ERCO"``; see :func:`available_zones`.
    year
        Year of the files ``price_<year>.csv``, ``carbon_<year>.csv``, ``weather_<year>.json``.
    data_dir
        Folder holding ``grid/<ZONE>/``; default :func:`default_data_dir`.
    carbon_basis
        ``"direct"`` or ``"lca"``, see :func:`load_carbon_csv`.
    max_gap
        Opt-in gap filling passed to each loader.

    Returns
    -------
    xarray.Dataset
        ``price`` [USD MWh-1], ``carbon_intensity`` [g kW-1 h-1], ``outdoor_temperature``
        [degC], ``relative_humidity`` [%], ``cloud_cover`` [%], ``wind_speed`` [m s-1];
        ``attrs["zone"]``, ``attrs["sources"]``.

    Raises
    ------
    SeriesError
        Unknown zone (the message lists the known ones), no files for ``year``, or a file
        that does not load.
    """
    known = available_zones(data_dir)
    if zone not in known:  # by name from the list: never a path built from the text
        raise SeriesError(f"unknown zone {zone!r}; available zones: {', '.join(known)}")
    folder = _grid_dir(data_dir) / zone
    files = [f"price_{year}.csv", f"carbon_{year}.csv", f"weather_{year}.json"]
    missing = [name for name in files if not (folder / name).is_file()]
    if missing:
        years = sorted(f.stem.removeprefix("price_") for f in folder.glob("price_*.csv"))
        raise SeriesError(
            f"zone {zone} has no {', '.join(missing)}; years available: {', '.join(years)}"
        )
    parts = [
        load_price_csv(folder / f"price_{year}.csv", max_gap=max_gap),
        load_carbon_csv(folder / f"carbon_{year}.csv", basis=carbon_basis, max_gap=max_gap),
        load_open_meteo(folder / f"weather_{year}.json", max_gap=max_gap),
    ]
    start = max(part.time.values[0] for part in parts)
    stop = min(part.time.values[-1] for part in parts)
    if stop < start:
        raise SeriesError(f"{zone}: price, carbon and weather files of {year} do not overlap")
    parts = [part.sel(time=slice(start, stop)) for part in parts]
    merged = xr.merge(parts, join="exact", combine_attrs="override", compat="no_conflicts")
    merged.attrs = {
        "zone": zone,
        "year": year,
        "sources": ", ".join(f"{zone}/{part.attrs['source']}" for part in parts),
        "carbon_basis": carbon_basis,
    }
    for key in ("latitude", "longitude", "timezone"):
        if key in parts[2].attrs:
            merged.attrs[f"weather_{key}"] = parts[2].attrs[key]
    set_time_attributes(merged)
    return merged
