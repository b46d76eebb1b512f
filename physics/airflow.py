"""Air path: recirculation (abstract heat-flow model), outlet temperatures, fans, ASHRAE indices.

The abstract heat-flow model (Tang, Gupta, Varsamopoulos, "Thermal-aware task scheduling for
data centers through minimizing heat recirculation", IEEE Cluster 2007; Tang et al., "Sensor-
based fast thermal evaluation model for energy efficient high-performance datacenters", ICISIP
2006) treats each rack as a node with heat-capacity flow ``K_i = ρ·c_p·V̇_i`` [W/K].  A fraction
``a_ij`` of node i's outlet air reaches node j's inlet; the rest of j's inlet air is supply air
of the unit serving j.  Energy balance at each inlet, weighted by mass flow:

    K_j·T_in,j = Σ_i a_ij·K_i·T_out,i + s_j·T_sup,u(j),   s_j = K_j − Σ_i a_ij·K_i
    T_out,i = T_in,i + P_i / K_i

gives, with ``M = K − AᵀK`` (sparse),

    T_in = M⁻¹ (Aᵀ·P + s ∘ T_sup)                                                       (1)

With one supply temperature this is Tang's ``T_in = T_sup + D·P``,
``D = (K − AᵀK)⁻¹ − K⁻¹``.  With several units it stays linear in the supply temperatures and
rack powers (``T_in = W·T_sup + D·P``, ``W = M⁻¹·diag(s)`` row-stochastic), which the
co-planner relies on.  ``M`` is factorized once (sparse LU); every evaluation is one
triangular solve with all time steps as right-hand sides, so no dense R×R matrix is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.typing import ArrayLike, NDArray
from scipy.sparse.csgraph import connected_components

from physics.constants import AIR_VOLUMETRIC_HEAT_CAPACITY

FloatArray = NDArray[np.float64]

MAX_DENSE_BLOCK = 512
"""Largest recirculation component [racks] inverted densely; larger ones use sparse LU."""


def heat_capacity_flow(airflow: ArrayLike) -> FloatArray:
    """Heat-capacity flow of an air stream.

    Parameters
    ----------
    airflow
        Volume flow [m³/s].

    Returns
    -------
    numpy.ndarray
        ``ρ·c_p·V̇`` [W/K] with ρ = 1.2041 kg/m³, c_p = 1006 J/(kg·K).
    """
    return np.asarray(airflow, dtype=float) * AIR_VOLUMETRIC_HEAT_CAPACITY


def outlet_temperature(
    inlet_temperature: ArrayLike, air_heat: ArrayLike, capacity_flow: ArrayLike
) -> FloatArray:
    """Rack outlet temperature ``T_out = T_in + Q/K``.

    Parameters
    ----------
    inlet_temperature
        Inlet temperature [°C].
    air_heat
        Heat given to the air stream [W].
    capacity_flow
        Heat-capacity flow of the rack air ``ρ·c_p·V̇`` [W/K].

    Returns
    -------
    numpy.ndarray
        Outlet temperature [°C].
    """
    return np.asarray(inlet_temperature, dtype=float) + np.asarray(
        air_heat, dtype=float
    ) / np.asarray(capacity_flow, dtype=float)


def layout_recirculation(
    row: ArrayLike,
    position: ArrayLike,
    *,
    self_fraction: float = 0.02,
    neighbor_fraction: float = 0.03,
    decay: float = 0.5,
    reach: int = 3,
    end_of_row_fraction: float = 0.05,
) -> sp.csr_matrix:
    """Recirculation fractions generated from a row layout (sparse, R×R).

    Entry ``(i, j)`` is the fraction of rack i's outlet air that reaches rack j's inlet.
    Within a row, racks ``d = |pos_i − pos_j|`` apart (``1 ≤ d ≤ reach``) exchange
    ``neighbor_fraction·decay^(d−1)``; each rack re-ingests ``self_fraction`` of its own outlet
    and the first and last rack of each row an extra ``end_of_row_fraction`` (hot air wrapping
    around the row end).  Racks in different rows do not exchange air (hot-aisle containment
    between rows).  Built with vectorized key matching: no loop over racks.

    Parameters
    ----------
    row
        Row label or integer code per rack [-].
    position
        Position along the row per rack [-].
    self_fraction, neighbor_fraction, decay, end_of_row_fraction
        Fractions [-] as described above.
    reach
        Farthest neighbour reached [racks].

    Returns
    -------
    scipy.sparse.csr_matrix
        Recirculation fractions ``A`` [-].
    """
    _, row_code = np.unique(np.asarray(row), return_inverse=True)
    pos = np.asarray(position, dtype=np.int64)
    n = pos.size
    span = int(pos.max() - pos.min()) + 2 * reach + 2 if n else 1
    key = row_code.astype(np.int64) * span + (pos - pos.min())
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    if n and np.any(np.diff(sorted_key) == 0):
        raise ValueError("two racks share a row and position")
    rows_idx: list[NDArray[np.int64]] = [np.arange(n)]
    cols_idx: list[NDArray[np.int64]] = [np.arange(n)]
    values: list[FloatArray] = [np.full(n, self_fraction)]
    for distance in range(1, reach + 1):
        weight = neighbor_fraction * decay ** (distance - 1)
        if weight == 0.0:
            continue
        for sign in (1, -1):
            target_key = key + sign * distance
            loc = np.clip(np.searchsorted(sorted_key, target_key), 0, max(n - 1, 0))
            hit = sorted_key[loc] == target_key
            rows_idx.append(np.flatnonzero(hit))
            cols_idx.append(order[loc[hit]])
            values.append(np.full(int(hit.sum()), weight))
    if end_of_row_fraction > 0 and n:
        first = np.ones(n, dtype=bool)
        first[1:] = row_code[order][1:] != row_code[order][:-1]
        last = np.ones(n, dtype=bool)
        last[:-1] = row_code[order][:-1] != row_code[order][1:]
        ends = order[first | last]
        rows_idx.append(ends)
        cols_idx.append(ends)
        values.append(np.full(ends.size, end_of_row_fraction))
    matrix = sp.coo_matrix(
        (np.concatenate(values), (np.concatenate(rows_idx), np.concatenate(cols_idx))), shape=(n, n)
    )
    return matrix.tocsr()  # duplicates (self + end of row) are summed


def recirculation_from_entries(
    size: int, source: ArrayLike, target: ArrayLike, fraction: ArrayLike
) -> sp.csr_matrix:
    """Sparse recirculation matrix from explicit (source, target, fraction) triples [-]."""
    matrix = sp.coo_matrix(
        (np.asarray(fraction, dtype=float), (np.asarray(source), np.asarray(target))),
        shape=(size, size),
    )
    return matrix.tocsr()


@dataclass(frozen=True)
class AirPath:
    """The rack air network: heat-capacity flows and recirculation, factorized once.

    Parameters
    ----------
    capacity_flow
        Rack heat-capacity flow ``K`` [W/K], shape (R,).
    recirculation
        Recirculation fractions ``A`` [-], sparse (R, R); ``A[i, j]`` is the share of rack i's
        outlet air reaching rack j's inlet.
    """

    capacity_flow: FloatArray
    recirculation: sp.csr_matrix

    def __post_init__(self) -> None:
        k = np.asarray(self.capacity_flow, dtype=float)
        if k.ndim != 1 or np.any(k <= 0):
            raise ValueError("capacity_flow must be a 1-D array of positive values [W/K]")
        a = self.recirculation
        if a.shape != (k.size, k.size):
            raise ValueError(f"recirculation must be {k.size}×{k.size}, got {a.shape}")
        if a.nnz and a.data.min() < 0:
            raise ValueError("recirculation fractions must be non-negative")
        outflow = np.asarray(a.sum(axis=1)).ravel()
        if np.any(outflow > 1 + 1e-12):
            bad = int(np.argmax(outflow))
            raise ValueError(
                f"rack index {bad} sends {outflow[bad]:.3f} of its outlet air to inlets (> 1)"
            )
        supply = self.supply_capacity_flow
        if np.any(supply <= 0):
            bad = int(np.argmin(supply))
            raise ValueError(
                f"rack index {bad} receives more recirculated air than its own airflow: "
                "reduce recirculation fractions or raise its airflow"
            )

    @cached_property
    def supply_capacity_flow(self) -> FloatArray:
        """Supply-air heat-capacity flow into each rack ``s = K − AᵀK`` [W/K]."""
        k = np.asarray(self.capacity_flow, dtype=float)
        return k - self.recirculation.T @ k

    @cached_property
    def _operator(self) -> sp.csc_matrix:
        """``M = K − AᵀK`` (sparse)."""
        k = np.asarray(self.capacity_flow, dtype=float)
        m = sp.diags(k) - self.recirculation.T.multiply(k[np.newaxis, :])
        return sp.csc_matrix(m)

    @cached_property
    def _lu(self) -> spla.SuperLU:
        return spla.splu(self._operator)

    @cached_property
    def _blocks(self) -> list[tuple[NDArray[np.int64], FloatArray]]:
        """Dense inverses of ``M`` per group of equal-size connected components.

        Recirculation couples racks within a row or pod only, so ``M`` is block diagonal up
        to a permutation.  Inverting each small block once and applying all blocks of one
        size as a batched matrix product is much faster than a sparse triangular solve per
        time step.  Components larger than ``MAX_DENSE_BLOCK`` racks go through the sparse
        LU instead (returned with an empty inverse).
        """
        count, label = connected_components(
            self.recirculation + self.recirculation.T, directed=False
        )
        order = np.argsort(label, kind="stable")
        sizes = np.bincount(label, minlength=count)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        # each rack's place in its component; the entries of M, all within a component
        local = np.empty(label.size, dtype=np.int64)
        local[order] = np.arange(label.size) - starts[label[order]]
        m = self._operator.tocoo()
        m.sum_duplicates()
        row, col, value = m.row, m.col, m.data
        groups: list[tuple[NDArray[np.int64], FloatArray]] = []
        for size in np.unique(sizes):
            members = np.flatnonzero(sizes == size)
            index = order[starts[members][:, np.newaxis] + np.arange(size)]
            if size > MAX_DENSE_BLOCK:
                groups.append((index.ravel(), np.empty((0, 0, 0))))
                continue
            # the diagonal blocks straight from the sparse entries (never the dense R×R
            # matrix of every rack of this size: 0.8 GB and seconds at 10,000 racks)
            slot = np.full(count, -1, dtype=np.int64)
            slot[members] = np.arange(members.size)
            within = (slot[label[row]] >= 0) & (label[row] == label[col])
            blocks = np.zeros((members.size, size, size))
            blocks[slot[label[row[within]]], local[row[within]], local[col[within]]] = value[within]
            groups.append((index, np.linalg.inv(blocks)))
        return groups

    def solve(self, rhs: FloatArray) -> FloatArray:
        """Solve the inlet energy balance ``M·x = rhs`` for ``x = M⁻¹·rhs``.

        ``M = K − AᵀK`` [W/K] is applied per column, with the dense per-component inverses
        (or the sparse LU for large components) factorized once.

        Parameters
        ----------
        rhs
            Heat flows into the inlet balances [W], shape (R,) or (R, N); any other unit
            ``X`` gives a result in ``X·K/W`` (e.g. a column of ``Aᵀ`` [-] gives the inlet
            rise per watt [K/W]).

        Returns
        -------
        numpy.ndarray
            ``M⁻¹·rhs``: inlet temperatures [°C] or rises [K] per column, shape of ``rhs``.
        """
        vector = rhs.ndim == 1
        columns = rhs[:, np.newaxis] if vector else rhs
        out = np.empty_like(columns)
        contiguous = columns.flags.c_contiguous and out.flags.c_contiguous
        for (index, inverse), span in zip(self._blocks, self._spans, strict=True):
            if inverse.size == 0:
                out[index] = self._lu.solve(np.ascontiguousarray(columns))[index]
            elif span is not None and contiguous:  # views: no gather, no scatter
                shape = (*index.shape, columns.shape[1])
                np.matmul(inverse, columns[span].reshape(shape), out=out[span].reshape(shape))
            else:
                out[index] = np.matmul(inverse, columns[index])
        return out[:, 0] if vector else out

    @cached_property
    def _spans(self) -> list[slice | None]:
        """For each group of :attr:`_blocks`, the slice of racks it covers when its racks are
        consecutive in rack order, one component after the other (rows laid out in order: the
        usual case), else None."""
        spans: list[slice | None] = []
        for index, _ in self._blocks:
            first = int(index.flat[0]) if index.size else 0
            consecutive = np.array_equal(index.ravel(), np.arange(first, first + index.size))
            spans.append(slice(first, first + index.size) if consecutive else None)
        return spans

    @cached_property
    def recirculation_transpose(self) -> sp.csr_matrix:
        """``Aᵀ`` [-], sparse (R, R): entry ``(j, i)`` is the share of rack i's outlet air
        reaching rack j's inlet."""
        return sp.csr_matrix(self.recirculation.T)

    def influence_columns(self, index: ArrayLike) -> FloatArray:
        """Columns ``D[:, index]`` of the heat-influence matrix ``D = M⁻¹·Aᵀ`` [K/W].

        One sparse solve for the listed racks only: no dense R×R matrix is built.

        Parameters
        ----------
        index
            Rack indices whose air heat is the cause [-], shape (N,).

        Returns
        -------
        numpy.ndarray
            ``D[j, n]``: rise of rack j's inlet per watt of air heat of rack ``index[n]``
            [K/W], shape (R, N).
        """
        return self.solve(self.recirculation_transpose[:, index].toarray())

    @property
    def size(self) -> int:
        """Number of racks R."""
        return int(np.asarray(self.capacity_flow).size)

    def inlet_temperature(self, supply_temperature: ArrayLike, air_heat: ArrayLike) -> FloatArray:
        """Rack inlet temperatures from eq. (1).

        Parameters
        ----------
        supply_temperature
            Supply air temperature of the unit serving each rack [°C], shape (R,) or (R, T).
        air_heat
            Heat each rack gives to its air stream [W], shape (R,) or (R, T).

        Returns
        -------
        numpy.ndarray
            Inlet temperature [°C], shape of the broadcast inputs.
        """
        heat = np.asarray(air_heat, dtype=float)
        supply = np.asarray(supply_temperature, dtype=float)
        shape = np.broadcast_shapes(heat.shape, supply.shape)
        heat = np.broadcast_to(heat, shape)
        rhs = np.asarray(self.recirculation_transpose @ heat, dtype=float)
        s = self.supply_capacity_flow
        rhs += (s[:, np.newaxis] if len(shape) == 2 else s) * supply
        return self.solve(rhs)

    def influence_matrix(self) -> FloatArray:
        """Dense heat-influence matrix ``D = M⁻¹·Aᵀ`` [K/W] (small layouts, tests, reports).

        ``D[j, i]`` is the rise of rack j's inlet per watt of rack i's air heat.
        """
        return self.solve(self.recirculation_transpose.toarray())

    def mixing_matrix(self) -> FloatArray:
        """Dense supply mixing matrix ``W = M⁻¹·diag(s)`` [-]; rows sum to one."""
        return self.solve(np.diag(self.supply_capacity_flow))


