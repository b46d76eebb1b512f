"""The Live page: measurement vs prediction, calibration, faults."""

from __future__ import annotations

from typing import Any

import dash
from dash import Dash, Input, Output, dcc, html

from ui import callbacks as cb
from ui import figures
from ui.pages.components import REFRESH_MS, graph
from ui.views_live import default_live_points

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
                    dcc.Input(id="live-hours", type="number", value=6, min=1, max=72),
                    html.Span("hours"),
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
