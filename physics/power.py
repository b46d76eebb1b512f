"""48 V power chain: converter efficiency, rectifier staging, busbar DC load flow, BBU backup.

The chain is utility → transformer/UPS → power-shelf rectifiers (AC → 48 V) → 48 V busbar →
intermediate bus converters (48 → 12 V) → IT.  This module holds the pure, vectorized pieces:

- :class:`EfficiencyCurve` and :func:`converter_input_power` / :func:`converter_loss`: a
  conversion stage with an efficiency that depends on its load fraction plus a no-load loss.
- :func:`rectifier_staging`: how many power-supply units (PSUs) of a shelf run at a load,
  with N+M redundancy, their load fraction, input power and loss, and the overload flag.
- :func:`busbar_load_flow`: the exact DC load flow of a radial busbar with constant-power
  loads at its taps (backward/forward sweep), with voltage-collapse detection;
  :func:`busbar_first_order` is the textbook estimate ``I = P / V_nominal`` for comparison.
- :func:`bbu_ride_through`: how long a rack battery backup unit carries a load.

All functions broadcast over leading dimensions (time, busbar, ...) and work in SI units:
power [W], voltage [V], current [A], resistance [Ω], energy [J], time [s].
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from physics.warnings import ConvergenceWarning, CurveRangeWarning

__all__ = [
    "DOUBLE_CONVERSION_UPS",
    "INTERMEDIATE_BUS_CONVERTER",
    "ORV3_POWER_SHELF",
    "BusbarFlow",
    "EfficiencyCurve",
    "RectifierResult",
    "bbu_ride_through",
    "busbar_first_order",
    "busbar_load_flow",
    "converter_input_power",
    "converter_loss",
    "rectifier_staging",
    "undervoltage",
]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

_STAGING_SLACK = 1e-9
"""Loads within this many PSU-stage units above a stage boundary stay on the lower stage, so
rounding in ``P / (rating · stage_up_fraction)`` never switches on a spurious PSU [-]."""


def _as_float(values: ArrayLike) -> FloatArray:
    return np.asarray(values, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Conversion stages
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EfficiencyCurve:
    """Efficiency of a conversion stage versus its load fraction, plus a no-load loss.

    The efficiency is interpolated piecewise-linearly in the load fraction and held constant
    (clipped) beyond the first and last points.  A one-point curve is a constant efficiency
    valid at any load.  The stage input power is
    ``P_in = (P_out + fixed_loss) / efficiency(P_out / P_rated)``.

    When the points are *measured* overall efficiencies (as for 80 PLUS data), they already
    contain the no-load loss, so ``fixed_loss`` should stay 0 to avoid counting it twice.

    Parameters
    ----------
    load_fraction
        Output power divided by rated output power at each point, strictly increasing [-].
    efficiency
        Output power divided by input power at each point, in (0, 1] [-].
    fixed_loss
        No-load loss drawn whenever the stage is enabled, independent of load [W].
    """

    load_fraction: tuple[float, ...]
    efficiency: tuple[float, ...]
    fixed_loss: float = 0.0

    def __post_init__(self) -> None:
        load = tuple(float(x) for x in np.atleast_1d(np.asarray(self.load_fraction, float)))
        eta = tuple(float(x) for x in np.atleast_1d(np.asarray(self.efficiency, float)))
        if len(load) == 0 or len(load) != len(eta):
            raise ValueError(
                f"load_fraction and efficiency need the same non-zero length, got "
                f"{len(load)} and {len(eta)}"
            )
        if any(b <= a for a, b in itertools.pairwise(load)):
            raise ValueError(f"load_fraction must be strictly increasing, got {load}")
        if any(not 0.0 < e <= 1.0 for e in eta):
            raise ValueError(f"efficiency must lie in (0, 1], got {eta}")
        if not (np.isfinite(self.fixed_loss) and self.fixed_loss >= 0.0):
            raise ValueError(f"fixed_loss must be finite and >= 0 W, got {self.fixed_loss}")
        object.__setattr__(self, "load_fraction", load)
        object.__setattr__(self, "efficiency", eta)
        object.__setattr__(self, "fixed_loss", float(self.fixed_loss))

    @classmethod
    def constant(cls, efficiency: float, fixed_loss: float = 0.0) -> EfficiencyCurve:
        """Curve with one efficiency at every load.

        Parameters
        ----------
        efficiency
            Constant efficiency, in (0, 1] [-].
        fixed_loss
            No-load loss [W].

        Returns
        -------
        EfficiencyCurve
            A one-point curve.
        """
        return cls((0.0,), (efficiency,), fixed_loss)

    def efficiency_at(self, load_fraction: ArrayLike) -> FloatArray:
        """Efficiency at the given load fractions.

        Load fractions above the last point of a multi-point curve are clipped to it and
        reported with a :class:`~physics.warnings.CurveRangeWarning` (the stage is run above
        its characterized range, i.e. overloaded).  Light loads below the first point are
        clipped silently: that is routine (a shelf idling) and the held efficiency is the
        documented model there.

        Parameters
        ----------
        load_fraction
            Output power divided by rated output power [-].

        Returns
        -------
        numpy.ndarray
            Efficiency [-], same shape as ``load_fraction``.
        """
        load = _as_float(load_fraction)
        if len(self.load_fraction) > 1:
            top = self.load_fraction[-1]
            if np.any(load > top * (1.0 + 1e-12)):
                warnings.warn(
                    f"efficiency curve evaluated above its last load fraction {top:g} "
                    f"(max {np.nanmax(load):.4g}); efficiency held at {self.efficiency[-1]:g}",
                    CurveRangeWarning,
                    stacklevel=2,
                )
        return np.interp(load, self.load_fraction, self.efficiency)


ORV3_POWER_SHELF = EfficiencyCurve(
    load_fraction=(0.10, 0.20, 0.50, 1.00),
    efficiency=(0.90, 0.94, 0.975, 0.96),
)
"""Open Rack V3 power-shelf PSU (AC → 48 V rectifier), per PSU.

