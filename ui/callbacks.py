"""The callbacks' bodies as plain functions of a :class:`UIContext` and the inputs.

Each one reads through a :mod:`ui.views` function (or the twin's own methods) and builds
components or figures with :mod:`ui.figures`; :mod:`ui.app` only wires them to Dash.  They
are unit-tested by calling them directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import plotly.graph_objects as go
from dash import dcc, html

from optimizer.curve_range import describe
from optimizer.result import CO_PLAN, RULE_BASED, describe_source
from twin.api.security import TokenRegistry
from twin.fleet.live import FleetTwin
from twin.live.control.approval import describe as describe_alarms
from twin.live.live_twin import LiveTwin
from twin.scenario.loader import ScenarioError
from ui import (
    figures,
    figures_live,
    figures_trends,
    units,
    views,
    views_alarms,
    views_live,
    views_overview,
    views_plan,
    views_whatif,
)
from ui.jobs import JobQueueFull, JobRunner

SITE_COOKIE = "dctwin_site"
"""Cookie naming the fleet site the pages show (set by ``/site/<name>``, :mod:`ui.app`)."""


def selected_site() -> str | None:
    """The site named by the request's :data:`SITE_COOKIE` (None outside a request)."""
    import flask

    if not flask.has_request_context():
        return None
    return flask.request.cookies.get(SITE_COOKIE) or None


@dataclass
class UIContext:
    """What the callbacks need: the twin, the token registry, the background job runner and
    the read models' cache for the twin.

    Serving a fleet (``dctwin serve fleet.yaml``), ``fleet`` is set and :attr:`twin` is the
    site the request's ``dctwin_site`` cookie selects (:data:`SITE_COOKIE`; the first site
    without one): every single-site page then shows that site.
    """

    home: LiveTwin
    """The twin served (of a fleet: its first site)."""
    tokens: TokenRegistry
    jobs: JobRunner = field(default_factory=JobRunner)
    fleet: FleetTwin | None = None
    caches: dict[str, views.ViewCache] = field(default_factory=dict)
    """The read models' cache of each site (one for a single site)."""

    @property
    def site(self) -> str | None:
        """The fleet site the request selects (None serving a single site)."""
        if self.fleet is None:
            return None
        chosen = selected_site()
        return chosen if chosen in self.fleet.sites else next(iter(self.fleet.sites))

    @property
    def twin(self) -> LiveTwin:
        """The twin the pages show: the one served, or the selected site of a fleet."""
        site = self.site
        return self.home if site is None or self.fleet is None else self.fleet.twins[site]

    @property
    def view_cache(self) -> views.ViewCache:
        """The read models' cache of :attr:`twin`."""
        return self.caches.setdefault(self.site or "", views.ViewCache())

    @property
    def timezone(self) -> ZoneInfo:
        """Display timezone (the site's)."""
        return views.site_timezone(self.twin)


def _fmt(value: float | None, digits: int = 1, unit: str = "") -> str:
    """A number with its unit (CF or plain), powers and energies in kW/MW, kWh/MWh by size."""
    if value is None:
        return "–"
    if unit == "kW":
        return units.format_power(value, max(digits, 3))
    if unit == "kWh":
        return units.format_energy(value, max(digits, 3))
    text = f"{value:,.{digits}f}"
    return f"{text} {units.unit_text(unit)}".rstrip()


KPI_CARDS: tuple[tuple[str, str, int, str], ...] = (
    ("it_power_kw", "IT power", 0, "kW"),
    ("facility_power_kw", "Facility power", 0, "kW"),
    ("pue", "PUE", 3, ""),
    ("grid_import_kw", "Grid import", 0, "kW"),
    ("carbon_g_per_kwh", "Carbon intensity now", 0, "g/kWh"),
    ("cost_today", "Cost so far today", 2, ""),
    ("battery_soc", "Battery SOC", 1, "%"),
    ("active_alarms", "Active alarms", 0, ""),
)


