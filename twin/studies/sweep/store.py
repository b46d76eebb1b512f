"""The Zarr store of a sweep: created up front, written region by region, resumable.
Part of :mod:`twin.studies.sweep.runner`.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from pydantic import BaseModel

from twin.studies.sweep.points import result_variables
from twin.studies.sweep.spec import DEFAULT_CHUNK_SIZE, Sweep, SweepError, _tokens

# --------------------------------------------------------------------------------------------
# the store


def _coordinate_name(path: str, taken: set[str]) -> str:
    name = path.replace("[*]", "_all").replace("[id=", "_").replace("[", "_").replace("]", "")
    name = re.sub(r"[^0-9A-Za-z_]+", "_", name).strip("_") or "field"
    candidate, n = name, 2
    while candidate in taken or candidate == "scenario":
        candidate, n = f"{name}_{n}", n + 1
    taken.add(candidate)
    return candidate


def _field_unit(path: str) -> str | None:
    """The documented unit of a scenario field (``kW``) from its description, if any."""
    from typing import Union, get_args, get_origin

    from twin.scenario.schema import Scenario

    node: Any = Scenario
    description = ""
    for token in _tokens(path):
        if isinstance(token, str) and not token.startswith("id=") and token != "*":
            if (
                isinstance(node, type)
                and issubclass(node, BaseModel)
                and token in node.model_fields
            ):
                info = node.model_fields[token]
                description = info.description or ""
                node = info.annotation
            elif get_origin(node) is dict:
                node = get_args(node)[1]
            else:
                return None
        else:
            if get_origin(node) is list:
                node = get_args(node)[0]
            else:
                return None
        while get_origin(node) in (Union, __import__("types").UnionType):
            args = [a for a in get_args(node) if a is not type(None)]
            node = args[0] if len(args) == 1 else node
            if len(args) != 1:
                break
    match = re.search(r"\[([^\]]+)\]\.?\s*$", description)
    if not match:
        return None
    unit = match.group(1)
    return "1" if unit == "-" else unit.replace("°C", "degC")


def _field_coordinate(sweep: Sweep, path: str) -> tuple[np.ndarray, dict[str, str]]:
    values = [point[path] for point in sweep.points]
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    attrs = {"long_name": f"Swept field {path}", "sweep_path": path}
    if numeric:
        unit = _field_unit(path) or "1"
        attrs["units"] = unit.replace("currency", _currency(sweep))
        return np.asarray(values, dtype=float), attrs
    attrs["units"] = "1"
    attrs["description"] = "value as written in the sweep file"
    texts = [v if isinstance(v, str) else json.dumps(v, default=str) for v in values]
    return np.asarray(texts, dtype=object), attrs


def _currency(sweep: Sweep) -> str:
    grid = sweep.base.get("grid") or {}
    return str(grid.get("currency", "USD")) if isinstance(grid, dict) else "USD"


def empty_results(sweep: Sweep) -> xr.Dataset:
    """The result dataset of ``sweep`` with nothing computed (NaN, empty text, ``done`` 0).

    Parameters
    ----------
    sweep
        The sweep.

    Returns
    -------
    xarray.Dataset
        Dimension ``scenario``; one coordinate per swept field; CF attrs on every variable.
    """
    n = sweep.size
    currency = _currency(sweep)
    data: dict[str, Any] = {}
    for var in result_variables():
        attrs = {"units": var.units.replace("currency", currency), "long_name": var.long_name}
        if var.kind == "text":
            data[var.name] = ("scenario", np.full(n, "", dtype=object), attrs)
        else:
            data[var.name] = ("scenario", np.full(n, np.nan), attrs)
    data["done"] = (
        "scenario",
        np.zeros(n, dtype=np.int8),
        {"units": "1", "long_name": "Point computed (1) or not yet (0)"},
    )
    coords: dict[str, Any] = {
        "scenario": ("scenario", np.arange(n), {"units": "1", "long_name": "Sweep point index"})
    }
    taken: set[str] = set()
    names = {}
    for path in sweep.fields:
        name = _coordinate_name(path, taken)
        names[name] = path
        values, attrs = _field_coordinate(sweep, path)
        coords[name] = ("scenario", values, attrs)
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update(
        {
            "title": f"dctwin sweep of {Path(sweep.spec.base).name}",
            "Conventions": "CF-1.8",
            "sweep_file": sweep.source,
            "base_scenario": sweep.spec.base,
            "spec_hash": sweep.spec_hash,
            "horizon_seconds": sweep.spec.horizon.total_seconds(),
            "step_seconds": sweep.spec.step.total_seconds(),
            "fields": json.dumps(names),
            "gpus_per_rack": json.dumps(sweep.spec.gpus_per_rack),
            "currency": currency,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )
    return ds


def _open(out: Path) -> xr.Dataset:
    return xr.open_zarr(out, consolidated=False)


def open_results(path: str | Path) -> xr.Dataset:
    """Load a sweep result store into memory, text variables as Python ``str`` objects.

    Parameters
    ----------
    path
        Zarr store written by :func:`run_sweep`.

    Returns
    -------
    xarray.Dataset
        Dimension ``scenario``; every variable with ``units`` and ``long_name``.
    """
    ds = xr.open_zarr(path, consolidated=False).load()
    return plain_text(ds)


def plain_text(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with NumPy ``StringDType`` variables (Zarr v3 text) turned into object arrays.

    Parameters
    ----------
    ds
        A dataset, modified in place.

    Returns
    -------
    xarray.Dataset
        The same dataset.
    """
    for name in list(ds.variables):
        values = ds[name].values
        if values.dtype.kind == "T":
            converted = np.array([str(v) for v in values.ravel()], dtype=object).reshape(
                values.shape
            )
            ds[name] = ds[name].copy(data=converted)
    return ds


