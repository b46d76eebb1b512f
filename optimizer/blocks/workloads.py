"""The ``workloads`` Block: the power given to each flexible (tier 2 and 3) workload.

Tier 2 work arrives with its profile and may wait at most ``max_delay`` (a backlog); a tier 3
job has an energy to deliver between its release and deadline, optionally with a minimum
running power (on/off per commitment period).  The other Blocks see workload power only as
the change from the operating point, :func:`power_change`.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from optimizer.blocks.options import ModelOptions
from optimizer.linearize import Linearization
from physics.constants import JOULES_PER_KWH, SECONDS_PER_HOUR, WATTS_PER_KILOWATT
from physics.facility import Facility, Workloads


def job_steps(lin: Linearization, work: Workloads, j: int) -> tuple[int, int]:
    """Release and deadline of tier-3 job ``j`` as step indices [-].

    Each is the first step starting at or after the instant (``len(T)`` when it lies beyond
    the horizon).
    """
    release = int(np.searchsorted(lin.time, work.release[j]))
    deadline = int(np.searchsorted(lin.time, work.deadline[j]))
    return release, deadline


def power_change(m: pyo.ConcreteModel, j: int, t: int) -> pyo.Expression | float:
    """Δp: power of workload ``j`` at step ``t`` less its operating point [kW].

    Zero for a workload the plan does not decide (tier 1).
    """
    w = m.workloads
    if j in w.J:
        return w.power[j, t] - float(m.lin.p0[t, j])
    return 0.0


def total_power_change(m: pyo.ConcreteModel, t: int) -> pyo.Expression | float:
    """ΣΔp: change of all flexible workload power at step ``t`` [kW]."""
    return sum(power_change(m, int(j), t) for j in m.lin.flexible)


def add_workloads(
    m: pyo.ConcreteModel,
    facility: Facility,
    lin: Linearization,
    options: ModelOptions,
    job_energy_done: dict[int, float] | None = None,
) -> None:
    """Add ``m.workloads``: power, backlog and energy rows of the flexible workloads.

    Parameters
    ----------
    m
        The model being built (with ``m.T``).
    facility
        Compiled facility.
    lin
        Coefficients at the operating point.
    options
        Model switches (``integer_min_power``, ``commitment_hours``).
    job_energy_done
        Tier-3 energy already delivered before the horizon [kWh] by workload index.

    Notes
    -----
    Symbols of ``m.workloads``; J: flexible workloads, J2 and J3 those of tier 2 and 3, J3m
    the tier-3 jobs with a modelled minimum power, P: commitment periods, T: steps.

    ===============  ==========  ======  ====  =====================================================
    name             kind        index   unit  meaning
    ===============  ==========  ======  ====  =====================================================
    J                Set                       flexible workloads j
    power            Var         J, T    kW    power given to j, ≥ 0; at most its capacity (tier 2)
                                               or maximum power (tier 3); fixed to 0 before a job's
                                               release
    energy_target    Param       J3      kWh   energy still to deliver: the job's energy less
                                               ``job_energy_done`` (mutable)
    unserved         Var         J3      kWh   energy never delivered (at its penalty)
    energy           Constraint  J3      kWh   Σ power·Δt + unserved ≥ energy_target less what fits
                                               between the horizon end and the deadline at maximum
                                               power
    energy_cap       Constraint  J3      kWh   Σ power·Δt ≤ energy_target
    P                Set                       commitment periods of ``commitment_hours``
    running          Var         J3m, P  0/1   the job runs in the period (binary)
    minimum          Constraint  J3m, T  kW    power ≥ minimum power · running (from release on)
    maximum          Constraint  J3m, T  kW    power ≤ maximum power · running
    backlog          Var         J2, T   kW    tier-2 work arrived and not yet run; at most the last
                                               ``max_delay`` of arrivals, 0 at the horizon end
    backlog_balance  Constraint  J2, T   kW    backlog = previous backlog + arrivals − power
    ===============  ==========  ======  ====  =====================================================
    """
    steps = range(lin.steps)
    dt = lin.step_hours
    work = facility.workloads
    w = m.workloads = pyo.Block()
    flex = [int(j) for j in lin.flexible]
    w.J = pyo.Set(initialize=flex, ordered=True)
    t3 = [j for j in flex if work.tier[j] == 3]
    t2 = [j for j in flex if work.tier[j] == 2]
    w.power = pyo.Var(w.J, m.T, within=pyo.NonNegativeReals)
    release_step = {j: job_steps(lin, work, j)[0] for j in t3}
    for j in flex:
        cap = (work.max_power[j] if work.tier[j] == 3 else work.capacity[j]) / WATTS_PER_KILOWATT
        for t in steps:
            var = w.power[j, t]
            var.setub(cap)
            if work.tier[j] == 3 and t < release_step[j]:
                var.fix(0.0)
    done = job_energy_done or {}
    w.energy_target = pyo.Param(
        t3,
        mutable=True,
        initialize={
            j: max(float(work.energy[j]) / JOULES_PER_KWH - done.get(j, 0.0), 0.0) for j in t3
        },
    )
    w.unserved = pyo.Var(t3, within=pyo.NonNegativeReals)
    # Rolling horizon: energy that still fits between the horizon end and the deadline may
    # wait; only the rest must be delivered here (or is unserved, at its penalty).
    horizon_end = lin.time[-1] + np.timedelta64(round(dt * SECONDS_PER_HOUR), "s")
    later = {
        j: float(work.max_power[j])
        / WATTS_PER_KILOWATT
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
    _add_commitment(m, facility, lin, options, t3, release_step)
    _add_backlog(m, facility, lin, t2)


def _add_commitment(
    m: pyo.ConcreteModel,
    facility: Facility,
    lin: Linearization,
    options: ModelOptions,
    t3: list[int],
    release_step: dict[int, int],
) -> None:
    """Tier-3 minimum running power: on/off per commitment period (``P``, ``running``,
    ``minimum``, ``maximum``)."""
    w, work, dt = m.workloads, facility.workloads, lin.step_hours
    binaries = [j for j in t3 if options.integer_min_power and work.min_power[j] > 0]
    per_period = max(1, round(options.commitment_hours / dt))
    w.P = pyo.Set(initialize=range((lin.steps + per_period - 1) // per_period), ordered=True)
    w.running = pyo.Var(binaries, w.P, within=pyo.Binary)
    w.minimum = pyo.Constraint(
        binaries,
        m.T,
        rule=lambda b, j, t: (
            b.power[j, t] >= work.min_power[j] / WATTS_PER_KILOWATT * b.running[j, t // per_period]
            if t >= release_step[j]
            else pyo.Constraint.Skip
        ),
    )
    w.maximum = pyo.Constraint(
        binaries,
        m.T,
        rule=lambda b, j, t: (
            b.power[j, t] <= work.max_power[j] / WATTS_PER_KILOWATT * b.running[j, t // per_period]
        ),
    )


def _add_backlog(
    m: pyo.ConcreteModel, facility: Facility, lin: Linearization, t2: list[int]
) -> None:
    """Tier 2: backlog of work arrived and not yet run, bounded by the last ``max_delay``
    arrivals (``backlog``, ``backlog_balance``)."""
    w, work, dt = m.workloads, facility.workloads, lin.step_hours
    w.backlog = pyo.Var(t2, m.T, within=pyo.NonNegativeReals)
    delay_steps = {j: round(float(work.max_delay[j]) / SECONDS_PER_HOUR / dt) for j in t2}

    def backlog_rule(b: pyo.Block, j: int, t: int) -> pyo.Expression:
        previous = b.backlog[j, t - 1] if t > 0 else 0.0
        return b.backlog[j, t] == previous + float(lin.tier2_profile[t, j]) - b.power[j, t]

    w.backlog_balance = pyo.Constraint(t2, m.T, rule=backlog_rule)
    for j in t2:
        arrivals = lin.tier2_profile[:, j]
        window = np.convolve(arrivals, np.ones(max(delay_steps[j], 0)), mode="full")[: lin.steps]
        for t in range(lin.steps):
            w.backlog[j, t].setub(float(window[t]) if delay_steps[j] > 0 else 0.0)
        w.backlog[j, lin.steps - 1].fix(0.0)