def server_airflow_fraction(
    inlet_temperature: ArrayLike, knee_temperature: ArrayLike, speed_slope: ArrayLike
) -> FloatArray:
    """Server airflow over its design airflow, rising above the fan knee.

    The EnergyPlus ITE model (``ElectricEquipment:ITE:AirCooled``, :mod:`physics.ite`) gives
    airflow as a curve linear in inlet temperature; its example curve "Data Center Servers
    Airflow fLoadTemp" rises by 0.1 of design airflow per kelvin at full load.  Server
    firmware holds the fans at their design speed below a knee, so here

        f_air = 1 + slope·max(0, T_in − T_knee)

    with the slope per rack type (0.1 /K with the knee at the design inlet reproduces the
    EnergyPlus example curve above it; the default 0.04 /K is a milder vendor-table shape).

    Parameters
    ----------
    inlet_temperature
        Rack inlet temperature [°C].
    knee_temperature
        Inlet temperature at which the fans start speeding up [°C].
    speed_slope
        Airflow increase per kelvin above the knee, relative to design [1/K].

    Returns
    -------
    numpy.ndarray
        Airflow fraction (≥ 1) [-].
    """
    excess = np.maximum(np.asarray(inlet_temperature, dtype=float) - knee_temperature, 0.0)
    return np.asarray(1.0 + np.asarray(speed_slope, dtype=float) * excess, dtype=float)


