"""The Fleet page's read models and actions (``dctwin serve fleet.yaml``): the map of sites
(power, carbon intensity and alarms now), work moved between sites by the fleet plan in force,
per-site KPIs, and the fleet re-plan, approval and rejection.

The map is a Plotly ``scattergeo``; its world outline (``ui/assets/topojson/world_110m.json``)
is served by the UI itself (:data:`TOPOJSON_PATH`), never fetched from a CDN.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from dash import html

from twin.fleet.live import FleetTwin
from twin.live.control.approval import describe
from ui import units

TOPOJSON_PATH = "topojson/"
"""Folder of the map outlines under the UI's ``assets/`` (Plotly's ``topojsonURL``)."""

CARBON_SCALE = "RdYlGn_r"
"""Colour scale of carbon intensity: green clean, red dirty."""


def fleet_summary(fleet: FleetTwin) -> dict[str, Any]:
    """The fleet now (:meth:`twin.fleet.live.FleetTwin.summary`): per site power [kW],
    carbon intensity [g CO2e/kWh], alarms [count], where [degrees]; the plan in force."""
    return fleet.summary()


def _marker_size(power_kw: float | None, largest: float) -> float:
    """Marker diameter [px]: area proportional to power, 10 to 40 px."""
    if not power_kw or largest <= 0:
        return 10.0
    return 10.0 + 30.0 * (power_kw / largest) ** 0.5


def _hover(site: dict[str, Any]) -> str:
    carbon = site["carbon_g_per_kwh"]
    return (
        f"<b>{site['site']}</b> ({site['metro'] or '–'}, zone {site['grid_zone'] or '–'})<br>"
        f"power {units.format_power(site['power_kw'] or 0.0, 3)}<br>"
        f"carbon intensity {'–' if carbon is None else f'{carbon:,.0f}'} g CO2e/kWh<br>"
        f"active alarms {site['alarms']}"
    )


def fleet_map(summary: dict[str, Any]) -> go.Figure:
    """The map of sites: marker area ∝ power now, colour = carbon intensity now
    [g CO2e/kWh], a red ring around a site with active alarms; lines for work the fleet plan
    in force moves between sites (width ∝ kWh moved)."""
    sites = [s for s in summary["sites"] if s["latitude"] is not None]
    where = {s["site"]: (s["latitude"], s["longitude"]) for s in sites}
    largest = max((s["power_kw"] or 0.0 for s in sites), default=0.0)
    figure = go.Figure()
    plan = summary.get("plan") or {}
    flows = plan.get("flows") or []
    most = max((f["kwh"] for f in flows), default=0.0)
    for flow in flows:
        if flow["from"] not in where or flow["to"] not in where:
            continue
        (lat0, lon0), (lat1, lon1) = where[flow["from"]], where[flow["to"]]
        figure.add_trace(
            go.Scattergeo(
                lat=[lat0, lat1],
                lon=[lon0, lon1],
                mode="lines",
                line={"width": 1.5 + 6.0 * flow["kwh"] / max(most, 1e-9), "color": "#3b6fb6"},
                hoverinfo="text",
                text=f"{flow['job']}: {units.format_energy(flow['kwh'], 3)} "
                f"{flow['from']} → {flow['to']}",
                name=f"{flow['job']} → {flow['to']}",
                showlegend=False,
            )
        )
    figure.add_trace(
        go.Scattergeo(
            lat=[s["latitude"] for s in sites],
            lon=[s["longitude"] for s in sites],
            mode="markers+text",
            text=[s["site"] for s in sites],
            # alternate above and below, so neighbouring sites' names do not overlap
            textposition=[("top", "bottom")[i % 2] + " center" for i in range(len(sites))],
            hovertext=[_hover(s) for s in sites],
            hoverinfo="text",
            customdata=[s["site"] for s in sites],
            marker={
                "size": [_marker_size(s["power_kw"], largest) for s in sites],
                "color": [s["carbon_g_per_kwh"] or 0.0 for s in sites],
                "colorscale": CARBON_SCALE,
                "colorbar": {"title": {"text": "g CO2e/kWh"}},
                "line": {
                    "width": [3 if s["alarms"] else 1 for s in sites],
                    "color": ["#c0392b" if s["alarms"] else "#333" for s in sites],
                },
            },
            name="sites",
            showlegend=False,
        )
    )
    figure.update_geos(
        projection_type="natural earth",
        showcountries=True,
        showland=True,
        landcolor="#eef0f2",
        fitbounds="locations",
        resolution=110,
    )
    figure.update_layout(
        height=420, margin={"l": 0, "r": 0, "t": 10, "b": 0}, uirevision="fleet-map"
    )
    return figure


SITE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("site", "site"),
    ("metro", "metro"),
    ("grid_zone", "grid zone"),
    ("power_kw", "power"),
    ("it_power_kw", "IT power"),
    ("pue", "PUE"),
    ("carbon_g_per_kwh", "carbon g CO2e/kWh"),
    ("price_per_mwh", "price /MWh"),
    ("alarms", "alarms"),
)
"""Columns of the per-site table: key and heading (units in the heading or the cell)."""


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "–"
    if key in ("power_kw", "it_power_kw"):
        return units.format_power(float(value), 3)
    if key == "pue":
        return f"{value:.3f}"
    if key in ("carbon_g_per_kwh", "price_per_mwh"):
        return f"{value:,.1f}"
    return str(value)


def site_table(summary: dict[str, Any], selected: str | None) -> html.Table:
    """Per-site KPIs now, each row with a link opening that site's pages (``/site/<name>``
    sets the site cookie, then shows its Overview)."""
    head = html.Tr([html.Th(title) for _, title in SITE_COLUMNS] + [html.Th("")])
    rows = []
    for site in summary["sites"]:
        cells = [html.Td(_cell(key, site.get(key))) for key, _ in SITE_COLUMNS]
        shown = site["site"] == selected
        link = html.A(
            "shown" if shown else "open",
            href=f"/site/{site['site']}",
            id=f"fleet-open-{site['site']}",
        )
        rows.append(
            html.Tr([*cells, html.Td(link)], className="kpi-alarm" if site["alarms"] else "")
        )
    return html.Table([head, *rows], id="fleet-sites")


def plan_panel(summary: dict[str, Any]) -> html.Div:
    """The fleet plan in force (approved, else the newest proposal): status, figures against
    ``sites_alone``, work moved between sites [kWh] and transfers per link [GB]."""
    plan = summary.get("plan")
    running = summary.get("replanning")
    lines: list[Any] = []
    if running:
        lines.append(html.P(f"A fleet re-plan is running (started {running['started']})."))
    if plan is None:
        lines.append(html.P("No fleet plan yet: re-plan the fleet to propose one."))
        return html.Div(lines, id="fleet-plan")
    figures = plan["plan"]
    currency = figures.get("currency") or ""
    cost, carbon = figures.get("cost"), figures.get("carbon_kg")
    text = f"Fleet plan {plan['id']}: {plan['status']} (co-plan {figures.get('status')}"
    if cost is not None and carbon is not None:
        text += f"; cost {cost:,.0f} {currency}, {carbon / 1e3:,.1f} t CO2e"
    lines.append(html.P(text + ")", id="fleet-plan-status"))
    lines += proposal_alarms(summary.get("proposal"))
    saved = plan.get("savings_vs_sites_alone") or {}
    alone = plan.get("sites_alone") or {}
    if saved.get("not_reported"):
        lines.append(
            html.P(f"Against each site planned alone: not compared ({saved['not_reported']}).")
        )
    elif alone.get("cost") is not None and alone.get("carbon_kg") is not None:
        # savings are fractions of the baseline's figures (positive: lower)
        cost_saved = _change(
            "cost", (saved.get("cost") or 0.0) * alone["cost"], currency, 0, saved.get("cost")
        )
        carbon_saved = _change(
            "emissions",
            (saved.get("carbon_kg") or 0.0) * alone["carbon_kg"] / 1e3,
            "t CO2e",
            2,
            saved.get("carbon_kg"),
        )
        lines.append(html.P(f"Against each site planned alone: {cost_saved}, {carbon_saved}."))
    flows = plan.get("flows") or []
    if flows:
        head = html.Tr([html.Th(h) for h in ("job", "from (home)", "to", "energy moved")])
        body = [
            html.Tr(
                [
                    html.Td(f["job"]),
                    html.Td(f["from"]),
                    html.Td(f["to"]),
                    html.Td(units.format_energy(f["kwh"], 3)),
                ]
            )
            for f in flows
        ]
        lines.append(html.Table([head, *body], id="fleet-flows"))
    else:
        lines.append(html.P("The plan keeps every fleet job at its home site."))
    for transfer in plan.get("transfers") or []:
        copies = "".join(
            f"; {m['job']} copied from {_short(m['start'])}, runs there from "
            f"{_short(m['copy_done'])}"
            for m in transfer.get("moves") or []
            if m.get("copy_done")
        )
        lines.append(
            html.P(
                f"{transfer['from']} → {transfer['to']}: {transfer['gb']:,.1f} GB "
                f"({transfer['cost']:,.2f} {currency}){copies}"
            )
        )
    return html.Div(lines, id="fleet-plan")


def _by_site(alarms: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Alarms (each with its ``site``) grouped by site, in the order given."""
    sites: dict[str, list[dict[str, Any]]] = {}
    for alarm in alarms:
        sites.setdefault(alarm["site"], []).append(alarm)
    return sites


