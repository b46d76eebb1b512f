"""Tests of twin.faults: each fault kind detected in time, no false alarm, recovery.

Test data: the demo hall simulated as operated over 11 days at 15 min (1,056 readings of each
of its 165 points).  The true hall is the model's prediction plus, for temperatures, a fixed
bias per sensor (σ 0.8 K); rack temperatures also wander like the real air path does (a
row-common Ornstein–Uhlenbeck term, σ 0.5 K, τ 6 h, and a per-rack one, σ 0.1 K).  Sensor
noise: 0.15 K for temperatures, 0.5 % for powers, 0.02 V, 0.003 for SOC.  Faults are injected
into one point at reading ``K = 300`` (after the 20-reading warm-up); everything else stays
clean, so any other alarm is a false one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from physics.facility import Facility
from tests.helpers import demo_hall_as_operated
from twin.live.faults import FaultDetector, SensorFault
from twin.scenario.points import PointCatalogue, Reading

K = 300
"""Reading at which faults start."""
NOISE = {"degC": 0.15, "V": 0.02, "1": 0.003}
RELATIVE_NOISE = {"kW": 0.005}


pytestmark = pytest.mark.xdist_group("faults")  # module fixtures built once


@dataclasses.dataclass
class Data:
    facility: Facility
    catalogue: PointCatalogue
    times: list[datetime]
    predicted: np.ndarray  # (T, P) canonical units
    readings: np.ndarray  # (T, P), NaN = no reading

    def column(self, point: str) -> int:
        return self.catalogue.ids.index(point)


@pytest.fixture(scope="module")
def data() -> Data:
    hall = demo_hall_as_operated(11)
    facility, result, catalogue = hall.facility, hall.result, hall.catalogue
    steps, count = result.sizes["time"], len(catalogue.ids)
    predicted = np.empty((steps, count))
    for j, point in enumerate(catalogue.ids):
        kind, index = catalogue.kinds[point]
        values = result[kind.variable].values
        predicted[:, j] = (values if index is None else values[:, index]) * kind.scale

    rng = np.random.default_rng(2024)
    units = np.array([catalogue.kind(p).unit for p in catalogue.ids])
    noise = np.array([NOISE.get(u, 0.0) for u in units]) + np.array(
        [RELATIVE_NOISE.get(u, 0.0) for u in units]
    ) * np.abs(predicted)
    temperature = units == "degC"
    rack_temperature = temperature & np.array([p.startswith("rack/") for p in catalogue.ids])
    bias = rng.normal(0, 0.8, count) * temperature
    row_of = [
        str(facility.racks.row[catalogue.kinds[p][1] or 0]) if p.startswith("rack/") else p
        for p in catalogue.ids
    ]
    rows = sorted(set(row_of))
    row_index = np.array([rows.index(r) for r in row_of])
    a = np.exp(-900 / (6 * 3600))
    common, own = np.zeros((steps, len(rows))), np.zeros((steps, count))
    for k in range(1, steps):
        common[k] = a * common[k - 1] + np.sqrt(1 - a * a) * 0.5 * rng.normal(size=len(rows))
        own[k] = a * own[k - 1] + np.sqrt(1 - a * a) * 0.1 * rng.normal(size=count)
    truth = predicted + bias + rack_temperature * (common[:, row_index] + own)
    readings = truth + noise * rng.normal(size=(steps, count))
    low = np.array([catalogue.kind(p).low for p in catalogue.ids])
    high = np.array([catalogue.kind(p).high for p in catalogue.ids])
    return Data(facility, catalogue, hall.times, predicted, np.clip(readings, low, high))


def _run(
    data: Data, readings: np.ndarray, steps: int, detector: FaultDetector | None = None
) -> tuple[FaultDetector, list[list[Reading]], list[list[SensorFault]]]:
    detector = detector or FaultDetector(data.catalogue, facility=data.facility)
    kept_all, faults_all = [], []
    for k in range(steps):
        predicted = dict(zip(data.catalogue.ids, data.predicted[k], strict=True))
        batch = [
            Reading(point, data.times[k], float(readings[k, j]))
            for j, point in enumerate(data.catalogue.ids)
            if np.isfinite(readings[k, j])
        ]
        kept, faults = detector.check(data.times[k], batch, predicted)
        kept_all.append(kept)
        faults_all.append(faults)
    return detector, kept_all, faults_all


def _kept(kept: list[list[Reading]], point: str) -> list[bool]:
    return [any(r.point == point for r in batch) for batch in kept]


def test_no_false_alarm_on_clean_data(data: Data) -> None:
    """1,056 readings of each of 165 points: no fault, every reading kept."""
    steps = len(data.times)
    assert steps >= 1000
    detector, kept, faults = _run(data, data.readings, steps)
    assert [f for batch in faults for f in batch] == []
    assert all(len(batch) == len(data.catalogue.ids) for batch in kept)
    assert detector.active_faults() == []


def _freeze(r: np.ndarray, j: int) -> None:
    r[K:, j] = r[K, j]


def _ramp(rate: float) -> Callable[[np.ndarray, int], None]:
    def mutate(r: np.ndarray, j: int) -> None:
        r[K:, j] += rate * np.arange(r.shape[0] - K)

    return mutate


def _relative_ramp(rate: float) -> Callable[[np.ndarray, int], None]:
    def mutate(r: np.ndarray, j: int) -> None:
        r[K:, j] *= 1 + rate * np.arange(r.shape[0] - K)

    return mutate


def _step(offset: float) -> Callable[[np.ndarray, int], None]:
    def mutate(r: np.ndarray, j: int) -> None:
        r[K:, j] += offset

    return mutate


def _spike(r: np.ndarray, j: int) -> None:
    r[K, j] += 3.0


def _silence(r: np.ndarray, j: int) -> None:
    r[K:, j] = np.nan


CASES = [
    # (kind, point, injection, detected within this many readings from K)
    ("spike", "rack/C05/inlet_temperature", _spike, 1),
    ("stuck", "rack/C03/power", _freeze, 8),  # the model moves: stuck_readings
    ("stuck", "rack/B07/inlet_temperature", _freeze, 30),  # flat model: stuck_readings_long
    ("drift", "rack/C05/inlet_temperature", _ramp(0.05), 30),  # 1/3 σ per reading
    ("drift", "feed/A/power", _relative_ramp(0.002), 30),  # 0.2 % per reading
    ("drift", "rack/D03/inlet_temperature", _step(2.0), 3),  # offset: spike_run
    ("silent", "rack/C05/inlet_temperature", _silence, 6),  # 5 usual intervals
]


@pytest.mark.parametrize(("kind", "point", "inject", "within"), CASES)
def test_fault_detected_in_time(
    data: Data,
    kind: str,
    point: str,
    inject: Callable[[np.ndarray, int], None],
    within: int,
) -> None:
    readings = data.readings.copy()
    inject(readings, data.column(point))
    steps = K + 40
    detector, kept, faults = _run(data, readings, steps)
    found = [(k, f) for k, batch in enumerate(faults) for f in batch]
    assert all(f.point == point for _, f in found), [f.reason for _, f in found]
    if kind != "spike":  # an offset shows as spikes until spike_run of them in a row
        spikes = [k for k, f in found if f.kind == "spike"]
        assert len(spikes) < FaultDetector(data.catalogue).spike_run
        found = [(k, f) for k, f in found if f.kind != "spike"]
    first_step, first = found[0]
    assert first.kind == kind, first.reason
    assert K <= first_step < K + within, (first_step, first.reason)
    assert first.since >= data.times[K - 8]  # onset estimate near the injection
    assert first.detected == data.times[first_step]
    assert point in first.reason
    was_kept = _kept(kept, point)
    if kind == "spike":
        assert not was_kept[K] and all(was_kept[K + 1 :])  # that reading only
        assert detector.active_faults() == []
    else:
        assert not any(was_kept[first_step:])  # excluded from detection on
        assert [f.point for f in detector.active_faults()] == [point]
        assert detector.active_faults()[0].kind == kind
    if kind in ("stuck", "drift"):
        assert detector.is_faulty(point)


def test_stuck_reason_has_the_figures(data: Data) -> None:
    readings = data.readings.copy()
    j = data.column("rack/C03/power")
    _freeze(readings, j)
    _, _, faults = _run(data, readings, K + 10)
    fault = next(f for batch in faults for f in batch)
    frozen = readings[K, j]
    moved = np.ptp(data.predicted[K : K + 8, j])
    assert fault.reason == (
        f"rack/C03/power has read {frozen:.2f} kW for 8 readings while the model moved by "
        f"{moved:.2f} kW"
    )
    assert fault.since == data.times[K]
    assert fault.to_dict()["kind"] == "stuck"


@pytest.mark.parametrize(
    ("point", "inject", "fault_end"),
    [
        ("rack/C03/power", _freeze, K + 40),
        ("rack/B07/inlet_temperature", _freeze, K + 40),
        ("rack/C05/inlet_temperature", _ramp(0.05), K + 40),
        ("rack/C05/inlet_temperature", _silence, K + 20),
    ],
)
def test_recovered_sensors_are_readmitted(
    data: Data, point: str, inject: Callable[[np.ndarray, int], None], fault_end: int
) -> None:
    """The fault ends at ``fault_end``; the point is readmitted within 2 × recovery_readings
    (recovery_readings live readings, plus the few the average of the residual needs to fall
    below half the drift limit)."""
    readings = data.readings.copy()
    faulty = readings.copy()
    inject(faulty, data.column(point))
    readings[:fault_end] = faulty[:fault_end]
    detector, kept, faults = _run(data, readings, fault_end + 30)
    assert any(f.point == point for batch in faults[:fault_end] for f in batch)
    was_kept = _kept(kept, point)
    back = next(k for k in range(fault_end, len(was_kept)) if was_kept[k])
    assert back < fault_end + 2 * detector.recovery_readings
    assert all(was_kept[back:])
    assert detector.active_faults() == []
    assert not detector.is_faulty(point)
    assert [f for batch in faults[fault_end:] for f in batch] == []  # no relapse


def test_row_wide_change_is_not_blamed_on_the_sensors(data: Data) -> None:
    """A +2 K step on the whole of row C (a cooling unit the model does not know has failed)
    moves every inlet of the row: no sensor fault with the row as peers; without the facility
    (peers: every rack of the hall) the same data is read as offsets."""
    readings = data.readings.copy()
    columns = [data.column(f"rack/C{n:02d}/inlet_temperature") for n in range(1, 11)]
    readings[K:, columns] += 2.0
    _, _, faults = _run(data, readings, K + 30)
    assert [f.reason for batch in faults for f in batch] == []
    _, _, blind = _run(data, readings, K + 30, FaultDetector(data.catalogue))
    assert {f.kind for batch in blind for f in batch} == {"spike", "drift"}


def test_several_readings_per_point_in_one_batch(data: Data) -> None:
    """Batches at 3 × the rate: each point's readings are judged in time order."""
    detector = FaultDetector(data.catalogue, facility=data.facility)
    point = "rack/C05/inlet_temperature"
    j = data.column(point)
    rng = np.random.default_rng(5)
    faults_seen = []
    for k in range(60):
        predicted = {point: float(data.predicted[k, j])}
        batch = [
            Reading(
                point,
                data.times[k] + timedelta(minutes=m),
                float(data.predicted[k, j] + 0.4 + rng.normal(0, NOISE["degC"])),
            )
            for m in (10, 0, 5)  # out of order within the batch
        ]
        if k == 50:
            batch[0] = Reading(point, batch[0].time, batch[0].value + 3.0)
        kept, faults = detector.check(data.times[k] + timedelta(minutes=10), batch, predicted)
        faults_seen += faults
        assert len(kept) == (2 if k == 50 else 3)
    assert [f.kind for f in faults_seen] == ["spike"]
    assert faults_seen[0].since == data.times[50] + timedelta(minutes=10)


