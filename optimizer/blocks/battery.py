"""The ``battery`` Block: charge, discharge and stored energy of the facility battery.

Without a battery every bound is zero (the Block stays, so the other Blocks and the objective
need no special case).
"""

from __future__ import annotations

import pyomo.environ as pyo

from optimizer.blocks.options import ModelOptions
from optimizer.linearize import Linearization
from physics.constants import JOULES_PER_KWH, WATTS_PER_KILOWATT
from physics.facility import Facility


def add_battery(
    m: pyo.ConcreteModel,
    facility: Facility,
    lin: Linearization,
    options: ModelOptions,
    initial_soc: float | None = None,
) -> None:
    """Add ``m.battery``: power, SOC dynamics, window and end-of-horizon target.

    Parameters
    ----------
    m
        The model being built (with ``m.T``).
    facility
        Compiled facility.
    lin
        Coefficients at the operating point.
    options
        Model switches (``end_soc_target``).
    initial_soc
        Battery SOC at the start [-] (default: the facility's).

    Notes
    -----
    Symbols of ``m.battery``; T: steps, E: the T + 1 instants between and around them.

    ==============  ==========  =====  ====  =======================================================
    name            kind        index  unit  meaning
    ==============  ==========  =====  ====  =======================================================
    charge          Var         T      kW    charging power, 0 to the battery's power
    discharge       Var         T      kW    discharging power, 0 to the battery's power
    E               Set                      instants 0 … len(T)
    energy          Var         E      kWh   stored energy, within the SOC window
    initial_energy  Param              kWh   energy at the start (mutable)
    final_energy    Param              kWh   energy required at the end: ``end_soc_target``, default
                                             the initial SOC (mutable)
    start           Constraint         kWh   energy[0] = initial_energy
    dynamics        Constraint  T      kWh   energy[t+1] = energy[t] + (η_c·charge −
                                             discharge/η_d)·Δt
    end_slack       Var                kWh   elastic slack of the end target (0 when planning)
    end             Constraint         kWh   energy[end] + end_slack ≥ final_energy
    ==============  ==========  =====  ====  =======================================================
    """
    dt = lin.step_hours
    bt = m.battery = pyo.Block()
    battery = facility.battery
    capacity_kwh = battery.capacity / JOULES_PER_KWH if battery else 0.0
    power_kw = battery.power / WATTS_PER_KILOWATT if battery else 0.0
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
            b.energy[t + 1]
            == b.energy[t] + (eta_c * b.charge[t] - b.discharge[t] / eta_d) * float(dt[t])
        ),
    )
    bt.end_slack = pyo.Var(within=pyo.NonNegativeReals)
    bt.end = pyo.Constraint(expr=bt.energy[lin.steps] + bt.end_slack >= bt.final_energy)
