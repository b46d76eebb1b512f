"""The Dash web UI of the live twin, served on the API's port.

Five pages behind one navigation bar: Overview, Floor, Plan, What-if, Live.  Callbacks are
thin: their bodies are in :mod:`ui.callbacks`, reading through :mod:`ui.views`.

``dctwin serve`` finds this UI through the ``dctwin.web`` entry point (``ui.app:mount``):
``twin`` must not import ``ui`` (layers), so the CLI loads every plugin of that group and
calls it with the FastAPI app, the twin and the token registry.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import Dash, Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate
from fastapi import FastAPI

from twin.api.security import TokenRegistry
from twin.live.live_twin import LiveTwin
from ui import callbacks as cb
from ui import figures
from ui.jobs import JobRunner
from ui.views import FLOOR_QUANTITIES, WHATIF_FIELDS, default_live_points

PAGES: tuple[tuple[str, str], ...] = (
    ("/", "Overview"),
    ("/floor", "Floor"),
    ("/plan", "Plan"),
    ("/whatif", "What-if"),
    ("/live", "Live"),
)
"""Path and title of every page, in navigation order."""

REFRESH_MS = 5_000
"""Period of the live pages' refresh [ms]."""

MAX_POINT_OPTIONS = 2_000
"""Largest number of points offered by the Live page's picker [-]."""

CSS = """
body { font-family: system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #222; }
.navbar { display: flex; gap: 4px; align-items: center; background: #1d2b3a; padding: 6px 16px; }
.navbar .brand { color: #fff; font-weight: 600; margin-right: 18px; }
.navbar a { color: #cfd8e3; text-decoration: none; padding: 6px 12px; border-radius: 4px; }
.navbar a.active, .navbar a:hover { background: #34506d; color: #fff; }
.page { padding: 12px 20px; }
.kpis { display: flex; flex-wrap: wrap; gap: 10px; margin-bottom: 10px; }
.kpi { background: #fff; border-radius: 6px; padding: 8px 14px; min-width: 140px;
       box-shadow: 0 1px 2px rgba(0,0,0,.1); font-size: 1.3em; }
.kpi-title { font-size: .6em; color: #667; }
.kpi-alarm { background: #fde2e1; }
.card { background: #fff; border-radius: 6px; padding: 8px; margin-bottom: 10px;
        box-shadow: 0 1px 2px rgba(0,0,0,.1); }
.row2 { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; }
.warn { color: #a61b1b; } .ok { color: #1b6e2a; }
.form { display: grid; grid-template-columns: 220px 220px; gap: 6px 12px; align-items: center; }
table { border-collapse: collapse; } td, th { padding: 3px 10px; border-bottom: 1px solid #ddd; }
button { padding: 6px 14px; margin: 4px; }
"""


def _normal(path: str | None) -> str:
    return (path or "/").rstrip("/") or "/"


def _referrer_path() -> str:
    """Path of the page that asked for the layout (``/`` outside a request or without one)."""
    from urllib.parse import urlsplit

    import flask

    if not flask.has_request_context() or not flask.request.referrer:
        return "/"
    return _normal(urlsplit(flask.request.referrer).path)


def _navbar(current: str = "/") -> html.Div:
    return html.Div(
        [html.Span("dctwin", className="brand")]
        + [
            dcc.Link(
                title,
                href=path,
                id=f"nav-{title.lower().replace('-', '')}",
                className="active" if path == _normal(current) else "",
            )
            for path, title in PAGES
        ],
        className="navbar",
        id="navbar",
    )


def _graph(graph_id: str, **style: Any) -> dcc.Graph:
    return dcc.Graph(id=graph_id, config={"displaylogo": False}, style=style or None)


def _graph_with(graph_id: str, figure: Any) -> dcc.Graph:
    return dcc.Graph(id=graph_id, figure=figure, config={"displaylogo": False})


