"""Explanations: why a request cannot be met, and what relaxing a limit would be worth.

* :func:`precheck` finds requests that are impossible on their face (a job larger than its
  window, a demand-response cap below the fixed load, chilled-water bounds the coil approach
  cannot reach) before any solve.
* :func:`diagnose` frees the elastic slacks on every physical limit and minimizes the total
  violation; each non-zero slack becomes one sentence naming the limit, the equipment, the
  hours and the amount.
* :func:`shadow_prices` prices 1 kW more feed capacity and 1 K higher inlet limit from the LP
  duals (binaries fixed at the plan), and 1 kWh more battery and a 1 h later deadline by
  re-solving the planner's own LP relaxation warm with the change made in HiGHS.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.contrib.appsi.base import TerminationCondition

from optimizer.blocks.objective import lateness_penalty
from optimizer.blocks.workloads import hours_late, job_steps
from optimizer.highs_direct import DirectHighs, SolveResult
from optimizer.linearize import Linearization
from optimizer.model import build_model, set_slacks_free
from optimizer.planner import PlanSolver
from physics.constants import JOULES_PER_KWH, WATTS_PER_KILOWATT
from physics.facility import Facility


def _when(lin: Linearization, steps: list[int]) -> str:
    """``between <start of the first period> and <end of the last> UTC``."""
    first = pd.Timestamp(lin.time[min(steps)])
    last = pd.Timestamp(lin.axis.end[max(steps)])
    return f"between {first:%Y-%m-%d %H:%M} and {last:%Y-%m-%d %H:%M} UTC"


def _instant(value: np.datetime64) -> str:
    return f"{pd.Timestamp(value):%Y-%m-%d %H:%M} UTC"


def precheck(facility: Facility, lin: Linearization) -> list[str]:
    """Requests impossible before any optimization, in physical terms (empty when none)."""
    problems: list[str] = []
    work = facility.workloads
    start, end = lin.time[0], lin.end_time
    for j in np.flatnonzero(work.tier == 3):
        if work.is_soft(int(j)):
            continue  # a soft job may finish late or short, at its penalties
        opens = max(work.release[j], start)
        closes = min(work.deadline[j], end)
        hours = max((closes - opens) / np.timedelta64(1, "s") / 3600.0, 0.0)
        power = work.max_power[j] / WATTS_PER_KILOWATT
        need = work.energy[j] / JOULES_PER_KWH
        if work.deadline[j] > end:
            need -= power * (work.deadline[j] - end) / np.timedelta64(1, "s") / 3600.0
        possible = power * hours
        if need > possible + 1e-6:
            earliest = opens + np.timedelta64(round(need / max(power, 1e-9) * 3.6e12), "ns")
            problems.append(
                f"job {work.ids[j]!r} needs {need:,.0f} kWh by {_instant(work.deadline[j])} but "
                f"at most {possible:,.0f} kWh fit between its release and deadline at its "
                f"maximum {power:,.0f} kW ({hours:g} h); the earliest deadline that would work "
                f"is {_instant(earliest)}"
            )
    # the grid import that cannot be avoided: fixed IT (tier 1 + idle) through the chain,
    # cooling of that heat, minus the battery's full discharge and all PV
    flexible_now = lin.p0[:, lin.flexible].sum(axis=1) if lin.flexible.size else 0.0
    fixed_chain = lin.it_chain_base - lin.it_chain_slope * flexible_now
    fixed_heat = lin.plant_heat_base - lin.plant_heat_slope * flexible_now
    cooling = lin.fixed_cooling + fixed_heat * lin.envelope_value.min(axis=1)
    battery = facility.battery.power / WATTS_PER_KILOWATT if facility.battery else 0.0
    floor = fixed_chain + cooling / facility.mechanical_efficiency - battery - lin.pv
    events = np.flatnonzero(np.isfinite(lin.dr_cap) & (floor > lin.dr_cap + 1e-6))
    if events.size:
        worst = events[np.argmax(floor[events] - lin.dr_cap[events])]
        problems.append(
            f"demand-response cap of {lin.dr_cap[worst]:,.0f} kW is below the import that "
            f"cannot be shed (tier-1 and idle IT, its cooling, minus the battery at "
            f"{battery:,.0f} kW and PV): {floor[worst]:,.0f} kW "
            f"{_when(lin, events.tolist())}"
        )
    low = facility.chilled_water_temperature_bounds[0]
    reachable = facility.units.supply_temperature_max - facility.units.coil_approach
    if np.any(reachable < low):
        u = int(np.argmin(reachable))
        problems.append(
            f"cooling unit {facility.units.ids[u]!r}: its highest supply setpoint "
            f"{facility.units.supply_temperature_max[u]:g} °C minus its coil approach "
            f"{facility.units.coil_approach[u]:g} K is below the lowest chilled-water setpoint "
            f"{low:g} °C"
        )
    return problems


def diagnose(planner: PlanSolver) -> list[str]:
    """Why the planning model is infeasible, in physical terms.

    Prechecks come first.  Then the service contracts are relaxed alone (each hard job may
    fall short of its energy by its deadline): if that is enough, each short job is named with
    what fits by its deadline and the earliest deadline that would work.  Otherwise every
    elastic slack is freed, the total violation minimized, and each limit that had to give is
    reported.
    """
    lines = precheck(planner.facility, planner.lin)
    m = planner.model
    shortfall = list(m.workloads.shortfall.values())
    for var in shortfall:
        var.unfix()
    try:
        result = planner.solver.solve(m)
        if result.feasible:
            planner.solver.load_values()
            return _contract_report(planner, lines)
    finally:
        for var in shortfall:
            var.fix(0.0)
    set_slacks_free(m, True)
    try:
        result = planner.solver.solve(m)
        if not result.feasible:
            lines.append(
                "no plan exists even with every physical limit relaxed: check setpoint bounds "
                "and the battery window"
            )
            return lines
        planner.solver.load_values()
        lines += _slack_report(planner)
    finally:
        set_slacks_free(m, False)
    return lines or ["the solver reported infeasibility but no limit needed relaxing"]


def _contract_report(planner: PlanSolver, lines: list[str]) -> list[str]:
    """One sentence per hard job short of its energy by its deadline (the model holds the
    solution with only the contracts relaxed)."""
    m, work, lin = planner.model, planner.facility.workloads, planner.lin
    short = {
        int(j): float(pyo.value(var))
        for j, var in m.workloads.shortfall.items()
        if (pyo.value(var) or 0.0) > 1e-3
    }
    if not short:
        return lines or ["the solver reported infeasibility but no contract needed relaxing"]
    earliest = _earliest_finish(planner, set(short))
    for j, missing in short.items():
        if any(f"job {work.ids[j]!r} needs" in line for line in lines):
            continue  # the precheck already named it, with its earliest deadline
        target = float(pyo.value(m.workloads.energy_target[j]))
        when = earliest.get(j)
        advice = (
            f"the earliest deadline that would work is {_instant(when)}"
            if when is not None
            else f"it does not fit even by the end of the look-ahead ({_instant(lin.end_time)})"
        )
        lines.append(
            f"job {work.ids[j]!r} needs {target:,.0f} kWh by {_instant(work.deadline[j])}; "
            f"within the physical limits (inlet, feeds, busbars, cooling, grid caps) at most "
            f"{target - missing:,.0f} kWh fit: {missing:,.0f} kWh short; {advice}"
        )
    return lines


def _earliest_finish(planner: PlanSolver, jobs: set[int]) -> dict[int, np.datetime64]:
    """When each of ``jobs`` could finish if its deadline were moved as late as needed (the
    LP relaxation, every job as early as the limits allow); absent: not within the
    look-ahead."""
    options = dataclasses.replace(planner.model.options_, relaxed_deadlines=set(jobs))
    model = build_model(planner.facility, planner.lin, options=options)
    for var in model.workloads.running.values():
        var.domain = pyo.UnitInterval
    solver = DirectHighs(time_limit=planner.options.time_limit)
    result = solver.solve(model)
    if not result.feasible:
        return {}
    solver.load_values()
    finish: dict[int, np.datetime64] = {}
    for j in jobs:
        running = [t for t in model.T if (pyo.value(model.workloads.power[j, t]) or 0.0) > 1e-4]
        if running:
            finish[j] = planner.lin.axis.end[max(running)]
    return finish


def _slack_report(planner: PlanSolver) -> list[str]:
    m, facility, lin = planner.model, planner.facility, planner.lin
    lines: list[str] = []

    def grouped(var: pyo.Var, name_of: Any) -> dict[Any, list[tuple[int, float]]]:
        groups: dict[Any, list[tuple[int, float]]] = {}
        for index, v in var.items():
            value = pyo.value(v)
            if value is not None and value > 1e-4:
                key, t = index if isinstance(index, tuple) else (None, index)
                groups.setdefault(name_of(key), []).append((int(t), float(value)))
        return groups

    racks, units = facility.racks, facility.units
    for rack, items in grouped(m.cooling.inlet_slack, lambda r: racks.ids[r]).items():
        steps = [t for t, _ in items]
        worst = max(v for _, v in items)
        r = racks.ids.index(rack)
        u = int(racks.unit[r])
        lines.append(
            f"rack {rack} inlet cannot stay below {lin.inlet_limit[r]:g} °C "
            f"{_when(lin, steps)} even at {units.supply_temperature_min[u]:g} °C supply "
            f"from {units.ids[u]} (exceeds by up to {worst:.2f} K)"
        )
    simple = (
        (m.power.feed_slack, lambda f: f"feed {facility.feeds.ids[f]}", "capacity", "kW"),
        (m.power.busbar_slack, lambda b: f"busbar {facility.busbars.ids[b]}", "capacity", "kW"),
        (m.cooling.coil_slack, lambda u: f"cooling unit {units.ids[u]}", "coil capacity", "kW"),
        (m.cooling.cdu_slack, lambda c: f"CDU {facility.cdus.ids[c]}", "capacity", "kW or K"),
        (m.liquid.case_slack, lambda r: f"rack {racks.ids[r]}", "cold-plate case limit", "K"),
        (m.liquid.loop_slack, lambda _: "the facility loop supply", "liquid class limit", "K"),
        (m.grid.contract_slack, lambda _: "grid import", "contract capacity", "kW"),
        (m.grid.dr_slack, lambda _: "grid import", "demand-response cap", "kW"),
    )
    for var, name_of, what, unit in simple:
        for name, items in grouped(var, name_of).items():
            steps = [t for t, _ in items]
            worst = max(v for _, v in items)
            lines.append(
                f"{name} exceeds its {what} {_when(lin, steps)} by up to {worst:,.1f} {unit}"
            )
    end = pyo.value(m.battery.end_slack)
    if end is not None and end > 1e-4:
        lines.append(
            f"the battery cannot return to its target state of charge (short {end:.1f} kWh)"
        )
    return lines


def _lp_duals(planner: PlanSolver) -> dict[Any, float] | None:
    """Duals of the plan's LP (binaries fixed at the plan's values)."""
    m = planner.model
    binaries = list(m.workloads.running.values())
    saved = [(v, v.fixed, v.domain) for v in binaries]
    for v in binaries:  # fixed and continuous: HiGHS sees an LP and keeps its duals
        v.fix(round(pyo.value(v) or 0.0))
        v.domain = pyo.UnitInterval
    try:
        # the planner's own HiGHS model: fixing the binaries is a bound change, no recompile
        result = planner.solver.solve(m)
        if result.condition != TerminationCondition.optimal:
            return None
        planner.solver.load_values()
        return planner.solver.duals()
    finally:
        for v, fixed, domain in saved:
            v.domain = domain
            if not fixed:
                v.unfix()


def shadow_prices(planner: PlanSolver) -> dict[str, Any]:
    """Value of relaxing limits, in the scenario currency, over the planned horizon.

    Returns
    -------
    dict
        ``feed_capacity_per_kw`` (per feed, from duals), ``inlet_limit_per_k`` (all racks
        1 K higher, from duals), ``battery_energy_per_kwh`` (1 kWh more capacity at the same
        states of charge), ``deadline_per_hour`` (per tier-3 job, its deadline 1 h later).
        Positive = saving.  The last two are differences of the LP relaxation (on/off
        decisions in [0, 1]) of the planner's own model, from the state the plan starts at,
        with its verification rows; each is one warm HiGHS re-solve.
    """
    m = planner.model
    prices: dict[str, Any] = {}
    duals = _lp_duals(planner)
    if duals is not None:
        feeds = planner.facility.feeds.ids
        prices["feed_capacity_per_kw"] = {
            feeds[f]: round(sum(abs(duals.get(m.power.feed[f, t], 0.0)) for t in m.T), 4)
            for f in range(len(feeds))
        }
        # screened rows and the lazy rows the verification added
        inlet_rows = [*m.cooling.inlet.values(), *m.cooling.lazy_inlet.values()]
        prices["inlet_limit_per_k"] = round(
            sum(abs(duals.get(con, 0.0)) for con in inlet_rows if con.active), 4
        )
    # finite differences of the LP relaxation of the planner's own model (its carried state,
    # its verification rows), each change made in the HiGHS model and re-solved warm
    with _relaxed(m):
        base = planner.solver.solve(m)
        if base.condition != TerminationCondition.optimal or base.objective is None:
            return prices
        base_cost = base.objective
        if planner.facility.battery is not None:
            cost = _objective(_more_battery(planner))
            if cost is not None:
                prices["battery_energy_per_kwh"] = round(base_cost - cost, 4)
        deadlines: dict[str, float] = {}
        work = planner.facility.workloads
        for j in np.flatnonzero(work.tier == 3):
            cost = _objective(_later_deadline(planner, int(j)))
            if cost is not None:
                deadlines[work.ids[j]] = round(base_cost - cost, 4)
    if deadlines:
        prices["deadline_per_hour"] = deadlines
    return prices


@contextlib.contextmanager
def _relaxed(model: pyo.ConcreteModel) -> Iterator[None]:
    """The model's LP relaxation (on/off decisions in [0, 1], unfixed) inside the block."""
    running = list(model.workloads.running.values())
    saved = [(v, v.fixed, v.domain, v.value) for v in running]
    for v in running:
        v.unfix()
        v.domain = pyo.UnitInterval
    try:
        yield
    finally:
        for v, fixed, domain, value in saved:
            v.domain = domain
            if fixed:
                v.fix(value)


