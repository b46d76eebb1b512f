"""Read models of the Plan page: the stored plans and one plan with everything it draws.

* :func:`plans` — stored plans, newest first, without schedules.
* :func:`plan_view` — a stored plan with its signals, grid import vs both baselines, SOC,
  setpoints, job windows, verification and shadow prices.

Conventions as in :mod:`ui.views`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from optimizer.baselines import as_operated, rule_based
from optimizer.state import PlanState, StateError, apply_state
from physics.constants import WATTS_PER_KILOWATT as KW
from physics.facility import Facility
from physics.schedule import Schedule
from physics.simulate import simulate
from twin.live.control.preview import run_intervals
from ui.views import ViewCache, json_number, json_numbers

if TYPE_CHECKING:
    from twin.live.live_twin import LiveTwin


def plans(twin: LiveTwin, limit: int = 20) -> list[dict[str, Any]]:
    """Stored plans, newest first, without schedules: id, created (ISO UTC), status, figures.

    Parameters
    ----------
    twin
        The live twin.
    limit
        Largest number of plans [-].
    """
    out = []
    for record in twin.store.list_plans(limit=limit):
        summary = (record.get("payload") or {}).get("summary") or {}
        out.append(
            {
                "id": record["id"],
                "created": record["created"].isoformat(),
                "status": record["status"],
                "verified": bool(summary.get("verified")),
                "plan_status": summary.get("status"),
                "cost": json_number(summary.get("cost")),
            }
        )
    return out


def _schedule(payload: dict[str, Any], twin: LiveTwin) -> Schedule:
    from twin.live.control.payload import schedule_from_json

    return schedule_from_json(payload["schedule"], twin.facility)


def plan_view(
    twin: LiveTwin, plan_id: str | None = None, cache: ViewCache | None = None
) -> dict[str, Any] | None:
    """One stored plan with everything the Plan page draws (None when there is no plan).

    The plan and both baselines (*as operated*, *rule based*) are simulated by the physics
    over the plan's window with the calibrated facility (cached per plan).

    Parameters
    ----------
    twin
        The live twin.
    plan_id
        Plan id; default: the newest plan.
    cache
        The twin's view cache (none: simulate the plan every time).

    Returns
    -------
    dict or None
        ``id``, ``status``, ``created``, ``decided_by``, ``reason``; ``time`` (ISO UTC);
        ``price`` [currency/MWh], ``carbon_intensity`` [g/kWh]; ``grid_import_kw`` with keys
        ``plan``, ``as_operated``, ``rule_based`` [kW]; ``battery_soc`` [-] per case;
        ``supply_temperature_c`` per cooling unit [°C]; ``chilled_water_temperature_c`` [°C];
        ``jobs`` (every workload, paused ones included: ``job``, ``tier``, ``runs``: each run
        ``[start ISO UTC, end ISO UTC, mean kW]``, ``start`` and ``end`` of the first and last
        run or None, ``energy_kwh``);
        ``verified``, ``plan_status``, ``violations``, ``explanation``, ``figures``
        (cost [currency], carbon_kg [kg], peak_grid_kw [kW], cooling_energy_kwh [kWh]),
        ``baselines``, ``shadow_prices``, ``plan_source`` and ``plan_choice`` (as in
        :meth:`optimizer.plan.Plan.to_json`).
    """
    if plan_id is None:
        listed = twin.store.list_plans(limit=1)
        if not listed:
            return None
        plan_id = listed[0]["id"]
    record = twin.store.get_plan(plan_id)
    if record is None:
        return None
    payload = record["payload"] or {}
    summary = payload.get("summary") or {}
    key = (plan_id, id(twin.facility))
    if cache is None:
        simulated = _simulate_plan(twin, payload)
    else:
        simulated = cache.plan(key, lambda: _simulate_plan(twin, payload))
    keys = ("cost", "energy_cost", "demand_charge", "carbon_kg", "peak_grid_kw")
    return {
        "id": plan_id,
        "status": record["status"],
        "created": record["created"].isoformat(),
        "decided_by": record.get("decided_by"),
        "reason": record.get("reason"),
        "verified": bool(summary.get("verified")),
        "plan_status": summary.get("status"),
        "violations": list(summary.get("violations") or []),
        "explanation": summary.get("explanation"),
        "figures": {k: summary.get(k) for k in (*keys, "cooling_energy_kwh") if k in summary},
        "baselines": summary.get("baselines") or {},
        "savings": summary.get("savings_vs_as_operated"),
        "shadow_prices": summary.get("shadow_prices") or {},
        "twin_check": summary.get("twin_check"),
        "plan_source": summary.get("plan_source"),
        "plan_choice": summary.get("plan_choice") or {},
        "curve_range": summary.get("curve_range")
        or (summary.get("twin_check") or {}).get("curve_range")
        or {},
        **simulated,
    }


def _start(twin: LiveTwin, payload: dict[str, Any]) -> tuple[Facility, PlanState | None]:
    """The calibrated facility as the plan saw it from its start state (work done, battery
    SOC) and that state (billing peak so far), so that the baselines drawn start from it as
    the plan's own did; the facility alone when the plan kept no state."""
    facility = twin.calibrated_facility()
    stored = (payload.get("summary") or {}).get("start_state")
    if stored is None:
        return facility, None
    try:
        state = PlanState.from_json(stored).restricted_to(facility)
        return apply_state(facility, state), state
    except StateError:
        return facility, None