def overview_layout(context: cb.UIContext) -> html.Div:
    """The Overview page: KPI cards and the power-flow Sankey (drawn with the page: no
    extra round trip before the first paint; refreshed every ``REFRESH_MS``)."""
    cards, sankey, status = cb.overview(context)
    return html.Div(
        [
            html.H2("Overview"),
            html.Div(status, id="overview-status"),
            html.Div(cards, id="overview-kpis", className="kpis"),
            html.Div(_graph_with("overview-sankey", sankey), className="card"),
            dcc.Interval(id="overview-refresh", interval=REFRESH_MS),
        ],
        className="page",
    )


def floor_layout(context: cb.UIContext) -> html.Div:
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
                            {"label": f"{long} [{units}]", "value": name}
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
            html.Div(_graph_with("floor-map", floor_map), className="card"),
            html.Div(_graph_with("rack-detail", detail), className="card"),
            dcc.Store(id="floor-selected"),
        ],
        className="page",
    )


def plan_layout() -> html.Div:
    """The Plan page: signals, grid import vs baselines, SOC, setpoints, jobs, decisions."""
    return html.Div(
        [
            html.H2("Plan"),
            html.Div(
                [
                    dcc.Dropdown(id="plan-select", style={"width": "520px"}, clearable=False),
                    dcc.Input(
                        id="plan-token",
                        type="password",
                        placeholder="access token (approve scope)",
                        style={"width": "280px"},
                        debounce=True,
                    ),
                    dcc.Input(id="plan-reason", placeholder="reason (audit log)", type="text"),
                    html.Button("Approve", id="plan-approve", n_clicks=0),
                    html.Button("Reject", id="plan-reject", n_clicks=0),
                    html.Button("Propose a plan now", id="plan-propose", n_clicks=0),
                ],
                style={"display": "flex", "gap": "8px", "alignItems": "center"},
            ),
            html.Div(id="plan-message", className="card"),
            html.Div(id="plan-status", className="card"),
            html.Div([_graph("plan-signals"), _graph("plan-grid")], className="row2"),
            html.Div([_graph("plan-soc"), _graph("plan-setpoints")], className="row2"),
            html.Div(_graph("plan-gantt"), className="card"),
            html.Div([html.H4("Shadow prices"), html.Div(id="plan-prices")], className="card"),
            dcc.Store(id="plan-job"),
            dcc.Store(id="plan-version", data=0),
            dcc.Interval(id="plan-poll", interval=1_000, disabled=True),
        ],
        className="page",
    )


def _field(label: str, component: Any) -> list[Any]:
    return [html.Label(label), component]


def whatif_layout(context: cb.UIContext) -> html.Div:
    """The What-if page: the form, progress, the side-by-side comparison, YAML download."""
    twin = context.twin
    rack_types = sorted(twin.scenario_data.get("rack_types") or {})
    units = list(twin.facility.units.ids)
    feeds = list(twin.facility.feeds.ids)
    zones = ["DE-LU", "US-CAL-CISO", "US-MIDA-PJM", "US-TEX-ERCO"]

    def number(name: str, placeholder: str) -> dcc.Input:
        return dcc.Input(id=f"wi-{name}", type="number", placeholder=placeholder)

    def choose(name: str, options: list[str]) -> dcc.Dropdown:
        return dcc.Dropdown(id=f"wi-{name}", options=options, placeholder="(none)")

    form = html.Div(
        _field("Add racks of type", choose("add_racks_type", rack_types))
        + _field("Number of racks to add [-]", number("add_racks_count", "e.g. 4"))
        + _field("Supply setpoint min [°C]", number("supply_min_c", "e.g. 16"))
        + _field("Supply setpoint max [°C]", number("supply_max_c", "e.g. 27"))
        + _field("Battery energy [kWh]", number("battery_energy_kwh", "e.g. 4000"))
        + _field("Battery power [kW]", number("battery_power_kw", "e.g. 2000"))
        + _field("Fail a cooling unit", choose("fail_cooling_unit", units))
        + _field("Fail a feed", choose("fail_feed", feeds))
        + _field("Demand response: starts in [h]", number("dr_start_hours", "e.g. 3"))
        + _field("Demand response: lasts [h]", number("dr_duration_hours", "e.g. 2"))
        + _field("Demand response: import cap [kW]", number("dr_import_cap_kw", "e.g. 2000"))
        + _field("Switch grid zone", choose("grid_zone", zones))
        + _field("Horizon [h]", dcc.Input(id="wi-horizon", type="number", value=24)),
        className="form card",
    )
    return html.Div(
        [
            html.H2("What-if"),
            form,
            html.Button("Run what-if", id="wi-run", n_clicks=0),
            html.Button("Download modified scenario (YAML)", id="wi-download-button", n_clicks=0),
            html.Div(
                [html.Progress(id="wi-progress", value="0", max="1"), html.Span(id="wi-message")],
                className="card",
            ),
            html.Div(id="wi-table", className="card"),
            html.Div(_graph("wi-compare"), className="card"),
            dcc.Store(id="wi-job"),
            dcc.Store(id="wi-yaml"),
            dcc.Download(id="wi-download"),
            dcc.Interval(id="wi-poll", interval=700, disabled=True),
        ],
        className="page",
    )


