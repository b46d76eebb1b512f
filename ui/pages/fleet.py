"""The Fleet page (``dctwin serve fleet.yaml``): a map of sites (power, carbon intensity and
alarms now), the work the fleet plan moves between sites, per-site KPIs with a link into each
site's pages, and the fleet re-plan / approve / reject buttons (``approve`` scope): the
newest proposal's critical alarms at each site are shown before approving, and approving
over them needs a typed reason."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, State, dcc, get_asset_url, html

from ui import callbacks as cb
from ui import views_fleet
from ui.pages.components import graph_config, session

FLEET_REFRESH_MS = 10_000
"""Period of the Fleet page's refresh [ms] (every site's state is read each time)."""


def map_config() -> Any:
    """The map's Plotly settings: the world outline from the UI's own assets (offline)."""
    return {**graph_config("fleet-map"), "topojsonURL": get_asset_url(views_fleet.TOPOJSON_PATH)}


def _content(context: cb.UIContext) -> tuple[Any, ...]:
    assert context.fleet is not None
    summary = views_fleet.fleet_summary(context.fleet)
    return (
        views_fleet.status_line(summary),
        views_fleet.fleet_map(summary),
        views_fleet.site_table(summary, context.site),
        views_fleet.plan_panel(summary),
        views_fleet.shown_proposal(summary),
    )


def layout(context: cb.UIContext) -> html.Div:
    """The Fleet page, drawn with the page and refreshed every :data:`FLEET_REFRESH_MS`."""
    if context.fleet is None:
        return html.Div(
            [
                html.H2("Fleet"),
                html.P(
                    "This twin serves one site. Serve a fleet file to see its sites here: "
                    "dctwin serve scenarios/fleet.yaml (see docs/fleet.md).",
                    id="fleet-status",
                ),
            ],
            className="page",
        )
    status, figure, table, plan, shown = _content(context)
    return html.Div(
        [
            html.H2("Fleet"),
            html.Div(status, id="fleet-status"),
            html.Div(
                dcc.Graph(id="fleet-map", figure=figure, config=map_config()), className="card"
            ),
            html.Div(table, className="card", id="fleet-table"),
            html.Div(
                [
                    html.H3("Fleet plan"),
                    html.Div(plan, id="fleet-plan-panel"),
                    dcc.Input(
                        id="fleet-reason",
                        placeholder="reason (audit log; needed to override critical alarms)",
                        type="text",
                        style={"width": "420px"},
                    ),
                    html.Button("Re-plan the fleet", id="fleet-replan"),
                    html.Button("Approve the proposal", id="fleet-approve"),
                    html.Button("Reject the proposal", id="fleet-reject"),
                    html.Div(id="fleet-message"),
                ],
                className="card",
            ),
            dcc.Interval(id="fleet-refresh", interval=FLEET_REFRESH_MS),
            dcc.Store(id="fleet-shown", data=shown),  # the proposal and alarms on screen
        ],
        className="page",
    )


def register(app: Dash, context: cb.UIContext) -> None:
    """Wire the Fleet page's refresh and buttons to ``app``."""
    if context.fleet is None:
        return
    fleet = context.fleet

    @app.callback(
        Output("fleet-status", "children"),
        Output("fleet-map", "figure"),
        Output("fleet-table", "children"),
        Output("fleet-plan-panel", "children"),
        Output("fleet-shown", "data"),
        Input("fleet-refresh", "n_intervals"),
        Input("fleet-message", "children"),
        prevent_initial_call=True,
    )
    def refresh(*_: Any) -> tuple[Any, ...]:
        return _content(context)

    @app.callback(
        Output("fleet-message", "children"),
        Input("fleet-replan", "n_clicks"),
        Input("fleet-approve", "n_clicks"),
        Input("fleet-reject", "n_clicks"),
        State("fleet-reason", "value"),
        State("fleet-shown", "data"),
        prevent_initial_call=True,
    )
    def act(_r: Any, _a: Any, _j: Any, reason: str | None, shown: Any) -> str:
        from dash import ctx

        principal, scopes = session()
        if ctx.triggered_id == "fleet-replan":
            return views_fleet.propose(fleet, principal, scopes)
        approve = ctx.triggered_id == "fleet-approve"
        return views_fleet.decide(fleet, approve, principal, scopes, reason or "", shown)
