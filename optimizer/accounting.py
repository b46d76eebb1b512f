"""The bill and the contracts of a simulated schedule, the same for a plan and its baselines.

* :func:`billing_labels` and :func:`demand_charge`: the demand charge is billed per billing
  period (calendar months in the site's timezone by default) on the period's highest import;
  a plan pays only what it adds to the peak already set earlier in the period
  (``rate × (max(peak so far, new peak) − peak so far)``).
* :func:`demand_response_terms`: priced demand-response caps (a penalty per kWh above the
  cap) and credits (per kWh below the programme's baseline) during events.
* :func:`verified_figures`: cost and KPIs of a simulated schedule, from the physics result.
* :func:`sla_report`: each workload's service contract, delivered or not: tier-3 energy by its
  deadline, tier-2 delay, tier 1 untouched.

Powers in W inside arrays, reported in kW; energies reported in kWh; money in the scenario's
currency; times UTC.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from numpy.typing import NDArray

from optimizer.state import PlanState
from physics.constants import JOULES_PER_KWH, SECONDS_PER_HOUR, WATTS_PER_KILOWATT
from physics.facility import Facility
from physics.schedule import Schedule

FloatArray = NDArray[np.float64]
TimeArray = NDArray[np.datetime64]

ENERGY_TOLERANCE_KWH = 0.5
"""A contract counts as met when at most this much energy is missing [kWh] (rounding of the
verified simulation, far below a step of any job)."""


def billing_labels(facility: Facility, time: TimeArray) -> NDArray[np.str_]:
    """The billing period of every step: ``"2026-07"`` (month in the site's timezone) or
    ``"window"`` for ``billing_period: window``."""
    if facility.grid.billing_period == "window":
        return np.full(len(time), "window")
    index = pd.DatetimeIndex(np.asarray(time, dtype="datetime64[ns]")).tz_localize("UTC")
    try:
        local = index.tz_convert(facility.timezone)
    except (KeyError, ValueError):  # an unknown zone never reaches here from a scenario
        local = index
    return np.asarray(local.strftime("%Y-%m"), dtype=str)


def month_starts(facility: Facility, time: TimeArray) -> list[np.datetime64]:
    """Instants (UTC) where a new billing period begins inside ``time``."""
    labels = billing_labels(facility, time)
    edges = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    return [np.datetime64(time[i], "ns") for i in edges]


def billed_before(facility: Facility, time: TimeArray, state: PlanState | None) -> FloatArray:
    """The grid import already billed in each step's billing period before the window [W].

    ``state.peak_so_far_kw`` in the steps of ``state.billing_period``, 0 elsewhere (and
    everywhere without a state): importing up to it costs no demand charge.

    Parameters
    ----------
    facility
        Compiled facility (billing period, timezone).
    time
        Step starts, UTC, shape (N,).
    state
        The state the window starts from, or None.

    Returns
    -------
    numpy.ndarray
        Peak already billed [W], shape (N,).
    """
    before = np.zeros(len(time))
    if state is None or state.billing_period is None or not state.peak_so_far_kw > 0.0:
        return before
    labels = billing_labels(facility, time)
    before[labels == state.billing_period] = state.peak_so_far_kw * WATTS_PER_KILOWATT
    return before


def demand_charge(
    facility: Facility,
    time: TimeArray,
    grid_kw: FloatArray,
    state: PlanState | None = None,
) -> tuple[float, dict[str, float]]:
    """Demand charge of a window [currency] and the peak per billing period [kW].

    Parameters
    ----------
    facility
        Compiled facility (rate, billing period, timezone).
    time
        Step starts, UTC, shape (N,).
    grid_kw
        Grid import per step [kW], shape (N,).
    state
        Peak so far in the billing period of ``state.billing_period`` [kW].

    Returns
    -------
    tuple
        ``rate × Σ (max(peak so far, peak) − peak so far)`` over the billing periods the
        window touches, and each period's peak (including the peak so far).
    """
    labels = billing_labels(facility, time)
    rate = facility.grid.demand_charge * WATTS_PER_KILOWATT  # currency/kW
    charge = 0.0
    peaks: dict[str, float] = {}
    for label in dict.fromkeys(labels.tolist()):
        before = (
            state.peak_so_far_kw if state is not None and state.billing_period == label else 0.0
        )
        peak = max(float(np.max(grid_kw[labels == label])), before, 0.0)
        peaks[label] = peak
        charge += rate * (peak - before)
    return charge, peaks


def demand_response_terms(
    series: xr.Dataset, grid_kw: FloatArray, hours: FloatArray
) -> tuple[float, float, float]:
    """Penalty and credit of priced demand-response events [currency], and the energy above
    hard caps [kWh] (a violation, reported elsewhere; 0 when none)."""
    penalty = credit = above_hard = 0.0
    if "dr_soft_cap" in series and "dr_penalty" in series:
        cap = series["dr_soft_cap"].values / WATTS_PER_KILOWATT
        price = series["dr_penalty"].values
        over = np.where(np.isfinite(cap), np.clip(grid_kw - cap, 0.0, None), 0.0)
        penalty = float(np.sum(np.nan_to_num(price) * over * hours))
    if "dr_credit" in series and "dr_baseline" in series:
        baseline = series["dr_baseline"].values / WATTS_PER_KILOWATT
        price = series["dr_credit"].values
        shed = np.where(np.isfinite(baseline), np.clip(baseline - grid_kw, 0.0, None), 0.0)
        credit = float(np.sum(np.nan_to_num(price) * shed * hours))
    if "dr_import_cap" in series:
        cap = series["dr_import_cap"].values / WATTS_PER_KILOWATT
        above_hard = float(
            np.sum(np.where(np.isfinite(cap), np.clip(grid_kw - cap, 0.0, None), 0.0) * hours)
        )
    return penalty, credit, above_hard


def verified_figures(
    facility: Facility,
    schedule: Schedule,
    ds: xr.Dataset,
    deferred_energy_price: float = 0.0,
    state: PlanState | None = None,
    steps: slice | None = None,
) -> dict[str, float]:
    """Cost and KPIs of a simulated schedule, all from the physics result.

    ``cost`` = energy cost + demand charge (per billing period, above the peak so far) +
    demand-response penalties − credits + carbon price × emissions + battery wear + tier-3
    lateness and unserved penalties (soft contracts) + the value of tier-3 energy deferred
    past the look-ahead at ``deferred_energy_price`` [currency/kWh] (so a plan cannot look
    cheaper by pushing work out of the window).

    Parameters
    ----------
    facility, schedule, ds
        The facility, the schedule simulated and its :func:`physics.simulate.simulate` result.
    deferred_energy_price
        Value of tier-3 energy left for after the look-ahead [currency/kWh].
    state
        The state the schedule starts from (its billing peak so far; the facility already
        carries the work left to do, :func:`optimizer.state.apply_state`).
    steps
        Only these steps (e.g. the committed period): figures of that part alone, jobs
        judged over it.
    """
    part = ds if steps is None else ds.isel(time=steps)
    sched = schedule if steps is None else _schedule_part(schedule, steps)
    step = float(ds.attrs["step_seconds"])
    hours = np.full(part.sizes["time"], step / SECONDS_PER_HOUR)
    grid_kw = part["grid_power"].values / WATTS_PER_KILOWATT
    time = part["time"].values
    energy_cost = float(np.sum(grid_kw * part["price"].values / 1e3 * hours))
    carbon_kg = float(np.sum(grid_kw * part["carbon_intensity"].values / 1e3 * hours))
    demand, _ = demand_charge(facility, time, grid_kw, state)
    dr_penalty, dr_credit, _ = demand_response_terms(part, grid_kw, hours)
    throughput = np.abs(sched.battery_power) * step  # J
    wear = float(throughput.sum()) * (facility.battery.wear_cost if facility.battery else 0.0)
    if steps is None:
        wear = float(ds.attrs.get("battery_throughput_joules", throughput.sum())) * (
            facility.battery.wear_cost if facility.battery else 0.0
        )
    lateness, unserved, deferred = _job_penalties(facility, sched, time, step)
    deferred_cost = deferred / JOULES_PER_KWH * deferred_energy_price
    carbon_cost = facility.grid.carbon_price * carbon_kg
    cost = (
        energy_cost
        + demand
        + dr_penalty
        - dr_credit
        + carbon_cost
        + wear
        + lateness
        + unserved
        + deferred_cost
    )
    it_kwh = float(part["it_power"].sum()) * step / SECONDS_PER_HOUR / WATTS_PER_KILOWATT
    return {
        "cost": cost,
        "energy_cost": energy_cost,
        "demand_charge": demand,
        "demand_response_penalty": dr_penalty,
        "demand_response_credit": dr_credit,
        "carbon_cost": carbon_cost,
        "battery_wear_cost": wear,
        "lateness_cost": lateness,
        "unserved_cost": unserved,
        "deferred_cost": deferred_cost,
        "deferred_kwh": deferred / JOULES_PER_KWH,
        "carbon_kg": carbon_kg,
        "peak_grid_kw": float(max(grid_kw.max(), 0.0)),
        "grid_energy_kwh": float(np.sum(grid_kw * hours)),
        "it_energy_kwh": it_kwh,
        "cooling_energy_kwh": float(part["cooling_power"].sum())
        * step
        / SECONDS_PER_HOUR
        / WATTS_PER_KILOWATT,
        "pue": float(part["facility_power"].sum() / part["it_power"].sum()),
        "max_inlet_temperature_c": float(part["max_inlet_temperature"].max()),
    }


def _schedule_part(schedule: Schedule, steps: slice) -> Schedule:
    return Schedule(
        supply_temperature=schedule.supply_temperature[steps],
        chilled_water_temperature=schedule.chilled_water_temperature[steps],
        battery_power=schedule.battery_power[steps],
        workload_power=schedule.workload_power[steps],
    )


def _job_penalties(
    facility: Facility, schedule: Schedule, time_axis: TimeArray, step: float
) -> tuple[float, float, float]:
    """Lateness and unserved penalties of soft jobs [currency] and tier-3 energy deferred past
    the window [J] (the facility's job energies are what is left to do, see
    :func:`optimizer.state.apply_state`)."""
    work = facility.workloads
    lateness = unserved = deferred = 0.0
    end = time_axis + np.timedelta64(int(step * 1e9), "ns")
    for j in np.flatnonzero(work.tier == 3):
        energy = schedule.workload_power[:, j] * step  # J per step
        required = max(float(work.energy[j]), 0.0)
        late_seconds = np.clip((end - work.deadline[j]) / np.timedelta64(1, "s"), 0, None)
        if work.is_soft(int(j)):
            lateness += float(np.sum(energy * late_seconds) * work.lateness_penalty[j])
        # energy that still fits between the window end and the deadline is deferred, not
        # unserved
        after = max((work.deadline[j] - end[-1]) / np.timedelta64(1, "s"), 0.0)
        left = max(required - float(energy.sum()), 0.0)
        missing = max(left - work.max_power[j] * after, 0.0)
        deferred += left - missing
        unserved += missing * float(work.unserved_penalty[j])
    return lateness, unserved, deferred


def sla_report(
    facility: Facility,
    schedule: Schedule,
    time: TimeArray,
    step: float,
    reference: Schedule,
) -> dict[str, dict[str, Any]]:
    """Each workload's service contract over a window: what was due, what was delivered.

    Parameters
    ----------
    facility
        Compiled facility.
    schedule
        The schedule judged, on the fine axis ``time``.
    time
        Step starts, UTC, shape (N,).
    step
        Step length [s].
    reference
        The as-operated schedule on the same axis (tier 1 must equal it; tier-2 arrivals are
        its tier-2 power).  Tier-3 energies are the facility's: what is left to do when the
        window starts (:func:`optimizer.state.apply_state`).

    Returns
    -------
    dict
        By workload id: ``tier``, ``contract`` (hard/soft for tier 3), ``required_kwh``,
        ``delivered_kwh``, ``on_time_kwh``, ``late_kwh``, ``unserved_kwh``, ``deferred_kwh``
        (tier 3 due after the window, left for later), ``max_delay_h`` and ``met``.
    """
    work = facility.workloads
    hours = step / SECONDS_PER_HOUR
    end = time + np.timedelta64(int(step * 1e9), "ns")
    out: dict[str, dict[str, Any]] = {}
    for j in range(work.count):
        power_kw = schedule.workload_power[:, j] / WATTS_PER_KILOWATT
        if work.tier[j] == 3:
            out[work.ids[j]] = _tier3(facility, j, power_kw, end, hours)
        elif work.tier[j] == 2:
            arrived = reference.workload_power[:, j] / WATTS_PER_KILOWATT
            out[work.ids[j]] = _tier2(float(work.max_delay[j]), arrived, power_kw, hours)
        else:
            expected = reference.workload_power[:, j] / WATTS_PER_KILOWATT
            untouched = bool(np.allclose(power_kw, expected, rtol=1e-6, atol=1e-3))
            energy = float(power_kw.sum() * hours)
            out[work.ids[j]] = {
                "tier": 1,
                "required_kwh": round(float(expected.sum() * hours), 3),
                "delivered_kwh": round(energy, 3),
                "untouched": untouched,
                "met": untouched,
            }
    return out


def _tier3(
    facility: Facility, j: int, power_kw: FloatArray, end: TimeArray, hours: float
) -> dict[str, Any]:
    work = facility.workloads
    required = max(float(work.energy[j]) / JOULES_PER_KWH, 0.0)
    energy = power_kw * hours
    deadline = work.deadline[j]
    on_time = float(energy[end <= deadline].sum())
    late_steps = (end > deadline) & (energy > 1e-9)
    late = float(energy[late_steps].sum())
    delivered = float(energy.sum())
    beyond = deadline > end[-1]
    # a deadline after the window: what does not fit after the window end must be here
    fits_after = (
        float(work.max_power[j])
        / WATTS_PER_KILOWATT
        * (deadline - end[-1])
        / np.timedelta64(1, "h")
        if beyond
        else 0.0
    )
    due_here = max(required - fits_after, 0.0)
    deferred = max(required - delivered, 0.0) if beyond else 0.0
    unserved = 0.0 if beyond else max(required - delivered, 0.0)
    max_delay = (
        float((end[late_steps].max() - deadline) / np.timedelta64(1, "s")) / SECONDS_PER_HOUR
        if late_steps.any()
        else 0.0
    )
    met = (on_time if not beyond else delivered) >= due_here - ENERGY_TOLERANCE_KWH
    return {
        "tier": 3,
        "contract": "soft" if work.is_soft(j) else "hard",
        "deadline": str(pd.Timestamp(deadline).tz_localize("UTC").isoformat()),
        "required_kwh": round(required, 3),
        "delivered_kwh": round(delivered, 3),
        "on_time_kwh": round(on_time, 3),
        "late_kwh": round(late, 3),
        "unserved_kwh": round(unserved, 3),
        "deferred_kwh": round(deferred, 3),
        "max_delay_h": round(max_delay, 3),
        "met": bool(met),
    }


def _tier2(
    max_delay_s: float, arrived_kw: FloatArray, power_kw: FloatArray, hours: float
) -> dict[str, Any]:
    """Tier-2 work served first in, first out: the largest delay of any arriving kWh."""
    arrived = np.cumsum(arrived_kw * hours)
    served = np.cumsum(power_kw * hours)
    steps = arrived.size
    delay_steps = 0
    # the work arrived by step t is served by the first step s with served[s] >= arrived[t]
    served_at = np.searchsorted(served, arrived - ENERGY_TOLERANCE_KWH * 1e-3, side="left")
    valid = served_at < steps
    if valid.any():
        delay_steps = int(np.max(served_at[valid] - np.flatnonzero(valid)))
    left = float(max(arrived[-1] - served[-1], 0.0)) if steps else 0.0
    max_delay = max(delay_steps, 0) * hours
    allowed = max_delay_s / SECONDS_PER_HOUR
    return {
        "tier": 2,
        "required_kwh": round(float(arrived[-1]) if steps else 0.0, 3),
        "delivered_kwh": round(float(served[-1]) if steps else 0.0, 3),
        "unserved_kwh": round(left, 3),
        "max_delay_h": round(max_delay, 3),
        "allowed_delay_h": round(allowed, 3),
        "met": bool(left <= ENERGY_TOLERANCE_KWH and max_delay <= allowed + hours + 1e-9),
    }


def contracts_met(report: dict[str, dict[str, Any]]) -> bool:
    """Whether every hard contract in an :func:`sla_report` holds (soft ones may fall short)."""
    return all(entry["met"] or entry.get("contract") == "soft" for entry in report.values())
