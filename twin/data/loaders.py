"""Exogenous time series: loaders for public formats, resampling, validation, demo data.

Every function here returns an :class:`xarray.Dataset` with a single ``time`` coordinate of
UTC instants, stored as timezone-naive ``datetime64[ns]`` **in UTC** (xarray cannot hold
tz-aware indexes; ``ds.time.attrs`` says ``timezone="UTC"``).  Data variables are named and
given CF attributes from :mod:`physics.variables`.

Time convention
---------------
A sample at instant ``t`` with step ``Δ`` describes the interval ``[t, t + Δ)`` for ``hold``
and ``mean`` variables (prices, carbon intensity, loads) and the value *at* ``t`` for
``interpolate`` variables (weather).  The data therefore *covers* ``[first, last + Δ)``.

Times given to public functions must be tz-aware (``"2026-07-06T00:00Z"``,
``datetime(..., tzinfo=UTC)``, ``pd.Timestamp(..., tz="UTC")``); naive times are rejected
with :class:`SeriesError`.  Formats that store local time (Open-Meteo, EPW) carry their own
UTC offset, which the loaders apply.

Strictness
----------
Loaders reject series with gaps, duplicate or unsorted timestamps, NaN values or non-numeric
cells, naming the file, the line (or index) and the time.  Real data has the odd missing hour,
so every loader takes an opt-in ``max_gap``: runs of missing samples no longer than
``max_gap`` are filled per the variable's registry rule (``hold``: previous value;
``interpolate`` and ``mean``: linear in time); longer runs, and missing values at either end,
still raise.

The public data in ``../shared/data`` (checked 2023 files) has no gaps, duplicates or NaN;
see ``data/README.md`` for what was found, including the Open-Meteo time-zone handling.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import scipy.signal
import xarray as xr

from physics.variables import VARIABLES, Resample, annotate

__all__ = [
    "DEMO_START",
    "NAN_ALLOWED",
    "SeriesError",
    "StepLike",
    "TimeLike",
    "available_zones",
    "default_data_dir",
    "fill_gaps",
    "generate_demo_series",
    "load_carbon_csv",
    "load_cpu_trace",
    "load_epw",
    "load_open_meteo",
    "load_price_csv",
    "load_zone",
    "read_series_csv",
    "resample",
    "validate_series",
    "write_demo_data",
    "write_series_csv",
]

TimeLike = str | datetime | pd.Timestamp
"""A tz-aware instant: ISO 8601 string with ``Z``/offset, aware ``datetime`` or ``Timestamp``."""

StepLike = str | timedelta | pd.Timedelta
"""A fixed time step: pandas offset string (``"15min"``, ``"1h"``) or a timedelta."""

NAN_ALLOWED: frozenset[str] = frozenset({"dr_import_cap"})
"""Registered variables whose NaN is meaningful (``dr_import_cap``: NaN outside events)."""

DEMO_START = "2026-07-06T00:00Z"
"""Start of the shipped demo week ``data/demo-week.csv`` (a Monday in summer) [UTC]."""

_NS = np.timedelta64(1, "ns")
_SHOW = 5  # offending items listed in an error message before "... and N more"


class SeriesError(ValueError):
    """A time series is malformed: bad timestamps, gaps, NaN, non-numeric cells, bad window.

    The message names the file (or dataset), the line/time concerned and what was expected.
    """


# --------------------------------------------------------------------------------------------
# small helpers: times, steps, messages
# --------------------------------------------------------------------------------------------


def _fmt_time(value: np.datetime64 | pd.Timestamp) -> str:
    """ISO 8601 UTC text of a naive-UTC ``datetime64`` or an aware ``Timestamp``."""
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    if stamp.second == 0 and stamp.microsecond == 0 and stamp.nanosecond == 0:
        return stamp.strftime("%Y-%m-%dT%H:%MZ")
    return stamp.isoformat() + "Z"


def _fmt_step(step: pd.Timedelta) -> str:
    seconds = step.total_seconds()
    if seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds % 60 == 0:
        return f"{int(seconds // 60)}min"
    return f"{seconds:g}s"


def _some(items: Sequence[str], what: str) -> str:
    """``"a, b, c (and 12 more; 15 <what> in total)"``."""
    shown = ", ".join(items[:_SHOW])
    if len(items) > _SHOW:
        return f"{shown} (and {len(items) - _SHOW} more; {len(items)} {what} in total)"
    return shown


def _utc(value: TimeLike, what: str) -> np.datetime64:
    """A tz-aware time argument as a naive-UTC ``datetime64[ns]``; naive input is an error."""
    if isinstance(value, np.datetime64):
        raise SeriesError(
            f"{what}: numpy datetime64 {value} has no timezone; give a tz-aware time such as "
            f"'2026-07-06T00:00Z' or pd.Timestamp(..., tz='UTC')"
        )
    if not isinstance(value, str | datetime):
        raise SeriesError(f"{what}: expected a tz-aware time, got {type(value).__name__}")
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as error:
        raise SeriesError(f"{what}: cannot parse time {value!r} ({error})") from None
    if stamp.tzinfo is None:
        raise SeriesError(
            f"{what}: time {value!r} has no timezone; expected a tz-aware time such as "
            f"'2026-07-06T00:00Z' or '2026-07-06T02:00+02:00'"
        )
    naive = stamp.tz_convert("UTC").tz_localize(None).as_unit("ns")
    return np.datetime64(naive.value, "ns")


def _step(value: StepLike, what: str = "step") -> pd.Timedelta:
    """A positive fixed time step from a pandas offset string or timedelta."""
    try:
        step = pd.Timedelta(value)
    except (ValueError, TypeError):
        raise SeriesError(
            f"{what}: {value!r} is not a fixed time step; expected e.g. '15min', '1h' or a "
            f"timedelta"
        ) from None
    if step <= pd.Timedelta(0):
        raise SeriesError(f"{what}: time step must be positive, got {value!r}")
    return step


def _max_gap(value: StepLike | None) -> pd.Timedelta | None:
    if value is None:
        return None
    try:
        gap = pd.Timedelta(value)
    except (ValueError, TypeError):
        raise SeriesError(f"max_gap: {value!r} is not a duration; expected e.g. '3h'") from None
    if gap < pd.Timedelta(0):
        raise SeriesError(f"max_gap must not be negative, got {value!r}")
    return gap


def _rule(name: str, source: str) -> Resample:
    try:
        return VARIABLES[name].resample
    except KeyError:
        raise SeriesError(
            f"{source}: variable {name!r} is not in the physics.variables registry, so its "
            f"resample rule (hold/interpolate/mean) is unknown"
        ) from None


_OFFSET_AT_END = re.compile(
    r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d*)?)?\s*(?:Z|z|UTC|[+-]\d{2}(?::?\d{2})?)$"
)
_MISSING_TOKENS = frozenset({"", "nan", "NaN", "NAN", "NA", "N/A", "null", "None"})


# --------------------------------------------------------------------------------------------
# the internal table every loader fills, then _finish() checks and turns into a Dataset
# --------------------------------------------------------------------------------------------


@dataclass
class _Table:
    """Parsed rows: naive-UTC times, float columns, and where each row came from."""

    source: str
    times: np.ndarray  # datetime64[ns], naive UTC
    values: dict[str, np.ndarray]
    rows: np.ndarray | None = None  # line number (or index) of each row in the source
    row_label: str = "line"
    attrs: dict[str, object] = field(default_factory=dict)

    def where(self, position: int | np.integer) -> str:
        """``"2023-01-01T03:00Z (line 5)"`` for the row at ``position``."""
        text = _fmt_time(self.times[position])
        if self.rows is not None:
            text += f" ({self.row_label} {int(self.rows[position])})"
        return text


def _parse_times(
    texts: Sequence[str] | np.ndarray,
    source: str,
    rows: np.ndarray,
    *,
    row_label: str = "line",
    assume_utc: bool = False,
) -> np.ndarray:
    """ISO 8601 strings → naive-UTC ``datetime64[ns]``.

    Strings must carry ``Z`` or an offset unless ``assume_utc`` (a column whose header
    declares UTC).  Unparseable or naive strings raise :class:`SeriesError` naming the row.
    """
    series = pd.Series(np.asarray(texts, dtype=object), dtype=object).astype(str).str.strip()
    if not assume_utc:
        naive = ~series.str.contains(_OFFSET_AT_END, regex=True)
        if naive.any():
            bad = [f"{series.iloc[i]!r} ({row_label} {rows[i]})" for i in np.flatnonzero(naive)]
            raise SeriesError(
                f"{source}: timestamp without UTC offset: {_some(bad, 'timestamps')}; expected "
                f"ISO 8601 with 'Z' or an offset, e.g. '2023-01-01T00:00Z'"
            )
    parsed = pd.to_datetime(series, utc=True, format="ISO8601", errors="coerce")
    if parsed.isna().any():
        bad = [f"{series.iloc[i]!r} ({row_label} {rows[i]})" for i in np.flatnonzero(parsed.isna())]
        raise SeriesError(
            f"{source}: cannot parse timestamp {_some(bad, 'timestamps')}; expected ISO 8601 "
            f"such as '2023-01-01T00:00Z'"
        )
    return parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")


def _parse_numbers(
    cells: Sequence[object] | np.ndarray,
    source: str,
    column: str,
    rows: np.ndarray,
    *,
    row_label: str = "line",
) -> np.ndarray:
    """Cells → float64; empty/``nan``/``null`` become NaN, anything else non-numeric raises."""
    raw = pd.Series(np.asarray(cells, dtype=object), dtype=object)
    text = raw.map(lambda cell: "" if cell is None else str(cell).strip())
    numbers = pd.to_numeric(text.where(~text.isin(_MISSING_TOKENS), None), errors="coerce")
    values = numbers.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    bad = np.isnan(values) & ~text.isin(_MISSING_TOKENS).to_numpy()
    if bad.any():
        listed = [f"{text.iloc[i]!r} ({row_label} {rows[i]})" for i in np.flatnonzero(bad)]
        raise SeriesError(
            f"{source}: non-numeric cell in column {column!r}: {_some(listed, 'cells')}; "
            f"expected a number"
        )
    return values


def _check_order(table: _Table) -> None:
    """Raise on duplicate or decreasing timestamps, listing them."""
    times = table.times
    if times.size < 2:
        return
    diffs = np.diff(times)
    duplicate = np.flatnonzero(diffs == np.timedelta64(0, "ns"))
    if duplicate.size:
        listed = [table.where(i + 1) for i in duplicate]
        raise SeriesError(
            f"{table.source}: duplicate timestamps {_some(listed, 'duplicates')}; expected "
            f"each UTC instant once (a repeated local hour at a DST change?)"
        )
    backwards = np.flatnonzero(diffs < np.timedelta64(0, "ns"))
    if backwards.size:
        listed = [f"{table.where(i + 1)} after {_fmt_time(times[i])}" for i in backwards]
        raise SeriesError(
            f"{table.source}: timestamps not in increasing order: "
            f"{_some(listed, 'out-of-order rows')}; expected rows sorted by time"
        )


def _infer_step(table: _Table) -> pd.Timedelta:
    """Most common positive spacing (the smallest on a tie)."""
    if table.times.size < 2:
        raise SeriesError(f"{table.source}: need at least 2 timestamps to know the time step")
    diffs = np.diff(table.times).astype(np.int64)
    unique, counts = np.unique(diffs, return_counts=True)
    return pd.Timedelta(int(unique[np.argmax(counts)]), unit="ns")


def _check_regular(table: _Table, step: pd.Timedelta, *, gaps_fillable: bool) -> None:
    """Raise on spacings other than ``step``; gaps (whole multiples) only if not fillable."""
    times = table.times
    if times.size < 2:
        return
    step_ns = np.timedelta64(step.value, "ns")
    diffs = np.diff(times)
    irregular: list[str] = []
    gaps: list[str] = []
    for i in np.flatnonzero(diffs != step_ns):
        diff = diffs[i]
        if diff % step_ns == np.timedelta64(0, "ns"):
            missing = int(diff // step_ns) - 1
            first, last = times[i] + step_ns, times[i + 1] - step_ns
            span = _fmt_time(first) if missing == 1 else f"{_fmt_time(first)}..{_fmt_time(last)}"
            gaps.append(f"{span} ({missing} step{'s' if missing > 1 else ''})")
        else:
            irregular.append(
                f"{_fmt_step(pd.Timedelta(diff))} between {_fmt_time(times[i])} and "
                f"{table.where(i + 1)}"
            )
    if irregular:
        raise SeriesError(
            f"{table.source}: irregular time step: {_some(irregular, 'irregular steps')}; "
            f"expected one row every {_fmt_step(step)}"
        )
    if gaps and not gaps_fillable:
        raise SeriesError(
            f"{table.source}: gaps in the {_fmt_step(step)} series, missing "
            f"{_some(gaps, 'gaps')}; expected one row every {_fmt_step(step)} (pass max_gap to "
            f"fill short gaps)"
        )


def _nan_runs(bad: np.ndarray) -> list[tuple[int, int]]:
    """``[(first, last), ...]`` index runs where ``bad`` is True."""
    padded = np.concatenate(([False], bad, [False])).astype(np.int8)
    edges = np.diff(padded)
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1) - 1
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def _check_finite(table: _Table) -> None:
    """Raise on NaN/inf values (except in :data:`NAN_ALLOWED`), naming variable and times."""
    problems: list[str] = []
    for name, values in table.values.items():
        if name in NAN_ALLOWED:
            continue
        bad = ~np.isfinite(values)
        if bad.ndim > 1:
            bad = bad.reshape(bad.shape[0], -1).any(axis=1)
        problems.extend(f"{name} at {table.where(i)}" for i in np.flatnonzero(bad))
    if problems:
        raise SeriesError(
            f"{table.source}: missing/NaN values: {_some(problems, 'missing values')}; "
            f"expected a finite number at every time (pass max_gap to fill short gaps)"
        )


def _fill(table: _Table, step: pd.Timedelta, max_gap: pd.Timedelta) -> _Table:
    """Re-grid onto the regular ``step`` and fill interior NaN runs up to ``max_gap`` long."""
    step_ns = np.timedelta64(step.value, "ns")
    times = table.times
    count = int((times[-1] - times[0]) // step_ns) + 1
    grid = times[0] + np.arange(count) * step_ns
    position = ((times - times[0]) // step_ns).astype(np.int64)
    rows: np.ndarray | None = None
    if table.rows is not None:
        rows = np.zeros(count, dtype=np.int64)
        rows[position] = table.rows
    regridded = _Table(table.source, grid, {}, rows, table.row_label, dict(table.attrs))
    problems: list[str] = []
    filled: list[str] = []
    for name, values in table.values.items():
        full = np.full((count, *values.shape[1:]), np.nan)
        full[position] = values
        regridded.values[name] = full
        if name in NAN_ALLOWED:
            continue
        rule = _rule(name, table.source)
        flat = full.reshape(count, -1)
        bad_rows = np.asarray(~np.isfinite(flat).all(axis=1))
        done = 0
        for first, last in _nan_runs(bad_rows):
            length = last - first + 1
            span = f"{name} at {_fmt_time(grid[first])}" + (
                f"..{_fmt_time(grid[last])}" if last > first else ""
            )
            if first == 0 or last == count - 1:
                problems.append(f"{span} (at the end of the series, cannot fill)")
            elif length * step > max_gap:
                problems.append(f"{span} ({length} steps, longer than max_gap)")
            else:
                before, after = flat[first - 1], flat[last + 1]
                if rule == "hold":
                    flat[first : last + 1] = before
                else:
                    weight = (np.arange(1, length + 1) / (length + 1))[:, None]
                    flat[first : last + 1] = before + (after - before) * weight
                done += length
        if done:
            filled.append(f"{name}: {done}")
    if problems:
        raise SeriesError(
            f"{table.source}: missing values that max_gap={_fmt_step(max_gap)} does not "
            f"cover: {_some(problems, 'unfilled runs')}"
        )
    if filled:
        regridded.attrs["filled_values"] = "; ".join(filled)
    return regridded


def _finish(table: _Table, step: pd.Timedelta | None, max_gap: StepLike | None) -> xr.Dataset:
    """Check order/regularity/finiteness (filling short gaps if asked) and build the Dataset."""
    gap = _max_gap(max_gap)
    _check_order(table)
    if step is None:
        step = _infer_step(table)
    _check_regular(table, step, gaps_fillable=gap is not None)
    if gap is not None and table.times.size:
        table = _fill(table, step, gap)
    _check_finite(table)
    return _dataset(table.times, table.values, table.attrs)


def _dataset(
    times: np.ndarray, values: Mapping[str, np.ndarray], attrs: Mapping[str, object]
) -> xr.Dataset:
    """Assemble a Dataset on a naive-UTC ``time`` coordinate with registry attrs."""
    coordinate = np.asarray(times).astype("datetime64[ns]")
    ds = xr.Dataset(
        {name: ("time", np.asarray(data, dtype=np.float64)) for name, data in values.items()},
        coords={"time": coordinate},
        attrs=dict(attrs),
    )
    annotate(ds)
    _time_attrs(ds)
    return ds


def _time_attrs(ds: xr.Dataset) -> None:
    ds["time"].attrs.update({"standard_name": "time", "long_name": "Time (UTC)", "timezone": "UTC"})


def _table_from_dataset(ds: xr.Dataset, name: str) -> _Table:
    if "time" not in ds.coords or ds["time"].dims != ("time",):
        raise SeriesError(f"{name}: expected a 1-D 'time' coordinate, got coords {list(ds.coords)}")
    times = ds["time"].values
    if not np.issubdtype(times.dtype, np.datetime64):
        raise SeriesError(f"{name}: 'time' must hold datetime64 UTC instants, got {times.dtype}")
    values = {
        str(var): ds[var].transpose("time", ...).values
        for var in ds.data_vars
        if "time" in ds[var].dims
    }
    return _Table(name, times.astype("datetime64[ns]"), values, attrs=dict(ds.attrs))


# --------------------------------------------------------------------------------------------
# validation and gap filling on datasets
# --------------------------------------------------------------------------------------------


def validate_series(ds: xr.Dataset, name: str = "dataset", step: StepLike | None = None) -> None:
    """Check that a series dataset is sorted, unique, regular and free of NaN.

    Parameters
    ----------
    ds
        Dataset with a ``time`` coordinate of naive-UTC ``datetime64`` instants.
    name
        Label used in error messages (e.g. the file name).
    step
        Expected time step; default: the most common spacing in ``ds``.

    Raises
    ------
    SeriesError
        Naming the offending timestamps (the first few and their count): duplicates,
        out-of-order rows, gaps or irregular steps, NaN values (variables in
        :data:`NAN_ALLOWED` may hold NaN).
    """
    table = _table_from_dataset(ds, name)
    _check_order(table)
    expected = _step(step) if step is not None else _infer_step(table)
    _check_regular(table, expected, gaps_fillable=False)
    _check_finite(table)


def fill_gaps(
    ds: xr.Dataset, max_gap: StepLike, step: StepLike | None = None, name: str = "dataset"
) -> xr.Dataset:
    """Fill missing timestamps and NaN runs no longer than ``max_gap``, per registry rule.

    Parameters
    ----------
    ds
        Dataset with a ``time`` coordinate; every data variable must be registered.
    max_gap
        Longest run of missing samples to fill [duration], e.g. ``"3h"``; a run of ``k``
        missing samples at step ``Δ`` is ``k·Δ`` long.
    step
        Time step of the series; default: the most common spacing.
    name
        Label used in error messages.

    Returns
    -------
    xarray.Dataset
        On the full regular grid; ``hold`` variables take the previous value, ``interpolate``
        and ``mean`` variables are linear in time across the gap.  ``attrs["filled_values"]``
        counts the filled samples per variable.

    Raises
    ------
    SeriesError
        For duplicates, unsorted or irregular timestamps, runs longer than ``max_gap`` and
        missing values at either end (nothing to fill from).
    """
    table = _table_from_dataset(ds, name)
    var_attrs = {str(var): dict(ds[var].attrs) for var in ds.data_vars}
    out = _finish(table, _step(step) if step is not None else None, max_gap)
    for var, attrs in var_attrs.items():
        if var in out:
            out[var].attrs.update(attrs)
    return out


# --------------------------------------------------------------------------------------------
# loaders for the public formats
# --------------------------------------------------------------------------------------------

_HOUR = pd.Timedelta("1h")


def _read_csv_text(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise
    except (ValueError, pd.errors.ParserError) as error:
        raise SeriesError(f"{path.name}: not a readable CSV file ({error})") from None


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
    frame = _read_csv_text(path)
    time_col = _column(frame, path.name, "Datetime (UTC)")
    price_col = _column(frame, path.name, "Price (USD/MWh)")
    rows = np.arange(len(frame)) + 2  # line 1 is the header
    times = _parse_times(frame[time_col].to_numpy(), path.name, rows, assume_utc=True)
    price = _parse_numbers(frame[price_col].to_numpy(), path.name, price_col, rows)
    table = _Table(path.name, times, {"price": price}, rows, attrs={"source": path.name})
    return _finish(table, _HOUR, max_gap)


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
    frame = _read_csv_text(path)
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
    rows = np.arange(len(frame)) + 2
    times = _parse_times(frame[time_col].to_numpy(), path.name, rows, assume_utc=True)
    carbon = _parse_numbers(frame[matches[0]].to_numpy(), path.name, matches[0], rows)
    attrs: dict[str, object] = {"source": path.name, "carbon_basis": basis}
    if "Data Estimated" in frame.columns:
        attrs["estimated_values"] = int((frame["Data Estimated"].str.lower() == "true").sum())
    table = _Table(path.name, times, {"carbon_intensity": carbon}, rows, attrs=attrs)
    ds = _finish(table, _HOUR, max_gap)
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
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise SeriesError(f"{source}: not valid JSON ({error})") from None
    hourly = document.get("hourly") if isinstance(document, dict) else None
    if not isinstance(hourly, dict) or "time" not in hourly:
        raise SeriesError(f"{source}: expected an Open-Meteo response with 'hourly.time'")
    units = document.get("hourly_units", {}) or {}
    stamps = list(hourly["time"])
    rows = np.arange(len(stamps))
    if units.get("time") == "unixtime":
        seconds = _parse_numbers(stamps, source, "hourly.time", rows, row_label="hourly index")
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
                f"{source}: cannot parse hourly.time {_some(bad, 'timestamps')}; expected "
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
        data = _parse_numbers(column, source, f"hourly.{key}", rows, row_label="hourly index")
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
    table = _Table(source, times, values, rows, "hourly index", attrs)
    return _finish(table, _HOUR, max_gap)


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
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
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
        raise SeriesError(f"{source}: data lines {short[:_SHOW]} have fewer than 14 fields")
    fields = np.array([rec[:14] for rec in records], dtype=object)
    calendar = {
        name: _parse_numbers(fields[:, column], source, f"EPW field {name}", rows)
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
        data = _parse_numbers(fields[:, column], source, f"EPW field {column + 1}", rows)
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
    table = _Table(source, times, values, rows, attrs=attrs)
    return _finish(table, _HOUR, max_gap)


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
    first = _utc(start, f"{path.name}: start")
    spacing = _step(step)
    frame = _read_csv_text(path)
    column = _column(frame, path.name, "cpu_load")
    rows = np.arange(len(frame)) + 2
    load = _parse_numbers(frame[column].to_numpy(), path.name, column, rows)
    outside = np.flatnonzero((load < 0.0) | (load > 1.0001))
    if outside.size:
        listed = [f"{load[i]:g} (line {rows[i]})" for i in outside]
        raise SeriesError(
            f"{path.name}: cpu_load outside [0, 1.0001]: {_some(listed, 'values')}; expected "
            f"a fraction of capacity"
        )
    times = first + np.arange(load.size) * np.timedelta64(spacing.value, "ns")
    attrs: dict[str, object] = {"source": path.name}
    table = _Table(path.name, times, {"cpu_load": np.minimum(load, 1.0)}, rows, attrs=attrs)
    return _finish(table, spacing, max_gap)


def default_data_dir() -> Path:
    """The public reference data folder: ``<project root>/../shared/data``."""
    return Path(__file__).resolve().parents[3] / "shared" / "data"


def _grid_dir(data_dir: str | Path | None) -> Path:
    root = default_data_dir() if data_dir is None else Path(data_dir)
    grid = root / "grid" if (root / "grid").is_dir() else root
    if not grid.is_dir():
        raise FileNotFoundError(f"no grid data folder at {grid} (expected <data_dir>/grid/<ZONE>)")
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


def load_zone(
    zone: str,
    year: int = 2023,
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
    """
    folder = _grid_dir(data_dir) / zone
    if not folder.is_dir():
        known = available_zones(data_dir)
        raise FileNotFoundError(f"no zone folder {folder}; available zones: {known}")
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
    _time_attrs(merged)
    return merged


