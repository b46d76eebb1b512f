"""Compiled backward/forward sweep of the radial 48 V busbar load flow.

:func:`physics.power.busbar_load_flow` calls :func:`sweep_busbars` with its inputs broadcast
to ``(N, B, K)`` (N leading steps, B busbars, K taps).  The kernel solves each busbar on its
own, in cache, with the same fixed point, stopping test, collapse test and final sweep as
the vectorized form it replaced; it only stops each busbar when that busbar has converged
instead of when the whole batch has (so a busbar's last iterate may be up to one sweep less
converged, an error below ``tolerance · V_s · ρ / (1 − ρ)`` with ``ρ ≈ R·P/V²``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from physics.kernels import compiled

__all__ = [
    "COLLAPSED",
    "CONVERGED",
    "NEGATIVE_INPUT",
    "UNCONVERGED",
    "SweepResult",
    "sweep_busbars",
]


@dataclass
class SweepResult:
    """Outputs of :func:`sweep_busbars` (shapes ``(N, B, K)`` per tap, ``(N, B)`` per busbar).

    Attributes
    ----------
    tap_voltage
        Tap voltages [V]; NaN on collapsed busbars.
    segment_current
        Segment currents [A]; NaN on collapsed busbars.
    loss
        Resistive loss of each busbar [W]; NaN on collapsed busbars.
    min_voltage
        Lowest tap voltage of each busbar [V]; NaN on collapsed busbars.
    converged
        The busbar met the tolerance [bool].
    collapsed
        A sweep reached a tap voltage <= 0 or non-finite: no positive solution [bool].
    iterations
        Largest number of sweeps of any busbar [-].
    """

    tap_voltage: NDArray[np.float64]
    segment_current: NDArray[np.float64]
    loss: NDArray[np.float64]
    min_voltage: NDArray[np.float64]
    converged: NDArray[np.bool_]
    collapsed: NDArray[np.bool_]
    iterations: int


_FAST = {"contract", "arcp", "reassoc"}
"""LLVM fast-math flags that keep NaN/inf semantics (the collapse test relies on them)."""

CONVERGED, UNCONVERGED, COLLAPSED, NEGATIVE_INPUT = 0, 1, 2, 3
"""Busbar states written by the kernel [-]."""


@compiled(nogil=True, fastmath=_FAST)
def _solve_one(
    power: NDArray[np.float64],
    resistance: NDArray[np.float64],
    supply: float,
    threshold: float,
    max_iterations: int,
    voltage: NDArray[np.float64],
    current: NDArray[np.float64],
) -> tuple[int, int]:
    """Sweep one busbar (rows of K taps) until converged; returns (state, sweeps).

    ``voltage`` holds the last iterate on return; ``current`` is a work row.
    """
    taps = power.shape[0]
    for k in range(taps):
        voltage[k] = supply
    for sweep in range(max_iterations):
        # backward sweep: tap currents, then segment currents by reverse cumulative sum
        for k in range(taps):
            current[k] = power[k] / voltage[k]
        running = 0.0
        for k in range(taps - 1, -1, -1):
            running += current[k]
            current[k] = running
        # forward sweep: cumulative drop, new voltages, largest change
        drop = 0.0
        largest = 0.0
        positive = True
        for k in range(taps):
            drop += current[k] * resistance[k]
            new = supply - drop
            largest = max(largest, abs(voltage[k] - new))
            positive = positive and new > 0.0  # False on NaN too
            voltage[k] = new
        if not positive:
            return COLLAPSED, sweep + 1
        if largest < threshold:
            return CONVERGED, sweep + 1
    return UNCONVERGED, max_iterations


@compiled(nogil=True, fastmath=_FAST)
def _sweep_kernel(
    power: NDArray[np.float64],
    resistance: NDArray[np.float64],
    source: NDArray[np.float64],
    tolerance: float,
    max_iterations: int,
    outputs: tuple[NDArray[np.float64], ...],
    state: NDArray[np.int8],
) -> int:
    tap_voltage, segment_current, loss, min_voltage = outputs
    steps, busbars, taps = power.shape
    row_power, row_resistance = np.empty(taps), np.empty(taps)
    voltage, current = np.empty(taps), np.empty(taps)
    most = 0
    for n in range(steps):
        for b in range(busbars):
            supply = source[n, b]
            for k in range(taps):
                row_power[k] = power[n, b, k]
                row_resistance[k] = resistance[n, b, k]
                if row_power[k] < 0.0 or row_resistance[k] < 0.0:
                    state[n, b] = NEGATIVE_INPUT
                    return most
            code, sweeps = _solve_one(
                row_power,
                row_resistance,
                supply,
                tolerance * supply,
                max_iterations,
                voltage,
                current,
            )
            most = max(most, sweeps)
            state[n, b] = code
            if code == COLLAPSED:
                tap_voltage[n, b, :] = np.nan
                segment_current[n, b, :] = np.nan
                loss[n, b] = np.nan
                min_voltage[n, b] = np.nan
                continue
            # final sweep, kept whole: currents from the voltages, voltages from the currents
            running = 0.0
            for k in range(taps - 1, -1, -1):
                running += row_power[k] / voltage[k]
                segment_current[n, b, k] = running
            drop = 0.0
            dissipated = 0.0
            lowest = supply
            for k in range(taps):
                segment_drop = segment_current[n, b, k] * row_resistance[k]
                dissipated += segment_drop * segment_current[n, b, k]
                drop += segment_drop
                tap_voltage[n, b, k] = supply - drop
                lowest = min(lowest, supply - drop)
            loss[n, b] = dissipated
            min_voltage[n, b] = lowest
    return most


def sweep_busbars(
    power: NDArray[np.float64],
    resistance: NDArray[np.float64],
    source: NDArray[np.float64],
    tolerance: float,
    max_iterations: int,
) -> SweepResult:
    """Solve every busbar of a batch by the backward/forward sweep.

    Parameters
    ----------
    power
        Tap powers, >= 0 [W]; shape ``(N, B, K)`` (broadcast views are read in place).
    resistance
        Segment resistances, >= 0 [Ω]; shape ``(N, B, K)`` (typically a broadcast view).
    source
        Source voltages, > 0 [V]; shape ``(N, B)``.
    tolerance
        Convergence tolerance on the largest voltage change per sweep, relative to the
        source voltage [-].
    max_iterations
        Largest number of sweeps per busbar [-].

    Returns
    -------
    SweepResult
        Tap voltages, segment currents, losses and flags.

    Raises
    ------
    ValueError
        If a tap power or segment resistance is negative.
    """
    tap_voltage = np.empty(power.shape)
    segment_current = np.empty(power.shape)
    loss = np.empty(power.shape[:2])
    min_voltage = np.empty(power.shape[:2])
    state = np.zeros(power.shape[:2], dtype=np.int8)
    most = _sweep_kernel(
        power,
        resistance,
        source,
        float(tolerance),
        int(max_iterations),
        (tap_voltage, segment_current, loss, min_voltage),
        state,
    )
    if np.any(state == NEGATIVE_INPUT):
        raise ValueError("tap_power and segment_resistance must be >= 0")
    return SweepResult(
        tap_voltage=tap_voltage,
        segment_current=segment_current,
        loss=loss,
        min_voltage=min_voltage,
        converged=state == 0,
        collapsed=state == 2,
        iterations=int(most),
    )
