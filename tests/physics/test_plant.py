"""Tests of the chiller plant: EIR chiller curves, economizer, staging, pumps and fans.

Reference chiller: EnergyPlus dataset record "ElectricEIRChiller McQuay WSC 471kW/5.89COP/
Vanes" (DataSets/Chillers.idf): 471.2 kW, COP 5.89 at 8.89 °C leaving chilled water and
26.67 °C entering condenser water.  At those reference temperatures its curves are not
exactly 1: CAPFT = 0.998540 and EIRFT = 1.003788 (and EIRFPLR(1) = 1.0001), so "full load"
there is 470.51 kW of cooling, not 471.2 kW.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from physics.chiller_records import CHILLER_RECORDS, chiller_from_energyplus, chiller_record
from physics.plant import (
    ASHRAE_90_1_VSD_FAN_COEFFICIENTS,
    BiquadraticCurve,
    ChillerEIR,
    ChillerPlant,
    QuadraticCurve,
    affinity_power,
    chiller_performance,
    fan_part_load_power,
    plant_performance,
)
from physics.schedule import as_operated_schedule
from physics.simulate import simulate, summarize
from physics.warnings import CurveRangeWarning
from twin.data.series import scenario_series
from twin.scenario.compile import compile_facility
from twin.scenario.loader import scenario_from_dict

ROOT = Path(__file__).resolve().parents[2]

MCQUAY = ChillerEIR.mcquay_wsc_471kw()
T_CHW_REF = 8.89
T_COND_REF = 26.67


def _plant(chiller_count: int = 2, redundant: int = 1, **kwargs: Any) -> ChillerPlant:
    """A plant of McQuay WSC chillers with round-number auxiliaries."""
    return ChillerPlant(
        chiller=MCQUAY,
        chiller_count=chiller_count,
        redundant_chillers=redundant,
        tower_fan_design_power=8_000.0,
        chilled_water_pump_design_power=6_000.0,
        condenser_pump_design_power=8_000.0,
        **kwargs,
    )


# --------------------------------------------------------------------------------------------
# Reference cases: McQuay WSC 471 kW
# --------------------------------------------------------------------------------------------


def test_mcquay_full_load_at_reference_conditions() -> None:
    """McQuay WSC record at 8.89 °C / 26.67 °C and PLR = 1 draws 80.19 kW.

    Reference: the EnergyPlus Chillers.idf record evaluated with the Engineering Reference
    equations: P = 471.2 kW / 5.89 · CAPFT 0.998540 · EIRFT 1.003788 · EIRFPLR(1) 1.0001
    = 80.19 kW, delivering 470.51 kW (COP 5.867).  Tolerance 5 W: the figure is quoted to
    0.01 kW.  (80.19 kW is *not* what a 471.0 kW load gives: that is PLR 1.0010 and
    80.29 kW; the often-quoted "COP 5.876" is reference capacity / power, 471.2/80.19.)
    """
    full_load = MCQUAY.reference_capacity * float(MCQUAY.capft(T_CHW_REF, T_COND_REF))
    result = chiller_performance(MCQUAY, full_load, T_CHW_REF, T_COND_REF)
    assert float(result.part_load_ratio) == pytest.approx(1.0, abs=1e-12)
    assert float(result.power) == pytest.approx(80_190.0, abs=5.0)
    assert float(result.cop) == pytest.approx(5.867, abs=5e-4)
    assert MCQUAY.reference_capacity / float(result.power) == pytest.approx(5.876, abs=5e-4)
    assert float(result.unmet_load) == 0.0
    assert not bool(result.clamped)


def test_mcquay_half_load_at_reference_conditions() -> None:
    """McQuay WSC record at 8.89 °C / 26.67 °C, load 235.6 kW (half of 471.2 kW): 41.49 kW.

    Reference: hand evaluation of the record, PLR = 235.6/470.51 = 0.50073,
    EIRFPLR = 0.2778889 + 0.2338363·PLR + 0.4883748·PLR² = 0.51744,
    P = 470.51/5.89 · 1.003788 · 0.51744 = 41.49 kW.  Tolerance 5 W (quoted to 0.01 kW).
    """
    result = chiller_performance(MCQUAY, 235_600.0, T_CHW_REF, T_COND_REF)
    assert float(result.part_load_ratio) == pytest.approx(0.50073, abs=1e-5)
    assert float(result.power) == pytest.approx(41_490.0, abs=5.0)
    assert float(result.cycling_ratio) == 1.0
    assert float(result.false_load) == 0.0


def test_mcquay_iplv_matches_energyplus_standard_ratings_unit_test() -> None:
    """IPLV of the McQuay WSC record = 5.44 (SI), as EnergyPlus computes it.

    Reference: EnergyPlus unit test ``StandardRatings.ChillerIPLVTestWaterCooled``
    (tst/EnergyPlus/unit/StandardRatings.unit.cc), which builds this record (471.2 kW, COP
    5.89, min unloading 0.1, curve limits 7.22–12.78 / 12.78–26.67 °C, PLR 0–1.15) and
    expects ``round(IPLV, 2) == 5.44``.  ``CalcChillerIPLV`` runs the chiller at 100/75/50/
    25 % of the rated capacity RefCap·CAPFT(6.67 °C, 30 °C), 6.67 °C leaving chilled water,
    entering condenser 8 + 22·load (°C) above 50 % load and 19 °C otherwise, takes COP =
    load / power (all four PLRs are above the minimum unloading ratio, so no degradation
    factor) and weights them 0.01/0.42/0.45/0.12.  Both curve inputs are outside the limits
    at some points (6.67 °C < 7.22 °C; 30 °C > 26.67 °C) and are clamped, as in EnergyPlus —
    hence the expected warning.  Tolerance 0.005: EnergyPlus checks the value rounded to
    two decimals; we get 5.4386.
    """
    fractions = np.array([1.0, 0.75, 0.5, 0.25])
    weights = np.array([0.01, 0.42, 0.45, 0.12])
    condenser = np.where(fractions > 0.5, 8.0 + 22.0 * fractions, 19.0)
    rated_capacity = MCQUAY.reference_capacity * float(MCQUAY.capft(6.67, condenser[0]))
    load = fractions * rated_capacity
    with pytest.warns(CurveRangeWarning, match="leaving chilled water temperature"):
        result = chiller_performance(MCQUAY, load, 6.67, condenser)
    assert np.all(result.part_load_ratio >= MCQUAY.min_unloading_ratio)
    assert np.all(result.clamped)
    iplv = float(np.sum(weights * load / result.power))
    assert iplv == pytest.approx(5.44, abs=0.005)


def test_leaving_chilled_water_at_2c_warns_once_and_clamps() -> None:
    """2 °C leaving chilled water is below the 7.22 °C curve limit: one warning, clamped.

    The warning names the input, the range seen and the limits; the result equals the
    evaluation at the limit (EnergyPlus clamps curve inputs).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = chiller_performance(MCQUAY, [200e3, 300e3], [2.0, 3.0], T_COND_REF)
    messages = [str(w.message) for w in caught if issubclass(w.category, CurveRangeWarning)]
    assert len(messages) == 1
    assert "leaving chilled water temperature seen 2 to 3 °C" in messages[0]
    assert "limits 7.22 to 12.78 °C" in messages[0]
    assert "entering condenser" not in messages[0]
    assert_array_equal(result.clamped, [True, True])
    at_limit = chiller_performance(MCQUAY, [200e3, 300e3], 7.22, T_COND_REF)
    assert_allclose(result.power, at_limit.power, rtol=1e-15)