# --------------------------------------------------------------------------------------------
# resampling
# --------------------------------------------------------------------------------------------


def resample(
    ds: xr.Dataset,
    step: StepLike,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
) -> xr.Dataset:
    """Bring every variable onto a regular ``step`` by its registry rule.

    A source sample at ``t`` covers ``[t, t + Δ)``, so the data covers
    ``[first, last + Δ)``.  Output instants are ``start + k·step`` for ``k = 0..n-1`` with
    the window ``[start, end)``:

    * ``hold`` — the value of the source interval containing the new instant (hourly price
      → four equal 15-min values).  When coarsening this samples; it does not average.
    * ``interpolate`` — linear in time between samples; inside the last source interval,
      after the final sample, the last value is held.
    * ``mean`` — the time average of the piecewise-constant source over
      ``[τ, τ + step)``; when refining this equals hold.

    Parameters
    ----------
    ds
        Valid series (see :func:`validate_series`) with at least 2 samples; every
        time-dependent variable must be registered.
    step
        New step: pandas offset string (``"15min"``, ``"1min"``, ``"1h"``) or timedelta.
    start
        First output instant (tz-aware); default the first sample.
    end
        End of the window, exclusive (tz-aware); must be a whole number of steps after
        ``start``.  Default: end of the data coverage, rounded down to a whole step.

    Returns
    -------
    xarray.Dataset
        Same variables and attrs on the new ``time`` axis.

    Raises
    ------
    SeriesError
        Invalid input series, a window outside the data coverage, an empty window or an
        ``end`` that is not a whole number of steps after ``start``.
    """
    name = str(ds.attrs.get("source", "dataset"))
    validate_series(ds, name=name)
    times = ds["time"].values.astype("datetime64[ns]")
    if times.size < 2:
        raise SeriesError(f"{name}: resample needs at least 2 samples")
    source_ns = int((times[1] - times[0]) / _NS)
    coverage_end = times[-1] + np.timedelta64(source_ns, "ns")
    new = _step(step)
    new_ns = int(new.value)
    first = times[0] if start is None else _utc(start, "resample start")
    if end is None:
        count = int((coverage_end - first) / _NS) // new_ns
    else:
        stop = _utc(end, "resample end")
        span = int((stop - first) / _NS)
        if span <= 0:
            raise SeriesError(
                f"{name}: empty window: end {_fmt_time(stop)} is not after start {_fmt_time(first)}"
            )
        if span % new_ns:
            raise SeriesError(
                f"{name}: window {_fmt_time(first)}..{_fmt_time(stop)} is not a whole number "
                f"of {_fmt_step(new)} steps"
            )
        count = span // new_ns
    window_end = first + np.timedelta64(count * new_ns, "ns")
    if first < times[0] or window_end > coverage_end or count <= 0:
        raise SeriesError(
            f"{name}: requested window {_fmt_time(first)}..{_fmt_time(window_end)} is outside "
            f"the data, which covers {_fmt_time(times[0])}..{_fmt_time(coverage_end)}"
        )
    offsets = (first - times[0]) // _NS + np.arange(count, dtype=np.int64) * new_ns
    new_times = times[0] + offsets.astype("timedelta64[ns]")

    out = xr.Dataset(attrs=dict(ds.attrs))
    for var in ds.data_vars:
        da = ds[var]
        if "time" not in da.dims:
            out[var] = da
            continue
        ordered = da.transpose("time", ...)
        data = ordered.values.astype(np.float64)
        rule = _rule(str(var), name)
        if rule == "hold":
            values = _hold(data, offsets, source_ns)
        elif rule == "interpolate":
            values = _interpolate(data, offsets, source_ns)
        else:
            values = _interval_mean(data, offsets, source_ns, new_ns)
        coords = {key: coord for key, coord in ordered.coords.items() if "time" not in coord.dims}
        result = xr.DataArray(values, dims=ordered.dims, coords=coords, attrs=dict(da.attrs))
        out[var] = result.transpose(*da.dims)
    out = out.assign_coords(time=new_times)
    _time_attrs(out)
    return out