def proposal_alarms(proposal: dict[str, Any] | None) -> list[Any]:
    """What an approver sees before approving the newest proposal
    (:meth:`twin.fleet.live.FleetTwin.proposal`): the sites whose share does not fit them any
    more (approving is refused: re-plan), and per site whose share fits, the active critical
    alarms on what it moves (id, kind, rack, message, shelved) and that approving needs a
    typed reason to override them; or that there are none."""
    if proposal is None:
        return []
    alarms = proposal.get("critical_alarms") or []
    misfits = proposal.get("misfits") or []
    parts: list[Any] = []
    if misfits:
        parts += [
            html.P(
                f"Proposal {proposal['id']} no longer fits every site: approving it will be "
                "refused; re-plan.",
                className="kpi-alarm",
            ),
            html.Ul([html.Li(m) for m in misfits]),
        ]
    where = "at the sites it still fits" if misfits else "at any site"
    if not alarms:
        parts.append(
            html.P(
                f"Proposal {proposal['id']}: no critical alarm is active {where} on what it moves."
            )
        )
        return [html.Div(parts, id="fleet-proposal-alarms")]
    items = [
        html.Li(
            f"{site}: "
            + "; ".join(describe([a]) + (", shelved" if a["shelved"] else "") for a in listed)
        )
        for site, listed in _by_site(alarms).items()
    ]
    blocking = [a for a in alarms if not a["shelved"]]
    needs = (
        "Approving it needs a typed reason to override them (audited at each site)."
        if blocking
        else "All shelved: they do not block approval."
    )
    parts += [
        html.P(
            f"Proposal {proposal['id']}: active critical alarm(s) on what it moves:",
            className="kpi-alarm",
        ),
        html.Ul(items),
        html.P(needs),
    ]
    return [html.Div(parts, id="fleet-proposal-alarms")]