def live_layout(context: cb.UIContext) -> html.Div:
    """The Live page: measurement vs prediction, calibration, faults.

    The point picker lists facility-level points first and at most ``MAX_POINT_OPTIONS``
    in all (a 10,000-rack hall has ~50,000 points; the API serves any of them).
    """
    ids = context.twin.catalogue.ids
    chosen = default_live_points(context.twin)
    first = [p for p in ids if not p.startswith("rack/")]
    points = list(dict.fromkeys(chosen + first + ids))[:MAX_POINT_OPTIONS]
    return html.Div(
        [
            html.H2("Live"),
            html.Div(
                [
                    dcc.Dropdown(
                        id="live-points",
                        options=points,
                        value=chosen,
                        multi=True,
                        style={"minWidth": "600px"},
                    ),
                    dcc.Input(id="live-hours", type="number", value=6, min=1, max=72),
                    html.Span("hours"),
                ],
                style={"display": "flex", "gap": "8px", "alignItems": "center"},
            ),
            html.Div(id="live-rmse"),
            html.Div(_graph("live-residuals"), className="card"),
            html.Div(
                [
                    html.Div(
                        [html.H4("Calibration status"), html.Div(id="live-calibration")],
                        className="card",
                    ),
                    html.Div(_graph("live-history"), className="card"),
                ],
                className="row2",
            ),
            html.Div([html.H4("Sensor faults"), html.Div(id="live-faults")], className="card"),
            dcc.Interval(id="live-refresh", interval=REFRESH_MS * 2),
        ],
        className="page",
    )


def build_app(context: cb.UIContext, *, requests_prefix: str = "/") -> Dash:
    """The Dash app for ``context`` (its Flask server is ``app.server``).

    Parameters
    ----------
    context
        Twin, tokens and job runner.
    requests_prefix
        URL prefix the browser uses (``/`` when mounted at the root).
    """
    app = Dash(
        __name__,
        title="dctwin",
        suppress_callback_exceptions=True,
        requests_pathname_prefix=requests_prefix,
        routes_pathname_prefix=requests_prefix,
        update_title="",
    )
    # Fetch the graph bundle and plotly.js with the page (they load lazily, only once the
    # first graph is in the DOM, otherwise): the browser can compile them meanwhile.
    suites = f"{requests_prefix.rstrip('/')}/_dash-component-suites"
    preload = "".join(
        f'<link rel="preload" as="script" href="{suites}/{path}">'
        for path in ("dash/dcc/async-graph.js", "plotly/package_data/plotly.min.js")
    )
    app.index_string = app.index_string.replace(
        "{%css%}", "{%css%}" + preload + "<style>" + CSS + "</style>"
    )

    def layout() -> html.Div:
        # The first page is rendered with the layout (its path is the request's referrer),
        # which saves the routing round trip before the first paint.
        path = _referrer_path()
        return html.Div(
            [
                dcc.Location(id="url"),
                _navbar(path),
                dcc.Store(id="token-store", storage_type="session"),
                html.Div(page_for(path, context), id="page"),
            ]
        )

    app.layout = layout
    register(app, context)
    return app


