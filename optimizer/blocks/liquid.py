"""The ``liquid`` Block: cold-plate case temperatures and the warm-water loop's liquid class.

Direct-to-chip racks put a limit on the planner that the air path does not see: the case
temperature of their cold-plated devices (:mod:`physics.liquid.cold_plate`),

    T_case[r,t] = T_it,supply[c(r),t] + q_plate[r,t] · R_r(V̇_r / plates_r)

with the CDU's IT supply ``T_it,supply = T_fac,supply + approach_c · Q_c/Q_cap,c`` at
constant flows (exact: at fixed flows ε is constant and the approach is linear in load),
``q_plate = plate_share · Q_liquid,rack / plates`` and R at the rack's flow per plate (the
flows are set by the rack types, not by the plan, so R is a constant of the row).  All of it
is affine in the plan's decisions, so each rack-step gets the row

    case0[r,t] + Σ_j (approach_c/Q_cap,c · cdu_work[c,j] + R_r·plate_share_r/plates_r ·
    liquid_share_r · share[r,j]) · Δp[j,t] + ΔT_fac,supply[c,t] ≤ T_case,max,r − margin

around the operating point ``case0`` (the physics' case temperature of the as-operated
schedule).  The facility supply change ``ΔT_fac,supply`` is ``chilled[t] − c0[t]`` for a
CDU on the chilled-water loop and, for a CDU on the warm-water facility loop, the loop's
supply change ``λ[t] · ΔQ_loop[t]`` with λ the loop supply's rise per kW of loop heat at the
operating point (a finite difference of the physics: 0 while the dry coolers, towers and
trim chillers hold the loop setpoint, positive when they cannot and the supply floats).

The same loop supply, ``T_loop0[t] + λ[t]·ΔQ_loop[t]``, is held at or below the site's ASHRAE
liquid class (W17…W45) facility water limit, and is what a warm-water CDU's coolant supply
row starts from (:func:`cdu_facility_supply`).  Rows that cannot bind at the largest flexible
workload power are left out, as for the capacity rows.

Before any of this, :func:`optimizer.linearize_liquid.liquid_refusals` checks what no setpoint
or workload decision can change: a CDU whose racks need more coolant flow than its pumps
deliver, a loop setpoint above the liquid class.  The plan is then refused as infeasible
without solving (:func:`optimizer.verify.run_plan`).  A row no decision moves (a rack
without flexible work on a loop that holds its setpoint) is left to verification, which
reports it.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from optimizer.blocks.workloads import power_change
from optimizer.linearize import Linearization
from physics.constants import WATTS_PER_KILOWATT
from physics.facility import Facility

KW = WATTS_PER_KILOWATT

__all__ = ["add_liquid", "cdu_facility_supply"]


def _loop_heat_change(m: pyo.ConcreteModel, t: int) -> pyo.Expression | float:
    """Change of the loop heat from the operating point [kW] (the CDUs on the loop)."""
    lin: Linearization = m.lin
    on_loop = lin.liquid.on_loop
    if not on_loop.any():
        return 0.0
    work = lin.cdu_work[on_loop].sum(axis=0)  # (J,)
    return sum(
        float(work[j]) * power_change(m, int(j), t)
        for j in (int(j) for j in lin.flexible)
        if abs(work[j]) > 1e-12
    )


def cdu_facility_supply(m: pyo.ConcreteModel, cdu: int, t: int) -> pyo.Expression | float:
    """Facility water supply of a CDU in the model [°C].

    The chilled-water setpoint for a CDU on the chilled-water loop; the facility loop's
    supply at the operating point plus λ·ΔQ_loop for a CDU on the warm-water loop.
    """
    lin: Linearization = m.lin
    if not lin.liquid.on_loop[cdu]:
        return m.cooling.chilled[t]
    slope = float(lin.liquid.loop_slope[t])
    base = float(lin.liquid.loop_base[t])
    return base + slope * _loop_heat_change(m, t) if slope > 0 else base


def _case_rows(m: pyo.ConcreteModel, facility: Facility) -> list[tuple[int, int]]:
    """Rack-steps whose case row can bind at the largest flexible power and the warmest
    chilled water."""
    lin: Linearization = m.lin
    liquid = lin.liquid
    plated = np.isfinite(liquid.case_limit)
    if not plated.any():
        return []
    work = facility.workloads
    p_max = np.zeros(work.count)
    p_max[lin.flexible] = work.max_power[lin.flexible] / KW
    delta = (p_max[np.newaxis, :] - lin.p0).clip(min=0)  # (T, J)
    upper = liquid.case_base + np.clip(liquid.case_work, 0, None) @ delta.T  # (R, T)
    racks = facility.racks
    on_loop_rack = np.zeros(racks.count, dtype=bool)
    has_cdu = racks.cdu >= 0
    on_loop_rack[has_cdu] = liquid.on_loop[racks.cdu[has_cdu]]
    loop_work = np.clip(lin.cdu_work[liquid.on_loop].sum(axis=0), 0, None)
    loop_rise = liquid.loop_slope * (delta @ loop_work)  # (T,)
    chilled_rise = facility.chilled_water_temperature_bounds[1] - lin.c0  # (T,)
    upper = upper + np.where(on_loop_rack[:, np.newaxis], loop_rise, chilled_rise)
    can_bind = plated[:, np.newaxis] & (upper > liquid.case_limit[:, np.newaxis] - 1e-9)
    # a row needs a decision in it: the chilled water, flexible work or a floating loop
    moved = np.abs(liquid.case_work[:, lin.flexible]).max(axis=1, initial=0.0) > 1e-12
    decided = ~on_loop_rack[:, np.newaxis] | moved[:, np.newaxis] | (loop_rise > 0)
    can_bind &= decided
    return [(int(r), int(t)) for r, t in np.argwhere(np.nan_to_num(can_bind))]


def add_liquid(m: pyo.ConcreteModel, facility: Facility) -> None:
    """Add ``m.liquid``: case temperature rows and the facility loop's liquid-class rows.

    Parameters
    ----------
    m
        The model being built (with ``m.T``, ``m.lin``, ``m.cooling``, ``m.workloads``,
        ``m.case_margin`` and ``m.loop_margin``).
    facility
        Compiled facility.

    Notes
    -----
    Symbols of ``m.liquid`` (R: racks, T: steps):

    ==========  ==========  ==========  ====  ===================================================
    name        kind        index       unit  meaning
    ==========  ==========  ==========  ====  ===================================================
    case_rows   Set         (r, t)            rack-steps whose case row can bind
    case_slack  Var         case_rows   K     elastic slack (0 when planning)
    case        Constraint  case_rows   °C    case0 + Σ case_work·Δp + ΔT_fac,supply − slack ≤
                                              max case temperature − ``case_margin``
    loop_rows   Set         t                 steps whose loop supply can reach the W class
    loop_slack  Var         loop_rows   K     elastic slack (0 when planning)
    loop        Constraint  loop_rows   °C    T_loop0 + λ·ΔQ_loop − slack ≤ liquid class limit −
                                              ``loop_margin``
    ==========  ==========  ==========  ====  ===================================================
    """
    lin: Linearization = m.lin
    liquid = lin.liquid
    racks = facility.racks
    b = m.liquid = pyo.Block()
    b.case_rows = pyo.Set(initialize=_case_rows(m, facility), dimen=2, ordered=True)
    b.case_slack = pyo.Var(b.case_rows, within=pyo.NonNegativeReals)
    flex = [int(j) for j in lin.flexible]

    def case_rule(blk: pyo.Block, r: int, t: int) -> pyo.Expression:
        c = int(racks.cdu[r])
        supply_change = cdu_facility_supply(m, c, t)
        if liquid.on_loop[c]:
            supply_change = supply_change - float(liquid.loop_base[t])
        else:
            supply_change = supply_change - float(lin.c0[t])
        load = sum(
            float(liquid.case_work[r, j]) * power_change(m, j, t)
            for j in flex
            if abs(liquid.case_work[r, j]) > 1e-12
        )
        case = float(liquid.case_base[r, t]) + load + supply_change
        return case - blk.case_slack[r, t] <= float(liquid.case_limit[r]) - m.case_margin

    b.case = pyo.Constraint(b.case_rows, rule=case_rule)
    limit = facility.facility_water_limit
    loop_rows: list[int] = []
    if liquid.on_loop.any() and np.isfinite(limit):
        work = facility.workloads
        p_max = np.zeros(work.count)
        p_max[lin.flexible] = work.max_power[lin.flexible] / KW
        delta = (p_max[np.newaxis, :] - lin.p0).clip(min=0)
        rise = liquid.loop_slope * (delta @ np.clip(lin.cdu_work[liquid.on_loop].sum(0), 0, None))
        upper = liquid.loop_base + rise
        # a row needs a decision in it: λ > 0 and flexible work on the loop's CDUs
        moved = np.abs(lin.cdu_work[liquid.on_loop][:, lin.flexible]).max(initial=0.0) > 1e-12
        can_bind = (upper > limit - 0.5) & (liquid.loop_slope > 0) & moved
        loop_rows = [int(t) for t in np.flatnonzero(can_bind)]
    b.loop_rows = pyo.Set(initialize=loop_rows, ordered=True)
    b.loop_slack = pyo.Var(b.loop_rows, within=pyo.NonNegativeReals)
    first = int(np.argmax(liquid.on_loop)) if liquid.on_loop.any() else 0
    b.loop = pyo.Constraint(
        b.loop_rows,
        rule=lambda blk, t: (
            cdu_facility_supply(m, first, t) - blk.loop_slack[t] <= limit - m.loop_margin
        ),
    )