def overview(ctx: UIContext) -> tuple[list[Any], dict[str, Any], str]:
    """KPI cards, the power-flow Sankey and the status line of the Overview page."""
    data = views_overview.kpis(ctx.twin)
    cards = []
    for key, title, digits, unit in KPI_CARDS:
        value = data.get(key)
        if key == "battery_soc" and value is not None:
            value = 100.0 * value
        if key == "cost_today":
            unit = data["currency"]
        card: html.Div | dcc.Link = html.Div(
            [html.Div(title, className="kpi-title"), html.Div(_fmt(value, digits, unit))],
            className="kpi" + (" kpi-alarm" if key == "active_alarms" and value else ""),
            id=f"kpi-{key}",
        )
        if key == "active_alarms":  # the count opens the Alarms page
            card = dcc.Link(card, href="/alarms", id="kpi-alarms-link", className="kpi-link")
        cards.append(card)
    local = figures.local_times([data["time"]], ctx.timezone)[0]
    status = f"{ctx.twin.facility.name} at {local} ({ctx.timezone.key})"
    if data["stale"]:
        status += " — telemetry is STALE"
    flow = views_overview.power_flow(ctx.twin, cache=ctx.view_cache)
    return cards, figures.sankey(flow), status


def overview_trends(ctx: UIContext) -> list[dict[str, Any]]:
    """The Overview's trends since local midnight, at least the last 6 h: grid import with
    the contract capacity, the hottest rack inlet with its limit, the cost so far today (plain
    dict figures; each point links to its Live trend)."""
    return figures_trends.overview_trends(views_overview.trends(ctx.twin), ctx.timezone)


def floor(
    ctx: UIContext, quantity: str, click: dict[str, Any] | None
) -> tuple[dict[str, Any], Any, str | None]:
    """Floor map of ``quantity`` (a plain Plotly JSON dict) and the clicked rack's detail (or
    a hint)."""
    detail, rack = rack_click(ctx, click)
    return floor_map(ctx, quantity, rack), detail, rack


def floor_map(ctx: UIContext, quantity: str | None, selected: str | None) -> dict[str, Any]:
    """The Floor's map of ``quantity`` with rack ``selected`` outlined (if any): a plain
    Plotly JSON dict (:func:`ui.figures.floor_map`)."""
    grid = views.floor_grid(ctx.twin, quantity or "inlet_temperature")
    alarmed = views_alarms.alarmed_racks(ctx.twin)
    return figures.floor_map(grid, selected, alarmed)


def rack_click(ctx: UIContext, click: dict[str, Any] | None) -> tuple[Any, str | None]:
    """The clicked rack's detail figure (a plain Plotly JSON dict) and id (a hint and None
    off the racks); the map is not redrawn (the browser outlines the rack:
    :data:`ui.pages.floor.HIGHLIGHT_SCRIPT`)."""
    rack = None
    if click and click.get("points"):
        point = click["points"][0]
        rack = point.get("customdata") or point.get("text")
    if rack and rack in ctx.twin.facility.racks.ids:
        history = views.rack_history(ctx.twin, rack, cache=ctx.view_cache)
        return figures.rack_detail(history, ctx.timezone), rack
    return figures.empty("click a rack on the map to see its detail"), None


def _plan_options(ctx: UIContext) -> list[dict[str, str]]:
    """The plan picker's entries: id, status and when proposed in the display timezone, with
    its abbreviation (CST, UTC …: the API's times are UTC)."""
    listed = views_plan.plans(ctx.twin)
    created = pd.to_datetime([p["created"] for p in listed], utc=True, format="ISO8601")
    local = pd.DatetimeIndex(created).tz_convert(ctx.timezone)
    return [
        {
            "label": f"{p['id']} — {p['status']} — proposed {when.strftime('%Y-%m-%d %H:%M %Z')}",
            "value": p["id"],
        }
        for p, when in zip(listed, local, strict=True)
    ]


