"""Tests of the battery model: efficiencies, SOC integration with clipping, wear cost."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose, assert_array_equal

from physics.battery import integrate_soc, round_trip_efficiency, wear_cost

STEP = 900.0  # 15 min
CAPACITY = 4.0 * 3.6e9  # 4 MWh


def test_round_trip_efficiency_of_full_cycle() -> None:
    """0.948 charge and 0.948 discharge efficiency give 0.948² = 0.898704 round trip.

    Reference: analytic (definition of the efficiencies).  A full charge from empty to full
    then a full discharge through ``integrate_soc`` (both ends reached by SOC clipping) must
    return 89.87 % of the energy drawn, equal to 0.898704 up to rounding (rtol 1e-12).
    """
    assert_allclose(round_trip_efficiency(0.948, 0.948), 0.898704, rtol=1e-15)
    assert round(float(round_trip_efficiency(0.948, 0.948)), 4) == 0.8987
    requested = np.r_[np.full(24, 1.0e6), np.full(24, -1.0e6)]  # more than enough both ways
    result = integrate_soc(0.0, requested, STEP, CAPACITY, 0.948, 0.948)
    assert result.soc[0] == 0.0 and result.soc[24] == 1.0 and result.soc[-1] == 0.0
    assert result.clipped[:24].any() and result.clipped[24:].any()
    drawn = result.power[result.power > 0.0].sum() * STEP
    delivered = -result.power[result.power < 0.0].sum() * STEP
    assert_allclose(drawn, CAPACITY / 0.948, rtol=1e-12)
    assert_allclose(delivered / drawn, 0.898704, rtol=1e-12)
    assert round(100.0 * delivered / drawn, 2) == 89.87
    assert_allclose(result.throughput, 2.0 * CAPACITY, rtol=1e-12)


def test_unclipped_trajectory_is_the_closed_form() -> None:
    """Without clipping, SOC is the cumulative sum of P·η_c·Δt / C and −|P|/η_d·Δt / C."""
    requested = np.array([1e6, 0.0, -5e5, 2e6, -1e6])
    result = integrate_soc(0.5, requested, STEP, CAPACITY, 0.95, 0.9)
    stored = np.where(requested > 0, requested * 0.95, requested / 0.9) * STEP
    assert_allclose(result.soc, 0.5 + np.r_[0.0, np.cumsum(stored)] / CAPACITY, rtol=1e-14)
    assert_array_equal(result.power, requested)
    assert not result.clipped.any()
    losses = np.where(requested > 0, requested * 0.05, -requested * (1 / 0.9 - 1)) * STEP
    assert_allclose(result.step_losses, losses, rtol=1e-12, atol=1e-6)
    assert_allclose(result.throughput, np.abs(stored).sum(), rtol=1e-14)


def test_power_limits_and_soc_window_clip() -> None:
    """Power limits clip first; the SOC then stops exactly on its bounds (0.1..0.9)."""
    requested = np.array([3e6, 3e6, 3e6, -5e6, -5e6, -5e6, -5e6])
    # 1 h steps, ideal efficiencies: the SOC moves by P / 4 MW per step.
    result = integrate_soc(0.5, requested, 3600.0, CAPACITY, 1.0, 1.0, 0.1, 0.9, 1e6, 1.5e6)
    assert_allclose(result.power, [1e6, 0.6e6, 0.0, -1.5e6, -1.5e6, -0.2e6, 0.0], rtol=1e-12)
    assert_allclose(result.soc, [0.5, 0.75, 0.9, 0.9, 0.525, 0.15, 0.1, 0.1], rtol=1e-12)
    assert_array_equal(result.clipped, [True, True, True, True, True, True, True])
    relaxed = integrate_soc(0.5, np.array([1e6, -1e6]), 3600.0, CAPACITY, 1.0, 1.0, 0.1, 0.9)
    assert not relaxed.clipped.any()


def test_batteries_are_independent_in_a_batch() -> None:
    """A (T, N) call with per-battery parameters equals N single-battery calls; only the
    batteries that clip go through the sequential fallback."""
    rng = np.random.default_rng(3)
    requested = rng.uniform(-3e6, 3e6, (96, 4))
    requested[:, 0] *= 0.01  # this one never clips
    initial = np.array([0.5, 0.2, 0.8, 0.5])
    charge = np.array([0.95, 0.9, 0.97, 0.948])
    discharge = np.array([0.95, 0.92, 0.96, 0.948])
    limit = np.array([np.inf, 2e6, 1e6, 2.5e6])
    batch = integrate_soc(
        initial, requested, STEP, CAPACITY, charge, discharge, 0.1, 0.9, limit, limit
    )
    assert batch.soc.shape == (97, 4) and batch.throughput.shape == (4,)
    assert not batch.clipped[:, 0].any() and batch.clipped[:, 1:].any()
    for n in range(4):
        single = integrate_soc(
            initial[n],
            requested[:, n],
            STEP,
            CAPACITY,
            charge[n],
            discharge[n],
            0.1,
            0.9,
            limit[n],
            limit[n],
        )
        assert_allclose(batch.soc[:, n], single.soc, rtol=1e-12)
        assert_allclose(batch.power[:, n], single.power, rtol=1e-12, atol=1e-6)
        assert_array_equal(batch.clipped[:, n], single.clipped)
        assert_allclose(batch.losses[n], single.losses, rtol=1e-12)


@settings(max_examples=200, deadline=None)
@given(
    requested=arrays(
        np.float64,
        st.tuples(st.integers(1, 60), st.integers(1, 3)),
        elements=st.floats(-5e6, 5e6),
    ),
    initial_fraction=st.floats(0.0, 1.0),
    soc_min=st.floats(0.0, 0.5),
    soc_max=st.floats(0.5, 1.0),
    charge_efficiency=st.floats(0.5, 1.0),
    discharge_efficiency=st.floats(0.5, 1.0),
    max_power=st.floats(0.0, 4e6),
)
def test_soc_window_and_energy_balance(
    requested: np.ndarray,
    initial_fraction: float,
    soc_min: float,
    soc_max: float,
    charge_efficiency: float,
    discharge_efficiency: float,
    max_power: float,
) -> None:
    """SOC never leaves [soc_min, soc_max]; grid energy in − out = stored change + losses.

    The balance is exact algebra per step; tolerance 1e-9 of the cell throughput plus 1 J
    covers rounding of the SOC (stored as a fraction of a 1 MWh capacity).
    """
    capacity = 3.6e9
    # clipped: soc_min + 1.0 × (soc_max − soc_min) can round above soc_max
    initial = min(max(soc_min + initial_fraction * (soc_max - soc_min), soc_min), soc_max)
    result = integrate_soc(
        initial,
        requested,
        STEP,
        capacity,
        charge_efficiency,
        discharge_efficiency,
        soc_min,
        soc_max,
        max_power,
        max_power,
    )
    assert np.all(result.soc >= soc_min) and np.all(result.soc <= soc_max)
    assert np.all(np.abs(result.power) <= max_power)
    assert np.all(result.power * requested >= 0.0)  # never reverses the request
    assert np.all(np.abs(result.power) <= np.abs(requested))
    grid = result.power.sum(axis=0) * STEP
    stored = (result.soc[-1] - result.soc[0]) * capacity
    assert_allclose(grid, stored + result.losses, atol=1e-9 * result.throughput.max() + 1.0)
    assert np.all(result.losses >= 0.0)


def test_invalid_parameters_raise() -> None:
    with pytest.raises(ValueError, match="initial_soc"):
        integrate_soc(0.05, np.zeros(3), STEP, CAPACITY, 0.9, 0.9, soc_min=0.1)
    with pytest.raises(ValueError, match="efficiencies"):
        integrate_soc(0.5, np.zeros(3), STEP, CAPACITY, 1.2, 0.9)


def test_wear_cost() -> None:
    """1 MWh of throughput at 0.05 per kWh costs 50 (unit conversion, exact)."""
    assert_allclose(wear_cost(3.6e9, 0.05), 50.0, rtol=1e-15)
