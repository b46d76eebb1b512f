"""``GET /metrics`` of a live fleet: every site's Prometheus metrics
(:class:`twin.connectors.metrics.TwinMetrics`) in one scrape, each sample labelled with its
``site``.  Same auth policy as a single site's ``/metrics``: a bearer token with ``read``."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric

from twin.api.deps import Read, error_responses
from twin.api.metrics import CONTENT_TYPE, METRICS_URL
from twin.connectors.metrics import CACHE_SECONDS, TwinMetrics
from twin.fleet.live import FleetTwin

router = APIRouter()
"""The fleet's metrics route."""


class FleetMetrics:
    """The Prometheus exporter of a live fleet: one :class:`TwinMetrics` per site, merged.

    Parameters
    ----------
    fleet
        The live fleet (each site's ingestion is counted from now on).
    cache_seconds
        How long a rendered scrape is reused [s]; 0 computes every scrape.
    """

    def __init__(self, fleet: FleetTwin, *, cache_seconds: float = CACHE_SECONDS) -> None:
        self.sites = {
            name: TwinMetrics(site.twin, cache_seconds=0.0) for name, site in fleet.sites.items()
        }
        self.cache_seconds = cache_seconds
        self.registry = CollectorRegistry()
        self.registry.register(self)
        self._rendered: tuple[float, bytes] = (-math.inf, b"")
        self._lock = threading.Lock()

    def collect(self) -> Iterator[Metric]:
        """Every site's metric families, one family per name, samples labelled ``site``."""
        merged: dict[str, Metric] = {}
        for site, exporter in self.sites.items():
            for family in exporter.collect():
                target = merged.get(family.name)
                if target is None:
                    target = Metric(family.name, family.documentation, family.type, family.unit)
                    merged[family.name] = target
                for sample in family.samples:
                    target.samples.append(sample._replace(labels={**sample.labels, "site": site}))
        yield from merged.values()

    def render(self) -> bytes:
        """The exposition text (Prometheus text format 0.0.4), cached ``cache_seconds``."""
        with self._lock:
            made, text = self._rendered
            if time.monotonic() - made >= self.cache_seconds:
                text = generate_latest(self.registry)
                self._rendered = (time.monotonic(), text)
            return text


@router.get(
    METRICS_URL,
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text format 0.0.4: every site's metrics "
            "(docs/connectors.md) with a `site` label",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **error_responses(401, 403, 503),
    },
)
def fleet_metrics(_: Read, request: Request) -> Response:
    """Every site's KPIs, telemetry freshness, ingestion, plans and alarms as Prometheus
    metrics, labelled by ``site`` (needs the ``read`` scope)."""
    exporter: FleetMetrics = request.app.state.metrics
    return Response(exporter.render(), media_type=CONTENT_TYPE)


def install_fleet_metrics(app: FastAPI, fleet: FleetTwin) -> FleetMetrics:
    """Add ``GET /metrics`` for ``fleet`` to ``app``; the exporter is ``app.state.metrics``."""
    exporter = FleetMetrics(fleet)
    app.state.metrics = exporter
    app.include_router(router)
    return exporter
