"""The Alarms page's callbacks as plain functions: the tables, acknowledging, shelving and
unshelving an alarm, and readmitting an excluded sensor.

The actions go through :mod:`twin.live.control.alarm_actions` and
:mod:`twin.live.control.sensors`, the implementations the API's routes use too, with the
session's principal as the audit log's actor; they need the ``approve`` scope (the buttons are
disabled without it, and the action refuses it again).
"""

from __future__ import annotations

from typing import Any

from dash import dcc, html

from twin.live.control import alarm_actions, sensors
from twin.store.errors import Conflict, NotFound
from ui import views_alarms
from ui.callbacks import UIContext, may_approve

__all__ = [
    "ACTIONS",
    "alarm_action",
    "alarm_options",
    "alarms_page",
    "may_act",
    "readmit_options",
    "readmit_sensor",
]

ACTIONS = ("acknowledge", "shelve", "unshelve")
"""What an operator may do to an alarm on the page."""


def may_act(principal: str | None, scopes: frozenset[str]) -> bool:
    """True when the session may acknowledge and shelve: the Plan page's rule
    (:func:`ui.callbacks.may_approve`: the ``approve`` scope; ``admin`` implies it)."""
    return may_approve(principal, scopes)


def alarm_options(ctx: UIContext) -> list[dict[str, Any]]:
    """The alarms an operator can act on (not cleared), as dropdown options: label and id."""
    rows = views_alarms.alarm_rows(ctx.twin, ctx.timezone, cleared=False)
    return [
        {
            "label": f"#{r['id']} {r['severity']} {r['kind']} on {r['source']} ({r['state']})",
            "value": r["id"],
        }
        for r in rows
        if r["state"] != "cleared"
    ]


def readmit_options(ctx: UIContext) -> list[dict[str, Any]]:
    """The sensors the screening keeps out now (stuck or drift), as dropdown options."""
    return [
        {"label": f"{f['point']} ({f['kind']} since {f['since'][:16]} UTC)", "value": f["point"]}
        for f in sensors.excluded_sensors(ctx.twin)
        if f["excluded"]
    ]


def readmit_sensor(
    ctx: UIContext,
    point: str | None,
    reason: str | None,
    principal: str | None,
    scopes: frozenset[str],
) -> tuple[bool, str]:
    """Readmit the excluded sensor ``point`` as ``principal`` with ``reason``
    (:func:`twin.live.control.sensors.readmit`).

    Returns (done, message for the operator).  Refused without the ``approve`` scope, without a
    sensor or a reason, for a point not excluded (any more); audited under ``principal`` when
    done.
    """
    if not may_act(principal, scopes) or principal is None:
        return False, "Readmitting a sensor needs a session with the 'approve' scope."
    if not point:
        return False, "Choose an excluded sensor first."
    if not (reason or "").strip():
        return False, "Say why (e.g. sensor replaced, recalibrated): the reason is audited."
    try:
        done = sensors.readmit(ctx.twin, point, principal, str(reason))
    except (NotFound, Conflict) as exc:
        return False, str(exc)
    cleared = len(done["alarms_cleared"])
    return True, (
        f"{point} readmitted by {principal} ({cleared} alarm(s) cleared); the screening "
        "judges it afresh from its next reading."
    )


def _alarm_number(alarm_id: Any) -> int | None:
    """``alarm_id`` as an alarm id (a whole number from 1 to 2**62), or None: a crafted
    callback may send any JSON value (1e30, a list, "inf")."""
    try:
        number = int(alarm_id)
    except (TypeError, ValueError, OverflowError):
        return None
    whole = number == alarm_id or str(number) == str(alarm_id)
    return number if whole and 1 <= number <= 2**62 else None


