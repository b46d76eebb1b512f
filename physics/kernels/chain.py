"""Compiled rack power chain of one-rack-per-busbar (ORv3) halls, fused in one pass.

For every step and rack, :func:`rack_chain` evaluates in turn what
:func:`physics.power.converter_input_power` (the 48 → 12 V converters),
:func:`physics.power.busbar_load_flow` (the exact 48 V load flow, every tap drawing the same
share of the rack's power) and :func:`physics.power.rectifier_staging` (the power shelf)
compute, with the same formulas, stopping test and collapse test, so that the intermediate
arrays of the vectorized chain are never written to memory.

The busbar sweeps run over blocks of :data:`BLOCK` busbars of one step at once, the busbar
index innermost, so the compiler vectorizes them across busbars (SIMD); a block sweeps until
all its busbars have converged or collapsed (the vectorized NumPy sweep did the same over the
whole batch), so a busbar may be swept once or twice more than it needed: closer to the exact
solution, never further.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from physics.kernels import compiled
from physics.kernels.busbar import COLLAPSED, CONVERGED, NEGATIVE_INPUT, UNCONVERGED

if TYPE_CHECKING:
    from physics.power import EfficiencyCurve

__all__ = ["BLOCK", "ChainResult", "PackedCurves", "rack_chain", "rack_losses"]

BLOCK = 64
"""Busbars swept together (one step): 8 taps × 64 × 8 B = 4 KB per work array, in L1."""

_FAST = {"contract", "arcp", "reassoc"}
"""LLVM fast-math flags that keep NaN/inf semantics (the collapse test relies on them)."""

_STAGING_SLACK = 1e-9
"""As :data:`physics.power._STAGING_SLACK` [-]."""

_ABOVE_TOP = 1.0 + 1e-12
"""Load fractions above ``top · _ABOVE_TOP`` are reported as clamped, as in
:meth:`physics.power.EfficiencyCurve.efficiency_at` [-]."""


@dataclass(frozen=True)
class PackedCurves:
    """Efficiency curves as padded arrays for the kernel (C curves, up to P points).

    Attributes
    ----------
    load_fraction, efficiency
        Points of each curve, shape ``(C, P)``, padded by repeating the last point [-].
    points
        Points of each curve [-].
    fixed_loss
        No-load loss of each curve [W].
    """

    load_fraction: NDArray[np.float64]
    efficiency: NDArray[np.float64]
    points: NDArray[np.int64]
    fixed_loss: NDArray[np.float64]

    @classmethod
    def of(cls, curves: list[EfficiencyCurve]) -> PackedCurves:
        """Pack :class:`physics.power.EfficiencyCurve` objects."""
        width = max((len(c.load_fraction) for c in curves), default=1)
        load = np.zeros((max(len(curves), 1), width))
        eta = np.ones_like(load)
        for i, curve in enumerate(curves):
            n = len(curve.load_fraction)
            load[i, :n], load[i, n:] = curve.load_fraction, curve.load_fraction[-1]
            eta[i, :n], eta[i, n:] = curve.efficiency, curve.efficiency[-1]
        return cls(
            load_fraction=load,
            efficiency=eta,
            points=np.array([len(c.load_fraction) for c in curves] or [1], dtype=np.int64),
            fixed_loss=np.array([c.fixed_loss for c in curves] or [0.0]),
        )


@dataclass
class ChainResult:
    """Outputs of :func:`rack_chain`, arrays ``(T, R)``; ``clamped_*`` per curve.

    Attributes
    ----------
    bus_power
        48 V power drawn by each rack's converters [W].
    min_voltage, source_current, loss
        Lowest tap voltage [V], source current [A] and resistive loss [W] of each busbar;
        NaN on collapsed busbars.
    state
        :data:`~physics.kernels.busbar.CONVERGED`, ``UNCONVERGED`` or ``COLLAPSED`` [-].
    rectifier_input, active, overloaded
        Shelf AC input power [W], PSUs running [-], redundancy lost [bool].
    converter_peak, shelf_peak
        Largest load fraction above the curve's last point per curve (-inf: none) [-].
    """

    bus_power: NDArray[np.float64]
    min_voltage: NDArray[np.float64]
    source_current: NDArray[np.float64]
    loss: NDArray[np.float64]
    state: NDArray[np.int8]
    rectifier_input: NDArray[np.float64]
    active: NDArray[np.float64]
    overloaded: NDArray[np.bool_]
    converter_peak: NDArray[np.float64]
    shelf_peak: NDArray[np.float64]


@compiled(nogil=True, fastmath=_FAST, error_model="numpy")
def _efficiency(
    load: float, curve: int, xs: NDArray[np.float64], ys: NDArray[np.float64], n: int
) -> float:
    """``numpy.interp(load, xs[curve, :n], ys[curve, :n])`` [-]."""
    if not load > xs[curve, 0]:
        return ys[curve, 0] if load == load else load  # NaN stays NaN
    for j in range(1, n):
        if load < xs[curve, j]:
            slope = (ys[curve, j] - ys[curve, j - 1]) / (xs[curve, j] - xs[curve, j - 1])
            return slope * (load - xs[curve, j - 1]) + ys[curve, j - 1]
    return ys[curve, n - 1]


@compiled(nogil=True, fastmath=_FAST, error_model="numpy")
def _sweep_block(
    tap_power: NDArray[np.float64],
    resistance: NDArray[np.float64],
    supply: NDArray[np.float64],
    tolerance: float,
    max_iterations: int,
    work: tuple[Any, ...],
    state: NDArray[np.int8],
) -> int:
    """Sweep the BLOCK busbars (columns) of K taps (rows) until each converged or collapsed.

    All arrays are C-contiguous with BLOCK columns (padding busbars draw nothing), so the
    loops over busbars vectorize; ``work[0]`` (K, BLOCK) holds the last voltage iterate on
    return, ``state`` (BLOCK,) each busbar's state; returns the sweeps made."""
    voltage, current, running, drop, change, positive = work
    taps = voltage.shape[0]
    for i in range(BLOCK):
        state[i] = UNCONVERGED
    for k in range(taps):
        for i in range(BLOCK):
            voltage[k, i] = supply[i]
    for sweep in range(max_iterations):
        for i in range(BLOCK):
            running[i] = 0.0
            drop[i] = 0.0
            change[i] = 0.0
            positive[i] = 1.0
        for k in range(taps - 1, -1, -1):
            for i in range(BLOCK):
                running[i] += tap_power[i] / voltage[k, i]
                current[k, i] = running[i]
        for k in range(taps):
            for i in range(BLOCK):
                drop[i] += current[k, i] * resistance[k, i]
                new = supply[i] - drop[i]
                step = abs(voltage[k, i] - new)
                change[i] = step if step > change[i] else change[i]
                positive[i] = positive[i] if new > 0.0 else 0.0  # 0 on NaN too
                voltage[k, i] = new
        pending = 0
        for i in range(BLOCK):
            if state[i] == UNCONVERGED:
                if positive[i] == 0.0:
                    state[i] = COLLAPSED
                elif change[i] < tolerance * supply[i]:
                    state[i] = CONVERGED
                else:
                    pending += 1
        if pending == 0:
            return sweep + 1
    return max_iterations


