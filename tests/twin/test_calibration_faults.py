"""What the calibration and the estimate learned from a sensor later found faulty is taken
back (alarms6, 7 Dec: +1.77 K learned from a stuck inlet kept the recovered sensor out), and
an offset the calibration learns is not counted twice by the estimate (watch6, 7 Dec: one
29.0 °C reading gave an estimate of 32.14 ± 0.22 °C).

Real parts: the demo hall's live twin on a SQLite store, fed like the tester's feeder (rack
inlets every 5 s with σ 0.2 K of noise, no virtual plant), the calibrator on the demo hall.
"""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest

from tests.helpers import START, Clock, live_twin
from twin.live.calibration import Calibrator
from twin.live.live_twin import LiveTwin
from twin.scenario.points import Reading

A02 = "rack/A02/inlet_temperature"
FEED = {
    A02: 22.1,
    "rack/A05/inlet_temperature": 21.5,
    "rack/A08/inlet_temperature": 21.4,
    "rack/B02/inlet_temperature": 21.2,
}


class Feeder:
    """The tester's feeder: every point of ``values`` every 5 s, plus Gaussian noise."""

    def __init__(self, twin: LiveTwin, clock: Clock) -> None:
        self.twin, self.clock = twin, clock
        self.values = dict(FEED)
        self.exact: set[str] = set()  # points read without noise (a stuck sensor)
        self.rng = random.Random(1)

    def tick(self, count: int = 1) -> None:
        for _ in range(count):
            self.clock.now += timedelta(seconds=5)
            items = [
                {
                    "time": self.clock.now.isoformat(),
                    "point": point,
                    "value": value + (0.0 if point in self.exact else self.rng.gauss(0, 0.2)),
                }
                for point, value in self.values.items()
            ]
            self.twin.ingest(items)
            self.twin.drain()


def _offset(twin: LiveTwin) -> tuple[float, int]:
    status = twin.calibrator.status()["inlet_offset/A02"]
    return float(status["value"]), int(status["samples"])


def _estimate(twin: LiveTwin, clock: Clock) -> float:
    state = twin.estimator.state(clock.now)
    return float(state.inlet_temperature[state.racks.index("A02")])


def test_a_stuck_inlet_is_taken_back_from_the_calibration_and_readmitted(
    tmp_path: Path,
) -> None:
    clock = Clock(START)
    twin = live_twin(tmp_path, clock)
    feeder = Feeder(twin, clock)
    feeder.tick(8)  # 40 s: the detector's warm-up (20 readings) is not done
    before, samples = _offset(twin)
    # A02 reads 30.5 °C exactly for 2 min: accepted until the screening finds it stuck
    feeder.values[A02] = 30.5
    feeder.exact.add(A02)
    feeder.tick(24)
    assert twin.faults.is_faulty(A02)
    after, used = _offset(twin)
    assert after == pytest.approx(before, abs=1e-9) and used == samples
    assert _estimate(twin, clock) == pytest.approx(22.1, abs=0.3)
    # back to 22.1 °C with noise: readmitted within the recovery rule (5 min of good
    # readings, then settled), the offset near its value before the fault
    feeder.values[A02] = 22.1
    feeder.exact.clear()
    for _ in range(12 * 10):
        feeder.tick()
        if not twin.faults.is_faulty(A02):
            break
    assert not twin.faults.is_faulty(A02), "the recovered sensor was not readmitted in 10 min"
    feeder.tick(12)
    assert _offset(twin)[0] == pytest.approx(before, abs=0.15)
    assert _estimate(twin, clock) == pytest.approx(22.1, abs=0.3)


def test_one_reading_is_not_counted_twice_by_the_estimate(tmp_path: Path) -> None:
    """watch6's repro: A08 (read by nobody before) reads 29.0 °C once, while the other inlets
    keep reading; the estimate stays at the reading, not ~3 K above it."""
    clock = Clock(START)
    twin = live_twin(tmp_path, clock)
    feeder = Feeder(twin, clock)
    del feeder.values["rack/A08/inlet_temperature"]
    feeder.tick(30)
    twin.ingest(
        [{"time": clock.now.isoformat(), "point": "rack/A08/inlet_temperature", "value": 29.0}]
    )
    twin.drain()
    feeder.tick(6)
    state = twin.estimator.state(clock.now)
    a08 = state.racks.index("A08")
    assert float(state.inlet_temperature[a08]) <= 29.2, (
        state.inlet_temperature[a08],
        state.predicted_inlet_temperature[a08],
    )


def test_a_meter_found_drifting_is_taken_out_of_the_factors(tmp_path: Path) -> None:
    """The plant power meter reads 8 % high from 12:05: once found faulty, the plant factor
    goes back to what the healthy readings alone give (a replay of the same updates without
    them), the fan factor's readings kept."""
    twin = live_twin(tmp_path, Clock(START))
    predicted = twin.predicted(START)
    fans = [p for p in predicted if p.startswith("crah/") and p.endswith("/fan_power")]
    clean = Calibrator(twin.facility)
    drifted = Calibrator(twin.facility)
    fault = START + timedelta(minutes=5)
    for k in range(40):
        now = START + timedelta(seconds=15 * k)
        readings = [Reading(p, now, predicted[p] * 1.1) for p in fans]
        plant = predicted["plant/power"] * (1.08 if now >= fault else 1.0)
        for calibrator in (clean, drifted):
            values = twin.predicted(now, calibrator.estimates())
            calibrator.update(now, readings, values)
        drifted.update(
            now, [Reading("plant/power", now, plant)], twin.predicted(now, drifted.estimates())
        )
        if now < fault:
            clean.update(
                now, [Reading("plant/power", now, plant)], twin.predicted(now, clean.estimates())
            )
    assert drifted.estimates().plant_power_factor > clean.estimates().plant_power_factor + 0.03
    removed = drifted.discount("plant/power", fault)
    assert removed == 20
    assert drifted.estimates().plant_power_factor == pytest.approx(
        clean.estimates().plant_power_factor, abs=0.01
    )
    assert drifted.estimates().crah_fan_factor == pytest.approx(
        clean.estimates().crah_fan_factor, abs=0.01
    )
    assert drifted.discount("plant/power", fault) == 0  # taken out once