def test_unknown_nan_and_naive_inputs(data: Data) -> None:
    detector = FaultDetector(data.catalogue)
    now = data.times[0]
    good = Reading("rack/A01/inlet_temperature", now, 20.0)
    kept, faults = detector.check(
        now,
        [Reading("rack/ZZ/inlet_temperature", now, 20.0), Reading("grid/power", now, np.nan), good],
        {},
    )
    assert kept == [good] and faults == []
    naive = datetime(2026, 7, 6, 12, 0)
    with pytest.raises(ValueError, match="no timezone"):
        detector.check(naive, [], {})
    with pytest.raises(ValueError, match="no timezone"):
        detector.check(now, [Reading("rack/A01/inlet_temperature", naive, 20.0)], {})
    with pytest.raises(ValueError, match="window"):
        FaultDetector(data.catalogue, window=2)


def test_reset_forgets_a_point(data: Data) -> None:
    readings = data.readings.copy()
    point = "rack/D03/inlet_temperature"
    _step(2.0)(readings, data.column(point))
    detector, _, _ = _run(data, readings, K + 10)
    assert detector.is_faulty(point)
    detector.reset(point)
    assert not detector.is_faulty(point) and detector.active_faults() == []
    # re-learns the new offset as the sensor's baseline: kept again, no new fault
    detector, kept, faults = _run(data, readings[K + 10 :], 40, detector)
    assert all(_kept(kept, point))
    assert [f for batch in faults for f in batch] == []


