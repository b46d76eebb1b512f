"""The processing cycle (issue 14): queued batches coalesced into one estimation pass with the
same alarms, limit estimates gathered by index arrays, ``GET /state`` not held by a cycle."""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from tests.helpers import START, TICK, Clock, live_twin
from twin.live.control.cycle import processing_loop
from twin.live.control.limit_alarms import LimitMonitor
from twin.live.estimation import EstimatedState
from twin.live.live_twin import LiveTwin
from twin.live.virtual_plant import SensorFault, VirtualPlant
from twin.scenario.points import Reading


def _twin(folder: Path, clock: Clock) -> LiveTwin:
    """The demo twin whose plant keeps the demo's hidden truth, one silent busbar sensor from
    +5 min and no other injected fault."""
    folder.mkdir()
    twin = live_twin(folder, clock, virtual_plant=True)
    assert twin.plant is not None
    silent = SensorFault("busbar/B06/voltage", "silent", START + timedelta(minutes=5))
    twin.plant = VirtualPlant(
        twin.facility,
        twin.series,
        twin.plant.truth,
        seed=0,
        faults=[silent],
        sensors=twin.plant.sensors,
    )
    return twin


def _hotter_supply(twin: LiveTwin, unit: str, kelvin: float) -> None:
    assert twin.plant is not None
    u = twin.facility.units.ids.index(unit)
    schedule = twin.plant.schedule
    supply = np.array(schedule.supply_temperature, dtype=float, copy=True)
    supply[:, u] += kelvin
    twin.plant.apply_schedule(dataclasses.replace(schedule, supply_temperature=supply))


def _alarms(twin: LiveTwin) -> list[tuple[Any, ...]]:
    return sorted(
        (a["kind"], a["source"], a["raised"], a["cleared"], a["severity"])
        for a in twin.store.alarms(active_only=False)
    )


def _run(twin: LiveTwin, clock: Clock, ticks: int, every: int) -> None:
    """``ticks`` plant readings :data:`TICK` apart with a spike in between, processed every
    ``every`` ticks (the batches of the others wait in the queue)."""
    for tick in range(ticks):
        if tick == 25:
            _hotter_supply(twin, "CRAH-3", 6.0)  # a limit alarm after its 30 s duration
        assert twin.plant_tick() is not None
        if every == 1:
            twin.drain()  # batch by batch: the plant's batch in its own cycle
        if tick == 22:  # one spike, screened in its own batch
            when = (clock.now - timedelta(seconds=10)).isoformat()
            twin.ingest([{"time": when, "point": "rack/B06/inlet_temperature", "value": 45.0}])
        if (tick + 1) % every == 0:
            twin.drain()
        clock.now += TICK
    twin.drain()


def test_queued_batches_take_fewer_cycles_and_raise_the_same_alarms(tmp_path: Path) -> None:
    one_by_one = Clock(START)
    alone = _twin(tmp_path / "alone", one_by_one)
    _run(alone, one_by_one, 40, every=1)
    queued = Clock(START)
    coalesced = _twin(tmp_path / "coalesced", queued)
    _run(coalesced, queued, 40, every=4)

    assert alone.processed == coalesced.processed > 0
    assert alone.cycles == 41  # one per plant batch and one for the spike
    assert coalesced.cycles == 10  # one per four ticks
    expected = _alarms(alone)
    kinds = {kind for kind, *_ in expected}
    assert {"sensor_spike", "sensor_silent", "limit_inlet_temperature_high"} <= kinds
    assert _alarms(coalesced) == expected
    assert alone.screening() == coalesced.screening()


def _estimates_entry_by_entry(
    monitor: LimitMonitor, racks: dict[str, int], estimate: EstimatedState, model: Any
) -> tuple[np.ndarray, np.ndarray]:
    """The fallback values as the monitor computed them before they were vectorised."""
    entries = monitor.entries
    value = np.full(entries.count, np.nan)
    std = np.full(entries.count, np.nan)
    inlet = np.asarray(estimate.inlet_temperature, dtype=float)
    inlet_std = np.asarray(estimate.inlet_temperature_std, dtype=float)
    for e, kind in enumerate(entries.estimate):
        if kind == "inlet":
            r = racks[entries.equipment[e]]
            value[e], std[e] = inlet[r], inlet_std[r]
        elif kind == "soc":
            if estimate.soc is not None:
                value[e] = estimate.soc
                std[e] = estimate.soc_std if estimate.soc_std is not None else np.nan
        else:
            data = model.get(entries.variable[e])
            if data is not None:
                flat = np.atleast_1d(np.asarray(data, dtype=float))
                index = int(entries.index[e])
                if index < flat.size:
                    value[e] = flat[index] / entries.scale[e]
    return value, std


