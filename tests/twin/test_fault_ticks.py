"""Screening the ticks of a batch together (twin.live.faults.ticks) keeps every decision.

Two detectors see the same random batches: one screens runs of quiet ticks at once (the
default), the other one tick per pass (``tick_batching=False``, the reference).  After every
batch their kept readings, faults (kind, point, times, wording), readmissions, exclusion
counts, active faults and every state array (residual rings, baseline, CUSUM, runs, repeated
values, ...) must be equal bit for bit.  The batches carry what makes the state change: spikes,
stuck and interleaved values, drifts, a row-wide shift, NaN/inf values, readings out of order
and repeated, points that skip ticks or fall silent, a point without a prediction, unknown
points, batches cut mid-tick.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from twin.live.faults import FaultDetector
from twin.live.faults import ticks as fault_ticks
from twin.scenario.compile import compile_facility
from twin.scenario.loader import load_scenario
from twin.scenario.points import PointCatalogue, Reading

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 7, 1, tzinfo=UTC)


pytestmark = pytest.mark.xdist_group("fault-ticks")  # module fixtures built once


@pytest.fixture(scope="module")
def hall() -> tuple[PointCatalogue, Any]:
    facility = compile_facility(load_scenario(ROOT / "scenarios" / "demo-hall.yaml"))
    return PointCatalogue(facility), facility


def _state(detector: FaultDetector) -> dict[str, object]:
    """Every array of the detector and of its histories (as bytes), and its fault records."""
    state: dict[str, object] = {}
    for owner in (detector, detector._history, detector._repeats):
        for name, value in vars(owner).items():
            if isinstance(value, np.ndarray):
                state[f"{type(owner).__name__}.{name}"] = (value.dtype, value.tobytes())
    state["active"] = detector.active_faults()
    state["excluded"] = detector.excluded()
    state["recovered"] = list(detector.recovered)
    return state


def _batches(points: list[str], seed: int, count: int) -> list[tuple[datetime, list[Reading]]]:
    """Random batches of 1-30 ticks 10 s apart over ``points`` (inlets first) with faults."""
    rng = np.random.default_rng(seed)
    out: list[tuple[datetime, list[Reading]]] = []
    tick = 0
    base = 24.0 + 0.1 * np.arange(len(points)) % 1.3
    row = np.array([p.split("/")[1][0] if p.startswith("rack/") else "" for p in points])
    silent = rng.integers(0, len(points))
    for _ in range(count):
        readings: list[Reading] = []
        for _ in range(int(rng.integers(1, 31))):
            moment = START + timedelta(seconds=10 * tick)
            value = base + rng.normal(0.0, 0.05, len(points))
            value[row == "C"] += 1.5 * (tick > 400)  # the whole row moves
            if tick % 97 == 0:
                value[rng.integers(0, len(points))] += rng.choice([-9.0, 9.0])  # spike
            value[5] = 24.51 if 300 < tick < 520 else value[5]  # stuck, then back
            value[11] += 0.004 * max(0, tick - 250) * (tick < 700)  # drift, then back
            if tick % 3 == 0 and 600 < tick < 900:
                value[17] = 24.321  # a value recurring between good ones
            value = np.round(value, int(rng.choice([3, 3, 3, 2])))  # quantised: equal values
            for n, point in enumerate(points):
                if (n == silent and 150 < tick < 220) or rng.random() < 0.01:
                    continue  # silent for a while; or a skipped tick
                v = float(value[n])
                if rng.random() < 0.004:
                    v = float(rng.choice([np.nan, np.inf, -np.inf]))
                readings.append(Reading(point, moment, v))
                if rng.random() < 0.003:  # repeated, and out of order
                    readings.append(Reading(point, moment, v + 0.01))
                    earlier = moment - timedelta(seconds=10 * int(rng.integers(1, 5)))
                    readings.append(Reading(point, earlier, v))
            tick += 1
        if rng.random() < 0.2:
            readings = readings[: int(rng.integers(1, len(readings) + 1))]  # cut mid-tick
        if rng.random() < 0.1:
            readings.append(Reading("rack/Z99/inlet_temperature", START, 1.0))
        order = rng.permutation(len(readings))
        out.append((START + timedelta(seconds=10 * tick + 5), [readings[j] for j in order]))
    return out


@pytest.mark.parametrize(
    ("seed", "options"),
    [
        (1, {}),
        (2, {}),
        (3, {"window": 6, "noise_window": 12, "stuck_readings": 4, "recovery_time": 30.0}),
        (4, {"window": 8, "noise_window": 10, "spike_threshold": 4.0, "min_peers": 5}),
    ],
)
def test_ticks_screened_together_equal_one_pass_per_tick(
    hall: tuple[PointCatalogue, Any],
    seed: int,
    options: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    catalogue, facility = hall
    inlets = [p for p in catalogue.ids if p.endswith("inlet_temperature")]
    others = ["crah/CRAH-1/supply_temperature", "cdu/CDU-1/supply_temperature"]
    points = inlets + others
    committed: list[int] = []
    screen = fault_ticks.screen_ticks

    def counted(*args: Any) -> np.ndarray:
        kept = screen(*args)
        committed.append(kept.shape[1])
        return kept

    monkeypatch.setattr(fault_ticks, "screen_ticks", counted)
    fast = FaultDetector(catalogue, facility=facility, **options)
    slow = FaultDetector(catalogue, facility=facility, tick_batching=False, **options)
    rng = np.random.default_rng(seed + 100)
    kinds: set[str] = set()
    for b, (moment, batch) in enumerate(_batches(points, seed, 80)):
        predicted = {p: 24.0 + 0.01 * (b % 7) for p in points}
        if b % 5 == 0:
            predicted[inlets[int(rng.integers(0, len(inlets)))]] = float("nan")
        kept_fast, faults_fast = fast.check(moment, batch, predicted)
        kept_slow, faults_slow = slow.check(moment, batch, predicted)
        assert kept_fast == kept_slow, b
        assert faults_fast == faults_slow, b
        assert _state(fast) == _state(slow), b
        kinds |= {f.kind for f in faults_fast}
    assert {"spike", "stuck", "drift", "silent"} <= kinds, kinds
    assert sum(committed) > 500, sum(committed)  # the fast path did most of the work
    assert committed.count(0) > 10  # and gave way to the per-tick pass where state changed
