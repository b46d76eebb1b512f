"""The objective: cost terms of the plan and the penalty on the elastic slacks.

The terms sit on the model itself (not in a Block), next to ``m.cost``, so the planner and
the explanations read them as ``m.energy_cost``, ``m.carbon_kg`` and so on.  The elastic
slacks of the Blocks are fixed to zero for planning and freed by a diagnosis
(:func:`optimizer.model.set_slacks_free`); :func:`elastic_slacks` lists them.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyomo.environ as pyo

from optimizer.blocks.options import DIAGNOSIS_LATENESS_PENALTY, ModelOptions
from optimizer.blocks.workloads import hours_late
from optimizer.linearize import Linearization
from physics.constants import JOULES_PER_KWH, SECONDS_PER_HOUR, WATTS_PER_KILOWATT
from physics.facility import Facility

SLACK_PENALTY = 1e4
"""Cost of one unit of slack (kW or K per step; the battery's end shortfall: per kWh, twice
per step length in hours) in diagnosis mode [currency]."""


def lateness_penalty(facility: Facility, options: ModelOptions, j: int) -> float | None:
    """Cost of tier-3 job ``j`` running late, per kWh and per hour late [currency/(kWh·h)].

    A soft job's own penalty, :data:`DIAGNOSIS_LATENESS_PENALTY` for a hard job whose
    deadline a diagnosis relaxes, None for a hard job (it never runs after its deadline).
    """
    work = facility.workloads
    if work.is_soft(j):
        return float(work.lateness_penalty[j]) * JOULES_PER_KWH * SECONDS_PER_HOUR
    if j in options.relaxed_deadlines:
        return DIAGNOSIS_LATENESS_PENALTY
    return None


def slack_components(m: pyo.ConcreteModel) -> Iterable[pyo.Var]:
    """The elastic slack variables of every Block (indexed components), in a fixed order."""
    yield m.workloads.shortfall
    yield m.cooling.inlet_slack
    yield m.cooling.coil_slack
    yield m.cooling.cdu_slack
    yield m.liquid.case_slack
    yield m.liquid.loop_slack
    yield m.power.feed_slack
    yield m.power.busbar_slack
    yield m.battery.end_slack
    yield m.grid.contract_slack
    yield m.grid.dr_slack


def elastic_slacks(m: pyo.ConcreteModel) -> Iterable[pyo.Var]:
    """Every single elastic slack variable of the model (kW or K; the battery's: kWh)."""
    for var in slack_components(m):
        yield from var.values()


def add_objective(m: pyo.ConcreteModel, facility: Facility, lin: Linearization) -> None:
    """Add the cost terms and the objective ``m.cost`` (minimized).

    Parameters
    ----------
    m
        The model with every Block (``workloads``, ``cooling``, ``power``, ``battery``,
        ``grid``).
    facility
        Compiled facility.
    lin
        Coefficients at the operating point.

    Notes
    -----
    Symbols added to ``m`` (none indexed; J3: tier-3 jobs, T: steps, Δt: step length [h]):

    ==============  ==========  =====  ============  ===============================================
    name            kind        index  unit          meaning
    ==============  ==========  =====  ============  ===============================================
    energy_cost     Expression         currency      Σ price·import·Δt
    demand_cost     Expression         currency      demand charge · Σ over billing periods of
                                                     (peak − peak so far)
    demand_resp…    Expression         currency      priced DR: Σ penalty·over·Δt − Σ credit·shed·Δt
    carbon_kg       Expression         kg            Σ carbon·import·Δt (priced at the grid's carbon
                                                     price)
    wear_cost       Expression         currency      battery wear · Σ (charge + discharge)·Δt
    lateness_cost   Expression         currency      Σ over J3 and the steps after the deadline of
                                                     penalty · hours late · power·Δt
    deferred_price  Param              currency/kWh  value of tier-3 energy left for after the
                                                     horizon, the horizon's mean effective price
                                                     (mutable)
    deferred_cost   Expression         currency      deferred_price · Σ over J3 of (energy_target −
                                                     delivered − unserved)
    unserved_cost   Expression         currency      Σ over J3 of unserved penalty · unserved
    slack_total     Expression         kW, K, kWh    Σ elastic slacks, the battery's end shortfall
                                                     weighted 2/Δt
    diagnosis       Param              0/1           diagnosis flag (mutable; no row reads it)
    cost            Objective          currency      the cost terms above, carbon at its price, plus
                                                     SLACK_PENALTY · slack_total
    ==============  ==========  =====  ============  ===============================================
    """
    steps = range(lin.steps)
    dt = lin.step_hours
    work, battery = facility.workloads, facility.battery
    w, bt, g = m.workloads, m.battery, m.grid
    t3 = [int(j) for j in lin.flexible if work.tier[j] == 3]
    carbon_price = facility.grid.carbon_price  # currency/kg
    wear = (battery.wear_cost * JOULES_PER_KWH) if battery else 0.0  # currency/kWh
    m.energy_cost = pyo.Expression(
        expr=sum(g.price[t] * g.import_[t] * float(dt[t]) for t in steps)
    )
    m.demand_cost = pyo.Expression(
        expr=facility.grid.demand_charge
        * WATTS_PER_KILOWATT
        * sum(g.peak[b] - g.peak_before[b] for b in g.B)
    )
    m.demand_response_cost = pyo.Expression(
        expr=sum(float(lin.dr_penalty[t]) * g.over[t] * float(dt[t]) for t in g.SOFT)
        - sum(float(lin.dr_credit[t]) * g.shed[t] * float(dt[t]) for t in g.CREDIT)
    )
    m.carbon_kg = pyo.Expression(expr=sum(g.carbon[t] * g.import_[t] * float(dt[t]) for t in steps))
    m.wear_cost = pyo.Expression(
        expr=wear * sum((bt.charge[t] + bt.discharge[t]) * float(dt[t]) for t in steps)
    )
    options: ModelOptions = m.options_
    lateness = 0.0
    for j in t3:
        penalty = lateness_penalty(facility, options, j)
        if penalty is None:
            continue  # a hard job never runs after its deadline
        late = hours_late(lin, work, j)
        for t in map(int, np.flatnonzero(late > 0)):
            lateness = lateness + penalty * float(late[t]) * w.power[j, t] * float(dt[t])
    m.lateness_cost = pyo.Expression(expr=lateness)
    # tier-3 energy left for after the horizon is not free: value it at the horizon's mean
    # effective price so deferring is chosen only when it pays (rolling-horizon end effect)
    m.deferred_price = pyo.Param(mutable=True, initialize=lin.deferred_energy_price)
    """[currency/kWh of IT energy] re-set by ``PlanSolver.update`` with new forecasts."""
    m.deferred_cost = pyo.Expression(
        expr=m.deferred_price
        * sum(
            w.energy_target[j]
            - sum(w.power[j, t] * float(dt[t]) for t in steps)
            - (w.unserved[j] if j in w.unserved else w.shortfall[j])
            for j in t3
        )
    )
    m.unserved_cost = pyo.Expression(
        expr=sum(
            float(work.unserved_penalty[j]) * JOULES_PER_KWH * w.unserved[j] for j in w.unserved
        )
    )
    # A kWh the battery ends short lets it deliver at most η_d kWh earlier, i.e. shrink other
    # slacks (kW per step) by η_d/Δt: weighed 2/Δt, the diagnosis never drains the battery to
    # make another limit look less exceeded than it is.
    m.slack_total = pyo.Expression(
        expr=sum(v for v in elastic_slacks(m) if v is not bt.end_slack)
        + 2.0 / float(dt.min()) * bt.end_slack
    )
    m.diagnosis = pyo.Param(mutable=True, initialize=0.0)
    m.cost = pyo.Objective(
        expr=m.energy_cost
        + m.demand_cost
        + m.demand_response_cost
        + carbon_price * m.carbon_kg
        + m.wear_cost
        + m.lateness_cost
        + m.unserved_cost
        + m.deferred_cost
        + SLACK_PENALTY * m.slack_total,
        sense=pyo.minimize,
    )
