"""What-if: plan a modified scenario from now and compare it with the scenario in force.

Both sides are planned over the same window from the current step with the calibrated
parameters, and both are verified by the physics (:func:`optimizer.plan.plan`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from optimizer.plan import COMPARED, PlanOptions, plan
from twin.compile import compile_facility
from twin.parameters import apply
from twin.scenario import scenario_from_dict
from twin.series import scenario_series

if TYPE_CHECKING:
    from twin.live import LiveTwin


def _figures(result: Any) -> dict[str, Any]:
    data = result.to_json()
    keep = (
        "status",
        "verified",
        "violations",
        *COMPARED,
        "energy_cost",
        "demand_charge",
        "baselines",
        "explanation",
    )
    return {k: data[k] for k in keep if k in data}


def compare(
    twin: LiveTwin, data: Mapping[str, Any], *, horizon_hours: float = 24.0
) -> dict[str, Any]:
    """Plan ``data`` (a full scenario mapping) and the current scenario; report both.

    Parameters
    ----------
    twin
        The live twin (its clock, calibration and current scenario).
    data
        The modified scenario.
    horizon_hours
        Planning horizon [h].

    Returns
    -------
    dict
        ``current`` and ``modified`` figures (verified), and ``difference`` = modified −
        current for cost [currency], carbon [kg], peak [kW] and cooling energy [kWh].

    Raises
    ------
    twin.scenario.ScenarioError
        The modified scenario is invalid (one message per problem).
    """
    from twin.live import live_scenario_dict

    now = twin.clock()
    scenario = scenario_from_dict(live_scenario_dict(data, now))
    facility = compile_facility(scenario)
    series = scenario_series(scenario, twin.scenario_dir)
    start = twin.step_index(now)
    steps = max(1, round(horizon_hours * 3600 / twin._step_seconds()))
    options = PlanOptions(time_limit=twin.settings.plan_time_limit_s, shadow_prices=False)
    params = twin.parameters
    modified = plan(
        _calibrated(facility, params), series.isel(time=slice(start, start + steps)), options
    )
    current = plan(
        twin.calibrated_facility(), twin.series.isel(time=slice(start, start + steps)), options
    )
    a, b = _figures(current), _figures(modified)
    return {
        "horizon_hours": horizon_hours,
        "current": a,
        "modified": b,
        "difference": {k: b[k] - a[k] for k in COMPARED if k in a and k in b},
    }


def _calibrated(facility: Any, params: Any) -> Any:
    """Apply calibrated parameters when the equipment matches (same racks); else nominal."""
    try:
        return apply(facility, params)
    except (ValueError, IndexError):
        return facility
