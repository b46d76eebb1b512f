"""Plotly figures of the pages, built from :mod:`ui.views` data (JSON-ready dicts).

Axis titles carry units from the variables registry (:mod:`physics.variables`); times are
shown in the site's timezone (the axis title says which), or, in a window across a change of
its clocks, at one fixed UTC offset throughout (:func:`axis_zone`; plotly has no time zones, so
wall-clock times would run backwards through the repeated hour).  WebGL traces (``Scattergl``) and
one ``Heatmap`` keep the floor map responsive for 10,000 racks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import timedelta, tzinfo
from datetime import timezone as fixed_offset
from functools import cache
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from physics.variables import VARIABLES
from ui.units import axis_title, unit_text

MEASURED_COLOR = "#111111"
FAULTY_COLOR = "#8e24aa"
"""Purple: the cross on a rack whose sensor is faulty (Floor)."""
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")


def label(name: str, units: str | None = None) -> str:
    """Axis title of a registered quantity, e.g. ``"Rack inlet temperature [°C]"``.

    Parameters
    ----------
    name
        Variable name in :data:`physics.variables.VARIABLES` (unknown names are used as is).
    units
        Unit shown instead of the registry's (e.g. ``kW`` for a power in W).
    """
    known = VARIABLES.get(name)
    long_name = known.long_name if known is not None else name.replace("_", " ").capitalize()
    shown = units if units is not None else (known.units if known is not None else "")
    return axis_title(long_name, shown)


def local_times(times: Sequence[str], timezone: tzinfo) -> list[str]:
    """ISO UTC instants as naive local wall-clock strings of ``timezone`` (for plotly axes).

    Parameters
    ----------
    times
        ISO 8601 instants with an offset; with and without fractional seconds in one list
        (``isoformat`` drops a zero microsecond part), each parsed on its own.
    timezone
        Display timezone: the site's, or the fixed offset of :func:`axis_zone`.
    """
    if not len(times):
        return []
    parsed = pd.to_datetime(list(times), utc=True, format="ISO8601")
    index = pd.DatetimeIndex(parsed).tz_convert(timezone)
    return [t.strftime("%Y-%m-%d %H:%M:%S") for t in index]


def _offset_text(offset: timedelta) -> str:
    minutes = round(offset.total_seconds() / 60)
    sign = "+" if minutes >= 0 else "−"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def axis_zone(timezone: tzinfo, *times: Sequence[str]) -> tzinfo:
    """The zone a figure's time axis is drawn in: ``timezone``, unless its UTC offset changes
    within the window of ``times`` (a daylight-saving change), then the fixed offset in effect
    at the window's start, named for :func:`time_title`.

    Plotly has no time zones: on wall-clock times the hour repeated when the clocks go back
    would be drawn backwards over the hour before it (and the hour skipped in spring as a
    gap).  One offset throughout keeps the axis in order; the title says which.

    Parameters
    ----------
    timezone
        The site's timezone.
    *times
        The figure's time lists (ISO 8601 instants, each in time order; empty ones ignored):
        the window runs from the earliest first to the latest last.
    """
    ends = [t for series in times if len(series) for t in (series[0], series[-1])]
    if not ends:
        return timezone
    parsed = pd.to_datetime(ends, utc=True, format="ISO8601")
    start, end = parsed.min(), parsed.max()
    # every 6 h and both ends: no offset lasts less than that, so every change shows
    moments = pd.DatetimeIndex([*pd.date_range(start, end, freq="6h"), end])
    local = moments.tz_convert(timezone)
    offsets = local.tz_localize(None) - moments.tz_localize(None)
    if offsets.nunique() <= 1:
        return timezone
    first = pd.Timedelta(offsets[0]).to_pytimedelta()
    name = getattr(timezone, "key", str(timezone))
    return fixed_offset(
        first, f"{_offset_text(first)} throughout: {name} changes its clocks in this window"
    )


def time_title(timezone: tzinfo) -> str:
    """Title of a time axis, e.g. ``"Time (America/Chicago)"`` or, for :func:`axis_zone`'s
    fixed offset, ``"Time (UTC−05:00 throughout: America/Chicago changes its clocks in this
    window)"``."""
    key = getattr(timezone, "key", None)
    return f"Time ({key if key is not None else timezone.tzname(None)})"


def _base(fig: go.Figure, title: str, height: int = 360) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01},
        height=height,
        margin={"l": 60, "r": 20, "t": 50, "b": 60},
        legend={"orientation": "h", "y": -0.3},
        template="plotly_white",
    )
    return fig