Typical titanium-class points, not a vendor datasheet: 10 % → 0.90 and 20 % → 0.94 are the
80 PLUS Titanium minimums; 0.975 at 50 % is the ~97.5 % peak ORV3 PSU vendors advertise; 0.96
at full load is a typical roll-off.  Held at 0.90 below 10 % load (optimistic at very light
load; staging normally keeps PSUs above that).  ORV3 rectifier modules are rated 3 kW
(OCP ORV3 overview, 2019) and 5.5 kW (ORV3 high-power rack PSU)."""

DOUBLE_CONVERSION_UPS = EfficiencyCurve(
    load_fraction=(0.25, 0.50, 0.75, 1.00),
    efficiency=(0.94, 0.955, 0.96, 0.96),
)
"""Double-conversion (online) UPS.  Typical modern transformerless values (0.94 at 25 % load
rising to 0.96 at 75–100 %), not a specific product."""

INTERMEDIATE_BUS_CONVERTER = EfficiencyCurve(
    load_fraction=(0.10, 0.30, 0.50, 1.00),
    efficiency=(0.95, 0.975, 0.98, 0.97),
)
"""48 → 12 V intermediate bus converter.  Typical values for current unregulated/ratio
converters (peak ~0.98 near half load, ~0.97 at full load), not a specific product."""


def converter_input_power(
    output_power: ArrayLike,
    rated_power: ArrayLike,
    curve: EfficiencyCurve,
    enabled: ArrayLike = True,
) -> FloatArray:
    """Input power of a conversion stage delivering ``output_power``.

    ``P_in = (P_out + P_fixed) / η(P_out / P_rated)`` where the stage is enabled, 0 where it is
    disabled (a switched-off stage draws nothing and must then deliver nothing).  An enabled
    stage at zero output draws its no-load loss ``P_fixed / η(0)``.

    Parameters
    ----------
    output_power
        Power delivered by the stage, >= 0 [W].
    rated_power
        Rated output power of the stage, > 0 [W].  Broadcasts with ``output_power``.
    curve
        Efficiency curve of the stage.
    enabled
        Whether the stage is switched on [bool].  Broadcasts with ``output_power``.

    Returns
    -------
    numpy.ndarray
        Input power [W], the broadcast shape of the arguments.
    """
    output = _as_float(output_power)
    efficiency = curve.efficiency_at(output / _as_float(rated_power))
    input_power = np.add(output, curve.fixed_loss)
    input_power /= efficiency
    enabled_array = np.asarray(enabled, dtype=bool)
    if enabled_array.ndim == 0 and bool(enabled_array):
        return input_power
    return np.where(enabled_array, input_power, 0.0)


def converter_loss(
    output_power: ArrayLike,
    rated_power: ArrayLike,
    curve: EfficiencyCurve,
    enabled: ArrayLike = True,
) -> FloatArray:
    """Loss of a conversion stage delivering ``output_power``: ``P_in − P_out``.

    Parameters
    ----------
    output_power
        Power delivered by the stage, >= 0 [W].
    rated_power
        Rated output power of the stage, > 0 [W].
    curve
        Efficiency curve of the stage.
    enabled
        Whether the stage is switched on [bool]; a disabled stage loses nothing.

    Returns
    -------
    numpy.ndarray
        Conversion loss [W].
    """
    loss = converter_input_power(output_power, rated_power, curve, enabled)
    loss -= np.where(np.asarray(enabled, dtype=bool), _as_float(output_power), 0.0)
    return loss


# --------------------------------------------------------------------------------------------
# Rectifier (power-shelf PSU) staging
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RectifierResult:
    """Operating point of power shelves.

    Attributes
    ----------
    active
        PSUs switched on [-] (integer).
    load_fraction
        Output power of each active PSU divided by its rating [-]; 0 when none is active.
    input_power
        AC input power of the shelf [W].
    loss
        Conversion loss of the shelf, input minus output [W].
    capacity
        Output power the shelf can carry with its redundant PSUs held in reserve,
        ``(installed − redundancy) · rating`` [W].
    overloaded
        Output power exceeds ``capacity`` [bool]: redundancy is lost (or, above
        ``installed · rating``, the PSUs are run above their rating).
    """

    active: NDArray[np.int64]
    load_fraction: FloatArray
    input_power: FloatArray
    loss: FloatArray
    capacity: FloatArray
    overloaded: BoolArray


def rectifier_staging(
    output_power: ArrayLike,
    psu_rating: ArrayLike,
    installed: ArrayLike,
    redundancy: ArrayLike,
    curve: EfficiencyCurve = ORV3_POWER_SHELF,
    stage_up_fraction: float = 0.8,
) -> RectifierResult:
    """Stage the PSUs of power shelves and compute their load, input power and loss.

    The shelf runs the fewest PSUs that keep each below ``stage_up_fraction`` of its rating,
    plus its redundant units, bounded by what is installed:
    ``active = min(installed, ceil(P / (rating · stage_up_fraction)) + redundancy)``, so at
    least ``redundancy + 1`` run whenever ``P > 0``; at ``P = 0`` the ``redundancy`` standby
    units stay on (they draw ``curve.fixed_loss`` each).  Active PSUs share the load equally.

    Parameters
    ----------
    output_power
        48 V output power of each shelf, >= 0 [W].
    psu_rating
        Rated output power of one PSU, > 0 [W].
    installed
        PSUs installed in the shelf [-] (integer, > ``redundancy``).
    redundancy
        Redundant PSUs (the M of N+M) [-] (integer, >= 0).
    curve
        Efficiency curve of one PSU.
    stage_up_fraction
        Per-PSU load fraction above which another PSU is switched on, in (0, 1] [-].

    Returns
    -------
    RectifierResult
        Active count, per-PSU load fraction, input power [W], loss [W], capacity [W] and the
        overload flag, all in the broadcast shape of the arguments.

    Raises
    ------
    ValueError
        If ``installed <= redundancy``, ``redundancy < 0``, ``psu_rating <= 0`` or
        ``stage_up_fraction`` is outside (0, 1].
    """
    output = _as_float(output_power)
    rating = _as_float(psu_rating)
    installed_count = _as_float(installed)
    redundant_count = _as_float(redundancy)
    if np.any(rating <= 0.0):
        raise ValueError("psu_rating must be > 0 W")
    if np.any(redundant_count < 0.0) or np.any(installed_count <= redundant_count):
        raise ValueError("need 0 <= redundancy < installed")
    if not 0.0 < stage_up_fraction <= 1.0:
        raise ValueError(f"stage_up_fraction must lie in (0, 1], got {stage_up_fraction}")

    needed = np.ceil(output / (rating * stage_up_fraction) - _STAGING_SLACK)
    np.maximum(needed, 0.0, out=needed)
    active = np.minimum(installed_count, needed + redundant_count)
    shelf_rating = active * rating
    load_fraction = np.divide(
        output,
        shelf_rating,
        out=np.zeros(np.broadcast(output, shelf_rating).shape),
        where=shelf_rating > 0.0,
    )
    per_psu_input = converter_input_power(load_fraction * rating, rating, curve)
    input_power = active * per_psu_input
    capacity = np.broadcast_to((installed_count - redundant_count) * rating, input_power.shape)
    return RectifierResult(
        active=np.broadcast_to(active, input_power.shape).astype(np.int64),
        load_fraction=np.broadcast_to(load_fraction, input_power.shape).copy(),
        input_power=input_power,
        loss=input_power - output,
        capacity=capacity.copy(),
        overloaded=np.broadcast_to(output > capacity, input_power.shape).copy(),
    )


# --------------------------------------------------------------------------------------------
# Busbar DC load flow
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BusbarFlow:
    """DC load flow of radial busbars.

    Shapes: ``(..., B, K)`` for per-tap quantities, ``(..., B)`` per busbar.

    Attributes
    ----------
    tap_voltage
        Voltage at each tap [V]; NaN on collapsed busbars.
    segment_current
        Current in the segment feeding each tap (segment k lies between tap k−1, or the
        source for k = 0, and tap k) [A]; NaN on collapsed busbars.
    source_current
        Current drawn from the source, the current of segment 0 [A]; NaN on collapse.
    loss
        Resistive loss ``Σ r_k · I_k²`` of the busbar [W]; NaN on collapse.
    min_voltage
        Lowest tap voltage of the busbar [V]; NaN on collapse.
    converged
        The sweep met its tolerance [bool].
    collapsed
        No real (positive-voltage) solution exists: the load exceeds what the busbar can
        carry (voltage collapse) [bool].
    iterations
        Sweeps performed: the largest number any busbar of the batch needed [-].
    """

    tap_voltage: FloatArray
    segment_current: FloatArray
    source_current: FloatArray
    loss: FloatArray
    min_voltage: FloatArray
    converged: BoolArray
    collapsed: BoolArray
    iterations: int


def _summation_matrices(size: int) -> tuple[FloatArray, FloatArray]:
    """Matrices turning a last-axis matrix product into cumulative sums.

    ``x @ reverse`` gives ``Σ_{j>=k} x_j`` (segment currents from tap currents) and
    ``x @ forward`` gives ``Σ_{j<=k} x_j`` (cumulative drop).  For the few taps of a busbar a
    BLAS product is several times faster than ``numpy.cumsum`` along a short last axis.
    """
    ones = np.ones((size, size))
    return np.tril(ones), np.triu(ones)


def _prepare(
    source_voltage: ArrayLike, segment_resistance: ArrayLike, tap_power: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray, tuple[int, ...]]:
    power = _as_float(tap_power)
    resistance = _as_float(segment_resistance)
    source = _as_float(source_voltage)
    if power.ndim < 2 or resistance.ndim < 2:
        raise ValueError(
            "tap_power needs shape (..., B, K) and segment_resistance (B, K); got "
            f"{power.shape} and {resistance.shape}"
        )
    shape = np.broadcast_shapes(power.shape, resistance.shape, (*source.shape, 1))
    source = np.broadcast_to(source, shape[:-1])
    return source, resistance, power, shape


def busbar_load_flow(
    source_voltage: ArrayLike,
    segment_resistance: ArrayLike,
    tap_power: ArrayLike,
    tolerance: float = 1e-9,
    max_iterations: int = 50,
) -> BusbarFlow:
    """Exact DC load flow of radial busbars with constant-power loads at their taps.

    Each busbar is fed at one end by a source of fixed voltage; tap k draws a constant power
    ``P_k`` through the chain of segments 0..k.  The nonlinear equations
    ``V_k = V_s − Σ_{i<=k} r_i · Σ_{j>=i} P_j / V_j`` are solved by the backward/forward sweep
    fixed point (tap currents ``P_k / V_k`` → segment currents by reverse cumulative sum →
    voltages by cumulative drop), started from ``V = V_s``, until the largest voltage change on
    a busbar is below ``tolerance · V_s``.  The returned voltages and currents come from one
    further sweep, so they satisfy Kirchhoff's laws exactly and
    ``Σ P + loss = V_s · I_source`` holds to within ``tolerance`` (relative).

    With non-negative tap powers the sweep map is order-preserving, so the iterates decrease
    monotonically and stay above the largest (physical) solution whenever one exists.  An
    iterate with a tap voltage <= 0 therefore proves that no positive solution exists: the
    busbar is flagged ``collapsed`` (e.g. a single load with ``P > V_s² / (4 R)``), its results
    are NaN, and it is dropped from further iterations; no exception is raised.  Close to the
    collapse point the sweep converges slowly (the contraction factor tends to 1): busbars
    neither converged nor collapsed after ``max_iterations`` keep their last iterate (an upper
    bound of the voltages), are flagged ``converged = False`` and a
    :class:`~physics.warnings.ConvergenceWarning` is emitted.

    The stopping test bounds the last step, not the error: the error to the exact solution is
    about ``step · ρ / (1 − ρ)`` with the contraction factor ``ρ ≈ R·P/V²`` (0.005 for 120 kW
    through 0.1 mΩ at 48 V, so negligible on a healthy busbar; it grows towards 1 at collapse).
    Non-finite iterates (e.g. NaN inputs) are treated like collapse.

    Padding taps (busbars with fewer than K taps) have power 0 and resistance 0.  The sweep
    runs in a compiled kernel (:func:`physics.kernels.busbar.sweep_busbars`), one busbar at a
    time in cache, each stopped when it has converged; broadcast inputs are read in place and
    only the two per-tap outputs of the broadcast shape are allocated.

    Parameters
    ----------
    source_voltage
        Source (power-shelf output) voltage of each busbar, > 0 [V]; broadcastable to
        ``(..., B)``.
    segment_resistance
        Resistance of the segment between tap k−1 (the source for k = 0) and tap k, >= 0 [Ω];
        shape ``(B, K)`` (or broadcastable with ``tap_power``).
    tap_power
        Constant power drawn at each tap, >= 0 [W]; shape ``(..., B, K)``.
    tolerance
        Convergence tolerance on the largest voltage change per sweep, relative to the source
        voltage [-].
    max_iterations
        Largest number of sweeps [-].

    Returns
    -------
    BusbarFlow
        Tap voltages [V], segment and source currents [A], loss [W], minimum voltage [V] and
        the ``converged``/``collapsed`` flags.

    Raises
    ------
    ValueError
        If a tap power or segment resistance is negative or a source voltage is not positive.

    Warns
    -----
    ConvergenceWarning
        If some busbar neither converged nor was proven collapsed within ``max_iterations``.
    """
    # imported on first use: importing Numba takes ~0.5 s that commands without a
    # simulation (the CLI's help, the API's start) need not pay
    from physics.kernels.busbar import sweep_busbars

    source, resistance, power, shape = _prepare(source_voltage, segment_resistance, tap_power)
    if np.any(source <= 0.0):
        raise ValueError("source_voltage must be > 0 V")
    batch = (-1, *shape[-2:])
    swept = sweep_busbars(
        np.broadcast_to(power, shape).reshape(batch),
        np.broadcast_to(resistance, shape).reshape(batch),
        np.broadcast_to(source, shape[:-1]).reshape(batch[:-1]),
        tolerance,
        max_iterations,
    )
    tap_voltage = swept.tap_voltage.reshape(shape)
    segment_current = swept.segment_current.reshape(shape)
    flow = BusbarFlow(
        tap_voltage=tap_voltage,
        segment_current=segment_current,
        source_current=segment_current[..., 0].copy(),
        loss=swept.loss.reshape(shape[:-1]),
        min_voltage=swept.min_voltage.reshape(shape[:-1]),
        converged=swept.converged.reshape(shape[:-1]),
        collapsed=swept.collapsed.reshape(shape[:-1]),
        iterations=swept.iterations,
    )
    unresolved = ~(flow.converged | flow.collapsed)
    if unresolved.any():
        warnings.warn(
            f"busbar load flow: {int(unresolved.sum())} busbar(s) did not converge to "
            f"{tolerance:g}·V_source in {max_iterations} sweeps (load close to voltage "
            "collapse); their results are the last iterate",
            ConvergenceWarning,
            stacklevel=2,
        )
    return flow


def busbar_first_order(
    source_voltage: ArrayLike,
    segment_resistance: ArrayLike,
    tap_power: ArrayLike,
    nominal_voltage: ArrayLike | None = None,
) -> BusbarFlow:
    """Textbook first-order busbar estimate: tap currents ``I = P / V_nominal``, no iteration.

    Voltage drop ``Σ r · I`` and loss ``Σ r · I²`` follow from these currents.  It
    underestimates current, drop and loss (for a single load by the factor ``V_s / V_tap``,
    squared for the loss) and cannot detect voltage collapse: ``converged`` is True and
    ``collapsed`` False everywhere, ``iterations`` is 0.  Kept to compare with
    :func:`busbar_load_flow`.

    Parameters
    ----------
    source_voltage
        Source voltage of each busbar [V]; broadcastable to ``(..., B)``.
    segment_resistance
        Resistance of each segment [Ω]; shape ``(B, K)``.
    tap_power
        Power drawn at each tap [W]; shape ``(..., B, K)``.
    nominal_voltage
        Voltage used to convert tap power to current [V]; defaults to ``source_voltage``.

    Returns
    -------
    BusbarFlow
        The first-order estimate.
    """
    source, resistance, power, shape = _prepare(source_voltage, segment_resistance, tap_power)
    nominal = source if nominal_voltage is None else _as_float(nominal_voltage)
    reverse_sum, forward_sum = _summation_matrices(shape[-1])
    tap_current = np.divide(np.broadcast_to(power, shape), np.asarray(nominal)[..., None])
    segment_current = np.matmul(tap_current, reverse_sum)
    drop = segment_current * resistance
    loss = np.einsum("...k,...k->...", drop, segment_current)
    tap_voltage = source[..., None] - np.matmul(drop, forward_sum)
    return BusbarFlow(
        tap_voltage=tap_voltage,
        segment_current=segment_current,
        source_current=segment_current[..., 0].copy(),
        loss=loss,
        min_voltage=tap_voltage.min(axis=-1),
        converged=np.ones(shape[:-1], dtype=bool),
        collapsed=np.zeros(shape[:-1], dtype=bool),
        iterations=0,
    )


def undervoltage(tap_voltage: ArrayLike, limit: ArrayLike) -> BoolArray:
    """Flag voltages below a limit; NaN (collapsed) voltages count as undervoltage.

    Parameters
    ----------
    tap_voltage
        Tap voltages [V].
    limit
        Lowest acceptable voltage [V]; broadcasts with ``tap_voltage``.

    Returns
    -------
    numpy.ndarray
        True where the voltage is below the limit or NaN [bool].
    """
    return ~(_as_float(tap_voltage) >= _as_float(limit))


# --------------------------------------------------------------------------------------------
# Rack battery backup units
# --------------------------------------------------------------------------------------------


def bbu_ride_through(
    energy: ArrayLike,
    power_rating: ArrayLike,
    load: ArrayLike,
    usable_fraction: ArrayLike = 1.0,
    discharge_efficiency: ArrayLike = 1.0,
) -> FloatArray:
    """Time a rack battery backup unit (BBU) carries a constant load.

    ``t = energy · usable_fraction · discharge_efficiency / load`` when
    ``0 < load <= power_rating``; 0 when the BBU cannot carry the load
    (``load > power_rating``); infinite at zero load.

    Parameters
    ----------
    energy
        Stored energy of the BBU [J].
    power_rating
        Largest output power of the BBU [W].
    load
        Load the BBU must carry, >= 0 [W].
    usable_fraction
        Share of the stored energy that can be discharged [-].
    discharge_efficiency
        Output energy divided by energy taken from the cells [-].

    Returns
    -------
    numpy.ndarray
        Ride-through time [s], the broadcast shape of the arguments.
    """
    available = _as_float(energy) * _as_float(usable_fraction) * _as_float(discharge_efficiency)
    load_array = _as_float(load)
    shape = np.broadcast_shapes(available.shape, load_array.shape, np.shape(power_rating))
    time = np.full(shape, np.inf)
    np.divide(available, load_array, out=time, where=load_array > 0.0)
    time[np.broadcast_to(load_array > _as_float(power_rating), shape)] = 0.0
    return time
