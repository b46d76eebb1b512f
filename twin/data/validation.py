"""Validation of time series: sorted, unique, regular timestamps and finite values.

Strictness
----------
Loaders reject series with gaps, duplicate or unsorted timestamps, NaN values or non-numeric
cells, naming the file, the line (or index) and the time.  Real data has the odd missing hour,
so every loader takes an opt-in ``max_gap``: runs of missing samples no longer than
``max_gap`` are filled per the variable's registry rule (``hold``: previous value;
``interpolate`` and ``mean``: linear in time); longer runs, and missing values at either end,
still raise.

Every reader fills a :class:`SeriesTable` (times, values and where each row came from) and
hands it to :func:`finish_table`, which checks it, fills short gaps if asked and builds the
dataset.  :func:`validate_series` and :func:`fill_gaps` apply the same checks to a dataset.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from physics.variables import VARIABLES, Resample, annotate
from twin.scenario.loader import read_regular_file

__all__ = [
    "NAN_ALLOWED",
    "SHOWN_ITEMS",
    "SeriesError",
    "SeriesTable",
    "StepLike",
    "TimeLike",
    "abridged",
    "fill_gaps",
    "finish_table",
    "format_step",
    "format_time",
    "parse_numbers",
    "parse_times",
    "resample_rule",
    "series_dataset",
    "set_time_attributes",
    "time_step",
    "utc_instant",
    "validate_series",
]

TimeLike = str | datetime | pd.Timestamp
"""A tz-aware instant: ISO 8601 string with ``Z``/offset, aware ``datetime`` or ``Timestamp``."""

StepLike = str | timedelta | pd.Timedelta
"""A fixed time step: pandas offset string (``"15min"``, ``"1h"``) or a timedelta."""

NAN_ALLOWED: frozenset[str] = frozenset(
    {"dr_import_cap", "dr_soft_cap", "dr_penalty", "dr_credit", "dr_baseline"}
)
"""Registered variables whose NaN is meaningful (demand-response terms: NaN outside events)."""

SHOWN_ITEMS = 5
"""Offending items listed in an error message before "... and N more" [-]."""


class SeriesError(ValueError):
    """A time series is malformed: bad timestamps, gaps, NaN, non-numeric cells, bad window.

    The message names the file (or dataset), the line/time concerned and what was expected.
    """


MAX_SERIES_BYTES = 64 * 1024 * 1024
"""Largest series file read [bytes] (a year of 1-minute rows of a few columns fits)."""


def read_series_text(
    path: Path, max_bytes: int = MAX_SERIES_BYTES, *, encoding_errors: str = "strict"
) -> str:
    """The text of a series file: a regular file of at most ``max_bytes``, UTF-8.

    Parameters
    ----------
    path
        The file.
    max_bytes
        Largest size read [bytes].
    encoding_errors
        How undecodable bytes are handled (``"strict"``: an error; ``"replace"``).

    Raises
    ------
    SeriesError
        Missing or unreadable, not a regular file (a device such as ``/dev/zero``, a FIFO, a
        folder), larger than ``max_bytes``, or not UTF-8; one line naming the file, never
        its content.
    """
    try:
        data = read_regular_file(path, max_bytes)
    except OSError as error:
        raise SeriesError(
            f"{path.name}: cannot read the file ({error.strerror or error})"
        ) from None
    except ValueError as error:
        raise SeriesError(f"{path.name}: {str(error).replace(str(path), 'the file')}") from None
    try:
        return data.decode("utf-8-sig", errors=encoding_errors)
    except UnicodeDecodeError as error:
        raise SeriesError(f"{path.name}: not UTF-8 text (offset {error.start})") from None


# --------------------------------------------------------------------------------------------
# small helpers: times, steps, messages
# --------------------------------------------------------------------------------------------


def format_time(value: np.datetime64 | pd.Timestamp) -> str:
    """ISO 8601 UTC text of a naive-UTC ``datetime64`` or an aware ``Timestamp``.

    Whole minutes read ``"2023-01-01T03:00Z"``; seconds and fractions are shown when present.
    """
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    if stamp.second == 0 and stamp.microsecond == 0 and stamp.nanosecond == 0:
        return stamp.strftime("%Y-%m-%dT%H:%MZ")
    return stamp.isoformat() + "Z"


def format_step(step: pd.Timedelta) -> str:
    """A time step as short text: ``"1h"``, ``"15min"`` or ``"90s"``."""
    seconds = step.total_seconds()
    if seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds % 60 == 0:
        return f"{int(seconds // 60)}min"
    return f"{seconds:g}s"


def abridged(items: Sequence[str], what: str) -> str:
    """The first :data:`SHOWN_ITEMS` items for a message, and how many there are.

    Parameters
    ----------
    items
        Offending items, already as text.
    what
        Plural noun counted, e.g. ``"timestamps"``.

    Returns
    -------
    str
        ``"a, b, c"`` or ``"a, b, c, d, e (and 12 more; 17 <what> in total)"``.
    """
    shown = ", ".join(items[:SHOWN_ITEMS])
    if len(items) > SHOWN_ITEMS:
        return f"{shown} (and {len(items) - SHOWN_ITEMS} more; {len(items)} {what} in total)"
    return shown


def utc_instant(value: TimeLike, what: str) -> np.datetime64:
    """A tz-aware time argument as a naive-UTC ``datetime64[ns]``.

    Parameters
    ----------
    value
        Tz-aware instant.
    what
        Name of the argument in error messages.

    Raises
    ------
    SeriesError
        Naive, unparseable or non-time input.
    """
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


def time_step(value: StepLike, what: str = "step") -> pd.Timedelta:
    """A positive fixed time step from a pandas offset string or timedelta.

    Raises :class:`SeriesError` naming ``what`` for anything else.
    """
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


def resample_rule(name: str, source: str) -> Resample:
    """The registry's resample rule (hold, interpolate or mean) of variable ``name``.

    Raises :class:`SeriesError` naming ``source`` when the variable is not registered.
    """
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
# the table every reader fills, then finish_table() checks and turns into a Dataset
# --------------------------------------------------------------------------------------------


@dataclass
class SeriesTable:
    """Parsed rows: naive-UTC times, float columns, and where each row came from."""

    source: str
    """File or dataset name used in messages."""
    times: np.ndarray
    """Instants of the rows, ``datetime64[ns]`` naive UTC."""
    values: dict[str, np.ndarray]
    """Variable name → its values, one per row (first axis)."""
    rows: np.ndarray | None = None
    """Line number (or index) of each row in the source, if known."""
    row_label: str = "line"
    """What :attr:`rows` counts in messages (``"line"``, ``"hourly index"``)."""
    attrs: dict[str, object] = field(default_factory=dict)
    """Attributes of the dataset built from the table."""

    def where(self, position: int | np.integer) -> str:
        """``"2023-01-01T03:00Z (line 5)"`` for the row at ``position``."""
        text = format_time(self.times[position])
        if self.rows is not None:
            text += f" ({self.row_label} {int(self.rows[position])})"
        return text


def parse_times(
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
                f"{source}: timestamp without UTC offset: {abridged(bad, 'timestamps')}; expected "
                f"ISO 8601 with 'Z' or an offset, e.g. '2023-01-01T00:00Z'"
            )
    parsed = pd.to_datetime(series, utc=True, format="ISO8601", errors="coerce")
    if parsed.isna().any():
        bad = [f"{series.iloc[i]!r} ({row_label} {rows[i]})" for i in np.flatnonzero(parsed.isna())]
        raise SeriesError(
            f"{source}: cannot parse timestamp {abridged(bad, 'timestamps')}; expected ISO 8601 "
            f"such as '2023-01-01T00:00Z'"
        )
    return parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")


def parse_numbers(
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
            f"{source}: non-numeric cell in column {column!r}: {abridged(listed, 'cells')}; "
            f"expected a number"
        )
    return values


def _check_order(table: SeriesTable) -> None:
    """Raise on duplicate or decreasing timestamps, listing them."""
    times = table.times
    if times.size < 2:
        return
    diffs = np.diff(times)
    duplicate = np.flatnonzero(diffs == np.timedelta64(0, "ns"))
    if duplicate.size:
        listed = [table.where(i + 1) for i in duplicate]
        raise SeriesError(
            f"{table.source}: duplicate timestamps {abridged(listed, 'duplicates')}; expected "
            f"each UTC instant once (a repeated local hour at a DST change?)"
        )
    backwards = np.flatnonzero(diffs < np.timedelta64(0, "ns"))
    if backwards.size:
        listed = [f"{table.where(i + 1)} after {format_time(times[i])}" for i in backwards]
        raise SeriesError(
            f"{table.source}: timestamps not in increasing order: "
            f"{abridged(listed, 'out-of-order rows')}; expected rows sorted by time"
        )


def _infer_step(table: SeriesTable) -> pd.Timedelta:
    """Most common positive spacing (the smallest on a tie)."""
    if table.times.size < 2:
        raise SeriesError(f"{table.source}: need at least 2 timestamps to know the time step")
    diffs = np.diff(table.times).astype(np.int64)
    unique, counts = np.unique(diffs, return_counts=True)
    return pd.Timedelta(int(unique[np.argmax(counts)]), unit="ns")


def _check_regular(table: SeriesTable, step: pd.Timedelta, *, gaps_fillable: bool) -> None:
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
            span = (
                format_time(first) if missing == 1 else f"{format_time(first)}..{format_time(last)}"
            )
            gaps.append(f"{span} ({missing} step{'s' if missing > 1 else ''})")
        else:
            irregular.append(
                f"{format_step(pd.Timedelta(diff))} between {format_time(times[i])} and "
                f"{table.where(i + 1)}"
            )
    if irregular:
        raise SeriesError(
            f"{table.source}: irregular time step: {abridged(irregular, 'irregular steps')}; "
            f"expected one row every {format_step(step)}"
        )
    if gaps and not gaps_fillable:
        raise SeriesError(
            f"{table.source}: gaps in the {format_step(step)} series, missing "
            f"{abridged(gaps, 'gaps')}; expected one row every {format_step(step)} (pass "
            f"max_gap to fill short gaps)"
        )


def _nan_runs(bad: np.ndarray) -> list[tuple[int, int]]:
    """``[(first, last), ...]`` index runs where ``bad`` is True."""
    padded = np.concatenate(([False], bad, [False])).astype(np.int8)
    edges = np.diff(padded)
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1) - 1
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def _check_finite(table: SeriesTable) -> None:
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
            f"{table.source}: missing/NaN values: {abridged(problems, 'missing values')}; "
            f"expected a finite number at every time (pass max_gap to fill short gaps)"
        )


def _fill(table: SeriesTable, step: pd.Timedelta, max_gap: pd.Timedelta) -> SeriesTable:
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
    regridded = SeriesTable(table.source, grid, {}, rows, table.row_label, dict(table.attrs))
    problems: list[str] = []
    filled: list[str] = []
    for name, values in table.values.items():
        full = np.full((count, *values.shape[1:]), np.nan)
        full[position] = values
        regridded.values[name] = full
        if name in NAN_ALLOWED:
            continue
        rule = resample_rule(name, table.source)
        flat = full.reshape(count, -1)
        bad_rows = np.asarray(~np.isfinite(flat).all(axis=1))
        done = 0
        for first, last in _nan_runs(bad_rows):
            length = last - first + 1
            span = f"{name} at {format_time(grid[first])}" + (
                f"..{format_time(grid[last])}" if last > first else ""
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
            f"{table.source}: missing values that max_gap={format_step(max_gap)} does not "
            f"cover: {abridged(problems, 'unfilled runs')}"
        )
    if filled:
        regridded.attrs["filled_values"] = "; ".join(filled)
    return regridded


def finish_table(
    table: SeriesTable, step: pd.Timedelta | None, max_gap: StepLike | None
) -> xr.Dataset:
    """Check order/regularity/finiteness (filling short gaps if asked) and build the Dataset.

    Parameters
    ----------
    table
        The rows a reader parsed.
    step
        Expected time step; None: the most common spacing.
    max_gap
        Opt-in: fill runs of missing samples up to this long, per registry rule.

    Raises
    ------
    SeriesError
        Duplicate, unsorted or irregular timestamps, gaps and NaN not filled.
    """
    gap = _max_gap(max_gap)
    _check_order(table)
    if step is None:
        step = _infer_step(table)
    _check_regular(table, step, gaps_fillable=gap is not None)
    if gap is not None and table.times.size:
        table = _fill(table, step, gap)
    _check_finite(table)
    return series_dataset(table.times, table.values, table.attrs)


def series_dataset(
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
    set_time_attributes(ds)
    return ds


def set_time_attributes(ds: xr.Dataset) -> None:
    """Give ``ds.time`` its CF attributes (standard name, long name, ``timezone="UTC"``)."""
    ds["time"].attrs.update({"standard_name": "time", "long_name": "Time (UTC)", "timezone": "UTC"})


def _table_from_dataset(ds: xr.Dataset, name: str) -> SeriesTable:
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
    return SeriesTable(name, times.astype("datetime64[ns]"), values, attrs=dict(ds.attrs))


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
    expected = time_step(step) if step is not None else _infer_step(table)
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
    out = finish_table(table, time_step(step) if step is not None else None, max_gap)
    for var, attrs in var_attrs.items():
        if var in out:
            out[var].attrs.update(attrs)
    return out
