"""The ``grid`` Block: the import balance, PV, the peak import and the import caps.

Forecasts (price, carbon intensity, PV) and demand-response caps are mutable parameters, so
:meth:`optimizer.planner.PlanSolver.update` can change them without a rebuild.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from optimizer.accounting import billing_labels
from optimizer.linearize import Linearization
from physics.constants import WATTS_PER_KILOWATT
from physics.facility import Facility


def add_grid(m: pyo.ConcreteModel, facility: Facility, lin: Linearization) -> None:
    """Add ``m.grid``: import balance, PV curtailment, peak, contract and demand-response caps.

    Parameters
    ----------
    m
        The model being built (with ``m.T``, ``m.derate``, ``m.power``, ``m.cooling``,
        ``m.battery``).
    facility
        Compiled facility.
    lin
        Coefficients at the operating point.

    Notes
    -----
    Symbols of ``m.grid``; T: steps, DR: the steps of demand-response events.

    ==============  ==========  =====  ============  ===============================================
    name            kind        index  unit          meaning
    ==============  ==========  =====  ============  ===============================================
    price           Param       T      currency/kWh  energy price (mutable)
    carbon          Param       T      kg/kWh        carbon intensity of the import (mutable)
    pv              Param       T      kW            PV power available (mutable)
    curtail         Var         T      kW            PV power curtailed, ≥ 0
    curtail_limit   Constraint  T      kW            curtail ≤ pv
    import_         Var         T      kW            grid import (≥ 0 unless export is allowed)
    correction      Param       T      kW            physics minus model import at the last
                                                     verified plan (0 until refined; mutable)
    balance         Constraint  T      kW            import = chain + cooling power / mechanical
                                                     efficiency + charge − discharge − (pv −
                                                     curtail) + correction
    B               Set                              billing periods the look-ahead touches
    peak            Var         B      kW            highest import of the billing period
    peak_before     Param       B      kW            peak so far in the billing period (mutable)
    peak_excess     Param       T      kW            highest-minus-mean import of the period's fine
                                                     steps at the operating point (mutable)
    peak_def        Constraint  T      kW            peak ≥ import + peak_excess
    peak_floor      Constraint  B      kW            peak ≥ peak_before
    contract_slack  Var         T      kW            elastic slack (0 when planning)
    contract        Constraint  T      kW            import − slack ≤ contract capacity · derate
    DR              Set                              steps with a demand-response cap
    dr_cap          Param       DR     kW            import cap of the event (mutable)
    dr_slack        Var         DR     kW            elastic slack (0 when planning)
    dr              Constraint  DR     kW            import − slack ≤ dr_cap · derate
    SOFT            Set                              periods of priced caps
    over            Var         SOFT   kW            import above the priced cap, ≥ 0
    over_def        Constraint  SOFT   kW            over ≥ import − priced cap
    CREDIT          Set                              periods of credit events
    shed            Var         CREDIT kW            import below the baseline, 0 … baseline
    shed_def        Constraint  CREDIT kW            shed ≤ baseline − import
    ==============  ==========  =====  ============  ===============================================
    """
    pw, c, bt = m.power, m.cooling, m.battery
    mech = facility.mechanical_efficiency
    g = m.grid = pyo.Block()
    g.price = pyo.Param(m.T, mutable=True, initialize=lambda b, t: float(lin.price[t]))
    g.carbon = pyo.Param(m.T, mutable=True, initialize=lambda b, t: float(lin.carbon[t]))
    g.pv = pyo.Param(m.T, mutable=True, initialize=lambda b, t: float(lin.pv[t]))
    g.curtail = pyo.Var(m.T, within=pyo.NonNegativeReals)
    g.curtail_limit = pyo.Constraint(m.T, rule=lambda b, t: b.curtail[t] <= b.pv[t])
    export = facility.grid.export_allowed
    g.import_ = pyo.Var(m.T, within=pyo.Reals if export else pyo.NonNegativeReals)
    g.correction = pyo.Param(m.T, mutable=True, initialize=0.0)
    g.balance = pyo.Constraint(
        m.T,
        rule=lambda b, t: (
            b.import_[t]
            == pw.chain[t]
            + c.power[t] / mech
            + bt.charge[t]
            - bt.discharge[t]
            - (b.pv[t] - b.curtail[t])
            + b.correction[t]
        ),
    )
    _add_peaks(m, facility, lin)
    g.contract_slack = pyo.Var(m.T, within=pyo.NonNegativeReals)
    g.contract = pyo.Constraint(
        m.T,
        rule=lambda b, t: (
            b.import_[t] - b.contract_slack[t]
            <= facility.grid.contract_capacity / WATTS_PER_KILOWATT * m.derate["contract"]
        ),
    )
    events = [t for t in range(lin.steps) if np.isfinite(lin.dr_cap[t])]
    g.DR = pyo.Set(initialize=events, ordered=True)
    g.dr_cap = pyo.Param(g.DR, mutable=True, initialize=lambda b, t: float(lin.dr_cap[t]))
    g.dr_slack = pyo.Var(g.DR, within=pyo.NonNegativeReals)
    g.dr = pyo.Constraint(
        g.DR,
        rule=lambda b, t: b.import_[t] - b.dr_slack[t] <= b.dr_cap[t] * m.derate["demand_response"],
    )
    _add_priced_events(m, lin)


def _add_peaks(m: pyo.ConcreteModel, facility: Facility, lin: Linearization) -> None:
    """One peak per billing period (``B``, ``peak``, ``peak_before``, ``peak_def``,
    ``peak_floor``): the demand charge is billed on what a plan adds to the peak so far."""
    g = m.grid
    labels = billing_labels(facility, lin.time)
    names = list(dict.fromkeys(labels.tolist()))
    g.B = pyo.Set(initialize=names, ordered=True)
    g.peak = pyo.Var(g.B, within=pyo.NonNegativeReals)
    g.peak_before = pyo.Param(g.B, mutable=True, initialize=0.0)
    m.billing_label = labels
    # a period's import is its mean; its highest fine step lies peak_excess above
    g.peak_excess = pyo.Param(m.T, mutable=True, initialize=lambda b, t: float(lin.peak_excess[t]))
    g.peak_def = pyo.Constraint(
        m.T, rule=lambda b, t: b.peak[str(labels[t])] >= b.import_[t] + b.peak_excess[t]
    )
    g.peak_floor = pyo.Constraint(g.B, rule=lambda b, name: b.peak[name] >= b.peak_before[name])


def _add_priced_events(m: pyo.ConcreteModel, lin: Linearization) -> None:
    """Priced demand response (``SOFT``, ``over``, ``over_def``; ``CREDIT``, ``shed``,
    ``shed_def``): import above a priced cap is billed, import below a baseline is paid."""
    g = m.grid
    soft = [t for t in range(lin.steps) if np.isfinite(lin.dr_soft_cap[t])]
    g.SOFT = pyo.Set(initialize=soft, ordered=True)
    g.over = pyo.Var(g.SOFT, within=pyo.NonNegativeReals)
    g.over_def = pyo.Constraint(
        g.SOFT, rule=lambda b, t: b.over[t] >= b.import_[t] - float(lin.dr_soft_cap[t])
    )
    credit = [t for t in range(lin.steps) if np.isfinite(lin.dr_baseline[t])]
    g.CREDIT = pyo.Set(initialize=credit, ordered=True)
    g.shed = pyo.Var(g.CREDIT, bounds=lambda b, t: (0.0, max(float(lin.dr_baseline[t]), 0.0)))
    g.shed_def = pyo.Constraint(
        g.CREDIT, rule=lambda b, t: b.shed[t] <= float(lin.dr_baseline[t]) - b.import_[t]
    )