def prepare_store(
    sweep: Sweep, out: str | Path, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> xr.Dataset:
    """Create the Zarr store of ``sweep`` at ``out``, or check that an existing one matches.

    Parameters
    ----------
    sweep
        The sweep.
    out
        Zarr store folder.
    chunk_size
        Points per Zarr chunk along ``scenario`` [-] (ignored for an existing store).

    Returns
    -------
    xarray.Dataset
        The store, opened lazily.

    Raises
    ------
    SweepError
        ``out`` exists but is not a sweep store, or holds a different sweep.
    """
    out = Path(out)
    if out.exists():
        try:
            existing = _open(out)
        except Exception as exc:  # not a zarr store, or an unreadable one
            raise SweepError(
                str(out), [f"exists and is not a sweep result store ({exc})"]
            ) from None
        found = existing.attrs.get("spec_hash")
        if found != sweep.spec_hash:
            raise SweepError(
                str(out),
                [
                    f"holds a different sweep (spec hash {str(found)[:12]}, this sweep "
                    f"{sweep.spec_hash[:12]}): the sweep file or its base scenario changed; "
                    "write to a new --out or delete the old store"
                ],
            )
        return existing
    if chunk_size < 1:
        raise SweepError(str(out), [f"chunk size must be at least 1, got {chunk_size}"])
    ds = empty_results(sweep)
    chunk = min(chunk_size, max(sweep.size, 1))
    encoding = {name: {"chunks": (chunk,)} for name in ds.variables}
    try:
        # consolidated metadata, so that a plain xr.open_zarr(out) reads it without a warning
        # (the region writes that follow change data only, never the metadata); zarr 3 says
        # at write time that consolidation is not in its format-3 specification yet
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Consolidated metadata is currently not")
            ds.to_zarr(out, mode="w-", encoding=encoding, consolidated=True)
    except (OSError, ValueError) as exc:
        raise SweepError(str(out), [f"cannot create the store: {exc}"]) from None
    return _open(out)


def _write(out: Path, records: Sequence[dict[str, Any]], template: xr.Dataset) -> None:
    """Write finished records (any indices) as contiguous regions of the store."""
    by_index = sorted(records, key=lambda r: int(r["index"]))
    for run in _runs([int(r["index"]) for r in by_index]):
        part = [r for r in by_index if run.start <= int(r["index"]) < run.stop]
        data: dict[str, Any] = {}
        for var in result_variables():
            if var.name not in template:  # a store made before the variable was added
                continue
            if var.kind == "text":
                values: Any = np.array([str(r.get(var.name, "")) for r in part], dtype=object)
            else:
                values = np.array([float(r.get(var.name, np.nan)) for r in part])
            data[var.name] = ("scenario", values, template[var.name].attrs)
        data["done"] = ("scenario", np.ones(len(part), dtype=np.int8), template["done"].attrs)
        xr.Dataset(data).to_zarr(out, region={"scenario": run}, consolidated=False)


def _runs(indices: list[int]) -> Iterator[slice]:
    if not indices:
        return
    start = prev = indices[0]
    for i in indices[1:]:
        if i != prev + 1:
            yield slice(start, prev + 1)
            start = i
        prev = i
    yield slice(start, prev + 1)
