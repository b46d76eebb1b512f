"""The autonomy's guardrails: when a re-plan may be applied without an operator.

Under :attr:`twin.live.live_twin.LiveSettings.autonomy` a verified re-plan is approved by
the twin itself only when :func:`guardrail_problems` finds nothing; otherwise it waits as a
proposal and the reasons are audited (``hold``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from twin.live.control.approval import describe

if TYPE_CHECKING:
    from optimizer.plan import Plan
    from twin.live.live_twin import LiveTwin

__all__ = ["guardrail_problems"]


def guardrail_problems(
    twin: LiveTwin, result: Plan, start: int, plan_id: str | None = None
) -> list[str]:
    """Why the autonomy may not apply ``result`` (a plan starting at step ``start`` of
    ``twin``'s window) by itself (empty: it may): it must be verified, move no supply
    setpoint more than ``max_setpoint_step`` [K] at once, keep setpoints in their units'
    bounds [°C], leave tier-1 work as operated and (stored as ``plan_id``) move nothing an
    active, unshelved critical alarm is on (an override is an operator's decision)."""
    problems: list[str] = []
    if plan_id is not None:
        alarms = [a for a in twin.plan_alarms(plan_id) if not a["shelved"]]
        if alarms:
            problems.append(f"critical alarm(s) active on what it moves: {describe(alarms)}")
    if not result.verified:
        problems.append("plan not verified")
    units = twin.facility.units
    current = twin.schedule.supply_temperature[start]
    first = result.schedule.supply_temperature[0]
    step = np.abs(first - current)
    if step.max() > twin.settings.max_setpoint_step + 1e-9:
        u = int(step.argmax())
        problems.append(
            f"supply setpoint of {units.ids[u]} would move {step[u]:.2f} K at once "
            f"(limit {twin.settings.max_setpoint_step:g} K)"
        )
    low = result.schedule.supply_temperature < units.supply_temperature_min - 1e-9
    high = result.schedule.supply_temperature > units.supply_temperature_max + 1e-9
    if low.any() or high.any():
        problems.append("a supply setpoint leaves its unit's bounds")
    tier1 = twin.facility.workloads.tier == 1
    if tier1.any():
        steps = result.schedule.workload_power.shape[0]
        planned = result.schedule.workload_power[:, tier1]
        baseline = twin.baseline.workload_power[start : start + steps][:, tier1]
        if not np.allclose(planned, baseline, rtol=1e-6, atol=1.0):
            problems.append("tier-1 work would be changed")
    return problems
