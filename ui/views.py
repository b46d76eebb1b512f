"""Read models for the web UI: pure functions of a :class:`twin.live.live_twin.LiveTwin`,
JSON-ready.

Every page of the Dash UI (:mod:`ui`) draws what one of these functions returns, so the
callbacks stay thin and the figures are unit-testable without a browser.  Units are in the
key names (``_kw``, ``_c``) or documented per function; times are ISO 8601 UTC strings
(the UI converts them to the site's timezone for display).

This module holds what the pages share (:class:`ViewCache`, :func:`window_result`, the JSON
helpers) and the Floor page's read models; the other pages' are in :mod:`ui.views_overview`,
:mod:`ui.views_plan`, :mod:`ui.views_whatif` and :mod:`ui.views_live`.

* :func:`floor_grid` — one quantity over the row × position grid, measured racks marked.
* :func:`rack_history` — one rack's readings over time (downsampled in the store).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import xarray as xr

from physics.variables import variable
from twin.live.parameters import rounded_factors, simulate_window

if TYPE_CHECKING:
    from twin.live.live_twin import LiveTwin

FLOOR_QUANTITIES: dict[str, tuple[str, str]] = {
    quantity: (variable(name).long_name, units or variable(name).units)
    for quantity, name, units in (
        ("inlet_temperature", "inlet_temperature", ""),
        ("margin", "inlet_limit_margin", ""),
        ("power", "rack_power", "kW"),
        ("liquid_share", "liquid_share", ""),
    )
}
"""Quantities the floor map can show: name → (long name, unit), from :mod:`physics.variables`
(rack power shown in kW)."""


class ViewCache:
    """What the read models of one live twin keep between calls: the model window last
    simulated and the last simulated plans.

    The UI creates one per twin (:class:`ui.callbacks.UIContext`) and passes it to the read
    models; without one they compute every time.

    Parameters
    ----------
    plans
        Most simulated plans kept (the oldest go first) [-].
    """

    def __init__(self, plans: int = 20) -> None:
        self.plans = plans
        self._window: dict[Hashable, xr.Dataset] = {}
        self._plans: dict[Hashable, dict[str, Any]] = {}

    def window(self, key: Hashable, compute: Callable[[], xr.Dataset]) -> xr.Dataset:
        """The window simulated for ``key``; ``compute()`` replaces the one kept (one window
        at a time: the cache never grows)."""
        if key in self._window:
            return self._window[key]
        result = compute()
        self._window.clear()
        self._window[key] = result
        return result

    def plan(self, key: Hashable, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The plan simulated for ``key``, from ``compute()`` when not kept."""
        simulated = self._plans.get(key)
        if simulated is None:
            simulated = compute()
            while len(self._plans) >= self.plans:  # the oldest simulated plans go first
                self._plans.pop(next(iter(self._plans)))
            self._plans[key] = simulated
        return simulated


def json_number(value: float | None) -> float | None:
    """NaN and infinities → None (JSON has no NaN)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def json_numbers(values: Any) -> list[float | None]:
    """Array-like → flat list of floats, NaN and infinities as None."""
    return [json_number(v) for v in np.asarray(values, dtype=float).ravel().tolist()]


def iso_times(times: Any) -> list[str]:
    """Times (naive ones are UTC) → ISO 8601 strings with their offset."""
    index = pd.DatetimeIndex(times)
    if index.tz is None:
        index = index.tz_localize("UTC")
    return [t.isoformat() for t in index]


def site_timezone(twin: LiveTwin) -> ZoneInfo:
    """The site's timezone for display (``site.timezone`` of the scenario)."""
    return ZoneInfo(twin.scenario.site.timezone)


