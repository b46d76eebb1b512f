"""The exogenous series of a scenario, on its simulation time axis.

Sources listed under ``series:`` are read in order (later ones override variables of earlier
ones), each resampled to the simulation step by the variables registry's rule; demand-response
events become the ``dr_import_cap`` series.
"""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from physics.variables import VARIABLES, annotate
from twin.data.csv import read_series_csv
from twin.data.demo import generate_demo_series
from twin.data.loaders import (
    load_carbon_csv,
    load_cpu_trace,
    load_epw,
    load_open_meteo,
    load_price_csv,
    load_zone,
)
from twin.data.resample import resample
from twin.data.validation import SeriesError
from twin.scenario.schema import Scenario, SeriesSource

REQUIRED = ("price", "carbon_intensity", "outdoor_temperature", "relative_humidity")


def simulation_window(scenario: Scenario) -> tuple[pd.Timestamp, pd.Timestamp, pd.Timedelta]:
    """(start, end, step) of the scenario's window; start/end tz-aware UTC, end exclusive."""
    start = pd.Timestamp(scenario.simulation.start).tz_convert("UTC")
    end = start + pd.Timedelta(scenario.simulation.duration)
    return start, end, pd.Timedelta(scenario.simulation.step)


def _check_replay_start(raw: xr.Dataset, replay_from: pd.Timestamp) -> None:
    """Refuse a ``replay_from`` outside the source's own data, naming the data's span (the
    window check after the shift would name a span shifted by decades)."""
    times = pd.DatetimeIndex(raw["time"].values)
    if not len(times):
        return
    first, last = times[0].tz_localize("UTC"), times[-1].tz_localize("UTC")
    if not first <= replay_from <= last:
        raise SeriesError(
            f"replay_from {replay_from.isoformat()} is outside the source's data, which runs "
            f"from {first.isoformat()} to {last.isoformat()}"
        )


def _source_dataset(
    source: SeriesSource,
    base_dir: Path,
    start: pd.Timestamp,
    end: pd.Timestamp,
    step: pd.Timedelta,
) -> xr.Dataset:
    if source.generate is not None:
        days = math.ceil((end - start) / pd.Timedelta(days=1))
        return generate_demo_series(start, days=days, step=step, seed=source.seed)
    if source.constant is not None or source.values is not None:
        assert source.variable is not None  # schema guarantees it
        if source.constant is not None:
            times = pd.date_range(start, end, freq=step, inclusive="left")
            values = np.full(times.size, source.constant, dtype=float)
        else:
            assert source.values is not None and source.step is not None
            values = np.asarray(source.values, dtype=float)
            times = pd.date_range(start, periods=values.size, freq=pd.Timedelta(source.step))
        ds = xr.Dataset(
            {source.variable: ("time", values)},
            coords={"time": times.tz_convert("UTC").tz_localize(None).values},
        )
        if source.constant is not None and source.variable not in VARIABLES:
            # another name is a workload's utilization profile (the schema's example), already
            # on the simulation axis: held, nothing to resample
            ds[source.variable].attrs.update(
                units="1", long_name=f"{source.variable} (utilization profile)"
            )
            return ds
        return annotate(ds, [source.variable])
    if source.zone is not None:
        year = source.year or 2023
        return load_zone(source.zone, year, base_dir / source.data_dir, max_gap="3h")
    assert source.file is not None
    path = (base_dir / source.file).resolve()
    if not path.exists():
        raise SeriesError(f"series file {path} does not exist")
    if source.format == "dctwin":
        return read_series_csv(path)
    if source.format == "price_csv":
        return load_price_csv(path, max_gap="3h")
    if source.format == "carbon_csv":
        return load_carbon_csv(path, max_gap="3h")
    if source.format == "open_meteo":
        return load_open_meteo(path, max_gap="3h")
    if source.format == "epw":
        return load_epw(path, year=source.year or start.year)
    assert source.first_row_at is not None  # schema guarantees it for a CPU trace
    ds = load_cpu_trace(path, start=source.first_row_at)
    if source.variable is not None and source.variable != "cpu_load":
        ds = ds.rename({"cpu_load": source.variable})
    return ds