def _objective(result: SolveResult) -> float | None:
    """The objective of an optimal solve [currency], None otherwise."""
    return result.objective if result.condition == TerminationCondition.optimal else None


def _more_battery(planner: PlanSolver) -> SolveResult:
    """Re-solve with 1 kWh more battery capacity at the same states of charge: the SOC window,
    the (carried) initial energy and the end target grow with the capacity."""
    m, battery = planner.model, planner.facility.battery
    assert battery is not None
    capacity = battery.capacity / JOULES_PER_KWH
    bt = m.battery
    initial_soc = float(pyo.value(bt.initial_energy)) / capacity
    final_soc = float(pyo.value(bt.final_energy)) / capacity
    energy = list(bt.energy.values())
    saved = [v.bounds for v in energy]
    for v in energy:
        v.setlb(battery.soc_min * (capacity + 1.0))
        v.setub(battery.soc_max * (capacity + 1.0))
    try:
        rows = {bt.start: (initial_soc, initial_soc), bt.end: (final_soc, final_soc)}
        return planner.solver.solve_changed(m, rows=rows)
    finally:
        for v, (lb, ub) in zip(energy, saved, strict=True):
            v.setlb(lb)
            v.setub(ub)


def _later_deadline(planner: PlanSolver, j: int) -> SolveResult:
    """Re-solve with tier-3 job ``j`` due 1 h later.

    A hard job may run in the periods the hour opens (their power unfixed; the minimum-power
    rows, skipped for periods fixed at build, stay absent: a slightly looser relaxation); a
    soft job's lateness cost falls by one hour in every late period; energy that fits
    between the look-ahead's end and a deadline beyond it may wait (the energy row's lower
    bound).
    """
    m, lin, facility = planner.model, planner.lin, planner.facility
    work = facility.workloads
    later = dataclasses.replace(work, deadline=work.deadline.copy())
    later.deadline[j] = later.deadline[j] + np.timedelta64(1, "h")
    max_kw = float(work.max_power[j]) / WATTS_PER_KILOWATT
    hours_beyond = [
        max((d - lin.end_time) / np.timedelta64(1, "h"), 0.0)
        for d in (work.deadline[j], later.deadline[j])
    ]
    rows = {m.workloads.energy[j]: (-max_kw * (hours_beyond[1] - hours_beyond[0]), 0.0)}
    power = m.workloads.power
    costs: dict[Any, float] = {}
    opened: list[Any] = []
    penalty = lateness_penalty(facility, m.options_, j)
    if penalty is None:
        release, deadline = job_steps(lin, work, j)
        _, new_deadline = job_steps(lin, later, j)
        opened = [power[j, t] for t in range(max(deadline, release), new_deadline)]
        opened = [v for v in opened if v.fixed]
    else:
        less = hours_late(lin, later, j) - hours_late(lin, work, j)
        costs = {
            power[j, t]: penalty * float(less[t]) * float(lin.step_hours[t])
            for t in map(int, np.flatnonzero(less))
        }
    for v in opened:
        v.unfix()
    try:
        return planner.solver.solve_changed(m, rows=rows, costs=costs)
    finally:
        for v in opened:
            v.fix(0.0)