def test_limit_estimates_by_index_arrays_equal_the_entry_by_entry_values(tmp_path: Path) -> None:
    clock = Clock(START)
    twin = _twin(tmp_path / "twin", clock)
    _run(twin, clock, 6, every=1)
    monitor = twin.supervisor.limits
    estimate = twin.estimator.state(clock.now)
    model = twin.model_at(clock.now)
    racks = {rack: r for r, rack in enumerate(twin.facility.racks.ids)}
    kinds = set(monitor.entries.estimate)
    assert {"inlet", "soc", "model"} <= kinds, kinds
    for given in (model, {name: model[name].values for name in model.data_vars}):
        value, std = monitor._estimates(estimate, given)
        expected_value, expected_std = _estimates_entry_by_entry(monitor, racks, estimate, given)
        np.testing.assert_array_equal(value, expected_value)
        np.testing.assert_array_equal(std, expected_std)
        assert np.isfinite(value).sum() > 0.9 * value.size
    missing = {name: model[name].values for name in list(model.data_vars)[::2]}
    value, _ = monitor._estimates(estimate, missing)
    np.testing.assert_array_equal(
        value, _estimates_entry_by_entry(monitor, racks, estimate, missing)[0]
    )


def test_limit_estimates_kept_for_the_same_model_equal_fresh_ones(tmp_path: Path) -> None:
    """The model's part of the fallback values, kept between calls with the same dataset,
    equals the entry-by-entry values for every estimate; another dataset (other values, or
    the same values in a new object) is looked up afresh; a mapping is never kept."""
    clock = Clock(START)
    twin = _twin(tmp_path / "twin", clock)
    _run(twin, clock, 6, every=1)
    monitor = twin.supervisor.limits
    racks = {rack: r for r, rack in enumerate(twin.facility.racks.ids)}
    first = twin.estimator.state(clock.now)
    model = twin.model_at(clock.now)
    _run(twin, clock, 4, every=1)
    second = twin.estimator.state(clock.now)
    hotter = model.copy(deep=True)
    for name in hotter.data_vars:
        if np.issubdtype(hotter[name].dtype, np.floating):
            hotter[name] = hotter[name] * 1.25 + 0.5
    plain = {name: model[name].values for name in model.data_vars}
    sequence = [
        (first, model),
        (first, model),
        (second, model),
        (second, hotter),
        (first, hotter),
        (first, model.copy(deep=True)),
        (second, plain),
        (first, model),
    ]
    for estimate, given in sequence:
        value, std = monitor._estimates(estimate, given)
        expected_value, expected_std = _estimates_entry_by_entry(monitor, racks, estimate, given)
        np.testing.assert_array_equal(value, expected_value)
        np.testing.assert_array_equal(std, expected_std)
        value[:] = -1.0  # the caller's copy: what is kept is not changed
    assert monitor._model_values is not None and monitor._model_values[0] is model
    fresh, _ = monitor._estimates(second, hotter)
    np.testing.assert_array_equal(
        fresh, _estimates_entry_by_entry(monitor, racks, second, hotter)[0]
    )
    assert not np.array_equal(fresh, monitor._estimates(second, model)[0])