@cache
def template_json() -> dict[str, Any]:
    """The ``plotly_white`` template as JSON (resolved once per process) for dict figures."""
    import plotly.io as pio

    template: dict[str, Any] = pio.templates["plotly_white"].to_plotly_json()
    return template


def empty(message: str) -> dict[str, Any]:
    """A blank figure carrying one message (no data yet): a plain Plotly JSON dict."""
    hidden = {"visible": False}
    return {
        "data": [],
        "layout": {
            "title": {"text": "", "x": 0.01},
            "height": 240,
            "margin": {"l": 60, "r": 20, "t": 50, "b": 60},
            "template": template_json(),
            "xaxis": hidden,
            "yaxis": hidden,
            "annotations": [
                {
                    "text": message,
                    "showarrow": False,
                    "x": 0.5,
                    "y": 0.5,
                    "xref": "paper",
                    "yref": "paper",
                }
            ],
        },
    }


def sankey(flow: dict[str, Any]) -> dict[str, Any]:
    """Power-flow Sankey from :func:`ui.views.power_flow` (link values [kW]): a plain
    Plotly JSON dict (the Overview draws it on every load and refresh)."""
    links = flow["links"]
    return {
        "data": [
            {
                "type": "sankey",
                "valueformat": ".1f",
                "valuesuffix": " kW",
                "node": {"label": flow["nodes"], "pad": 18, "thickness": 16},
                "link": {
                    "source": [link["source"] for link in links],
                    "target": [link["target"] for link in links],
                    "value": [link["value_kw"] for link in links],
                    "label": [link["label"] for link in links],
                },
            }
        ],
        "layout": {
            "title": {
                "text": "Power flow now [kW]: grid → UPS → shelves → 48 V busbars → IT",
                "x": 0.01,
            },
            "height": 420,
            "margin": {"l": 60, "r": 20, "t": 50, "b": 60},
            "legend": {"orientation": "h", "y": -0.3},
            "template": template_json(),
        },
    }


_BAND_COLOURS = ("#313695", "#74add1", "#e0f3f8", "#fee090", "#f46d43", "#a50026")
"""Cold to hot: below allowable, allowable, recommended (low, high), limit, above."""


def floor_colours(grid: dict[str, Any]) -> dict[str, Any]:
    """Heatmap colours anchored on the site's ASHRAE bands, not on the data's range.

    Inlet temperature: the class's allowable range end to end, the recommended range pale,
    red from the limit in force.  Margin to the limit: red below 0 K.  Power: from 0.
    Liquid share: 0 to 1.  Returns ``zmin``, ``zmax``, ``colorscale`` and ``colorbar``.
    """
    units = unit_text(grid["units"])
    bands = grid.get("bands")
    quantity = grid["quantity"]
    if bands is None or quantity not in ("inlet_temperature", "margin"):
        low_high = (0.0, 1.0) if quantity == "liquid_share" else (0.0, None)
        return {
            "zmin": low_high[0],
            "zmax": low_high[1],
            "colorscale": "RdYlBu_r",
            "colorbar": {"title": {"text": f"[{units}]"}},
        }
    (cold, hot), (rec_low, rec_high) = bands["allowable"], bands["recommended"]
    limit = float(bands["limit"])
    marks = [cold, rec_low, rec_high, limit, hot]
    if quantity == "margin":
        marks = sorted(limit - m for m in marks)
    low, high = marks[0], marks[-1]
    span = max(high - low, 1e-9)
    fractions = [(m - low) / span for m in marks]
    colours = _BAND_COLOURS[1:] if quantity == "inlet_temperature" else _BAND_COLOURS[::-1][:5]
    first = _BAND_COLOURS[0] if quantity == "inlet_temperature" else _BAND_COLOURS[-1]
    stops = [(0.0, first)]
    stops += [(min(max(f, 0.0), 1.0), c) for f, c in zip(fractions, colours, strict=True)]
    stops.sort(key=lambda stop: stop[0])
    scale = [[position, colour] for position, colour in stops[:-1]] + [[1.0, stops[-1][1]]]
    ticks = sorted(set(marks))
    return {
        "zmin": low,
        "zmax": high,
        "colorscale": scale,
        "colorbar": {
            "title": {"text": f"[{units}] ASHRAE {bands['air_class']}"},
            "tickvals": ticks,
            "ticktext": [f"{t:g}" for t in ticks],
        },
    }


