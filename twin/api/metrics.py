"""``GET /metrics``: the twin for Prometheus (:mod:`twin.connectors.metrics`).

Auth policy: the same bearer tokens as the API, with the ``read`` scope.  The metrics tell
no more than ``GET /api/v1/state`` already does to a reader (KPIs, alarms, freshness), and
Prometheus sends a bearer token natively (``authorization: {credentials_file: …}`` in a
scrape config).  Give Prometheus a token of its own with ``read`` only, so it can be revoked
without touching anyone else's.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request, Response

from twin.api.deps import Read, error_responses
from twin.connectors.metrics import TwinMetrics
from twin.live.live_twin import LiveTwin

METRICS_URL = "/metrics"
"""Where Prometheus scrapes (the conventional path, outside ``/api/v1``)."""
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""Prometheus' text format 0.0.4, which every Prometheus version reads (the metric names use
no character that the newer 1.0.0 would escape, so the text is the same)."""

router = APIRouter()
"""The metrics route."""


@router.get(
    METRICS_URL,
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text format 0.0.4 (names, units and labels: "
            "docs/connectors.md)",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **error_responses(401, 403, 503),
    },
)
def metrics(_: Read, request: Request) -> Response:
    """The twin's KPIs, telemetry freshness, ingestion, plans, alarms and MQTT connector as
    Prometheus metrics (needs the ``read`` scope); computed at most every few seconds."""
    exporter: TwinMetrics = request.app.state.metrics
    return Response(exporter.render(), media_type=CONTENT_TYPE)


def install_metrics(app: FastAPI, twin: LiveTwin) -> TwinMetrics:
    """Add ``GET /metrics`` for ``twin`` to ``app``; the exporter is ``app.state.metrics``.

    Parameters
    ----------
    app
        The API app.
    twin
        The live twin exported (its ingestion is counted from now on).

    Returns
    -------
    TwinMetrics
        The exporter (:meth:`TwinMetrics.watch` adds an MQTT subscriber to it).
    """
    app.state.metrics = TwinMetrics(twin)
    app.include_router(router)
    exporter: TwinMetrics = app.state.metrics
    return exporter
