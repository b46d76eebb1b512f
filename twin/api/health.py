"""Liveness (``GET /api/v1/health``) and, without a web UI, ``/`` → the API documentation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import RedirectResponse

from twin.api.deps import API, CurrentTwin

root_router = APIRouter()
"""``/`` redirected to ``/docs`` (included only when no web UI is mounted at ``/``)."""

router = APIRouter(prefix=API)
"""The health route."""


@root_router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    """Without a web UI: the interactive API documentation."""
    return RedirectResponse("/docs")


@router.get("/health")
def health(twin: CurrentTwin) -> dict[str, Any]:
    """Liveness: the twin answers, the store answers, when the last reading came."""
    state = twin.estimator.state(twin.clock())
    return {
        "status": "ok",
        "facility": twin.facility.name,
        "stale": bool(state.stale),
        "readings_processed": twin.processed,
    }
