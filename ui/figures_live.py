"""The Live page's figures (and the Overview's trends' helpers) as plain Plotly JSON dicts.

Building ``plotly.graph_objects`` figures validates every property in Python, which took most
of the Live callback's time (see ``docs/ui.md``); Dash sends a dict figure to the browser as
it is, so these figures are dicts written to the Plotly schema by hand, with the
``plotly_white`` template resolved once.

Every time axis of a figure shows the same window (``start`` to ``time`` of the read model,
in the site's timezone) and its axes are linked (``matches``), so zooming one zooms all.  Rack
inlets get the estimate's ±2σ band and the inlet limits; a limit line is drawn only when it is
near the data (:func:`near_limits`), so that a lower limit far below never squeezes the trend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import tzinfo
from typing import Any

from ui.figures import (
    COLORS,
    MEASURED_COLOR,
    axis_zone,
    local_times,
    template_json,
    time_title,
)
from ui.units import unit_text

__all__ = [
    "BAND_COLOR",
    "LIMIT_COLOR",
    "band_traces",
    "base_layout",
    "limit_trace",
    "near_limits",
    "parameter_history",
    "residuals",
]

BAND_COLOR = "rgba(31, 119, 180, 0.18)"
"""Fill of the estimate's ±2σ band."""
LIMIT_COLOR = "#c0392b"
"""Limit lines (dashed)."""


def base_layout(title: str, height: int, revision: str) -> dict[str, Any]:
    """Title, size, margins, legend and template of every dict figure; ``revision`` keeps the
    user's zoom across refreshes until it changes (Plotly's ``uirevision``)."""
    return {
        "title": {"text": title, "x": 0.01},
        "height": height,
        "margin": {"l": 60, "r": 20, "t": 50, "b": 60},
        "legend": {"orientation": "h", "y": -0.12},
        "template": template_json(),
        "uirevision": revision,
    }


def near_limits(
    limits: dict[str, float | None], values: Sequence[float | None]
) -> dict[str, float]:
    """The limits worth a line: those within ``max(2, span)`` of the data's range (span: the
    data's max − min) [same unit]; all of them when there is no data."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    chosen = {k: float(v) for k, v in limits.items() if v is not None and math.isfinite(v)}
    if not finite:
        return chosen
    low, high = min(finite), max(finite)
    reach = max(2.0, high - low)
    return {k: v for k, v in chosen.items() if low - reach <= v <= high + reach}


def limit_trace(
    name: str, value: float, x_range: list[str], axes: tuple[str, str], unit: str
) -> dict[str, Any]:
    """A dashed horizontal line at ``value`` across ``x_range`` on ``axes`` (x, y ids)."""
    return {
        "type": "scatter",
        "x": x_range,
        "y": [value, value],
        "mode": "lines",
        "line": {"color": LIMIT_COLOR, "dash": "dash", "width": 1.5},
        "name": f"{name} {value:g} {unit}",
        "hoverinfo": "name",
        "xaxis": axes[0],
        "yaxis": axes[1],
        "showlegend": False,
    }


def band_traces(
    estimate: dict[str, Any], timezone: tzinfo, axes: tuple[str, str], legend: bool
) -> list[dict[str, Any]]:
    """The estimate's mean and its ±2σ band (filled between mean + 2σ and mean − 2σ)."""
    x = local_times(estimate["time"], timezone)
    mean, std = estimate["mean"], estimate["std"]
    upper = [None if m is None or s is None else m + 2 * s for m, s in zip(mean, std, strict=True)]
    lower = [None if m is None or s is None else m - 2 * s for m, s in zip(mean, std, strict=True)]
    common = {"type": "scatter", "x": x, "xaxis": axes[0], "yaxis": axes[1]}
    return [
        {
            **common,
            "y": upper,
            "mode": "lines",
            "line": {"width": 0},
            "hoverinfo": "skip",
            "showlegend": False,
            "legendgroup": "band",
        },
        {
            **common,
            "y": lower,
            "mode": "lines",
            "line": {"width": 0},
            "fill": "tonexty",
            "fillcolor": BAND_COLOR,
            "name": "estimate ±2σ",
            "hoverinfo": "skip",
            "showlegend": legend,
            "legendgroup": "band",
        },
        {
            **common,
            "y": mean,
            "mode": "lines",
            "line": {"color": COLORS[2], "width": 1.5},
            "name": "estimate",
            "showlegend": legend,
            "legendgroup": "estimate",
        },
    ]


def _limits_title(
    point: str, limits: dict[str, float | None], shown: dict[str, float], unit: str
) -> str:
    """The panel's title: the point, and the limits left off the scale (far from the data)."""
    off = [
        f"{name} {value:g} {unit}"
        for name, value in limits.items()
        if value is not None and math.isfinite(value) and name not in shown
    ]
    return point if not off else f"{point} ({', '.join(off)}: off scale)"


def _axis_id(k: int) -> str:
    return "" if k == 1 else str(k)