def server_fan_power(
    nominal_fan_power: ArrayLike,
    inlet_temperature: ArrayLike,
    knee_temperature: ArrayLike,
    speed_slope: ArrayLike,
    exponent: ArrayLike = 3.0,
) -> FloatArray:
    """Server fan power rising with inlet temperature above the fan knee.

    ``P = P_nominal·f_air^exponent`` with ``f_air`` from :func:`server_airflow_fraction`:
    the EnergyPlus ITE fan power curve of airflow fraction, either the affinity law
    (exponent 3, the default) or the example's "ECM FanPower fFlow" curve, linear in airflow
    fraction (exponent 1).

    Parameters
    ----------
    nominal_fan_power
        Fan power at or below the knee [W].
    inlet_temperature
        Rack inlet temperature [°C].
    knee_temperature
        Inlet temperature at which fans start speeding up [°C].
    speed_slope
        Airflow increase per kelvin above the knee, relative to design [1/K].
    exponent
        Exponent of fan power on airflow fraction [-].

    Returns
    -------
    numpy.ndarray
        Fan power [W].
    """
    fraction = server_airflow_fraction(inlet_temperature, knee_temperature, speed_slope)
    return fan_power_at_airflow(nominal_fan_power, fraction, exponent)


def fan_power_at_airflow(
    nominal_fan_power: ArrayLike, airflow_fraction: ArrayLike, exponent: ArrayLike = 3.0
) -> FloatArray:
    """Server fan power ``P_nominal·f_air^exponent`` at an airflow fraction.

    :func:`server_fan_power` with the airflow fraction of :func:`server_airflow_fraction`
    already at hand (the simulation needs both).

    Parameters
    ----------
    nominal_fan_power
        Fan power at or below the knee [W].
    airflow_fraction
        Server airflow over its design airflow (>= 1) [-].
    exponent
        Exponent of fan power on airflow fraction [-].

    Returns
    -------
    numpy.ndarray
        Fan power [W].
    """
    fraction = np.asarray(airflow_fraction, dtype=float)
    nominal = np.asarray(nominal_fan_power, dtype=float)
    power_of = np.asarray(exponent, dtype=float)
    # f^exponent only above the knee (f > 1): pow(1, e) is exactly 1, so the result is the
    # same bit for bit, and most racks of most steps sit below their knee
    scale = np.ones(np.broadcast_shapes(fraction.shape, power_of.shape))
    np.power(fraction, power_of, out=scale, where=fraction != 1.0)
    return np.asarray(nominal * scale, dtype=float)


