"""The Dash web UI of the live twin, served on the API's port.

Seven pages behind one navigation bar: Overview, Floor, Plan, What-if, Live, Alarms, Fleet, each
a module of :mod:`ui.pages` (its layout and the callbacks it wires).  Callbacks are thin: their
bodies are in :mod:`ui.callbacks`, reading through the read models (:mod:`ui.views` and its
siblings).

``dctwin serve`` finds this UI through the ``dctwin.web`` entry point (``ui.app:mount``):
``twin`` must not import ``ui`` (layers), so the CLI loads every plugin of that group and
calls it with the FastAPI app, the twin and the token registry.  Serving a fleet
(``dctwin serve fleet.yaml``: ``app.state.fleet``), the Fleet page shows every site, and
``/site/<name>`` selects the site the other pages show (the ``dctwin_site`` cookie).
"""

from __future__ import annotations

import gc
import logging
import threading
import traceback
from typing import Any

import flask
from dash import Dash, Input, Output, dcc, html
from fastapi import FastAPI

from twin.api.security import TokenRegistry
from twin.live.live_twin import LiveTwin
from ui import callbacks as cb
from ui.bundle import compress, plotlyjs
from ui.jobs import JobRunner
from ui.pages import alarms, fleet, floor, live, overview, plan, whatif
from ui.pages.components import register_csv

logger = logging.getLogger(__name__)

PAGES: tuple[tuple[str, str], ...] = (
    ("/", "Overview"),
    ("/floor", "Floor"),
    ("/plan", "Plan"),
    ("/whatif", "What-if"),
    ("/live", "Live"),
    ("/alarms", "Alarms"),
    ("/fleet", "Fleet"),
)
"""Path and title of every page, in navigation order."""

PAGE_MODULES = (overview, floor, plan, whatif, live, alarms, fleet)
"""The module of every page (its ``layout`` and ``register``), in the order of :data:`PAGES`."""

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
a.kpi-link { color: inherit; text-decoration: none; }
.card { background: #fff; border-radius: 6px; padding: 8px; margin-bottom: 10px;
        box-shadow: 0 1px 2px rgba(0,0,0,.1); }