def _broadcast(weights: np.ndarray, data: np.ndarray) -> np.ndarray:
    return weights.reshape(weights.shape + (1,) * (data.ndim - 1))


def _hold(data: np.ndarray, offsets: np.ndarray, source_ns: int) -> np.ndarray:
    return data[offsets // source_ns]


def _interpolate(data: np.ndarray, offsets: np.ndarray, source_ns: int) -> np.ndarray:
    index = offsets // source_ns
    weight = (offsets % source_ns) / source_ns
    last = data.shape[0] - 1
    weight = np.where(index >= last, 0.0, weight)
    following = np.minimum(index + 1, last)
    before = data[index]
    return before + (data[following] - before) * _broadcast(weight, data)


def _interval_mean(
    data: np.ndarray, offsets: np.ndarray, source_ns: int, new_ns: int
) -> np.ndarray:
    """Average of the step function ``data`` over ``[offset, offset + new_ns)``."""
    last = data.shape[0] - 1
    start_index, start_rest = offsets // source_ns, offsets % source_ns
    ends = offsets + new_ns
    end_index, end_rest = ends // source_ns, ends % source_ns
    inside = (end_index == start_index) | ((end_index == start_index + 1) & (end_rest == 0))
    cumulative = np.concatenate((np.zeros((1, *data.shape[1:])), np.cumsum(data, axis=0)))

    def integral(index: np.ndarray, rest: np.ndarray) -> np.ndarray:
        """∫ from the first sample to ``index·Δ + rest``, in units of value·Δ."""
        partial = data[np.minimum(index, last)] * _broadcast(rest / source_ns, data)
        return cumulative[index] + partial

    averaged = (integral(end_index, end_rest) - integral(start_index, start_rest)) * (
        source_ns / new_ns
    )
    return np.where(_broadcast(inside, data), data[np.minimum(start_index, last)], averaged)


# --------------------------------------------------------------------------------------------
# the project's CSV format
# --------------------------------------------------------------------------------------------

_FORMAT_LINE = "# dctwin time series, format 1"
_UNIT_LINE = re.compile(r"^#\s*([A-Za-z_][A-Za-z0-9_]*)\s*\[([^\]]*)\]")


def write_series_csv(ds: xr.Dataset, path: str | Path, decimals: int | None = None) -> Path:
    """Write a series dataset in dctwin's CSV format (see ``data/README.md``).

    Layout: ``#`` comment lines (format line, then one ``# <name> [<units>] <long name>``
    per variable), a header ``time,<name>,...``, then one row per instant with ``time`` as
    ISO 8601 UTC ending in ``Z`` and one column per registered variable.

    Parameters
    ----------
    ds
        Valid 1-D series dataset whose variables are all registered.
    path
        Output file (overwritten).
    decimals
        Fixed decimals for every value; default: shortest text that reads back bit-exactly.
        NaN (only in :data:`NAN_ALLOWED` variables) is written as an empty cell.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    path = Path(path)
    name = str(ds.attrs.get("source", path.name))
    validate_series(ds, name=name)
    names = [str(var) for var in ds.data_vars]
    for var in names:
        _rule(var, name)
        if ds[var].dims != ("time",):
            raise SeriesError(f"{name}: variable {var!r} must be 1-D over time to write CSV")
    stamps = pd.DatetimeIndex(ds["time"].values)
    if (stamps != stamps.floor("s")).any():
        raise SeriesError(f"{name}: the CSV format stores whole seconds; times have fractions")
    text_times = stamps.strftime("%Y-%m-%dT%H:%M:%SZ").tolist()

    def fmt(value: float) -> str:
        if not math.isfinite(value):
            return ""
        if decimals is None:
            return repr(value)
        text = f"{value:.{decimals}f}"
        return text[1:] if text.startswith("-") and float(text) == 0.0 else text

    columns = [[fmt(v) for v in ds[var].values.astype(np.float64).tolist()] for var in names]
    lines = [_FORMAT_LINE]
    lines.append("# time: UTC instant (ISO 8601); a hold/mean value applies until the next row")
    lines.extend(f"# {var} [{VARIABLES[var].units}] {VARIABLES[var].long_name}" for var in names)
    lines.append(",".join(["time", *names]))
    lines.extend(
        ",".join([stamp, *(column[i] for column in columns)]) for i, stamp in enumerate(text_times)
    )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_series_csv(
    path: str | Path, *, step: StepLike | None = None, max_gap: StepLike | None = None
) -> xr.Dataset:
    """Read dctwin's CSV series format (see :func:`write_series_csv`).

    Parameters
    ----------
    path
        The CSV file.  ``time`` must be the first column and carry ``Z`` or an offset.
        Every other column must be a registered variable; a ``# name [units]`` comment
        that disagrees with the registry unit is an error (no conversion is done).
    step
        Expected time step; default: the most common spacing.
    max_gap
        Opt-in: fill missing rows/cells up to this long, per registry rule.

    Returns
    -------
    xarray.Dataset
        One variable per column on a UTC ``time`` axis, with registry attrs.
    """
    path = Path(path)
    source = path.name
    text = path.read_text(encoding="utf-8").splitlines()
    header_at = next((i for i, line in enumerate(text) if not line.startswith("#")), None)
    if header_at is None:
        raise SeriesError(f"{source}: no header line 'time,<variable>,...'")
    declared: dict[str, str] = {}
    for line in text[:header_at]:
        match = _UNIT_LINE.match(line)
        if match:
            declared[match.group(1)] = match.group(2).strip()
    header = [cell.strip() for cell in text[header_at].split(",")]
    if not header or header[0] != "time":
        raise SeriesError(
            f"{source}: line {header_at + 1}: first column must be 'time', got {header[:1]}"
        )
    for column in header[1:]:
        if column not in VARIABLES:
            raise SeriesError(
                f"{source}: column {column!r} is not a registered variable (physics.variables)"
            )
        if column in declared and declared[column] != VARIABLES[column].units:
            raise SeriesError(
                f"{source}: column {column!r} is declared in [{declared[column]}] but dctwin "
                f"expects [{VARIABLES[column].units}]; convert the file"
            )
    body = [(number, line) for number, line in enumerate(text, 1) if number > header_at + 1]
    body = [(number, line) for number, line in body if line.strip()]
    cells = [line.split(",") for _, line in body]
    rows = np.array([number for number, _ in body], dtype=np.int64)
    wrong = [int(rows[i]) for i, row in enumerate(cells) if len(row) != len(header)]
    if wrong:
        raise SeriesError(
            f"{source}: lines {wrong[:_SHOW]} have a different number of cells than the "
            f"header ({len(header)} expected)"
        )
    grid = np.array(cells, dtype=object).reshape(len(cells), len(header))
    times = _parse_times(grid[:, 0], source, rows)
    values = {
        column: _parse_numbers(grid[:, j + 1], source, column, rows)
        for j, column in enumerate(header[1:])
    }
    table = _Table(source, times, values, rows, attrs={"source": source})
    return _finish(table, _step(step) if step is not None else None, max_gap)


# --------------------------------------------------------------------------------------------
# deterministic demo series
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Climate:
    latitude: float  # [deg north]
    annual_mean: float  # [degC]
    seasonal_amplitude: float  # [K]
    diurnal_amplitude: float  # [K]
    dew_point_depression: float  # [K]
    cloudiness: tuple[float, float]  # Beta(a, b) of daily cloud fraction


_CLIMATES = {
    "temperate": _Climate(48.0, 11.0, 9.0, 5.0, 6.0, (1.2, 2.2)),
    "hot": _Climate(33.4, 24.0, 10.5, 7.5, 18.0, (0.6, 4.0)),
    "cold": _Climate(60.0, 4.0, 11.0, 3.5, 3.5, (2.0, 2.0)),
}


def _red_noise(
    rng: np.random.Generator, count: int, sigma: float, time_constant: float, step: float
) -> np.ndarray:
    """Stationary AR(1) noise with standard deviation ``sigma`` and ``time_constant`` [s]."""
    phi = math.exp(-step / time_constant)
    shocks = rng.standard_normal(count) * sigma * math.sqrt(1.0 - phi * phi)
    shocks[0] = shocks[0] / math.sqrt(1.0 - phi * phi)  # start in the stationary state
    return np.asarray(scipy.signal.lfilter([1.0], [1.0, -phi], shocks), dtype=np.float64)


def generate_demo_series(
    start: TimeLike,
    days: int = 7,
    step: StepLike = "15min",
    seed: int = 0,
    climate: Literal["temperate", "hot", "cold"] = "temperate",
) -> xr.Dataset:
    """Deterministic, realistic-looking exogenous series for demos and tests.

    Local solar time is taken equal to UTC (a site near 0° longitude); the climate sets the
    latitude (48°, 33.4°, 60° N), temperatures and cloudiness.  The same arguments give
    bit-identical output (``numpy.random.default_rng(seed)``, fixed draw order).

    * ``price`` [USD MWh-1]: weekday/weekend base, morning and evening peaks, a midday dip
      with PV output (occasionally negative on sunny weekends), evening spikes on some
      days, cooling-demand uplift on hot afternoons; mostly 10–300, floor −20.
    * ``carbon_intensity`` [g kW-1 h-1]: 150–500, lowest at sunny middays, gas-fired
      evening bump.
    * ``outdoor_temperature`` [degC]: seasonal mean + diurnal cosine (max 15:00) damped
      on cloudy days + day-to-day weather anomaly + red noise.
    * ``relative_humidity`` [%]: from a slowly varying dew point (Magnus formula).
    * ``pv_capacity_factor`` [1]: clear-sky bell from the solar elevation, peak ≈ 0.85,
      reduced by clouds; 0 at night.
    * ``cpu_load`` [1]: inference-like diurnal 0.35–0.85, lower at weekends.

    Parameters
    ----------
    start
        First instant (tz-aware).
    days
        Length [d]; must be a whole number of ``step``.
    step
        Time step, e.g. ``"15min"``.
    seed
        Seed of the random generator.
    climate
        ``"temperate"``, ``"hot"`` (desert) or ``"cold"`` (Nordic).

    Returns
    -------
    xarray.Dataset
        The six variables above on a regular UTC ``time`` axis.
    """
    if climate not in _CLIMATES:
        raise SeriesError(f"climate must be one of {sorted(_CLIMATES)}, got {climate!r}")
    if days <= 0:
        raise SeriesError(f"days must be positive, got {days}")
    site = _CLIMATES[climate]
    first = _utc(start, "generate_demo_series start")
    spacing = _step(step)
    total = pd.Timedelta(days=days)
    if total.value % spacing.value:
        raise SeriesError(f"{days} days is not a whole number of {_fmt_step(spacing)} steps")
    count = total.value // spacing.value
    dt = spacing.total_seconds()
    times = first + np.arange(count, dtype=np.int64) * np.timedelta64(spacing.value, "ns")
    index = pd.DatetimeIndex(times)
    hour = index.hour.to_numpy() + index.minute.to_numpy() / 60.0 + index.second.to_numpy() / 3600.0
    day_of_year = index.day_of_year.to_numpy() + hour / 24.0
    weekend = index.day_of_week.to_numpy() >= 5
    day = ((times - times[0].astype("datetime64[D]")) // np.timedelta64(1, "D")).astype(int)
    day_count = int(day[-1]) + 1
    rng = np.random.default_rng(seed)

    # sun and clouds
    declination = np.radians(23.44) * np.sin(2.0 * np.pi * (284.0 + day_of_year) / 365.0)
    latitude = np.radians(site.latitude)
    hour_angle = np.radians(15.0 * (hour - 12.0))
    sin_elevation = np.sin(latitude) * np.sin(declination) + np.cos(latitude) * np.cos(
        declination
    ) * np.cos(hour_angle)
    clear_sky = 0.85 * np.clip(sin_elevation, 0.0, None) ** 1.3
    daily_cloud = rng.beta(*site.cloudiness, size=day_count)
    cloud = np.clip(daily_cloud[day] + _red_noise(rng, count, 0.15, 2 * 3600.0, dt), 0.0, 1.0)
    pv = clear_sky * (1.0 - 0.75 * cloud)

    # temperature and humidity
    season = site.annual_mean + site.seasonal_amplitude * np.cos(
        2.0 * np.pi * (day_of_year - 200.0) / 365.25
    )
    anomaly_days = _red_noise(rng, day_count + 1, 2.0, 3 * 86400.0, 86400.0)
    anomaly = np.interp(day + hour / 24.0, np.arange(day_count + 1), anomaly_days)
    diurnal = site.diurnal_amplitude * (1.0 - 0.5 * daily_cloud[day])
    temperature = (
        season
        + anomaly
        + diurnal * np.cos(2.0 * np.pi * (hour - 15.0) / 24.0)
        + _red_noise(rng, count, 0.4, 3 * 3600.0, dt)
    )
    dew_days = rng.normal(0.0, 1.5, size=day_count + 1)
    dew_point = np.minimum(
        season
        + anomaly
        - site.dew_point_depression
        + np.interp(day + hour / 24.0, np.arange(day_count + 1), dew_days),
        temperature,
    )
    magnus_a, magnus_b = 17.62, 243.12
    humidity = 100.0 * np.exp(
        magnus_a * dew_point / (magnus_b + dew_point)
        - magnus_a * temperature / (magnus_b + temperature)
    )
    humidity = np.clip(humidity, 3.0, 100.0)

    # price
    spike_day = rng.random(day_count) < 0.25
    spike_size = rng.uniform(60.0, 180.0, size=day_count)
    price = (
        np.where(weekend, 40.0, 55.0)
        + 22.0 * np.exp(-0.5 * ((hour - 8.0) / 1.5) ** 2)
        + 45.0 * np.exp(-0.5 * ((hour - 19.0) / 1.8) ** 2)
        - 70.0 * (pv / 0.85) ** 1.5
        + 1.5 * np.clip(temperature - 25.0, 0.0, None)
        + np.where(spike_day, spike_size, 0.0)[day] * np.exp(-0.5 * ((hour - 19.5) / 0.75) ** 2)
        + _red_noise(rng, count, 5.0, 3 * 3600.0, dt)
    )
    price = np.clip(price, -20.0, 300.0)

    # carbon intensity
    carbon = (
        np.where(weekend, 395.0, 420.0)
        - 260.0 * pv
        + 35.0 * np.exp(-0.5 * ((hour - 19.0) / 2.0) ** 2)
        + _red_noise(rng, count, 12.0, 6 * 3600.0, dt)
    )
    carbon = np.clip(carbon, 150.0, 500.0)

    # inference-like CPU load
    cpu = (
        0.6
        + 0.17 * np.cos(2.0 * np.pi * (hour - 15.0) / 24.0)
        - 0.06 * weekend
        + _red_noise(rng, count, 0.025, 3600.0, dt)
    )
    cpu = np.clip(cpu, 0.35, 0.85)

    values = {
        "price": price,
        "carbon_intensity": carbon,
        "outdoor_temperature": temperature,
        "relative_humidity": humidity,
        "pv_capacity_factor": pv,
        "cpu_load": cpu,
    }
    attrs = {
        "source": "twin.data.timeseries.generate_demo_series",
        "title": f"dctwin demo series ({climate}, seed {seed})",
        "climate": climate,
        "seed": seed,
    }
    return _dataset(times, values, attrs)


def write_demo_data(path: str | Path) -> Path:
    """Write the shipped demo week ``data/demo-week.csv``.

    Seven days of 15-min :func:`generate_demo_series` (seed 0, temperate) from
    :data:`DEMO_START` (Monday 2026-07-06 00:00 UTC), 4 decimals.

    Parameters
    ----------
    path
        Output file.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    ds = generate_demo_series(DEMO_START, days=7, step="15min", seed=0, climate="temperate")
    return write_series_csv(ds, path, decimals=4)