def window_result(
    twin: LiveTwin, moment: datetime, lookback_steps: int = 96, cache: ViewCache | None = None
) -> xr.Dataset:
    """The calibrated model under the schedule in force over the steps up to ``moment``.

    One simulation (:func:`twin.live.parameters.simulate_window`) of the ``lookback_steps + 1``
    steps ending at the step of ``moment``, cached per (step, schedule, calibrated factors
    rounded to 0.1 %); the per-rack inlet offsets are *not* in it (callers add them).

    Parameters
    ----------
    twin
        The live twin.
    moment
        Last instant covered (timezone-aware).
    lookback_steps
        Steps before the current one [-].
    cache
        The twin's view cache (none: simulate every time).

    Returns
    -------
    xarray.Dataset
        :func:`physics.simulate.simulate` output (CF attrs; powers [W], temperatures [°C]).
    """
    step = twin.step_index(moment)
    first = max(step - lookback_steps, 0)
    with twin.lock:
        factors = rounded_factors(twin.parameters)  # offsets: added by the callers
        schedule = twin.schedule
    key = ("window", first, step, id(schedule), factors, id(twin.facility))
    stop = max(step + 1, first + 2)

    def compute() -> xr.Dataset:
        return simulate_window(twin.facility, factors, schedule, twin.series, first, stop)

    return compute() if cache is None else cache.window(key, compute)


# ---------------------------------------------------------------------------- floor


def _ashrae_bands(twin: LiveTwin, limit: float) -> dict[str, Any]:
    """The site's ASHRAE air class: its allowable and the recommended inlet range [°C]."""
    from twin.scenario.fields import AIR_CLASS_ALLOWABLE, AIR_CLASS_RECOMMENDED

    air_class = twin.scenario.site.air_class
    return {
        "air_class": air_class,
        "allowable": list(AIR_CLASS_ALLOWABLE[air_class]),
        "recommended": list(AIR_CLASS_RECOMMENDED),
        "limit": limit,
    }


_LAYOUTS: dict[int, tuple[Any, dict[str, Any]]] = {}
"""The Floor's rack layout per facility's racks (keyed by identity; the racks kept alive)."""


def _floor_layout(twin: LiveTwin) -> dict[str, Any]:
    """Where each rack sits on the Floor's grid (computed once per facility).

    ``rows`` (sorted row names), ``positions`` (every position from the first to the last),
    ``y``, ``x`` (each rack's grid row and column index, in the racks' order) and ``rack``
    (rows × positions: the rack id, None where no rack).
    """
    racks = twin.facility.racks
    kept = _LAYOUTS.get(id(racks))
    if kept is not None and kept[0] is racks:
        return kept[1]
    row_names, y = np.unique(np.asarray([str(r) for r in racks.row]), return_inverse=True)
    positions = np.asarray(racks.position, dtype=int)
    low, high = int(positions.min()), int(positions.max())
    x = positions - low
    names = np.full((len(row_names), high - low + 1), None, dtype=object)
    names[y, x] = list(racks.ids)
    layout = {
        "rows": [str(r) for r in row_names],
        "positions": list(range(low, high + 1)),
        "y": y.astype(int),
        "x": x,
        "rack": names.tolist(),
    }
    if len(_LAYOUTS) >= 8:  # a few facilities (fleet sites, what-ifs): never grows
        _LAYOUTS.pop(next(iter(_LAYOUTS)))
    _LAYOUTS[id(racks)] = (racks, layout)
    return layout


def _predicted(twin: LiveTwin, now: datetime, ids: list[str], quantity: str) -> Any:
    """The calibrated model's ``quantity`` of every rack at ``now`` (NaN where none), in the
    racks' order (canonical units: °C, kW)."""
    with twin.lock:
        predicted = twin.predicted(now)
    return np.array([predicted.get(f"rack/{r}/{quantity}", np.nan) for r in ids], dtype=float)