def alarm_action(
    ctx: UIContext,
    action: str,
    alarm_id: int | None,
    hours: float | None,
    principal: str | None,
    scopes: frozenset[str],
) -> tuple[bool, str]:
    """Acknowledge, shelve (for ``hours`` [h]) or unshelve ``alarm_id`` as ``principal``.

    Returns (done, message for the operator).  Refused without the ``approve`` scope, without
    an alarm, for an unknown alarm or an unknown action; audited under ``principal`` (e.g.
    ``user:alice``) when done.
    """
    if not may_act(principal, scopes) or principal is None:
        return False, "Acknowledging and shelving need a session with the 'approve' scope."
    if alarm_id is None:
        return False, "Choose an alarm first."
    number = _alarm_number(alarm_id)
    if number is None:
        return False, f"Unknown alarm {alarm_id}."
    try:
        if action == "acknowledge":
            done = alarm_actions.acknowledge(ctx.twin, number, principal, "in the UI")
            said = f"acknowledged by {done['acknowledged_by']}"
        elif action == "shelve":
            length = float(hours or 1.0)
            alarm_actions.shelve(ctx.twin, number, principal, length, "in the UI")
            said = f"shelved for {length:g} h by {principal}"
        elif action == "unshelve":
            alarm_actions.unshelve(ctx.twin, number, principal, "in the UI")
            said = f"unshelved by {principal}"
        else:
            return False, f"Unknown action {action!r}."
    except NotFound:
        return False, f"Unknown alarm {alarm_id}."
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. hours that are no number
        return False, str(exc)
    return True, f"Alarm {alarm_id} {said}."


def alarms_page(ctx: UIContext) -> tuple[Any, Any, Any]:
    """The Alarms page: the summary line, the alarm table (raised, acknowledged, shelved,
    cleared; site time; a link to each point's trend) and the screening counts per point
    (the sensor column says FAULTY exactly when the Floor marks it)."""
    rows = views_alarms.alarm_rows(ctx.twin, ctx.timezone)
    live = [r for r in rows if r["state"] in ("active", "acknowledged")]
    critical = sum(r["severity"] == "critical" for r in live)
    summary = html.Div(
        f"{len(live)} active alarms ({critical} critical), "
        f"{sum(r['state'] == 'shelved' for r in rows)} shelved; times in {ctx.timezone.key}",
        id="alarms-summary",
        className="warn" if critical else "",
    )
    heads = ("id", "state", "severity", "alarm", "source", "message", "raised", "cleared")
    table = html.Table(
        [html.Tr([html.Th(h) for h in (*heads, "ack'd by", "shelved until")])]
        + [
            html.Tr(
                [
                    html.Td(str(r["id"])),
                    html.Td(r["state"]),
                    html.Td(r["severity"]),
                    html.Td(r["kind"]),
                    html.Td(dcc.Link(r["source"], href=r["trend"]) if r["trend"] else r["source"]),
                    html.Td(r["message"]),
                    html.Td(r["raised"]),
                    html.Td(r["cleared"] or ""),
                    html.Td(r["acknowledged_by"] or ""),
                    html.Td((r["shelved_until"] or "") if r["state"] == "shelved" else ""),
                ],
                className="warn" if r["state"] == "active" and r["severity"] == "critical" else "",
            )
            for r in rows
        ]
        if rows
        else [html.Tr(html.Td("no alarms"))],
        id="alarms-table",
    )
    return summary, table, _screening_table(ctx)


def _screening_table(ctx: UIContext) -> html.Table:
    screened = views_alarms.screening_rows(ctx.twin)
    counts = ("rejected", "spike", "faulty", "late")
    return html.Table(
        [html.Tr([html.Th(h) for h in ("point", *counts, "sensor")])]
        + [
            html.Tr(
                [
                    html.Td(dcc.Link(r["point"], href=r["trend"]) if r["trend"] else r["point"]),
                    *(html.Td(str(r[c])) for c in counts),
                    html.Td(f"FAULTY ({r['fault']})" if r["fault"] else "FAULTY")
                    if r["faulty_now"]
                    else html.Td("ok"),
                ],
                className="warn" if r["faulty_now"] else "",
            )
            for r in screened
        ]
        if screened
        else [html.Tr(html.Td("no reading rejected or excluded"))],
        id="alarms-screening",
    )