def test_no_warning_when_told_not_to_or_when_off() -> None:
    """``warn=False`` silences the warning (the mask remains); zero load never warns."""
    result = chiller_performance(MCQUAY, 200e3, 2.0, T_COND_REF, warn=False)
    assert bool(result.clamped)
    off = chiller_performance(MCQUAY, 0.0, 2.0, 40.0)
    assert not bool(off.clamped)


# --------------------------------------------------------------------------------------------
# Chiller model logic
# --------------------------------------------------------------------------------------------


def test_zero_load_gives_zero_power_and_undefined_cop() -> None:
    result = chiller_performance(MCQUAY, [0.0, -5.0], T_CHW_REF, T_COND_REF)
    assert_array_equal(result.power, [0.0, 0.0])
    assert_array_equal(result.unmet_load, [0.0, 0.0])
    assert np.all(np.isnan(result.cop))


def test_load_above_maximum_part_load_ratio_is_unmet() -> None:
    """The chiller runs at PLR_max = 1.15 and the rest of the load is reported unmet."""
    available = MCQUAY.reference_capacity * float(MCQUAY.capft(T_CHW_REF, T_COND_REF))
    result = chiller_performance(MCQUAY, 600e3, T_CHW_REF, T_COND_REF)
    assert float(result.part_load_ratio) == pytest.approx(1.15)
    assert float(result.unmet_load) == pytest.approx(600e3 - 1.15 * available)