def plan_page(ctx: UIContext, plan_id: str | None) -> dict[str, Any]:
    """Everything on the Plan page for ``plan_id`` (default: the newest plan)."""
    view = views_plan.plan_view(ctx.twin, plan_id, cache=ctx.view_cache)
    options = _plan_options(ctx)
    if view is None:
        blank = figures.empty("no plan yet: propose one (approve scope) or wait for the re-plan")
        return {
            "options": options,
            "value": None,
            "status": html.Div("No plan yet.", id="plan-status-text"),
            "figures": [blank] * 5,
            "prices": html.Div(),
        }
    tz = ctx.timezone
    verified = "verified by the physics" if view["verified"] else "NOT verified"
    figures_ = view["figures"]
    lines = [
        html.Div(
            f"Plan {view['id']}: {view['status']} — "
            f"{'co-plan ' if view.get('plan_source') == RULE_BASED else ''}"
            f"solver status {view['plan_status']}, {verified}",
            id="plan-status-text",
            className="ok" if view["verified"] else "warn",
        ),
        html.Div(
            "cost "
            + _fmt(figures_.get("cost"), 2, str(view.get("currency", "USD")))
            + ", carbon "
            + _fmt(figures_.get("carbon_kg"), 0, "kg")
            + ", peak "
            + _fmt(figures_.get("peak_grid_kw"), 0, "kW")
            + ", cooling "
            + _fmt(figures_.get("cooling_energy_kwh"), 0, "kWh")
        ),
    ]
    source = view.get("plan_source")
    # which schedule this is: the co-plan, or the rule-based one where the co-plan verified
    # dearer (optimizer.result)
    lines += [
        html.Div(sentence, id="plan-source", className="ok" if source == CO_PLAN else "warn")
        for sentence in describe_source(view)
    ]
    check = view.get("twin_check")
    if check:  # verified on the calibrated twin, inlet offsets in
        chance = check.get("exceedance_probability")
        risk = (
            ""
            if chance is None
            else f"; against the rack's inlet uncertainty now (σ {check['inlet_std_k']:.2f} K) "
            f"a {chance:.0%} chance of exceeding the limit there"
        )
        lines.append(
            html.Div(
                "on the calibrated twin (inlet offsets in): max inlet "
                + _fmt(check.get("max_inlet_temperature_c"), 2, "°C")
                + f" ({check.get('hottest_rack', '')}), smallest margin "
                + _fmt(check.get("min_inlet_margin_k"), 2, "K")
                + risk,
                id="plan-twin-check",
                className="ok" if check.get("verified") and (chance or 0.0) <= 0.05 else "warn",
            )
        )
    curve = describe(view.get("curve_range") or {}, str(view.get("currency", "USD")))
    if curve:  # the chiller curves' fitted range; savings there are extrapolated
        outside = any("outside" in sentence for sentence in curve)
        lines.append(
            html.Div(
                [html.Div(sentence) for sentence in curve],
                id="plan-curve-range",
                className="warn" if outside else "ok",
            )
        )
    if view.get("decided_by"):
        lines.append(html.Div(f"decided by {view['decided_by']}: {view.get('reason') or ''}"))
    for violation in view["violations"]:
        lines.append(html.Div(violation, className="warn"))
    explanation = view.get("explanation")
    if explanation:
        for item in explanation if isinstance(explanation, list) else [explanation]:
            lines.append(html.Div(str(item), className="warn"))
    prices = view["shadow_prices"] or {}
    price_table = html.Table(
        [html.Tr([html.Th("Shadow price"), html.Th("value")])]
        + [html.Tr([html.Td(k), html.Td(_fmt(_num(v), 3))]) for k, v in prices.items()]
        if prices
        else [html.Tr(html.Td("no shadow prices with this plan (live re-plans skip them)"))]
    )
    return {
        "options": options,
        "value": view["id"],
        "status": html.Div(lines),
        "figures": [
            figures.plan_signals(view, tz),
            figures.plan_grid(view, tz),
            figures.plan_soc(view, tz),
            figures.plan_setpoints(view, tz),
            figures.plan_gantt(view, tz),
        ],
        "prices": price_table,
    }


def _num(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict) and isinstance(value.get("value"), int | float):
        return float(value["value"])
    return None