.row2 { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; }
.row3 { display: grid; grid-template-columns: 1fr 1fr 1fr; gap: 10px; }
.warn { color: #a61b1b; } .ok { color: #1b6e2a; }
.form { display: grid; grid-template-columns: 220px 220px; gap: 6px 12px; align-items: center; }
table { border-collapse: collapse; } td, th { padding: 3px 10px; border-bottom: 1px solid #ddd; }
button { padding: 6px 14px; margin: 4px; }
.chart { background: #fff; border-radius: 6px; }  /* the CSV row belongs to its chart */
.chart-tools { display: flex; justify-content: flex-end; }
.csv-button { padding: 1px 8px; margin: 0 0 2px 0; font-size: .75em; color: #445;
              background: #fff; border: 1px solid #ccd; border-radius: 3px; cursor: pointer; }
"""


def _normal(path: str | None) -> str:
    return (path or "/").rstrip("/") or "/"


def _referrer() -> tuple[str, str] | None:
    """Path and query (``?…`` or empty) of the page that asked for the layout.

    None outside a request or without a referrer.
    """
    from urllib.parse import urlsplit

    import flask

    if not flask.has_request_context() or not flask.request.referrer:
        return None
    url = urlsplit(flask.request.referrer)
    return url.path or "/", f"?{url.query}" if url.query else ""


def _location(requested: tuple[str, str] | None) -> dcc.Location:
    """The URL component, starting at the page the browser asked for.

    ``dcc.Location`` copies ``window.location`` into every property left empty when it
    mounts; a copied ``pathname`` would fire the route callback and render the page a
    second time.  Starting from the requested path and query leaves only ``href`` and
    ``hash`` to copy, which no callback listens to.  ``refresh=False``: a path that differs
    from the browser's (a proxy's prefix) is left alone instead of reloading the page.
    """
    if requested is None:
        return dcc.Location(id="url")
    path, search = requested
    return dcc.Location(id="url", pathname=path, search=search, refresh=False)


def _navbar(current: str = "/", site: str | None = None) -> html.Div:
    shown: list[Any] = [html.Span(f"site: {site}", className="brand", id="nav-site")]
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
        ]
        + (shown if site else []),
        className="navbar",
        id="navbar",
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
    # plotly.js is the partial bundle of ``ui.bundle.plotlyjs`` (only the trace types drawn).
    suites = f"{requests_prefix.rstrip('/')}/_dash-component-suites"
    preload = "".join(
        f'<link rel="preload" as="script" href="{suites}/{path}">'
        for path in ("dash/dcc/async-graph.js", plotlyjs.DASH_PATH)
    )
    app.index_string = app.index_string.replace(
        "{%css%}", "{%css%}" + preload + "<style>" + CSS + "</style>"
    )

    def layout() -> html.Div:
        # The first page is rendered with the layout (its path is the request's referrer),
        # which saves the routing round trip before the first paint; the URL component
        # starts at that path, so the route callback does not render it again.
        requested = _referrer()
        path = requested[0] if requested else "/"
        return html.Div(
            [
                _location(requested),
                _navbar(path, context.site),
                html.Div(page_for(path, context), id="page"),
            ]
        )

    plotlyjs.serve(app, requests_prefix)
    compress.serve(app, requests_prefix)
    app.layout = layout
    register(app, context)
    refuse_malformed_callbacks(app.server)
    return app


MALFORMED = (KeyError, IndexError, TypeError, ValueError, AttributeError)
"""What Dash raises on a callback request it cannot read (no ``output``, an unknown one,
inputs of the wrong shape)."""


def refuse_malformed_callbacks(server: flask.Flask) -> None:
    """Answer a malformed Dash callback request ``400`` (JSON, one log line), not ``500``
    with a traceback: an error of :data:`MALFORMED` raised while Dash reads the request, with
    none of this package's code on the stack.  An error inside a callback of ours stays a
    ``500`` with its traceback in the log (a defect to fix, not the client's)."""

    def refuse(error: Exception) -> flask.typing.ResponseReturnValue:
        ours = any(
            str(frame.f_globals.get("__name__", "")).split(".")[0] == "ui"
            for frame, _ in traceback.walk_tb(error.__traceback__)
        )
        if ours or not flask.request.path.endswith("/_dash-update-component"):
            raise error
        logger.warning("malformed callback request refused: %s: %s", type(error).__name__, error)
        detail = f"malformed callback request ({type(error).__name__}: {error})"
        return flask.jsonify(detail=detail[:300]), 400

    for kind in MALFORMED:
        server.register_error_handler(kind, refuse)


def page_for(path: str | None, context: cb.UIContext) -> html.Div:
    """The layout of the page at ``path`` (a not-found page for unknown paths)."""
    path = _normal(path)
    for (page_path, _), module in zip(PAGES, PAGE_MODULES, strict=True):
        if path == page_path:
            return module.layout(context)
    return html.Div([html.H2("Not found"), html.P(f"No page at {path}.")], className="page")


def register(app: Dash, context: cb.UIContext) -> None:
    """Wire the navigation and the callbacks of every page to ``app``."""

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

    for module in PAGE_MODULES:
        module.register(app, context)
    register_csv(app)


def mount(api: FastAPI, twin: LiveTwin, tokens: TokenRegistry) -> None:
    """Build the UI for ``twin`` and serve it at ``/`` of ``api`` (the ``dctwin.web`` plugin).

    Mounted after the API routes, so ``/api/v1`` and ``/docs`` still answer first, and
    behind :class:`twin.api.login.LoginGate` (``/login``, ``/logout``; tokens or
    ``DCTWIN_USERS``).

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

    from twin.api.login import LoginGate, Sessions, UserRegistry

    context = cb.UIContext(
        twin, tokens, JobRunner(workers=1), fleet=getattr(api.state, "fleet", None)
    )
    app = build_app(context)
    if context.fleet is not None:  # a UI route: behind the login gate below
        add_site_selection(app.server, list(context.fleet.sites))
    api.state.ui = app
    warm_up(context)
    # Behind a login: every page, callback and download needs a session with ``read``.
    # Sessions in the twin's store: a restart of the service logs nobody out.
    gate = LoginGate(
        WSGIMiddleware(app.server),  # type: ignore[arg-type]
        tokens,
        UserRegistry.from_environment(),
        Sessions(twin.store),
    )
    api.state.ui_gate = gate
    api.mount("/", gate)


def warm_up(context: cb.UIContext) -> threading.Thread:
    """Fill, in a background thread, what the first page load would otherwise compute: the
    model's prediction of the current step (a two-step simulation of the whole hall: about
    a second of CPU at 10,000 racks, most of it the first imports of the physics kernels)
    and the Floor's rack layout.  Returns the thread (a daemon: it never delays a shutdown).
    """

    def work() -> None:
        try:
            twin = context.twin
            with twin.lock:
                twin.predicted(twin.clock())
            cb.floor_map(context, "inlet_temperature", None)
            # what this imported and built lives as long as the process: out of the
            # collector's sight, as the API's start-up objects (twin.api.app), so a full
            # collection does not walk it during ingestion
            gc.freeze()
        except Exception:  # a cache left cold only costs the first page load its time
            logger.warning("UI warm-up failed", exc_info=True)

    thread = threading.Thread(target=work, name="dctwin-ui-warm-up", daemon=True)
    thread.start()
    return thread


def add_site_selection(server: flask.Flask, sites: list[str]) -> None:
    """``GET /site/<name>`` on the UI's own server (so behind its login, as every page):
    the pages show that fleet site from now on (a session cookie,
    :data:`ui.callbacks.SITE_COOKIE`); then its Overview.  404 for an unknown site."""

    def select_site(site: str) -> flask.typing.ResponseReturnValue:
        if site not in sites:
            known = ", ".join(sites)
            return flask.Response(f"unknown site {site!r} (sites: {known})", status=404)
        response = flask.redirect("/", code=303)
        response.set_cookie(cb.SITE_COOKIE, site, httponly=True, samesite="Strict")
        return response

    server.add_url_rule("/site/<site>", "select_site", select_site, methods=["GET"])


__all__ = [
    "MALFORMED",
    "PAGES",
    "add_site_selection",
    "build_app",
    "mount",
    "page_for",
    "refuse_malformed_callbacks",
    "register",
    "warm_up",
]
