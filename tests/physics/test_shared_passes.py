"""Electrical chain passes shared by the simulations of one facility (physics.electrical.shared):
the same results bit for bit, fewer passes computed."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import xarray as xr

import physics.simulate
from physics.electrical import Electrical, Topology, electrical_chain
from physics.electrical.shared import chain_pass, shared_chain_passes
from physics.facility import Facility
from physics.schedule import Schedule, as_operated_schedule
from physics.simulate import hottest_inlet, simulate
from physics.warnings import CurveRangeWarning

DemoDay = tuple[Facility, xr.Dataset]


@pytest.fixture
def computed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts the chain passes ``simulate`` computes (the real chain, counted)."""
    count = [0]

    def counting(facility: Facility, topology: Topology, rack_power: np.ndarray) -> Electrical:
        count[0] += 1
        return electrical_chain(facility, topology, rack_power)

    monkeypatch.setattr(physics.simulate, "electrical_chain", counting)
    yield count


def _at(facility: Facility, schedule: Schedule, supply: float) -> Schedule:
    steps = schedule.battery_power.size
    return dataclasses.replace(
        schedule, supply_temperature=np.full((steps, facility.units.count), supply)
    )


@pytest.mark.parametrize("chunk_steps", [None, 5])
def test_shared_passes_give_the_same_results_with_fewer_passes(
    demo_day: DemoDay, computed: list[int], chunk_steps: int | None
) -> None:
    """One workload at three setpoints (fans speeding up at the warmest): every result is
    identical to its simulation outside the context (values and attrs), and the first fan
    pass of each chunk is computed once."""
    facility, series = demo_day
    schedule = as_operated_schedule(facility, series)
    setpoints = (14.0, 22.0, 30.0)
    alone = [
        simulate(facility, _at(facility, schedule, s), series, chunk_steps=chunk_steps)
        for s in setpoints
    ]
    hottest = [
        hottest_inlet(facility, _at(facility, schedule, s), series, chunk_steps=chunk_steps)
        for s in setpoints
    ]
    computed_alone = computed[0]
    assert alone[-1].attrs["fan_iterations_max"] > 1  # later passes differ: computed
    computed[0] = 0
    with shared_chain_passes(facility) as passes:
        for s, expected, inlet in zip(setpoints, alone, hottest, strict=True):
            ds = simulate(facility, _at(facility, schedule, s), series, chunk_steps=chunk_steps)
            xr.testing.assert_identical(ds, expected)
            assert ds.attrs == expected.attrs
            assert (
                hottest_inlet(facility, _at(facility, schedule, s), series, chunk_steps=chunk_steps)
                == inlet
            )
    assert passes.reused > 0
    assert computed[0] == computed_alone - passes.reused
    chunks = -(-series.sizes["time"] // (chunk_steps or series.sizes["time"]))
    assert passes.reused >= (2 * len(setpoints) - 1) * chunks  # every first pass but one


def test_passes_are_not_shared_outside_the_context_or_across_facilities(
    demo_day: DemoDay, computed: list[int]
) -> None:
    facility, series = demo_day
    schedule = as_operated_schedule(facility, series)
    simulate(facility, schedule, series, per_rack=False)
    simulate(facility, schedule, series, per_rack=False)
    assert computed[0] == 2  # no context: each simulation computes its pass
    other = dataclasses.replace(facility)  # equal content, another object
    with shared_chain_passes(other) as passes:
        simulate(facility, schedule, series, per_rack=False)
        simulate(facility, schedule, series, per_rack=False)
    assert computed[0] == 4 and passes.reused == 0
    with shared_chain_passes(facility, budget=0) as passes:  # nothing fits: nothing kept
        simulate(facility, schedule, series, per_rack=False)
        simulate(facility, schedule, series, per_rack=False)
    assert computed[0] == 6 and passes.reused == 0


def test_a_pass_that_warned_is_not_kept(demo_day: DemoDay) -> None:
    """A pass raising a warning is computed again (and warns again) every time."""
    facility, _ = demo_day
    topology = Topology(facility)
    rack_power = np.full((3, facility.racks.count), 5e3)
    count = [0]

    def warning_chain(f: Facility, t: Topology, power: np.ndarray) -> Electrical:
        count[0] += 1
        warnings.warn("curve range", CurveRangeWarning, stacklevel=1)
        return electrical_chain(f, t, power)

    caught: list[Any]
    with warnings.catch_warnings(record=True) as caught, shared_chain_passes(facility) as passes:
        warnings.simplefilter("always", CurveRangeWarning)
        first = chain_pass(warning_chain, facility, topology, rack_power, caught)
        second = chain_pass(warning_chain, facility, topology, rack_power, caught)
    assert count[0] == 2 and len(caught) == 2 and passes.reused == 0
    np.testing.assert_array_equal(first.rack_loss, second.rack_loss)
