"""Tests of moist-air psychrometrics against the 2017 ASHRAE Handbook — Fundamentals, ch. 1."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy.optimize import brentq

from physics.constants import STANDARD_PRESSURE
from physics.psychrometrics import (
    humidity_ratio,
    humidity_ratio_from_wet_bulb,
    outdoor_temperatures,
    pressure_at_elevation,
    saturation_humidity_ratio,
    saturation_vapor_pressure,
    wet_bulb_temperature,
)

# --------------------------------------------------------------------------------------------
# Published reference values
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("temperature", "pressure"),
    [
        (-20.0, 103.24),
        (-5.0, 401.74),
        (5.0, 872.6),
        (25.0, 3169.7),
        (50.0, 12351.3),
        (100.0, 101418.0),
        (150.0, 476101.4),
    ],
)
def test_saturation_vapor_pressure_matches_ashrae_table_3(
    temperature: float, pressure: float
) -> None:
    """ASHRAE Handbook — Fundamentals 2017, ch. 1, Table 3 (saturation pressure of water).

    Tolerance 3e-4 relative: ASHRAE states that eqs. 5/6 reproduce the tabulated values within
    300 ppm (the table comes from the full IAPWS formulation, not from eqs. 5/6).  Points below
    0 °C use the ice branch (eq. 5), the others eq. 6.
    """
    assert float(saturation_vapor_pressure(temperature)) == pytest.approx(pressure, rel=3e-4)


def test_saturation_vapor_pressure_at_minus_60_matches_ashrae_table_3() -> None:
    """ASHRAE 2017 ch. 1 Table 3 at -60 °C: 1.08 Pa (printed to 0.01 Pa).

    The 300 ppm claim does not hold this far down (eq. 5 gives 1.0817 Pa, 0.15 % high), so
    the check is against the printed resolution: 0.01 Pa absolute.
    """
    assert float(saturation_vapor_pressure(-60.0)) == pytest.approx(1.08, abs=0.01)


@pytest.mark.parametrize(
    ("elevation", "pressure"),
    [
        (-500.0, 107478.0),
        (0.0, 101325.0),
        (500.0, 95461.0),
        (1000.0, 89875.0),
        (4000.0, 61640.0),
        (10000.0, 26436.0),
    ],
)
def test_pressure_at_elevation_matches_ashrae_table_1(elevation: float, pressure: float) -> None:
    """ASHRAE Handbook — Fundamentals 2017, ch. 1, Table 1 (U.S. Standard Atmosphere 1976).

    Tolerance 1 Pa: the table prints pressure to 0.001 kPa (rounding ≤ 0.5 Pa) and eq. 3 is
    a fit of the standard atmosphere; the largest difference seen is 0.48 Pa (at 1000 m).
    """
    assert float(pressure_at_elevation(elevation)) == pytest.approx(pressure, abs=1.0)


def test_ashrae_example_1_wet_bulb_40_20() -> None:
    """ASHRAE Handbook — Fundamentals 2017, ch. 1, Example 1.

    Moist air at 40 °C dry bulb, 20 °C thermodynamic wet bulb, 101.325 kPa.  The handbook's
    answers: W = 0.0065 kg/kg, h = 56.7 kJ/kg, φ = 14 %.

    * W to 1e-4 kg/kg.  The printed 0.0065 is not the rounding of the handbook's own
      arithmetic: with its W*_s = 0.01470 eq. 33 gives 0.00641, and the enthalpy it prints
      (56.7 kJ/kg = 1.006·40 + W·(2501 + 1.86·40)) needs W = 0.00637–0.00641.  We get
      0.006401; 1e-4 is the discrepancy between the printed W and its own enthalpy.
    * h from eq. 32 with our W to 0.05 kJ/kg (half the printed last digit) — the tight check.
    * Wet bulb back from φ = 14 %: φ is printed to 1 %, i.e. ±0.5 %, and ∂t*/∂φ at 40 °C is
      0.35 K per %, so the wet bulb is known to ±0.18 K; tolerance 0.2 K.
    """
    w = float(humidity_ratio_from_wet_bulb(40.0, 20.0, 101_325.0))
    assert w == pytest.approx(0.0065, abs=1e-4)
    enthalpy = 1.006 * 40.0 + w * (2501.0 + 1.86 * 40.0)  # ASHRAE eq. 32 [kJ/kg]
    assert enthalpy == pytest.approx(56.7, abs=0.05)
    assert float(wet_bulb_temperature(40.0, 14.0, 101_325.0)) == pytest.approx(20.0, abs=0.2)


# --------------------------------------------------------------------------------------------
# Identities and properties
# --------------------------------------------------------------------------------------------


def test_saturated_air_has_wet_bulb_equal_to_dry_bulb() -> None:
    """At 100 % RH the psychrometric equation gives t* = t exactly (both branches).

    Tolerance 1e-9 K: bisection to a bracket below 1e-13 K plus rounding.
    """
    dry = np.array([-30.0, -5.0, 0.5, 20.0, 45.0])
    assert_allclose(wet_bulb_temperature(dry, 100.0), dry, atol=1e-9)
    assert_allclose(
        humidity_ratio(dry, 100.0), saturation_humidity_ratio(dry), rtol=1e-12, atol=0.0
    )


def test_wet_bulb_broadcasts_and_stays_between_dew_point_and_dry_bulb() -> None:
    """Shapes follow numpy broadcasting; t_dew ≤ t* ≤ t (fundamental ordering)."""
    dry = np.linspace(-20.0, 45.0, 14)[:, np.newaxis]
    rh = np.array([5.0, 30.0, 60.0, 90.0])
    pressure = pressure_at_elevation(np.array([0.0, 500.0, 1500.0, 2500.0]))
    wet = wet_bulb_temperature(dry, rh, pressure)
    assert wet.shape == (14, 4)
    assert np.all(wet <= dry + 1e-9)
    # dew point: temperature whose saturation pressure equals the vapour pressure
    vapor = rh / 100.0 * saturation_vapor_pressure(dry)
    assert np.all(saturation_vapor_pressure(wet) >= vapor * (1 - 1e-9))


def test_scalar_in_gives_zero_dimensional_out() -> None:
    """Scalars in give a 0-d array usable as a float (30 °C, 50 % RH → about 22.0 °C)."""
    wet = wet_bulb_temperature(30.0, 50.0)
    assert np.ndim(wet) == 0
    assert float(wet) == pytest.approx(22.0, abs=0.05)


def test_nan_inputs_give_nan() -> None:
    """Weather gaps stay gaps: NaN in any input gives a NaN wet bulb."""
    wet = wet_bulb_temperature([np.nan, 20.0, 20.0], [50.0, np.nan, 50.0], [1e5, 1e5, np.nan])
    assert np.all(np.isnan(wet))


def _psychrometric_residual(
    wet: float, dry: float, target: float, pressure: float, ice: bool
) -> float:
    """ASHRAE 2017 ch. 1 eq. 33 (water film) or eq. 35 (ice film), written out independently
    of the module's implementation, minus the target humidity ratio."""
    p_ws = float(saturation_vapor_pressure(wet))
    w_s = 0.621945 * p_ws / (pressure - p_ws)
    if ice:
        w = ((2830.0 - 0.24 * wet) * w_s - 1.006 * (dry - wet)) / (2830.0 + 1.86 * dry - 2.1 * wet)
    else:
        w = ((2501.0 - 2.326 * wet) * w_s - 1.006 * (dry - wet)) / (
            2501.0 + 1.86 * dry - 4.186 * wet
        )
    return w - target


