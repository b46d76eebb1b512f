"""The verification loop: solve, hold the decisions over the fine steps, simulate, check.

Each solution becomes a :class:`physics.schedule.Schedule` on the fine steps of the series,
simulated by :func:`physics.simulate.simulate`; every limit of
:func:`physics.violations.find_violations`, the setpoint ramp limits and every service contract
(:func:`optimizer.accounting.sla_report`) are checked.  A violated inlet row enters the model
(lazy constraint), other violated limits are derated by the excess seen, and the model is
re-solved a bounded number of times.  The baselines are judged the same way, over the same
look-ahead, from the same state, under the same tariff.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyomo.environ as pyo
import xarray as xr
from pyomo.contrib.appsi.base import TerminationCondition

from optimizer.accounting import contracts_met, sla_report, verified_figures
from optimizer.baselines import rule_based
from optimizer.blocks.options import KELVIN_FAMILIES
from optimizer.curve_range import plan_curve_range
from optimizer.explain import diagnose, shadow_prices
from optimizer.linearize import Linearization
from optimizer.linearize_liquid import liquid_refusals
from optimizer.model import ModelOptions, add_inlet_row, set_derating
from optimizer.planner import PlanSolver
from optimizer.progress import Tracker
from optimizer.result import AS_OPERATED, RULE_BASED, Plan, choose_source
from physics.constants import SECONDS_PER_HOUR, WATTS_PER_KILOWATT
from physics.facility import Facility
from physics.schedule import Schedule
from physics.simulate import simulate
from physics.violations import Violation, find_violations

RAMP_TOLERANCE = 1e-6
"""Setpoint changes up to the ramp limit plus this are accepted [K]."""


def _values(variables: Any, keys: Any) -> np.ndarray:
    """The values of ``variables[key]`` for each key, as floats (units of the variables).

    Reads each variable's value attribute directly (``pyo.value`` per variable was most of
    the read-back at 10,000 racks); a variable without a value raises ``TypeError``.
    """
    return np.fromiter((variables[key].value for key in keys), dtype=float)


def schedule_from_model(
    m: pyo.ConcreteModel, facility: Facility, lin: Linearization, baseline: Schedule
) -> Schedule:
    """The model's decisions held over the fine steps of each period.

    Workloads the plan does not decide (tier 1) keep their fine-step profile from
    ``baseline`` (the as-operated schedule on the fine axis).
    """
    steps, count = lin.steps, facility.units.count
    supply = _values(m.cooling.supply, ((u, t) for t in range(steps) for u in range(count)))
    chilled = _values(m.cooling.chilled, range(steps))
    battery = _values(m.battery.charge, range(steps)) - _values(m.battery.discharge, range(steps))
    power = np.array(baseline.workload_power, dtype=float, copy=True)
    for j in lin.flexible:
        decided = np.maximum(_values(m.workloads.power, ((int(j), t) for t in range(steps))), 0.0)
        power[:, j] = lin.axis.expand(decided) * WATTS_PER_KILOWATT
    expand = lin.axis.expand
    return Schedule(
        supply_temperature=expand(supply.reshape(steps, count)),
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
        "peak_grid_kw": float(max(pyo.value(m.grid.peak[b]) for b in m.grid.B)),
        "cooling_energy_kwh": float(sum(pyo.value(m.cooling.power[t]) * float(dt[t]) for t in m.T)),
    }


def committed_steps(planner: PlanSolver) -> int:
    """Fine steps of the committed period: ``options.committed_hours`` from the start, the
    whole look-ahead when None [-]."""
    hours = planner.options.committed_hours
    steps = planner.axis.steps
    if hours is None:
        return steps
    per_step = planner.axis.step_seconds / SECONDS_PER_HOUR
    return int(min(max(round(hours / per_step), 1), steps))


def ramp_violations(facility: Facility, schedule: Schedule, options: ModelOptions) -> list[str]:
    """Setpoint changes between fine steps beyond the ramp limits, in words (empty: none).

    The first step is checked against the setpoints in force (``initial_supply``,
    ``initial_chilled_water``) when known.
    """
    problems: list[str] = []
    supply = np.asarray(schedule.supply_temperature, dtype=float)
    if options.initial_supply is not None:
        supply = np.vstack([np.asarray(options.initial_supply, dtype=float), supply])
    jumps = np.abs(np.diff(supply, axis=0)) if supply.shape[0] > 1 else np.zeros((0, 0))
    if jumps.size and jumps.max() > options.ramp_limit + RAMP_TOLERANCE:
        t, u = np.unravel_index(int(np.argmax(jumps)), jumps.shape)
        problems.append(
            f"supply setpoint of {facility.units.ids[u]} moves {jumps[t, u]:.2f} K in one step "
            f"(ramp limit {options.ramp_limit:g} K per step)"
        )
    chilled = np.asarray(schedule.chilled_water_temperature, dtype=float)
    if options.initial_chilled_water is not None:
        chilled = np.concatenate([[options.initial_chilled_water], chilled])
    steps = np.abs(np.diff(chilled))
    if steps.size and steps.max() > options.chilled_water_ramp_limit + RAMP_TOLERANCE:
        problems.append(
            f"chilled-water setpoint moves {steps.max():.2f} K in one step (ramp limit "
            f"{options.chilled_water_ramp_limit:g} K per step)"
        )
    return problems


def _judge(
    planner: PlanSolver, schedule: Schedule, result: xr.Dataset, steps: int, price: float
) -> tuple[dict[str, float], dict[str, float], dict[str, dict[str, Any]]]:
    """Figures over the look-ahead, over the committed steps, and the contracts."""
    facility, state = planner.facility, planner.state
    figures = verified_figures(facility, schedule, result, price, state)
    committed = verified_figures(facility, schedule, result, price, state, slice(0, steps))
    report = sla_report(
        facility,
        schedule,
        result["time"].values,
        float(result.attrs["step_seconds"]),
        planner.baseline_schedule,
    )
    return figures, committed, report


def _contract_problems(report: dict[str, dict[str, Any]]) -> list[str]:
    """Sentences for the hard contracts an :func:`sla_report` finds broken."""
    lines = []
    for name, entry in report.items():
        if entry["met"] or entry.get("contract") == "soft":
            continue
        if entry["tier"] == 3:
            lines.append(
                f"job {name!r}: {entry['on_time_kwh']:,.0f} of {entry['required_kwh']:,.0f} kWh "
                f"by its deadline ({entry['late_kwh']:,.0f} kWh late, "
                f"{entry['unserved_kwh'] + entry['deferred_kwh']:,.0f} kWh not delivered)"
            )
        elif entry["tier"] == 2:
            lines.append(
                f"workload {name!r}: delayed up to {entry['max_delay_h']:g} h "
                f"(allowed {entry['allowed_delay_h']:g} h), {entry['unserved_kwh']:,.0f} kWh "
                "not served"
            )
        else:
            lines.append(f"tier-1 workload {name!r} was changed")
    return lines


class _Baselines:
    """Both baselines judged once: figures, committed figures, contracts, violations, notes."""

    def __init__(self, planner: PlanSolver, steps: int) -> None:
        facility, series = planner.facility, planner.series
        price = float(pyo.value(planner.model.deferred_price))
        # from the plan's state: facility carries work done and SOC, state the billed peak and
        # the setpoints in force (ramped from at the plan's limits)
        model = planner.options.model
        rule = rule_based(facility, series, state=planner.state, ramps=model.ramps)
        # the rule-based baseline simulated its own schedule (per_rack=False) already
        rule_result = rule.result
        if rule_result is None:
            rule_result = simulate(facility, rule.schedule, series, per_rack=False)
        cases = {
            "as_operated": (planner.baseline_schedule, planner.baseline_result),
            "rule_based": (rule.schedule, rule_result),
        }
        self.figures: dict[str, dict[str, float]] = {}
        self.committed: dict[str, dict[str, float]] = {}
        self.sla: dict[str, dict[str, dict[str, Any]]] = {}
        self.violations: dict[str, list[str]] = {}
        self.results = {name: result for name, (_, result) in cases.items()}
        self.schedules = {name: schedule for name, (schedule, _) in cases.items()}
        for name, (schedule, result) in cases.items():
            figures, committed, report = _judge(planner, schedule, result, steps, price)
            self.figures[name], self.committed[name], self.sla[name] = figures, committed, report
            self.violations[name] = (
                [v.message for v in find_violations(facility, result)]
                + _contract_problems(report)
                + ramp_violations(facility, schedule, model)
            )
        self.notes = [f"rule-based baseline: {n}" for n in rule.notes]


def _lookahead(planner: PlanSolver, steps: int) -> dict[str, Any]:
    axis = planner.axis

    def iso(value: np.datetime64) -> str:
        return pd.Timestamp(value).tz_localize("UTC").isoformat()

    committed_end = axis.fine_time[steps] if steps < axis.steps else axis.end_time
    return {
        "start": iso(axis.fine_time[0]),
        "committed_end": iso(committed_end),
        "end": iso(axis.end_time),
        "steps": axis.steps,
        "periods": axis.periods,
        "step_seconds": axis.step_seconds,
    }


@dataclass
class _Attempt:
    """One solved and verified model: its schedule, physics result and what broke."""

    schedule: Schedule
    result: xr.Dataset
    violations: list[Violation]
    ramps: list[str]
    status: str
    gap: float | None
    rounds: int
    model_figures: dict[str, float]
    figures: dict[str, float] = field(default_factory=dict)
    committed: dict[str, float] = field(default_factory=dict)
    report: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def broken(self) -> list[str]:
        """Hard contracts and ramp limits broken, in words."""
        return _contract_problems(self.report) + self.ramps

    @property
    def verified(self) -> bool:
        """Whether physics, ramps and contracts all hold."""
        return not self.violations and not self.broken and contracts_met(self.report)


def _solve_and_verify(
    planner: PlanSolver, steps: int, notes: list[str], progress: Tracker | None = None
) -> _Attempt | tuple[str, list[str]]:
    """Solve, simulate, tighten and re-solve up to ``max_rounds`` times.

    Returns the last attempt, or the status and explanation when the solve gave no plan.
    ``progress`` goes from 0 to 1 over the rounds (1 when verified early).
    """
    progress = progress or Tracker()
    facility, series, options = planner.facility, planner.series, planner.options
    attempt: _Attempt | None = None
    verify_time = 0.0
    for rounds in range(1, options.max_rounds + 1):
        progress(f"solve (round {rounds})", (rounds - 1) / options.max_rounds)
        condition, gap = planner.solve()
        stop = _stopped(planner, condition)
        if stop is not None:
            return stop
        schedule = schedule_from_model(
            planner.model, facility, planner.lin, planner.baseline_schedule
        )
        progress(f"verify with the physics (round {rounds})", (rounds - 0.5) / options.max_rounds)
        verify_started = time.perf_counter()
        result = simulate(facility, schedule, series)
        attempt = _Attempt(
            schedule=schedule,
            result=result,
            violations=find_violations(facility, result),
            ramps=ramp_violations(facility, schedule, options.model),
            status="optimal" if condition == TerminationCondition.optimal else "time_limit",
            gap=gap,
            rounds=rounds,
            model_figures=_model_figures(planner.model),
        )
        verify_time += time.perf_counter() - verify_started
        if not attempt.violations:
            break
        tighten_started = time.perf_counter()
        tightened = tighten(planner, result, attempt.violations, options.model)
        planner.timings["tighten_s"] = (
            planner.timings.get("tighten_s", 0.0) + time.perf_counter() - tighten_started
        )
        if not tightened:
            notes.append("verification found violations the model cannot tighten further")
            break
    planner.timings["verify_s"] = planner.timings.get("verify_s", 0.0) + verify_time
    assert attempt is not None
    if attempt.violations and attempt.rounds == options.max_rounds:
        notes.append(
            f"verification still found {len(attempt.violations)} violated limit(s) after "
            f"{options.max_rounds} round(s): the plan is returned unverified"
        )
    progress("verified" if not attempt.violations else "verification done", 1.0)
    price = float(pyo.value(planner.model.deferred_price))
    attempt.figures, attempt.committed, attempt.report = _judge(
        planner, attempt.schedule, attempt.result, steps, price
    )
    return attempt


def _refine(planner: PlanSolver, best: _Attempt, steps: int, notes: list[str]) -> _Attempt:
    """Correct the model by the physics at the verified plan and keep a better plan.

    The model is linearized at the as-operated point; at a plan far from it (warmer air,
    shifted work) its import is off by a few percent, and the demand charge is paid on the
    physics' peak, not the model's.  Each refinement adds the physics-minus-model import of
    the last verified plan to the model (:meth:`PlanSolver.correct`), solves and verifies
    again, and is kept only when it is verified and its verified cost is lower; otherwise
    the previous corrections are restored and the refinement stops.
    """
    count = planner.options.refinements
    for k in range(count):
        if not best.verified:
            break
        part = planner.progress.part(0.8 + 0.15 * k / count, 0.8 + 0.15 * (k + 1) / count)
        saved = planner.snapshot()
        started = time.perf_counter()
        planner.correct(best.result)
        planner.timings["refine_s"] = (
            planner.timings.get("refine_s", 0.0) + time.perf_counter() - started
        )
        trial_notes: list[str] = []
        trial = _solve_and_verify(planner, steps, trial_notes, part)
        gain = best.figures["cost"] - trial.figures["cost"] if isinstance(trial, _Attempt) else 0.0
        if (
            not isinstance(trial, _Attempt)
            or not trial.verified
            or gain <= 1e-6 * abs(best.figures["cost"])
        ):
            planner.restore(saved)
            break
        trial.rounds += best.rounds
        notes += trial_notes
        best = trial
    return best


def run_plan(planner: PlanSolver) -> Plan:
    """Solve, verify, tighten and re-solve, refine; return the verified plan (module docs)."""
    facility, options = planner.facility, planner.options
    steps = committed_steps(planner)
    started = time.perf_counter()
    planner.progress("baselines: as operated and rule based", 0.3)
    baselines = _Baselines(planner, steps)
    planner.timings["baselines_s"] = time.perf_counter() - started
    notes: list[str] = list(baselines.notes)
    refusals = liquid_refusals(facility)  # what no decision changes: refused before solving
    if refusals:
        return _fallback(planner, baselines, steps, "infeasible", refusals, notes)
    attempt = _solve_and_verify(planner, steps, notes, planner.progress.part(0.4, 0.8))
    if not isinstance(attempt, _Attempt):
        return _fallback(planner, baselines, steps, *attempt, notes)
    attempt = _refine(planner, attempt, steps, notes)
    notes += [f"not verified: {line}" for line in attempt.broken]
    plan = Plan(
        status=attempt.status,
        verified=attempt.verified,
        schedule=attempt.schedule,
        result=attempt.result,
        violations=attempt.violations,
        figures=attempt.figures,
        baselines=baselines.figures,
        baseline_violations=baselines.violations,
        timings=dict(planner.timings),
        gap=attempt.gap,
        rounds=attempt.rounds,
        model_figures=attempt.model_figures,
        notes=notes,
        baseline_schedule=planner.baseline_schedule,
        baseline_result=planner.baseline_result,
        sla=attempt.report,
        baseline_sla=baselines.sla,
        committed={"plan": attempt.committed, **baselines.committed},
        committed_steps=steps,
        lookahead=_lookahead(planner, steps),
        state=planner.state,
        facility=facility,
        deferred_energy_price=float(pyo.value(planner.model.deferred_price)),
        curve_range=plan_curve_range(facility, {"plan": attempt.result, **baselines.results}),
    )
    plan = _rule_based_if_cheaper(planner, plan, baselines, steps)
    if options.shadow_prices and plan.verified and plan.source != RULE_BASED:
        planner.progress("shadow prices", 0.95)
        shadow_started = time.perf_counter()
        plan.shadow_prices = shadow_prices(planner)
        plan.timings["shadow_prices_s"] = time.perf_counter() - shadow_started
    return plan


def _rule_based_if_cheaper(
    planner: PlanSolver, plan: Plan, baselines: _Baselines, steps: int
) -> Plan:
    """``plan`` (the verified co-plan) with its choice recorded, or the rule-based schedule in
    its place where :func:`optimizer.result.choose_source` says it stands for it.

    The rule-based baseline was judged on its hottest inlet (``per_rack=False``); the schedule
    returned is simulated again with per-rack series, as every plan's is (the twin check adds
    the calibrated inlet offsets to them), and judged again from that result.
    """
    facility = planner.facility
    problems = baselines.violations[RULE_BASED] + _options_missed(
        planner, baselines.results[RULE_BASED]
    )
    choice = choose_source(
        plan.figures,
        plan.verified,
        baselines.figures[RULE_BASED],
        problems,
        contracts_met(baselines.sla[RULE_BASED]),
        plan.currency,
    )
    plan.choice = choice
    if choice["source"] != RULE_BASED or not planner.options.rule_based_if_cheaper:
        if choice["source"] == RULE_BASED:
            choice["reason"] += " (not returned: rule_based_if_cheaper is off)"
            choice["source"] = plan.source
        return plan
    schedule = baselines.schedules[RULE_BASED]
    started = time.perf_counter()
    result = simulate(facility, schedule, planner.series)
    violations = find_violations(facility, result)
    price = plan.deferred_energy_price
    figures, committed, report = _judge(planner, schedule, result, steps, price)
    planner.timings["rule_based_s"] = time.perf_counter() - started
    if violations or not contracts_met(report):  # judged per rack as on its hottest: never
        choice["source"] = plan.source
        choice["reason"] = "the rule-based schedule breaks a limit per rack: the co-plan stands"
        return plan
    choice["co_plan_model_figures"] = plan.model_figures
    notes = [  # what failed verification was the co-plan, not the schedule returned
        f"co-plan: {n}" if n.startswith(("not verified: ", "verification still found")) else n
        for n in plan.notes
    ]
    if planner.options.shadow_prices:
        notes.append("no shadow prices: they are the co-plan's LP's, not the rule-based schedule's")
    return dataclasses.replace(
        plan,
        notes=notes,
        schedule=schedule,
        result=result,
        verified=True,
        violations=[],
        figures=figures,
        sla=report,
        committed={**plan.committed, "plan": committed},
        timings=dict(planner.timings),
        curve_range=plan_curve_range(facility, {"plan": result, **baselines.results}),
        model_figures={},  # the LP's own prediction is the co-plan's (kept in choice)
        source=RULE_BASED,
        choice=choice,
    )


def _options_missed(planner: PlanSolver, result: xr.Dataset) -> list[str]:
    """What the plan's own options ask that a baseline's ``result`` does not give: the end SOC
    target [-] and the inlet margin [K] the co-plan is held to (empty: none missed)."""
    model, facility = planner.options.model, planner.facility
    missed = []
    target = model.end_soc_target
    if target is not None and facility.battery is not None:
        end = float(result["battery_soc"].values[-1])
        if end < target - 1e-3:
            missed.append(f"the battery ends at SOC {end:.3f}, below the {target:.3f} asked")
    if model.inlet_margin > 0:
        name = "inlet_temperature" if "inlet_temperature" in result else "max_inlet_temperature"
        hottest, limit = float(result[name].max()), facility.inlet_limit - model.inlet_margin
        if hottest > limit + 1e-6:
            missed.append(f"an inlet reaches {hottest:.2f} °C, above its limit less the margin")
    return missed


def _stopped(planner: PlanSolver, condition: TerminationCondition) -> tuple[str, list[str]] | None:
    """Status and explanation when the solve gave no plan to verify (None: go on)."""
    if condition == TerminationCondition.infeasible:
        return "infeasible", diagnose(planner)
    if condition not in (TerminationCondition.optimal, TerminationCondition.maxTimeLimit):
        return "fallback", [f"HiGHS stopped with {condition.name}"]
    if not planner.solution_loaded:
        limit = planner.options.time_limit
        return "fallback", [f"no feasible plan within the {limit:g} s time limit"]
    return None


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
    "case_temperature": "case",
    "facility_loop_supply": "loop",
}


def tighten(
    planner: PlanSolver,
    result: xr.Dataset,
    violations: list[Violation],
    model_options: ModelOptions,
) -> bool:
    """Tighten the model where verification found limits broken; True if anything changed.

    Violated inlet rows not in the model are added (lazy constraints); rows that were in the
    model but still broke (the linearization was optimistic) get the excess as extra margin.
    Other limits are derated by their relative excess plus 0.5 % (coolant supply, case
    temperature, loop supply: the excess in K plus 0.05 K).  Kinds the model cannot act on
    are left to the report.
    """
    changed = False
    facility, m = planner.facility, planner.model
    for violation in violations:
        if violation.kind == "inlet_temperature":
            # The linearization of a rack's inlet is off by a similar amount at every step
            # (its in-rack loss slope), so a violating rack gets its worst excess as a margin
            # on every period, and all its periods enter the model as rows.
            excess = result["inlet_temperature"].values - facility.inlet_limit  # (T, R)
            dropped: list[Any] = []
            added: list[Any] = []
            for r in np.flatnonzero((excess > 1e-6).any(axis=0)):
                margin = float(excess[:, r].max()) + 0.02
                for t in range(planner.lin.steps):
                    old_rows, new_row = add_inlet_row(m, int(r), t, margin)
                    dropped += old_rows
                    added.append(new_row)
                changed = True
            # one hand-over for all rows (the LP is the same as row by row)
            planner.solver.drop_rows(dropped)
            planner.solver.add_rows(added)
            continue
        family = _FAMILY.get(violation.kind)
        if family is None:
            continue
        if family in KELVIN_FAMILIES:
            extra = violation.worst - violation.limit + 0.05
        else:
            extra = (violation.worst - violation.limit) / max(abs(violation.limit), 1e-9) + 0.005
        set_derating(m, family, extra)
        planner.solver.invalidate()
        changed = True
    return changed


def _fallback(
    planner: PlanSolver,
    baselines: _Baselines,
    steps: int,
    status: str,
    explanation: list[str],
    notes: list[str],
) -> Plan:
    facility = planner.facility
    schedule, result = planner.baseline_schedule, planner.baseline_result
    price = planner.lin.deferred_energy_price
    figures, committed, report = _judge(planner, schedule, result, steps, price)
    return Plan(
        status=status,
        verified=False,
        schedule=schedule,
        result=result,
        violations=find_violations(facility, result),
        figures=figures,
        baselines=baselines.figures,
        baseline_violations=baselines.violations,
        timings=dict(planner.timings),
        explanation=explanation,
        notes=[*notes, "returned the as-operated baseline as a fallback"],
        baseline_schedule=schedule,
        baseline_result=result,
        sla=report,
        baseline_sla=baselines.sla,
        committed={"plan": committed, **baselines.committed},
        committed_steps=steps,
        lookahead=_lookahead(planner, steps),
        state=planner.state,
        facility=facility,
        deferred_energy_price=price,
        curve_range=plan_curve_range(facility, {"plan": result, **baselines.results}),
        source=AS_OPERATED,
        choice={
            "source": AS_OPERATED,
            "reason": "no verified plan: the as-operated baseline is returned as a fallback",
            "cost": {AS_OPERATED: round(figures["cost"], 6)},
        },
    )
