"""Capacity planning as a mixed-integer program: the most racks that fit, and what limits them.

The physics gives every limit of :func:`physics.violations.find_violations` as a value per
equipment and step (:func:`limit_rows`); the study (``twin.studies.capacity``) simulates the
facility once as it is and once per candidate position with one rack added, so each limit row ``k``
at step ``t`` becomes affine in the binary decisions ``x_i`` (rack added at candidate ``i``):

    value[k, t] ≈ base[k, t] + Σ_i a[k, i, t]·x_i  ≤  limit[k, t]

exact for every single rack added (``a`` is the simulated change), first order for several
(interactions: recirculation between new racks, busbar I²R, staging, plant curves).  Rows that
exist only when a candidate is present (its own inlet, its own busbar) hold only when
``x_i = 1`` (big-M).  :func:`maximize_racks` maximizes ``Σ x`` with HiGHS; the study verifies
the answer by simulation and, where a limit the linear model missed is broken, tightens that
row by the observed error and solves again (a cutting-plane loop over rows and steps).

:func:`next_step` answers "what would admit one more rack": it forces ``Σ x = n + 1`` with an
elastic slack on every row and minimizes the slack relative to each limit; the rows with slack
are the binding constraints and the slack is the capacity to add (``+12 kW`` of CRAH-1 coil).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import highspy
import numpy as np
import scipy.sparse as sp
import xarray as xr
from numpy.typing import NDArray

from optimizer.highs_direct import FEASIBLE_POINT, new_highs
from physics.constants import WATTS_PER_KILOWATT
from physics.facility import Facility
from physics.violations import LIMIT_KINDS

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

KW = WATTS_PER_KILOWATT
"""[W/kW] (short alias for the many conversions below)."""

#: What to add to relieve a binding row, by kind.
REMEDY: dict[str, str] = {
    "inlet_temperature": "inlet margin (lower supply air, less recirculation or containment)",
    "undervoltage": "voltage margin (lower busbar resistance or a higher shelf voltage)",
    "busbar_current": "busbar ampacity",
    "shelf_capacity": "power shelf capacity (more PSUs)",
    "ups_rating": "UPS rating",
    "feed_capacity": "feed capacity",
    "contract_capacity": "grid contract capacity",
    "airflow": "cooling-unit airflow",
    "coil_capacity": "cooling-unit coil capacity",
    "cdu_capacity": "CDU capacity",
    "coolant_supply": "CDU heat-exchange margin (coolant supply temperature)",
    "plant_capacity": "chiller plant firm capacity",
}


@dataclass(frozen=True)
class LimitRow:
    """One limit of one piece of equipment over time, in "value ≤ limit" form.

    ``sign`` is −1 for lower limits (undervoltage): ``value`` and ``limit`` are then the
    negated physical quantities, so every row reads ``value ≤ limit``.
    """

    kind: str
    equipment: str
    value: FloatArray
    """(T,) in :attr:`unit` (times :attr:`sign`)."""
    limit: FloatArray
    """(T,) in :attr:`unit` (times :attr:`sign`)."""
    unit: str
    sign: float = 1.0


def _rows(
    kind: str,
    ids: list[str],
    values: FloatArray,
    limit: FloatArray | float,
    sign: float = 1.0,
) -> list[LimitRow]:
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, np.newaxis]
    lim = np.broadcast_to(np.asarray(limit, dtype=float), values.shape)
    values = np.where(np.isfinite(values), values, np.inf if sign > 0 else -np.inf)
    unit = LIMIT_KINDS[kind].symbol
    return [
        LimitRow(kind, name, sign * values[:, i], sign * lim[:, i].copy(), unit, sign)
        for i, name in enumerate(ids)
    ]


def limit_rows(facility: Facility, ds: xr.Dataset) -> dict[tuple[str, str], LimitRow]:
    """Every sizing limit of a simulation result as "value ≤ limit" rows.

    The kinds are those of :func:`physics.violations.find_violations` except the operational
    ones a sizing study does not size for (demand-response caps, setpoint bounds, coil
    approach, rack overcommitment); the chiller plant is held to its firm (N+k) capacity at
    reference conditions, :attr:`physics.plant.ChillerPlant.design_cooling_load`.

    Parameters
    ----------
    facility
        The facility simulated.
    ds
        :func:`physics.simulate.simulate` result with per-rack series.

    Returns
    -------
    dict
        ``(kind, equipment id)`` → :class:`LimitRow`; values in V, A, kW, °C or m³/s.
    """
    bus, units, cdus = facility.busbars, facility.units, facility.cdus
    rows: list[LimitRow] = []
    rows += _rows(
        "inlet_temperature",
        facility.racks.ids,
        ds["inlet_temperature"].values,
        facility.inlet_limit,
    )
    voltage = np.where(ds["busbar_collapsed"].values > 0.5, -np.inf, ds["busbar_min_voltage"])
    rows += _rows("undervoltage", bus.ids, voltage, bus.undervoltage_limit, sign=-1.0)
    rows += _rows("busbar_current", bus.ids, ds["busbar_current"].values, bus.ampacity)
    rows += _rows(
        "shelf_capacity", bus.ids, ds["shelf_output"].values / KW, bus.shelf_capacity / KW
    )
    rows += _rows(
        "ups_rating", facility.ups.ids, ds["ups_output"].values / KW, facility.ups.rating / KW
    )
    rows += _rows(
        "feed_capacity",
        facility.feeds.ids,
        ds["feed_power"].values / KW,
        facility.feeds.capacity / KW,
    )
    rows += _rows(
        "contract_capacity",
        ["grid"],
        ds["grid_power"].values / KW,
        facility.grid.contract_capacity / KW,
    )
    rows += _rows("airflow", units.ids, ds["crah_airflow_demand"].values, units.airflow)
    rows += _rows(
        "coil_capacity", units.ids, ds["crah_cooling_load"].values / KW, units.capacity / KW
    )
    if cdus.count:
        rows += _rows("cdu_capacity", cdus.ids, ds["cdu_load"].values / KW, cdus.capacity / KW)
        rows += _rows(
            "coolant_supply",
            cdus.ids,
            ds["cdu_supply_temperature"].values,
            cdus.max_supply_temperature,
        )
    rows += _rows(
        "plant_capacity",
        ["plant"],
        ds["plant_load"].values / KW,
        facility.plant.design_cooling_load / KW,
    )
    return {(r.kind, r.equipment): r for r in rows}


@dataclass
class CapacityModel:
    """The linear rows of a capacity study (one row per limit and step kept).

    Attributes
    ----------
    keys
        ``(kind, equipment, step)`` per row.
    base
        Value without any added rack, (K,) (0 for rows of a candidate's own equipment).
    coefficients
        Change of the value per candidate added, (K, N).
    limit
        (K,).
    owner
        Candidate whose own equipment the row belongs to (the row holds only when that rack
        is added), −1 for rows of existing equipment, (K,).
    allowed
        Candidates that may be added at all, (N,) (a rack that breaks a limit on its own, or
        whose simulation diverges, is excluded).
    """

    keys: list[tuple[str, str, int]]
    base: FloatArray
    coefficients: FloatArray
    limit: FloatArray
    owner: IntArray
    allowed: NDArray[np.bool_]
    units: list[str] = field(default_factory=list)

    @property
    def candidates(self) -> int:
        """Number of candidate positions N."""
        return int(self.coefficients.shape[1])


@dataclass(frozen=True)
class CapacitySolution:
    """Result of :func:`maximize_racks`."""

    chosen: NDArray[np.bool_]
    count: int
    status: str


@dataclass(frozen=True)
class Relief:
    """Capacity to add to one limit row so that one more rack fits."""

    kind: str
    equipment: str
    step: int
    extra: float
    """Capacity to add, in :attr:`unit` (a voltage or temperature margin for those kinds)."""
    limit: float
    unit: str
    remedy: str
    simulated: bool = False
    """True once :attr:`extra` is the excess a simulation of the n+1 racks shows (the
    verified figure) rather than the linear model's slack."""


@dataclass(frozen=True)
class NextStep:
    """Result of :func:`next_step`."""

    chosen: NDArray[np.bool_]
    reliefs: list[Relief]
    feasible: bool
    """False when no set of ``n + 1`` allowed candidates exists (no free position left)."""


def _big_m(model: CapacityModel) -> FloatArray:
    positive = np.clip(np.nan_to_num(model.coefficients, posinf=0.0), 0.0, None).sum(axis=1)
    return positive + np.abs(model.base) + np.abs(model.limit) + 1.0


def _solve(
    model: CapacityModel,
    *,
    count: int | None,
    elastic: bool,
    time_limit: float,
) -> tuple[str, FloatArray]:
    """Build and solve the MIP; columns are x (N) then, if elastic, slacks (K)."""
    n, k = model.candidates, len(model.keys)
    coeff = np.nan_to_num(model.coefficients, nan=0.0, posinf=1e9, neginf=-1e9)
    big_m = _big_m(model)
    owned = model.owner >= 0
    matrix = coeff.copy()
    matrix[np.flatnonzero(owned), model.owner[owned]] += big_m[owned]
    upper = model.limit - model.base + np.where(owned, big_m, 0.0)
    cols = n + (k if elastic else 0)
    h = new_highs()
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("mip_rel_gap", 0.0)
    lp = highspy.HighsLp()
    lp.num_col_ = cols
    x_upper = model.allowed.astype(float)
    if elastic:
        scale = np.maximum(np.abs(model.limit), 1.0)
        lp.col_cost_ = np.concatenate([np.zeros(n), 1.0 / scale])
        lp.col_lower_ = np.zeros(cols)
        lp.col_upper_ = np.concatenate([x_upper, np.full(k, highspy.kHighsInf)])
        lp.sense_ = highspy.ObjSense.kMinimize
        full = sp.hstack([sp.csr_matrix(matrix), -sp.identity(k, format="csr")])
    else:
        lp.col_cost_ = np.ones(cols)
        lp.col_lower_ = np.zeros(cols)
        lp.col_upper_ = x_upper
        lp.sense_ = highspy.ObjSense.kMaximize
        full = sp.csr_matrix(matrix)
    rows_lower = [np.full(k, -highspy.kHighsInf)]
    rows_upper = [upper]
    if count is not None:
        total = sp.csr_matrix(np.concatenate([np.ones(n), np.zeros(cols - n)])[np.newaxis, :])
        full = sp.vstack([full, total])
        rows_lower.append(np.array([float(count)]))
        rows_upper.append(np.array([float(count)]))
    lower = np.concatenate(rows_lower)
    upper_all = np.concatenate(rows_upper)
    lp.num_row_ = full.shape[0]
    lp.row_lower_ = lower
    lp.row_upper_ = upper_all
    csc = sp.csc_matrix(full)
    csc.eliminate_zeros()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = csc.indptr.astype(np.int32)
    lp.a_matrix_.index_ = csc.indices.astype(np.int32)
    lp.a_matrix_.value_ = csc.data.astype(float)
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n + [highspy.HighsVarType.kContinuous] * (
        cols - n
    )
    h.passModel(lp)
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    if h.getInfo().primal_solution_status != FEASIBLE_POINT:
        return status, np.zeros(cols)
    return status, np.asarray(h.getSolution().col_value, dtype=float)


def maximize_racks(model: CapacityModel, time_limit: float = 60.0) -> CapacitySolution:
    """The most candidates that can be added without breaking a (linearized) limit.

    Parameters
    ----------
    model
        The linear rows (see :class:`CapacityModel`).
    time_limit
        HiGHS time limit [s].

    Returns
    -------
    CapacitySolution
        ``chosen`` (N,) and the count; ``status`` is the HiGHS model status.
    """
    status, values = _solve(model, count=None, elastic=False, time_limit=time_limit)
    chosen = values[: model.candidates] > 0.5
    return CapacitySolution(chosen=chosen, count=int(chosen.sum()), status=status)


def next_step(
    model: CapacityModel, count: int, time_limit: float = 60.0, tolerance: float = 1e-6
) -> NextStep:
    """The least capacity to add so that ``count`` racks fit, and where.

    Every row gets an elastic slack ``s ≥ 0`` (``value − s ≤ limit``), exactly ``count``
    candidates are added, and ``Σ s_k / max(|limit_k|, 1)`` is minimized: the relative
    capacity increase, so kW, kelvin and m³/s rows compare.

    Parameters
    ----------
    model
        The linear rows.
    count
        Racks to fit (the maximum found plus one).
    time_limit
        HiGHS time limit [s].
    tolerance
        Slacks below this (in the row's unit) are not reported.

    Returns
    -------
    NextStep
        The candidates chosen and one :class:`Relief` per limit (kind, equipment) that
        needs more capacity, at its step with the largest relief; largest relative first.
    """
    if count > int(model.allowed.sum()):
        return NextStep(chosen=np.zeros(model.candidates, dtype=bool), reliefs=[], feasible=False)
    _status, values = _solve(model, count=count, elastic=True, time_limit=time_limit)
    n = model.candidates
    chosen = values[:n] > 0.5
    slack = values[n:]
    reliefs = []
    seen: set[tuple[str, str]] = set()
    order = np.argsort(-slack / np.maximum(np.abs(model.limit), 1.0), kind="stable")
    for k in order:
        if slack[k] <= tolerance:
            break
        kind, equipment, step = model.keys[k]
        if (kind, equipment) in seen:  # the same limit at a less critical step
            continue
        seen.add((kind, equipment))
        unit = model.units[k] if model.units else LIMIT_KINDS[kind].symbol
        sign = -1.0 if kind == "undervoltage" else 1.0
        reliefs.append(
            Relief(
                kind=kind,
                equipment=equipment,
                step=step,
                extra=float(slack[k]),
                limit=float(sign * model.limit[k]),
                unit=unit,
                remedy=REMEDY[kind],
            )
        )
    return NextStep(chosen=chosen, reliefs=reliefs, feasible=bool(chosen.sum() == count))
