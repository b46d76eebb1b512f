"""The Alarms page: every alarm (raised, acknowledged, shelved, cleared) in site time with a
link to its point's trend; Acknowledge / Shelve / Unshelve for a session with the ``approve``
scope; the readings rejected or excluded per point, and Readmit for an excluded sensor (same
scope, with a reason)."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, State, ctx, dcc, html
from dash.exceptions import PreventUpdate

from twin.live.control.alarm_actions import SHELVE_CHOICES
from ui import callbacks as cb
from ui import callbacks_alarms as ca
from ui.pages.components import REFRESH_MS, session


def _actions(context: cb.UIContext) -> html.Div:
    """The alarm picker and the buttons, enabled for a session with ``approve``."""
    principal, scopes = session()
    allowed = ca.may_act(principal, scopes)
    who = (
        f"Signed in as {principal}: you may acknowledge and shelve alarms (audited)."
        if allowed
        else "Read-only session: acknowledging and shelving need the 'approve' scope "
        "(or POST /api/v1/alarms/{id}/acknowledge, /shelve with such a token)."
    )
    return html.Div(
        [
            html.Div(who, id="alarm-session"),
            html.Div(
                [
                    dcc.Dropdown(
                        id="alarm-choice",
                        options=ca.alarm_options(context),
                        placeholder="choose an alarm",
                        style={"minWidth": "520px"},
                    ),
                    html.Button("Acknowledge", id="alarm-ack", disabled=not allowed),
                    html.Span("shelve for"),
                    dcc.Dropdown(
                        id="alarm-shelve-hours",
                        options=[{"label": label, "value": h} for label, h in SHELVE_CHOICES],
                        value=SHELVE_CHOICES[0][1],
                        clearable=False,
                        style={"width": "110px"},
                    ),
                    html.Button("Shelve", id="alarm-shelve", disabled=not allowed),
                    html.Button("Unshelve", id="alarm-unshelve", disabled=not allowed),
                ],
                style={"display": "flex", "gap": "8px", "alignItems": "center"},
            ),
            html.Div(id="alarm-action-message"),
        ],
        className="card",
    )


def _readmit(context: cb.UIContext) -> html.Div:
    """The excluded-sensor picker, a reason and the Readmit button (``approve`` scope)."""
    principal, scopes = session()
    allowed = ca.may_act(principal, scopes)
    return html.Div(
        [
            html.Div(
                "A sensor excluded as stuck or drifting comes back by itself only near its old "
                "level; after replacing or recalibrating it, readmit it here (audited; the "
                "screening judges it afresh and flags it again if it is still faulty)."
            ),
            html.Div(
                [
                    dcc.Dropdown(
                        id="readmit-choice",
                        options=ca.readmit_options(context),
                        placeholder="choose an excluded sensor",
                        style={"minWidth": "420px"},
                    ),
                    dcc.Input(
                        id="readmit-reason",
                        type="text",
                        placeholder="why (e.g. sensor replaced)",
                        maxLength=2000,
                        style={"minWidth": "260px"},
                    ),
                    html.Button("Readmit", id="readmit-go", disabled=not allowed),
                ],
                style={"display": "flex", "gap": "8px", "alignItems": "center"},
            ),
            html.Div(id="readmit-message"),
        ],
        className="card",
    )


def layout(context: cb.UIContext) -> html.Div:
    """The Alarms page (drawn with the page; refreshed every ``REFRESH_MS``)."""
    summary, table, screening = ca.alarms_page(context)
    return html.Div(
        [
            html.H2("Alarms"),
            html.Div(summary, id="alarms-head"),
            _actions(context),
            html.Div(table, id="alarms-list", className="card"),
            html.H4("Readings kept out, per point"),
            html.Div(screening, id="alarms-screened", className="card"),
            _readmit(context),
            dcc.Interval(id="alarms-refresh", interval=REFRESH_MS),
        ],
        className="page",
    )


def register(app: Dash, context: cb.UIContext) -> None:
    """Wire the Alarms page's refresh and its buttons to ``app``."""

    @app.callback(
        Output("alarms-head", "children"),
        Output("alarms-list", "children"),
        Output("alarms-screened", "children"),
        Output("alarm-choice", "options"),
        Output("readmit-choice", "options"),
        Input("alarms-refresh", "n_intervals"),
        Input("alarm-action-message", "children"),
        Input("readmit-message", "children"),
        prevent_initial_call=True,
    )
    def alarms(_: int | None, __: Any, ___: Any) -> tuple[Any, ...]:
        return (*ca.alarms_page(context), ca.alarm_options(context), ca.readmit_options(context))

    @app.callback(
        Output("alarm-action-message", "children"),
        Input("alarm-ack", "n_clicks"),
        Input("alarm-shelve", "n_clicks"),
        Input("alarm-unshelve", "n_clicks"),
        State("alarm-choice", "value"),
        State("alarm-shelve-hours", "value"),
        prevent_initial_call=True,
    )
    def act(_: Any, __: Any, ___: Any, alarm_id: int | None, hours: float | None) -> Any:
        action = {"alarm-ack": "acknowledge", "alarm-shelve": "shelve"}.get(
            str(ctx.triggered_id), "unshelve"
        )
        if ctx.triggered_id is None:
            raise PreventUpdate
        principal, scopes = session()  # checked again here: a disabled button is no guard
        done, message = ca.alarm_action(context, action, alarm_id, hours, principal, scopes)
        return html.Div(message, id="alarm-action-result", className="ok" if done else "warn")

    @app.callback(
        Output("readmit-message", "children"),
        Input("readmit-go", "n_clicks"),
        State("readmit-choice", "value"),
        State("readmit-reason", "value"),
        prevent_initial_call=True,
    )
    def readmit(_: Any, point: str | None, reason: str | None) -> Any:
        principal, scopes = session()  # checked again here: a disabled button is no guard
        done, message = ca.readmit_sensor(context, point, reason, principal, scopes)
        return html.Div(message, id="readmit-result", className="ok" if done else "warn")
