"""The Floor page: the rack map and the clicked rack's detail."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, dcc, html

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


def register(app: Dash, context: cb.UIContext) -> None:
    """Wire the Floor page's quantity picker and rack clicks to ``app``."""

    @app.callback(
        Output("floor-map", "figure"),
        Output("rack-detail", "figure"),
        Output("floor-selected", "data"),
        Input("floor-quantity", "value"),
        Input("floor-map", "clickData"),
        prevent_initial_call=True,
    )
    def floor(quantity: str, click: dict[str, Any] | None) -> tuple[Any, ...]:
        return cb.floor(context, quantity, click)