def scenario_series(scenario: Scenario, base_dir: str | Path | None = None) -> xr.Dataset:
    """All exogenous series of ``scenario`` on its simulation axis.

    Parameters
    ----------
    scenario
        Validated scenario.
    base_dir
        Folder relative paths in ``series`` are resolved against.  Default: the folder of
        the file the scenario was loaded from (:func:`~twin.scenario.loader.load_scenario`),
        the working directory for a scenario built in memory.

    Returns
    -------
    xarray.Dataset
        Regular UTC ``time`` axis from the simulation start, one value per step.

    Raises
    ------
    twin.data.validation.SeriesError
        When a source cannot be read, does not cover the window, or a needed series is missing.
    """
    start, end, step = simulation_window(scenario)
    if base_dir is None:
        base_dir = scenario._folder if scenario._folder is not None else "."
    base = Path(base_dir)
    merged: xr.Dataset | None = None
    for index, source in enumerate(scenario.series):
        try:
            raw = _source_dataset(source, base, start, end, step)
            if source.replay_from is not None:
                replay_from = pd.Timestamp(source.replay_from).tz_convert("UTC")
                _check_replay_start(raw, replay_from)
                offset = pd.Timestamp(start) - replay_from
                raw = raw.assign_coords(time=raw["time"].values + offset.to_timedelta64())
                if source.repeat:
                    raw = _repeated(raw, pd.Timestamp(end).tz_convert(None).to_datetime64())
            profile = source.constant is not None and source.variable not in VARIABLES
            sampled = raw if profile else resample(raw, step, start=start, end=end)
        except SeriesError as exc:
            raise SeriesError(f"series[{index}]: {exc}") from None
        merged = sampled if merged is None else sampled.combine_first(merged)
    if merged is None:
        raise SeriesError("the scenario lists no series (add e.g. '- generate: demo')")
    merged = _with_demand_response(scenario, merged)
    missing = [name for name in _needed(scenario) if name not in merged]
    if missing:
        raise SeriesError(
            f"the series lack {', '.join(missing)} (have: {', '.join(map(str, merged.data_vars))})"
        )
    return merged


def _repeated(raw: xr.Dataset, end: np.datetime64) -> xr.Dataset:
    """``raw`` followed by copies of itself, each shifted by its span in whole days (at least
    one), until its times reach ``end`` (UTC, naive); ``raw`` itself when they do already."""
    times = raw["time"].values
    if times.size < 2 or times[-1] >= end:
        return raw
    day = np.timedelta64(1, "D")
    span = max((times[-1] - times[0] + (times[1] - times[0])) // day, 1) * day
    kept = raw.sel(time=raw["time"] < times[0] + span)  # whole days: copies never overlap
    copies = [kept]
    while copies[-1]["time"].values[-1] < end:
        shift = span * len(copies)
        copies.append(kept.assign_coords(time=kept["time"].values + shift))
    return xr.concat(copies, dim="time")


def _needed(scenario: Scenario) -> list[str]:
    needed = list(REQUIRED)
    if scenario.pv is not None:
        needed.append("pv_capacity_factor")
    needed += [w.profile for w in scenario.workloads if w.profile is not None]
    return needed


DR_SERIES = ("dr_import_cap", "dr_soft_cap", "dr_penalty", "dr_credit", "dr_baseline")
"""Series built from the scenario's demand-response events (NaN outside events)."""


def _with_demand_response(scenario: Scenario, ds: xr.Dataset) -> xr.Dataset:
    """The events as series: hard caps ``dr_import_cap`` [W]; priced caps ``dr_soft_cap`` [W]
    with ``dr_penalty`` [currency/kWh]; credits ``dr_credit`` [currency/kWh] against
    ``dr_baseline`` [W].  A step is in an event when any part of it overlaps the event."""
    times = pd.DatetimeIndex(ds["time"].values).tz_localize("UTC")
    values = {name: np.full(times.size, np.nan) for name in DR_SERIES}
    step = timedelta(seconds=float(pd.Timedelta(scenario.simulation.step).total_seconds()))
    for event in scenario.grid.demand_response:
        inside = (times < pd.Timestamp(event.end)) & (times + step > pd.Timestamp(event.start))
        if event.import_cap is not None and event.penalty is None:
            values["dr_import_cap"][inside] = np.fmin(
                values["dr_import_cap"][inside], event.import_cap * 1e3
            )
        if event.import_cap is not None and event.penalty is not None:
            values["dr_soft_cap"][inside] = np.fmin(
                values["dr_soft_cap"][inside], event.import_cap * 1e3
            )
            values["dr_penalty"][inside] = np.fmax(values["dr_penalty"][inside], event.penalty)
        if event.credit is not None and event.baseline is not None:
            values["dr_credit"][inside] = event.credit
            values["dr_baseline"][inside] = event.baseline * 1e3
    used = [
        name for name in DR_SERIES if name == "dr_import_cap" or np.isfinite(values[name]).any()
    ]
    ds = ds.assign({name: ("time", values[name]) for name in used})
    return annotate(ds, used)
