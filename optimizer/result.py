"""The plan the co-planner returns: verified figures, contracts, baselines, end state.

**Which schedule a plan returns** (:func:`choose_source`, :attr:`Plan.source`): the co-plan, or
the rule-based schedule when it is better.

The co-plan is optimal for the planning model, a linearization of the physics; the verified
figures are the physics'.  Where the linearization is off (a peak the model under-predicts, a
demand charge on it), the verified co-plan can cost more than the scripted rule-based operator
(:func:`optimizer.baselines.rule_based`) it is shown beside: on the CAISO week of 17 July 2023
it did, by 0.25 %.  A plan that recommends a dearer schedule than the script is not honest, so
the rule-based schedule is returned in the co-plan's place (``plan_source: rule_based``) when
it is verified (no limit broken, its setpoints within the ramp limits from the setpoints in
force, every hard contract kept, and what the plan's options ask: an end SOC target, an inlet
margin) and

* the co-plan is verified, both deliver equal work (IT energy within
  :data:`optimizer.result.EQUAL_WORK_TOLERANCE` of each other) and the rule-based schedule
  costs less under the same tariff over the same look-ahead (by more than a cent);
* or the co-plan did not verify (a verified schedule is returned rather than a flagged one).

Otherwise the co-plan is returned (``plan_source: co_plan``).  Shadow prices and the model's
own figures belong to the co-plan's LP: a plan returning the rule-based schedule has none (the
co-plan's model figures are kept in ``choice``).  Either way the reason and both
verified costs are kept (:func:`choose_source`), as the fleet does with its ``sites_alone`` plan
(:mod:`optimizer.fleet.plan`).  A plan that fell back to the as-operated baseline has
``plan_source: as_operated``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from optimizer.accounting import billing_labels
from optimizer.state import PlanState
from physics.constants import JOULES_PER_KWH, WATTS_PER_KILOWATT
from physics.facility import Facility
from physics.schedule import Schedule
from physics.violations import Violation

COMPARED = ("cost", "carbon_kg", "peak_grid_kw", "cooling_energy_kwh")
"""Figures whose savings are reported against each baseline."""

EQUAL_WORK_TOLERANCE = 0.005
"""Largest relative difference of IT energy between a plan and a baseline for their figures
to count as equal work [-] (server fans follow the inlet temperature, so IT energy moves a
little with the setpoints)."""


@dataclass
class Plan:
    """A verified plan and its comparison with the baselines.

    Every figure covers the whole look-ahead (``figures``, ``baselines``), over which plan and
    baselines deliver the same work; ``committed`` holds the same figures for the committed
    period alone (the decisions to apply), labelled as such.
    """

    status: str
    """``optimal``, ``time_limit`` (best feasible, see ``gap``), ``fallback`` (no feasible
    plan in time: the as-operated baseline), or ``infeasible`` (see ``explanation``)."""
    verified: bool
    """The released schedule was re-simulated by the physics, broke no limit and kept every
    hard service contract.  The physics is the published models within their fitted range,
    except where ``curve_range`` says the weather took the chiller curves outside it (they
    are clamped there, and the saving on those steps is extrapolated)."""
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
    """The LP's own prediction of the co-plan's figures (before verification), to measure
    the approximation error (the co-plan's also when ``source`` is ``rule_based``)."""
    notes: list[str] = field(default_factory=list)
    baseline_schedule: Schedule | None = None
    """The as-operated baseline the plan is compared with."""
    baseline_result: xr.Dataset | None = None
    """Its simulation by the physics (what ``baselines["as_operated"]`` was computed from)."""
    sla: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Each workload's contract under the plan (:func:`optimizer.accounting.sla_report`)."""
    baseline_sla: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    """The same for each baseline."""
    committed: dict[str, dict[str, float]] = field(default_factory=dict)
    """Figures of the committed period alone: ``plan`` and each baseline."""
    committed_steps: int = 0
    """Fine steps of the committed period [-]."""
    lookahead: dict[str, Any] = field(default_factory=dict)
    """``start``, ``committed_end``, ``end`` (UTC ISO 8601), ``steps``, ``periods``,
    ``step_seconds``."""
    state: PlanState | None = None
    """The state the plan started from."""
    facility: Facility | None = None
    """The facility as seen from that state (job energies left, battery SOC)."""
    deferred_energy_price: float = 0.0
    """Value given to tier-3 energy left for after the look-ahead [currency/kWh]."""
    curve_range: dict[str, Any] = field(default_factory=dict)
    """Steps where plan and baselines ran the chillers outside their curves' fitted range,
    and the saving on weather-driven ones (:func:`optimizer.curve_range.plan_curve_range`)."""
    source: str = "co_plan"
    """Which schedule this plan is: ``co_plan``, ``rule_based`` (verified, equal work and
    cheaper than the verified co-plan, so returned in its place) or ``as_operated`` (a
    fallback); see :mod:`optimizer.result`."""
    choice: dict[str, Any] = field(default_factory=dict)
    """Why: ``reason``, the verified ``cost`` of the co-plan and of the rule-based schedule
    [currency], and the co-plan's compared figures (:func:`optimizer.result.choose_source`)."""

    @property
    def currency(self) -> str:
        """Currency of every cost."""
        return self.facility.grid.currency if self.facility is not None else "USD"

    def savings(self, baseline: str) -> dict[str, float | None]:
        """Fractional reduction of cost, carbon, peak and cooling energy vs a baseline
        (positive: the plan is lower)."""
        reference = self.baselines[baseline]
        out: dict[str, float | None] = {}
        for key in COMPARED:
            ref = reference.get(key)
            out[key] = (ref - self.figures[key]) / ref if ref else None
        return out

    def equal_work(self) -> dict[str, Any]:
        """IT energy of the plan and each baseline over the look-ahead [kWh] and the largest
        relative difference, with the tier-3 energy each leaves for later [kWh]."""
        energy = {"plan": self.figures.get("it_energy_kwh", 0.0)}
        deferred = {"plan": self.figures.get("deferred_kwh", 0.0)}
        for name, figures in self.baselines.items():
            energy[name] = figures.get("it_energy_kwh", 0.0)
            deferred[name] = figures.get("deferred_kwh", 0.0)
        reference = max(energy["plan"], 1e-9)
        difference = max(abs(value - energy["plan"]) / reference for value in energy.values())
        return {
            "it_energy_kwh": {k: round(v, 3) for k, v in energy.items()},
            "deferred_kwh": {k: round(v, 3) for k, v in deferred.items()},
            "max_relative_difference": round(difference, 6),
            "equal": bool(difference <= EQUAL_WORK_TOLERANCE),
        }

    def end_state(self) -> PlanState:
        """The state at the end of the committed period if the plan is applied as verified:
        job energy done, battery SOC, billing peak so far and the setpoints in force."""
        facility = self.facility
        if facility is None:
            raise ValueError("this plan keeps no facility to derive its end state")
        steps = max(self.committed_steps, 1)
        ds = self.result
        time = ds["time"].values
        step_seconds = float(ds.attrs["step_seconds"])
        end = time[steps - 1] + np.timedelta64(round(step_seconds * 1e9), "ns")
        work = facility.workloads
        before = dict(self.state.job_energy_done) if self.state is not None else {}
        done = dict(before)
        for j in np.flatnonzero(work.tier == 3):
            delivered = float(self.schedule.workload_power[:steps, j].sum()) * step_seconds
            name = work.ids[j]
            done[name] = before.get(name, 0.0) + delivered / JOULES_PER_KWH
        labels = billing_labels(facility, np.append(time[:steps], end))
        label = str(labels[-1])
        grid_kw = ds["grid_power"].values[:steps] / WATTS_PER_KILOWATT
        in_period = labels[:-1] == label
        peak = float(grid_kw[in_period].max()) if in_period.any() else 0.0
        if self.state is not None and self.state.billing_period == label:
            peak = max(peak, self.state.peak_so_far_kw)
        soc = float(ds["battery_soc"].values[steps - 1]) if facility.battery is not None else None
        return PlanState(
            time=pd.Timestamp(end).tz_localize(UTC).to_pydatetime(),
            job_energy_done=done,
            battery_soc=None if soc is None or not np.isfinite(soc) else soc,
            peak_so_far_kw=max(peak, 0.0),
            billing_period=label,
            supply_temperature={
                unit: float(self.schedule.supply_temperature[steps - 1, u])
                for u, unit in enumerate(facility.units.ids)
            },
            chilled_water_temperature=float(self.schedule.chilled_water_temperature[steps - 1]),
        )

    def to_json(self) -> dict[str, Any]:
        """The ``dctwin plan --json`` object."""
        data: dict[str, Any] = {
            "status": self.status,
            "verified": self.verified,
            "plan_source": self.source,
            "plan_choice": self.choice,
            "contracts_met": all(
                entry["met"] or entry.get("contract") == "soft" for entry in self.sla.values()
            ),
            "currency": self.currency,
            "violations": [v.message for v in self.violations],
            **{k: round(v, 6) for k, v in self.figures.items()},
            "baselines": self.baselines,
            "baseline_violations": self.baseline_violations,
            "savings_vs_as_operated": self.savings("as_operated"),
            "savings_vs_rule_based": self.savings("rule_based"),
            "equal_work": self.equal_work(),
            "sla": self.sla,
            "baseline_sla": self.baseline_sla,
            "committed": self.committed,
            "lookahead": self.lookahead,
            "deferred_energy_price": round(self.deferred_energy_price, 6),
            "clamped_curve_evaluations": int(self.result.attrs.get("clamped_curve_evaluations", 0)),
            "curve_range": self.curve_range,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "rounds": self.rounds,
            "gap": self.gap,
            "shadow_prices": self.shadow_prices,
            "model_figures": self.model_figures,
            "notes": self.notes,
        }
        if self.state is not None:
            data["start_state"] = self.state.to_json()
        if self.explanation:
            data["explanation"] = self.explanation
        return data


# Which schedule a plan returns (see the module docstring).

CO_PLAN = "co_plan"
"""The co-planner's own verified schedule."""
RULE_BASED = "rule_based"
"""The rule-based baseline's schedule, returned in the co-plan's place."""
AS_OPERATED = "as_operated"
"""The as-operated baseline, returned as a fallback (no plan found, or refused)."""


def choose_source(
    plan_figures: dict[str, float],
    plan_verified: bool,
    rule_figures: dict[str, float],
    rule_problems: list[str],
    rule_contracts_met: bool,
    currency: str = "USD",
) -> dict[str, Any]:
    """Whether the rule-based schedule stands for the co-plan, and why: when it is verified
    (``rule_problems`` empty, contracts met) and either the co-plan is not verified, or both do
    equal work and it costs less by more than a cent (and 1e-6 of the cost).

    Parameters
    ----------
    plan_figures
        The co-plan's verified figures over the look-ahead (``cost`` [currency],
        ``it_energy_kwh`` [kWh], ...).
    plan_verified
        Whether the co-plan is verified (physics, ramps and contracts).
    rule_figures
        The rule-based schedule's figures over the same look-ahead, from the same state,
        under the same tariff.
    rule_problems
        What the rule-based schedule breaks, in words (limits, contracts, ramps, the plan's own
        options such as an end SOC target or an inlet margin; empty: none).
    rule_contracts_met
        Whether it keeps every hard contract.
    currency
        Currency label of the costs in the reason.

    Returns
    -------
    dict
        ``source`` (:data:`CO_PLAN` or :data:`RULE_BASED`), ``reason`` (one sentence),
        ``cost`` [currency] of ``co_plan`` and ``rule_based``, and ``co_plan``: the co-plan's
        compared figures (cost [currency], carbon [kg], peak [kW], cooling energy [kWh]).
    """
    plan_cost, rule_cost = float(plan_figures["cost"]), float(rule_figures["cost"])
    costs = f"{plan_cost:,.2f} {currency} against {rule_cost:,.2f} {currency}"
    source = CO_PLAN
    plan_work = float(plan_figures.get("it_energy_kwh", 0.0))
    rule_work = float(rule_figures.get("it_energy_kwh", 0.0))
    rule_sound = not rule_problems and rule_contracts_met
    if not plan_verified and rule_sound:
        source = RULE_BASED
        work = (
            ""
            if abs(rule_work - plan_work) <= EQUAL_WORK_TOLERANCE * max(plan_work, 1e-9)
            else f"; it delivers {rule_work:,.0f} kWh of IT energy against {plan_work:,.0f}"
        )
        reason = (
            "the co-plan did not verify; the rule-based schedule, verified and keeping every "
            f"contract, is returned in its place ({costs}{work})"
        )
    elif not plan_verified:
        shown = "; ".join(rule_problems[:2]) or "a hard contract"
        reason = (
            f"the co-plan is not verified and the rule-based schedule breaks {shown}: the "
            "co-plan is returned as it is, flagged"
        )
    elif not rule_sound:
        shown = "; ".join(rule_problems[:2]) or "a hard contract"
        reason = f"the rule-based schedule breaks {shown}: the co-plan is returned"
    elif abs(rule_work - plan_work) > EQUAL_WORK_TOLERANCE * max(plan_work, 1e-9):
        reason = (
            f"the rule-based schedule delivers unequal work ({rule_work:,.0f} against "
            f"{plan_work:,.0f} kWh of IT energy): the co-plan is returned"
        )
    elif rule_cost < plan_cost - max(0.01, 1e-6 * abs(plan_cost)):  # not on rounding noise
        source = RULE_BASED
        reason = (
            f"the co-plan verified dearer than the rule-based schedule ({costs}, "
            f"{(plan_cost - rule_cost) / max(abs(rule_cost), 1e-9):+.2%}), which is verified, "
            "keeps every contract and does equal work: the rule-based schedule is returned"
        )
    else:
        reason = f"the co-plan verified at or below the rule-based schedule ({costs})"
    return {
        "source": source,
        "reason": reason,
        "cost": {CO_PLAN: round(plan_cost, 6), RULE_BASED: round(rule_cost, 6)},
        CO_PLAN: {k: round(float(plan_figures[k]), 6) for k in COMPARED if k in plan_figures},
    }


def describe_solve(data: dict[str, Any]) -> str:
    """The solve in words: "status optimal, 3 round(s), gap 0.01%" (``status``, ``rounds``
    and ``gap`` of a plan's JSON).  They are the co-plan's LP's: for a plan returning the
    rule-based schedule in its place the words say so ("co-plan status optimal, ..."), so as
    not to read as the returned schedule's."""
    rounds = data.get("rounds")
    gap = data.get("gap")
    words = f"status {data.get('status')}" + (f", {rounds} round(s)" if rounds is not None else "")
    words += f", gap {gap:.2%}" if gap is not None else ""
    return f"co-plan {words}" if data.get("plan_source") == RULE_BASED else words


def describe_source(data: dict[str, Any]) -> list[str]:
    """Sentences for the report and the Plan page: which schedule the plan is, and why.

    Parameters
    ----------
    data
        A plan's JSON (:meth:`optimizer.result.Plan.to_json`), or a summary with
        ``plan_source`` and ``plan_choice``.

    Returns
    -------
    list of str
        Empty when the plan records no choice (older plans); one sentence otherwise, and the
        co-plan's verified cost beside the rule-based one.
    """
    source = data.get("plan_source")
    choice = data.get("plan_choice") or {}
    if source is None or not choice:
        return []
    label = {
        CO_PLAN: "the co-plan",
        RULE_BASED: "the rule-based schedule",
        AS_OPERATED: "the as-operated baseline",
    }
    return [f"plan returned: {label.get(str(source), str(source))} ({choice['reason']})"]