def decide(
    ctx: UIContext,
    plan_id: str | None,
    principal: str | None,
    scopes: frozenset[str],
    approve: bool,
    reason: str = "",
    seen: list[int] | None = None,
) -> tuple[bool, str]:
    """Approve or reject ``plan_id`` as the signed-in ``principal``; returns (done, message).

    The session needs the ``approve`` scope (``admin`` implies it); the audit log names the
    session's principal (``user:<name>`` or ``token:<fingerprint>``).  ``seen``: the ids of
    the critical alarms the confirmation step showed; one raised since is not overridden.
    """
    action = "approve" if approve else "reject"
    refused = _approver(principal, scopes, action)
    if refused is not None or principal is None:
        return False, refused or ""
    if not plan_id:
        return False, "No plan selected."
    why = reason or f"{action}d in the UI"
    try:
        if approve:
            # critical alarms on what the plan moves (shown by the confirmation step): the
            # approver overrides them only with a reason typed in (tryout3 finding 6)
            alarms = [a for a in ctx.twin.plan_alarms(plan_id) if not a["shelved"]]
            if alarms and not reason.strip():
                return False, (
                    f"Plan {plan_id} was not approved: {describe_alarms(alarms)}. To approve it "
                    "anyway, type the reason for overriding the critical alarm(s)."
                )
            force = bool(alarms)
            record = ctx.twin.approve(
                plan_id, actor=principal, reason=why, force=force, seen_alarms=seen
            )
        else:
            record = ctx.twin.reject(plan_id, actor=principal, reason=why)
    except KeyError:
        return False, f"Unknown plan {plan_id}."
    except ValueError as exc:
        return False, f"Cannot {action} plan {plan_id}: {exc}"
    return True, f"Plan {plan_id} {record['status']} by {principal}."


def may_approve(principal: str | None, scopes: frozenset[str]) -> bool:
    """True when the session may propose, approve and reject plans (``approve`` scope;
    ``admin`` implies it)."""
    return principal is not None and bool({"approve", "admin"} & scopes)


def _approver(principal: str | None, scopes: frozenset[str], action: str) -> str | None:
    """Why the session may not ``action`` a plan (None: it may)."""
    if principal is None:
        return f"Sign in with the 'approve' scope to {action} a plan."
    if not may_approve(principal, scopes):
        held = ", ".join(sorted(scopes)) or "none"
        return f"This session lacks the 'approve' scope (it has: {held}); nothing was done."
    return None


def approval_preview(
    ctx: UIContext, plan_id: str | None, principal: str | None, scopes: frozenset[str]
) -> tuple[bool, Any, list[int]]:
    """The confirmation step before an approval: (True, what the plan changes now and over
    its horizon against current operation, the ids of the critical alarms it shows) or
    (False, why it cannot be approved, [])."""
    refused = _approver(principal, scopes, "approve")
    if refused is not None:
        return False, refused, []
    if not plan_id:
        return False, "No plan selected.", []
    record = ctx.twin.store.get_plan(plan_id)
    if record is None:
        return False, f"Unknown plan {plan_id}.", []
    if record["status"] != "proposed":
        return False, f"Cannot approve plan {plan_id}: it is {record['status']}.", []
    try:
        preview = ctx.twin.plan_preview(plan_id)
    except (KeyError, ValueError) as exc:
        return False, f"No preview for plan {plan_id}: {exc}", []
    shown = [int(a["id"]) for a in preview.get("critical_alarms", []) if not a["shelved"]]
    start, end = figures.local_times([preview["start"], preview["end"]], ctx.timezone)
    rows = [
        html.Tr(
            [
                html.Td(job["job"]),
                html.Td(job["action_now"]),
                html.Td(_fmt(job["now_kw"]["in_force"], 0, "kW")),
                html.Td(_fmt(job["now_kw"]["plan"], 0, "kW")),
                html.Td(_fmt(job["now_kw"]["change"], 0, "kW")),
            ],
            className="warn" if job["action_now"] in ("pause", "throttle") else "",
        )
        for job in preview["jobs"]
    ]
    table = html.Table(
        [html.Tr([html.Th(h) for h in ("job", "now", "in force", "plan", "change")]), *rows],
        id="plan-preview-jobs",
    )
    changes = preview["changes"] or ["nothing changes against current operation"]
    return (
        True,
        html.Div(
            [
                html.Div(f"Plan {plan_id} from {start} to {end} ({ctx.timezone.key}):"),
                html.Ul([html.Li(line) for line in changes], id="plan-preview-changes"),
                table,
            ]
        ),
        shown,
    )


