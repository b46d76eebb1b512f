"""dctwin's own CSV format of time series (see ``data/README.md``): writing and reading."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from physics.variables import VARIABLES
from twin.data.validation import (
    SHOWN_ITEMS,
    SeriesError,
    SeriesTable,
    StepLike,
    finish_table,
    parse_numbers,
    parse_times,
    read_series_text,
    resample_rule,
    time_step,
    validate_series,
)

__all__ = [
    "read_series_csv",
    "write_series_csv",
]

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
        NaN (only in :data:`~twin.data.validation.NAN_ALLOWED` variables) is written as an empty
        cell.

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
        resample_rule(var, name)
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
    text = read_series_text(path).splitlines()
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
    twice = sorted({name for name in header if header.count(name) > 1})
    if twice:
        raise SeriesError(
            f"{source}: line {header_at + 1}: column(s) {', '.join(map(repr, twice))} given "
            "twice; expected each column once"
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
            f"{source}: lines {wrong[:SHOWN_ITEMS]} have a different number of cells than the "
            f"header ({len(header)} expected)"
        )
    grid = np.array(cells, dtype=object).reshape(len(cells), len(header))
    times = parse_times(grid[:, 0], source, rows)
    values = {
        column: parse_numbers(grid[:, j + 1], source, column, rows)
        for j, column in enumerate(header[1:])
    }
    table = SeriesTable(source, times, values, rows, attrs={"source": source})
    return finish_table(table, time_step(step) if step is not None else None, max_gap)
