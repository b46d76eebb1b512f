"""What-if: plan a modified scenario from now and compare it with the scenario in force.

Both sides are planned over the same window from the current step with the calibrated
parameters, and both are verified on the twin as it is calibrated now: the physics with the
calibrated factors *and* the per-rack inlet offsets
(:func:`twin.live.control.verification.plan_on_twin`); each side's ``twin_check`` gives its
max inlet and smallest margin with the offsets in.

The work of one what-if is bounded (:class:`WhatIfLimits`, checked before anything is built):
at most 2,000 racks, a horizon of at most 168 h and 672 steps, a step of at least 5 min
(the live window is 7 days: at most 2,016 steps), at most 10,000 inline series values per
source, and at most 30 s of solver time per solve.  Beyond them the what-if is refused with
one line per limit crossed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from optimizer.plan import COMPARED, PlanOptions, plan
from optimizer.state import PlanState, apply_state
from physics.facility import Facility
from twin.data.series import scenario_series
from twin.live.control.verification import plan_on_twin
from twin.live.live_twin import MIN_LIVE_STEP, LiveTwin
from twin.live.parameters import apply
from twin.live.plan_state import lookahead_steps, plan_state
from twin.scenario.compile import compile_facility
from twin.scenario.loader import ScenarioError
from twin.scenario.schema import Scenario


@dataclass(frozen=True)
class WhatIfLimits:
    """Bounds on the work of one what-if (documented in the module docstring).

    Attributes
    ----------
    max_racks
        Most racks of the modified scenario [racks].
    max_horizon_hours
        Longest planning horizon [h].
    max_steps
        Most steps in the planning horizon [steps].
    min_step
        Shortest time step (the live window is 7 days long).
    max_series_values
        Most inline values of one series source [values].
    time_limit_s
        Solver time limit per solve [s] (the twin's own limit applies when lower).
    """

    max_racks: int = 2_000
    max_horizon_hours: float = 168.0
    max_steps: int = 672
    min_step: timedelta = MIN_LIVE_STEP
    max_series_values: int = 10_000
    time_limit_s: float = 30.0


def raw_limit_problems(data: Mapping[str, Any], limits: WhatIfLimits) -> list[str]:
    """Limits a scenario mapping crosses before it is validated (cheap: nothing is built).

    Parameters
    ----------
    data
        The modified scenario as plain data.
    limits
        The bounds.

    Returns
    -------
    list of str
        One line per limit crossed (empty: within bounds).
    """
    racks = data.get("racks")
    rows = data.get("rows")
    count = len(racks) if isinstance(racks, list) else 0
    for row in rows if isinstance(rows, list) else []:
        number = row.get("count") if isinstance(row, Mapping) else None
        count += number if isinstance(number, int) and not isinstance(number, bool) else 0
    problems = []
    if count > limits.max_racks:
        problems.append(
            f"racks/rows: {count:,} racks; a what-if plans at most {limits.max_racks:,}"
        )
    series = data.get("series")
    for index, source in enumerate(series if isinstance(series, list) else []):
        values = source.get("values") if isinstance(source, Mapping) else None
        if isinstance(values, list) and len(values) > limits.max_series_values:
            problems.append(
                f"series[{index}].values: {len(values):,} values; at most "
                f"{limits.max_series_values:,} per source"
            )
    return problems


def limit_problems(scenario: Scenario, horizon_hours: float, limits: WhatIfLimits) -> list[str]:
    """Limits a validated what-if crosses (racks, horizon, steps, step length).

    Parameters
    ----------
    scenario
        The modified scenario, validated on the live window.
    horizon_hours
        Planning horizon asked for [h].
    limits
        The bounds.

    Returns
    -------
    list of str
        One line per limit crossed (empty: within bounds).
    """
    problems = []
    racks = len(scenario.racks) + sum(row.count for row in scenario.rows)
    if racks > limits.max_racks:
        problems.append(
            f"racks/rows: {racks:,} racks; a what-if plans at most {limits.max_racks:,}"
        )
    step = scenario.simulation.step
    if step < limits.min_step:
        problems.append(f"simulation.step: {step}; a what-if steps at least {limits.min_step}")
    if horizon_hours > limits.max_horizon_hours:
        problems.append(
            f"horizon_hours: {horizon_hours:g} h; at most {limits.max_horizon_hours:g} h"
        )
    steps = max(1, round(horizon_hours * 3600 / step.total_seconds()))  # as the twin rounds
    if steps > limits.max_steps:
        problems.append(
            f"horizon_hours: {steps:,} steps of {step}; a what-if plans at most "
            f"{limits.max_steps:,} steps"
        )
    if steps < 2:
        problems.append(f"horizon_hours: {horizon_hours:g} h is shorter than two steps of {step}")
    return problems


def _figures(result: Any) -> dict[str, Any]:
    data = result.to_json()
    keep = (
        "status",
        "verified",
        "plan_source",
        "plan_choice",
        "violations",
        *COMPARED,
        "energy_cost",
        "demand_charge",
        "baselines",
        "explanation",
    )
    return {k: data[k] for k in keep if k in data}


def compare(
    twin: LiveTwin,
    data: Mapping[str, Any],
    *,
    horizon_hours: float = 24.0,
    progress: Callable[[float, str], None] | None = None,
    limits: WhatIfLimits | None = None,
) -> dict[str, Any]:
    """Plan ``data`` (a full scenario mapping) and the current scenario; report both.

    Parameters
    ----------
    twin
        The live twin (its clock, calibration and current scenario).
    data
        The modified scenario.
    horizon_hours
        Committed period [h]; both plans look ahead to the deadlines of the jobs active in it
        (the same look-ahead for both, so the figures compare equal work).
    progress
        ``progress(fraction [-], message)`` called between the steps (a background job's).
    limits
        Bounds on the work (default :class:`WhatIfLimits`).

    Returns
    -------
    dict
        ``horizon_hours`` (committed) and ``lookahead_hours`` (what every figure covers) [h],
        ``current`` and ``modified`` figures (verified on the calibrated twin, with its
        ``twin_check``: max inlet [°C], smallest margin [K]), ``difference`` = modified − current
        for cost [currency], carbon [kg], peak [kW] and cooling energy [kWh], ``time`` (ISO
        UTC) and ``grid_import_kw`` of both plans per step [kW].

    Raises
    ------
    twin.scenario.ScenarioError
        The modified scenario is invalid, or crosses a limit (one message per problem).
    twin.data.validation.SeriesError
        A series of the modified scenario cannot be read.
    """

    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, message)

    limits = limits or WhatIfLimits()
    report(0.02, "checking the modified scenario")
    problems = raw_limit_problems(data, limits)
    if problems:
        raise ScenarioError("what-if", problems)
    now = twin.clock()
    scenario = twin.live_scenario(data)  # on the twin's window, not re-anchored on today
    problems = limit_problems(scenario, horizon_hours, limits)
    if problems:
        raise ScenarioError("what-if", problems)
    facility = compile_facility(scenario)
    series = scenario_series(scenario, twin.scenario_dir)
    start = twin.step_index(now)
    current_facility = twin.calibrated_facility()
    state = plan_state(
        current_facility,
        twin.estimator.state(now),
        twin.schedule,
        start,
        twin.store,
        now,
        twin.step_seconds,
        twin.times[0].to_pydatetime(),
    )
    modified_state = state.restricted_to(facility)
    steps = _common_lookahead(
        twin, start, horizon_hours, ((current_facility, state), (facility, modified_state))
    )
    window = slice(start, start + steps)
    options = PlanOptions(
        time_limit=min(twin.settings.plan_time_limit_s, limits.time_limit_s),
        shadow_prices=False,
        committed_hours=horizon_hours,
    )
    report(0.1, f"planning the modified scenario ({facility.racks.count} racks, {steps} steps)")
    modified, modified_check = plan_on_twin(
        _calibrated(facility, twin.parameters),
        _offsets(facility, twin.parameters),
        series.isel(time=window),
        options,
        modified_state,
        planner=plan,
    )
    report(0.55, "planning the current scenario")
    current, current_check = plan_on_twin(
        current_facility,
        twin.parameters.offsets(twin.facility),
        twin.series.isel(time=window),
        options,
        state,
        planner=plan,
    )
    report(0.95, "comparing")
    a, b = _figures(current), _figures(modified)
    a["twin_check"], b["twin_check"] = current_check.to_dict(), modified_check.to_dict()
    times = pd.DatetimeIndex(modified.result["time"].values).tz_localize("UTC")
    return {
        "horizon_hours": horizon_hours,
        "lookahead_hours": steps * twin.step_seconds / 3600.0,
        "current": a,
        "modified": b,
        "difference": {k: b[k] - a[k] for k in COMPARED if k in a and k in b},
        "time": [t.isoformat() for t in times],
        "grid_import_kw": {
            "current": _kw_list(current.result["grid_power"].values),
            "modified": _kw_list(modified.result["grid_power"].values),
        },
    }


def _common_lookahead(
    twin: LiveTwin,
    start: int,
    horizon_hours: float,
    sides: tuple[tuple[Facility, PlanState], ...],
) -> int:
    """Steps of the look-ahead both sides are planned over: the longer of what each one's
    deadlines need from ``start`` for a committed ``horizon_hours`` [h] (equal work)."""
    committed = twin.horizon_steps(horizon_hours)
    return max(
        lookahead_steps(
            apply_state(side, side_state),
            side_state,
            twin.times[start].to_pydatetime(),
            committed,
            len(twin.times) - start,
            twin.step_seconds,
            twin.settings.lookahead_cap_hours,
        )
        for side, side_state in sides
    )


def _kw_list(watts: Any) -> list[float | None]:
    """Powers [W] as a JSON list [kW] (None where not finite)."""
    return [float(v) / 1e3 if math.isfinite(v) else None for v in np.asarray(watts, dtype=float)]


def _offsets(facility: Any, params: Any) -> Any:
    """The calibrated inlet offsets [K] when the racks match; else none (zeros)."""
    try:
        return params.offsets(facility)
    except ValueError:
        return np.zeros(facility.racks.count)


def _calibrated(facility: Any, params: Any) -> Any:
    """Apply calibrated parameters when the equipment matches (same racks); else nominal."""
    try:
        return apply(facility, params)
    except (ValueError, IndexError):
        return facility