def test_cycling_below_minimum_part_load_ratio() -> None:
    """Below PLR_min = 0.1 power scales with the cycling ratio PLR/PLR_min (EnergyPlus FRAC).

    With MUR = PLR_min = 0.1, P(PLR 0.05) = 0.5·P(PLR 0.1) exactly and there is no false load.
    """
    available = MCQUAY.reference_capacity * float(MCQUAY.capft(T_CHW_REF, T_COND_REF))
    result = chiller_performance(MCQUAY, [0.05 * available, 0.1 * available], 8.89, 26.67)
    assert_allclose(result.cycling_ratio, [0.5, 1.0])
    assert float(result.power[0]) == pytest.approx(0.5 * float(result.power[1]), rel=1e-12)
    assert_array_equal(result.false_load, [0.0, 0.0])


def test_false_loading_below_minimum_unloading_ratio() -> None:
    """Between PLR_min and MUR the chiller draws the power of PLR = MUR (hot-gas bypass).

    Chiller with PLR_min 0.1 and MUR 0.25, at PLR 0.2: EIRFPLR is evaluated at 0.25, no
    cycling, and the false load is AvailCap·(0.25 − 0.2).
    """
    chiller = ChillerEIR(
        reference_capacity=MCQUAY.reference_capacity,
        reference_cop=MCQUAY.reference_cop,
        capft=MCQUAY.capft,
        eirft=MCQUAY.eirft,
        eirfplr=MCQUAY.eirfplr,
        min_part_load_ratio=0.1,
        max_part_load_ratio=1.15,
        min_unloading_ratio=0.25,
    )
    available = chiller.reference_capacity * float(chiller.capft(T_CHW_REF, T_COND_REF))
    result = chiller_performance(chiller, 0.2 * available, T_CHW_REF, T_COND_REF)
    expected = (
        available
        / chiller.reference_cop
        * float(chiller.eirft(T_CHW_REF, T_COND_REF))
        * float(chiller.eirfplr(0.25))
    )
    assert float(result.power) == pytest.approx(expected, rel=1e-12)
    assert float(result.false_load) == pytest.approx(0.05 * available, rel=1e-12)
    assert float(result.cycling_ratio) == 1.0


def test_scaled_chiller_keeps_curves_and_scales_power() -> None:
    """A 2 MW chiller with the McQuay curves: same PLR → power ∝ capacity / COP."""
    big = MCQUAY.scaled(2e6, 6.5)
    assert big.capft == MCQUAY.capft and big.eirfplr == MCQUAY.eirfplr
    small = chiller_performance(MCQUAY, 0.7 * MCQUAY.reference_capacity, 10.0, 20.0)
    large = chiller_performance(big, 0.7 * 2e6, 10.0, 20.0)
    assert float(large.part_load_ratio) == pytest.approx(float(small.part_load_ratio))
    ratio = (2e6 / 6.5) / (MCQUAY.reference_capacity / MCQUAY.reference_cop)
    assert float(large.power) == pytest.approx(ratio * float(small.power), rel=1e-12)
    assert MCQUAY.scaled(1e6).reference_cop == MCQUAY.reference_cop


def test_chiller_rejects_inconsistent_part_load_limits() -> None:
    with pytest.raises(ValueError, match="min unloading ratio"):
        ChillerEIR(
            reference_capacity=1e5,
            reference_cop=5.0,
            capft=MCQUAY.capft,
            eirft=MCQUAY.eirft,
            eirfplr=MCQUAY.eirfplr,
            min_part_load_ratio=0.3,
            min_unloading_ratio=0.2,
        )


def test_chiller_power_broadcasts_over_time_and_chillers() -> None:
    """Load (time × 1) against temperatures (1 × chillers) gives a time × chillers result."""
    load = np.linspace(50e3, 450e3, 7)[:, np.newaxis]
    leaving = np.array([7.5, 9.0, 11.0])
    result = chiller_performance(MCQUAY, load, leaving, 20.0)
    assert result.power.shape == (7, 3)
    single = chiller_performance(MCQUAY, float(load[3, 0]), 9.0, 20.0)
    assert float(result.power[3, 1]) == pytest.approx(float(single.power), rel=1e-15)


# --------------------------------------------------------------------------------------------
# Curves, fans and pumps
# --------------------------------------------------------------------------------------------


