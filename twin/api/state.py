"""The estimated state: the whole hall, or one rack."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from twin.api.deps import API, CurrentTwin, Read, error_responses

router = APIRouter(prefix=API)
"""The state routes."""


@router.get("/state")
def get_state(_: Read, twin: CurrentTwin) -> dict[str, Any]:
    """Current estimated state: per-rack inlet (°C, std K, measured or virtual, margin K),
    battery SOC (-), job energy (kWh), power chain, KPIs (kW, USD/MWh, g/kWh)."""
    return twin.state()


@router.get("/state/racks/{rack}", responses=error_responses(404))
def get_rack(rack: str, _: Read, twin: CurrentTwin) -> dict[str, Any]:
    """One rack's estimated state."""
    try:
        return twin.estimator.state(twin.clock()).rack(rack)
    except KeyError as exc:
        raise HTTPException(404, f"unknown rack {rack!r}") from exc