@settings(max_examples=300, deadline=None)
@example(dry=16.0, rh=1.0, pressure=60_000.0)  # both branches have a root here
@example(dry=29.0, rh=100.0, pressure=60_000.0)  # saturated, water branch
@example(dry=-3.0, rh=100.0, pressure=60_000.0)  # saturated, ice branch
@given(
    dry=st.floats(-40.0, 60.0),
    rh=st.floats(0.5, 100.0),
    pressure=st.floats(60_000.0, 108_000.0),
)
def test_wet_bulb_matches_brute_force_root_finder(dry: float, rh: float, pressure: float) -> None:
    """The vectorized bisection agrees with scipy's brentq on the same equation.

    Branch convention (documented in ``wet_bulb_temperature``): the water-film root of eq. 33
    on [0, t] when one exists, else the ice-film root of eq. 35 on [-100, min(t, 0)] °C —
    both branches can have a root when the wet bulb is near 0 °C in dry air (e.g. 16 °C,
    1 % RH, 60 kPa: 0.26 °C on eq. 33 and -0.60 °C on eq. 35).  brentq brackets each branch
    on its own.  Tolerance 1e-6 K: brentq runs to xtol 1e-12 and the bisection bracket ends
    below 1e-13 K; the rest is slack for the residual's flatness near saturation.
    """
    target = float(humidity_ratio(dry, rh, pressure))
    args_water = (dry, target, pressure, False)
    args_ice = (dry, target, pressure, True)
    saturated = args_water if dry >= 0.0 else args_ice
    if abs(_psychrometric_residual(dry, *saturated)) < 1e-12:
        # saturated air: the root is the bracket end itself (wet bulb = dry bulb), where
        # rounding can give the residual either sign and brentq cannot bracket it
        reference = dry
    elif dry >= 0.0 and _psychrometric_residual(0.0, *args_water) <= 0.0:
        reference = brentq(_psychrometric_residual, 0.0, dry, args=args_water, xtol=1e-12)
    else:
        reference = brentq(
            _psychrometric_residual,
            -100.0,
            min(dry, 0.0),
            args=(dry, target, pressure, True),
            xtol=1e-12,
        )
    assert float(wet_bulb_temperature(dry, rh, pressure)) == pytest.approx(reference, abs=1e-6)


