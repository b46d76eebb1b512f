"""What a re-plan of the live twin starts from, and how far it looks ahead.

:func:`plan_state` gathers the :class:`optimizer.state.PlanState` of the hall now: work done
per job and the battery SOC from the state estimator, the billing peak so far from the
measured grid import, the setpoints in force.  :func:`lookahead_steps` stretches the committed
horizon to the deadlines of the jobs active in it, within the live window.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from optimizer.accounting import billing_labels
from optimizer.horizon import lookahead_end
from optimizer.state import PlanState
from physics.facility import Facility
from physics.schedule import Schedule
from twin.live.estimation import EstimatedState
from twin.store.store import Store


def plan_state(
    facility: Facility,
    state: EstimatedState,
    schedule: Schedule,
    step: int,
    store: Store,
    now: datetime,
    step_seconds: float,
    window_start: datetime,
) -> PlanState:
    """The state a re-plan starts from.

    Parameters
    ----------
    facility
        The (calibrated) facility.
    state
        The estimator's state now: work done per job [kWh], battery SOC [-].
    schedule
        The schedule in force; ``step`` its step now (setpoints in force [°C]).
    store
        Where the measured ``grid/power`` [kW] gives the billing peak so far (mean per step
        since the billing period began).
    now
        The instant (timezone-aware).
    step_seconds
        Step of the live window [s].
    window_start
        Start of the live window (the billing period of ``billing_period: window``).
    """
    work = facility.workloads
    tier3 = {work.ids[j] for j in np.flatnonzero(work.tier == 3)}
    done = {k: float(v) for k, v in (state.job_energy_kwh or {}).items() if k in tier3}
    soc = None
    if facility.battery is not None and state.soc is not None:
        soc = float(np.clip(state.soc, facility.battery.soc_min, facility.battery.soc_max))
    moment = np.datetime64(now.astimezone(UTC).replace(tzinfo=None), "ns")
    label = str(billing_labels(facility, np.array([moment]))[0])
    return PlanState(
        time=now,
        job_energy_done=done,
        battery_soc=soc,
        peak_so_far_kw=_billing_peak(store, facility, now, label, step_seconds, window_start),
        billing_period=label,
        supply_temperature={
            unit: float(schedule.supply_temperature[step, u])
            for u, unit in enumerate(facility.units.ids)
        },
        chilled_water_temperature=float(schedule.chilled_water_temperature[step]),
    )


def _billing_peak(
    store: Store,
    facility: Facility,
    now: datetime,
    label: str,
    step_seconds: float,
    window_start: datetime,
) -> float:
    """Highest measured grid import [kW] (mean per step) in this billing period so far."""
    if label == "window":
        begin = window_start
    else:
        local = pd.Timestamp(now).tz_convert(facility.timezone)
        begin = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).to_pydatetime()
    try:
        _, values = store.downsample(
            "grid/power", begin, now, timedelta(seconds=step_seconds), "mean"
        )
    except (KeyError, ValueError):
        return 0.0
    finite = [v for v in values if np.isfinite(v)]
    return float(max(finite)) if finite else 0.0


def lookahead_steps(
    facility: Facility,
    state: PlanState,
    first: datetime,
    committed: int,
    available: int,
    step_seconds: float,
    cap_hours: float,
) -> int:
    """Steps of a re-plan: the ``committed`` steps from ``first``, stretched to the latest
    deadline of a job active in them (at most ``cap_hours`` [h] and the ``available`` steps
    left in the live window)."""
    start = np.datetime64(first.astimezone(UTC).replace(tzinfo=None), "ns")
    step = np.timedelta64(round(step_seconds * 1e9), "ns")
    end = lookahead_end(facility, start, start + committed * step, cap_hours, state.job_energy_done)
    wanted = int(np.ceil((end - start) / step))
    return int(min(max(wanted, committed, 2), available))