def floor_grid(twin: LiveTwin, quantity: str = "inlet_temperature") -> dict[str, Any]:
    """One quantity of every rack on the row × position grid.

    Inlet temperature and margin come from the state estimate (the model prediction where
    no estimate exists yet); power from the latest reading within an hour, else the
    prediction; liquid share is the rack type's design share of heat to liquid.

    Parameters
    ----------
    twin
        The live twin.
    quantity
        One of :data:`FLOOR_QUANTITIES`.

    Returns
    -------
    dict
        ``quantity``, ``long_name``, ``units``, ``rows`` (row names, y), ``positions`` (x),
        ``z`` (rows × positions, None where no rack), ``rack`` (ids on the same grid, None
        where no rack), ``measured`` (``x``, ``y``, ``rack``, ``value`` of racks with a recent
        inlet reading and a healthy sensor; the others are virtual sensors), ``faulty``
        (``x``, ``y``, ``rack``, ``fault`` of racks whose inlet or power sensor is faulty now,
        :func:`ui.views_alarms.sensor_faults`: their colour is the estimate or the prediction,
        never the bad reading), ``bands`` (the site's ASHRAE class:
        ``allowable`` and ``recommended`` ranges and the ``limit`` in force [°C]),
        ``inlet_limit`` [°C] and ``time``.

    Raises
    ------
    KeyError
        Unknown quantity.
    """
    if quantity not in FLOOR_QUANTITIES:
        raise KeyError(f"unknown floor quantity {quantity!r}; known: {', '.join(FLOOR_QUANTITIES)}")
    from ui.views_alarms import sensor_faults

    now = twin.clock()
    racks = twin.facility.racks
    faults = sensor_faults(twin)
    with twin.lock:
        estimate = twin.estimator.state(now)
    ids = list(racks.ids)
    if quantity in ("inlet_temperature", "margin"):
        inlet = np.asarray(estimate.inlet_temperature, dtype=float).copy()
        missing = ~np.isfinite(inlet)
        if missing.any():
            inlet[missing] = _predicted(twin, now, ids, "inlet_temperature")[missing]
        values = inlet if quantity == "inlet_temperature" else estimate.inlet_limit - inlet
    elif quantity == "power":  # a faulty power sensor's rack shows the prediction
        values = _predicted(twin, now, ids, "power")
        latest = twin.store.latest([f"rack/{r}/power" for r in ids])
        for r, rack in enumerate(ids):
            point = f"rack/{rack}/power"
            reading = latest.get(point)
            if (
                reading is not None
                and (now - reading.time).total_seconds() < 3600
                and point not in faults
            ):
                values[r] = reading.value
    else:
        values = np.asarray(racks.liquid_share, dtype=float)
    layout = _floor_layout(twin)
    y, x, row_names = layout["y"], layout["x"], layout["rows"]
    z = np.full((len(row_names), len(layout["positions"])), np.nan)
    z[y, x] = values
    cells = z.astype(object)
    cells[~np.isfinite(z)] = None
    faulty_racks = {
        p[len("rack/") : p.rindex("/")]
        for p in faults
        if p.startswith("rack/") and p.rsplit("/", 1)[-1] in ("inlet_temperature", "power")
    }
    faulty = np.isin(np.asarray(ids, dtype=object), sorted(faulty_racks))
    measured = np.asarray(estimate.measured, dtype=bool) & ~faulty
    positions = layout["x"] + layout["positions"][0]
    long_name, units = FLOOR_QUANTITIES[quantity]
    return {
        "time": now.isoformat(),
        "quantity": quantity,
        "long_name": long_name,
        "units": units,
        "rows": row_names,
        "positions": layout["positions"],
        "z": cells.tolist(),
        "rack": layout["rack"],
        "measured": {
            "x": (positions[measured]).tolist(),
            "y": [row_names[i] for i in y[measured]],
            "rack": [ids[i] for i in np.flatnonzero(measured)],
            "value": json_numbers(values[measured]),
        },
        "faulty": {
            "x": (positions[faulty]).tolist(),
            "y": [row_names[i] for i in y[faulty]],
            "rack": [ids[i] for i in np.flatnonzero(faulty)],
            "fault": [
                ", ".join(
                    f"{q} {faults[p]}"
                    for q in ("inlet_temperature", "power")
                    if (p := f"rack/{ids[i]}/{q}") in faults
                )
                for i in np.flatnonzero(faulty)
            ],
        },
        "bands": _ashrae_bands(twin, float(estimate.inlet_limit)),
        "racks": len(ids),
        "measured_count": int(measured.sum()),
        "inlet_limit": json_number(estimate.inlet_limit),
    }


