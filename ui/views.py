"""Read models for the web UI: pure functions of a :class:`twin.live.live_twin.LiveTwin`,
JSON-ready.

Every page of the Dash UI (:mod:`ui`) draws what one of these functions returns, so the
callbacks stay thin and the figures are unit-testable without a browser.  Units are in the
key names (``_kw``, ``_c``) or documented per function; times are ISO 8601 UTC strings
(the UI converts them to the site's timezone for display).

* :func:`kpis` — live figures for the Overview page.
* :func:`power_flow` — Sankey nodes and links of the power chain with the loss at each stage.
* :func:`floor_grid` — one quantity over the row × position grid, measured racks marked.
* :func:`rack_history` — one rack's readings over time (downsampled in the store).
* :func:`plan_view` — a stored plan with its signals, grid import vs both baselines, SOC,
  setpoints, job windows, verification and shadow prices.
* :func:`residuals` — measured vs predicted series, calibration and faults for the Live page.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import xarray as xr

from optimizer.baselines import as_operated, rule_based
from physics.constants import WATTS_PER_KILOWATT as KW
from physics.schedule import Schedule
from physics.simulate import simulate
from physics.variables import variable
from twin.live.parameters import point_table, rounded_factors, simulate_window

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

_CACHE_KEY = "_views_cache"


def _json(value: float | None) -> float | None:
    """NaN and infinities → None (JSON has no NaN)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _json_list(values: Any) -> list[float | None]:
    return [_json(v) for v in np.asarray(values, dtype=float).ravel().tolist()]


def _iso(times: Any) -> list[str]:
    index = pd.DatetimeIndex(times)
    if index.tz is None:
        index = index.tz_localize("UTC")
    return [t.isoformat() for t in index]


def site_timezone(twin: LiveTwin) -> ZoneInfo:
    """The site's timezone for display (``site.timezone`` of the scenario)."""
    return ZoneInfo(twin.scenario.site.timezone)


def _cache(twin: LiveTwin, name: str) -> dict[Any, Any]:
    """A small cache of the views kept on the twin object (one dict per ``name``)."""
    caches: dict[str, dict[Any, Any]] | None = getattr(twin, _CACHE_KEY, None)
    if caches is None:
        caches = {}
        setattr(twin, _CACHE_KEY, caches)
    return caches.setdefault(name, {})


def window_result(twin: LiveTwin, moment: datetime, lookback_steps: int = 96) -> xr.Dataset:
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
    cache = _cache(twin, "window")
    if key in cache:
        result: xr.Dataset = cache[key]
        return result
    stop = max(step + 1, first + 2)
    result = simulate_window(twin.facility, factors, schedule, twin.series, first, stop)
    cache.clear()  # one window at a time: the cache never grows
    cache[key] = result
    return result


# ---------------------------------------------------------------------------- overview


def kpis(twin: LiveTwin) -> dict[str, Any]:
    """Live KPIs of the Overview page.

    Parameters
    ----------
    twin
        The live twin.

    Returns
    -------
    dict
        ``time`` (ISO UTC), ``it_power_kw`` [kW], ``facility_power_kw`` [kW], ``pue`` [-],
        ``grid_import_kw`` [kW], ``carbon_g_per_kwh`` [g/kWh], ``price_per_mwh``
        [currency/MWh], ``cost_today`` [currency] (grid import since local midnight × price,
        from the store's 15-min means), ``battery_soc`` [-], ``active_alarms`` [count],
        ``stale`` and ``currency``.  Missing figures are None.
    """
    state = twin.state()
    figures = state["kpis"]
    now = twin.clock()
    return {
        "time": now.isoformat(),
        "it_power_kw": _json(figures.get("it_power_kw")),
        "facility_power_kw": _json(figures.get("facility_power_kw")),
        "pue": _json(figures.get("pue")),
        "grid_import_kw": _json(figures.get("grid_import_kw")),
        "carbon_g_per_kwh": _json(figures.get("carbon_g_per_kwh")),
        "price_per_mwh": _json(figures.get("price_per_mwh")),
        "cost_today": _json(cost_today(twin, now)),
        "battery_soc": _json(figures.get("battery_soc")),
        "active_alarms": int(state["alarms"]),
        "stale": bool(state.get("stale")),
        "currency": getattr(twin.scenario, "currency", None) or "USD",
    }


