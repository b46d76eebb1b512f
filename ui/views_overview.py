"""Read models of the Overview page: live KPIs, today's energy cost and the power flow.

* :func:`kpis` — live figures for the KPI cards.
* :func:`cost_today` — energy cost since local midnight (:func:`cost_series`: per minute).
* :func:`trends` — grid import and hottest inlet over :func:`trend_window` (since local
  midnight, at least the last :data:`MIN_TREND_WINDOW`), cumulative cost since local midnight.
* :func:`power_flow` — Sankey nodes and links of the power chain with the loss at each stage.

Conventions as in :mod:`ui.views`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np

from physics.constants import WATTS_PER_KILOWATT as KW
from ui.views import ViewCache, json_number, json_numbers, site_timezone, window_result

if TYPE_CHECKING:
    from twin.live.live_twin import LiveTwin

MIN_TREND_WINDOW = timedelta(hours=6)

TREND_GAP = timedelta(minutes=15)
"""Samples of a trend further apart than this and than three times their usual spacing are not
joined by its line (the twin was down, or no readings came): a break is drawn instead of a
straight line across the gap."""
"""The least history the Overview's trends show: since local midnight once the site day is
older than this, the last 6 h before (just after midnight the trends still show the evening
before, not a minute or two)."""


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
        "it_power_kw": json_number(figures.get("it_power_kw")),
        "facility_power_kw": json_number(figures.get("facility_power_kw")),
        "pue": json_number(figures.get("pue")),
        "grid_import_kw": json_number(figures.get("grid_import_kw")),
        "carbon_g_per_kwh": json_number(figures.get("carbon_g_per_kwh")),
        "price_per_mwh": json_number(figures.get("price_per_mwh")),
        "cost_today": json_number(cost_today(twin, now)),
        "battery_soc": json_number(figures.get("battery_soc")),
        "active_alarms": int(state["alarms"]),
        "stale": bool(state.get("stale")),
        "currency": getattr(twin.scenario, "currency", None) or "USD",
    }


def _midnight(twin: LiveTwin, now: datetime) -> datetime:
    """Local midnight of ``now``'s site day (timezone-aware)."""
    local = now.astimezone(site_timezone(twin))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def trend_window(twin: LiveTwin, now: datetime) -> tuple[datetime, datetime]:
    """Where the Overview's trends start, and the site day's local midnight.

    The trends start at local midnight (site timezone), or :data:`MIN_TREND_WINDOW` before
    ``now`` (on a whole minute) when the site day is younger than that.

    Parameters
    ----------
    twin
        The live twin.
    now
        Current instant (timezone-aware).

    Returns
    -------
    start : datetime
        Start of the trends (UTC), at most ``now − MIN_TREND_WINDOW``.
    midnight : datetime
        Local midnight of ``now``'s site day (UTC).
    """
    midnight = _midnight(twin, now).astimezone(UTC)
    hours_ago = (now - MIN_TREND_WINDOW).astimezone(UTC).replace(second=0, microsecond=0)
    return min(midnight, hours_ago), midnight


def cost_series(
    twin: LiveTwin, now: datetime, grid: tuple[list[datetime], list[float]] | None = None
) -> tuple[list[datetime], list[float]]:
    """Energy cost since local midnight (site timezone), cumulative per minute [currency].

    Grid import is taken from the store (1-minute means of ``grid/power``, or ``grid``: the
    same already read) and priced at the series' price of its step; each minute counts up to
    ``now`` only (the current minute for the seconds elapsed); export (negative power) and
    minutes without readings cost nothing.  So the sum never decreases as the day goes on,
    unless a price is negative.

    Returns
    -------
    times : list of datetime
        Start of each minute with readings (UTC).
    cost : list of float
        Cost from midnight to the end of that minute (or ``now``) [currency].
    """
    if "price" not in twin.series:
        return [], []
    bucket = timedelta(minutes=1)
    if grid is None:
        grid = twin.store.downsample("grid/power", _midnight(twin, now), now, bucket)
    times, values = grid
    if not times:
        return [], []
    prices = twin.series["price"].values[[twin.step_index(t) for t in times]]  # per MWh
    seconds = np.array(
        [min(bucket.total_seconds(), max((now - t).total_seconds(), 0.0)) for t in times]
    )
    power = np.nan_to_num(np.maximum(np.asarray(values, dtype=float), 0.0))
    energy_mwh = power * seconds / 3.6e6  # kW × s → MWh
    return list(times), np.cumsum(energy_mwh * prices).tolist()


def cost_today(twin: LiveTwin, now: datetime) -> float:
    """Energy cost since local midnight (site timezone) [currency]: the last value of
    :func:`cost_series`, 0 without readings or prices.

    Parameters
    ----------
    twin
        The live twin.
    now
        Current instant (timezone-aware).
    """
    _, cost = cost_series(twin, now)
    return float(cost[-1]) if cost else 0.0


