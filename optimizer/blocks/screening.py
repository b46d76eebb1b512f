"""Which limit rows start in the planning model: rows that cannot bind are left out.

A row is dropped when even the highest setpoints and the largest flexible workload power
leave it below its limit.  Of the inlet rows that can bind, only the hottest racks of each
cooling unit start in the model; verification adds any other that turns out violated.
"""

from __future__ import annotations

import numpy as np

from optimizer.linearize import FloatArray, Linearization
from physics.constants import WATTS_PER_KILOWATT
from physics.facility import Facility


def screened_inlet_rows(lin: Linearization, facility: Facility, count: int) -> set[tuple[int, int]]:
    """Rack-steps whose inlet limit can bind, narrowed to the hottest racks of each unit.

    A row is dropped when even the highest setpoints and the largest workload power leave the
    inlet below its limit (it cannot bind).  Of the others, per cooling unit and step, the
    ``count`` racks hottest at the operating point and the ``count`` hottest at full
    flexible load start in the model; verification adds any other that turns out violated.

    Parameters
    ----------
    lin
        Coefficients at the operating point.
    facility
        Compiled facility.
    count
        Racks per cooling unit and step kept by each of the two rankings [-].

    Returns
    -------
    set of tuple
        Rack-steps ``(r, t)``.
    """
    units = facility.units
    supply_max = lin.inlet_supply @ units.supply_temperature_max  # (R,)
    flexible = lin.flexible
    work = facility.workloads
    p_max = np.zeros(work.count)
    p_max[flexible] = work.max_power[flexible] / WATTS_PER_KILOWATT
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


def screened_capacity_rows(
    facility: Facility,
    lin: Linearization,
    base: FloatArray,
    per_work: FloatArray,
    capacity: FloatArray,
) -> list[tuple[int, int]]:
    """Element-steps of a capacity family whose limit can bind at full flexible load.

    Parameters
    ----------
    facility
        Compiled facility.
    lin
        Coefficients at the operating point.
    base
        Load of each element at the operating point [kW], shape (N, T).
    per_work
        Load of each element per kW of each workload [-], shape (N, J).
    capacity
        Capacity of each element [kW], shape (N,).

    Returns
    -------
    list of tuple
        Element-steps ``(i, t)`` whose load at every flexible workload's largest power
        reaches the capacity (less a relative 1e-9).
    """
    work = facility.workloads
    flex = [int(j) for j in lin.flexible]
    p_max = np.zeros(work.count)
    p_max[flex] = [
        (work.max_power[j] if work.tier[j] == 3 else work.capacity[j]) / WATTS_PER_KILOWATT
        for j in flex
    ]
    upper = base + np.clip(per_work, 0, None) @ (p_max[np.newaxis, :] - lin.p0).clip(min=0).T
    index = np.argwhere(upper > capacity[:, np.newaxis] * (1 - 1e-9))
    return [(int(i), int(t)) for i, t in index]


def undominated_rows(
    rows: list[tuple[int, int]], base: FloatArray, per_work: FloatArray, capacity: FloatArray
) -> list[tuple[int, int]]:
    """Drop the capacity rows that another row of the same family implies.

    Elements with the same load per kW of every workload and the same capacity have rows that
    differ only in their load at the operating point: at each step the row with the highest
    such load implies the others (same left-hand side but a smaller constant, same limit), so
    the others are left out and the LP's feasible set — with the elastic slacks at zero, as
    when planning — is unchanged.  Identical racks in a large hall (the same workloads spread
    evenly) make one row per rack class and step instead of one per rack.

    Parameters
    ----------
    rows
        Element-steps ``(i, t)`` that can bind (:func:`screened_capacity_rows`).
    base
        Load of each element at the operating point [kW], shape (N, T).
    per_work
        Load of each element per kW of each workload [-], shape (N, J).
    capacity
        Capacity of each element [kW], shape (N,).

    Returns
    -------
    list of tuple
        The rows of ``rows`` that no other row of ``rows`` implies (ties: the lowest index),
        in the order of ``rows``.
    """
    if len(rows) < 2:
        return rows
    keys = np.column_stack([capacity, per_work])
    _, group = np.unique(keys, axis=0, return_inverse=True)
    group = np.asarray(group).ravel()
    by_step: dict[tuple[int, int], int] = {}
    for i, t in rows:  # the highest base of each (class, step); ties: the first index
        key = (int(group[i]), t)
        best = by_step.get(key)
        if best is None or base[i, t] > base[best, t]:
            by_step[key] = i
    kept = {(i, t) for (_, t), i in by_step.items()}
    return [row for row in rows if row in kept]