def rack_cooling_index(
    inlet_temperature: ArrayLike,
    *,
    recommended: tuple[float, float] = (18.0, 27.0),
    allowable: tuple[float, float] = (15.0, 32.0),
    axis: int = 0,
) -> tuple[FloatArray, FloatArray]:
    """Rack Cooling Index RCI_HI and RCI_LO (Herrlin, ASHRAE Transactions 111(2), 2005).

    ``RCI_HI = (1 − Σ max(T_in − T_max,rec, 0) / (n·(T_max,all − T_max,rec)))·100 %`` and the
    mirror image below the recommended minimum.  100 % means no inlet outside the recommended
    range; below 90 % is usually considered poor.

    Parameters
    ----------
    inlet_temperature
        Rack inlet temperatures [°C]; racks along ``axis``.
    recommended, allowable
        (min, max) envelopes [°C]; defaults: ASHRAE recommended and class A1 allowable.
    axis
        Axis of racks.

    Returns
    -------
    tuple of numpy.ndarray
        (RCI_HI, RCI_LO) [%].
    """
    t = np.asarray(inlet_temperature, dtype=float)
    n = t.shape[axis]
    over = np.maximum(t - recommended[1], 0.0).sum(axis=axis)
    under = np.maximum(recommended[0] - t, 0.0).sum(axis=axis)
    hi = (1.0 - over / (n * (allowable[1] - recommended[1]))) * 100.0
    lo = (1.0 - under / (n * (recommended[0] - allowable[0]))) * 100.0
    return hi, lo