def broken_at_gaps(
    times: list[datetime], values: Any, labels: list[str] | None = None
) -> tuple[list[datetime], list[float], list[str]]:
    """A trend's samples with a break (a NaN value, drawn as a gap; label ``""``) halfway
    across every gap longer than :data:`TREND_GAP` and than three times the median spacing of
    the samples (sparse telemetry is still drawn as a line).

    Parameters
    ----------
    times
        Sample times, increasing (timezone-aware).
    values
        The values (any unit).
    labels
        A label per sample (e.g. the hottest rack), or None.
    """
    values = [float(v) for v in values]
    named = list(labels) if labels is not None else [""] * len(times)
    spacing = sorted(b - a for a, b in pairwise(times))
    usual = spacing[len(spacing) // 2] if spacing else timedelta(0)
    longest = max(TREND_GAP, 3 * usual)
    out: tuple[list[datetime], list[float], list[str]] = ([], [], [])
    for k, when in enumerate(times):
        if k and when - times[k - 1] > longest:
            out[0].append(times[k - 1] + (when - times[k - 1]) / 2)
            out[1].append(float("nan"))
            out[2].append("")
        out[0].append(when)
        out[1].append(values[k])
        out[2].append(named[k])
    return out


def trends(twin: LiveTwin, now: datetime | None = None) -> dict[str, Any]:
    """The Overview's trends over :func:`trend_window` (since local midnight, at least the
    last :data:`MIN_TREND_WINDOW`), 1-minute resolution; the cost since local midnight only.

    Parameters
    ----------
    twin
        The live twin.
    now
        Current instant (timezone-aware; default the twin's clock).

    Returns
    -------
    dict
        ``start``, ``time`` (the window, ISO UTC), ``midnight`` (the site day's local
        midnight, ISO UTC; after ``start`` while the day is young); ``grid``: ``time``,
        ``value`` (grid import [kW], 1-minute means) and ``contract_kw`` (the contract capacity
        [kW]); ``hottest``: ``time``, ``value`` (the hottest estimated rack inlet [°C], one
        sample a minute from :class:`twin.live.estimation.EstimateHistory`), ``rack`` (which
        rack) and ``limit`` (upper inlet limit [°C]); ``cost``: ``time``, ``value``
        (cumulative cost since midnight [currency], :func:`cost_series`) and ``currency``.
        The grid and hottest-inlet series have a break (``None``) in each gap over
        :data:`TREND_GAP` (:func:`broken_at_gaps`): a restart is not drawn as a straight line.
    """
    now = twin.clock() if now is None else now
    start, midnight = trend_window(twin, now)
    grid = twin.store.downsample("grid/power", start, now, timedelta(minutes=1))
    today = [k for k, t in enumerate(grid[0]) if t >= midnight]
    cost_times, cost = cost_series(
        twin, now, ([grid[0][k] for k in today], [grid[1][k] for k in today])
    )
    with twin.lock:
        history = twin.estimator.history
    hot_times, hot, racks = broken_at_gaps(*history.hottest(start))
    grid_times, grid_values, _ = broken_at_gaps(*grid)
    return {
        "start": start.isoformat(),
        "midnight": midnight.isoformat(),
        "time": now.astimezone(UTC).isoformat(),
        "grid": {
            "time": [t.isoformat() for t in grid_times],
            "value": json_numbers(grid_values),
            "contract_kw": json_number(twin.facility.grid.contract_capacity / KW),
        },
        "hottest": {
            "time": [t.isoformat() for t in hot_times],
            "value": json_numbers(hot),
            "rack": racks,
            "limit": json_number(float(twin.facility.inlet_limit)),
        },
        "cost": {
            "time": [t.isoformat() for t in cost_times],
            "value": json_numbers(cost),
            "currency": getattr(twin.scenario, "currency", None) or "USD",
        },
    }


def power_flow(twin: LiveTwin, cache: ViewCache | None = None) -> dict[str, Any]:
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
    cache
        The twin's view cache (none: simulate every time).

    Returns
    -------
    dict
        ``nodes`` (labels), ``links`` (``source``, ``target`` node indices, ``value_kw``
        [kW], ``label``), ``stages`` (stage name → loss [kW]) and ``time`` (ISO UTC).
    """
    now = twin.clock()
    result = window_result(twin, now, lookback_steps=1, cache=cache).isel(time=-1)

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


__all__ = [
    "MIN_TREND_WINDOW",
    "cost_series",
    "cost_today",
    "kpis",
    "power_flow",
    "trend_window",
    "trends",
]