def test_silent_timeout_uses_the_usual_interval(data: Data) -> None:
    detector = FaultDetector(data.catalogue, silent_after=600.0)
    t0 = datetime(2026, 7, 6, tzinfo=UTC)
    point = "grid/power"
    for s in range(0, 50, 5):  # every 5 s
        detector.check(
            t0 + timedelta(seconds=s), [Reading(point, t0 + timedelta(seconds=s), 1e3)], {}
        )
    _, faults = detector.check(t0 + timedelta(seconds=600), [], {})
    assert faults == []
    _, faults = detector.check(t0 + timedelta(seconds=700), [], {})
    assert [f.kind for f in faults] == ["silent"]
    assert faults[0].since == t0 + timedelta(seconds=45)
    assert "655 s" in faults[0].reason and "timeout 600 s" in faults[0].reason
    _, again = detector.check(t0 + timedelta(seconds=800), [], {})
    assert again == []  # reported once


class _GroupByGroup(FaultDetector):
    """The detector with the common-mode median computed group by group, as it was before
    all groups were taken at once (the reference of the equality test below)."""

    def _common_mode(self, i: np.ndarray, raw: np.ndarray, eligible: np.ndarray) -> np.ndarray:
        common = np.zeros(i.size)
        use = eligible & np.isfinite(raw) & (self._group[i] >= 0)
        if use.sum() < self.min_peers:
            return common
        groups = self._group[i]
        for g in np.unique(groups[use]):
            members = use & (groups == g)
            if members.sum() >= self.min_peers:
                common[groups == g] = float(np.median(raw[members]))
        return common