def test_standard_pressure_is_the_default() -> None:
    """The default pressure is sea level: passing 101 325 Pa changes nothing."""
    assert float(humidity_ratio(25.0, 50.0)) == float(humidity_ratio(25.0, 50.0, STANDARD_PRESSURE))
    assert float(humidity_ratio(25.0, 50.0, 80_000.0)) > float(humidity_ratio(25.0, 50.0))


def test_outdoor_wet_bulb_of_a_series_seen_before_is_exact_and_the_callers_own() -> None:
    """``outdoor_temperatures`` remembers the wet bulbs of the series it has seen (a plan
    simulates one look-ahead a dozen times): a repeat gives the same bytes as computing
    afresh, as an array of its own; a series differing in one value or in elevation is
    computed for what it is."""
    rng = np.random.default_rng(11)
    dry = rng.uniform(-10.0, 40.0, 96)
    rh = rng.uniform(5.0, 100.0, 96)
    series = {"outdoor_temperature": _Values(dry), "relative_humidity": _Values(rh)}
    pressure = pressure_at_elevation(350.0)
    expected = np.asarray(wet_bulb_temperature(dry, rh, pressure))
    _, first = outdoor_temperatures(series, 350.0)
    first[:] = np.nan  # the caller's array: the next call is not affected
    _, again = outdoor_temperatures(series, 350.0)
    assert again.tobytes() == expected.tobytes()
    assert again is not first
    changed = rh.copy()
    changed[40] += 1.0
    series["relative_humidity"] = _Values(changed)
    _, other = outdoor_temperatures(series, 350.0)
    assert other.tobytes() == np.asarray(wet_bulb_temperature(dry, changed, pressure)).tobytes()
    assert other[40] != expected[40]
    _, higher = outdoor_temperatures(series, 1500.0)
    assert (
        higher.tobytes()
        == np.asarray(wet_bulb_temperature(dry, changed, pressure_at_elevation(1500.0))).tobytes()
    )


class _Values:
    """A series entry as ``outdoor_temperatures`` reads it (``.values``)."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values
