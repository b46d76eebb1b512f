"""The scenario in force (read, replace) and the parameters calibrated against it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from twin.api.deps import API, Admin, CurrentTwin, Read, invalid, scenario_invalid
from twin.api.untrusted import check_depth, check_text, server_series
from twin.data.series import scenario_series
from twin.data.validation import SeriesError
from twin.scenario.loader import ScenarioError, scenario_from_dict

router = APIRouter(prefix=API)
"""The scenario and calibration routes."""


class ScenarioBody(BaseModel):
    """A full scenario (same fields as the YAML file; see `dctwin schema`)."""

    scenario: dict[str, Any] = Field(
        description="The scenario (see `dctwin schema`). Series are given as data (values, "
        "constant, generate) or a zone of the server's data; file and data_dir are refused "
        "unless they repeat a series source of the scenario in force unchanged."
    )


@router.get("/scenario")
def get_scenario(_: Read, twin: CurrentTwin) -> dict[str, Any]:
    """The scenario in force (as written, before re-anchoring on today)."""
    return twin.base_data


@router.put("/scenario")
def put_scenario(
    body: ScenarioBody, who: Admin, twin: CurrentTwin, request: Request
) -> dict[str, Any]:
    """Replace the scenario after validation (422 with one line per problem)."""
    where = ("body", "scenario")
    check_depth(body.scenario, where)
    check_text(body.scenario, where)
    data = server_series(
        body.scenario,
        twin.base_data,
        data_root=request.app.state.data_root,
        scenario_dir=twin.scenario_dir,
        where=where,
    )
    try:
        scenario_from_dict(data)  # as written, before the live window is set on it
        # the series read before the twin switches, so a bad one leaves it untouched
        scenario_series(twin.live_scenario(data), twin.scenario_dir)
        twin.replace_scenario(data, actor=who)
    except ScenarioError as exc:
        raise scenario_invalid(exc, where) from exc
    except SeriesError as exc:
        raise invalid((*where, "series"), str(exc)) from exc
    return {"status": "replaced", "facility": twin.facility.name}


@router.get("/calibration")
def calibration(_: Read, twin: CurrentTwin) -> dict[str, Any]:
    """Calibrated parameters with uncertainty and their history."""
    return {
        "status": twin.calibrator.status(),
        "history": [dict(v) for v in twin.store.parameter_history(limit=500)],
    }