def _simulate_plan(twin: LiveTwin, payload: dict[str, Any]) -> dict[str, Any]:
    schedule_data = payload["schedule"]
    start = int(payload["start_index"])
    steps = len(schedule_data["time"])
    window = twin.series.isel(time=slice(start, start + steps))
    facility, state = _start(twin, payload)
    planned = _schedule(payload, twin)
    steps = min(steps, window.sizes["time"])
    planned = Schedule(
        supply_temperature=planned.supply_temperature[:steps],
        chilled_water_temperature=planned.chilled_water_temperature[:steps],
        battery_power=planned.battery_power[:steps],
        workload_power=planned.workload_power[:steps],
    )
    cases = {
        "plan": planned,
        "as_operated": as_operated(facility, window, state),
        "rule_based": rule_based(facility, window, state=state).schedule,
    }
    grid: dict[str, list[float | None]] = {}
    soc: dict[str, list[float | None]] = {}
    for name, schedule in cases.items():
        result = simulate(facility, schedule, window, per_rack=False)
        grid[name] = json_numbers(result["grid_power"].values / KW)
        soc[name] = json_numbers(result["battery_soc"].values)
    times = pd.DatetimeIndex(window["time"].values).tz_localize("UTC")
    step = twin.step_seconds
    jobs = []
    work = twin.facility.workloads
    durations = np.full(len(times), step, dtype=float)
    for j, job in enumerate(work.ids):
        power = np.asarray(planned.workload_power[:, j], dtype=float)
        runs = run_intervals(list(times), durations, power / KW)
        jobs.append(
            {
                "job": job,
                "tier": int(work.tier[j]),
                "runs": runs,
                "start": runs[0][0] if runs else None,
                "end": runs[-1][1] if runs else None,
                "energy_kwh": round(float(power.sum()) * step / 3.6e6, 3),
            }
        )
    return {
        "time": [t.isoformat() for t in times],
        "price": json_numbers(window["price"].values) if "price" in window else [],
        "carbon_intensity": (
            json_numbers(window["carbon_intensity"].values) if "carbon_intensity" in window else []
        ),
        "grid_import_kw": grid,
        "battery_soc": soc,
        "supply_temperature_c": {
            unit: json_numbers(planned.supply_temperature[:, u])
            for u, unit in enumerate(twin.facility.units.ids)
        },
        "chilled_water_temperature_c": json_numbers(planned.chilled_water_temperature),
        "jobs": jobs,
    }


__all__ = [
    "plan_view",
    "plans",
]