def test_biquadratic_curve_formula_and_clamping() -> None:
    """f = c0 + c1 x + c2 x² + c3 y + c4 y² + c5 x y, inputs clamped to the limits."""
    curve = BiquadraticCurve((1.0, 2.0, 3.0, 4.0, 5.0, 6.0), 0.0, 2.0, -1.0, 1.0)
    assert float(curve(0.5, 0.5)) == pytest.approx(
        1 + 2 * 0.5 + 3 * 0.25 + 4 * 0.5 + 5 * 0.25 + 6 * 0.25
    )
    assert float(curve(5.0, -3.0)) == float(curve(2.0, -1.0))
    assert_array_equal(curve.out_of_range([0.5, 5.0, 1.0], [0.0, 0.0, 1.5]), [False, True, True])
    limited = BiquadraticCurve((1.0, 0, 0, 0, 0, 0), 0, 1, 0, 1, output_min=0.0, output_max=0.5)
    assert float(limited(0.5, 0.5)) == 0.5


def test_quadratic_curve_clamps_input() -> None:
    curve = QuadraticCurve((0.0, 0.0, 1.0), 0.0, 1.0)
    assert_allclose(curve([-1.0, 0.5, 2.0]), [0.0, 0.25, 1.0])
    assert_array_equal(curve.out_of_range([-1.0, 0.5, 2.0]), [True, False, True])


def test_affinity_law_half_flow_is_one_eighth_power() -> None:
    """Fan/pump affinity law with exponent 3: half flow → 1/8 of design power."""
    assert float(affinity_power(8_000.0, 0.5)) == pytest.approx(1_000.0, rel=1e-15)
    assert float(affinity_power(8_000.0, 0.5, exponent=2.0)) == pytest.approx(2_000.0)
    assert float(affinity_power(8_000.0, -0.1)) == 0.0


def test_ashrae_90_1_vsd_fan_curve() -> None:
    """ASHRAE 90.1 Appendix G Table G3.1.3.15 Method 2: 0.0013 + 0.1470 f + 0.9506 f² − 0.0998 f³.

    At f = 1 it is 0.9991 (the published coefficients do not sum to 1); at f = 0.5 it is
    0.0013 + 0.0735 + 0.23765 − 0.012475 = 0.299975.  Off (f = 0) gives zero power.
    """
    assert ASHRAE_90_1_VSD_FAN_COEFFICIENTS == (0.0013, 0.1470, 0.9506, -0.0998, 0.0)
    power = fan_part_load_power(10_000.0, [1.0, 0.5, 0.0])
    assert_allclose(power, [9_991.0, 2_999.75, 0.0], rtol=1e-12)
    floored = fan_part_load_power(10_000.0, 0.1, minimum_flow_fraction=0.5)
    assert float(floored) == pytest.approx(2_999.75)


# --------------------------------------------------------------------------------------------
# Plant: economizer, staging, auxiliaries
# --------------------------------------------------------------------------------------------


def test_cold_wet_bulb_gives_full_free_cooling() -> None:
    """Wet bulb 0 °C: tower water at its 13 °C floor, economizer leaves 14.5 °C ≤ 15 °C supply.

    Chillers off (zero power, none running); tower fans and pumps still run.
    """
    plant = _plant(minimum_condenser_temperature=13.0, economizer_approach=1.5)
    result = plant_performance(plant, 300e3, 15.0, 0.0)
    assert float(result.economizer_fraction) == 1.0
    assert float(result.chiller_power) == 0.0
    assert int(result.chillers_running) == 0
    assert float(result.tower_water_temperature) == 13.0
    assert float(result.pump_power) > 0.0 and float(result.tower_fan_power) > 0.0
    assert float(result.total_power) == pytest.approx(
        float(result.pump_power) + float(result.tower_fan_power)
    )


def test_hot_wet_bulb_runs_chillers_only() -> None:
    """Wet bulb 20 °C: tower water 23.9 °C, economizer leaving 25.4 °C ≥ 16 °C return → off."""
    plant = _plant()
    result = plant_performance(plant, 300e3, 10.0, 20.0)
    assert float(result.economizer_fraction) == 0.0
    assert float(result.chiller_load) == 300e3
    alone = chiller_performance(MCQUAY, 300e3, 10.0, 23.9)
    assert float(result.chiller_power) == pytest.approx(float(alone.power), rel=1e-12)