def propose(
    ctx: UIContext, principal: str | None, scopes: frozenset[str]
) -> tuple[str | None, str]:
    """Start a re-plan in the background as the signed-in ``principal`` (``approve`` scope);
    returns (job id, message)."""
    refused = _approver(principal, scopes, "propose")
    if refused is not None or principal is None:
        return None, refused or ""
    actor, twin = principal, ctx.twin  # the site of the request, not of the worker thread

    def work(progress: Any) -> dict[str, Any]:
        progress(0.1, "planning from the estimated state")
        record = twin.replan(actor=actor, reason="requested in the UI")
        return {"plan_id": record["id"]}

    try:
        return ctx.jobs.submit("re-plan", work, owner=actor), "Re-planning in the background ..."
    except JobQueueFull as exc:
        return None, f"Not started: {exc}."


def one_per_problem(problems: list[str]) -> list[str]:
    """Problems that differ only in a list index (the same bound on four cooling units) said
    once, with the index replaced by ``[*]``."""
    import re

    seen: dict[str, None] = {}
    for problem in problems:
        seen.setdefault(re.sub(r"\[\d+\]", "[*]", problem), None)
    return list(seen)


def whatif_edits(values: dict[str, Any]) -> dict[str, Any]:
    """Form values → :func:`ui.views_whatif.modified_scenario` edits (empty fields dropped)."""
    fields = views_whatif.WHATIF_FIELDS
    return {k: v for k, v in values.items() if k in fields and v not in (None, "")}


def whatif_start(
    ctx: UIContext, values: dict[str, Any], horizon: float | None, owner: str | None = None
) -> tuple[str | None, str]:
    """Validate the edits and start the what-if solve in the background as ``owner`` (the
    session's principal: one job of theirs at a time, :class:`ui.jobs.JobRunner`).

    Returns (job id or None, message): a bad edit or an invalid modified scenario is
    reported at once, one line per problem.
    """
    try:
        data = views_whatif.modified_scenario(ctx.twin, whatif_edits(values))
    except (ValueError, TypeError, OverflowError) as exc:  # a crafted callback sends anything
        return None, f"Cannot apply the change: {exc}"
    try:
        hours = float(horizon or 24.0)
    except (ValueError, TypeError):
        hours = float("nan")
    if not 1.0 <= hours <= 168.0:
        return None, "The horizon must be between 1 and 168 h."
    try:
        ctx.twin.live_scenario(data)
    except ScenarioError as exc:
        return None, "The modified scenario is invalid: " + "; ".join(one_per_problem(exc.problems))

    twin = ctx.twin  # the site of the request, not of the worker thread

    def work(progress: Any) -> dict[str, Any]:
        result = views_whatif.whatif_run(twin, data, hours, progress)
        result["scenario_yaml"] = views_whatif.portable_scenario(twin, data)
        return result

    try:
        return ctx.jobs.submit("what-if", work, owner=owner), "Solving in the background ..."
    except JobQueueFull as exc:
        return None, f"Not started: {exc}."


def job_progress(ctx: UIContext, job_id: str | None) -> dict[str, Any]:
    """The job's state for the progress bar: ``state``, ``fraction`` [-], ``message``."""
    if not job_id:
        return {"state": "none", "fraction": 0.0, "message": "", "result": None, "error": None}
    try:
        return ctx.jobs.status(job_id)
    except KeyError:
        return {
            "state": "failed",
            "fraction": 0.0,
            "message": "",
            "result": None,
            "error": f"job {job_id} is not known any more",
        }