def _short(instant: str) -> str:
    """An ISO instant as "2026-12-07 04:00 UTC" (the plan's instants are UTC)."""
    return instant[:16].replace("T", " ") + " UTC"


def _change(
    what: str, saved: float, unit: str, decimals: int, fraction: float | None = None
) -> str:
    """``saved`` (a saving in ``unit``: positive is less) in words, as shown: "cost 120 USD
    lower (4.96%)", "emissions 0.02 t CO2e higher", "cost unchanged" (no "-0.00 … saved");
    ``fraction``: the same saving as a fraction of the baseline [-], shown in brackets."""
    shown = round(saved, decimals)
    if shown == 0:
        return f"{what} unchanged"
    share = f" ({abs(fraction):.2%})" if fraction is not None else ""
    return f"{what} {abs(shown):,.{decimals}f} {unit} {'lower' if shown > 0 else 'higher'}{share}"


def status_line(summary: dict[str, Any]) -> str:
    """The fleet in one line: name, sites, power now, active alarms."""
    return (
        f"{summary['fleet']}: {len(summary['sites'])} sites, "
        f"{units.format_power(summary['power_kw'], 3)} now, {summary['alarms']} active alarms"
    )


def _refusal(principal: str | None, scopes: frozenset[str], action: str) -> str | None:
    if principal is None:
        return f"Sign in with the 'approve' scope to {action} a fleet plan."
    if "approve" not in scopes:
        held = ", ".join(sorted(scopes)) or "none"
        return f"This session lacks the 'approve' scope (it has: {held}); nothing was done."
    return None


