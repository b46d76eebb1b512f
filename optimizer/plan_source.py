"""Which schedule a plan returns: the co-plan, or the rule-based schedule when it is better.

The co-plan is optimal for the planning model, a linearization of the physics; the verified
figures are the physics'.  Where the linearization is off (a peak the model under-predicts, a
demand charge on it), the verified co-plan can cost more than the scripted rule-based operator
(:func:`optimizer.baselines.rule_based`) it is shown beside: on the CAISO week of 17 July 2023
it did, by 0.25 %.  A plan that recommends a dearer schedule than the script is not honest, so
the rule-based schedule is returned in the co-plan's place (``plan_source: rule_based``) when

* the co-plan is verified (an unverified co-plan is returned as it is, flagged);
* the rule-based schedule is verified too: no limit broken, its setpoints within the ramp
  limits from the setpoints in force, every hard contract kept;
* both deliver equal work: IT energy within
  :data:`optimizer.result.EQUAL_WORK_TOLERANCE` of each other;
* and the rule-based schedule costs less under the same tariff over the same look-ahead.

Otherwise the co-plan is returned (``plan_source: co_plan``).  Either way the reason and both
verified costs are kept (:func:`choose`), as the fleet does with its ``sites_alone`` plan
(:mod:`optimizer.fleet.plan`).  A plan that fell back to the as-operated baseline has
``plan_source: as_operated``.
"""

from __future__ import annotations

from typing import Any

from optimizer.result import COMPARED, EQUAL_WORK_TOLERANCE

__all__ = ["AS_OPERATED", "CO_PLAN", "RULE_BASED", "choose", "describe"]

CO_PLAN = "co_plan"
"""The co-planner's own verified schedule."""
RULE_BASED = "rule_based"
"""The rule-based baseline's schedule, returned in the co-plan's place."""
AS_OPERATED = "as_operated"
"""The as-operated baseline, returned as a fallback (no plan found, or refused)."""


def choose(
    plan_figures: dict[str, float],
    plan_verified: bool,
    rule_figures: dict[str, float],
    rule_problems: list[str],
    rule_contracts_met: bool,
    currency: str = "USD",
) -> dict[str, Any]:
    """Whether the rule-based schedule stands for the verified co-plan, and why.

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
        What the rule-based schedule breaks, in words (limits, contracts, ramps; empty: none).
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
    if not plan_verified:
        reason = (
            "the co-plan is not verified: it is returned as it is, flagged, and not compared "
            "with the rule-based schedule"
        )
    elif rule_problems or not rule_contracts_met:
        shown = "; ".join(rule_problems[:2]) or "a hard contract"
        reason = f"the rule-based schedule breaks {shown}: the co-plan is returned"
    elif abs(rule_work - plan_work) > EQUAL_WORK_TOLERANCE * max(plan_work, 1e-9):
        reason = (
            f"the rule-based schedule delivers unequal work ({rule_work:,.0f} against "
            f"{plan_work:,.0f} kWh of IT energy): the co-plan is returned"
        )
    elif rule_cost < plan_cost:
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


def describe(data: dict[str, Any]) -> list[str]:
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
