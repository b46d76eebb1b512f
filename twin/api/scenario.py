"""The scenario in force (read, replace) and the parameters calibrated against it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from twin.api.deps import API, Admin, CurrentTwin, Read, scenario_invalid
from twin.scenario.loader import ScenarioError

router = APIRouter(prefix=API)
"""The scenario and calibration routes."""


class ScenarioBody(BaseModel):
    """A full scenario (same fields as the YAML file; see `dctwin schema`)."""

    scenario: dict[str, Any]


@router.get("/scenario")
def get_scenario(_: Read, twin: CurrentTwin) -> dict[str, Any]:
    """The scenario in force (as written, before re-anchoring on today)."""
    return twin.base_data


@router.put("/scenario")
def put_scenario(body: ScenarioBody, who: Admin, twin: CurrentTwin) -> dict[str, Any]:
    """Replace the scenario after validation (422 with one line per problem)."""
    try:
        twin.replace_scenario(body.scenario, actor=who)
    except ScenarioError as exc:
        raise scenario_invalid(exc) from exc
    return {"status": "replaced", "facility": twin.facility.name}


@router.get("/calibration")
def calibration(_: Read, twin: CurrentTwin) -> dict[str, Any]:
    """Calibrated parameters with uncertainty and their history."""
    return {
        "status": twin.calibrator.status(),
        "history": [dict(v) for v in twin.store.parameter_history(limit=500)],
    }
