"""The Overview's trends as plain Plotly JSON dicts: grid import with the contract capacity,
the hottest rack inlet with its limit, and the cost so far today (cumulative).

Each is a small figure of its own on one time window, the same range on all three
(:func:`ui.views_overview.trend_window`: local midnight to now, or the last 6 h while the site
day is younger; the title says which, and a dotted line marks the midnight inside it); the
cost starts at local midnight whatever the window.  A series of a single point is drawn as a
marker (a line needs two).  Clicking a point opens the Live page on that point's trend (the
page wires it: :func:`live_link`).
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any
from urllib.parse import quote

from ui.figures import COLORS, axis_zone, local_times, time_title
from ui.figures_live import LIMIT_COLOR, base_layout

__all__ = ["TREND_IDS", "live_link", "overview_trends", "window_label"]

TREND_IDS = ("overview-trend-grid", "overview-trend-hottest", "overview-trend-cost")
"""Component ids of the three trends, in the order :func:`overview_trends` returns them."""


def _figure(
    title: str,
    x_range: list[str],
    y_title: str,
    timezone: tzinfo,
    traces: list[dict[str, Any]],
) -> dict[str, Any]:
    layout = base_layout(title, 260, "overview")
    layout["margin"] = {"l": 60, "r": 20, "t": 40, "b": 50}
    layout["showlegend"] = False
    layout["title"]["font"] = {"size": 14}  # the window and "no data yet" fit a third of a page
    layout["hovermode"] = "x"  # a click anywhere over the trend picks the nearest minute
    layout["xaxis"] = {"range": x_range, "type": "date", "title": {"text": time_title(timezone)}}
    layout["yaxis"] = {"title": {"text": y_title}}
    return {"data": traces, "layout": layout}


def _line(
    x: list[str], y: list[Any], name: str, color: str, shape: str = "linear", **more: Any
) -> dict[str, Any]:
    """A line trace; with fewer than two points a marker too (a line of one point is not
    drawn, and a trend just started would look empty)."""
    line = {"color": color, "width": 2, "shape": shape}
    mode = "lines" if len(x) > 1 else "lines+markers"
    trace = {"type": "scatter", "x": x, "y": y, "mode": mode, "name": name, "line": line}
    if mode != "lines":
        trace["marker"] = {"color": color, "size": 7}
    return {**trace, **more}


def _limit(x_range: list[str], value: float | None, name: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    return [
        {
            "type": "scatter",
            "x": x_range,
            "y": [value, value],
            "mode": "lines",
            "name": name,
            "hoverinfo": "name",
            "line": {"color": LIMIT_COLOR, "dash": "dash", "width": 1.5},
        }
    ]


def window_label(data: dict[str, Any]) -> str:
    """What the trends' window is, for their titles: ``since 00:00`` (the site day) or
    ``last 6 h`` while the site day is younger (:func:`ui.views_overview.trend_window`)."""
    start, midnight, now = (datetime.fromisoformat(data[k]) for k in ("start", "midnight", "time"))
    if start >= midnight:
        return "since 00:00"
    return f"last {(now - start).total_seconds() / 3600.0:.0f} h"


def _midnight_marker(data: dict[str, Any], timezone: tzinfo) -> dict[str, Any]:
    """Layout ``shapes`` and ``annotations`` of a dotted line at the site's local midnight
    when it falls inside the window (an empty dict otherwise)."""
    if datetime.fromisoformat(data["midnight"]) <= datetime.fromisoformat(data["start"]):
        return {}
    (x,) = local_times([data["midnight"]], timezone)
    line = {"color": "#888888", "dash": "dot", "width": 1}
    shape = {"type": "line", "xref": "x", "yref": "paper", "x0": x, "x1": x, "y0": 0, "y1": 1}
    label = {"x": x, "xref": "x", "y": 1, "yref": "paper", "text": "00:00", "showarrow": False}
    font = {"size": 10, "color": "#666666"}
    return {
        "shapes": [{**shape, "line": line}],
        "annotations": [{**label, "xanchor": "left", "yanchor": "top", "font": font}],
    }


def overview_trends(data: dict[str, Any], timezone: tzinfo) -> list[dict[str, Any]]:
    """Grid import [kW] with the contract capacity line, the hottest estimated rack inlet
    [°C] with the upper limit line, and the cumulative cost so far today [currency], from
    :func:`ui.views_overview.trends`; in the order of :data:`TREND_IDS`.

    Each point carries the Live page's link in ``customdata`` (:func:`live_link`)."""
    timezone = axis_zone(timezone, [data["start"], data["time"]])
    x_range = local_times([data["start"], data["time"]], timezone)
    window = window_label(data)
    grid, hottest, cost = data["grid"], data["hottest"], data["cost"]
    grid_link = live_link("grid/power")
    contract = grid["contract_kw"]
    figures = [
        _figure(
            f"Grid import · {window}",
            x_range,
            "Grid import [kW]",
            timezone,
            [
                _line(
                    local_times(grid["time"], timezone),
                    grid["value"],
                    "grid import",
                    COLORS[0],
                    customdata=[grid_link] * len(grid["time"]),
                ),
                *_limit(
                    x_range,
                    contract,
                    f"contract capacity {contract:,.0f} kW" if contract is not None else "",
                ),
            ],
        ),
        _figure(
            f"Hottest rack inlet (estimate) · {window}",
            x_range,
            "Inlet [°C]",  # fits the panel's height (the longer label ran into the title)
            timezone,
            [
                _line(
                    local_times(hottest["time"], timezone),
                    hottest["value"],
                    "hottest inlet",
                    COLORS[1],
                    customdata=[live_link(f"rack/{r}/inlet_temperature") for r in hottest["rack"]],
                    text=hottest["rack"],
                    hovertemplate="%{y:.2f} °C at rack %{text}<extra></extra>",
                ),
                *_limit(x_range, hottest["limit"], f"upper inlet limit {hottest['limit']} °C"),
            ],
        ),
        _figure(
            "Cost so far today · since 00:00",
            x_range,
            f"Cost [{cost['currency']}]",
            timezone,
            [
                _line(
                    local_times(cost["time"], timezone),
                    cost["value"],
                    "cost so far today",
                    COLORS[2],
                    customdata=[grid_link] * len(cost["time"]),
                    shape="hv",
                )
            ],
        ),
    ]
    for figure in figures:
        figure["layout"].update(_midnight_marker(data, timezone))
        if not figure["data"][0]["x"]:
            figure["layout"]["title"]["text"] += " — no data yet"
    return figures


def live_link(point: str) -> str:
    """The Live page showing ``point``'s trend."""
    return "/live?point=" + quote(point, safe="")