@compiled(nogil=True, fastmath=_FAST, error_model="numpy")
def _chain_kernel(
    rack_power: NDArray[np.float64],
    rack: tuple[Any, ...],
    busbar: tuple[Any, ...],
    converter: tuple[Any, ...],
    shelf: tuple[Any, ...],
    solver: tuple[Any, ...],
    outputs: tuple[Any, ...],
) -> int:
    design_power, converter_index, taps = rack
    resistance, padded_supply, supply, rating, installed, redundant, stage, shelf_index = busbar
    c_load, c_eta, c_points, c_fixed = converter
    s_load, s_eta, s_points, s_fixed = shelf
    tolerance, max_iterations = solver
    bus_power, min_voltage, source_current, loss, state, rect_in, active, over, peaks = outputs
    converter_peak, shelf_peak = peaks
    steps, racks = rack_power.shape
    segments = resistance.shape[1]
    tap_power = np.zeros(BLOCK)
    voltage = np.empty((segments, BLOCK))
    current = np.empty((segments, BLOCK))
    work = (voltage, current, np.empty(BLOCK), np.empty(BLOCK), np.empty(BLOCK), np.empty(BLOCK))
    block_state = np.empty(BLOCK, dtype=np.int8)
    most = 0
    for n in range(steps):
        for start in range(0, racks, BLOCK):
            m = min(BLOCK, racks - start)
            block = start // BLOCK
            tap_power[m:] = 0.0
            for i in range(m):
                r = start + i
                c = converter_index[r]
                load = rack_power[n, r] / design_power[r]
                if c_points[c] > 1 and load > c_load[c, c_points[c] - 1] * _ABOVE_TOP:
                    converter_peak[c] = max(converter_peak[c], load)
                eta = _efficiency(load, c, c_load, c_eta, c_points[c])
                bus_power[n, r] = (rack_power[n, r] + c_fixed[c]) / eta
                tap_power[i] = bus_power[n, r] / taps[r]
                if tap_power[i] < 0.0:
                    state[n, r] = NEGATIVE_INPUT
                    return most
            sweeps = _sweep_block(
                tap_power,
                resistance[block],
                padded_supply[block],
                tolerance,
                max_iterations,
                work,
                block_state,
            )
            most = max(most, sweeps)
            for i in range(m):
                r = start + i
                state[n, r] = block_state[i]
                output = 0.0
                if block_state[i] == COLLAPSED:
                    min_voltage[n, r] = np.nan
                    source_current[n, r] = np.nan
                    loss[n, r] = np.nan
                else:  # final sweep, kept whole: currents from voltages, voltages from currents
                    running = 0.0
                    for k in range(segments - 1, -1, -1):
                        running += tap_power[i] / voltage[k, i]
                        current[k, i] = running
                    drop = 0.0
                    dissipated = 0.0
                    lowest = supply[r]
                    for k in range(segments):
                        segment_drop = current[k, i] * resistance[block, k, i]
                        dissipated += segment_drop * current[k, i]
                        drop += segment_drop
                        lowest = min(lowest, supply[r] - drop)
                    min_voltage[n, r] = lowest
                    source_current[n, r] = current[0, i]
                    loss[n, r] = dissipated
                    output = supply[r] * current[0, i]
                # power shelf: staging, per-PSU load and efficiency
                s = shelf_index[r]
                needed = np.ceil(output / (rating[r] * stage[r]) - _STAGING_SLACK)
                running_psus = min(installed[r], max(needed, 0.0) + redundant[r])
                shelf_rating = running_psus * rating[r]
                fraction = output / shelf_rating if shelf_rating > 0.0 else 0.0
                psu_output = fraction * rating[r]
                psu_load = psu_output / rating[r]
                if s_points[s] > 1 and psu_load > s_load[s, s_points[s] - 1] * _ABOVE_TOP:
                    shelf_peak[s] = max(shelf_peak[s], psu_load)
                eta = _efficiency(psu_load, s, s_load, s_eta, s_points[s])
                rect_in[n, r] = running_psus * ((psu_output + s_fixed[s]) / eta)
                active[n, r] = running_psus
                over[n, r] = output > (installed[r] - redundant[r]) * rating[r]
    return most


