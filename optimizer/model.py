"""The planning model: one Pyomo Block per asset type over the horizon.

Units inside the model: power kW, energy kWh, temperature °C, money in the scenario currency.

Blocks and their symbols (t ∈ steps, u ∈ cooling units, j ∈ flexible workloads):

``workloads``
    ``power[j,t]`` ≥ 0 kW given to workload j; tier 2 ``backlog[j,t]`` (work arrived and not
    yet run, at most the last ``max_delay`` of arrivals; none at the horizon end); tier 3
    ``unserved[j]`` kWh, ``running[j,t]`` ∈ {0,1} when a minimum running power applies,
    energy balance ``Σ power·Δt + unserved = energy``.
``cooling``
    ``supply[u,t]`` °C within bounds and ramp limits, ``chilled[t]`` °C ≤ every
    ``supply − coil approach`` (and the liquid class, and each CDU's coolant limit);
    ``inlet[r,t]``: ``h + W·supply + G·Δp ≤ limit`` for the rack-steps in the active set (the
    rest are screened out or added lazily after verification); coil and CDU capacities;
    ``plant[t]`` kW ≥ each envelope segment.
``power``
    per-feed and per-busbar capacity rows; expression ``chain[t]`` (UPS input) kW.
``battery``
    ``charge[t]``, ``discharge[t]`` kW; ``energy[t]`` kWh with the SOC dynamics, window and an
    end-of-horizon target (at least the initial energy).
``grid``
    ``import_[t]`` kW = chain + cooling/η + charge − discharge − (PV − curtail);
    ``peak`` ≥ every import; contract and demand-response caps.

Elastic slacks (kW or K) sit on the physical limits and are fixed to zero for planning; the
diagnosis of an infeasible request frees them (see :mod:`optimizer.explain`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyomo.environ as pyo

from optimizer.linearize import Linearization
from physics.facility import Facility

DERATED_FAMILIES = ("feed", "contract", "demand_response", "busbar", "coil", "cdu")
"""Capacity families verification may derate (see :attr:`ModelOptions.limit_derating`)."""

SLACK_PENALTY = 1e4
"""Cost of one unit of slack (kW or K per step; the battery's end shortfall: per kWh, twice
per step length in hours) in diagnosis mode [currency]."""


@dataclass
class ModelOptions:
    """Switches of the planning model."""

    ramp_limit: float = 1.0
    """Largest setpoint change between steps [K per step]."""
    end_soc_target: float | None = None
    """Battery SOC required at the end [-]; default: the initial SOC."""
    inlet_margin: float = 0.0
    """Kept below every inlet limit [K]."""
    integer_min_power: bool = True
    """Model tier-3 minimum running power with on/off variables; False drops it."""
    min_power_method: str = "relax-and-fix"
    """``"relax-and-fix"``: solve the LP relaxation (a lower bound), fix each job-period on
    when its mean relaxed power reaches half the minimum, off otherwise, and re-solve the LP
    (the reported gap is against the relaxation bound; if the rounded commitments make the
    LP infeasible, branch and bound in HiGHS decides instead); ``"mip"``: branch and bound.
    On the demo week the relaxation is within 0.3 % of the MIP optimum, which took 81 s
    against 7 s per LP."""
    commitment_hours: float = 1.0
    """On/off decisions of tier-3 jobs are taken per period of this length [h] (a job that
    runs, runs at least its minimum power for the whole period): a quarter of the binaries
    of one per 15-min step, and closer to how training jobs are started and paused."""
    initial_inlet_candidates: int = 2
    """Racks per cooling unit and step whose inlet rows start in the model (hottest first)."""
    extra_inlet_rows: set[tuple[int, int]] = field(default_factory=set)
    """Rack-steps (r, t) added by verification."""
    inlet_tightening: dict[tuple[int, int], float] = field(default_factory=dict)
    """Extra margin per rack-step found violated [K]."""
    limit_derating: dict[str, float] = field(default_factory=dict)
    """Relative derating of capacity families found violated by verification [-]
    (``feed``, ``contract``, ``demand_response``, ``busbar``, ``coil``, ``cdu``), and
    ``coolant`` [K] below the CDU coolant limit."""

    def derate(self, family: str) -> float:
        """Multiplier on the limits of ``family`` [-]."""
        return max(1.0 - self.limit_derating.get(family, 0.0), 0.0)


def _screened_inlet_rows(
    lin: Linearization, facility: Facility, count: int
) -> set[tuple[int, int]]:
    """Rack-steps whose inlet limit can bind, narrowed to the hottest racks of each unit.

    A row is dropped when even the highest setpoints and the largest workload power leave the
    inlet below its limit (it cannot bind).  Of the others, per cooling unit and step, the
    ``count`` racks hottest at the operating point and the ``count`` hottest at full
    flexible load start in the model; verification adds any other that turns out violated.
    """
    units = facility.units
    supply_max = lin.inlet_supply @ units.supply_temperature_max  # (R,)
    flexible = lin.flexible
    work = facility.workloads
    p_max = np.zeros(work.count)
    p_max[flexible] = work.max_power[flexible] / 1e3
    delta_max = (p_max[np.newaxis, :] - lin.p0).clip(min=0)  # (T, J)
    upper = (
        lin.inlet_base + supply_max[:, np.newaxis] + np.clip(lin.inlet_work, 0, None) @ delta_max.T
    )
    can_bind = upper > lin.inlet_limit[:, np.newaxis] - 1e-9  # (R, T)
    at_point = lin.inlet_base + lin.inlet_supply @ lin.s0.T  # (R, T)
    at_full = at_point + lin.inlet_work @ delta_max.T
    rows: set[tuple[int, int]] = set()
    unit_of_rack = facility.racks.unit
    for unit in range(units.count):  # units: a few per row, not racks
        members = np.flatnonzero(unit_of_rack == unit)
        if members.size == 0:
            continue
        for score in (at_point, at_full):
            local = score[members]  # (m, T)
            k = min(count, members.size)
            top = np.argpartition(-local, k - 1, axis=0)[:k]  # (k, T)
            for t in range(lin.steps):
                for r in members[top[:, t]]:
                    if can_bind[r, t]:
                        rows.add((int(r), t))
    return rows


def build_model(
    facility: Facility,
    lin: Linearization,
    *,
    options: ModelOptions | None = None,
    initial_soc: float | None = None,
    job_energy_done: dict[int, float] | None = None,
) -> pyo.ConcreteModel:
    """Build the planning model.

    Parameters
    ----------
    facility
        Compiled facility.
    lin
        Coefficients at the operating point (:func:`optimizer.linearize.linearize`).
    options
        Model switches.
    initial_soc
        Battery SOC at the start [-] (default: the facility's).
    job_energy_done
        Tier-3 energy already delivered before the horizon [kWh] by workload index.

    Returns
    -------
    pyomo.environ.ConcreteModel
        With blocks ``workloads``, ``cooling``, ``power``, ``battery``, ``grid`` and the
        objective ``cost``; mutable params hold prices, carbon, PV, DR caps, initial SOC and
        job energies so :class:`optimizer.plan.Planner` can re-solve without rebuilding.
    """
    options = options or ModelOptions()
    m = pyo.ConcreteModel(name="dctwin plan")
    steps = range(lin.steps)
    dt = lin.step_hours
    work = facility.workloads
    units = facility.units
    m.T = pyo.Set(initialize=steps, ordered=True)
    m.options_ = options  # kept for re-solves
    m.lin = lin
    m.FAMILIES = pyo.Set(initialize=DERATED_FAMILIES)
    m.derate = pyo.Param(m.FAMILIES, mutable=True, initialize=lambda b, name: options.derate(name))
    m.coolant_margin = pyo.Param(mutable=True, initialize=options.limit_derating.get("coolant", 0))

    # ---------------------------------------------------------------- workloads
    w = m.workloads = pyo.Block()
    flex = [int(j) for j in lin.flexible]
    w.J = pyo.Set(initialize=flex, ordered=True)
    t3 = [j for j in flex if work.tier[j] == 3]
    t2 = [j for j in flex if work.tier[j] == 2]
    w.power = pyo.Var(w.J, m.T, within=pyo.NonNegativeReals)
    release_step = {}
    deadline_step = {}
    for j in t3:
        release_step[j] = int(np.searchsorted(lin.time, work.release[j]))
        deadline_step[j] = int(np.searchsorted(lin.time, work.deadline[j]))
    for j in flex:
        cap = (work.max_power[j] if work.tier[j] == 3 else work.capacity[j]) / 1e3
        for t in steps:
            var = w.power[j, t]
            var.setub(cap)
            if work.tier[j] == 3 and t < release_step[j]:
                var.fix(0.0)
    done = job_energy_done or {}
    w.energy_target = pyo.Param(
        t3,
        mutable=True,
        initialize={j: max(float(work.energy[j]) / 3.6e6 - done.get(j, 0.0), 0.0) for j in t3},
    )
    w.unserved = pyo.Var(t3, within=pyo.NonNegativeReals)
    # Rolling horizon: energy that still fits between the horizon end and the deadline may
    # wait; only the rest must be delivered here (or is unserved, at its penalty).
    horizon_end = lin.time[-1] + np.timedelta64(round(dt * 3600), "s")
    later = {
        j: float(work.max_power[j])
        / 1e3
        * max((work.deadline[j] - horizon_end) / np.timedelta64(1, "h"), 0.0)
        for j in t3
    }
    w.energy = pyo.Constraint(
        t3,
        rule=lambda b, j: (
            sum(b.power[j, t] for t in steps) * dt + b.unserved[j] >= b.energy_target[j] - later[j]
        ),
    )
    w.energy_cap = pyo.Constraint(
        t3, rule=lambda b, j: sum(b.power[j, t] for t in steps) * dt <= b.energy_target[j]
    )
    binaries = [j for j in t3 if options.integer_min_power and work.min_power[j] > 0]
    per_period = max(1, round(options.commitment_hours / dt))
    w.P = pyo.Set(initialize=range((lin.steps + per_period - 1) // per_period), ordered=True)
    w.running = pyo.Var(binaries, w.P, within=pyo.Binary)
    w.minimum = pyo.Constraint(
        binaries,
        m.T,
        rule=lambda b, j, t: (
            b.power[j, t] >= work.min_power[j] / 1e3 * b.running[j, t // per_period]
            if t >= release_step[j]
            else pyo.Constraint.Skip
        ),
    )
    w.maximum = pyo.Constraint(
        binaries,
        m.T,
        rule=lambda b, j, t: (
            b.power[j, t] <= work.max_power[j] / 1e3 * b.running[j, t // per_period]
        ),
    )
    # tier 2: backlog of work arrived and not yet run, bounded by the last max_delay arrivals
    w.backlog = pyo.Var(t2, m.T, within=pyo.NonNegativeReals)
    delay_steps = {j: round(float(work.max_delay[j]) / 3600.0 / dt) for j in t2}

    def backlog_rule(b: pyo.Block, j: int, t: int) -> pyo.Expression:
        previous = b.backlog[j, t - 1] if t > 0 else 0.0
        return b.backlog[j, t] == previous + float(lin.tier2_profile[t, j]) - b.power[j, t]

    w.backlog_balance = pyo.Constraint(t2, m.T, rule=backlog_rule)
    for j in t2:
        arrivals = lin.tier2_profile[:, j]
        window = np.convolve(arrivals, np.ones(max(delay_steps[j], 0)), mode="full")[: lin.steps]
        for t in steps:
            w.backlog[j, t].setub(float(window[t]) if delay_steps[j] > 0 else 0.0)
        w.backlog[j, lin.steps - 1].fix(0.0)

    def delta(j: int, t: int) -> pyo.Expression | float:
        """Δp: workload power change from the operating point [kW]."""
        if j in w.J:
            return w.power[j, t] - float(lin.p0[t, j])
        return 0.0

    def delta_sum(t: int) -> pyo.Expression | float:
        return sum(delta(j, t) for j in flex)

    # ---------------------------------------------------------------- cooling
    c = m.cooling = pyo.Block()
    c.U = pyo.Set(initialize=range(units.count), ordered=True)
    c.supply = pyo.Var(
        c.U,
        m.T,
        bounds=lambda b, u, t: (units.supply_temperature_min[u], units.supply_temperature_max[u]),
        initialize=lambda b, u, t: float(lin.s0[t, u]),
    )
    low, high = facility.chilled_water_temperature_bounds
    if facility.cdus.count:
        high = min(high, facility.facility_water_limit)
    c.chilled = pyo.Var(m.T, bounds=(low, high), initialize=lambda b, t: float(lin.c0[t]))
    c.approach = pyo.Constraint(
        c.U, m.T, rule=lambda b, u, t: b.chilled[t] <= b.supply[u, t] - units.coil_approach[u]
    )
    ramp = options.ramp_limit
    c.ramp_up = pyo.Constraint(
        c.U,
        m.T,
        rule=lambda b, u, t: (
            pyo.Constraint.Skip if t == 0 else b.supply[u, t] - b.supply[u, t - 1] <= ramp
        ),
    )
    c.ramp_down = pyo.Constraint(
        c.U,
        m.T,
        rule=lambda b, u, t: (
            pyo.Constraint.Skip if t == 0 else b.supply[u, t - 1] - b.supply[u, t] <= ramp
        ),
    )
    # inlet rows: screened, then lazily extended by verification
    rows = _screened_inlet_rows(lin, facility, options.initial_inlet_candidates)
    rows |= options.extra_inlet_rows
    c.inlet_rows = pyo.Set(initialize=sorted(rows), dimen=2, ordered=True)
    c.inlet_slack = pyo.Var(c.inlet_rows, within=pyo.NonNegativeReals)
    supply_matrix = lin.inlet_supply.tocsr()

    def inlet_lhs(b: pyo.Block, r: int, t: int) -> tuple[pyo.Expression, float]:
        """Inlet temperature of rack r at step t [°C] and its limit less margins [°C]."""
        start, stop = supply_matrix.indptr[r], supply_matrix.indptr[r + 1]
        setpoint = sum(
            float(value) * b.supply[int(u), t]
            for u, value in zip(
                supply_matrix.indices[start:stop], supply_matrix.data[start:stop], strict=True
            )
        )
        load = sum(
            float(lin.inlet_work[r, j]) * delta(j, t)
            for j in flex
            if abs(lin.inlet_work[r, j]) > 1e-9
        )
        limit = (
            float(lin.inlet_limit[r])
            - options.inlet_margin
            - options.inlet_tightening.get((r, t), 0.0)
        )
        return float(lin.inlet_base[r, t]) + setpoint + load, limit

    def inlet_rule(b: pyo.Block, r: int, t: int) -> pyo.Expression:
        temperature, limit = inlet_lhs(b, r, t)
        return temperature - b.inlet_slack[r, t] <= limit

    c.inlet = pyo.Constraint(c.inlet_rows, rule=inlet_rule)
    c.lazy_inlet = pyo.ConstraintList()
    m.inlet_lhs = inlet_lhs  # for add_inlet_row
    m.lazy_rows = {}

    # coil capacity (screened: rows that cannot bind are left out)
    def capacity_rows(
        base: np.ndarray, per_work: np.ndarray, capacity: np.ndarray
    ) -> list[tuple[int, int]]:
        p_max = np.zeros(work.count)
        p_max[flex] = [
            (work.max_power[j] if work.tier[j] == 3 else work.capacity[j]) / 1e3 for j in flex
        ]
        upper = base + np.clip(per_work, 0, None) @ (p_max[np.newaxis, :] - lin.p0).clip(min=0).T
        index = np.argwhere(upper > capacity[:, np.newaxis] * (1 - 1e-9))
        return [(int(i), int(t)) for i, t in index]

    coil_rows = capacity_rows(lin.coil_base, lin.coil_work, units.capacity / 1e3)
    c.coil_rows = pyo.Set(initialize=coil_rows, dimen=2)
    c.coil_slack = pyo.Var(c.coil_rows, within=pyo.NonNegativeReals)
    c.coil = pyo.Constraint(
        c.coil_rows,
        rule=lambda b, u, t: (
            float(lin.coil_base[u, t])
            + sum(float(lin.coil_work[u, j]) * delta(j, t) for j in flex if lin.coil_work[u, j])
            - b.coil_slack[u, t]
            <= units.capacity[u] / 1e3 * m.derate["coil"]
        ),
    )
    cdus = facility.cdus
    c.C = pyo.Set(initialize=range(cdus.count))
    c.cdu_slack = pyo.Var(c.C, m.T, within=pyo.NonNegativeReals)

    def cdu_load(u: int, t: int) -> pyo.Expression:
        return float(lin.cdu_base[u, t]) + sum(
            float(lin.cdu_work[u, j]) * delta(j, t) for j in flex if lin.cdu_work[u, j]
        )

    c.cdu_capacity = pyo.Constraint(
        c.C,
        m.T,
        rule=lambda b, u, t: (
            cdu_load(u, t) - b.cdu_slack[u, t] <= cdus.capacity[u] / 1e3 * m.derate["cdu"]
        ),
    )
    c.coolant = pyo.Constraint(
        c.C,
        m.T,
        rule=lambda b, u, t: (
            b.chilled[t]
            + cdus.approach[u] / (cdus.capacity[u] / 1e3) * cdu_load(u, t)
            - b.cdu_slack[u, t]
            <= cdus.max_supply_temperature[u] - m.coolant_margin
        ),
    )
    # plant: proportional in load, convex envelope in the chilled-water setpoint
    # envelope segments: drop those collinear with their predecessor at every step
    slope_change = np.abs(np.diff(lin.envelope_slope, axis=1)).max(axis=0)
    kept = [0, *[k + 1 for k in range(slope_change.size) if slope_change[k] > 1e-9]]
    c.K = pyo.Set(initialize=kept)
    c.envelope_value = pyo.Param(
        m.T, c.K, mutable=True, initialize=lambda b, t, k: float(lin.envelope_value[t, k])
    )
    c.envelope_slope = pyo.Param(
        m.T, c.K, mutable=True, initialize=lambda b, t, k: float(lin.envelope_slope[t, k])
    )
    c.heat = pyo.Expression(
        m.T,
        rule=lambda b, t: (
            float(lin.plant_heat_base[t]) + float(lin.plant_heat_slope[t]) * delta_sum(t)
        ),
    )
    c.plant = pyo.Var(m.T, within=pyo.NonNegativeReals)
    c.plant_envelope = pyo.Constraint(
        m.T,
        c.K,
        rule=lambda b, t, k: (
            b.plant[t]
            >= b.envelope_value[t, k] * b.heat[t]
            + float(lin.plant_heat_base[t])
            * b.envelope_slope[t, k]
            * (b.chilled[t] - float(lin.envelope_levels[k]))
        ),
    )
    c.power = pyo.Expression(m.T, rule=lambda b, t: b.plant[t] + float(lin.fixed_cooling[t]))

    # ---------------------------------------------------------------- power chain
    pw = m.power = pyo.Block()
    pw.chain = pyo.Expression(
        m.T,
        rule=lambda b, t: float(lin.it_chain_base[t]) + float(lin.it_chain_slope[t]) * delta_sum(t),
    )
    feeds = facility.feeds
    pw.F = pyo.Set(initialize=range(len(feeds.ids)))
    pw.feed_slack = pyo.Var(pw.F, m.T, within=pyo.NonNegativeReals)
    mech = facility.mechanical_efficiency

    def feed_rule(b: pyo.Block, f: int, t: int) -> pyo.Expression:
        load = float(lin.feed_base[t, f]) + float(lin.it_chain_slope[t]) * sum(
            float(lin.feed_work[f, j]) * delta(j, t) for j in flex if lin.feed_work[f, j]
        )
        if f == facility.cooling_feed:
            load = load + c.power[t] / mech
        return load - b.feed_slack[f, t] <= feeds.capacity[f] / 1e3 * m.derate["feed"]

    pw.feed = pyo.Constraint(pw.F, m.T, rule=feed_rule)
    busbar_rows = capacity_rows(lin.busbar_base, lin.busbar_work.toarray(), lin.busbar_capacity)
    pw.busbar_rows = pyo.Set(initialize=busbar_rows, dimen=2)
    pw.busbar_slack = pyo.Var(pw.busbar_rows, within=pyo.NonNegativeReals)
    busbar_work = lin.busbar_work.tocsr()
    pw.busbar = pyo.Constraint(
        pw.busbar_rows,
        rule=lambda b, i, t: (
            float(lin.busbar_base[i, t])
            + sum(
                float(v) * delta(int(j), t)
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

    # ---------------------------------------------------------------- battery
    bt = m.battery = pyo.Block()
    battery = facility.battery
    capacity_kwh = battery.capacity / 3.6e6 if battery else 0.0
    power_kw = battery.power / 1e3 if battery else 0.0
    bt.charge = pyo.Var(m.T, bounds=(0, power_kw))
    bt.discharge = pyo.Var(m.T, bounds=(0, power_kw))
    bt.E = pyo.Set(initialize=range(lin.steps + 1), ordered=True)
    soc_min = battery.soc_min if battery else 0.0
    soc_max = battery.soc_max if battery else 0.0
    bt.energy = pyo.Var(bt.E, bounds=(soc_min * capacity_kwh, soc_max * capacity_kwh))
    start_soc = initial_soc if initial_soc is not None else (battery.initial_soc if battery else 0)
    bt.initial_energy = pyo.Param(mutable=True, initialize=start_soc * capacity_kwh)
    target = options.end_soc_target if options.end_soc_target is not None else start_soc
    bt.final_energy = pyo.Param(mutable=True, initialize=target * capacity_kwh)
    bt.start = pyo.Constraint(expr=bt.energy[0] == bt.initial_energy)
    eta_c = battery.charge_efficiency if battery else 1.0
    eta_d = battery.discharge_efficiency if battery else 1.0
    bt.dynamics = pyo.Constraint(
        m.T,
        rule=lambda b, t: (
            b.energy[t + 1] == b.energy[t] + (eta_c * b.charge[t] - b.discharge[t] / eta_d) * dt
        ),
    )
    bt.end_slack = pyo.Var(within=pyo.NonNegativeReals)
    bt.end = pyo.Constraint(expr=bt.energy[lin.steps] + bt.end_slack >= bt.final_energy)

    # ---------------------------------------------------------------- grid
    g = m.grid = pyo.Block()
    g.price = pyo.Param(m.T, mutable=True, initialize=lambda b, t: float(lin.price[t]))
    g.carbon = pyo.Param(m.T, mutable=True, initialize=lambda b, t: float(lin.carbon[t]))
    g.pv = pyo.Param(m.T, mutable=True, initialize=lambda b, t: float(lin.pv[t]))
    g.curtail = pyo.Var(m.T, within=pyo.NonNegativeReals)
    g.curtail_limit = pyo.Constraint(m.T, rule=lambda b, t: b.curtail[t] <= b.pv[t])
    export = facility.grid.export_allowed
    g.import_ = pyo.Var(m.T, within=pyo.Reals if export else pyo.NonNegativeReals)
    g.balance = pyo.Constraint(
        m.T,
        rule=lambda b, t: (
            b.import_[t]
            == pw.chain[t]
            + c.power[t] / mech
            + bt.charge[t]
            - bt.discharge[t]
            - (b.pv[t] - b.curtail[t])
        ),
    )
    g.peak = pyo.Var(within=pyo.NonNegativeReals)
    g.peak_def = pyo.Constraint(m.T, rule=lambda b, t: b.peak >= b.import_[t])
    g.contract_slack = pyo.Var(m.T, within=pyo.NonNegativeReals)
    g.contract = pyo.Constraint(
        m.T,
        rule=lambda b, t: (
            b.import_[t] - b.contract_slack[t]
            <= facility.grid.contract_capacity / 1e3 * m.derate["contract"]
        ),
    )
    events = [t for t in steps if np.isfinite(lin.dr_cap[t])]
    g.DR = pyo.Set(initialize=events, ordered=True)
    g.dr_cap = pyo.Param(g.DR, mutable=True, initialize=lambda b, t: float(lin.dr_cap[t]))
    g.dr_slack = pyo.Var(g.DR, within=pyo.NonNegativeReals)
    g.dr = pyo.Constraint(
        g.DR,
        rule=lambda b, t: b.import_[t] - b.dr_slack[t] <= b.dr_cap[t] * m.derate["demand_response"],
    )

    # ---------------------------------------------------------------- objective
    carbon_price = facility.grid.carbon_price  # currency/kg
    wear = (battery.wear_cost * 3.6e6) if battery else 0.0  # currency/kWh
    m.energy_cost = pyo.Expression(expr=sum(g.price[t] * g.import_[t] for t in steps) * dt)
    m.demand_cost = pyo.Expression(expr=facility.grid.demand_charge * 1e3 * g.peak)
    m.carbon_kg = pyo.Expression(expr=sum(g.carbon[t] * g.import_[t] for t in steps) * dt)
    m.wear_cost = pyo.Expression(
        expr=wear * sum(bt.charge[t] + bt.discharge[t] for t in steps) * dt
    )
    lateness = 0.0
    for j in t3:
        penalty_per_kwh_h = float(work.lateness_penalty[j]) * 3.6e6 * 3600.0
        for t in range(deadline_step[j], lin.steps):
            hours_late = (t + 1 - deadline_step[j]) * dt
            lateness = lateness + penalty_per_kwh_h * hours_late * w.power[j, t] * dt
    m.lateness_cost = pyo.Expression(expr=lateness)
    # tier-3 energy left for after the horizon is not free: value it at the horizon's mean
    # effective price so deferring is chosen only when it pays (rolling-horizon end effect)
    m.deferred_price = pyo.Param(mutable=True, initialize=lin.deferred_energy_price)
    """[currency/kWh of IT energy] re-set by ``Planner.update`` with new forecasts."""
    m.deferred_cost = pyo.Expression(
        expr=m.deferred_price
        * sum(
            w.energy_target[j] - sum(w.power[j, t] for t in steps) * dt - w.unserved[j] for j in t3
        )
    )
    m.unserved_cost = pyo.Expression(
        expr=sum(float(work.unserved_penalty[j]) * 3.6e6 * w.unserved[j] for j in t3)
    )
    # A kWh the battery ends short lets it deliver at most η_d kWh earlier, i.e. shrink other
    # slacks (kW per step) by η_d/Δt: weighed 2/Δt, the diagnosis never drains the battery to
    # make another limit look less exceeded than it is.
    m.slack_total = pyo.Expression(
        expr=sum(v for v in _all_slacks(m) if v is not bt.end_slack) + 2.0 / dt * bt.end_slack
    )
    m.diagnosis = pyo.Param(mutable=True, initialize=0.0)
    m.cost = pyo.Objective(
        expr=m.energy_cost
        + m.demand_cost
        + carbon_price * m.carbon_kg
        + m.wear_cost
        + m.lateness_cost
        + m.unserved_cost
        + m.deferred_cost
        + SLACK_PENALTY * m.slack_total,
        sense=pyo.minimize,
    )
    set_slacks_free(m, False)
    return m


def _slack_vars(m: pyo.ConcreteModel) -> Iterable[pyo.Var]:
    yield m.cooling.inlet_slack
    yield m.cooling.coil_slack
    yield m.cooling.cdu_slack
    yield m.power.feed_slack
    yield m.power.busbar_slack
    yield m.battery.end_slack
    yield m.grid.contract_slack
    yield m.grid.dr_slack


def _all_slacks(m: pyo.ConcreteModel) -> Iterable[pyo.Var]:
    for var in _slack_vars(m):
        yield from var.values()


def set_slacks_free(m: pyo.ConcreteModel, free: bool) -> None:
    """Fix every elastic slack to 0 (planning) or free it (diagnosis)."""
    for var in _all_slacks(m):
        if free:
            var.unfix()
        else:
            var.fix(0.0)


def add_inlet_row(
    m: pyo.ConcreteModel, rack: int, step: int, tightening: float
) -> tuple[list[Any], Any]:
    """Add (or tighten) the inlet limit of one rack-step in a built model (lazy constraint).

    A row already in the model is deactivated and re-added with the extra margin, so the
    persistent solver only sees the changed rows; lazy rows carry no elastic slack.

    Parameters
    ----------
    m
        A model from :func:`build_model`.
    rack, step
        Rack index and step index.
    tightening
        Margin added below the limit for this rack-step [K].

    Returns
    -------
    tuple
        The constraints deactivated and the one added (for a persistent solver).
    """
    c = m.cooling
    key = (rack, step)
    options: ModelOptions = m.options_
    options.inlet_tightening[key] = options.inlet_tightening.get(key, 0.0) + tightening
    options.extra_inlet_rows.add(key)
    dropped = []
    if key in c.inlet_rows and c.inlet[key].active:
        dropped.append(c.inlet[key])
    dropped += [c.lazy_inlet[i] for i in m.lazy_rows.get(key, []) if c.lazy_inlet[i].active]
    for con in dropped:
        con.deactivate()
    temperature, limit = m.inlet_lhs(c, rack, step)
    added = c.lazy_inlet.add(temperature <= limit)
    m.lazy_rows.setdefault(key, []).append(len(c.lazy_inlet))
    return dropped, added


def set_derating(m: pyo.ConcreteModel, family: str, extra: float) -> None:
    """Derate a capacity family by ``extra`` more (relative; ``coolant``: kelvin)."""
    options: ModelOptions = m.options_
    options.limit_derating[family] = options.limit_derating.get(family, 0.0) + extra
    if family == "coolant":
        m.coolant_margin = options.limit_derating[family]
    else:
        m.derate[family] = options.derate(family)