def test_common_mode_of_all_groups_at_once_keeps_every_decision(data: Data) -> None:
    """Random multi-tick batches with spikes, a stuck sensor, a drift and a row-wide shift: the
    vectorised common mode gives the same kept readings and the same faults."""
    catalogue = PointCatalogue(data.facility)
    points = [p for p in catalogue.ids if p.endswith("inlet_temperature")]
    rng = np.random.default_rng(7)
    row_of = {p: p.split("/")[1][0] for p in points}
    new = FaultDetector(catalogue, facility=data.facility)
    old = _GroupByGroup(catalogue, facility=data.facility)
    start = datetime(2026, 7, 1, tzinfo=UTC)
    found = {"spike": 0, "stuck": 0, "drift": 0}
    for b in range(30):  # 30 batches of 6 ticks, 30 s apart
        readings = []
        for k in range(6):
            tick = b * 6 + k
            moment = start + timedelta(seconds=30 * tick)
            for n, point in enumerate(points):
                value = 24.0 + 0.1 * n % 1.3 + rng.normal(0.0, 0.05)
                if row_of[point] == "C" and tick > 90:
                    value += 1.5  # the whole row moves: common mode, not a fault
                if n == 3 and tick in (60, 61, 120):
                    value += 9.0  # spikes
                if n == 7 and tick > 100:
                    value = 25.125  # stuck
                if n == 11 and tick > 80:
                    value += 0.02 * (tick - 80)  # drift
                readings.append(Reading(point, moment, round(float(value), 3)))
        order = rng.permutation(len(readings))
        batch = [readings[j] for j in order]
        moment = start + timedelta(seconds=30 * (b * 6 + 5))
        predicted = {p: 24.0 for p in points}
        kept_new, faults_new = new.check(moment, batch, predicted)
        kept_old, faults_old = old.check(moment, batch, predicted)
        assert kept_new == kept_old
        assert faults_new == faults_old
        for fault in faults_new:
            if fault.kind in found:
                found[fault.kind] += 1
    assert all(found.values()), found
    assert new.excluded() == old.excluded()