def rack_history(
    twin: LiveTwin,
    rack: str,
    hours: float = 6.0,
    points: int = 200,
    cache: ViewCache | None = None,
) -> dict[str, Any]:
    """One rack's detail: readings over the last ``hours`` and its current estimate.

    Readings are downsampled in the store to at most ``points`` buckets per series (bucket
    means); the model's inlet temperature and BBU ride-through (no sensor) over the same
    window come from the calibrated model under the schedule in force.

    Parameters
    ----------
    twin
        The live twin.
    rack
        Rack id (``KeyError`` when unknown).
    hours
        Look-back [h].
    points
        Largest number of buckets per series [-].
    cache
        The twin's view cache (none: simulate every time).

    Returns
    -------
    dict
        ``rack``, ``estimate`` (see :meth:`twin.live.estimation.EstimatedState.rack`), ``series``:
        name → ``{time (ISO UTC), value, units, long_name}`` for ``inlet_temperature`` [°C],
        ``outlet_temperature`` [°C], ``rack_power`` [kW], ``tap_voltage`` [V] (its busbar);
        from the calibrated model (halls up to 2,000 racks): ``inlet_temperature_model`` [°C]
        (what a virtual sensor shows) and ``bbu_ride_through`` [s].
    """
    ids = list(twin.facility.racks.ids)
    if rack not in ids:
        raise KeyError(f"unknown rack {rack!r}")
    r = ids.index(rack)
    now = twin.clock()
    start = now - timedelta(hours=hours)
    bucket_us = max(int(hours * 3600e6 / points), 1_000_000)
    bucket = timedelta(microseconds=bucket_us - bucket_us % 1_000_000)
    busbar = twin.facility.busbars.ids[int(twin.facility.racks.busbar[r])]
    sources = {
        "inlet_temperature": (f"rack/{rack}/inlet_temperature", "degC"),
        "outlet_temperature": (f"rack/{rack}/outlet_temperature", "degC"),
        "rack_power": (f"rack/{rack}/power", "kW"),
        "tap_voltage": (f"busbar/{busbar}/voltage", "V"),
    }
    series: dict[str, dict[str, Any]] = {}
    for name, (point, units) in sources.items():
        times, values = twin.store.downsample(point, start, now, bucket)
        series[name] = {
            "point": point,
            "time": [t.isoformat() for t in times],
            "value": json_numbers(values),
            "units": units,
            "long_name": variable(name).long_name,
        }
    steps = max(1, math.ceil(hours * 3600 / twin.step_seconds))
    if twin.facility.racks.count <= 2_000:  # a whole-window simulation of a huge hall is slow
        model = window_result(twin, now, lookback_steps=steps, cache=cache)
        offset = float(twin.parameters.offsets(twin.facility)[r])  # calibrated [K]
        model_times = iso_times(model["time"].values)
        series["inlet_temperature_model"] = {
            "point": None,
            "time": model_times,
            "value": json_numbers(model["inlet_temperature"].isel(rack=r).values + offset),
            "units": "degC",
            "long_name": variable("inlet_temperature").long_name + " (twin model)",
        }
        bbu = model["bbu_ride_through"].isel(rack=r)
        series["bbu_ride_through"] = {
            "point": None,
            "time": model_times,
            "value": json_numbers(bbu.values),
            "units": "s",
            "long_name": variable("bbu_ride_through").long_name + " (model)",
        }
    with twin.lock:
        estimate = twin.estimator.state(now).rack(rack)
    return {"rack": rack, "busbar": busbar, "estimate": estimate, "series": series}


__all__ = [
    "FLOOR_QUANTITIES",
    "ViewCache",
    "floor_grid",
    "iso_times",
    "json_number",
    "json_numbers",
    "rack_history",
    "site_timezone",
    "window_result",
]
