"""The ``power`` Block: the IT power chain's input and the feed and busbar capacity rows.

UPS input is affine in the workload power change (``P0 + μ·ΣΔp``, μ from a finite difference
of the physics); the cooling power is carried by the facility's cooling feed.
"""

from __future__ import annotations

import pyomo.environ as pyo

from optimizer.blocks.screening import screened_capacity_rows, undominated_rows
from optimizer.blocks.workloads import power_change, total_power_change
from optimizer.linearize import Linearization
from physics.constants import WATTS_PER_KILOWATT
from physics.facility import Facility


def add_power(m: pyo.ConcreteModel, facility: Facility, lin: Linearization) -> None:
    """Add ``m.power``: UPS input of the IT chain, feed and busbar capacity rows.

    Parameters
    ----------
    m
        The model being built (with ``m.T``, ``m.derate``, ``m.workloads``, ``m.cooling``).
    facility
        Compiled facility.
    lin
        Coefficients at the operating point.

    Notes
    -----
    Symbols of ``m.power``; F: utility feeds, T: steps; ``busbar_rows`` lists the
    (busbar, step) pairs that can bind.

    ============  ==========  ===========  ====  ===================================================
    name          kind        index        unit  meaning
    ============  ==========  ===========  ====  ===================================================
    chain         Expression  T            kW    UPS input of the IT chain, P0 + μ·ΣΔp
    F             Set                            feeds f
    feed_slack    Var         F, T         kW    elastic slack (0 when planning)
    feed          Constraint  F, T         kW    feed load (+ cooling power / mechanical efficiency
                                                 on the cooling feed) − slack ≤ feed capacity ·
                                                 derate
    busbar_rows   Set         (i, t)             busbar-steps whose capacity can bind (and
                                                 that no other busbar's row implies)
    busbar_slack  Var         busbar_rows  kW    elastic slack (0 when planning)
    busbar        Constraint  busbar_rows  kW    busbar source power − slack ≤ min(shelf N+k,
                                                 ampacity·V, undervoltage) · derate
    ============  ==========  ===========  ====  ===================================================
    """
    c = m.cooling
    flex = [int(j) for j in lin.flexible]
    pw = m.power = pyo.Block()
    pw.chain = pyo.Expression(
        m.T,
        rule=lambda b, t: (
            float(lin.it_chain_base[t]) + float(lin.it_chain_slope[t]) * total_power_change(m, t)
        ),
    )
    feeds = facility.feeds
    pw.F = pyo.Set(initialize=range(len(feeds.ids)))
    pw.feed_slack = pyo.Var(pw.F, m.T, within=pyo.NonNegativeReals)
    mech = facility.mechanical_efficiency

    def feed_rule(b: pyo.Block, f: int, t: int) -> pyo.Expression:
        load = float(lin.feed_base[t, f]) + float(lin.it_chain_slope[t]) * sum(
            float(lin.feed_work[f, j]) * power_change(m, j, t) for j in flex if lin.feed_work[f, j]
        )
        if f == facility.cooling_feed:
            load = load + c.power[t] / mech
        return (
            load - b.feed_slack[f, t] <= feeds.capacity[f] / WATTS_PER_KILOWATT * m.derate["feed"]
        )

    pw.feed = pyo.Constraint(pw.F, m.T, rule=feed_rule)
    busbar_work_dense = lin.busbar_work.toarray()
    busbar_rows = screened_capacity_rows(
        facility, lin, lin.busbar_base, busbar_work_dense, lin.busbar_capacity
    )
    if m.options_.merge_implied_rows:
        busbar_rows = undominated_rows(
            busbar_rows, lin.busbar_base, busbar_work_dense, lin.busbar_capacity
        )
    pw.busbar_rows = pyo.Set(initialize=busbar_rows, dimen=2)
    pw.busbar_slack = pyo.Var(pw.busbar_rows, within=pyo.NonNegativeReals)
    busbar_work = lin.busbar_work.tocsr()
    pw.busbar = pyo.Constraint(
        pw.busbar_rows,
        rule=lambda b, i, t: (
            float(lin.busbar_base[i, t])
            + sum(
                float(v) * power_change(m, int(j), t)
                for j, v in zip(
                    busbar_work.indices[busbar_work.indptr[i] : busbar_work.indptr[i + 1]],
                    busbar_work.data[busbar_work.indptr[i] : busbar_work.indptr[i + 1]],
                    strict=True,
                )
            )
            - b.busbar_slack[i, t]
            <= float(lin.busbar_capacity[i]) * m.derate["busbar"]
        ),
    )
