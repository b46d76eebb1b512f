"""The ``workloads`` Block: the power given to each flexible (tier 2 and 3) workload.

Tier 2 work arrives with its profile and may wait at most ``max_delay`` (a backlog); a tier 3
job has an energy to deliver between its release and deadline, optionally with a minimum
running power (on/off per commitment period).  The other Blocks see workload power only as
the change from the operating point, :func:`power_change`.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo
from numpy.typing import NDArray

from optimizer.blocks.options import ModelOptions
from optimizer.linearize import Linearization
from physics.constants import JOULES_PER_KWH, SECONDS_PER_HOUR, WATTS_PER_KILOWATT
from physics.facility import Facility, Workloads

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def job_steps(lin: Linearization, work: Workloads, j: int) -> tuple[int, int]:
    """Release and deadline of tier-3 job ``j`` as period indices [-].

    The release is the first period starting at or after the release instant; the deadline
    is the number of periods that end at or before the deadline instant (the first period the
    job would be late in).  Either is ``len(T)`` when it lies beyond the look-ahead.
    """
    release = int(np.searchsorted(lin.time, work.release[j]))
    deadline = int(np.searchsorted(lin.axis.end, work.deadline[j], side="right"))
    return release, deadline


def hours_late(lin: Linearization, work: Workloads, j: int) -> FloatArray:
    """Hours from job ``j``'s deadline to the end of each period, 0 before it [h], (T,)."""
    late = (lin.axis.end - work.deadline[j]) / np.timedelta64(1, "s") / SECONDS_PER_HOUR
    return np.clip(late, 0.0, None)