def supply_heat_index(
    inlet_temperature: ArrayLike,
    outlet_temperature: ArrayLike,
    supply_temperature: ArrayLike,
    axis: int = 0,
) -> FloatArray:
    """Supply Heat Index (Sharma, Bash, Patel, AIAA 2002-3091).

    ``SHI = Σ(T_in − T_sup) / Σ(T_out − T_sup)``: the share of the air's enthalpy rise that
    happened before the rack inlet, i.e. recirculation.  0 is perfect separation.

    Parameters
    ----------
    inlet_temperature, outlet_temperature, supply_temperature
        Per-rack temperatures [°C]; racks along ``axis``.
    axis
        Axis of racks.

    Returns
    -------
    numpy.ndarray
        SHI [-].
    """
    t_in = np.asarray(inlet_temperature, dtype=float)
    t_out = np.asarray(outlet_temperature, dtype=float)
    t_sup = np.asarray(supply_temperature, dtype=float)
    return np.asarray((t_in - t_sup).sum(axis=axis) / (t_out - t_sup).sum(axis=axis), dtype=float)


def room_heat_up(
    initial_temperature: ArrayLike,
    steady_temperature: ArrayLike,
    time_constant: ArrayLike,
    elapsed: ArrayLike,
) -> FloatArray:
    """Lumped-capacitance transient toward a new steady state.

    ``T(t) = T_ss + (T_0 − T_ss)·exp(−t/τ)``, the solution of ``C·dT/dt = K·(T_ss − T)``
    with ``τ = C/K``.

    Parameters
    ----------
    initial_temperature
        Temperature at t = 0 [°C].
    steady_temperature
        Temperature the node tends to after the change [°C].
    time_constant
        ``τ = C/K``: thermal capacitance [J/K] over conductance/heat-capacity flow [W/K] [s].
    elapsed
        Time since the change [s].

    Returns
    -------
    numpy.ndarray
        Temperature [°C].
    """
    t0 = np.asarray(initial_temperature, dtype=float)
    tss = np.asarray(steady_temperature, dtype=float)
    decay = np.exp(-np.asarray(elapsed, dtype=float) / np.asarray(time_constant, dtype=float))
    return np.asarray(tss + (t0 - tss) * decay, dtype=float)


