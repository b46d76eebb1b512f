"""The Plan page: signals, grid import vs baselines, SOC, setpoints, jobs, decisions."""

from __future__ import annotations

from typing import Any

import dash
from dash import Dash, Input, Output, State, dcc, html

from ui import callbacks as cb
from ui.pages.components import graph, session

HIDDEN = {"display": "none"}
"""Style of the confirmation step while no approval is pending."""

GRAPHS = ("plan-signals", "plan-grid", "plan-soc", "plan-setpoints", "plan-gantt")
"""Ids of the Plan page's graphs, in the order of :func:`ui.callbacks.plan_page`'s figures."""


def _who() -> tuple[bool, str]:
    """Whether the signed-in session may act on plans, and a line saying so."""
    principal, scopes = session()
    if cb.may_approve(principal, scopes):
        return True, f"Signed in as {principal}: you may propose, approve and reject plans."
    return False, (
        "Read-only session: proposing, approving and rejecting plans need the 'approve' scope "
        "(sign in with such a token or user, or use POST /api/v1/plans/{id}/approve)."
    )


def layout(context: cb.UIContext) -> html.Div:
    """The Plan page: signals, grid import vs baselines, SOC, setpoints, jobs, decisions
    (filled by :func:`register`'s callbacks; ``context`` is not needed to draw it).  The
    buttons are disabled for a session without ``approve`` (and the actions refuse it again)."""
    allowed, who = _who()
    locked = not allowed
    return html.Div(
        [
            html.H2("Plan"),
            html.Div(who, id="plan-session"),
            html.Div(
                [
                    dcc.Dropdown(id="plan-select", style={"width": "520px"}, clearable=False),
                    dcc.Input(id="plan-reason", placeholder="reason (audit log)", type="text"),
                    html.Button("Approve", id="plan-approve", n_clicks=0, disabled=locked),
                    html.Button("Reject", id="plan-reject", n_clicks=0, disabled=locked),
                    html.Button(
                        "Propose a plan now", id="plan-propose", n_clicks=0, disabled=locked
                    ),
                ],
                style={"display": "flex", "gap": "8px", "alignItems": "center"},
            ),
            html.Div(id="plan-message", className="card"),
            html.Div(
                [
                    html.H4("Confirm the approval: what changes against current operation"),
                    html.Div(id="plan-preview"),
                    html.Button("Confirm approval", id="plan-confirm-approve", n_clicks=0),
                    html.Button("Cancel", id="plan-confirm-cancel", n_clicks=0),
                ],
                id="plan-confirm",
                className="card",
                style=HIDDEN,
            ),
            html.Div(id="plan-status", className="card"),
            html.Div([graph("plan-signals"), graph("plan-grid")], className="row2"),
            html.Div([graph("plan-soc"), graph("plan-setpoints")], className="row2"),
            html.Div(graph("plan-gantt"), className="card"),
            html.Div([html.H4("Shadow prices"), html.Div(id="plan-prices")], className="card"),
            dcc.Store(id="plan-job"),
            dcc.Store(id="plan-seen-alarms"),  # the alarms the confirmation step showed
            dcc.Store(id="plan-version", data=0),
            dcc.Interval(id="plan-poll", interval=1_000, disabled=True),
        ],
        className="page",
    )


def register(app: Dash, context: cb.UIContext) -> None:
    """Wire the Plan page to ``app``: the plan shown, and, for a session with ``approve``,
    approve (through a confirmation step showing the plan's preview), reject and propose (a
    background re-plan, polled)."""

    @app.callback(
        Output("plan-select", "options"),
        Output("plan-select", "value"),
        Output("plan-status", "children"),
        *[Output(g, "figure") for g in GRAPHS],
        Output("plan-prices", "children"),
        Input("plan-select", "value"),
        Input("plan-version", "data"),
    )
    def plan(plan_id: str | None, _: int | None) -> tuple[Any, ...]:
        trigger = dash.callback_context.triggered_id
        page = cb.plan_page(context, None if trigger == "plan-version" else plan_id)
        return (
            page["options"],
            page["value"],
            page["status"],
            *page["figures"],
            page["prices"],
        )

    _register_actions(app, context)


def _register_actions(app: Dash, context: cb.UIContext) -> None:
    """Approve (Approve shows the preview; Confirm approval applies), reject, propose and the
    poll of a proposal in progress."""

    @app.callback(
        Output("plan-message", "children"),
        Output("plan-version", "data"),
        Output("plan-job", "data"),
        Output("plan-poll", "disabled"),
        Output("plan-confirm", "style"),
        Output("plan-preview", "children"),
        Output("plan-seen-alarms", "data"),
        Input("plan-approve", "n_clicks"),
        Input("plan-reject", "n_clicks"),
        Input("plan-propose", "n_clicks"),
        Input("plan-poll", "n_intervals"),
        Input("plan-confirm-approve", "n_clicks"),
        Input("plan-confirm-cancel", "n_clicks"),
        State("plan-select", "value"),
        State("plan-reason", "value"),
        State("plan-version", "data"),
        State("plan-job", "data"),
        State("plan-seen-alarms", "data"),
        prevent_initial_call=True,
    )
    def plan_action(
        _a: int,
        _r: int,
        _p: int,
        _n: int | None,
        _c: int,
        _x: int,
        plan_id: str | None,
        reason: str | None,
        version: int | None,
        job: str | None,
        seen: list[int] | None,
    ) -> tuple[Any, ...]:
        trigger = dash.callback_context.triggered_id
        version = int(version or 0)
        principal, scopes = session()  # the signed-in session, checked on every action
        keep = dash.no_update
        if trigger == "plan-approve":  # the confirmation step first
            ok, shown, alarms = cb.approval_preview(context, plan_id, principal, scopes)
            if not ok:
                return shown, keep, keep, True, HIDDEN, None, None
            message = f"Check what plan {plan_id} changes, then confirm or cancel."
            return message, keep, keep, True, {"display": "block"}, shown, alarms
        if trigger == "plan-confirm-cancel":
            return "Approval cancelled: nothing was applied.", keep, keep, True, HIDDEN, None, None
        if trigger == "plan-propose":
            job_id, message = cb.propose(context, principal, scopes)
            return message, keep, job_id, job_id is None, HIDDEN, None, None
        if trigger == "plan-poll":
            state = cb.job_progress(context, job)
            if state["state"] in ("queued", "running"):
                return f"Re-planning: {state['message']} ...", keep, job, False, keep, keep, keep
            if state["state"] == "failed":
                return (
                    f"Re-plan failed: {state['error']}",
                    version + 1,
                    None,
                    True,
                    keep,
                    keep,
                    keep,
                )
            plan_id = (state["result"] or {}).get("plan_id")
            return f"Plan {plan_id} proposed.", version + 1, None, True, keep, keep, keep
        approve = trigger == "plan-confirm-approve"
        shown = [int(a) for a in seen or [] if isinstance(a, int)]  # from the browser
        done, message = cb.decide(
            context, plan_id, principal, scopes, approve, reason or "", shown if approve else None
        )
        return message, version + 1 if done else keep, keep, True, HIDDEN, None, None
