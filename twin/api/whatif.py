"""What-if: plan a modified scenario (a JSON merge patch of the current one) and compare."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from twin.api.deps import API, CurrentTwin, Read, scenario_invalid
from twin.live.whatif import compare
from twin.scenario.loader import ScenarioError

router = APIRouter(prefix=API)
"""The what-if route."""


class WhatIf(BaseModel):
    """A modified scenario to plan and compare with the current one."""

    changes: dict[str, Any] = Field(
        description="JSON merge patch applied to the current scenario (objects merge, "
        "lists and values replace, null deletes)"
    )
    horizon_hours: float = Field(default=24.0, gt=0, le=168, description="Planning horizon [h]")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


@router.post("/whatif")
def whatif(body: WhatIf, _: Read, twin: CurrentTwin) -> dict[str, Any]:
    """Plan a modified scenario and compare it with the current one (both verified)."""
    data = merge_patch(twin.base_data, body.changes)
    try:
        return compare(twin, data, horizon_hours=body.horizon_hours)
    except ScenarioError as exc:
        raise scenario_invalid(exc) from exc