def page_for(path: str | None, context: cb.UIContext) -> html.Div:
    """The layout of the page at ``path`` (a not-found page for unknown paths)."""
    path = _normal(path)
    if path == "/":
        return overview_layout(context)
    if path == "/floor":
        return floor_layout(context)
    if path == "/plan":
        return plan_layout()
    if path == "/whatif":
        return whatif_layout(context)
    if path == "/live":
        return live_layout(context)
    return html.Div([html.H2("Not found"), html.P(f"No page at {path}.")], className="page")


def register(app: Dash, context: cb.UIContext) -> None:
    """Wire the callbacks of every page to ``app``."""

    @app.callback(
        Output("page", "children"),
        *[Output(f"nav-{t.lower().replace('-', '')}", "className") for _, t in PAGES],
        Input("url", "pathname"),
        prevent_initial_call=True,  # the first page comes with the layout
    )
    def route(path: str | None) -> tuple[Any, ...]:
        current = _normal(path)
        classes = ["active" if p == current else "" for p, _ in PAGES]
        return (page_for(path, context), *classes)

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
        Output("floor-map", "figure"),
        Output("rack-detail", "figure"),
        Output("floor-selected", "data"),
        Input("floor-quantity", "value"),
        Input("floor-map", "clickData"),
        prevent_initial_call=True,
    )
    def floor(quantity: str, click: dict[str, Any] | None) -> tuple[Any, ...]:
        return cb.floor(context, quantity, click)

    plan_graphs = ("plan-signals", "plan-grid", "plan-soc", "plan-setpoints", "plan-gantt")

    @app.callback(
        Output("plan-select", "options"),
        Output("plan-select", "value"),
        Output("plan-status", "children"),
        *[Output(g, "figure") for g in plan_graphs],
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

    @app.callback(
        Output("plan-token", "value"), Input("plan-token", "id"), State("token-store", "data")
    )
    def restore_token(_: str | None, token: str | None) -> str:
        if not token:
            raise PreventUpdate
        return token

    @app.callback(
        Output("token-store", "data"),
        Input("plan-token", "value"),
        prevent_initial_call=True,
    )
    def keep_token(token: str | None) -> str | None:
        return token or None

    @app.callback(
        Output("plan-message", "children"),
        Output("plan-version", "data"),
        Output("plan-job", "data"),
        Output("plan-poll", "disabled"),
        Input("plan-approve", "n_clicks"),
        Input("plan-reject", "n_clicks"),
        Input("plan-propose", "n_clicks"),
        Input("plan-poll", "n_intervals"),
        State("plan-select", "value"),
        State("plan-token", "value"),
        State("plan-reason", "value"),
        State("plan-version", "data"),
        State("plan-job", "data"),
        prevent_initial_call=True,
    )
    def plan_action(
        _a: int,
        _r: int,
        _p: int,
        _n: int | None,
        plan_id: str | None,
        token: str | None,
        reason: str | None,
        version: int | None,
        job: str | None,
    ) -> tuple[Any, ...]:
        trigger = dash.callback_context.triggered_id
        version = int(version or 0)
        if trigger == "plan-propose":
            job_id, message = cb.propose(context, token)
            return message, dash.no_update, job_id, job_id is None
        if trigger == "plan-poll":
            state = cb.job_progress(context, job)
            if state["state"] in ("queued", "running"):
                return f"Re-planning: {state['message']} ...", dash.no_update, job, False
            if state["state"] == "failed":
                return f"Re-plan failed: {state['error']}", version + 1, None, True
            plan_id = (state["result"] or {}).get("plan_id")
            return f"Plan {plan_id} proposed.", version + 1, None, True
        done, message = cb.decide(context, plan_id, token, trigger == "plan-approve", reason or "")
        return message, version + 1 if done else dash.no_update, dash.no_update, True

    wi_fields = [f"wi-{name}" for name in WHATIF_FIELDS]

    @app.callback(
        Output("wi-job", "data"),
        Output("wi-poll", "disabled", allow_duplicate=True),
        Output("wi-message", "children", allow_duplicate=True),
        Input("wi-run", "n_clicks"),
        *[State(f, "value") for f in wi_fields],
        State("wi-horizon", "value"),
        prevent_initial_call=True,
    )
    def whatif_run(_: int, *values: Any) -> tuple[Any, ...]:
        edits = dict(zip(WHATIF_FIELDS, values[:-1], strict=True))
        job_id, message = cb.whatif_start(context, edits, values[-1])
        return job_id, job_id is None, message

    @app.callback(
        Output("wi-progress", "value"),
        Output("wi-message", "children"),
        Output("wi-table", "children"),
        Output("wi-compare", "figure"),
        Output("wi-yaml", "data"),
        Output("wi-poll", "disabled"),
        Input("wi-poll", "n_intervals"),
        State("wi-job", "data"),
        prevent_initial_call=True,
    )
    def whatif_poll(_: int | None, job: str | None) -> tuple[Any, ...]:
        state = cb.job_progress(context, job)
        keep = dash.no_update
        fraction = f"{state['fraction']:.2f}"
        if state["state"] in ("queued", "running"):
            elapsed = state.get("elapsed_s", 0.0)
            return fraction, f"{state['message']} ({elapsed:.0f} s)", keep, keep, keep, False
        if state["state"] == "failed" or state["result"] is None:
            return "0", f"What-if failed: {state['error']}", keep, keep, keep, True
        table, figure = cb.whatif_result(context, state["result"])
        message = f"Done in {state.get('elapsed_s', 0.0):.1f} s."
        return "1", message, table, figure, state["result"]["scenario_yaml"], True

    @app.callback(
        Output("wi-download", "data"),
        Input("wi-download-button", "n_clicks"),
        State("wi-yaml", "data"),
        *[State(f, "value") for f in wi_fields],
        prevent_initial_call=True,
    )
    def whatif_download(_: int, text: str | None, *values: Any) -> dict[str, Any]:
        if not text:  # no run yet: the scenario as edited now
            import yaml

            from ui.views import modified_scenario

            try:
                data = modified_scenario(
                    context.twin, cb.whatif_edits(dict(zip(WHATIF_FIELDS, values, strict=True)))
                )
            except ValueError:
                raise PreventUpdate from None
            text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        return {"content": text, "filename": "whatif-scenario.yaml", "type": "text/yaml"}

    @app.callback(
        Output("live-residuals", "figure"),
        Output("live-history", "figure"),
        Output("live-calibration", "children"),
        Output("live-faults", "children"),
        Output("live-rmse", "children"),
        Input("live-refresh", "n_intervals"),
        Input("live-points", "value"),
        Input("live-hours", "value"),
    )
    def live(_: int | None, points: list[str] | None, hours: float | None) -> tuple[Any, ...]:
        try:
            page = cb.live(context, points, hours)
        except KeyError as exc:
            return (figures.empty(str(exc)), dash.no_update, dash.no_update, dash.no_update, "")
        return page["residuals"], page["history"], page["calibration"], page["faults"], page["rmse"]


def mount(api: FastAPI, twin: LiveTwin, tokens: TokenRegistry) -> None:
    """Build the UI for ``twin`` and serve it at ``/`` of ``api`` (the ``dctwin.web`` plugin).

    Mounted after the API routes, so ``/api/v1`` and ``/docs`` still answer first.

    Parameters
    ----------
    api
        The FastAPI app of :func:`twin.api.app.create_app`.
    twin
        The live twin.
    tokens
        Token registry (the Plan page checks the ``approve`` scope with it).
    """
    from a2wsgi import WSGIMiddleware

    context = cb.UIContext(twin, tokens, JobRunner(workers=1))
    app = build_app(context)
    api.state.ui = app
    api.mount("/", WSGIMiddleware(app.server))  # type: ignore[arg-type]


__all__ = ["PAGES", "build_app", "mount", "page_for", "register"]
