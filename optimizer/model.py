"""The planning model: one Pyomo Block per asset type over the horizon.

Units inside the model: power kW, energy kWh, temperature °C, money in the scenario currency.
:func:`build_model` creates the horizon and calls one builder per Block, each documenting the
symbols it adds (:mod:`optimizer.blocks`):

``workloads`` (:func:`~optimizer.blocks.workloads.add_workloads`)
    power given to each flexible workload; tier-2 backlog, tier-3 energy and on/off rows.
``cooling`` (:func:`~optimizer.blocks.cooling.add_cooling`)
    supply and chilled-water setpoints, ramp and approach rows, rack inlet rows (screened,
    extended lazily by :func:`add_inlet_row`), coil and CDU capacities, plant power.
``power`` (:func:`~optimizer.blocks.power.add_power`)
    UPS input of the IT chain, feed and busbar capacity rows.
``battery`` (:func:`~optimizer.blocks.battery.add_battery`)
    charge, discharge, stored energy with its dynamics, window and end target.
``grid`` (:func:`~optimizer.blocks.grid.add_grid`)
    import balance, PV curtailment, peak, contract and demand-response caps.
objective (:func:`~optimizer.blocks.objective.add_objective`)
    the cost terms and ``m.cost``.

Elastic slacks (kW or K) sit on the physical limits and are fixed to zero for planning; the
diagnosis of an infeasible request frees them (:func:`set_slacks_free`, see
:mod:`optimizer.explain`).  Verification tightens a built model in place
(:func:`add_inlet_row`, :func:`set_derating`).
"""

from __future__ import annotations

from typing import Any

import pyomo.environ as pyo
from pyomo.common.gc_manager import PauseGC

from optimizer.blocks.battery import add_battery
from optimizer.blocks.cooling import add_cooling, inlet_row
from optimizer.blocks.grid import add_grid
from optimizer.blocks.liquid import add_liquid
from optimizer.blocks.objective import add_objective, elastic_slacks
from optimizer.blocks.options import DERATED_FAMILIES, KELVIN_FAMILIES, ModelOptions
from optimizer.blocks.power import add_power
from optimizer.blocks.workloads import add_workloads
from optimizer.linearize import Linearization
from physics.facility import Facility

__all__ = [
    "ModelOptions",
    "add_inlet_row",
    "build_model",
    "set_derating",
    "set_slacks_free",
]


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
        job energies so :class:`optimizer.planner.PlanSolver` can re-solve without
        rebuilding.  Besides the Blocks' symbols: ``T`` (steps), ``derate`` (multiplier per
        capacity family in ``FAMILIES`` [-], mutable), ``coolant_margin``, ``case_margin``
        and ``loop_margin`` (below the CDU coolant, cold-plate case and liquid-class loop
        limits [K], mutable), and the plain attributes ``lin`` and ``options_``.
    """
    # the cyclic garbage collector paused while the model's ~10 objects per row are created
    # (as Pyomo's own writers do): its passes over the growing heap were half the build time
    with PauseGC():
        return _build(facility, lin, options or ModelOptions(), initial_soc, job_energy_done)


def _build(
    facility: Facility,
    lin: Linearization,
    options: ModelOptions,
    initial_soc: float | None,
    job_energy_done: dict[int, float] | None,
) -> pyo.ConcreteModel:
    """The model of :func:`build_model` (called with the garbage collector paused)."""
    m = pyo.ConcreteModel(name="dctwin plan")
    m.T = pyo.Set(initialize=range(lin.steps), ordered=True)
    m.options_ = options  # kept for re-solves
    m.lin = lin
    m.FAMILIES = pyo.Set(initialize=DERATED_FAMILIES)
    m.derate = pyo.Param(m.FAMILIES, mutable=True, initialize=lambda b, name: options.derate(name))
    for family in KELVIN_FAMILIES:
        margin = pyo.Param(mutable=True, initialize=options.limit_derating.get(family, 0.0))
        setattr(m, f"{family}_margin", margin)
    add_workloads(m, facility, lin, options, job_energy_done)
    add_cooling(m, facility, lin, options)
    add_liquid(m, facility)
    add_power(m, facility, lin)
    add_battery(m, facility, lin, options, initial_soc)
    add_grid(m, facility, lin)
    add_objective(m, facility, lin)
    set_slacks_free(m, False)
    return m


def set_slacks_free(m: pyo.ConcreteModel, free: bool) -> None:
    """Fix every elastic slack to 0 (planning) or free it (diagnosis)."""
    for var in elastic_slacks(m):
        if free:
            var.unfix()
        else:
            # 0 is in every slack's domain (non-negative, no upper bound): the domain check
            # is skipped (15 -> 4 ms for the 11,618 slacks of a 1,000-rack day)
            var.fix(0.0, skip_validation=True)


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
    temperature, limit = inlet_row(m, rack, step)
    added = c.lazy_inlet.add(temperature <= limit)
    m.lazy_rows.setdefault(key, []).append(len(c.lazy_inlet))
    return dropped, added


def set_derating(m: pyo.ConcreteModel, family: str, extra: float) -> None:
    """Derate a capacity family by ``extra`` more (relative; ``KELVIN_FAMILIES``: kelvin)."""
    options: ModelOptions = m.options_
    options.limit_derating[family] = options.limit_derating.get(family, 0.0) + extra
    if family in KELVIN_FAMILIES:
        getattr(m, f"{family}_margin").set_value(options.limit_derating[family])
    else:
        m.derate[family] = options.derate(family)