def residuals(data: dict[str, Any], timezone: tzinfo, revision: str = "") -> dict[str, Any]:
    """Measured vs predicted (left, with the estimate's ±2σ band and the limits of rack inlets)
    and the residual (right) per point; every time axis shows the read model's window."""
    timezone = axis_zone(timezone, [data["start"], data["time"]])
    series = data["series"]
    if not series:
        return {"data": [], "layout": base_layout("no points selected", 240, revision)}
    x_range = local_times([data["start"], data["time"]], timezone)
    rows = len(series)
    gap = 0.3 / rows if rows > 1 else 0.0
    height = (1.0 - gap * (rows - 1)) / rows
    traces: list[dict[str, Any]] = []
    layout = base_layout("Measurement vs twin prediction", 180 + 190 * rows, revision)
    annotations = []
    for row, (point, item) in enumerate(series.items()):
        top = 1.0 - row * (height + gap)
        domain = [max(top - height, 0.0), top]
        unit = unit_text(item["units"])
        x = local_times(item["time"], timezone)
        left, right = 2 * row + 1, 2 * row + 2
        axes_l = ("x" + _axis_id(left), "y" + _axis_id(left))
        axes_r = ("x" + _axis_id(right), "y" + _axis_id(right))
        first = row == 0
        estimate = item.get("estimate")
        values: list[float | None] = [*item["measured"], *item["predicted"]]
        title = point
        if estimate:
            traces += band_traces(estimate, timezone, axes_l, first)
            values += estimate["mean"]
            limits = {"upper limit": estimate["upper"], "lower limit": estimate["lower"]}
            shown = near_limits(limits, values)
            for name, value in shown.items():
                traces.append(limit_trace(name, value, x_range, axes_l, unit))
            title = _limits_title(point, limits, shown, unit)
        traces.append(
            {
                "type": "scattergl",
                "x": x,
                "y": item["measured"],
                "name": "measured",
                "mode": "markers",
                "marker": {"size": 4, "color": MEASURED_COLOR},
                "showlegend": first,
                "legendgroup": "m",
                "xaxis": axes_l[0],
                "yaxis": axes_l[1],
            }
        )
        traces.append(
            {
                "type": "scattergl",
                "x": x,
                "y": item["predicted"],
                "name": "twin prediction",
                "mode": "lines",
                "line": {"color": COLORS[0]},
                "showlegend": first,
                "legendgroup": "p",
                "xaxis": axes_l[0],
                "yaxis": axes_l[1],
            }
        )
        traces.append(
            {
                "type": "scattergl",
                "x": x,
                "y": item["residual"],
                "name": "residual",
                "mode": "markers",
                "marker": {"size": 4, "color": COLORS[1]},
                "showlegend": first,
                "legendgroup": "r",
                "xaxis": axes_r[0],
                "yaxis": axes_r[1],
            }
        )
        last = row == rows - 1
        for k, x_domain in ((left, [0.0, 0.66]), (right, [0.74, 1.0])):
            layout["xaxis" + _axis_id(k)] = {
                "domain": x_domain,
                "anchor": "y" + _axis_id(k),
                "range": x_range,
                "type": "date",
                "showticklabels": last,
                **({"matches": "x"} if k > 1 else {}),
                **({"title": {"text": time_title(timezone)}} if last else {}),
            }
            layout["yaxis" + _axis_id(k)] = {
                "domain": domain,
                "anchor": "x" + _axis_id(k),
                "title": {"text": f"[{unit}]"},
            }
        for text, x_mid in ((title, 0.33), (f"residual {point}", 0.87)):
            annotations.append(
                {
                    "text": text,
                    "x": x_mid,
                    "y": domain[1],
                    "xref": "paper",
                    "yref": "paper",
                    "xanchor": "center",
                    "yanchor": "bottom",
                    "showarrow": False,
                    "font": {"size": 13},
                }
            )
    layout["annotations"] = annotations
    return {"data": traces, "layout": layout}


def parameter_history(
    data: dict[str, Any], timezone: tzinfo, limit: int = 8, revision: str = ""
) -> dict[str, Any]:
    """Calibrated parameters over time (offsets [K], factors [-]) with ±1 std error bars, on
    the same time window as the trends."""
    timezone = axis_zone(timezone, [data["start"], data["time"]])
    history = data["parameter_history"]
    x_range = local_times([data["start"], data["time"]], timezone)
    layout = base_layout("Calibration: parameter history", 440, revision)
    # up to 8 names wrap to 4 legend rows in a half-width card: below the axis title, not on it
    layout["legend"] = {"orientation": "h", "yanchor": "top", "y": -0.3}
    layout["margin"] = {**layout["margin"], "b": 150}
    layout["xaxis"] = {"range": x_range, "type": "date", "title": {"text": time_title(timezone)}}
    layout["yaxis"] = {"title": {"text": "Parameter value [K or -]"}}
    if not history:
        layout["title"]["text"] = "Calibration: no parameter history yet"
        return {"data": [], "layout": layout}
    traces = []
    for k, (name, item) in enumerate(list(history.items())[:limit]):
        unit = "K" if name.startswith("inlet_offset") else "-"
        traces.append(
            {
                "type": "scatter",
                "x": local_times(item["time"], timezone),
                "y": item["value"],
                "name": f"{name} [{unit}]",
                "error_y": {
                    "type": "data",
                    "array": item["std"],
                    "visible": True,
                    "thickness": 1,
                },
                "line": {"color": COLORS[k % len(COLORS)]},
            }
        )
    return {"data": traces, "layout": layout}