def cost_today(twin: LiveTwin, now: datetime) -> float:
    """Energy cost since local midnight (site timezone) [currency].

    Grid import is taken from the store (15-min means of ``grid/power``) and priced at the
    series' price of each quarter hour; quarters without readings cost nothing.

    Parameters
    ----------
    twin
        The live twin.
    now
        Current instant (timezone-aware).
    """
    if "price" not in twin.series:
        return 0.0
    local = now.astimezone(site_timezone(twin))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    bucket = timedelta(minutes=15)
    times, values = twin.store.downsample("grid/power", midnight, now, bucket)
    if not times:
        return 0.0
    prices = twin.series["price"].values[[twin.step_index(t) for t in times]]  # per MWh
    energy_mwh = np.maximum(np.asarray(values, dtype=float), 0.0) * bucket.total_seconds() / 3.6e6
    return float(energy_mwh @ prices)


def power_flow(twin: LiveTwin) -> dict[str, Any]:
    """The power chain at the current step as Sankey nodes and links.

    Grid (and battery discharge, PV) feed the facility; the facility feeds the cooling
    branch and the transformers/UPS; UPS → rectifier shelves → 48 V busbars → converters →
    IT, with the loss of each stage as its own link (and the loss of the cooling branch's
    distribution).  Figures come from the calibrated model
    under the schedule in force (the meters only see feeds, busbars and grid).

    Parameters
    ----------
    twin
        The live twin.

    Returns
    -------
    dict
        ``nodes`` (labels), ``links`` (``source``, ``target`` node indices, ``value_kw``
        [kW], ``label``), ``stages`` (stage name → loss [kW]) and ``time`` (ISO UTC).
    """
    now = twin.clock()
    result = window_result(twin, now, lookback_steps=1).isel(time=-1)

    def kw(name: str) -> float:
        return float(result[name].sum()) / KW if name in result else 0.0

    it = kw("it_power")
    losses = {
        "Transformer/UPS": kw("ups_loss"),
        "Rectifier shelves": kw("rectifier_loss"),
        "48 V busbars": kw("busbar_loss"),
        "Converters": kw("converter_loss"),
    }
    cooling = kw("cooling_power")
    facility = kw("facility_power")
    grid = kw("grid_power")
    battery = kw("battery_power")  # + charging
    pv = kw("pv_power")
    ups_in = kw("ups_input")
    # cooling is fed through its own distribution (mechanical efficiency): the rest of the
    # facility power is that branch's loss
    losses["Cooling distribution"] = max(facility - ups_in - cooling, 0.0)
    names = [
        "Grid",
        "Battery",
        "PV",
        "Facility",
        "Cooling",
        "Transformer/UPS",
        "Rectifier shelves",
        "48 V busbars",
        "Converters",
        "IT",
        "Losses",
    ]
    index = {name: i for i, name in enumerate(names)}
    links: list[dict[str, Any]] = []

    def link(source: str, target: str, value: float, label: str) -> None:
        if value > 1e-6:
            links.append(
                {
                    "source": index[source],
                    "target": index[target],
                    "value_kw": round(value, 3),
                    "label": label,
                }
            )

    link("Grid", "Facility", max(grid, 0.0), "grid import")
    link("Battery", "Facility", max(-battery, 0.0), "battery discharge")
    link("Facility", "Battery", max(battery, 0.0), "battery charge")
    link("PV", "Facility", pv, "PV")
    link("Facility", "Cooling", cooling, "cooling")
    link("Facility", "Losses", losses["Cooling distribution"], "cooling distribution loss")
    link("Facility", "Transformer/UPS", ups_in, "UPS input")
    chain = ["Transformer/UPS", "Rectifier shelves", "48 V busbars", "Converters", "IT"]
    flowing = ups_in
    for stage, following in pairwise(chain):
        loss = losses[stage]
        link(stage, "Losses", loss, f"{stage} loss")
        flowing -= loss
        link(stage, following, flowing if following != "IT" else it, following)
    return {
        "time": now.isoformat(),
        "nodes": names,
        "links": links,
        "stages": {k: round(v, 3) for k, v in losses.items()},
        "it_power_kw": round(it, 3),
        "cooling_power_kw": round(cooling, 3),
        "facility_power_kw": round(facility, 3),
    }