def test_intermediate_wet_bulb_gives_partial_economizer_fraction() -> None:
    """Supply 10 °C, ΔT 6 K, wet bulb 10 °C: T_tw = 13.9, T_econ = 15.4, return 16 °C.

    Fraction carried free = (16 − 15.4)/(16 − 10) = 0.1; the chillers carry the other 90 %
    with 13.9 °C condenser water.
    """
    plant = _plant(tower_approach=3.9, economizer_approach=1.5, chilled_water_delta_t=6.0)
    result = plant_performance(plant, 400e3, 10.0, 10.0)
    assert float(result.economizer_fraction) == pytest.approx(0.1, abs=1e-12)
    assert float(result.chiller_load) == pytest.approx(360e3)
    alone = chiller_performance(MCQUAY, 360e3, 10.0, 13.9)
    assert float(result.chiller_power) == pytest.approx(float(alone.power), rel=1e-12)


def test_disabled_economizer_carries_nothing() -> None:
    plant = _plant(economizer_enabled=False)
    result = plant_performance(plant, 300e3, 15.0, 0.0, warn=False)
    assert float(result.economizer_fraction) == 0.0
    assert int(result.chillers_running) == 1


def test_load_above_one_chiller_runs_two_at_equal_part_load() -> None:
    """Load 5 % above one chiller's available capacity starts a second; each runs at PLR 0.525."""
    plant = _plant(chiller_count=3, economizer_enabled=False)
    available = MCQUAY.reference_capacity * float(MCQUAY.capft(10.0, 23.9))
    result = plant_performance(plant, 1.05 * available, 10.0, 20.0)
    assert int(result.chillers_running) == 2
    each = chiller_performance(MCQUAY, 0.525 * available, 10.0, 23.9)
    assert float(result.chiller_power) == pytest.approx(2 * float(each.power), rel=1e-12)
    exactly_one = plant_performance(plant, available, 10.0, 20.0)
    assert int(exactly_one.chillers_running) == 1


def test_load_beyond_all_installed_chillers_is_unmet() -> None:
    """Two installed chillers at PLR_max 1.15 carry 2·1.15·AvailCap; the rest is unmet."""
    plant = _plant(chiller_count=2, economizer_enabled=False)
    available = MCQUAY.reference_capacity * float(MCQUAY.capft(10.0, 23.9))
    result = plant_performance(plant, 3.0 * available, 10.0, 20.0)
    assert int(result.chillers_running) == 2
    assert float(result.unmet_load) == pytest.approx((3.0 - 2.3) * available, rel=1e-12)


def test_pumps_follow_affinity_from_flow_fraction() -> None:
    """Flow fraction = carried load / firm capacity, floored at minimum speed.

    Firm capacity of 2 × 471.2 kW with one redundant is 471.2 kW.  At that load pumps draw
    design power (6 + 8 kW); at 10 % they sit at the 0.3 floor: 14 kW · 0.3^2.5.
    """
    plant = _plant(pump_affinity_exponent=2.5, minimum_pump_speed=0.3)
    full = plant_performance(plant, 471.2e3, 15.0, 0.0)
    low = plant_performance(plant, 47.12e3, 15.0, 0.0)
    none = plant_performance(plant, 0.0, 15.0, 0.0)
    assert float(full.pump_power) == pytest.approx(14_000.0)
    assert float(low.pump_power) == pytest.approx(14_000.0 * 0.3**2.5)
    assert float(none.total_power) == 0.0


def test_tower_fans_follow_rejected_heat() -> None:
    """In full free cooling the towers reject just the load: fan = design·(Q/Q_design)³.

    Design rejection defaults to firm capacity × (1 + 1/COP) = 471.2 kW × (1 + 1/5.89).
    """
    plant = _plant()
    design = 471.2e3 * (1 + 1 / 5.89)
    assert plant.design_heat_rejection == pytest.approx(design)
    result = plant_performance(plant, 0.5 * design, 15.0, 0.0)
    assert float(result.tower_fan_power) == pytest.approx(8_000.0 * 0.5**3)


def test_plant_warns_once_when_condenser_water_is_above_curve_range() -> None:
    """Wet bulb 25 °C gives 28.9 °C tower water, above the 26.67 °C curve limit."""
    with pytest.warns(CurveRangeWarning, match="entering condenser temperature seen 28.9"):
        result = plant_performance(_plant(), [200e3, 300e3], 10.0, 25.0)
    assert_array_equal(result.clamped, [True, True])