def propose(fleet: FleetTwin, principal: str | None, scopes: frozenset[str]) -> str:
    """Start a fleet re-plan in the background as ``principal`` (``approve`` scope); the
    message to show."""
    refused = _refusal(principal, scopes, "propose")
    if refused is not None or principal is None:
        return refused or ""
    job, started = fleet.planner.propose(actor=principal, reason="requested in the UI")
    if not started:
        return f"A fleet re-plan is already running (job {job.id})."
    return f"Fleet re-plan {job.id} started; the proposal appears here when it is done."


NOT_GIVEN: Any = object()
"""The default of :func:`decide`'s ``shown``: not from the page."""


def shown_proposal(summary: dict[str, Any]) -> dict[str, Any] | None:
    """What the page shows an approver of the newest proposal: its id and, per site, the ids
    of the unshelved critical alarms it lists (kept by the page for :func:`decide`)."""
    proposal = summary.get("proposal")
    if not proposal:
        return None
    alarms: dict[str, list[int]] = {}
    for alarm in proposal.get("critical_alarms") or []:
        if not alarm["shelved"]:
            alarms.setdefault(str(alarm["site"]), []).append(int(alarm["id"]))
    return {"plan": proposal["id"], "alarms": alarms}


def _seen(shown: Any) -> tuple[str | None, dict[str, list[int]]]:
    """The plan id and alarm ids of :func:`shown_proposal` as the browser sent them back
    (anything malformed: nothing shown)."""
    if not isinstance(shown, dict) or not isinstance(shown.get("plan"), str):
        return None, {}
    given = shown.get("alarms")
    alarms: dict[Any, Any] = given if isinstance(given, dict) else {}
    return shown["plan"], {
        str(site): [int(i) for i in ids if isinstance(i, int)]
        for site, ids in alarms.items()
        if isinstance(ids, list)
    }


def decide(
    fleet: FleetTwin,
    approve: bool,
    principal: str | None,
    scopes: frozenset[str],
    reason: str = "",
    shown: Any = NOT_GIVEN,
) -> str:
    """Approve or reject the newest proposed fleet plan as ``principal`` (audited); the
    message to show.  While a site has an unshelved critical alarm on what its share moves
    (listed by :func:`proposal_alarms`), approval needs a typed ``reason``, which overrides
    them (``force``, audited at each site).  ``shown`` (:func:`shown_proposal`, as the page
    drew it; None: no proposal was drawn): approving another proposal than the one shown is
    refused, and only the alarms shown are overridden (one raised since refuses the
    approval, naming it).  Not given: the newest proposal and every alarm listed."""
    action = "approve" if approve else "reject"
    refused = _refusal(principal, scopes, action)
    if refused is not None or principal is None:
        return refused or ""
    proposed = fleet.store.list_plans(limit=1, status="proposed")
    if not proposed:
        return f"No proposed fleet plan to {action}."
    plan_id = proposed[0]["id"]
    why = reason.strip() or f"{action}d in the UI"
    try:
        if approve:
            alarms = {
                site: [a for a in listed if not a["shelved"]]
                for site, listed in fleet.planner.site_alarms(plan_id).items()
            }
            listed = "; ".join(f"{site}: {describe(a)}" for site, a in alarms.items() if a)
            if listed and not reason.strip():
                return (
                    f"Fleet plan {plan_id} was not approved: {listed}. To approve it anyway, "
                    "type the reason for overriding the critical alarm(s)."
                )
            given = shown is not NOT_GIVEN
            seen_plan, seen = _seen(shown)
            if given and seen_plan != plan_id:
                return (
                    f"Fleet plan {plan_id} was not approved: it is not the proposal shown "
                    f"({seen_plan or 'none'}). Review it and approve again."
                )
            fleet.planner.approve(
                plan_id,
                actor=principal,
                reason=why,
                force=bool(listed),
                seen_alarms=seen if given else None,
            )
        else:
            fleet.planner.reject(plan_id, actor=principal, reason=why)
    except (KeyError, ValueError) as exc:
        return f"Fleet plan {plan_id} not {action}d: {exc}"
    return f"Fleet plan {plan_id} {action}d."


__all__ = [
    "SITE_COLUMNS",
    "TOPOJSON_PATH",
    "decide",
    "fleet_map",
    "fleet_summary",
    "plan_panel",
    "proposal_alarms",
    "propose",
    "shown_proposal",
    "site_table",
    "status_line",
]
