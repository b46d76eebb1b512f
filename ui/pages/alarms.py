"""The Alarms page: every alarm (raised, acknowledged, shelved, cleared) in site time with a
link to its point's trend, and the readings rejected or excluded per point."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, dcc, html

from ui import callbacks as cb
from ui.pages.components import REFRESH_MS


def layout(context: cb.UIContext) -> html.Div:
    """The Alarms page (drawn with the page; refreshed every ``REFRESH_MS``)."""
    summary, table, screening = cb.alarms_page(context)
    return html.Div(
        [
            html.H2("Alarms"),
            html.Div(summary, id="alarms-head"),
            html.P(
                "Acknowledge or shelve an alarm through the API "
                "(POST /api/v1/alarms/{id}/acknowledge, /shelve; approve scope, audited)."
            ),
            html.Div(table, id="alarms-list", className="card"),
            html.H4("Readings kept out, per point"),
            html.Div(screening, id="alarms-screened", className="card"),
            dcc.Interval(id="alarms-refresh", interval=REFRESH_MS),
        ],
        className="page",
    )


def register(app: Dash, context: cb.UIContext) -> None:
    """Wire the Alarms page's refresh to ``app``."""

    @app.callback(
        Output("alarms-head", "children"),
        Output("alarms-list", "children"),
        Output("alarms-screened", "children"),
        Input("alarms-refresh", "n_intervals"),
        prevent_initial_call=True,
    )
    def alarms(_: int | None) -> tuple[Any, ...]:
        return cb.alarms_page(context)