# ---------------------------------------------------------------------------- floor


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
        where no rack), ``measured`` (``x``, ``y``, ``rack`` of racks with a recent inlet
        reading; the others are virtual sensors), ``inlet_limit`` [°C] and ``time``.

    Raises
    ------
    KeyError
        Unknown quantity.
    """
    if quantity not in FLOOR_QUANTITIES:
        raise KeyError(f"unknown floor quantity {quantity!r}; known: {', '.join(FLOOR_QUANTITIES)}")
    now = twin.clock()
    racks = twin.facility.racks
    with twin.lock:
        estimate = twin.estimator.state(now)
        predicted = twin.predicted(now)
    ids = list(racks.ids)
    if quantity in ("inlet_temperature", "margin"):
        inlet = np.asarray(estimate.inlet_temperature, dtype=float).copy()
        missing = ~np.isfinite(inlet)
        if missing.any():
            model = np.array(
                [predicted.get(f"rack/{r}/inlet_temperature", np.nan) for r in ids], dtype=float
            )
            inlet[missing] = model[missing]
        values = inlet if quantity == "inlet_temperature" else estimate.inlet_limit - inlet
    elif quantity == "power":
        latest = twin.store.latest([f"rack/{r}/power" for r in ids])
        values = np.array(
            [
                reading.value
                if (reading := latest.get(f"rack/{r}/power")) is not None
                and (now - reading.time).total_seconds() < 3600
                else predicted.get(f"rack/{r}/power", np.nan)
                for r in ids
            ],
            dtype=float,
        )
    else:
        values = np.asarray(racks.liquid_share, dtype=float)
    row_names = sorted({str(r) for r in racks.row})
    row_index = {name: i for i, name in enumerate(row_names)}
    positions = np.asarray(racks.position, dtype=int)
    low, high = int(positions.min()), int(positions.max())
    width = high - low + 1
    z = np.full((len(row_names), width), np.nan)
    names: list[list[str | None]] = [[None] * width for _ in row_names]
    y = np.array([row_index[str(r)] for r in racks.row], dtype=int)
    x = positions - low
    z[y, x] = values
    for r, rack in enumerate(ids):
        names[y[r]][x[r]] = rack
    measured = np.asarray(estimate.measured, dtype=bool)
    long_name, units = FLOOR_QUANTITIES[quantity]
    return {
        "time": now.isoformat(),
        "quantity": quantity,
        "long_name": long_name,
        "units": units,
        "rows": row_names,
        "positions": list(range(low, high + 1)),
        "z": [_json_list(row) for row in z],
        "rack": names,
        "measured": {
            "x": (positions[measured]).tolist(),
            "y": [row_names[i] for i in y[measured]],
            "rack": [ids[i] for i in np.flatnonzero(measured)],
        },
        "racks": len(ids),
        "measured_count": int(measured.sum()),
        "inlet_limit": _json(estimate.inlet_limit),
    }


def rack_history(
    twin: LiveTwin, rack: str, hours: float = 6.0, points: int = 200
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
            "value": _json_list(values),
            "units": units,
            "long_name": variable(name).long_name,
        }
    steps = max(1, math.ceil(hours * 3600 / twin.step_seconds))
    if twin.facility.racks.count <= 2_000:  # a whole-window simulation of a huge hall is slow
        model = window_result(twin, now, lookback_steps=steps)
        offset = float(twin.parameters.offsets(twin.facility)[r])  # calibrated [K]
        model_times = _iso(model["time"].values)
        series["inlet_temperature_model"] = {
            "point": None,
            "time": model_times,
            "value": _json_list(model["inlet_temperature"].isel(rack=r).values + offset),
            "units": "degC",
            "long_name": variable("inlet_temperature").long_name + " (twin model)",
        }
        bbu = model["bbu_ride_through"].isel(rack=r)
        series["bbu_ride_through"] = {
            "point": None,
            "time": model_times,
            "value": _json_list(bbu.values),
            "units": "s",
            "long_name": variable("bbu_ride_through").long_name + " (model)",
        }
    with twin.lock:
        estimate = twin.estimator.state(now).rack(rack)
    return {"rack": rack, "busbar": busbar, "estimate": estimate, "series": series}


# ---------------------------------------------------------------------------- plans


def plans(twin: LiveTwin, limit: int = 20) -> list[dict[str, Any]]:
    """Stored plans, newest first, without schedules: id, created (ISO UTC), status, figures.

    Parameters
    ----------
    twin
        The live twin.
    limit
        Largest number of plans [-].
    """
    out = []
    for record in twin.store.list_plans(limit=limit):
        summary = (record.get("payload") or {}).get("summary") or {}
        out.append(
            {
                "id": record["id"],
                "created": record["created"].isoformat(),
                "status": record["status"],
                "verified": bool(summary.get("verified")),
                "plan_status": summary.get("status"),
                "cost": _json(summary.get("cost")),
            }
        )
    return out


def _schedule(payload: dict[str, Any], twin: LiveTwin) -> Schedule:
    from twin.live.live_twin import schedule_from_json

    return schedule_from_json(payload["schedule"], twin.facility)


def plan_view(twin: LiveTwin, plan_id: str | None = None) -> dict[str, Any] | None:
    """One stored plan with everything the Plan page draws (None when there is no plan).

    The plan and both baselines (*as operated*, *rule based*) are simulated by the physics
    over the plan's window with the calibrated facility (cached per plan).

    Parameters
    ----------
    twin
        The live twin.
    plan_id
        Plan id; default: the newest plan.

    Returns
    -------
    dict or None
        ``id``, ``status``, ``created``, ``decided_by``, ``reason``; ``time`` (ISO UTC);
        ``price`` [currency/MWh], ``carbon_intensity`` [g/kWh]; ``grid_import_kw`` with keys
        ``plan``, ``as_operated``, ``rule_based`` [kW]; ``battery_soc`` [-] per case;
        ``supply_temperature_c`` per cooling unit [°C]; ``chilled_water_temperature_c`` [°C];
        ``jobs`` (flexible workloads: ``job``, ``start``, ``end`` ISO UTC, ``energy_kwh``);
        ``verified``, ``plan_status``, ``violations``, ``explanation``, ``figures``
        (cost [currency], carbon_kg [kg], peak_grid_kw [kW], cooling_energy_kwh [kWh]),
        ``baselines`` and ``shadow_prices`` (as in :meth:`optimizer.plan.Plan.to_json`).
    """
    if plan_id is None:
        listed = twin.store.list_plans(limit=1)
        if not listed:
            return None
        plan_id = listed[0]["id"]
    record = twin.store.get_plan(plan_id)
    if record is None:
        return None
    payload = record["payload"] or {}
    summary = payload.get("summary") or {}
    cache = _cache(twin, "plans")
    key = (plan_id, id(twin.facility))
    simulated = cache.get(key)
    if simulated is None:
        simulated = _simulate_plan(twin, payload)
        while len(cache) >= 20:  # the oldest simulated plans go first
            cache.pop(next(iter(cache)))
        cache[key] = simulated
    keys = ("cost", "energy_cost", "demand_charge", "carbon_kg", "peak_grid_kw")
    return {
        "id": plan_id,
        "status": record["status"],
        "created": record["created"].isoformat(),
        "decided_by": record.get("decided_by"),
        "reason": record.get("reason"),
        "verified": bool(summary.get("verified")),
        "plan_status": summary.get("status"),
        "violations": list(summary.get("violations") or []),
        "explanation": summary.get("explanation"),
        "figures": {k: summary.get(k) for k in (*keys, "cooling_energy_kwh") if k in summary},
        "baselines": summary.get("baselines") or {},
        "savings": summary.get("savings_vs_as_operated"),
        "shadow_prices": summary.get("shadow_prices") or {},
        **simulated,
    }


def _simulate_plan(twin: LiveTwin, payload: dict[str, Any]) -> dict[str, Any]:
    schedule_data = payload["schedule"]
    start = int(payload["start_index"])
    steps = len(schedule_data["time"])
    window = twin.series.isel(time=slice(start, start + steps))
    facility = twin.calibrated_facility()
    planned = _schedule(payload, twin)
    steps = min(steps, window.sizes["time"])
    planned = Schedule(
        supply_temperature=planned.supply_temperature[:steps],
        chilled_water_temperature=planned.chilled_water_temperature[:steps],
        battery_power=planned.battery_power[:steps],
        workload_power=planned.workload_power[:steps],
    )
    cases = {
        "plan": planned,
        "as_operated": as_operated(facility, window),
        "rule_based": rule_based(facility, window).schedule,
    }
    grid: dict[str, list[float | None]] = {}
    soc: dict[str, list[float | None]] = {}
    for name, schedule in cases.items():
        result = simulate(facility, schedule, window, per_rack=False)
        grid[name] = _json_list(result["grid_power"].values / KW)
        soc[name] = _json_list(result["battery_soc"].values)
    times = pd.DatetimeIndex(window["time"].values).tz_localize("UTC")
    step = twin.step_seconds
    jobs = []
    work = twin.facility.workloads
    for j, job in enumerate(work.ids):
        if work.tier[j] == 1:
            continue
        power = np.asarray(planned.workload_power[:, j], dtype=float)
        active = np.flatnonzero(power > 1.0)
        if active.size:
            jobs.append(
                {
                    "job": job,
                    "tier": int(work.tier[j]),
                    "start": times[int(active[0])].isoformat(),
                    "end": (times[int(active[-1])] + pd.Timedelta(seconds=step)).isoformat(),
                    "energy_kwh": round(float(power.sum()) * step / 3.6e6, 3),
                }
            )
    return {
        "time": [t.isoformat() for t in times],
        "price": _json_list(window["price"].values) if "price" in window else [],
        "carbon_intensity": (
            _json_list(window["carbon_intensity"].values) if "carbon_intensity" in window else []
        ),
        "grid_import_kw": grid,
        "battery_soc": soc,
        "supply_temperature_c": {
            unit: _json_list(planned.supply_temperature[:, u])
            for u, unit in enumerate(twin.facility.units.ids)
        },
        "chilled_water_temperature_c": _json_list(planned.chilled_water_temperature),
        "jobs": jobs,
    }


# ---------------------------------------------------------------------------- live


def default_live_points(twin: LiveTwin, limit: int = 6) -> list[str]:
    """Points the Live page shows by default: grid, plant, first feed, three measured inlets.

    Rack inlets with stored readings come first (the others are virtual sensors).
    """
    ids = twin.catalogue.ids
    wanted = ["grid/power", "plant/power"]
    wanted += [p for p in ids if p.startswith("feed/")][:1]
    inlets = [p for p in ids if p.endswith("/inlet_temperature") and p.startswith("rack/")]
    read = twin.store.latest(inlets)
    wanted += ([p for p in inlets if p in read] + [p for p in inlets if p not in read])[:3]
    return [p for p in wanted if p in twin.catalogue][:limit]


def residuals(
    twin: LiveTwin, points: Sequence[str] | None = None, hours: float = 6.0
) -> dict[str, Any]:
    """Measured vs twin prediction for a few points over the last ``hours``.

    Measurements are the store's means per model step; the prediction is the calibrated
    model under the schedule in force at the same steps; residual = measured − predicted.

    Parameters
    ----------
    twin
        The live twin.
    points
        Point ids (default :func:`default_live_points`); unknown ids raise ``KeyError``.
    hours
        Look-back [h].

    Returns
    -------
    dict
        ``series``: point → ``{time, measured, predicted, residual, units}`` (the point's
        canonical unit: °C, kW, V or 1); ``rmse``: point → root-mean-square residual;
        ``calibration`` (parameter → value, std, unit, converged, samples); ``parameter_history``
        (name → time, value, std); ``faults`` (active sensor faults); ``alarms`` (active).
    """
    chosen = list(points) if points is not None else default_live_points(twin)
    for point in chosen:
        if point not in twin.catalogue:
            raise KeyError(f"unknown point {point!r}")
    now = twin.clock()
    step = twin.step_seconds
    lookback = max(1, math.ceil(hours * 3600 / step))
    model = window_result(twin, now, lookback_steps=lookback)
    model_times = pd.DatetimeIndex(model["time"].values).tz_localize("UTC")
    start = model_times[0].to_pydatetime()
    # the twin's prediction: the model with the calibrated inlet offsets added
    ids, table = point_table(twin.catalogue, twin.facility, twin.parameters, model)
    column = {point: c for c, point in enumerate(ids)}
    series: dict[str, dict[str, Any]] = {}
    rmse: dict[str, float | None] = {}
    for point in chosen:
        kind = twin.catalogue.kind(point)
        times, values = twin.store.downsample(point, start, now, timedelta(seconds=step))
        predicted: list[float | None] = []
        c = column.get(point)
        for moment in times:
            if c is None:
                predicted.append(None)
                continue
            i = int(model_times.searchsorted(pd.Timestamp(moment), side="right")) - 1
            predicted.append(_json(float(table[max(i, 0), c])))
        residual = [
            None if p is None or m is None else m - p
            for m, p in zip(_json_list(values), predicted, strict=True)
        ]
        finite = [r for r in residual if r is not None]
        rmse[point] = _json(math.sqrt(sum(r * r for r in finite) / len(finite))) if finite else None
        series[point] = {
            "time": [t.isoformat() for t in times],
            "measured": _json_list(values),
            "predicted": predicted,
            "residual": residual,
            "units": kind.unit,
        }
    with twin.lock:
        calibration = twin.calibrator.status()
        faults = [f.to_dict() for f in twin.faults.active_faults()]
    history: dict[str, dict[str, list[Any]]] = {}
    for entry in twin.store.parameter_history(limit=2_000):
        item = history.setdefault(entry["name"], {"time": [], "value": [], "std": []})
        item["time"].append(entry["time"].isoformat())
        item["value"].append(_json(entry["value"]))
        item["std"].append(_json(entry["std"]))
    alarms = [
        {**a, "raised": a["raised"].isoformat(), "cleared": None}
        for a in twin.store.alarms(active_only=True, limit=200)
    ]
    return {
        "time": now.isoformat(),
        "series": series,
        "rmse": rmse,
        "calibration": calibration,
        "parameter_history": history,
        "faults": faults,
        "alarms": alarms,
    }


# ---------------------------------------------------------------------------- what-if

WHATIF_FIELDS = (
    "add_racks_type",
    "add_racks_count",
    "supply_min_c",
    "supply_max_c",
    "battery_energy_kwh",
    "battery_power_kw",
    "fail_cooling_unit",
    "fail_feed",
    "dr_start_hours",
    "dr_duration_hours",
    "dr_import_cap_kw",
    "grid_zone",
)
"""Keys :func:`modified_scenario` understands (all optional)."""


def modified_scenario(twin: LiveTwin, edits: dict[str, Any]) -> dict[str, Any]:
    """The twin's scenario (as written) with the what-if form's edits applied.

    Parameters
    ----------
    twin
        The live twin (its base scenario and clock).
    edits
        Optional keys: ``add_racks_type`` and ``add_racks_count`` [-] (a new row of that
        rack type, wired like the first row of the same type); ``supply_min_c`` and
        ``supply_max_c`` (bounds of every cooling unit's supply setpoint [°C]);
        ``battery_energy_kwh`` [kWh] and ``battery_power_kw`` [kW]; ``fail_cooling_unit``
        (the unit is removed and its rows served by the next unit); ``fail_feed`` (the feed
        is removed and its UPS moved to the next feed); ``dr_start_hours`` [h from now],
        ``dr_duration_hours`` [h] and ``dr_import_cap_kw`` [kW] (a demand-response event);
        ``grid_zone`` (price and carbon from that zone of the public data).

    Returns
    -------
    dict
        The modified scenario, validated by :func:`twin.scenario.loader.scenario_from_dict` later.

    Raises
    ------
    ValueError
        An edit that cannot apply (unknown rack type, unit or feed; the last unit or feed).
    """
    import copy

    data: dict[str, Any] = copy.deepcopy(dict(twin.base_data))
    edits = {k: v for k, v in edits.items() if v not in (None, "", [])}
    unknown = set(edits) - set(WHATIF_FIELDS)
    if unknown:
        raise ValueError(f"unknown what-if field(s): {', '.join(sorted(unknown))}")
    count = int(edits.get("add_racks_count") or 0)
    if count > 0:
        kind = str(edits.get("add_racks_type") or "")
        if kind not in (data.get("rack_types") or {}):
            raise ValueError(f"unknown rack type {kind!r}; known: {', '.join(data['rack_types'])}")
        rows = data.setdefault("rows", [])
        like = next((r for r in rows if r.get("type") == kind), rows[0] if rows else None)
        if like is None:
            raise ValueError("the scenario has no rows to copy the wiring from")
        taken = {str(r.get("row")) for r in rows}
        name = next(f"N{i}" for i in range(1, 10_000) if f"N{i}" not in taken)
        rows.append({**like, "row": name, "type": kind, "count": count})
    units = (data.get("cooling") or {}).get("units") or []
    for unit in units:
        if "supply_min_c" in edits:
            unit["supply_temperature_min"] = float(edits["supply_min_c"])
        if "supply_max_c" in edits:
            unit["supply_temperature_max"] = float(edits["supply_max_c"])
    if "battery_energy_kwh" in edits or "battery_power_kw" in edits:
        battery = data.get("battery") or {"energy": 1.0, "power": 1.0}
        if "battery_energy_kwh" in edits:
            battery["energy"] = float(edits["battery_energy_kwh"])
        if "battery_power_kw" in edits:
            battery["power"] = float(edits["battery_power_kw"])
        data["battery"] = battery
    if "fail_cooling_unit" in edits:
        failed = str(edits["fail_cooling_unit"])
        ids = [str(u["id"]) for u in units]
        if failed not in ids:
            raise ValueError(f"unknown cooling unit {failed!r}; known: {', '.join(ids)}")
        if len(ids) < 2:
            raise ValueError("cannot fail the only cooling unit")
        backup = ids[(ids.index(failed) + 1) % len(ids)]
        data["cooling"]["units"] = [u for u in units if str(u["id"]) != failed]
        for group in ("rows", "racks"):
            for item in data.get(group) or []:
                if item.get("cooling_unit") == failed:
                    item["cooling_unit"] = backup
    if "fail_feed" in edits:
        failed = str(edits["fail_feed"])
        power = data.get("power") or {}
        feeds = [str(f["id"]) for f in power.get("feeds") or []]
        if failed not in feeds:
            raise ValueError(f"unknown feed {failed!r}; known: {', '.join(feeds)}")
        if len(feeds) < 2:
            raise ValueError("cannot fail the only feed")
        backup = feeds[(feeds.index(failed) + 1) % len(feeds)]
        power["feeds"] = [f for f in power["feeds"] if str(f["id"]) != failed]
        for item in [*(power.get("ups") or []), data.get("battery") or {}]:
            if item.get("feed") == failed:
                item["feed"] = backup
    if "dr_start_hours" in edits or "dr_import_cap_kw" in edits:
        now = twin.clock()
        start = now + timedelta(hours=float(edits.get("dr_start_hours") or 0.0))
        end = start + timedelta(hours=float(edits.get("dr_duration_hours") or 2.0))
        # events are written in the scenario's own window; the live twin shifts them by
        # (live window start − scenario start), so shift back here
        original = (data.get("simulation") or {}).get("start")
        offset = timedelta(0)
        if original is not None:
            live_start = pd.Timestamp(twin.times[0]).to_pydatetime()
            offset = live_start - pd.Timestamp(str(original)).to_pydatetime()
        grid = data.setdefault("grid", {})
        grid.setdefault("demand_response", []).append(
            {
                "start": (start - offset).isoformat(),
                "end": (end - offset).isoformat(),
                "import_cap": float(edits.get("dr_import_cap_kw") or 0.0),
            }
        )
    if "grid_zone" in edits:
        data.setdefault("series", []).append({"zone": str(edits["grid_zone"])})
    return data


def whatif_run(
    twin: LiveTwin,
    data: dict[str, Any],
    horizon_hours: float,
    progress: Any = None,
) -> dict[str, Any]:
    """Plan ``data`` and the current scenario over the same window; compare them.

    :func:`twin.live.whatif.compare` (both plans verified by the physics) with progress, and the
    grid import of both plans per step for the chart.

    Parameters
    ----------
    twin
        The live twin.
    data
        The modified scenario (a full mapping).
    horizon_hours
        Planning horizon [h].
    progress
        ``progress(fraction [-], message)`` callback (a :class:`ui.jobs.JobRunner` job's).

    Returns
    -------
    dict
        ``current``, ``modified``, ``difference`` (as :func:`twin.live.whatif.compare`), ``time``
        (ISO UTC) and ``grid_import_kw`` (``current``, ``modified`` [kW]).
    """
    from twin.live.whatif import compare

    return compare(twin, data, horizon_hours=horizon_hours, progress=progress)


__all__ = [
    "FLOOR_QUANTITIES",
    "cost_today",
    "default_live_points",
    "floor_grid",
    "kpis",
    "modified_scenario",
    "plan_view",
    "plans",
    "power_flow",
    "rack_history",
    "residuals",
    "site_timezone",
    "whatif_run",
    "window_result",
]
