"""The Floor page: the rack map and the clicked rack's detail."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, State, dcc, html

from ui import callbacks as cb
from ui.pages.components import graph_with
from ui.units import axis_title
from ui.views import FLOOR_QUANTITIES


def layout(context: cb.UIContext) -> html.Div:
    """The Floor page: the rack map (drawn with the page) and the clicked rack's detail."""
    floor_map, detail, _ = cb.floor(context, "inlet_temperature", None)
    return html.Div(
        [
            html.H2("Floor"),
            html.Div(
                [
                    html.Label("Show: "),
                    dcc.Dropdown(
                        id="floor-quantity",
                        options=[
                            {"label": axis_title(long, units), "value": name}
                            for name, (long, units) in FLOOR_QUANTITIES.items()
                        ],
                        value="inlet_temperature",
                        clearable=False,
                        style={"width": "360px"},
                    ),
                    html.Span(
                        "Dots: racks with a measured inlet sensor; the others are virtual "
                        "(estimated by the twin).",
                    ),
                ],
                style={"display": "flex", "gap": "10px", "alignItems": "center"},
            ),
            html.Div(graph_with("floor-map", floor_map), className="card"),
            html.Div(graph_with("rack-detail", detail), className="card"),
            dcc.Store(id="floor-selected"),
        ],
        className="page",
    )


HIGHLIGHT_SCRIPT = """
function(rack, figure) {
    const none = window.dash_clientside.no_update;
    if (!figure || !figure.data || !figure.data.length) { return none; }
    const heat = figure.data[0], ids = heat.customdata || [];
    let x = null, y = null;
    for (let i = 0; i < ids.length && x === null; i++) {
        const j = Array.from(ids[i] || []).indexOf(rack);
        if (j >= 0) { x = heat.x[j]; y = heat.y[i]; }
    }
    const data = figure.data.filter((t) => !String(t.name || "").startsWith("selected "));
    if (x !== null) {
        data.push({type: "scatter", x: [x], y: [y], mode: "markers", hoverinfo: "skip",
                   marker: {symbol: "square-open", size: 14, color: "#000"},
                   name: "selected " + rack});
    }
    return Object.assign({}, figure, {data: data});
}
"""
"""Browser-side outline of the clicked rack on the Floor map: the map is not sent again."""


def register(app: Dash, context: cb.UIContext) -> None:
    """Wire the Floor page's quantity picker and rack clicks to ``app``.

    A rack click asks the server for the rack's detail only; the browser moves the outline
    on the map it already has (:data:`HIGHLIGHT_SCRIPT`).  A new quantity redraws the map
    with the selected rack outlined.
    """

    @app.callback(
        Output("floor-map", "figure"),
        Input("floor-quantity", "value"),
        State("floor-selected", "data"),
        prevent_initial_call=True,
    )
    def floor_map(quantity: str, selected: str | None) -> Any:
        return cb.floor_map(context, quantity, selected)

    @app.callback(
        Output("rack-detail", "figure"),
        Output("floor-selected", "data"),
        Input("floor-map", "clickData"),
        prevent_initial_call=True,
    )
    def rack_click(click: dict[str, Any] | None) -> tuple[Any, ...]:
        return cb.rack_click(context, click)

    app.clientside_callback(
        HIGHLIGHT_SCRIPT,
        Output("floor-map", "figure", allow_duplicate=True),
        Input("floor-selected", "data"),
        State("floor-map", "figure"),
        prevent_initial_call=True,
    )