def test_nan_inputs_give_nan_outputs() -> None:
    """Gaps in the load or weather series stay gaps instead of turning into zero power."""
    result = plant_performance(_plant(), [300e3, np.nan, 300e3], 10.0, [np.nan, 10.0, 10.0])
    assert np.all(np.isnan(result.total_power[:2])) and np.all(np.isnan(result.chiller_power[:2]))
    assert not np.isnan(result.total_power[2])
    chiller = chiller_performance(MCQUAY, [np.nan, 1e5], [10.0, np.nan], 20.0)
    assert np.all(np.isnan(chiller.power)) and np.all(np.isnan(chiller.unmet_load))


def test_plant_result_broadcasts() -> None:
    """Load over time × wet bulb over time; scalar setpoint."""
    load = np.linspace(0.0, 900e3, 24)
    wet_bulb = np.linspace(-5.0, 16.0, 24)
    result = plant_performance(_plant(chiller_count=3), load, 12.0, wet_bulb)
    assert result.total_power.shape == (24,)
    assert result.chillers_running.dtype == np.int64


# --------------------------------------------------------------------------------------------
# Monotonicity properties (and where the EIR curves break them)
# --------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    leaving=st.tuples(st.floats(7.22, 12.78), st.floats(7.22, 12.78)),
    condenser=st.floats(12.78, 26.67),
    fraction=st.floats(0.8, 1.0),
)
def test_warmer_chilled_water_never_raises_power_at_high_part_load(
    leaving: tuple[float, float], condenser: float, fraction: float
) -> None:
    """Higher leaving chilled water never increases chiller power at fixed load, PLR ≥ 0.8.

    Restricted to curve range and PLR ≥ 0.8 (at both temperatures): below PLR ≈ 0.78 the
    McQuay record breaks the property — see the next test.  Tolerance 1e-9 relative:
    floating-point rounding only.
    """
    low, high = sorted(leaving)
    available = MCQUAY.reference_capacity * MCQUAY.capft(np.array([low, high]), condenser)
    load = fraction * float(available.max())
    assume(load <= MCQUAY.max_part_load_ratio * float(available.min()))
    result = chiller_performance(MCQUAY, load, np.array([low, high]), condenser)
    assert float(result.power[1]) <= float(result.power[0]) * (1 + 1e-9)


def test_eir_model_power_rises_with_chilled_water_temperature_at_low_part_load() -> None:
    """Documents a property of the DOE-2/EIR form with the McQuay curves (not a bug here).

    P = AvailCap/COP·EIRFT·EIRFPLR(Q/AvailCap).  At fixed load Q, ∂P/∂AvailCap ∝
    a − c·PLR² with EIRFPLR = a + b·PLR + c·PLR² (a = 0.278, c = 0.488), which is positive
    below PLR = √(a/c) = 0.754.  CAPFT rises with leaving chilled water temperature at high
    condenser temperature, so at low PLR more capacity means more power: 100 kW at 26.67 °C
    condenser draws more at 8 °C than at 7.22 °C leaving water.  EnergyPlus gives the same.
    """
    result = chiller_performance(MCQUAY, 100e3, np.array([7.22, 8.0]), 26.67)
    assert float(result.power[1]) > float(result.power[0])


@settings(max_examples=300, deadline=None)
@given(
    wet_bulb=st.tuples(st.floats(-20.0, 16.0), st.floats(-20.0, 16.0)),
    supply=st.floats(7.22, 18.0),
    load=st.floats(0.0, 440e3),
)
def test_higher_wet_bulb_never_lowers_single_chiller_plant_power(
    wet_bulb: tuple[float, float], supply: float, load: float
) -> None:
    """Higher wet bulb never lowers total plant power (one chiller, tower water ≤ 19.9 °C).

    Covers all three economizer modes (supply up to 18 °C; chilled water above the 12.78 °C
    curve limit is clamped, hence ``warn=False``).  Restrictions, each for a reason found
    by searching the model:

    * one chiller: with capacity staging (``ceil(load/AvailCap)``) a staging change can lower
      power — three McQuay chillers at PLR 0.67 draw less than two at PLR 1.0;
    * wet bulb ≤ 16 °C (tower water ≤ 19.9 °C): above ~20 °C condenser water CAPFT falls with
      condenser temperature, and below PLR 0.754 the EIR form then *lowers* power (same
      mechanism as the test above);
    * load ≤ 440 kW so that nothing is unmet (1.15 × the lowest AvailCap in range, 447.6 kW).

    Tolerance 1e-9 relative: rounding only.
    """
    low, high = sorted(wet_bulb)
    plant = _plant(chiller_count=1, redundant=0)
    result = plant_performance(plant, load, supply, np.array([low, high]), warn=False)
    assert_array_equal(result.unmet_load, [0.0, 0.0])
    assert float(result.total_power[1]) >= float(result.total_power[0]) * (1 - 1e-9)
    assert float(result.economizer_fraction[1]) <= float(result.economizer_fraction[0])


