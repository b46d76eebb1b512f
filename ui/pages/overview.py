"""The Overview page: KPI cards and the power-flow Sankey."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, dcc, html

from ui import callbacks as cb
from ui.pages.components import REFRESH_MS, graph_with


def layout(context: cb.UIContext) -> html.Div:
    """The Overview page: KPI cards and the power-flow Sankey (drawn with the page: no
    extra round trip before the first paint; refreshed every ``REFRESH_MS``)."""
    cards, sankey, status = cb.overview(context)
    return html.Div(
        [
            html.H2("Overview"),
            html.Div(status, id="overview-status"),
            html.Div(cards, id="overview-kpis", className="kpis"),
            html.Div(graph_with("overview-sankey", sankey), className="card"),
            dcc.Interval(id="overview-refresh", interval=REFRESH_MS),
        ],
        className="page",
    )


def register(app: Dash, context: cb.UIContext) -> None:
    """Wire the Overview page's refresh to ``app``."""

    @app.callback(
        Output("overview-kpis", "children"),
        Output("overview-sankey", "figure"),
        Output("overview-status", "children"),
        Input("overview-refresh", "n_intervals"),
        prevent_initial_call=True,
    )
    def overview(_: int | None) -> tuple[Any, ...]:
        return cb.overview(context)
