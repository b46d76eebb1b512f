"""The compiled busbar sweep against the vectorized NumPy sweep it replaced.

The kernel stops each busbar when that busbar has converged, the vectorized form stopped when
the whole batch had; both stop on a voltage step below ``tolerance · V_s``.  After the last
step the fixed-point error is at most ``step · ρ / (1 − ρ)`` (contraction ``ρ ≈ R·P/V²``), so
two iterates that both passed the test differ by less than ``2 · tolerance · V_s`` whenever
``ρ <= 1/2``; the loads below keep ``ρ`` under 0.2.
"""

from __future__ import annotations

import numpy as np
import pytest

from physics.kernels.busbar import sweep_busbars
from physics.power import busbar_load_flow


def _vectorized_sweep(
    source: np.ndarray, resistance: np.ndarray, power: np.ndarray, tolerance: float
) -> tuple[np.ndarray, np.ndarray]:
    """Reference: the batch-wide backward/forward sweep (tap voltages, loss), no collapse."""
    voltage = np.broadcast_to(source[..., None], power.shape).copy()
    for _ in range(200):
        current = np.cumsum((power / voltage)[..., ::-1], axis=-1)[..., ::-1]
        new = source[..., None] - np.cumsum(current * resistance, axis=-1)
        step = np.abs(new - voltage)
        voltage = new
        if np.all(step < tolerance * source[..., None]):
            break
    current = np.cumsum((power / voltage)[..., ::-1], axis=-1)[..., ::-1]
    loss = np.sum(current**2 * resistance, axis=-1)
    return source[..., None] - np.cumsum(current * resistance, axis=-1), loss


def test_kernel_matches_vectorized_sweep_within_bound() -> None:
    rng = np.random.default_rng(17)
    steps, busbars, taps = 200, 30, 8
    source = rng.uniform(47.0, 54.0, (steps, busbars))
    resistance = rng.uniform(0.0, 2e-5, (busbars, taps))
    # up to 150 kW per busbar: ρ = R·P/V² <= 1.6e-4 · 150e3 / 47² ≈ 0.011
    power = rng.uniform(0.0, 150e3 / taps, (steps, busbars, taps))
    tolerance = 1e-9
    reference_voltage, reference_loss = _vectorized_sweep(source, resistance, power, tolerance)
    flow = busbar_load_flow(source, resistance, power, tolerance=tolerance)
    assert flow.converged.all()
    bound = 2.0 * tolerance * source[..., None]
    assert np.all(np.abs(flow.tap_voltage - reference_voltage) <= bound)
    np.testing.assert_allclose(flow.loss, reference_loss, rtol=1e-6)
    # energy balance of every busbar: Σ P + loss = V_s · I_source
    balance = power.sum(axis=-1) + flow.loss - source * flow.source_current
    assert np.all(np.abs(balance) <= tolerance * source * flow.source_current)


def test_kernel_reads_broadcast_views_in_place() -> None:
    steps, busbars, taps = 50, 4, 8
    bus_power = np.linspace(1e3, 100e3, steps * busbars).reshape(steps, busbars)
    power = np.broadcast_to((bus_power / taps)[..., None], (steps, busbars, taps))
    resistance = np.broadcast_to(np.full((busbars, taps), 1e-5), power.shape)
    source = np.broadcast_to(np.float64(48.0), (steps, busbars))
    from_views = sweep_busbars(power, resistance, source, 1e-9, 50)
    from_copies = sweep_busbars(
        np.ascontiguousarray(power), np.ascontiguousarray(resistance), source.copy(), 1e-9, 50
    )
    np.testing.assert_array_equal(from_views.tap_voltage, from_copies.tap_voltage)
    np.testing.assert_array_equal(from_views.min_voltage, from_views.tap_voltage.min(axis=-1))


def test_kernel_flags_collapse_and_negative_input() -> None:
    # one load above V²/(4R) collapses; the other busbar is healthy
    resistance = np.array([[1e-3, 0.0], [1e-3, 0.0]])
    power = np.array([[48.0**2 / (4e-3) * 1.01, 0.0], [1e3, 0.0]])
    flow = busbar_load_flow(48.0, resistance, power)
    assert flow.collapsed.tolist() == [True, False]
    assert np.isnan(flow.tap_voltage[0]).all() and np.isnan(flow.loss[0])
    assert flow.converged.tolist() == [False, True]
    with pytest.raises(ValueError, match=">= 0"):
        busbar_load_flow(48.0, resistance, -power)
