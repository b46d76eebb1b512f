"""The Live page: measurement vs prediction, calibration, faults."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import dash
from dash import Dash, Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from ui import callbacks as cb
from ui import figures
from ui.pages.components import REFRESH_MS, graph
from ui.views_live import default_live_points

RANGES: tuple[tuple[str, float], ...] = (
    ("15 min", 0.25),
    ("1 h", 1.0),
    ("6 h", 6.0),
    ("24 h", 24.0),
    ("3 days", 72.0),
    ("7 days", 168.0),
)
"""The time ranges of the Live page's picker: label and look-back [h]."""

MAX_POINT_OPTIONS = 2_000
"""Largest number of points offered by the Live page's picker [-]."""


def layout(context: cb.UIContext) -> html.Div:
    """The Live page: measurement vs prediction, calibration, faults.

    The point picker lists facility-level points first and at most ``MAX_POINT_OPTIONS``
    in all (a 10,000-rack hall has ~50,000 points; the API serves any of them).
    """
    ids = context.twin.catalogue.ids
    chosen = default_live_points(context.twin)
    first = [p for p in ids if not p.startswith("rack/")]
    points = list(dict.fromkeys(chosen + first + ids))[:MAX_POINT_OPTIONS]
    return html.Div(
        [
            html.H2("Live"),
            html.Div(
                [
                    dcc.Dropdown(
                        id="live-points",
                        options=points,
                        value=chosen,
                        multi=True,
                        style={"minWidth": "600px"},
                    ),
                    html.Span("last"),
                    dcc.Dropdown(
                        id="live-hours",
                        options=[{"label": label, "value": h} for label, h in RANGES],
                        value=6,
                        clearable=False,
                        style={"width": "120px"},
                    ),
                    html.Span(
                        "(raw readings up to 1 h, 1-minute means up to 24 h, 15-minute beyond)"
                    ),
                ],
                style={"display": "flex", "gap": "8px", "alignItems": "center"},
            ),
            html.Div(id="live-rmse"),
            html.Div(graph("live-residuals"), className="card"),
            html.Div(
                [
                    html.Div(
                        [html.H4("Calibration status"), html.Div(id="live-calibration")],
                        className="card",
                    ),
                    html.Div(graph("live-history"), className="card"),
                ],
                className="row2",
            ),
            html.Div([html.H4("Sensor faults"), html.Div(id="live-faults")], className="card"),
            dcc.Interval(id="live-refresh", interval=REFRESH_MS * 2),
        ],
        className="page",
    )


def register(app: Dash, context: cb.UIContext) -> None:
    """Wire the Live page's refresh, point picker and look-back to ``app``."""

    @app.callback(
        Output("live-points", "value"),
        Output("live-points", "options"),
        Input("live-points", "id"),
        State("url", "search"),
        State("live-points", "options"),
    )
    def point_from_link(_: str, search: str | None, options: list[str]) -> tuple[Any, ...]:
        """``/live?point=<id>`` (the Alarms page's links) shows that point's trend."""
        wanted = parse_qs((search or "").lstrip("?")).get("point", [])
        chosen = [p for p in wanted if p in context.twin.catalogue]
        if not chosen:
            raise PreventUpdate
        return chosen, list(dict.fromkeys(chosen + list(options or [])))

    @app.callback(
        Output("live-residuals", "figure"),
        Output("live-history", "figure"),
        Output("live-calibration", "children"),
        Output("live-faults", "children"),
        Output("live-rmse", "children"),
        Input("live-refresh", "n_intervals"),
        Input("live-points", "value"),
        Input("live-hours", "value"),
    )
    def live(_: int | None, points: list[str] | None, hours: float | None) -> tuple[Any, ...]:
        try:
            page = cb.live(context, points, hours)
        except KeyError as exc:
            return (figures.empty(str(exc)), dash.no_update, dash.no_update, dash.no_update, "")
        return page["residuals"], page["history"], page["calibration"], page["faults"], page["rmse"]