def test_staging_runs_the_count_that_draws_least_power() -> None:
    """With the McQuay curves three chillers at PLR ≈ 0.67 draw less than two at PLR 1.0.

    EIRFPLR(1)·2 = 2.000 vs EIRFPLR(0.667)·3 = 1.953, so at exactly two chillers' capacity
    the plant stages the third one; below one chiller's minimum it never runs fewer than
    needed, and plant power is non-decreasing in load across the staging point.
    """
    plant = _plant(chiller_count=3, economizer_enabled=False)
    available = MCQUAY.reference_capacity * float(MCQUAY.capft(10.0, 23.9))
    loads = np.array([2.0, 2.001]) * available
    result = plant_performance(plant, loads, 10.0, 20.0)
    assert_array_equal(result.chillers_running, [3, 3])
    two = 2 * chiller_performance(MCQUAY, loads[0] / 2, 10.0, 23.9, warn=False).power
    assert float(result.chiller_power[0]) < float(two)
    assert float(result.chiller_power[1]) >= float(result.chiller_power[0])
    # every staged count carries the load: none runs above its maximum PLR
    assert np.all(result.unmet_load == 0.0)


# --------------------------------------------------------------------------------------------
# Economizer: the minimum condenser temperature is the chillers' limit, not the economizer's
# --------------------------------------------------------------------------------------------


def test_economizer_water_is_not_held_at_the_minimum_condenser_temperature() -> None:
    """Wet bulb −5 °C, 15 °C minimum condenser, supply 12 °C, ΔT 6 K, approaches 3.9/1.5 K.

    Tower water −1.1 °C is colder than the exchanger can use: the fans throttle to give
    12 − 1.5 = 10.5 °C, the economizer leaves 12 °C = supply, full free cooling.  (Held at
    15 °C, as before, the economizer would leave 16.5 °C and carry (18 − 16.5)/6 = 25 %.)
    The chillers' condenser water stays at the 15 °C minimum (bypass valve).
    """
    plant = _plant(minimum_condenser_temperature=15.0, economizer_approach=1.5)
    result = plant_performance(plant, 300e3, 12.0, -5.0)
    assert float(result.economizer_fraction) == 1.0
    assert float(result.economizer_water_temperature) == pytest.approx(10.5)
    assert float(result.tower_water_temperature) == 15.0
    assert float(result.chiller_power) == 0.0


def test_non_integrated_economizer_runs_only_when_it_carries_everything() -> None:
    """The partial case of the integrated test above (fraction 0.1) runs chillers only when
    the economizer is non-integrated; full free cooling is the same in both modes."""
    integrated = _plant(tower_approach=3.9, economizer_approach=1.5)
    separate = _plant(tower_approach=3.9, economizer_approach=1.5, economizer_integrated=False)
    assert float(plant_performance(integrated, 400e3, 10.0, 10.0).economizer_fraction) == (
        pytest.approx(0.1)
    )
    assert float(plant_performance(separate, 400e3, 10.0, 10.0).economizer_fraction) == 0.0
    assert float(plant_performance(separate, 400e3, 12.0, -5.0).economizer_fraction) == 1.0


@pytest.mark.requires_shared_data
def test_winter_week_in_frankfurt_runs_on_free_cooling(shared_data: Path) -> None:
    """Real weather: the demo hall over the week of Monday 16 January 2023 in the DE-LU zone
    (Open-Meteo hourly weather for Frankfurt, ``../shared/data/grid/DE-LU``), dry bulb
    −3.3 to 6.3 °C, wet bulb at most 4.3 °C; inference load constant at 60 %.

    Every step is on full free cooling (168 economizer hours, chillers off).  Measured
    figures: cooling energy 15,592 kWh this way, 48,926 kWh with the economizer disabled
    (asserted: at least 60 % saved).  Before this fix (tower water held at the chillers'
    15 °C minimum) the same week gave 42 economizer hours (25 % of the load at every step,
    no step on full free cooling) and 40,927 kWh, 2.6 times the cooling energy.
    """
    scenario = scenario_from_dict(_winter_week(shared_data))
    facility = compile_facility(scenario)
    series = scenario_series(scenario, ROOT / "scenarios")
    temperature = series["outdoor_temperature"].values
    assert -3.5 < temperature.min() < -3.0 and 6.0 < temperature.max() < 6.5
    result = simulate(facility, as_operated_schedule(facility, series), series, per_rack=False)
    summary = summarize(result)
    assert summary["economizer_hours"] == pytest.approx(168.0)
    assert float(result["chiller_power"].max()) == 0.0
    disabled = dataclasses.replace(
        facility, plant=dataclasses.replace(facility.plant, economizer_enabled=False)
    )
    without = summarize(
        simulate(disabled, as_operated_schedule(disabled, series), series, per_rack=False)
    )
    saved = 1.0 - summary["cooling_energy_kwh"] / without["cooling_energy_kwh"]
    assert saved > 0.6
    assert summary["cooling_energy_kwh"] == pytest.approx(15_592, rel=0.01)


