"""The Overview page: KPI cards, trends since local midnight and at least the last 6 h (grid
import, hottest inlet, cost so far today; a click opens the point's Live trend) and the
power-flow Sankey."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, dcc, html
from dash.exceptions import PreventUpdate

from ui import callbacks as cb
from ui.figures_trends import TREND_IDS
from ui.pages.components import REFRESH_MS, graph_with


def layout(context: cb.UIContext) -> html.Div:
    """The Overview page: KPI cards and the power-flow Sankey (drawn with the page: no
    extra round trip before the first paint; refreshed every ``REFRESH_MS``)."""
    cards, sankey, status = cb.overview(context)
    trends = cb.overview_trends(context)
    return html.Div(
        [
            html.H2("Overview"),
            html.Div(status, id="overview-status"),
            html.Div(cards, id="overview-kpis", className="kpis"),
            html.Div(
                [
                    html.Div(graph_with(graph_id, figure), className="card")
                    for graph_id, figure in zip(TREND_IDS, trends, strict=True)
                ],
                className="row3",
                title="click a point to open its trend on the Live page",
            ),
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

    @app.callback(
        *[Output(graph_id, "figure") for graph_id in TREND_IDS],
        Input("overview-refresh", "n_intervals"),
        prevent_initial_call=True,
    )
    def trends(_: int | None) -> tuple[Any, ...]:
        return tuple(cb.overview_trends(context))

    @app.callback(
        Output("url", "search"),
        Output("url", "pathname"),
        *[Input(graph_id, "clickData") for graph_id in TREND_IDS],
        prevent_initial_call=True,
    )
    def open_live(*clicks: dict[str, Any] | None) -> tuple[str, str]:
        """A click on a trend opens the Live page on that point's trend (client-side
        routing: the search first, then the path the router follows)."""
        for click in clicks:
            for point in (click or {}).get("points") or []:
                link = point.get("customdata")
                if isinstance(link, str) and link.startswith("/live?point="):
                    path, _, query = link.partition("?")
                    return "?" + query, path
        raise PreventUpdate
