"""Plan, verify, explain: the co-planner's entry points.

``plan(facility, series)`` builds the model at the as-operated operating point, solves it with
HiGHS, turns the solution into a :class:`physics.schedule.Schedule`, re-simulates it with
:func:`physics.simulate.simulate` and checks every limit.  A violated inlet row enters the
model (lazy constraint) and other violated limits are tightened by the excess seen; then it
re-solves, a bounded number of times.  Reported figures are always the verified ones, beside
the same figures for both baselines.  Time-out: the best feasible plan with its gap; none: the
as-operated baseline flagged as a fallback.  Infeasible: a diagnosis in physical terms.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyomo.environ as pyo
import xarray as xr
from pyomo.contrib.appsi.base import TerminationCondition

from optimizer.baselines import rule_based
from optimizer.explain import diagnose, shadow_prices
from optimizer.linearize import Linearization
from optimizer.model import ModelOptions, add_inlet_row, set_derating
from optimizer.planner import PlanOptions, PlanSolver
from physics.constants import JOULES_PER_KWH, SECONDS_PER_HOUR, WATTS_PER_KILOWATT
from physics.facility import Facility
from physics.schedule import Schedule
from physics.simulate import simulate
from physics.violations import Violation, find_violations

COMPARED = ("cost", "carbon_kg", "peak_grid_kw", "cooling_energy_kwh")


@dataclass
class Plan:
    """A verified plan and its comparison with the baselines."""

    status: str
    """``optimal``, ``time_limit`` (best feasible, see ``gap``), ``fallback`` (no feasible
    plan in time: the as-operated baseline), or ``infeasible`` (see ``explanation``)."""
    verified: bool
    """The released schedule was re-simulated by the physics and broke no limit."""
    schedule: Schedule
    result: xr.Dataset
    violations: list[Violation]
    figures: dict[str, float]
    baselines: dict[str, dict[str, float]]
    baseline_violations: dict[str, list[str]]
    timings: dict[str, float]
    gap: float | None = None
    explanation: list[str] = field(default_factory=list)
    shadow_prices: dict[str, Any] = field(default_factory=dict)
    rounds: int = 0
    model_figures: dict[str, float] = field(default_factory=dict)
    """The LP's own prediction of the figures (before verification), to measure the
    approximation error."""
    notes: list[str] = field(default_factory=list)
    baseline_schedule: Schedule | None = None
    """The as-operated baseline the plan is compared with."""
    baseline_result: xr.Dataset | None = None
    """Its simulation by the physics (what ``baselines["as_operated"]`` was computed from)."""

    def savings(self, baseline: str) -> dict[str, float | None]:
        """Fractional reduction of cost, carbon, peak and cooling energy vs a baseline."""
        reference = self.baselines[baseline]
        out: dict[str, float | None] = {}
        for key in COMPARED:
            ref = reference.get(key)
            out[key] = (ref - self.figures[key]) / ref if ref else None
        return out

    def to_json(self) -> dict[str, Any]:
        """The ``dctwin plan --json`` object."""
        data: dict[str, Any] = {
            "status": self.status,
            "verified": self.verified,
            "violations": [v.message for v in self.violations],
            **{k: round(v, 6) for k, v in self.figures.items()},
            "baselines": self.baselines,
            "baseline_violations": self.baseline_violations,
            "savings_vs_as_operated": self.savings("as_operated"),
            "savings_vs_rule_based": self.savings("rule_based"),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "rounds": self.rounds,
            "gap": self.gap,
            "shadow_prices": self.shadow_prices,
            "model_figures": self.model_figures,
            "notes": self.notes,
        }
        if self.explanation:
            data["explanation"] = self.explanation
        return data


def verified_figures(
    facility: Facility, schedule: Schedule, ds: xr.Dataset, deferred_energy_price: float = 0.0
) -> dict[str, float]:
    """Cost and KPIs of a simulated schedule, all from the physics result.

    ``cost`` = energy cost + demand charge (peak import) + carbon price × emissions + battery
    wear + tier-3 lateness and unserved penalties + the value of tier-3 energy deferred past
    the horizon at ``deferred_energy_price`` [currency/kWh] (so a plan cannot look cheaper
    by pushing work out of the window).
    """
    step = float(ds.attrs["step_seconds"])
    hours = step / SECONDS_PER_HOUR
    grid_kw = ds["grid_power"].values / WATTS_PER_KILOWATT
    energy_cost = float(np.sum(grid_kw * ds["price"].values / 1e3) * hours)
    carbon_kg = float(np.sum(grid_kw * ds["carbon_intensity"].values / 1e3) * hours)
    peak = float(max(grid_kw.max(), 0.0))
    demand_charge = facility.grid.demand_charge * WATTS_PER_KILOWATT * peak
    wear = float(ds.attrs.get("battery_throughput_joules", 0.0)) * (
        facility.battery.wear_cost if facility.battery else 0.0
    )
    lateness, unserved, deferred = _job_penalties(facility, schedule, ds["time"].values, step)
    deferred_cost = deferred / JOULES_PER_KWH * deferred_energy_price
    carbon_cost = facility.grid.carbon_price * carbon_kg
    cost = energy_cost + demand_charge + carbon_cost + wear + lateness + unserved + deferred_cost
    return {
        "cost": cost,
        "energy_cost": energy_cost,
        "demand_charge": demand_charge,
        "carbon_cost": carbon_cost,
        "battery_wear_cost": wear,
        "lateness_cost": lateness,
        "unserved_cost": unserved,
        "deferred_cost": deferred_cost,
        "carbon_kg": carbon_kg,
        "peak_grid_kw": peak,
        "grid_energy_kwh": float(grid_kw.sum() * hours),
        "it_energy_kwh": float(ds["it_power"].sum()) * hours / WATTS_PER_KILOWATT,
        "cooling_energy_kwh": float(ds["cooling_power"].sum()) * hours / WATTS_PER_KILOWATT,
        "pue": float(ds["facility_power"].sum() / ds["it_power"].sum()),
        "max_inlet_temperature_c": float(ds["max_inlet_temperature"].max()),
    }


def _job_penalties(
    facility: Facility, schedule: Schedule, time_axis: np.ndarray, step: float
) -> tuple[float, float, float]:
    """Lateness and unserved penalties [currency] and energy deferred past the horizon [J]."""
    work = facility.workloads
    lateness = unserved = deferred = 0.0
    end = time_axis + np.timedelta64(int(step * 1e9), "ns")
    for j in np.flatnonzero(work.tier == 3):
        energy = schedule.workload_power[:, j] * step  # J per step
        late_seconds = np.clip((end - work.deadline[j]) / np.timedelta64(1, "s"), 0, None)
        lateness += float(np.sum(energy * late_seconds) * work.lateness_penalty[j])
        # energy that still fits between the horizon end and the deadline is not unserved
        after = max((work.deadline[j] - end[-1]) / np.timedelta64(1, "s"), 0.0)
        left = max(float(work.energy[j]) - float(energy.sum()), 0.0)
        missing = max(left - work.max_power[j] * after, 0.0)
        deferred += left - missing
        unserved += missing * float(work.unserved_penalty[j])
    return lateness, unserved, deferred


def _schedule_from_model(
    m: pyo.ConcreteModel, facility: Facility, lin: Linearization, baseline: Schedule
) -> Schedule:
    """The model's decisions held over the fine steps of each period.

    Workloads the plan does not decide (tier 1) keep their fine-step profile from
    ``baseline`` (the as-operated schedule on the fine axis).
    """
    steps = range(lin.steps)
    units = range(facility.units.count)
    supply = np.array([[pyo.value(m.cooling.supply[u, t]) for u in units] for t in steps])
    chilled = np.array([pyo.value(m.cooling.chilled[t]) for t in steps])
    battery = np.array(
        [pyo.value(m.battery.charge[t]) - pyo.value(m.battery.discharge[t]) for t in steps]
    )
    power = np.array(baseline.workload_power, dtype=float, copy=True)
    for j in lin.flexible:
        decided = [max(pyo.value(m.workloads.power[int(j), t]), 0.0) for t in steps]
        power[:, j] = lin.axis.expand(np.asarray(decided)) * WATTS_PER_KILOWATT
    expand = lin.axis.expand
    return Schedule(
        supply_temperature=expand(supply.reshape(lin.steps, -1)),
        chilled_water_temperature=expand(chilled),
        battery_power=(
            expand(battery) * WATTS_PER_KILOWATT if facility.battery else np.zeros(lin.axis.steps)
        ),
        workload_power=power,
    )


def _model_figures(m: pyo.ConcreteModel) -> dict[str, float]:
    dt = m.lin.step_hours
    return {
        "cost": float(pyo.value(m.cost)),
        "energy_cost": float(pyo.value(m.energy_cost)),
        "carbon_kg": float(pyo.value(m.carbon_kg)),
        "peak_grid_kw": float(pyo.value(m.grid.peak)),
        "cooling_energy_kwh": float(sum(pyo.value(m.cooling.power[t]) * float(dt[t]) for t in m.T)),
    }


class Planner(PlanSolver):
    """A :class:`optimizer.planner.PlanSolver` with the verification loop.

    Parameters
    ----------
    facility
        Compiled facility.
    series
        Exogenous series on the planning axis (the horizon is its length).
    options
        Solver control and model switches.
    """

    def run(self) -> Plan:
        """Solve, verify, tighten and re-solve; return the verified plan."""
        return _run(self)


def _run(planner: PlanSolver) -> Plan:
    facility, series, options = planner.facility, planner.series, planner.options
    started = time.perf_counter()
    baselines, baseline_violations, reference = _baselines(planner)
    planner.timings["baselines_s"] = time.perf_counter() - started
    notes: list[str] = list(reference.pop("notes", []))
    model_options = options.model
    verify_time = 0.0
    plan_schedule: Schedule | None = None
    result: xr.Dataset | None = None
    violations: list[Violation] = []
    status, gap, rounds = "optimal", None, 0
    model_figures: dict[str, float] = {}
    for rounds in range(1, options.max_rounds + 1):  # noqa: B007 - rounds is reported
        condition, gap = planner.solve()
        if condition == TerminationCondition.infeasible:
            explanation = diagnose(planner)
            return _fallback(
                planner, baselines, baseline_violations, "infeasible", explanation, notes
            )
        if condition not in (TerminationCondition.optimal, TerminationCondition.maxTimeLimit):
            return _fallback(
                planner,
                baselines,
                baseline_violations,
                "fallback",
                [f"HiGHS stopped with {condition.name}"],
                notes,
            )
        if not planner.solution_loaded:
            return _fallback(
                planner,
                baselines,
                baseline_violations,
                "fallback",
                [f"no feasible plan within the {options.time_limit:g} s time limit"],
                notes,
            )
        status = "optimal" if condition == TerminationCondition.optimal else "time_limit"
        model_figures = _model_figures(planner.model)
        plan_schedule = _schedule_from_model(
            planner.model, facility, planner.lin, planner.baseline_schedule
        )
        verify_started = time.perf_counter()
        result = simulate(facility, plan_schedule, series)
        violations = find_violations(facility, result)
        verify_time += time.perf_counter() - verify_started
        if not violations:
            break
        if not _tighten(planner, result, violations, model_options):
            notes.append("verification found violations the model cannot tighten further")
            break
    planner.timings["verify_s"] = verify_time
    if violations and rounds == options.max_rounds:
        notes.append(
            f"verification still found {len(violations)} violated limit(s) after "
            f"{options.max_rounds} round(s): the plan is returned unverified"
        )
    assert plan_schedule is not None and result is not None
    figures = verified_figures(
        facility, plan_schedule, result, float(pyo.value(planner.model.deferred_price))
    )
    plan = Plan(
        status=status,
        verified=not violations,
        schedule=plan_schedule,
        result=result,
        violations=violations,
        figures=figures,
        baselines=baselines,
        baseline_violations=baseline_violations,
        timings=dict(planner.timings),
        gap=gap,
        rounds=rounds,
        model_figures=model_figures,
        notes=notes,
        baseline_schedule=planner.baseline_schedule,
        baseline_result=planner.baseline_result,
    )
    if options.shadow_prices and not violations:
        shadow_started = time.perf_counter()
        plan.shadow_prices = shadow_prices(planner)
        plan.timings["shadow_prices_s"] = time.perf_counter() - shadow_started
    return plan


def _baselines(
    planner: PlanSolver,
) -> tuple[dict[str, dict[str, float]], dict[str, list[str]], dict[str, Any]]:
    facility, series = planner.facility, planner.series
    price = float(pyo.value(planner.model.deferred_price))
    rule = rule_based(facility, series)
    rule_result = simulate(facility, rule.schedule, series, per_rack=False)
    figures = {
        "as_operated": verified_figures(
            facility, planner.baseline_schedule, planner.baseline_result, price
        ),
        "rule_based": verified_figures(facility, rule.schedule, rule_result, price),
    }
    violations = {
        "as_operated": [v.message for v in find_violations(facility, planner.baseline_result)],
        "rule_based": [v.message for v in find_violations(facility, rule_result)],
    }
    return figures, violations, {"notes": [f"rule-based baseline: {n}" for n in rule.notes]}


# verification kinds → model family whose limit is derated when verification finds it broken
_FAMILY = {
    "feed_capacity": "feed",
    "contract_capacity": "contract",
    "demand_response": "demand_response",
    "shelf_capacity": "busbar",
    "busbar_current": "busbar",
    "undervoltage": "busbar",
    "coil_capacity": "coil",
    "cdu_capacity": "cdu",
    "coolant_supply": "coolant",
}


def _tighten(
    planner: PlanSolver,
    result: xr.Dataset,
    violations: list[Violation],
    model_options: ModelOptions,
) -> bool:
    """Tighten the model where verification found limits broken; True if anything changed.

    Violated inlet rows not in the model are added (lazy constraints); rows that were in the
    model but still broke (the linearization was optimistic) get the excess as extra margin.
    Other limits are derated by their relative excess plus 0.5 % (coolant supply: the excess
    in K plus 0.05 K).  Kinds the model cannot act on are left to the report.
    """
    changed = False
    facility, m = planner.facility, planner.model
    for violation in violations:
        if violation.kind == "inlet_temperature":
            # The linearization of a rack's inlet is off by a similar amount at every step
            # (its in-rack loss slope), so a violating rack gets its worst excess as a margin
            # on every step, and all its steps enter the model as rows.
            excess = result["inlet_temperature"].values - facility.inlet_limit  # (T, R)
            for r in np.flatnonzero((excess > 1e-6).any(axis=0)):
                margin = float(excess[:, r].max()) + 0.02
                for t in range(planner.lin.steps):  # every period of the plan
                    dropped, added = add_inlet_row(m, int(r), t, margin)
                    planner.solver.drop_rows(dropped)
                    planner.solver.add_rows([added])
                changed = True
            continue
        family = _FAMILY.get(violation.kind)
        if family is None:
            continue
        if family == "coolant":
            extra = violation.worst - violation.limit + 0.05
        else:
            extra = (violation.worst - violation.limit) / max(abs(violation.limit), 1e-9) + 0.005
        set_derating(m, family, extra)
        planner.solver.invalidate()
        changed = True
    return changed


def _fallback(
    planner: PlanSolver,
    baselines: dict[str, dict[str, float]],
    baseline_violations: dict[str, list[str]],
    status: str,
    explanation: list[str],
    notes: list[str],
) -> Plan:
    facility = planner.facility
    return Plan(
        status=status,
        verified=False,
        schedule=planner.baseline_schedule,
        result=planner.baseline_result,
        violations=find_violations(facility, planner.baseline_result),
        figures=verified_figures(
            facility,
            planner.baseline_schedule,
            planner.baseline_result,
            planner.lin.deferred_energy_price,
        ),
        baselines=baselines,
        baseline_violations=baseline_violations,
        timings=dict(planner.timings),
        explanation=explanation,
        notes=[*notes, "returned the as-operated baseline as a fallback"],
        baseline_schedule=planner.baseline_schedule,
        baseline_result=planner.baseline_result,
    )


def plan(facility: Facility, series: xr.Dataset, options: PlanOptions | None = None) -> Plan:
    """Plan ``facility`` over ``series`` and verify the plan with the physics.

    Parameters
    ----------
    facility
        Compiled facility.
    series
        Exogenous series on the planning axis: ``price`` [USD/MWh], ``carbon_intensity``
        [g/kWh], weather, tier 1/2 profiles, optional ``pv_capacity_factor`` and
        ``dr_import_cap`` [W].
    options
        Solver control and model switches.

    Returns
    -------
    Plan
    """
    return Planner(facility, series, options).run()


__all__ = ["Plan", "PlanOptions", "Planner", "plan", "verified_figures"]
