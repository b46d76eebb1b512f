"""The API app of a live fleet (``dctwin serve fleet.yaml``).

Every single-site route (:data:`twin.api.app.ROUTERS`: state, measurements, plans, what-if,
scenario, alarms, audit) is served for each site under ``/api/v1/sites/{site}/`` (the same
handlers; :func:`twin.api.deps.current_twin` picks the site's twin from the path, 404 for an
unknown site), beside the fleet's own routes (:mod:`twin.api.fleet.routes`).  Credentials,
body limits, CORS, store-busy answers and the offline documentation are those of the
single-site app; ``/metrics`` exports every site's metrics with a ``site`` label
(:mod:`twin.api.fleet.metrics`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI
from fastapi import Path as PathParam
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute

from twin.api import alarms_audit, measurements, plans, scenario, state, whatif
from twin.api import health as site_health
from twin.api.app import first_prediction, long_lived_heap
from twin.api.deps import (
    API,
    MAX_BODY_BYTES,
    answer_unknown_api_paths,
    error_responses,
    guard_requests,
    handle_store_busy,
)
from twin.api.docs import add_offline_docs
from twin.api.fleet import routes
from twin.api.fleet.metrics import install_fleet_metrics
from twin.api.security import TokenRegistry
from twin.api.whatif import WhatIfQueue
from twin.data.loaders import default_data_dir
from twin.fleet.live import FleetTwin

SITE_ROUTERS = (
    site_health.router,
    measurements.router,
    state.router,
    plans.router,
    whatif.router,
    scenario.router,
    alarms_audit.router,
)
"""The single-site routers served under ``/api/v1/sites/{site}/``."""

SITES = API + "/sites/{site}"
"""Prefix of every site's routes."""


def _site(site: Annotated[str, PathParam(description="The site's name in the fleet file")]) -> str:
    return site


def site_routes(routers: tuple[APIRouter, ...] = SITE_ROUTERS) -> APIRouter:
    """The routes of ``routers`` again under ``/api/v1/sites/{site}/`` (same handlers, scopes
    and answers; the ``site`` path parameter documented)."""
    copied = APIRouter()
    for router in routers:
        for route in router.routes:
            if not isinstance(route, APIRoute):
                continue
            copied.add_api_route(
                SITES + route.path.removeprefix(API),
                route.endpoint,
                response_model=route.response_model,
                status_code=route.status_code,
                tags=["site", *route.tags],
                dependencies=[*route.dependencies, Depends(_site)],
                summary=route.summary,
                description=route.description,
                responses={**route.responses, **error_responses(404)},
                methods=sorted(route.methods or ()),
                response_class=route.response_class,
                name=f"site_{route.name}",
            )
    return copied


def create_fleet_app(
    fleet: FleetTwin,
    tokens: TokenRegistry,
    *,
    cors_origins: list[str] | None = None,
    start_background: bool = True,
    max_body_bytes: int = MAX_BODY_BYTES,
    root_redirect: bool = True,
    data_root: Path | None = None,
) -> FastAPI:
    """The API app for a live fleet.

    Parameters
    ----------
    fleet
        The live fleet (:func:`twin.fleet.live.open_fleet`).
    tokens
        Known bearer tokens and their scopes.
    cors_origins
        Origins allowed by CORS (none by default).
    start_background
        Start every site's worker threads with the app (tests drive them by hand).
    max_body_bytes
        Largest request body [bytes].
    root_redirect
        Redirect ``/`` to the API documentation; False when a web UI is mounted at ``/``.
    data_root
        The public data folder zone series from requests are read from.
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if start_background:
            for twin in fleet.twins.values():  # as a single site's app does
                first_prediction(twin)
        with long_lived_heap():
            if start_background:
                fleet.start()
            try:
                yield
            finally:
                if start_background:
                    fleet.stop()

    app = FastAPI(
        title="dctwin fleet",
        version="0.1.0",
        description="Live digital twins of a fleet of AI data centers: every site's routes under "
        "/api/v1/sites/{site}/, the fleet's under /api/v1/fleet. Units are given in every field "
        "description; times are ISO 8601 UTC.",
        lifespan=lifespan,
        responses=error_responses(400, 401, 403, 413, 503),
        docs_url=None,
        redoc_url=None,
    )
    add_offline_docs(app)
    app.state.fleet = fleet
    app.state.site_twins = fleet.twins
    app.state.twin = next(iter(fleet.twins.values()))  # the default site (UI, plugins)
    app.state.tokens = tokens
    app.state.data_root = Path(data_root) if data_root is not None else default_data_dir()
    app.state.whatif_queue = WhatIfQueue()
    guard_requests(app, max_body_bytes)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=cors_origins,
            allow_methods=["GET", "POST", "PUT"],
            allow_headers=["Authorization", "Content-Type"],
        )
    handle_store_busy(app)
    if root_redirect:
        app.include_router(site_health.root_router)
    app.include_router(routes.sites_router)
    app.include_router(routes.router)
    app.include_router(site_routes())
    answer_unknown_api_paths(app)
    install_fleet_metrics(app, fleet)  # GET /metrics (Prometheus, a `site` label), outside /api
    return app


__all__ = ["SITES", "SITE_ROUTERS", "create_fleet_app", "site_routes"]