def whatif_result(ctx: UIContext, result: dict[str, Any]) -> tuple[html.Table, go.Figure]:
    """Side-by-side table (current vs modified, difference) and the grid-import chart."""
    current, modified, difference = result["current"], result["modified"], result["difference"]
    rows = [
        ("status", "status", None),
        ("verified", "verified", None),
        ("plan_source", "plan returned", None),  # co_plan, or rule_based where cheaper
        ("cost", "cost [currency]", 2),
        ("carbon_kg", "carbon [kg]", 0),
        ("peak_grid_kw", "peak grid import [kW]", 0),
        ("cooling_energy_kwh", "cooling energy [kWh]", 0),
    ]
    table = [html.Tr([html.Th(""), html.Th("current"), html.Th("modified"), html.Th("difference")])]
    for key, title, digits in rows:
        if digits is None:
            cells = [str(current.get(key)), str(modified.get(key)), ""]
        else:
            cells = [
                _fmt(current.get(key), digits),
                _fmt(modified.get(key), digits),
                _fmt(difference.get(key), digits),
            ]
        table.append(html.Tr([html.Td(title), *[html.Td(c) for c in cells]]))
    for side in ("current", "modified"):
        for line in result[side].get("explanation") or []:
            table.append(html.Tr([html.Td(side), html.Td(str(line), colSpan=3)]))
    return html.Table(table, id="whatif-table"), figures.whatif_compare(result, ctx.timezone)


def live(ctx: UIContext, points: list[str] | None, hours: float | None) -> dict[str, Any]:
    """Residual figure (with the estimate's ±2σ band and the limits of rack inlets),
    parameter history (the same time window), calibration table and faults of the Live page.

    The figures are plain dicts (:mod:`ui.figures_live`); they keep the user's zoom across
    refreshes until the points or the range change."""
    look_back = float(hours or 6.0)
    data = views_live.residuals(ctx.twin, points or None, look_back, cache=ctx.view_cache)
    tz = ctx.timezone
    revision = f"{look_back:g}|{'|'.join(data['series'])}"
    calibration = data["calibration"]
    table = html.Table(
        [html.Tr([html.Th(h) for h in ("parameter", "value", "std", "unit", "samples", "status")])]
        + [
            html.Tr(
                [
                    html.Td(name),
                    html.Td(_fmt(item.get("value"), 3)),
                    html.Td(_fmt(item.get("std"), 3)),
                    html.Td(item.get("unit", "")),
                    html.Td(str(item.get("samples", ""))),
                    html.Td(
                        "converged"
                        if item.get("converged")
                        else ("learning" if item.get("estimated") else "prior")
                    ),
                ]
            )
            for name, item in list(calibration.items())[:40]
        ]
    )
    faults = data["faults"]
    alarms = data["alarms"]
    fault_list = html.Ul(
        [html.Li(f"{f['point']}: {f['kind']} — {f['reason']}") for f in faults]
        + [html.Li(f"alarm {a['kind']} on {a['source']}: {a['message']}") for a in alarms]
        or [html.Li("no active sensor faults or alarms")]
    )
    rmse = ", ".join(
        f"{p}: {_fmt(v, 3, data['series'][p]['units'])}" for p, v in data["rmse"].items()
    )
    return {
        "residuals": figures_live.residuals(data, tz, revision),
        "history": figures_live.parameter_history(data, tz, revision=revision),
        "calibration": table,
        "faults": fault_list,
        "rmse": f"RMS residual — {rmse}" + _not_compared(data["not_compared"], tz),
    }


def _not_compared(intervals: list[dict[str, str]], tz: ZoneInfo) -> str:
    """The Live page's note on readings left out of the comparison (a plan applied inside a
    model step: the model gives the whole step the plan's schedule)."""
    if not intervals:
        return ""
    spans = []
    for item in intervals:
        start, end = figures.local_times([item["start"], item["end"]], tz)
        spans.append(f"{start[11:16]}–{end[11:19]}")
    return (
        f"; readings {', '.join(spans)} ({tz.key}) not compared: a plan was applied inside "
        "that model step, which the model runs wholly on the plan"
    )


__all__ = [
    "KPI_CARDS",
    "UIContext",
    "decide",
    "floor",
    "job_progress",
    "live",
    "overview",
    "overview_trends",
    "plan_page",
    "propose",
    "whatif_edits",
    "whatif_result",
    "whatif_start",
]
