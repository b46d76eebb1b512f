"""What a plan changes, now and over its horizon, against the schedule in force.

:func:`plan_preview` reads only the stored plan's ``schedule`` (its ``time`` list and arrays,
as :func:`twin.live.live_twin.LiveTwin` stores them) and the schedule in force on the live
window, so it works whatever else the planner puts in the plan, and for periods of any length
(the schedule in force is averaged over each plan period).  It reports:

* **jobs** — every workload (paused ones included): its power now in force and in the plan
  [kW] and the action now (``pause``: in force and not in the plan; ``start``; ``throttle``
  and ``increase`` beyond :data:`POWER_CHANGE` of the power in force; ``unchanged``), the
  energy over the horizon [kWh], and the plan's and the schedule in force's run intervals
  (``[start, end, mean kW]``, ISO UTC);
* **setpoints** — each cooling unit's supply setpoint and the chilled water setpoint now
  [°C], the change [K] and the largest change over the horizon [K];
* **battery** — power now (+ charging) [kW], the action now, energy charged and discharged
  over the horizon [kWh];
* **figures** — cost [currency], peak grid import [kW], grid energy [kWh] and the predicted
  hottest inlet [°C] of the plan and of the schedule in force, with the change;
* **comparison** — whether the two deliver equal work (job energy over the horizon within
  :data:`optimizer.result.EQUAL_WORK_TOLERANCE`) and the hard contracts the schedule in force
  would miss; unless both hold the cost difference is no saving (``cost_is_saving``), and the
  sentences say so first.  The schedule in force is compared continued from the work actually
  done (:func:`continued_from_state`; tester finding 1, 7 Dec: the in-force timetable assumed
  the work done since the window start, the plan started from the measured work, and the two
  differed by 18.5 MWh);
* **changes** — the same in sentences, most important first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from optimizer.result import EQUAL_WORK_TOLERANCE
from physics.constants import WATTS_PER_KILOWATT as KW
from physics.facility import Facility
from physics.schedule import Schedule

__all__ = [
    "ACTIVE_KW",
    "POWER_CHANGE",
    "SETPOINT_CHANGE",
    "continued_from_state",
    "hard_contracts_missed",
    "plan_preview",
    "run_intervals",
]

FloatArray = NDArray[np.float64]

ACTIVE_KW = 1.0
"""A job drawing more than this runs [kW]."""
POWER_CHANGE = 0.05
"""Relative power change of a job reported as throttle or increase [-]."""
SETPOINT_CHANGE = 0.05
"""Setpoint change reported [K]."""
FIGURES = ("cost", "peak_grid_kw", "grid_energy_kwh", "max_inlet_temperature_c")
"""Figures compared between the plan and the schedule in force."""


def run_intervals(
    times: Sequence[pd.Timestamp], durations: FloatArray, power_kw: FloatArray
) -> list[list[Any]]:
    """Contiguous periods where ``power_kw`` exceeds :data:`ACTIVE_KW`.

    Parameters
    ----------
    times
        Start of each period (UTC).
    durations
        Length of each period [s].
    power_kw
        Power in each period [kW].

    Returns
    -------
    list
        ``[start ISO, end ISO, mean power kW]`` per run (mean weighted by duration).
    """
    runs: list[list[Any]] = []
    active = np.asarray(power_kw, dtype=float) > ACTIVE_KW
    k = 0
    while k < len(active):
        if not active[k]:
            k += 1
            continue
        first = k
        while k < len(active) and active[k]:
            k += 1
        span = slice(first, k)
        weights = durations[span]
        mean = float(np.average(power_kw[span], weights=weights)) if weights.sum() > 0 else 0.0
        end = times[k - 1] + pd.Timedelta(seconds=float(durations[k - 1]))
        runs.append([times[first].isoformat(), end.isoformat(), round(mean, 3)])
    return runs


def _periods(times: Sequence[str], step_seconds: float) -> tuple[list[pd.Timestamp], FloatArray]:
    """Start (UTC) and length [s] of each plan period (the last as long as the one before)."""
    stamps = [pd.Timestamp(t).tz_convert("UTC") for t in times]
    lengths = [float((b - a).total_seconds()) for a, b in pairwise(stamps)]
    last = lengths[-1] if lengths else step_seconds
    return stamps, np.asarray([*lengths, last], dtype=float)


def _averaged(
    array: FloatArray,
    window_times: pd.DatetimeIndex,
    starts: Sequence[pd.Timestamp],
    durations: FloatArray,
) -> FloatArray:
    """``array`` (window steps first) averaged over each period [same unit]."""
    values = np.asarray(array, dtype=float)
    out = np.empty((len(starts), *values.shape[1:]))
    for k, (start, length) in enumerate(zip(starts, durations, strict=True)):
        first = int(window_times.searchsorted(start, side="right")) - 1
        stop = int(window_times.searchsorted(start + pd.Timedelta(seconds=length), side="left"))
        first = min(max(first, 0), len(window_times) - 1)
        stop = min(max(stop, first + 1), len(window_times))
        out[k] = values[first:stop].mean(axis=0)
    return out


def _change(old: float, new: float, digits: int = 3) -> dict[str, float]:
    return {
        "in_force": round(old, digits),
        "plan": round(new, digits),
        "change": round(new - old, digits),
    }


def _job_action(old: float, new: float) -> str:
    if old > ACTIVE_KW and new <= ACTIVE_KW:
        return "pause"
    if old <= ACTIVE_KW and new > ACTIVE_KW:
        return "start"
    if old > ACTIVE_KW and abs(new - old) > POWER_CHANGE * old:
        return "throttle" if new < old else "increase"
    return "unchanged"


def _jobs(
    facility: Facility,
    schedule: Mapping[str, Any],
    in_force: FloatArray,
    starts: list[pd.Timestamp],
    durations: FloatArray,
) -> list[dict[str, Any]]:
    work = facility.workloads
    hours = durations / 3600.0
    planned_all = schedule.get("workload_power_kw") or {}
    jobs = []
    for j, job in enumerate(work.ids):
        planned = np.asarray(planned_all.get(job, np.zeros(len(starts))), dtype=float)
        current = in_force[:, j]
        paused = (current > ACTIVE_KW) & (planned <= ACTIVE_KW)
        jobs.append(
            {
                "job": job,
                "tier": int(work.tier[j]),
                "action_now": _job_action(float(current[0]), float(planned[0])),
                "now_kw": _change(float(current[0]), float(planned[0])),
                "energy_kwh": _change(float(current @ hours), float(planned @ hours)),
                "paused_hours": round(float(hours[paused].sum()), 3),
                "runs_plan": run_intervals(starts, durations, planned),
                "runs_in_force": run_intervals(starts, durations, current),
            }
        )
    return jobs


def _setpoints(
    facility: Facility, schedule: Mapping[str, Any], in_force: Schedule, averaged: Any
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    supply = averaged(in_force.supply_temperature)
    units = []
    planned_all = schedule.get("supply_temperature_c") or {}
    for u, unit in enumerate(facility.units.ids):
        planned = np.asarray(planned_all.get(unit, supply[:, u]), dtype=float)
        delta = planned - supply[:, u]
        units.append(
            {
                "unit": unit,
                "now_c": _change(float(supply[0, u]), float(planned[0])),
                "max_change_k": round(float(delta[np.argmax(np.abs(delta))]), 3),
            }
        )
    chilled = averaged(in_force.chilled_water_temperature)
    planned_chilled = np.asarray(schedule.get("chilled_water_temperature_c", chilled), dtype=float)
    delta = planned_chilled - chilled
    water = {
        "now_c": _change(float(chilled[0]), float(planned_chilled[0])),
        "max_change_k": round(float(delta[np.argmax(np.abs(delta))]), 3),
    }
    return units, water


def _battery(
    schedule: Mapping[str, Any], in_force: FloatArray, hours: FloatArray
) -> dict[str, Any]:
    planned = np.asarray(schedule.get("battery_power_kw", in_force), dtype=float)

    def action(power: float) -> str:
        return "charge" if power > ACTIVE_KW else "discharge" if power < -ACTIVE_KW else "idle"

    return {
        "now_kw": _change(float(in_force[0]), float(planned[0])),
        "action_now": {"in_force": action(float(in_force[0])), "plan": action(float(planned[0]))},
        "charge_kwh": _change(
            float(np.clip(in_force, 0, None) @ hours), float(np.clip(planned, 0, None) @ hours)
        ),
        "discharge_kwh": _change(
            float(np.clip(-in_force, 0, None) @ hours), float(np.clip(-planned, 0, None) @ hours)
        ),
    }


def _sentences(preview: Mapping[str, Any], currency: str) -> list[str]:
    """The changes in words, most important first (jobs, setpoints, battery, figures)."""
    lines = _comparison_sentences(preview["comparison"], preview["jobs"])
    for job in sorted(preview["jobs"], key=lambda j: -abs(j["now_kw"]["change"])):
        action, now = job["action_now"], job["now_kw"]
        if action != "unchanged":
            lines.append(
                f"{action} {job['job']} (tier {job['tier']}) now: {now['in_force']:,.0f} → "
                f"{now['plan']:,.0f} kW ({now['change']:+,.0f} kW)"
            )
        elif job["paused_hours"] > 0:
            lines.append(
                f"{job['job']} (tier {job['tier']}) paused for {job['paused_hours']:.2f} h "
                "of the horizon where it runs now"
            )
    for unit in preview["setpoints"]:
        now = unit["now_c"]
        if abs(now["change"]) >= SETPOINT_CHANGE:
            lines.append(
                f"{unit['unit']} supply setpoint {now['in_force']:.2f} → {now['plan']:.2f} °C "
                f"({now['change']:+.2f} K now, largest change {unit['max_change_k']:+.2f} K)"
            )
    water = preview["chilled_water"]["now_c"]
    if abs(water["change"]) >= SETPOINT_CHANGE:
        lines.append(
            f"chilled water {water['in_force']:.2f} → {water['plan']:.2f} °C "
            f"({water['change']:+.2f} K now)"
        )
    battery = preview["battery"]
    acts = battery["action_now"]
    if acts["in_force"] != acts["plan"] or abs(battery["now_kw"]["change"]) > ACTIVE_KW:
        lines.append(
            f"battery now {acts['in_force']} → {acts['plan']} "
            f"({battery['now_kw']['in_force']:,.0f} → {battery['now_kw']['plan']:,.0f} kW, "
            "+ charging)"
        )
    figures = preview["figures"]
    for key, text, unit, digits in (
        ("cost", "expected cost", currency, 2),
        ("peak_grid_kw", "expected peak grid import", "kW", 0),
        ("max_inlet_temperature_c", "predicted hottest inlet", "°C", 2),
    ):
        item = figures.get(key)
        if item is None:
            continue
        change = f"({item['change']:+,.{digits}f})"
        if key == "cost" and not preview["comparison"]["cost_is_saving"]:
            change = "(not a saving: see above)"
        lines.append(
            f"{text} {item['in_force']:,.{digits}f} → {item['plan']:,.{digits}f} {unit} {change}"
        )
    return lines


def _comparison_sentences(
    comparison: Mapping[str, Any], jobs: Sequence[Mapping[str, Any]]
) -> list[str]:
    """Unequal work and hard contracts current operation misses, in words."""
    lines = []
    if not comparison["equal_work"]:
        energy = comparison["job_energy_kwh"]
        moved = [
            f"{job['job']} {job['energy_kwh']['in_force']:,.0f} → "
            f"{job['energy_kwh']['plan']:,.0f} kWh"
            for job in jobs
            if abs(job["energy_kwh"]["change"])
            > EQUAL_WORK_TOLERANCE * max(abs(job["energy_kwh"]["plan"]), ACTIVE_KW)
        ]
        lines.append(
            f"NOT EQUAL WORK: over the horizon current operation delivers "
            f"{energy['in_force']:,.0f} kWh of work and the plan {energy['plan']:,.0f} kWh "
            f"({', '.join(moved)}): the cost difference is not a saving"
        )
    lines += [
        f"current operation would MISS a hard contract: {line}"
        for line in comparison["in_force_misses"]
    ]
    return lines


def continued_from_state(
    in_force: Schedule,
    facility: Facility,
    times: pd.DatetimeIndex,
    start: int,
    stop: int,
) -> Schedule:
    """The schedule in force continued from the work actually done: each tier-3 job's power
    on steps ``start``–``stop`` delivers the work left to do.

    The in-force timetable assumes each job's work since the window start went as timetabled;
    the twin's state measures it.  Each tier-3 job runs as timetabled until the work left
    (``facility.workloads.energy``: :func:`optimizer.state.apply_state`) is done, then stops;
    what the timetable leaves undone runs at full power at the earliest steps from its
    release on (the as-operated rule), within the steps.  For the as-operated timetable this is
    the as-operated baseline from the state; a plan in force keeps its own timing.

    Parameters
    ----------
    in_force
        The schedule in force over the live window (SI: W).
    facility
        The facility as seen from the state now (work left per job [J]).
    times
        Start of each step of the live window (UTC).
    start, stop
        The steps compared (the plan's horizon).

    Returns
    -------
    physics.schedule.Schedule
        A copy of ``in_force`` with the tier-3 powers [W] on those steps adjusted.
    """
    power = np.array(in_force.workload_power, dtype=float, copy=True)
    work = facility.workloads
    if stop - start < 1:
        return in_force
    step = float((times[1] - times[0]).total_seconds()) if len(times) > 1 else 900.0
    steps = times[start:stop].tz_convert(None).to_numpy()
    for j in np.flatnonzero(work.tier == 3):
        left = max(float(np.nan_to_num(work.energy[j])), 0.0)  # [J]
        timetable = np.maximum(power[start:stop, j], 0.0)
        done = np.cumsum(timetable) * step
        # as timetabled until the work left is done
        kept = np.diff(np.minimum(done, left), prepend=0.0) / step
        short = left - float(kept.sum()) * step
        for t in np.flatnonzero(steps >= work.release[j]):
            if short <= 0.0:
                break
            extra = min(float(work.max_power[j]) - kept[t], short / step)
            if extra > 0.0:
                kept[t] += extra
                short -= extra * step
        power[start:stop, j] = kept
    return Schedule(
        supply_temperature=in_force.supply_temperature,
        chilled_water_temperature=in_force.chilled_water_temperature,
        battery_power=in_force.battery_power,
        workload_power=power,
    )


def hard_contracts_missed(report: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The hard tier-3 contracts an :func:`optimizer.accounting.sla_report` finds missed, in
    words (energy on time of the energy due [kWh], deadline)."""
    return [
        f"job {name!r}: {entry['on_time_kwh']:,.0f} of {entry['required_kwh']:,.0f} kWh by "
        f"{entry['deadline']}"
        for name, entry in report.items()
        if entry["tier"] == 3 and entry["contract"] == "hard" and not entry["met"]
    ]


def _comparison(
    jobs: Sequence[Mapping[str, Any]], in_force_misses: Sequence[str]
) -> dict[str, Any]:
    """Equal work (total job energy over the horizon [kWh]) and the contracts missed."""
    old = sum(float(job["energy_kwh"]["in_force"]) for job in jobs)
    new = sum(float(job["energy_kwh"]["plan"]) for job in jobs)
    equal = abs(new - old) <= EQUAL_WORK_TOLERANCE * max(abs(old), abs(new), ACTIVE_KW)
    return {
        "equal_work": bool(equal),
        "job_energy_kwh": _change(old, new),
        "in_force_misses": list(in_force_misses),
        "cost_is_saving": bool(equal and not in_force_misses),
    }


def plan_preview(
    schedule: Mapping[str, Any],
    in_force: Schedule,
    window_times: pd.DatetimeIndex,
    facility: Facility,
    *,
    plan_figures: Mapping[str, Any] | None = None,
    in_force_figures: Mapping[str, Any] | None = None,
    currency: str = "USD",
    step_seconds: float = 900.0,
    in_force_misses: Sequence[str] = (),
) -> dict[str, Any]:
    """What the plan changes against the schedule in force (see the module docstring).

    Parameters
    ----------
    schedule
        The stored plan's ``schedule``: ``time`` (ISO UTC period starts),
        ``supply_temperature_c`` per unit, ``chilled_water_temperature_c``,
        ``battery_power_kw`` (+ charging), ``workload_power_kw`` per job.
    in_force
        The schedule in force over the live window (SI: °C, W).
    window_times
        Start of each step of the live window (UTC).
    facility
        The facility (unit and job ids, tiers).
    plan_figures, in_force_figures
        ``cost`` [currency], ``peak_grid_kw`` [kW], ``grid_energy_kwh`` [kWh],
        ``max_inlet_temperature_c`` [°C] of each (missing ones are left out).
    currency
        Currency of the costs.
    step_seconds
        Length of a plan period when the plan has a single one [s].
    in_force_misses
        The hard contracts the schedule in force would miss over the horizon, in words
        (:func:`hard_contracts_missed`).

    Returns
    -------
    dict
        ``start``, ``end`` (ISO UTC), ``hours``, ``jobs``, ``setpoints``, ``chilled_water``,
        ``battery``, ``figures``, ``comparison`` and ``changes`` (see the module docstring).
    """
    times = list(schedule.get("time") or [])
    if not times:
        raise ValueError("the plan's schedule has no periods")
    starts, durations = _periods(times, step_seconds)

    def averaged(array: FloatArray) -> FloatArray:
        return _averaged(array, window_times, starts, durations)

    jobs = _jobs(facility, schedule, averaged(in_force.workload_power) / KW, starts, durations)
    units, water = _setpoints(facility, schedule, in_force, averaged)
    battery = _battery(schedule, averaged(in_force.battery_power) / KW, durations / 3600.0)
    figures: dict[str, Any] = {}
    for key in FIGURES:
        old = (in_force_figures or {}).get(key)
        new = (plan_figures or {}).get(key)
        if isinstance(old, int | float) and isinstance(new, int | float):
            figures[key] = _change(float(old), float(new))
    end = starts[-1] + pd.Timedelta(seconds=float(durations[-1]))
    preview: dict[str, Any] = {
        "start": starts[0].isoformat(),
        "end": end.isoformat(),
        "hours": round(float(durations.sum()) / 3600.0, 3),
        "jobs": jobs,
        "setpoints": units,
        "chilled_water": water,
        "battery": battery,
        "figures": figures,
        "comparison": _comparison(jobs, in_force_misses),
    }
    preview["changes"] = _sentences(preview, currency)
    return preview
