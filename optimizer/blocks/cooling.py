"""The ``cooling`` Block: setpoints, rack inlet limits, coil and CDU capacities, plant power.

Rack inlets are affine in the supply setpoints and the workload power change
(``T_in = h + W·supply + G·Δp``, :mod:`optimizer.linearize`); only screened rows start in the
model, and verification adds violated ones lazily (:func:`optimizer.model.add_inlet_row`,
which builds its row with :func:`inlet_row`).  The plant's electric power is bounded below by
the convex envelope of the physics in the chilled-water setpoint, proportional in load.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo
from numpy.typing import NDArray
from pyomo.core.expr.numeric_expr import LinearExpression, MonomialTermExpression

from optimizer.blocks.liquid import cdu_facility_supply
from optimizer.blocks.options import ModelOptions
from optimizer.blocks.screening import screened_capacity_rows, screened_inlet_rows
from optimizer.blocks.workloads import power_change, total_power_change
from optimizer.curve_range import chilled_water_floor
from optimizer.linearize import Linearization
from physics.constants import WATTS_PER_KILOWATT
from physics.facility import Facility
from physics.liquid.cdu import FACILITY_LOOP

FloatArray = NDArray[np.float64]


def add_cooling(
    m: pyo.ConcreteModel, facility: Facility, lin: Linearization, options: ModelOptions
) -> None:
    """Add ``m.cooling``: supply and chilled-water setpoints, inlet, coil, CDU and plant rows.

    Parameters
    ----------
    m
        The model being built (with ``m.T``, ``m.derate``, ``m.coolant_margin``,
        ``m.workloads``); ``m.lazy_rows`` is set here (lazy inlet rows by rack-step).
    facility
        Compiled facility.
    lin
        Coefficients at the operating point.
    options
        Model switches (``ramp_limit``, ``initial_inlet_candidates``, ``extra_inlet_rows``,
        ``inlet_margin``, ``inlet_tightening``).

    Notes
    -----
    Symbols of ``m.cooling``; U: cooling units, C: CDUs, K: plant envelope segments, T: steps;
    the row sets list the (index, step) pairs that can bind.

    ==============  ==========  ==========  =======  ===============================================
    name            kind        index       unit     meaning
    ==============  ==========  ==========  =======  ===============================================
    U               Set                              cooling units u
    supply          Var         U, T        °C       supply air setpoint, within the unit's bounds
    chilled         Var         T           °C       chilled-water setpoint, within the plant's
                                                     bounds (and the CDUs' facility-water limit)
    approach        Constraint  U, T        °C       chilled ≤ supply − coil approach
    ramp_up         Constraint  U, T        K        supply rises at most ``ramp_limit`` per period
                                                     (the first from ``initial_supply`` if known)
    ramp_down       Constraint  U, T        K        supply falls at most ``ramp_limit`` per period
    chilled_ramp_*  Constraint  T           K        chilled water moves at most
                                                     ``chilled_water_ramp_limit`` per period
    inlet_rows      Set         (r, t)               rack-steps whose inlet row is in the model
                                                     (screened, plus ``extra_inlet_rows``)
    inlet_slack     Var         inlet_rows  K        elastic slack (0 when planning)
    inlet           Constraint  inlet_rows  °C       h + W·supply + G·Δp − slack ≤ inlet limit −
                                                     margins
    lazy_inlet      Constraint  list        °C       inlet rows added or tightened by verification
    coil_rows       Set         (u, t)               unit-steps whose coil capacity can bind
    coil_slack      Var         coil_rows   kW       elastic slack (0 when planning)
    coil            Constraint  coil_rows   kW       coil load − slack ≤ coil capacity · derate
    C               Set                              CDUs
    cdu_slack       Var         C, T        kW or K  elastic slack of both CDU rows (0 when
                                                     planning)
    cdu_capacity    Constraint  C, T        kW       CDU load − slack ≤ CDU capacity · derate
    coolant         Constraint  C, T        °C       facility supply + approach · load / capacity −
                                                     slack ≤ coolant limit − margin (facility
                                                     supply: chilled, or the warm-water loop's,
                                                     :func:`~optimizer.blocks.liquid.cdu_facility_supply`)
    K               Set                              envelope segments kept (not collinear with
                                                     their predecessor)
    envelope_value  Param       T, K        1        ε: plant power per kW of load at the segment
                                                     start (mutable)
    envelope_slope  Param       T, K        1/K      σ: change of ε per K of chilled-water setpoint
                                                     (mutable)
    heat            Expression  T           kW       plant heat Q = Q0 + κ·ΣΔp
    plant           Var         T           kW       plant electric power, ≥ 0
    plant_envelope  Constraint  T, K        kW       plant ≥ ε·Q + Q0·σ·(chilled − level)
    power           Expression  T           kW       plant + CRAH fans and CDU pumps
    ==============  ==========  ==========  =======  ===============================================
    """
    units = facility.units
    c = m.cooling = pyo.Block()
    c.U = pyo.Set(initialize=range(units.count), ordered=True)
    c.supply = pyo.Var(
        c.U,
        m.T,
        bounds=lambda b, u, t: supply_bounds(facility, u),
        initialize=lambda b, u, t: float(lin.s0[t, u]),
    )
    low, high = chilled_water_bounds(facility, lin, options)
    c.chilled = pyo.Var(
        m.T,
        bounds=lambda b, t: (float(low[t]), float(high[t])),
        initialize=lambda b, t: float(np.clip(lin.c0[t], low[t], high[t])),
    )
    c.approach = pyo.Constraint(
        c.U, m.T, rule=lambda b, u, t: b.chilled[t] <= b.supply[u, t] - units.coil_approach[u]
    )
    _add_ramps(m, options)
    _add_inlet_rows(m, facility, lin, options)
    _add_coil_and_cdu(m, facility, lin)
    _add_plant(m, lin)


def chilled_water_bounds(
    facility: Facility, lin: Linearization, options: ModelOptions
) -> tuple[FloatArray, FloatArray]:
    """Lowest and highest chilled-water setpoint per period [°C], (T,) each.

    The plant's bounds (with CDUs on chilled water, at most the liquid class's facility water
    limit), narrowed to the chiller curves' fitted range wherever the chillers run
    (:mod:`optimizer.curve_range`, ``lin.chilled_ceiling``).  From a setpoint in force outside
    that range the bounds open by the ramp limit per period, so the plan can ramp into it.
    """
    low, high = facility.chilled_water_temperature_bounds
    if facility.cdus.count and np.any(facility.cdus.loop != FACILITY_LOOP):
        high = min(high, facility.facility_water_limit)
    floor = np.full(lin.steps, min(chilled_water_floor(facility), high))
    ceiling = np.clip(lin.chilled_ceiling, floor, high)
    now = options.initial_chilled_water
    if now is not None:
        reach = options.chilled_water_ramp_limit * np.arange(1, lin.steps + 1)
        ceiling = np.minimum(np.maximum(ceiling, now - reach), high)
        floor = np.maximum(np.minimum(floor, now + reach), low)
    return floor, ceiling


def _add_ramps(m: pyo.ConcreteModel, options: ModelOptions) -> None:
    """Setpoint ramp rows: supply and chilled water move at most their limit per period,
    the first period from the setpoints in force when they are known."""
    c = m.cooling
    ramp, chilled_ramp = options.ramp_limit, options.chilled_water_ramp_limit
    now = options.initial_supply

    def previous_supply(b: pyo.Block, u: int, t: int) -> pyo.Expression | float | None:
        if t > 0:
            return b.supply[u, t - 1]
        return None if now is None else float(now[u])

    def ramp_rule(sign: float) -> object:
        def rule(b: pyo.Block, u: int, t: int) -> pyo.Expression:
            before = previous_supply(b, u, t)
            if before is None:
                return pyo.Constraint.Skip
            return sign * (b.supply[u, t] - before) <= ramp

        return rule

    c.ramp_up = pyo.Constraint(c.U, m.T, rule=ramp_rule(1.0))
    c.ramp_down = pyo.Constraint(c.U, m.T, rule=ramp_rule(-1.0))
    chilled_now = options.initial_chilled_water

    def chilled_rule(sign: float) -> object:
        def rule(b: pyo.Block, t: int) -> pyo.Expression:
            if t == 0 and chilled_now is None:
                return pyo.Constraint.Skip
            before = b.chilled[t - 1] if t > 0 else float(chilled_now)  # type: ignore[arg-type]
            return sign * (b.chilled[t] - before) <= chilled_ramp

        return rule

    c.chilled_ramp_up = pyo.Constraint(m.T, rule=chilled_rule(1.0))
    c.chilled_ramp_down = pyo.Constraint(m.T, rule=chilled_rule(-1.0))


def inlet_row(m: pyo.ConcreteModel, rack: int, step: int) -> tuple[pyo.Expression, float]:
    """Inlet temperature of a rack at a step in the model, and its limit less margins.

    Parameters
    ----------
    m
        A model with ``m.cooling`` and ``m.workloads``.
    rack, step
        Rack index and step index.

    Returns
    -------
    tuple
        ``h + W·supply + G·Δp`` [°C] and the limit less ``inlet_margin`` and the rack-step's
        ``inlet_tightening`` [°C].
    """
    options: ModelOptions = m.options_
    supply_terms, work_terms, rack_limit = _inlet_terms(m, rack)
    limit = rack_limit - options.inlet_margin - options.inlet_tightening.get((rack, step), 0.0)
    return _inlet_expression(m, rack, step, supply_terms, work_terms), limit


def _inlet_expression(
    m: pyo.ConcreteModel,
    rack: int,
    step: int,
    supply_terms: list[tuple[int, float]],
    work_terms: list[tuple[int, float]],
) -> LinearExpression:
    """``h + Σ W_u·supply_u + Σ G_j·(power_j − p0_j)`` [°C] as one linear expression.

    The terms in the order of the sum ``h + W·supply + G·Δp`` and its constant
    ``h + Σ G_j·(−p0_j)`` accumulated in that order, as Pyomo's compilers fold the sum: the
    same row, coefficient for coefficient, without building (and walking) a nested
    expression per row — 9,600 such rows at 1,000 racks.
    """
    supply, w = m.cooling.supply, m.workloads
    constant = float(m.lin.inlet_base[rack, step])
    terms: list[object] = [
        MonomialTermExpression((value, supply[u, step])) for u, value in supply_terms
    ]
    for j, coef in work_terms:
        if j in w.J:  # Δp of a workload the plan does not decide is 0 (power_change)
            constant += coef * -float(m.lin.p0[step, j])
            terms.append(MonomialTermExpression((coef, w.power[j, step])))
    return LinearExpression([constant, *terms])


InletTerms = tuple[list[tuple[int, float]], list[tuple[int, float]], float]
"""A rack's inlet row terms: (unit, supply coefficient [-]), (workload, coefficient
[K/kW]) and its inlet limit [°C]."""


def _inlet_terms(m: pyo.ConcreteModel, rack: int) -> InletTerms:
    """The terms of ``rack``'s inlet rows, read from ``m.lin`` once per rack and kept on the
    model (``m.inlet_terms_``): a model has up to 96 rows a rack, and verification adds more."""
    cache: dict[int, InletTerms] | None = getattr(m, "inlet_terms_", None)
    if cache is None:
        cache = m.inlet_terms_ = {}
    terms = cache.get(rack)
    if terms is None:
        lin: Linearization = m.lin
        matrix = lin.inlet_supply.tocsr()
        start, stop = matrix.indptr[rack], matrix.indptr[rack + 1]
        supply = [
            (int(u), float(value))
            for u, value in zip(matrix.indices[start:stop], matrix.data[start:stop], strict=True)
        ]
        work = [
            (j, float(lin.inlet_work[rack, j]))
            for j in (int(j) for j in lin.flexible)
            if abs(lin.inlet_work[rack, j]) > 1e-9
        ]
        terms = cache[rack] = (supply, work, float(lin.inlet_limit[rack]))
    return terms


def supply_bounds(facility: Facility, unit: int) -> tuple[float, float]:
    """Bounds of a cooling unit's supply setpoint in the model [°C].

    The unit's own range, its lower end raised to the facility's lower inlet limit: every
    inlet mixes supply air with warmer recirculated air, so no inlet is colder than the
    coldest supply, and supply at or above the lower limit keeps every inlet above it.
    """
    units = facility.units
    high = float(units.supply_temperature_max[unit])
    low = float(units.supply_temperature_min[unit])
    return min(max(low, facility.inlet_lower_limit), high), high


def _add_inlet_rows(
    m: pyo.ConcreteModel, facility: Facility, lin: Linearization, options: ModelOptions
) -> None:
    """Inlet rows: screened, then lazily extended by verification."""
    c = m.cooling
    rows = screened_inlet_rows(lin, facility, options.initial_inlet_candidates)
    rows |= options.extra_inlet_rows
    c.inlet_rows = pyo.Set(initialize=sorted(rows), dimen=2, ordered=True)
    c.inlet_slack = pyo.Var(c.inlet_rows, within=pyo.NonNegativeReals)

    def inlet_rule(b: pyo.Block, r: int, t: int) -> pyo.Expression:
        temperature, limit = inlet_row(m, r, t)
        return temperature - b.inlet_slack[r, t] <= limit

    c.inlet = pyo.Constraint(c.inlet_rows, rule=inlet_rule)
    c.lazy_inlet = pyo.ConstraintList()
    m.lazy_rows = {}


def _add_coil_and_cdu(m: pyo.ConcreteModel, facility: Facility, lin: Linearization) -> None:
    """Coil capacity (screened: rows that cannot bind are left out), CDU capacity and coolant
    supply temperature."""
    c, units, cdus = m.cooling, facility.units, facility.cdus
    flex = [int(j) for j in lin.flexible]
    # per-equipment constants as Python floats, read once: ``cdus.approach`` is computed on
    # every read (the heat exchangers' effectiveness), and a NumPy scalar times a Pyomo
    # expression goes through NumPy's ufunc machinery to the same product (the same rows)
    coil_capacity = [float(value) / WATTS_PER_KILOWATT for value in units.capacity]
    cdu_capacity = [float(value) / WATTS_PER_KILOWATT for value in cdus.capacity]
    approach_per_kw = [
        float(approach / (capacity / WATTS_PER_KILOWATT))
        for approach, capacity in zip(cdus.approach, cdus.capacity, strict=True)
    ]
    coolant_limit = [float(value) for value in cdus.max_supply_temperature]
    coil_rows = screened_capacity_rows(
        facility, lin, lin.coil_base, lin.coil_work, units.capacity / WATTS_PER_KILOWATT
    )
    c.coil_rows = pyo.Set(initialize=coil_rows, dimen=2)
    c.coil_slack = pyo.Var(c.coil_rows, within=pyo.NonNegativeReals)
    c.coil = pyo.Constraint(
        c.coil_rows,
        rule=lambda b, u, t: (
            float(lin.coil_base[u, t])
            + sum(
                float(lin.coil_work[u, j]) * power_change(m, j, t)
                for j in flex
                if lin.coil_work[u, j]
            )
            - b.coil_slack[u, t]
            <= coil_capacity[u] * m.derate["coil"]
        ),
    )
    c.C = pyo.Set(initialize=range(cdus.count))
    c.cdu_slack = pyo.Var(c.C, m.T, within=pyo.NonNegativeReals)

    def cdu_load(u: int, t: int) -> pyo.Expression:
        return float(lin.cdu_base[u, t]) + sum(
            float(lin.cdu_work[u, j]) * power_change(m, j, t) for j in flex if lin.cdu_work[u, j]
        )

    c.cdu_capacity = pyo.Constraint(
        c.C,
        m.T,
        rule=lambda b, u, t: (
            cdu_load(u, t) - b.cdu_slack[u, t] <= cdu_capacity[u] * m.derate["cdu"]
        ),
    )
    c.coolant = pyo.Constraint(
        c.C,
        m.T,
        rule=lambda b, u, t: (
            cdu_facility_supply(m, u, t) + approach_per_kw[u] * cdu_load(u, t) - b.cdu_slack[u, t]
            <= coolant_limit[u] - m.coolant_margin
        ),
    )


def _add_plant(m: pyo.ConcreteModel, lin: Linearization) -> None:
    """Plant: proportional in load, convex envelope in the chilled-water setpoint."""
    c = m.cooling
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
            float(lin.plant_heat_base[t])
            + float(lin.plant_heat_slope[t]) * total_power_change(m, t)
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