def test_limit_readings_taken_per_point_equal_the_reading_by_reading_rule(
    tmp_path: Path,
) -> None:
    """The monitor keeps, per entry, the value of the last reading at the latest time not
    older than the one it holds: the same arrays, bit for bit, as taking the readings one by
    one (random batches with repeated and equal times, older readings, unwatched points)."""
    clock = Clock(START)
    twin = _twin(tmp_path / "twin", clock)
    monitor = twin.supervisor.limits
    watched = sorted({p for p in monitor.entries.point if p is not None})
    points = [*watched[:12], "rack/Z99/inlet_temperature"]
    estimate = twin.estimator.state(clock.now)
    model = twin.model_at(clock.now)
    value = monitor._reading.copy()
    stamp = monitor._reading_time.copy()
    rng = np.random.default_rng(11)
    for k in range(30):
        base = START + timedelta(seconds=20 * k)
        readings = [
            Reading(
                str(rng.choice(points)),
                base + timedelta(seconds=int(rng.integers(-40, 5)), microseconds=int(m)),
                float(rng.normal(25.0, 3.0)),
            )
            for m in rng.integers(0, 3, size=int(rng.integers(0, 60)))
        ]
        for reading in readings:  # the rule, reading by reading
            for e in monitor._by_point.get(reading.point, ()):
                t = reading.time.timestamp()
                if t >= stamp[e]:
                    value[e], stamp[e] = reading.value, t
        monitor.evaluate(base, readings, estimate, model)
        assert monitor._reading.tobytes() == value.tobytes()
        assert monitor._reading_time.tobytes() == stamp.tobytes()
    assert np.isfinite(stamp).sum() >= 12


def test_state_does_not_wait_for_a_processing_cycle(tmp_path: Path) -> None:
    """While the worker holds the twin's lock for a whole cycle, ``state()`` answers from the
    view published by the last cycle."""
    clock = Clock(START)
    twin = _twin(tmp_path / "twin", clock)
    _run(twin, clock, 3, every=1)
    before = twin.state()
    answered: list[float] = []
    with twin.lock:  # as a long cycle does

        def ask() -> None:
            began = time.perf_counter()
            twin.state()
            answered.append(time.perf_counter() - began)

        thread = threading.Thread(target=ask)
        thread.start()
        thread.join(timeout=30)
        assert answered, "state() waited for the processing lock"
    after = twin.state()
    assert after["kpis"] == before["kpis"]
    assert math.isfinite(after["kpis"]["it_power_kw"])


def test_stop_marker_behind_queued_batches_processes_them_first(tmp_path: Path) -> None:
    """The worker's loop takes the three queued batches in one cycle, then meets the stop
    marker queued behind them and returns."""
    clock = Clock(START)
    twin = _twin(tmp_path / "twin", clock)
    for _ in range(3):
        assert twin.plant_tick() is not None
        clock.now += TICK
    waiting = twin._queue
    waiting.put(None)
    processing_loop(twin, waiting, threading.Event())  # returns at the marker
    assert twin.cycles == 1 and twin.processed > 0
    assert waiting.empty()


def _until(condition: Any, what: str) -> None:
    """Wait for ``condition()`` (a hang guard of 30 s, not a timing check)."""
    deadline = time.monotonic() + 30.0
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def test_batches_within_the_minimum_cycle_interval_share_one_cycle(tmp_path: Path) -> None:
    """After a quiet spell a batch is processed at once; batches arriving within
    ``min_cycle_s`` of that cycle wait and are processed together in the next one (here the
    interval is 60 s and setting ``stop`` ends the wait)."""
    clock = Clock(START)
    twin = _twin(tmp_path / "twin", clock)
    twin.settings.min_cycle_s = 60.0
    batches = []
    for _ in range(4):
        assert twin.plant_tick() is not None
        clock.now += TICK
        batches.append(twin._queue.get_nowait())
    waiting = twin._queue
    stop = threading.Event()
    worker = threading.Thread(target=processing_loop, args=(twin, waiting, stop), daemon=True)
    worker.start()
    try:
        waiting.put(batches[0])
        _until(lambda: twin.cycles == 1, "the first batch was not processed at once")
        waiting.put(batches[1])
        _until(waiting.empty, "the worker did not take the second batch")
        waiting.put(batches[2])
        waiting.put(batches[3])
        assert twin.cycles == 1  # the second batch waits for the interval
    finally:
        stop.set()
        worker.join(timeout=30)
    assert not worker.is_alive()
    assert twin.cycles == 2
    assert twin.processed == sum(len(b) for b in batches)
    assert waiting.empty()
