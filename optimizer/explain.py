"""Explanations: why a request cannot be met, and what relaxing a limit would be worth.

* :func:`precheck` finds requests that are impossible on their face (a job larger than its
  window, a demand-response cap below the fixed load, chilled-water bounds the coil approach
  cannot reach) before any solve.
* :func:`diagnose` frees the elastic slacks on every physical limit and minimizes the total
  violation; each non-zero slack becomes one sentence naming the limit, the equipment, the
  hours and the amount.
* :func:`shadow_prices` prices 1 kW more feed capacity and 1 K higher inlet limit from the LP
  duals (binaries fixed at the plan), and 1 kWh more battery and a 1 h later deadline by
  re-solving with the change.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.contrib.appsi.base import TerminationCondition

from optimizer.highs_direct import DirectHighs
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
        1 K higher, from duals), ``battery_energy_per_kwh`` (re-solve with 1 kWh more usable
        energy), ``deadline_per_hour`` (per tier-3 job, re-solve with its deadline 1 h later).
        Positive = saving.
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
    # finite differences compare LP relaxations of the same model (both built the same way),
    # so on/off rounding does not blur the difference
    base_cost = _relaxed_objective(m, planner.solver)
    if base_cost is None:
        return prices
    facility = planner.facility
    if facility.battery is not None:
        bigger = dataclasses.replace(
            facility.battery, capacity=facility.battery.capacity + JOULES_PER_KWH
        )
        cost = _resolve_with(planner, dataclasses.replace(facility, battery=bigger))
        if cost is not None:
            prices["battery_energy_per_kwh"] = round(base_cost - cost, 4)
    deadlines: dict[str, float] = {}
    work = facility.workloads
    for j in np.flatnonzero(work.tier == 3):
        later = work.deadline.copy()
        later[j] = later[j] + np.timedelta64(1, "h")
        changed = dataclasses.replace(facility, workloads=dataclasses.replace(work, deadline=later))
        cost = _resolve_with(planner, changed)
        if cost is not None:
            deadlines[work.ids[j]] = round(base_cost - cost, 4)
    if deadlines:
        prices["deadline_per_hour"] = deadlines
    return prices


def _relaxed_objective(model: pyo.ConcreteModel, solver: DirectHighs) -> float | None:
    """Objective of the model's LP relaxation (None if not optimal)."""
    running = list(model.workloads.running.values())
    saved = [(v, v.fixed, v.domain, v.value) for v in running]
    for v in running:
        v.unfix()
        v.domain = pyo.UnitInterval
    try:
        result = solver.solve(model)
        if result.condition != TerminationCondition.optimal:
            return None
        return result.objective
    finally:
        for v, fixed, domain, value in saved:
            v.domain = domain
            if fixed:
                v.fix(value)


def _resolve_with(planner: PlanSolver, facility: Facility) -> float | None:
    """LP-relaxation objective of the same model built for a changed facility."""
    model = build_model(facility, planner.lin, options=planner.model.options_)
    return _relaxed_objective(model, DirectHighs(time_limit=planner.options.time_limit))