def _rounded(rows: list[list[float | None]], digits: int = 3) -> list[list[float | None]]:
    """Grid values rounded to ``digits`` decimals for the browser (a third of the bytes of
    full floats; far below a sensor's resolution)."""
    return [[None if v is None else round(v, digits) for v in row] for row in rows]


WEBGL_MARKERS = 1_000
"""Marks from which a Floor trace is drawn with WebGL (``scattergl``) [-]."""


def _markers(
    x: list[Any], y: list[Any], text: list[str], marker: dict[str, Any], name: str, hover: str
) -> dict[str, Any]:
    """One marker trace of the Floor (a plain dict: Plotly JSON): WebGL from
    :data:`WEBGL_MARKERS` points, SVG below (no WebGL context to start for a few marks)."""
    return {
        "type": "scattergl" if len(x) >= WEBGL_MARKERS else "scatter",
        "x": x,
        "y": y,
        "text": text,
        "mode": "markers",
        "marker": marker,
        "name": name,
        "hovertemplate": hover,
    }


def floor_map(
    grid: dict[str, Any],
    selected: str | None = None,
    alarmed: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Heatmap of one quantity over rows × positions; measured racks marked with dots, racks
    with a faulty sensor with a purple cross (their colour is the estimate), racks with an
    active alarm outlined (red: critical, orange: warning).

    A plain Plotly JSON dict (no ``graph_objects`` validation: at 10,000 racks that took
    most of the page's server time), values rounded to 0.001 of their unit.

    Parameters
    ----------
    grid
        :func:`ui.views.floor_grid` output.
    selected
        Rack id to outline (the one whose detail is open).
    alarmed
        Rack id → worst active alarm severity (:func:`ui.views_alarms.alarmed_racks`).
    """
    units = unit_text(grid["units"])
    title = axis_title(grid["long_name"], grid["units"])
    heat = {
        "type": "heatmap",
        "z": _rounded(grid["z"]),
        "x": grid["positions"],
        "y": grid["rows"],
        "customdata": grid["rack"],
        **floor_colours(grid),
        "hovertemplate": "rack %{customdata}<br>row %{y}, position %{x}<br>"
        + grid["long_name"]
        + ": %{z:.2f} "
        + units
        + "<extra></extra>",
        "hoverongaps": False,
        "name": "racks",
        "meta": title,  # the CSV export's column title (quantity and unit)
    }
    measured = grid["measured"]
    dots = _markers(
        measured["x"],
        measured["y"],
        measured["rack"],
        {"symbol": "circle", "size": 6, "color": MEASURED_COLOR},
        "measured inlet sensor (others: virtual, estimated)",
        "rack %{text}, row %{y}, position %{x}<br>"
        + grid["long_name"]
        + f": %{{customdata:.2f}} {units} (measured)<extra></extra>",
    )
    dots["customdata"] = measured.get("value")
    data = [heat, dots]
    faulty = grid.get("faulty") or {"rack": []}
    if faulty["rack"]:
        cross = _markers(
            faulty["x"],
            faulty["y"],
            faulty["rack"],
            {"symbol": "x", "size": 12, "color": FAULTY_COLOR},
            "faulty sensor (colour: the estimate)",
            "rack %{text}: faulty sensor (%{customdata}); shown: the estimate<extra></extra>",
        )
        cross["customdata"] = faulty["fault"]
        data.append(cross)
    data += _alarm_outlines(grid, alarmed or {})
    where = _place(grid, selected) if selected else None
    if where is not None:
        outline = {"symbol": "square-open", "size": 14, "color": "#000"}
        box = _markers([where[0]], [where[1]], [], outline, f"selected {selected}", "")
        del box["text"], box["hovertemplate"]
        data.append({**box, "hoverinfo": "skip"})
    rows = len(grid["rows"])
    return {
        "data": data,
        "layout": {
            "title": {"text": f"{title}: {grid['racks']} racks", "x": 0.01},
            "height": max(360, min(900, 40 + 22 * rows)),
            "margin": {"l": 60, "r": 20, "t": 50, "b": 60},
            "legend": {"orientation": "h", "y": -0.3},
            "template": template_json(),
            "yaxis": {"title": {"text": "Row"}, "autorange": "reversed", "type": "category"},
            "xaxis": {"title": {"text": "Position in row [-]"}},
        },
    }


def _place(grid: dict[str, Any], rack: str) -> tuple[Any, str] | None:
    """Position and row of ``rack`` on the grid (None when not on it)."""
    for y, row in enumerate(grid["rack"]):
        if rack in row:
            return grid["positions"][row.index(rack)], grid["rows"][y]
    return None


def _alarm_outlines(grid: dict[str, Any], alarmed: dict[str, str]) -> list[dict[str, Any]]:
    """Outlines of the racks with an active alarm: red critical, orange warning."""
    traces = []
    places: dict[str, tuple[Any, str]] = {}
    for severity, color in (("critical", "#c0392b"), ("warning", "#e67e22")):
        chosen = [rack for rack, worst in alarmed.items() if worst == severity]
        if chosen and not places:  # where every rack sits, once
            places.update(
                (rack, (grid["positions"][x], name))
                for name, row in zip(grid["rows"], grid["rack"], strict=True)
                for x, rack in enumerate(row)
                if rack
            )
        where = [(places[rack], rack) for rack in chosen if rack in places]
        if where:
            marker = {"symbol": "square-open", "size": 18, "color": color}
            marker["line"] = {"width": 3, "color": color}
            traces.append(
                _markers(
                    [w[0][0] for w in where],
                    [w[0][1] for w in where],
                    [w[1] for w in where],
                    marker,
                    f"{severity} alarm (see Alarms)",
                    "rack %{text}: " + severity + " alarm<extra></extra>",
                )
            )
    return traces


def rack_detail(history: dict[str, Any], timezone: tzinfo) -> dict[str, Any]:
    """One rack over time: temperatures (measured, and the twin model's), power, busbar
    voltage, BBU ride-through; one panel per quantity, titled with its name, on one shared
    time axis.

    A plain Plotly JSON dict with SVG lines (at most a few hundred points per series): no
    ``graph_objects`` validation and no WebGL context, which cost most of a rack click.
    """
    series = history["series"]
    timezone = axis_zone(timezone, *(item["time"] for item in series.values()))
    panels = [
        ("inlet_temperature", "inlet_temperature_model", "outlet_temperature"),
        ("rack_power",),
        ("tap_voltage",),
        ("bbu_ride_through",),
    ]
    panels = [p for p in panels if any(name in series for name in p)]
    count, spacing = len(panels), 0.07
    height = (1.0 - spacing * (count - 1)) / count
    data: list[dict[str, Any]] = []
    estimate = history["estimate"]
    kind = "measured" if estimate.get("measured") else "virtual (estimated)"
    layout: dict[str, Any] = {
        "title": {
            "text": f"Rack {history['rack']} ({kind} inlet, busbar {history['busbar']})",
            "x": 0.01,
        },
        "height": 700,
        "margin": {"l": 60, "r": 20, "t": 50, "b": 60},
        "legend": {"orientation": "h", "y": -0.3},
        "template": template_json(),
        "annotations": [],
    }
    for row, names in enumerate(panels, start=1):
        suffix = "" if row == 1 else str(row)
        top = 1.0 - (row - 1) * (height + spacing)
        first = next(series[n] for n in names if n in series)
        title = label(names[0], first["units"]).replace("Rack inlet", "Rack inlet/outlet")
        layout["annotations"].append(
            {
                "text": title,
                "x": 0.5,
                "y": top,
                "xref": "paper",
                "yref": "paper",
                "xanchor": "center",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"size": 16},
            }
        )
        layout[f"yaxis{suffix}"] = {
            "anchor": f"x{suffix}",
            "domain": [max(top - height, 0.0), top],
            "title": {"text": f"[{unit_text(first['units'])}]"},
        }
        last = row == count
        layout[f"xaxis{suffix}"] = {
            "anchor": f"y{suffix}",
            "domain": [0.0, 1.0],
            **({"title": {"text": time_title(timezone)}} if last else {}),
            **({} if last else {"matches": f"x{count if count > 1 else ''}"}),
            "showticklabels": last,
        }
        for name in (n for n in names if n in series):
            item = series[name]
            model = item.get("point") is None
            data.append(
                {
                    "type": "scatter",
                    "x": local_times(item["time"], timezone),
                    "y": item["value"],
                    "xaxis": f"x{suffix}",
                    "yaxis": f"y{suffix}",
                    "mode": "lines" if model else "lines+markers",
                    "marker": {"size": 4},
                    "line": {
                        "color": COLORS[(row + names.index(name)) % len(COLORS)],
                        "dash": "dash" if model else "solid",
                    },
                    "name": item["long_name"] + ("" if model else " (measured)"),
                }
            )
    return {"data": data, "layout": layout}


def _nice_step(raw: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k not below ``raw`` (> 0)."""
    exponent = math.floor(math.log10(raw))
    for mantissa in (1.0, 2.0, 2.5, 5.0, 10.0):
        step = mantissa * 10.0**exponent
        if step >= raw * (1 - 1e-9):
            return step
    return 10.0 ** (exponent + 1)


def aligned_axis(values: Sequence[float | None], intervals: int = 5) -> dict[str, Any]:
    """Range and ticks of a y axis with ``intervals`` round steps (units of ``values``).

    Two axes laid out with the same ``intervals`` put their ticks (and the grid) at the same
    heights, each with round numbers.

    Parameters
    ----------
    values
        The values the axis must show (None and NaN are skipped).
    intervals
        Number of tick intervals [-].
    """
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    step = _nice_step((high - low) / intervals)
    while True:
        start = math.floor(low / step + 1e-9) * step
        if start + intervals * step >= high - 1e-9:
            break
        step = _nice_step(step * 1.0001)
    end = start + intervals * step
    return {"range": [start, end], "tick0": start, "dtick": step, "tickmode": "linear"}


def plan_signals(view: dict[str, Any], timezone: tzinfo) -> go.Figure:
    """Price and carbon intensity over the plan window (two y axes)."""
    timezone = axis_zone(timezone, view["time"])
    x = local_times(view["time"], timezone)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=x, y=view["price"], name="price", line_shape="hv"))
    fig.add_trace(
        go.Scatter(x=x, y=view["carbon_intensity"], name="carbon intensity", line_shape="hv"),
        secondary_y=True,
    )
    # aligned ticks: both axes split into the same number of round steps
    fig.update_yaxes(title_text=label("price"), secondary_y=False, **aligned_axis(view["price"]))
    fig.update_yaxes(
        title_text=label("carbon_intensity"),
        secondary_y=True,
        showgrid=False,
        **aligned_axis(view["carbon_intensity"]),
    )
    fig.update_xaxes(title_text=time_title(timezone))
    return _base(fig, "Signals")


def plan_grid(view: dict[str, Any], timezone: tzinfo) -> go.Figure:
    """Grid import of the plan vs the *as operated* and *rule based* baselines [kW]."""
    timezone = axis_zone(timezone, view["time"])
    x = local_times(view["time"], timezone)
    fig = go.Figure()
    names = {"plan": "plan", "as_operated": "as operated", "rule_based": "rule based"}
    for k, (key, name) in enumerate(names.items()):
        fig.add_trace(
            go.Scatter(
                x=x,
                y=view["grid_import_kw"][key],
                name=name,
                line={"width": 3 if key == "plan" else 1.5, "color": COLORS[k]},
            )
        )
    fig.update_yaxes(title_text=label("grid_power", "kW"))
    fig.update_xaxes(title_text=time_title(timezone))
    return _base(fig, "Grid import: plan vs baselines")


def plan_soc(view: dict[str, Any], timezone: tzinfo) -> go.Figure:
    """Battery state of charge of the plan and the baselines [-]."""
    timezone = axis_zone(timezone, view["time"])
    x = local_times(view["time"], timezone)
    fig = go.Figure()
    for k, (key, values) in enumerate(view["battery_soc"].items()):
        fig.add_trace(go.Scatter(x=x, y=values, name=key.replace("_", " "), line_color=COLORS[k]))
    fig.update_yaxes(title_text=label("battery_soc"), range=[0, 1])
    fig.update_xaxes(title_text=time_title(timezone))
    return _base(fig, "Battery state of charge")


def merged_name(names: Sequence[str]) -> str:
    """One legend name for units whose lines are identical.

    Consecutive numbers with one prefix read as a range (``"CRAH-1…4 (identical)"``),
    other names are listed (``"CRAH-1, CRAH-3 (identical)"``); one name is returned as is.

    Parameters
    ----------
    names
        Unit names in plotting order.
    """
    if len(names) == 1:
        return names[0]
    parts = [re.fullmatch(r"(.*?)(\d+)", name) for name in names]
    if all(parts) and len({p.group(1) for p in parts if p}) == 1:
        numbers = [int(p.group(2)) for p in parts if p]
        if numbers == list(range(numbers[0], numbers[0] + len(numbers))):
            return f"{names[0]}…{numbers[-1]} (identical)"
    return f"{', '.join(names)} (identical)"


def identical_groups(series: dict[str, Sequence[float]]) -> list[tuple[str, Sequence[float]]]:
    """Series with equal values merged into one (legend name by :func:`merged_name`).

    Parameters
    ----------
    series
        Values by unit name, in plotting order.
    """
    groups: dict[tuple[float, ...], list[str]] = {}
    for name, values in series.items():
        groups.setdefault(tuple(values), []).append(name)
    return [(merged_name(names), list(values)) for values, names in groups.items()]


def plan_setpoints(view: dict[str, Any], timezone: tzinfo) -> go.Figure:
    """Supply-air setpoints per cooling unit [°C] (identical units as one line) and the
    chilled-water setpoint [°C] on its own axis (right), ticks aligned with the left axis."""
    timezone = axis_zone(timezone, view["time"])
    x = local_times(view["time"], timezone)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for k, (name, values) in enumerate(identical_groups(view["supply_temperature_c"])):
        fig.add_trace(
            go.Scatter(
                x=x, y=values, name=name, line_shape="hv", line_color=COLORS[k % len(COLORS)]
            )
        )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=view["chilled_water_temperature_c"],
            name="chilled water",
            line={"dash": "dot", "color": MEASURED_COLOR},
            line_shape="hv",
        ),
        secondary_y=True,
    )
    air = [v for values in view["supply_temperature_c"].values() for v in values]
    fig.update_yaxes(title_text=label("supply_temperature"), secondary_y=False, **aligned_axis(air))
    fig.update_yaxes(
        title_text=label("chilled_water_temperature"),
        secondary_y=True,
        showgrid=False,
        **aligned_axis(view["chilled_water_temperature_c"]),
    )
    fig.update_xaxes(title_text=time_title(timezone))
    return _base(fig, "Setpoints")