def _winter_week(data_dir: Path) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "scenarios" / "demo-hall.yaml").read_text(encoding="utf-8"))
    data["site"]["timezone"] = "Europe/Berlin"
    data["simulation"] = {"start": "2023-01-16T00:00:00+01:00", "duration": "7 d"}
    data["series"] = [
        {"zone": "DE-LU", "year": 2023, "data_dir": str(data_dir)},
        {"variable": "cpu_load", "constant": 0.6},
    ]
    data["grid"]["demand_response"] = []
    return data


# --------------------------------------------------------------------------------------------
# Chillers from named EnergyPlus records and from Chiller:Electric:EIR fields
# --------------------------------------------------------------------------------------------


def test_named_records_are_the_energyplus_dataset_records() -> None:
    """Each record's curves are normalized at its own rating point (CoolTools fits: CAPFT and
    EIRFT within 3 % of 1 there, EIRFPLR(1) within 0.2 %), and the McQuay record is the
    chiller the validation cases above use."""
    assert chiller_record("mcquay-wsc-471kw") == MCQUAY
    for name, record in CHILLER_RECORDS.items():
        chiller = chiller_record(name)
        at = (record.leaving_chilled_water, record.entering_condenser)
        assert float(chiller.capft(*at)) == pytest.approx(1.0, abs=0.03), name
        assert float(chiller.eirft(*at)) == pytest.approx(1.0, abs=0.03), name
        assert float(chiller.eirfplr(1.0)) == pytest.approx(1.0, abs=0.002), name
    with pytest.raises(KeyError, match="known: "):
        chiller_record("york-yk-9999kw")


def test_chiller_from_energyplus_fields_equals_the_record() -> None:
    """The Trane CVHF record written as Chiller:Electric:EIR fields gives the same chiller."""
    record = CHILLER_RECORDS["trane-cvhf-1758kw-vsd"]
    x_min, x_max = record.leaving_chilled_water_range
    y_min, y_max = record.entering_condenser_range

    def biquadratic(c: tuple[float, ...]) -> dict[str, float]:
        names = ("constant", "x", "x_2", "y", "y_2", "x_y")
        fields = {
            f"coefficient{i + 1}_{n}": v for i, (n, v) in enumerate(zip(names, c, strict=True))
        }
        return fields | {
            "minimum_value_of_x": x_min,
            "maximum_value_of_x": x_max,
            "minimum_value_of_y": y_min,
            "maximum_value_of_y": y_max,
        }

    fields = {
        "reference_capacity": record.capacity,
        "reference_cop": record.cop,
        "reference_leaving_chilled_water_temperature": record.leaving_chilled_water,
        "reference_entering_condenser_fluid_temperature": record.entering_condenser,
        "cooling_capacity_function_of_temperature_curve": biquadratic(record.capft),
        "electric_input_to_cooling_output_ratio_function_of_temperature_curve": biquadratic(
            record.eirft
        ),
        "electric_input_to_cooling_output_ratio_function_of_part_load_ratio_curve": {
            "coefficient1_constant": record.eirfplr[0],
            "coefficient2_x": record.eirfplr[1],
            "coefficient3_x_2": record.eirfplr[2],
            "minimum_value_of_x": 0.0,
            "maximum_value_of_x": record.part_load[1],
        },
        "minimum_part_load_ratio": record.part_load[0],
        "maximum_part_load_ratio": record.part_load[1],
        "minimum_unloading_ratio": record.part_load[2],
    }
    chiller = chiller_from_energyplus(fields, name=record.name)
    assert chiller == chiller_record("trane-cvhf-1758kw-vsd")