def time_to_limit(
    initial_temperature: ArrayLike,
    steady_temperature: ArrayLike,
    time_constant: ArrayLike,
    limit: ArrayLike,
) -> FloatArray:
    """Time until a lumped-capacitance transient crosses ``limit`` [s].

    ``t = −τ·ln((T_lim − T_ss)/(T_0 − T_ss))``; ``inf`` when the steady state stays at or
    below the limit, 0 when already above it.

    Parameters
    ----------
    initial_temperature, steady_temperature, limit
        [°C].
    time_constant
        [s].

    Returns
    -------
    numpy.ndarray
        Time to the limit [s].
    """
    t0 = np.asarray(initial_temperature, dtype=float)
    tss = np.asarray(steady_temperature, dtype=float)
    lim = np.asarray(limit, dtype=float)
    tau = np.asarray(time_constant, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (lim - tss) / (t0 - tss)
        t = -tau * np.log(ratio)
    t = np.where(tss <= lim, np.inf, t)
    return np.asarray(np.where(t0 >= lim, 0.0, t), dtype=float)


def two_node_heat_up(
    elapsed: ArrayLike,
    air_heat: ArrayLike,
    air_capacitance: ArrayLike,
    mass_capacitance: ArrayLike,
    conductance: ArrayLike,
) -> FloatArray:
    """Air temperature rise of a zone that lost its cooling, air and rack mass as two nodes.

    The IT heat Q goes to the zone air (capacitance C_a); the air exchanges heat with the
    rack and server mass (C_m) through the conductance G:

        C_a·dT_a/dt = Q − G·(T_a − T_m),    C_m·dT_m/dt = G·(T_a − T_m),    both 0 at t = 0

    whose solution is the mean rise plus the air's lead over the mass,

        T_a(t) = Q·t/(C_a + C_m) + C_m/(C_a + C_m) · x_∞·(1 − e^(−t/τ)),
        τ = 1/(G·(1/C_a + 1/C_m)),    x_∞ = Q·τ/C_a.

    At early times the air alone heats (slope Q/C_a); after a few τ the mass follows and the
    slope is Q/(C_a + C_m).

    Parameters
    ----------
    elapsed
        Time since the loss [s].
    air_heat
        Heat given to the zone air [W].
    air_capacitance
        ρ·c_p·V of the zone air [J/K].
    mass_capacitance
        m·c of the racks and servers [J/K].
    conductance
        Air-to-mass conductance G [W/K].

    Returns
    -------
    numpy.ndarray
        Air temperature rise [K].
    """
    t = np.asarray(elapsed, dtype=float)
    q = np.asarray(air_heat, dtype=float)
    c_a = np.asarray(air_capacitance, dtype=float)
    c_m = np.asarray(mass_capacitance, dtype=float)
    g = np.asarray(conductance, dtype=float)
    total = c_a + c_m
    with np.errstate(divide="ignore", invalid="ignore"):
        tau = np.where((g > 0) & (c_m > 0), 1.0 / (g * (1.0 / c_a + 1.0 / c_m)), 0.0)
        lead = np.where(tau > 0, c_m / total * q * tau / c_a * -np.expm1(-t / tau), 0.0)
        mean = np.where(tau > 0, q * t / total, q * t / c_a)
    return np.asarray(mean + lead, dtype=float)


def time_to_rise(
    rise: ArrayLike,
    air_heat: ArrayLike,
    air_capacitance: ArrayLike,
    mass_capacitance: ArrayLike,
    conductance: ArrayLike,
) -> FloatArray:
    """Time until :func:`two_node_heat_up` reaches ``rise`` [s] (bisection, 1e-9 relative).

    Parameters
    ----------
    rise
        Air temperature rise to reach [K]; 0 or less gives 0.
    air_heat, air_capacitance, mass_capacitance, conductance
        As for :func:`two_node_heat_up` [W, J/K, J/K, W/K].

    Returns
    -------
    numpy.ndarray
        Time [s]; ``inf`` without heat.
    """
    target = np.asarray(rise, dtype=float)
    q = np.asarray(air_heat, dtype=float)
    c_a = np.asarray(air_capacitance, dtype=float)
    c_m = np.asarray(mass_capacitance, dtype=float)
    target, q, c_a, c_m, g = np.broadcast_arrays(
        target, q, c_a, c_m, np.asarray(conductance, dtype=float)
    )
    heating = q > 0
    safe_q = np.where(heating, q, 1.0)
    # the air is never cooler than the mean, so the mean's time bounds the answer
    high = np.where(heating, (c_a + c_m) * np.maximum(target, 0.0) / safe_q, 0.0)
    low = np.zeros(target.shape)
    for _ in range(80):
        middle = 0.5 * (low + high)
        short = two_node_heat_up(middle, safe_q, c_a, c_m, g) < target
        low, high = np.where(short, middle, low), np.where(short, high, middle)
    time = np.where(target <= 0, 0.0, np.where(heating, high, np.inf))
    return np.asarray(time, dtype=float)
