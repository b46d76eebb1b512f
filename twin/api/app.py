"""The twin's HTTP API (FastAPI) under ``/api/v1``: a thin layer over
:class:`twin.live.live_twin.LiveTwin`.

Every write needs a bearer token with its scope (:mod:`twin.api.security`); reads need ``read``.
Credentials are checked before a body is read, and bodies above ``max_body_bytes`` are refused
(413) unread or, when streamed, as soon as they cross it (:mod:`twin.api.guard`).  Unknown
paths under ``/api`` are answered 404 (405 for a wrong method) in JSON.  The store being busy
(SQLite locked beyond its retry budget) is a 503 with ``Retry-After``; nothing is half-written.

One module per resource holds its routes (an :class:`fastapi.APIRouter`) and models:
:mod:`~twin.api.health`, :mod:`~twin.api.measurements`, :mod:`~twin.api.state`,
:mod:`~twin.api.plans`, :mod:`~twin.api.whatif`, :mod:`~twin.api.scenario` and
:mod:`~twin.api.alarms_audit`; what they share (scopes, the twin served, error shapes, the
body limit) is in :mod:`twin.api.deps`.  :func:`create_app` assembles them, with the offline
API documentation (:mod:`~twin.api.docs`: ``/docs``, ``/redoc``) and the Prometheus endpoint
(:mod:`~twin.api.metrics`: ``/metrics``).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from twin.api import alarms_audit, health, measurements, plans, scenario, state, whatif
from twin.api.deps import (
    MAX_BODY_BYTES,
    answer_unknown_api_paths,
    error_responses,
    guard_requests,
    handle_store_busy,
)
from twin.api.docs import add_offline_docs
from twin.api.metrics import install_metrics
from twin.api.security import TokenRegistry
from twin.api.whatif import WhatIfQueue
from twin.data.loaders import default_data_dir
from twin.live.live_twin import LiveTwin

log = logging.getLogger(__name__)

GC_YOUNG_THRESHOLD = 50_000
"""The collector's first-generation threshold while the app runs [objects] (Python's default
is 700).  A 1,000-reading batch makes thousands of short-lived containers (the parsed items,
the readings, the rows) that reference counting frees; at 700 the collector ran a few times
per batch, each time promoting the readings still queued for the worker, so that a full
collection walked them every few seconds (and, before the start-up prediction moved ahead of
the freeze, the ~80,000 objects numba imports: 90-150 ms each); measured at load average 8-13
in a 200-batch run of ``benchmarks/ingest.py``: ~1.2 ms of collection per batch, pauses up
to 32 ms.  At 50,000 no collection ran in such a run; one that does walks at most that many
young objects.  Cyclic garbage waits for it (a few MB at most)."""

ROUTERS = (
    health.router,
    measurements.router,
    state.router,
    plans.router,
    whatif.router,
    scenario.router,
    alarms_audit.router,
)
"""The API's routers, in the order of the OpenAPI document."""


def first_prediction(twin: LiveTwin) -> None:
    """Make the model's first prediction now: it imports and loads the physics kernels (numba,
    ~0.5 s of CPU, ~80,000 objects), best done before :func:`long_lived_heap` freezes what
    start-up built rather than by the first cycle or the UI's warm-up after it.  A failure is
    logged (the first cycle tries again)."""
    try:
        with twin.lock:
            twin.predicted(twin.clock())
    except Exception:
        log.warning("the model's first prediction failed", exc_info=True)


@contextmanager
def long_lived_heap() -> Iterator[None]:
    """While the app runs: what start-up built (model, series, solver objects, living as long
    as the process) frozen out of the collector's sight, so a full collection no longer walks
    it (it did, for ~130 ms, in one request of fifty: benchmarks/ingest.py), and the
    young-generation threshold raised to :data:`GC_YOUNG_THRESHOLD`; restored after."""
    gc.collect()
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def create_app(
    twin: LiveTwin,
    tokens: TokenRegistry,
    *,
    cors_origins: list[str] | None = None,
    start_background: bool = True,
    max_body_bytes: int = MAX_BODY_BYTES,
    root_redirect: bool = True,
    data_root: Path | None = None,
    whatif_queue: WhatIfQueue | None = None,
) -> FastAPI:
    """The API app for ``twin``.

    Parameters
    ----------
    twin
        The live twin to serve.
    tokens
        Known bearer tokens and their scopes.
    cors_origins
        Origins allowed by CORS (none by default: CORS closed).
    start_background
        Start the twin's worker threads with the app (tests drive them by hand).
    max_body_bytes
        Largest request body [bytes].
    root_redirect
        Redirect ``/`` to the API documentation; False when a web UI is mounted at ``/``
        (``dctwin serve`` with a ``dctwin.web`` plugin).
    data_root
        The public data folder (``grid/<ZONE>/``) zone series from requests are read from
        (default :func:`twin.data.loaders.default_data_dir`).
    whatif_queue
        Admission of what-ifs (default: one running per token, two waiting in all).
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if start_background:
            first_prediction(twin)
        with long_lived_heap():
            if start_background:
                twin.start()
            try:
                yield
            finally:
                if start_background:
                    twin.stop()

    app = FastAPI(
        title="dctwin",
        version="0.1.0",
        description="Live digital twin of an AI data center. Units are given in every field "
        "description; times are ISO 8601 UTC.",
        lifespan=lifespan,
        responses=error_responses(400, 401, 403, 413, 503),
        docs_url=None,  # FastAPI's pages load from a CDN: served offline below
        redoc_url=None,
    )
    add_offline_docs(app)
    app.state.twin = twin
    app.state.tokens = tokens
    app.state.data_root = Path(data_root) if data_root is not None else default_data_dir()
    app.state.whatif_queue = whatif_queue or WhatIfQueue()
    guard_requests(app, max_body_bytes)
    if cors_origins:  # outermost, so refusals carry the CORS headers too
        app.add_middleware(
            CORSMiddleware,
            allow_origins=cors_origins,
            allow_methods=["GET", "POST", "PUT"],
            allow_headers=["Authorization", "Content-Type"],
        )
    handle_store_busy(app)
    if root_redirect:
        app.include_router(health.root_router)
    for router in ROUTERS:
        app.include_router(router)
    answer_unknown_api_paths(app)
    install_metrics(app, twin)  # GET /metrics (Prometheus), outside /api/v1
    return app