def _numpy_nonzero(mask: np.ndarray) -> np.ndarray:
    return np.flatnonzero(mask)


def _numpy_nan_to_num(x: np.ndarray) -> np.ndarray:
    return np.nan_to_num(x)


def _numpy_gap_or_zero(gap: np.ndarray) -> np.ndarray:
    return np.nan_to_num(gap, posinf=0.0)


def _sorted_row_median(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The row median without the all-rings-full shortcut (the general path)."""
    ordered = np.sort(values, axis=1)
    low = np.clip((counts - 1) // 2, 0, values.shape[1] - 1)
    high = np.clip(counts // 2, 0, values.shape[1] - 1)
    rows = np.arange(values.shape[0])
    return np.where(counts > 0, 0.5 * (ordered[rows, low] + ordered[rows, high]), np.nan)


def test_fast_helpers_equal_their_numpy_counterparts() -> None:
    """The detector's one-call helpers give bit-for-bit what the numpy functions give, NaN and
    ±inf included; the full-rings median shortcut equals the general path and numpy's median."""
    from twin.live.faults.history import gap_or_zero, nan_to_num, nonzero, row_median

    rng = np.random.default_rng(11)
    x = rng.normal(0.0, 1e3, 400)
    x[rng.integers(0, 400, 40)] = np.nan
    x[rng.integers(0, 400, 20)] = np.inf
    x[rng.integers(0, 400, 20)] = -np.inf
    assert np.array_equal(nan_to_num(x), np.nan_to_num(x))
    assert np.array_equal(gap_or_zero(x), np.nan_to_num(x, posinf=0.0))
    mask = rng.random(400) < 0.3
    assert np.array_equal(nonzero(mask), np.flatnonzero(mask))
    full = rng.normal(size=(36, 20))
    counts = np.full(36, 20)
    assert np.array_equal(row_median(full, counts), _sorted_row_median(full, counts))
    assert np.array_equal(row_median(full, counts), np.median(full, axis=1))
    padded = full.copy()
    counts[::3] = rng.integers(0, 20, 12)
    for r in range(0, 36, 3):
        padded[r, counts[r] :] = np.nan
    assert np.array_equal(
        row_median(padded, counts), _sorted_row_median(padded, counts), equal_nan=True
    )


def test_fast_screening_keeps_every_decision(data: Data, monkeypatch: pytest.MonkeyPatch) -> None:
    """Random multi-tick batches with spikes, a stuck sensor, a drift and a row-wide shift
    (28 ticks per batch, as the ingestion benchmark posts): the detector with its one-call
    helpers and full-ring median gives the same kept readings, faults and exclusion counts as
    with numpy's own functions and the general median."""
    from twin.live.faults import detector as faults
    from twin.live.faults import history as fault_history

    catalogue = PointCatalogue(data.facility)
    points = [p for p in catalogue.ids if p.endswith("inlet_temperature")]
    row_of = {p: p.split("/")[1][0] for p in points}
    start = datetime(2026, 7, 1, tzinfo=UTC)

    def batches() -> list[tuple[datetime, list[Reading]]]:
        rng = np.random.default_rng(5)
        out = []
        for b in range(12):
            readings = []
            for k in range(28):
                tick = b * 28 + k
                moment = start + timedelta(seconds=10 * tick)
                for n, point in enumerate(points):
                    value = 24.0 + 0.1 * n % 1.3 + rng.normal(0.0, 0.05)
                    if row_of[point] == "C" and tick > 150:
                        value += 1.5
                    if n == 3 and tick % 41 == 0:
                        value += 9.0
                    if n == 7 and 120 < tick < 260:
                        value = 25.125
                    if n == 11 and tick > 140:
                        value += 0.01 * (tick - 140)
                    readings.append(Reading(point, moment, round(float(value), 3)))
            order = rng.permutation(len(readings))
            out.append(
                (start + timedelta(seconds=10 * (b * 28 + 27)), [readings[j] for j in order])
            )
        return out

    def run() -> tuple[list[object], dict[str, dict[str, int]]]:
        detector = FaultDetector(catalogue, facility=data.facility)
        predicted = {p: 24.0 for p in points}
        seen: list[object] = []
        for moment, batch in batches():
            kept, found = detector.check(moment, batch, predicted)
            seen.append((kept, found, detector.recovered))
        return seen, detector.excluded()

    fast = run()
    monkeypatch.setattr(faults, "nonzero", _numpy_nonzero)
    monkeypatch.setattr(faults, "nan_to_num", _numpy_nan_to_num)
    monkeypatch.setattr(faults, "gap_or_zero", _numpy_gap_or_zero)
    monkeypatch.setattr(fault_history, "row_median", _sorted_row_median)
    reference = run()
    assert fast == reference
    kinds = {f.kind for _, found, _ in fast[0] for f in found}  # type: ignore[misc]
    assert {"spike", "stuck", "drift"} <= kinds, kinds


def test_cusum_update_of_both_sides_at_once_equals_side_by_side() -> None:
    """``PointHistory.push`` updates the two CUSUM sides and their start times together: the
    same figures as the side-by-side update, over random residuals crossing zero often."""
    from twin.live.faults.history import PointHistory

    rng = np.random.default_rng(3)
    history = PointHistory(12, 20, 100, 1e-9)
    history.warm[:] = True
    cusum, since = np.zeros((12, 2)), np.zeros((12, 2))
    for step in range(300):
        i = np.sort(rng.choice(12, size=8, replace=False))
        e, sigma = rng.normal(0.0, 1.5, 8), rng.uniform(0.5, 1.5, 8)
        t = np.full(8, float(step))
        u = e / sigma
        up, down = cusum[i, 0] + u - 1.0, cusum[i, 1] - u - 1.0
        since[i, 0] = np.where(cusum[i, 0] <= 0, t, since[i, 0])
        since[i, 1] = np.where(cusum[i, 1] <= 0, t, since[i, 1])
        cusum[i, 0], cusum[i, 1] = np.maximum(up, 0.0), np.maximum(down, 0.0)
        history.push(i, e, t, sigma, np.full(8, 0.01), 1.0)
        assert np.array_equal(history.cusum, cusum)
        assert np.array_equal(history.cusum_start, since)
    assert (cusum > 0).any() and (cusum == 0).any()
