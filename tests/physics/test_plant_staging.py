"""The plant's chiller staging evaluated for all counts in one call is bit-identical to the
per-count evaluation it replaced (issue 17)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from physics.plant import ChillerEIR, ChillerPlant, chiller_performance, plant_performance
from physics.warnings import CurveRangeWarning


def _plant(chiller_count: int) -> ChillerPlant:
    return ChillerPlant(
        chiller=ChillerEIR.mcquay_wsc_471kw(),
        chiller_count=chiller_count,
        redundant_chillers=min(1, chiller_count - 1),
        tower_fan_design_power=8_000.0,
        chilled_water_pump_design_power=6_000.0,
        condenser_pump_design_power=8_000.0,
    )


def _staged_one_count_at_a_time(
    plant: ChillerPlant, chiller_load: np.ndarray, t_sup: np.ndarray, tower: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The former staging: one ``chiller_performance`` call per count; returns the chosen
    count and the plant's chiller power [W]."""
    chiller = plant.chiller
    capacity_each = chiller.reference_capacity * chiller.capft(t_sup, tower)
    safe = np.where(capacity_each > 0.0, capacity_each, 1.0)
    fewest = np.clip(np.ceil(chiller_load / safe * (1.0 - 1e-12)), 1, plant.chiller_count)
    running = fewest.copy()
    best = np.full(chiller_load.shape, np.inf)
    for count in range(1, plant.chiller_count + 1):
        power = count * chiller_performance(chiller, chiller_load / count, t_sup, tower).power
        better = (count >= fewest) & (power < best * (1.0 - 1e-12))
        running = np.where(better, count, running)
        best = np.where(better, power, best)
    running = np.where(chiller_load > 0.0, running, 0).astype(np.int64)
    each = chiller_performance(chiller, chiller_load / np.maximum(running, 1), t_sup, tower)
    return running, each.power * running


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_vectorised_staging_is_bit_identical(count: int) -> None:
    rng = np.random.default_rng(17 + count)
    n = 4_000
    plant = _plant(count)
    # loads from none to beyond every chiller, setpoints and wet bulbs inside and outside
    # the curves' ranges, some NaN
    load = rng.uniform(0.0, 1.3 * count * 471.2e3, n)
    load[rng.random(n) < 0.05] = 0.0
    t_sup = rng.uniform(4.0, 22.0, n)
    t_wb = rng.uniform(-10.0, 32.0, n)
    t_wb[rng.random(n) < 0.01] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CurveRangeWarning)
        result = plant_performance(plant, load, t_sup, t_wb, warn=False)
        running, power = _staged_one_count_at_a_time(
            plant, result.chiller_load, t_sup, result.tower_water_temperature
        )
    valid = ~np.isnan(t_wb)
    assert np.any(running[valid] > 1) or count == 1
    assert_array_equal(result.chillers_running[valid], running[valid])
    assert_array_equal(result.chiller_power[valid], power[valid])  # bit for bit
    assert np.all(np.isnan(result.chiller_power[~valid]))


def test_vectorised_staging_keeps_shapes_and_the_warning() -> None:
    plant = _plant(3)
    scalar = plant_performance(plant, 300e3, 10.0, 20.0)
    assert np.ndim(scalar.chiller_power) == 0
    grid = plant_performance(plant, np.full((4, 6), 300e3), 10.0, 20.0)
    assert grid.chiller_power.shape == (4, 6)
    assert_array_equal(grid.chiller_power, np.full((4, 6), float(scalar.chiller_power)))
    with pytest.warns(CurveRangeWarning):
        plant_performance(plant, 300e3, 2.0, 20.0)