def plan_gantt(view: dict[str, Any], timezone: tzinfo) -> go.Figure:
    """When each job runs in the plan: one bar per run (its mean power [kW] on hover); a job
    that does not run in the plan's window is listed as paused."""
    timezone = axis_zone(timezone, view["time"])
    jobs = view["jobs"]
    if not jobs:
        return empty("no jobs in this plan's window")
    fig = go.Figure()
    axis = local_times([view["time"][0], view["time"][-1]], timezone) if view["time"] else []
    for k, job in enumerate(jobs):
        runs = job.get("runs")
        if runs is None:  # a view from before runs were kept: first to last step with power
            runs = [[job["start"], job["end"], None]] if job.get("start") else []
        name = f"{job['job']} (tier {job['tier']}, {job['energy_kwh']:,.0f} kWh)"
        if not runs:
            fig.add_trace(
                go.Scatter(
                    x=axis[:1],
                    y=[job["job"]],
                    mode="text",
                    text=["paused: no power in this plan's window"],
                    textposition="middle right",
                    name=f"{name}: paused",
                    hovertemplate="%{y}: paused<extra></extra>",
                )
            )
            continue
        for r, (start, end, kw) in enumerate(runs):
            begin, finish = local_times([start, end], timezone)
            power = "" if kw is None else f" at {kw:,.0f} kW"
            fig.add_trace(
                go.Scatter(
                    x=[begin, finish],
                    y=[job["job"], job["job"]],
                    mode="lines",
                    line={"width": 18, "color": COLORS[k % len(COLORS)]},
                    name=name,
                    legendgroup=job["job"],
                    showlegend=r == 0,
                    hovertemplate=f"%{{y}}: %{{x}}{power}<extra></extra>",
                )
            )
    fig.update_xaxes(title_text=time_title(timezone))
    fig.update_yaxes(type="category")
    return _base(fig, "Jobs (Gantt; paused ones included)", 120 + 50 * len(jobs))


def whatif_compare(result: dict[str, Any], timezone: tzinfo) -> go.Figure:
    """Grid import of the current and the modified scenario's plans [kW]."""
    timezone = axis_zone(timezone, result["time"])
    x = local_times(result["time"], timezone)
    fig = go.Figure()
    for k, key in enumerate(("current", "modified")):
        fig.add_trace(
            go.Scatter(x=x, y=result["grid_import_kw"][key], name=key, line_color=COLORS[k])
        )
    fig.update_yaxes(title_text=label("grid_power", "kW"))
    fig.update_xaxes(title_text=time_title(timezone))
    return _base(fig, "What-if: grid import of both plans")


__all__ = [
    "axis_zone",
    "empty",
    "floor_map",
    "label",
    "local_times",
    "plan_gantt",
    "plan_grid",
    "plan_setpoints",
    "plan_signals",
    "plan_soc",
    "rack_detail",
    "sankey",
    "time_title",
    "whatif_compare",
]