def rack_chain(
    rack_power: NDArray[np.float64],
    rack: tuple[NDArray[Any], NDArray[np.int64], NDArray[Any]],
    busbar: tuple[NDArray[Any], ...],
    curves: tuple[PackedCurves, PackedCurves],
    tolerance: float = 1e-9,
    max_iterations: int = 50,
) -> ChainResult:
    """Converters, busbar load flow and power shelf of one-rack-per-busbar halls.

    Parameters
    ----------
    rack_power
        IT power of each rack, >= 0 [W]; shape ``(T, R)``.
    rack
        Per rack: design power [W], converter curve index [-], taps on its busbar [-].
    busbar
        Per busbar (busbar r feeds rack r): segment resistances ``(K, R)`` [Ω], source
        voltage [V], PSU rating [W], PSUs installed [-], redundant PSUs [-], stage-up
        fraction [-], shelf curve index [-].
    curves
        The converter and the shelf curves, packed.
    tolerance
        Convergence tolerance of the sweep, relative to the source voltage [-].
    max_iterations
        Largest number of sweeps [-].

    Returns
    -------
    ChainResult
        Bus power [W], busbar flow, shelf input [W], active PSUs and flags, per step and rack.

    Raises
    ------
    ValueError
        If a rack draws a negative power.
    """
    shape = rack_power.shape
    outputs = (
        np.empty(shape),
        np.empty(shape),
        np.empty(shape),
        np.empty(shape),
        np.zeros(shape, dtype=np.int8),
        np.empty(shape),
        np.empty(shape),
        np.empty(shape, dtype=np.bool_),
        (np.full(curves[0].points.size, -np.inf), np.full(curves[1].points.size, -np.inf)),
    )
    converter, shelf = ((c.load_fraction, c.efficiency, c.points, c.fixed_loss) for c in curves)
    resistance, supply = busbar[0], busbar[1]
    blocks = -(-shape[1] // BLOCK)
    padded_resistance = np.zeros((resistance.shape[0], blocks * BLOCK))
    padded_resistance[:, : shape[1]] = resistance
    padded_supply = np.ones(blocks * BLOCK)
    padded_supply[: shape[1]] = supply
    padded = (  # (blocks, K, BLOCK) and (blocks, BLOCK), C-contiguous
        np.ascontiguousarray(padded_resistance.reshape(-1, blocks, BLOCK).transpose(1, 0, 2)),
        padded_supply.reshape(blocks, BLOCK),
        *busbar[1:],
    )
    _chain_kernel(
        np.ascontiguousarray(rack_power, dtype=np.float64),
        rack,
        padded,
        converter,
        shelf,
        (float(tolerance), int(max_iterations)),
        outputs,
    )
    if np.any(outputs[4] == NEGATIVE_INPUT):
        raise ValueError("rack power must be >= 0 W")
    return ChainResult(*outputs[:8], *outputs[8])


_LARGEST = float(np.finfo(np.float64).max)


@compiled(nogil=True, error_model="numpy")
def _finite(value: float) -> float:
    """``numpy.nan_to_num(value)``: NaN to 0, ±inf to the largest finite double [-]."""
    if value != value:
        return 0.0
    if value == np.inf:
        return _LARGEST
    if value == -np.inf:
        return -_LARGEST
    return value


@compiled(nogil=True, error_model="numpy")
def _losses_kernel(
    rack_power: NDArray[np.float64],
    bus_power: NDArray[np.float64],
    busbar_loss: NDArray[np.float64],
    rectifier_input: NDArray[np.float64],
    source_current: NDArray[np.float64],
    source_voltage: NDArray[np.float64],
    outputs: tuple[Any, ...],
) -> None:
    converter_loss, shelf_output, rectifier_loss, rack_loss, finite_loss = outputs
    steps, racks = rack_power.shape
    for n in range(steps):
        for r in range(racks):
            converter = bus_power[n, r] - rack_power[n, r]
            output = source_voltage[r] * source_current[n, r]
            rectifier = rectifier_input[n, r] - _finite(output)
            in_rack = _finite(busbar_loss[n, r] + rectifier)
            converter_loss[n, r] = converter
            shelf_output[n, r] = output
            rectifier_loss[n, r] = rectifier
            rack_loss[n, r] = converter + (in_rack if bus_power[n, r] > 0 else 0.0)
            finite_loss[n, r] = _finite(busbar_loss[n, r])


def rack_losses(
    rack_power: NDArray[np.float64],
    bus_power: NDArray[np.float64],
    busbar_loss: NDArray[np.float64],
    rectifier_input: NDArray[np.float64],
    source_current: NDArray[np.float64],
    source_voltage: NDArray[np.float64],
) -> tuple[NDArray[np.float64], ...]:
    """The losses of one-rack-per-busbar halls from :func:`rack_chain`, in one pass.

    Element for element what :func:`physics.electrical.electrical_chain` computes from the
    same arrays with NumPy (``converter = bus − rack``; ``shelf = V·I``;
    ``rectifier = input − nan_to_num(shelf)``; ``rack = converter + nan_to_num(busbar +
    rectifier)`` where the rack draws power): the same IEEE operations in the same order,
    without fast-math, so the same values bit for bit
    (``tests/physics/test_chain_kernel.py``).

    Parameters
    ----------
    rack_power
        IT power of each rack [W], shape ``(T, R)``.
    bus_power, busbar_loss, rectifier_input, source_current
        :func:`rack_chain`'s 48 V power [W], busbar loss [W] (NaN: collapsed), shelf input
        [W] and source current [A] for that power, shape ``(T, R)``.
    source_voltage
        Source voltage of each busbar [V], shape ``(R,)``.

    Returns
    -------
    tuple of numpy.ndarray
        C-contiguous ``(T, R)``: converter loss [W], shelf output (NaN on collapsed busbars)
        [W], rectifier loss [W], in-rack heat of the conversion [W], busbar loss with NaN as
        0 [W].
    """
    outputs = tuple(np.empty(rack_power.shape) for _ in range(5))
    _losses_kernel(
        rack_power,
        bus_power,
        busbar_loss,
        rectifier_input,
        source_current,
        np.ascontiguousarray(source_voltage, dtype=np.float64),
        outputs,
    )
    return outputs
