"""Tests of the EnergyPlus ElectricEquipment:ITE:AirCooled model."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from physics.airflow import server_airflow_fraction, server_fan_power
from physics.constants import AIR_VOLUMETRIC_HEAT_CAPACITY
from physics.ite import (
    ECM_FAN_POWER_CURVE,
    SERVER_AIRFLOW_CURVE,
    SERVER_POWER_CURVE,
    ite_air_cooled,
)
from physics.plant import CubicCurve, QuadraticCurve
from physics.warnings import CurveRangeWarning


def test_energyplus_data_center_example_full_load_at_15c() -> None:
    """EnergyPlus example ``1ZoneDataCenterCRAC_wApproachTemp.idf``, "Data Center Servers".

    Inputs from the example: 100 units × 500 W, design fan power fraction 0.4, 1e-4 m³/s per
    W, CPU curve −1 + x + 0.06667·T_in, airflow curve −1.4 + 0.9·x + 0.1·T_in, fan curve
    "ECM FanPower fFlow" (linear), design power-supply efficiency 0.9 (efficiency curve
    constant 1).  At CPU loading 1 and 15 °C inlet the Engineering Reference equations give
    CPU 30.0 kW, fans 20.0 kW, 5.0 m³/s, UPS loss 5.0 kW and outlet 23.26 °C.

    Tolerances:
    * CPU power and UPS loss 1e-4 relative: 0.06667 is 1/15 rounded, so the CPU curve is
      1.00005 at 15 °C, not 1 (CPU 30.0015 kW, UPS 5.00015 kW).
    * fans and airflow 1e-12 relative: their curves are exactly 1 at the design point.
    * outlet 0.005 K: the reference is quoted to 0.01 K (we get 23.2557 °C with
      ρ = 1.2041 kg/m³, c_p = 1006 J/(kg·K) from ``physics.constants``).
    """
    result = ite_air_cooled(
        500.0,
        100,
        1.0,
        15.0,
        0.4,
        1e-4,
        cpu_power_curve=SERVER_POWER_CURVE,
        airflow_curve=SERVER_AIRFLOW_CURVE,
        fan_power_curve=ECM_FAN_POWER_CURVE,
        ups_efficiency=0.9,
        ups_efficiency_curve=QuadraticCurve((1.0, 0.0, 0.0), 0.0, 99.0),
    )
    assert float(result.cpu_power) == pytest.approx(30_000.0, rel=1e-4)
    assert float(result.fan_power) == pytest.approx(20_000.0, rel=1e-12)
    assert float(result.airflow) == pytest.approx(5.0, rel=1e-12)
    assert float(result.ups_loss) == pytest.approx(5_000.0, rel=1e-4)
    assert float(result.outlet_temperature) == pytest.approx(23.26, abs=0.005)
    assert not bool(result.clamped)


def test_example_curves_are_the_energyplus_input() -> None:
    """The module's named curves carry the example file's coefficients and limits."""
    assert SERVER_POWER_CURVE.coefficients == (-1.0, 1.0, 0.0, 0.06667, 0.0, 0.0)
    assert SERVER_AIRFLOW_CURVE.coefficients == (-1.4, 0.9, 0.0, 0.1, 0.0, 0.0)
    assert (SERVER_POWER_CURVE.x_min, SERVER_POWER_CURVE.x_max) == (0.0, 1.5)
    assert (SERVER_POWER_CURVE.y_min, SERVER_POWER_CURVE.y_max) == (-10.0, 99.0)
    assert ECM_FAN_POWER_CURVE.coefficients == (0.0, 1.0, 0.0)


def test_part_load_follows_the_curves() -> None:
    """CPU loading 0.5 at 20 °C: f_cpu = 0.8334, f_air = 1.05 (airflow 5.25 m³/s).

    Fan power is linear in airflow fraction with the example's ECM curve (21 kW) and cubic
    with an affinity-law curve (20 kW · 1.05³); outlet = inlet + P/(ρ c_p V̇).
    """
    linear = ite_air_cooled(500.0, 100, 0.5, 20.0, 0.4, 1e-4)
    assert float(linear.cpu_power) == pytest.approx(30e3 * (-0.5 + 0.06667 * 20), rel=1e-12)
    assert float(linear.airflow) == pytest.approx(5.0 * 1.05, rel=1e-12)
    assert float(linear.fan_power) == pytest.approx(20e3 * 1.05, rel=1e-12)
    cubic = ite_air_cooled(
        500.0, 100, 0.5, 20.0, 0.4, 1e-4, fan_power_curve=CubicCurve((0, 0, 0, 1), 0, 99)
    )
    assert float(cubic.fan_power) == pytest.approx(20e3 * 1.05**3, rel=1e-12)
    rise = float(cubic.it_power) / (AIR_VOLUMETRIC_HEAT_CAPACITY * float(cubic.airflow))
    assert float(cubic.outlet_temperature) == pytest.approx(20.0 + rise, rel=1e-12)


def test_default_ups_efficiency_means_no_loss() -> None:
    """UPS efficiency defaults to 1 so the power chain can model the UPS instead."""
    result = ite_air_cooled(500.0, 100, 1.0, 15.0, 0.4, 1e-4)
    assert float(result.ups_loss) == 0.0


def test_negative_curve_outputs_floor_at_zero_and_outlet_equals_inlet() -> None:
    """Idle at 10 °C: both example curves go negative; power and airflow floor at 0 (as in
    EnergyPlus) and with no airflow the outlet equals the inlet."""
    result = ite_air_cooled(500.0, 100, 0.0, 10.0, 0.4, 1e-4, ups_efficiency=0.9)
    assert float(result.cpu_power) == 0.0
    assert float(result.airflow) == 0.0
    assert float(result.fan_power) == 0.0
    assert float(result.outlet_temperature) == 10.0


def test_inlet_above_curve_limit_warns_once_and_clamps() -> None:
    """Inlet 120 °C is above the 99 °C limit: one CurveRangeWarning; evaluated at 99 °C."""
    with pytest.warns(CurveRangeWarning, match="inlet temperature seen 20 to 120 °C"):
        hot = ite_air_cooled(500.0, 100, 0.5, np.array([20.0, 120.0]), 0.4, 1e-4)
    assert_array_equal(hot.clamped, [False, True])
    at_limit = ite_air_cooled(500.0, 100, 0.5, 99.0, 0.4, 1e-4)
    assert float(hot.cpu_power[1]) == pytest.approx(float(at_limit.cpu_power), rel=1e-15)


def test_results_broadcast_over_racks_and_time() -> None:
    """Per-rack design power (racks,) against loading over time (time × 1)."""
    design = np.array([400.0, 500.0, 600.0])
    loading = np.linspace(0.6, 1.0, 5)[:, np.newaxis]
    result = ite_air_cooled(design, 10, loading, 25.0, 0.3, 1.2e-4)
    assert result.cpu_power.shape == (5, 3)
    assert_allclose(result.cpu_power[:, 2] / result.cpu_power[:, 0], 1.5, rtol=1e-12)


def test_nan_inputs_give_nan_outputs() -> None:
    """A gap in the loading series stays a gap (no silent zero power or outlet = inlet)."""
    result = ite_air_cooled(500.0, 100, np.array([np.nan, 1.0]), 15.0, 0.4, 1e-4)
    assert np.isnan(result.cpu_power[0]) and np.isnan(result.outlet_temperature[0])
    assert not np.isnan(result.outlet_temperature[1])


def test_server_fans_above_the_knee_follow_the_energyplus_example_curves() -> None:
    """The simulation's server fan model (``physics.airflow``) against the EnergyPlus ITE
    example at full CPU loading: airflow curve −1.4 + 0.9·x + 0.1·T_in (1 at 15 °C), ECM fan
    curve linear in airflow fraction.  With the knee at the example's 15 °C design inlet,
    slope 0.1 /K and the linear fan curve, airflow fraction and fan power are the example's
    from 15 to 35 °C (exact: the same linear functions); below the knee they stay at design.
    """
    inlet = np.linspace(15.0, 35.0, 9)
    example = ite_air_cooled(500.0, 100, 1.0, inlet, 0.4, 1e-4)
    fraction = server_airflow_fraction(inlet, 15.0, 0.1)
    assert_allclose(fraction * 5.0, example.airflow, rtol=1e-12)
    assert_allclose(server_fan_power(20e3, inlet, 15.0, 0.1, 1.0), example.fan_power, rtol=1e-12)
    assert_allclose(server_airflow_fraction(np.array([5.0, 14.0]), 15.0, 0.1), 1.0)
    # the default affinity-law curve: power ∝ airflow fraction cubed
    assert float(server_fan_power(1.0, 25.0, 15.0, 0.1)) == pytest.approx(2.0**3)
