"""Tests of the 48 V power chain: converters, rectifier staging, busbar load flow, BBU."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import fsolve

from physics.power import (
    ORV3_POWER_SHELF,
    EfficiencyCurve,
    bbu_ride_through,
    busbar_first_order,
    busbar_load_flow,
    converter_input_power,
    converter_loss,
    rectifier_staging,
    undervoltage,
)
from physics.warnings import ConvergenceWarning, CurveRangeWarning

# --------------------------------------------------------------------------------------------
# Busbar load flow: analytic single-load cases
# --------------------------------------------------------------------------------------------

RESISTANCE = 1e-4  # 0.1 mΩ
LOAD = 120e3  # 120 kW


def exact_single_load_voltage(source: float, resistance: float, power: float) -> float:
    """High-voltage root of V² − V_s·V + R·P = 0 (KVL with I = P/V)."""
    return (source + math.sqrt(source**2 - 4.0 * resistance * power)) / 2.0


@pytest.mark.parametrize(
    ("source", "tap", "current", "drop", "loss"),
    [
        (48.0, 47.749, 2513.16, 0.2513, 631.6),
        (12.0, 10.899, 11010.0, 1.101, 12120.0),
    ],
)
def test_single_load_matches_quadratic_solution(
    source: float, tap: float, current: float, drop: float, loss: float
) -> None:
    """120 kW through 0.1 mΩ from a 48 V and a 12 V source.

    Reference: analytic (textbook DC circuit).  KVL with a constant-power load gives
    V = (V_s + sqrt(V_s² − 4RP)) / 2.  The sweep must reproduce the closed form to 1e-10
    relative: the solver stops when a sweep changes V by < 1e-9·V_s and the contraction factor
    R·P/V² is 0.005 (48 V) and 0.10 (12 V), so the remaining error is < 1.2e-10·V_s.  The
    quoted figures (tap voltage, current, drop, loss) are checked to their stated decimals
    (the 48 V current is 2513.158 A; a figure of "2513.1 A" seen in briefs is truncated).
    """
    flow = busbar_load_flow(source, [[RESISTANCE]], [[LOAD]])
    exact_voltage = exact_single_load_voltage(source, RESISTANCE, LOAD)
    exact_current = LOAD / exact_voltage
    assert flow.converged.all() and not flow.collapsed.any()
    assert_allclose(flow.tap_voltage[0, 0], exact_voltage, rtol=1e-10)
    assert_allclose(flow.source_current[0], exact_current, rtol=1e-10)
    assert_allclose(flow.loss[0], RESISTANCE * exact_current**2, rtol=1e-9)
    assert_allclose(flow.min_voltage[0], exact_voltage, rtol=1e-10)
    # The quoted figures, to the decimals they are quoted with.
    assert round(float(flow.tap_voltage[0, 0]), 3) == tap
    assert round(float(flow.source_current[0]), 2 if source == 48.0 else -1) == current
    assert round(source - float(flow.tap_voltage[0, 0]), 4 if source == 48.0 else 3) == drop
    assert round(float(flow.loss[0]), 1 if source == 48.0 else -1) == loss


@pytest.mark.parametrize(
    ("source", "current", "drop", "loss"),
    [(48.0, 2500.0, 0.25, 625.0), (12.0, 10000.0, 1.0, 10000.0)],
)
def test_first_order_estimate(source: float, current: float, drop: float, loss: float) -> None:
    """Textbook first-order estimate I = P/V_s: 2500 A / 0.25 V / 625 W at 48 V and
    10000 A / 1.0 V / 10.0 kW at 12 V (analytic, exact up to rounding: rtol 1e-12)."""
    estimate = busbar_first_order(source, [[RESISTANCE]], [[LOAD]])
    assert_allclose(estimate.source_current[0], current, rtol=1e-12)
    assert_allclose(source - estimate.tap_voltage[0, 0], drop, rtol=1e-12)
    assert_allclose(estimate.loss[0], loss, rtol=1e-12)
    assert estimate.iterations == 0


def test_loss_ratio_12_to_48_volt() -> None:
    """Distributing 120 kW at 12 V instead of 48 V over the same 0.1 mΩ loses ~19.2× more.

    Reference: analytic.  The first-order estimate gives exactly (48/12)² = 16×; the exact
    solution 12122.46 W / 631.596 W = 19.19× because the 12 V tap sags to 10.9 V and draws
    10 % more current.  Tolerance 1e-9 relative (solver tolerance).
    """
    loss = busbar_load_flow(np.array([48.0, 12.0]), [[RESISTANCE]], [[LOAD]]).loss
    exact = [
        RESISTANCE * (LOAD / exact_single_load_voltage(v, RESISTANCE, LOAD)) ** 2
        for v in (48.0, 12.0)
    ]
    assert_allclose(loss, exact, rtol=1e-9)
    ratio = loss[1] / loss[0]
    assert round(float(ratio), 2) == 19.19
    first_order = busbar_first_order(np.array([48.0, 12.0]), [[RESISTANCE]], [[LOAD]]).loss
    assert_allclose(first_order[1] / first_order[0], 16.0, rtol=1e-12)


# --------------------------------------------------------------------------------------------
# Busbar load flow: multi-tap, collapse, conservation, vectorization
# --------------------------------------------------------------------------------------------


def fsolve_busbar(source: float, resistance: np.ndarray, power: np.ndarray) -> np.ndarray:
    """Reference: solve the nodal equations V_k = V_s − Σ_{i<=k} r_i Σ_{j>=i} P_j/V_j."""

    def residual(voltage: np.ndarray) -> np.ndarray:
        segment_current = np.cumsum((power / voltage)[::-1])[::-1]
        return voltage - (source - np.cumsum(resistance * segment_current))

    solution, _, status, message = fsolve(
        residual, np.full(power.shape, source), xtol=1e-14, full_output=True
    )
    assert status == 1, message
    return np.asarray(solution)


def test_multi_tap_busbar_matches_fsolve() -> None:
    """8 taps of 15 kW on 0.05 mΩ segments from 48 V, against scipy.optimize.fsolve.

    Reference: the same nonlinear KVL/KCL equations solved by MINPACK hybrd (fsolve,
    xtol 1e-14).  Agreement 1e-9 relative on voltages, currents and loss (solver tolerance;
    contraction factor ~0.01 here, so both are far tighter).
    """
    resistance = np.full(8, 0.05e-3)
    power = np.full(8, 15e3)
    flow = busbar_load_flow(48.0, resistance[None], power[None])
    reference_voltage = fsolve_busbar(48.0, resistance, power)
    reference_current = np.cumsum((power / reference_voltage)[::-1])[::-1]
    assert_allclose(flow.tap_voltage[0], reference_voltage, rtol=1e-9)
    assert_allclose(flow.segment_current[0], reference_current, rtol=1e-9)
    assert_allclose(flow.loss[0], np.sum(resistance * reference_current**2), rtol=1e-9)
    assert_allclose(flow.min_voltage[0], reference_voltage[-1], rtol=1e-9)
    # Voltages fall monotonically along the busbar; the exact drop exceeds the estimate.
    assert np.all(np.diff(flow.tap_voltage[0]) < 0.0)
    estimate = busbar_first_order(48.0, resistance[None], power[None])
    assert flow.loss[0] > estimate.loss[0]


def test_padding_taps_do_not_change_the_solution() -> None:
    """A busbar padded with zero-power, zero-resistance taps equals the unpadded one."""
    resistance = np.array([[0.05e-3, 0.02e-3, 0.03e-3]])
    power = np.array([[20e3, 10e3, 30e3]])
    short = busbar_load_flow(48.0, resistance, power)
    padded = busbar_load_flow(
        48.0, np.pad(resistance, ((0, 0), (0, 3))), np.pad(power, ((0, 0), (0, 3)))
    )
    assert_allclose(padded.tap_voltage[0, :3], short.tap_voltage[0], rtol=1e-14)
    assert_allclose(padded.tap_voltage[0, 3:], short.tap_voltage[0, -1], rtol=1e-14)
    assert_allclose(padded.loss, short.loss, rtol=1e-14)
    assert_allclose(padded.segment_current[0, 3:], 0.0, atol=0.0)


def test_voltage_collapse_is_flagged_without_exception() -> None:
    """A single load above V_s²/(4R) has no real solution: NaN results and ``collapsed``.

    Reference: analytic; the discriminant V_s² − 4RP of the single-load quadratic is negative
    for P > V_s²/(4R) = 5.76 MW at 48 V through 0.1 mΩ.  The healthy busbar in the same batch
    must be unaffected (closed form, 1e-10 relative).
    """
    limit = 48.0**2 / (4.0 * RESISTANCE)
    flow = busbar_load_flow(48.0, [[RESISTANCE], [RESISTANCE]], [[1.1 * limit], [LOAD]])
    assert_array_equal(flow.collapsed, [True, False])
    assert_array_equal(flow.converged, [False, True])
    assert np.isnan(flow.tap_voltage[0]).all()
    assert np.isnan([flow.loss[0], flow.source_current[0], flow.min_voltage[0]]).all()
    assert_allclose(
        flow.tap_voltage[1, 0], exact_single_load_voltage(48.0, RESISTANCE, LOAD), rtol=1e-10
    )
    assert_array_equal(undervoltage(flow.tap_voltage[:, 0], 40.0), [True, False])


def test_multi_tap_collapse_detected() -> None:
    """Two taps: 3 MW each at the end of 0.1 mΩ segments from 48 V cannot be supplied.

    Reference: analytic bound.  Segment 0 can deliver at most V_s²/(4 r_0) = 5.76 MW to tap 0,
    less than the 6 MW the two taps need, so no solution exists.
    """
    flow = busbar_load_flow(48.0, [[RESISTANCE, RESISTANCE]], [[3e6, 3e6]])
    assert flow.collapsed[0] and not flow.converged[0]
    assert np.isnan(flow.tap_voltage).all()


def test_near_collapse_warns_when_not_converged() -> None:
    """At 99.9 % of the collapse load the sweep contracts slowly (R·P/V² ≈ 0.94): 50 sweeps
    are not enough, so ``converged`` is False and a ConvergenceWarning is emitted; with a
    larger budget it converges to the closed form (rtol 1e-6: near the nose the error is
    about the last step / (1 − contraction) ≈ 16× the 1e-9 step tolerance)."""
    power = 0.999 * 48.0**2 / (4.0 * RESISTANCE)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        flow = busbar_load_flow(48.0, [[RESISTANCE]], [[power]], max_iterations=50)
    assert not flow.converged[0] and not flow.collapsed[0]
    assert flow.iterations == 50
    solved = busbar_load_flow(48.0, [[RESISTANCE]], [[power]], max_iterations=1000)
    assert solved.converged[0]
    assert_allclose(
        solved.tap_voltage[0, 0], exact_single_load_voltage(48.0, RESISTANCE, power), rtol=1e-6
    )


@settings(max_examples=200, deadline=None)
@given(
    taps=st.integers(1, 8),
    busbars=st.integers(1, 3),
    source=st.floats(40.0, 54.0),
    data=st.data(),
)
def test_energy_is_conserved(taps: int, busbars: int, source: float, data: st.DataObject) -> None:
    """Σ tap power + Σ r·I² = V_s · I_source to 1e-9 relative (Tellegen's theorem).

    The returned voltages come from the currents by KVL, so the balance holds up to the last
    sweep change (< 1e-9·V_s) times the source current: tolerance 1e-9 relative.
    """
    power = data.draw(arrays(np.float64, (busbars, taps), elements=st.floats(0.0, 20e3)))
    resistance = data.draw(arrays(np.float64, (busbars, taps), elements=st.floats(0.0, 2e-4)))
    flow = busbar_load_flow(source, resistance, power)
    assert flow.converged.all() and not flow.collapsed.any()
    supplied = source * flow.source_current
    delivered = power.sum(axis=-1) + flow.loss
    assert_allclose(delivered, supplied, rtol=1e-9, atol=1e-9)
    # Each tap draws its power: V_k · (I_k − I_{k+1}) = P_k, to the last step (1e-9·V_s)
    # relative to V_k >= V_s / 1.2 here: rtol 1.2e-9.
    tap_current = flow.segment_current - np.pad(flow.segment_current[:, 1:], ((0, 0), (0, 1)))
    assert_allclose(flow.tap_voltage * tap_current, power, rtol=1.2e-9, atol=1e-6)


def test_batched_call_equals_per_busbar_calls() -> None:
    """A (T, B, K) batch with per-busbar source voltages equals one call per busbar.

    A batch iterates until its slowest busbar converges, so the others may take extra sweeps;
    both are within the 1e-9 relative step tolerance of the same solution.
    """
    rng = np.random.default_rng(7)
    steps, busbars, taps = 4, 5, 6
    resistance = rng.uniform(0.01e-3, 0.2e-3, (busbars, taps))
    resistance[0, 4:] = 0.0  # a padded busbar
    power = rng.uniform(0.0, 30e3, (steps, busbars, taps))
    power[:, 0, 4:] = 0.0
    source = rng.uniform(47.0, 51.0, (steps, busbars))
    flow = busbar_load_flow(source, resistance, power)
    assert flow.tap_voltage.shape == (steps, busbars, taps)
    assert flow.loss.shape == flow.converged.shape == (steps, busbars)
    for t in range(steps):
        for b in range(busbars):
            single = busbar_load_flow(source[t, b], resistance[b : b + 1], power[t, b : b + 1])
            assert_allclose(flow.tap_voltage[t, b], single.tap_voltage[0], rtol=1e-9)
            assert_allclose(flow.segment_current[t, b], single.segment_current[0], rtol=1e-9)
            assert_allclose(flow.loss[t, b], single.loss[0], rtol=1e-9)


def test_busbar_rejects_negative_power() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        busbar_load_flow(48.0, [[RESISTANCE]], [[-1.0]])


def test_undervoltage_flags() -> None:
    assert_array_equal(undervoltage([47.0, 45.9, np.nan, 46.0], 46.0), [False, True, True, False])


# --------------------------------------------------------------------------------------------
# Converters and rectifier staging
# --------------------------------------------------------------------------------------------


def test_converter_with_fixed_loss() -> None:
    """P_in = (P_out + P_fixed)/η exactly; an enabled idle stage draws P_fixed/η(0), a disabled
    one nothing (definition of the model; rtol 1e-15)."""
    curve = EfficiencyCurve.constant(0.95, fixed_loss=50.0)
    output = np.array([0.0, 1000.0, 0.0])
    enabled = np.array([True, True, False])
    input_power = converter_input_power(output, 2000.0, curve, enabled)
    assert_allclose(input_power, [50.0 / 0.95, 1050.0 / 0.95, 0.0], rtol=1e-15)
    assert_allclose(
        converter_loss(output, 2000.0, curve, enabled),
        [50.0 / 0.95, 1050.0 / 0.95 - 1000.0, 0.0],
        rtol=1e-13,
    )


def test_efficiency_curve_interpolates_and_clips() -> None:
    """ORV3 curve: linear between points (30 % → 0.94 + (0.1/0.3)·0.035), held below 10 %,
    and warns (and holds 0.96) above 100 %."""
    assert_allclose(
        ORV3_POWER_SHELF.efficiency_at([0.05, 0.1, 0.3, 0.5, 1.0]),
        [0.90, 0.90, 0.94 + 0.035 / 3.0, 0.975, 0.96],
        rtol=1e-15,
    )
    with pytest.warns(CurveRangeWarning):
        assert_allclose(ORV3_POWER_SHELF.efficiency_at(1.2), 0.96)
    with pytest.raises(ValueError, match="increasing"):
        EfficiencyCurve((0.5, 0.2), (0.9, 0.95))


def test_rectifier_staging_counts_and_capacity() -> None:
    """5.5 kW PSUs, 6 installed, N+1, stage up at 80 % (4.4 kW per PSU).

    Expected counts from the staging rule min(6, ceil(P/4400) + 1): idle keeps the 1
    redundant PSU; 4.4 kW exactly stays on one stage; 27.5 kW = (6 − 1)·5.5 kW is at capacity
    (not overloaded); 28 kW overloads N+1 though it is below 6·5.5 kW.
    """
    load = np.array([0.0, 4000.0, 4400.0, 4401.0, 20000.0, 27500.0, 28000.0])
    result = rectifier_staging(load, 5500.0, 6, 1)
    assert_array_equal(result.active, [1, 2, 2, 3, 6, 6, 6])
    assert_allclose(result.capacity, 27500.0)
    assert_array_equal(result.overloaded, [False] * 6 + [True])
    assert_allclose(result.load_fraction[4], 20000.0 / (6 * 5500.0), rtol=1e-15)
    # 60.6 % per PSU: η interpolated between 0.975 (50 %) and 0.96 (100 %).
    efficiency = 0.975 - (20000.0 / 33000.0 - 0.5) / 0.5 * 0.015
    assert_allclose(result.input_power[4], 20000.0 / efficiency, rtol=1e-12)
    assert_allclose(result.loss, result.input_power - load, rtol=1e-15)
    assert result.input_power[0] == 0.0  # ORV3 curve has no fixed loss


def test_rectifier_staging_broadcasts_per_shelf() -> None:
    """Per-shelf installed/redundancy/rating broadcast against a (time, shelf) load."""
    load = np.array([[10e3, 10e3, 10e3], [30e3, 30e3, 30e3]])
    result = rectifier_staging(
        load, np.array([5500.0, 3000.0, 5500.0]), np.array([6, 12, 8]), np.array([1, 1, 2])
    )
    # ceil(10000/4400)=3, ceil(10000/2400)=5, ceil(30000/4400)=7, ceil(30000/2400)=13
    assert_array_equal(result.active, [[4, 6, 5], [6, 12, 8]])
    assert_allclose(result.capacity, [[27500.0, 33000.0, 33000.0]] * 2)
    assert_array_equal(result.overloaded, [[False, False, False], [True, False, False]])


def test_rectifier_staging_rejects_no_capacity() -> None:
    with pytest.raises(ValueError, match="redundancy"):
        rectifier_staging(1000.0, 5500.0, 1, 1)


# --------------------------------------------------------------------------------------------
# Battery backup units
# --------------------------------------------------------------------------------------------


def test_bbu_ride_through() -> None:
    """t = E·usable·η/P: 1.6 kWh, 90 % usable, 95 % efficient at 4 kW → 1231.2 s; a load
    above the 6 kW rating gets 0 s; zero load lasts forever (analytic, rtol 1e-15)."""
    time = bbu_ride_through(1.6 * 3.6e6, 6000.0, np.array([4000.0, 7000.0, 0.0]), 0.9, 0.95)
    assert_allclose(time, [1.6 * 3.6e6 * 0.9 * 0.95 / 4000.0, 0.0, np.inf], rtol=1e-15)
    assert_allclose(time[0], 1231.2, rtol=1e-12)