def commitment_groups(lin: Linearization, hours: float) -> IntArray:
    """Commitment group of every period [-], (T,): periods starting within the same
    ``hours`` from the look-ahead start share one on/off decision."""
    offset = (lin.time - lin.time[0]) / np.timedelta64(1, "s") / SECONDS_PER_HOUR
    raw = np.floor(offset / max(hours, 1e-9) + 1e-9).astype(np.int64)
    _, groups = np.unique(raw, return_inverse=True)
    return groups.astype(np.int64)


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
    the tier-3 jobs with a modelled minimum power, J3h and J3s the hard and soft ones, P:
    commitment groups, T: periods of length Δt [h].

    ===============  ==========  ======  ====  =====================================================
    name             kind        index   unit  meaning
    ===============  ==========  ======  ====  =====================================================
    J                Set                       flexible workloads j
    power            Var         J, T    kW    power given to j, ≥ 0; at most its capacity (tier 2)
                                               or maximum power (tier 3); fixed to 0 before a job's
                                               release and, for a hard job, after its deadline
    energy_target    Param       J3      kWh   energy still to deliver: the job's energy less
                                               ``job_energy_done`` (mutable)
    unserved         Var         J3s     kWh   soft jobs: energy never delivered (at its penalty)
    shortfall        Var         J3h     kWh   hard jobs: elastic slack of the contract (0 when
                                               planning, freed by a diagnosis)
    energy           Constraint  J3      kWh   Σ power·Δt + unserved (or shortfall) ≥ energy_target
                                               less what fits between the look-ahead end and the
                                               deadline at maximum power
    energy_cap       Constraint  J3      kWh   Σ power·Δt ≤ energy_target
    P                Set                       commitment groups of ``commitment_hours``
    running          Var         J3m, P  0/1   the job runs in the group's periods (binary)
    minimum          Constraint  J3m, T  kW    power ≥ minimum power · running (from release on)
    maximum          Constraint  J3m, T  kW    power ≤ maximum power · running
    backlog          Var         J2, T   kWh   tier-2 work arrived and not yet run; at most the
                                               arrivals of the last ``max_delay``, 0 at the end
    backlog_balance  Constraint  J2, T   kWh   backlog = previous backlog + (arrivals − power)·Δt
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
    window = {j: job_steps(lin, work, j) for j in t3}
    # a hard job runs only between release and deadline; a soft one (and one whose deadline
    # a diagnosis relaxes) may run late, at its lateness cost
    may_run_late = {j: work.is_soft(j) or j in options.relaxed_deadlines for j in t3}
    for j in flex:
        cap = (work.max_power[j] if work.tier[j] == 3 else work.capacity[j]) / WATTS_PER_KILOWATT
        for t in steps:
            var = w.power[j, t]
            var.setub(cap)
            if work.tier[j] == 3:
                release, deadline = window[j]
                if t < release or (t >= deadline and not may_run_late[j]):
                    var.fix(0.0)
    done = job_energy_done or {}
    w.energy_target = pyo.Param(
        t3,
        mutable=True,
        initialize={
            j: max(float(work.energy[j]) / JOULES_PER_KWH - done.get(j, 0.0), 0.0) for j in t3
        },
    )
    soft = [j for j in t3 if work.is_soft(j)]
    hard = [j for j in t3 if not work.is_soft(j)]
    w.unserved = pyo.Var(soft, within=pyo.NonNegativeReals)
    w.shortfall = pyo.Var(hard, within=pyo.NonNegativeReals)
    # Rolling horizon: energy that still fits between the look-ahead end and a deadline
    # beyond it may wait; only the rest must be delivered here.
    later = {
        j: float(work.max_power[j])
        / WATTS_PER_KILOWATT
        * max((work.deadline[j] - lin.end_time) / np.timedelta64(1, "h"), 0.0)
        for j in t3
    }

    def delivered(b: pyo.Block, j: int) -> pyo.Expression:
        return sum(b.power[j, t] * float(dt[t]) for t in steps)

    def energy_rule(b: pyo.Block, j: int) -> pyo.Expression:
        missing = b.unserved[j] if j in soft else b.shortfall[j]
        return delivered(b, j) + missing >= b.energy_target[j] - later[j]

    w.energy = pyo.Constraint(t3, rule=energy_rule)
    w.energy_cap = pyo.Constraint(t3, rule=lambda b, j: delivered(b, j) <= b.energy_target[j])
    _add_commitment(m, facility, lin, options, t3, {j: window[j][0] for j in t3})
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
    w, work = m.workloads, facility.workloads
    binaries = [j for j in t3 if options.integer_min_power and work.min_power[j] > 0]
    group = commitment_groups(lin, options.commitment_hours)
    m.commitment_group = group  # for relax-and-fix in the planner
    w.P = pyo.Set(initialize=range(int(group.max()) + 1 if group.size else 0), ordered=True)
    w.running = pyo.Var(binaries, w.P, within=pyo.Binary)
    w.minimum = pyo.Constraint(
        binaries,
        m.T,
        rule=lambda b, j, t: (
            b.power[j, t] >= work.min_power[j] / WATTS_PER_KILOWATT * b.running[j, int(group[t])]
            if t >= release_step[j] and not b.power[j, t].fixed
            else pyo.Constraint.Skip
        ),
    )
    w.maximum = pyo.Constraint(
        binaries,
        m.T,
        rule=lambda b, j, t: (
            b.power[j, t] <= work.max_power[j] / WATTS_PER_KILOWATT * b.running[j, int(group[t])]
        ),
    )


def _add_backlog(
    m: pyo.ConcreteModel, facility: Facility, lin: Linearization, t2: list[int]
) -> None:
    """Tier 2: backlog of work arrived and not yet run, bounded by the last ``max_delay``
    arrivals (``backlog``, ``backlog_balance``)."""
    w, work, dt = m.workloads, facility.workloads, lin.step_hours
    w.backlog = pyo.Var(t2, m.T, within=pyo.NonNegativeReals)

    def backlog_rule(b: pyo.Block, j: int, t: int) -> pyo.Expression:
        previous = b.backlog[j, t - 1] if t > 0 else 0.0
        arrived = float(lin.tier2_profile[t, j]) * float(dt[t])
        return b.backlog[j, t] == previous + arrived - b.power[j, t] * float(dt[t])

    w.backlog_balance = pyo.Constraint(t2, m.T, rule=backlog_rule)
    end_hours = np.cumsum(dt)
    for j in t2:
        cumulative = np.concatenate([[0.0], np.cumsum(lin.tier2_profile[:, j] * dt)])
        edges = np.concatenate([[0.0], end_hours])
        delay = float(work.max_delay[j]) / SECONDS_PER_HOUR
        # arrivals of the last max_delay hours before each period end may still wait
        recent = cumulative[1:] - np.interp(end_hours - delay, edges, cumulative)
        for t in range(lin.steps):
            w.backlog[j, t].setub(max(float(recent[t]), 0.0) if delay > 0 else 0.0)
        w.backlog[j, lin.steps - 1].fix(0.0)
