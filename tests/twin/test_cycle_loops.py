"""The calibrator's update, which works out what depends on the point once per point, gives
what the reading-by-reading update gave, bit for bit, on random batches with unknown points,
non-finite values and predictions, mixed time zones and skipped roles."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import START, Clock, live_twin
from twin.live.calibration import _FAN, _OFFSET, _PLANT, Calibrator
from twin.live.live_twin import LiveTwin
from twin.scenario.points import Reading

PLUS_TWO = timezone(timedelta(hours=2))


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory) -> LiveTwin:
    return live_twin(tmp_path_factory.mktemp("loops"), Clock(START))


def _points(twin: LiveTwin) -> list[str]:
    """Every point with a calibration role, some without, one unknown."""
    ids = list(twin.catalogue.ids)
    roles = [p for p in ids if p.endswith(("inlet_temperature", "fan_power", "voltage"))]
    return [*roles, "plant/power", *ids[:: max(1, len(ids) // 15)], "rack/Z99/inlet_temperature"]


def _batch(rng: np.random.Generator, points: list[str], base: datetime) -> list[Reading]:
    """Readings of random points at a few times (some the same instant in another zone),
    values around 20 (some NaN, ±inf, integers, negative zero)."""
    out = []
    for _ in range(int(rng.integers(0, 300))):
        moment = base + timedelta(seconds=int(rng.integers(0, 6)))
        if rng.random() < 0.2:
            moment = moment.astimezone(PLUS_TWO)
        value: float = float(rng.normal(20.0, 30.0))
        pick = rng.random()
        if pick < 0.03:
            value = math.nan
        elif pick < 0.05:
            value = math.inf * (1 if rng.random() < 0.5 else -1)
        elif pick < 0.07:
            value = -0.0
        elif pick < 0.09:
            value = int(value)
        out.append(Reading(str(rng.choice(points)), moment, value))
    return out


class _ReadingByReading(Calibrator):
    """The calibrator's update as it was: every reading looks its role, prediction and σ up."""

    def update(
        self, time: datetime, readings: Sequence[Reading], predicted: Mapping[str, float]
    ) -> int:
        moment = time.astimezone(UTC)
        self._forget(moment)
        fan_total = 0.0
        for point in self._fan_points:
            fan_total += float(predicted.get(point, math.nan))
        theta = self._theta
        off: tuple[list[int], list[float], list[float]] = ([], [], [])
        rows: list[tuple[float, float, float]] = []
        residual: list[float] = []
        variance: list[float] = []
        for reading in readings:
            spec = self._roles.get(reading.point)
            if spec is None:
                continue
            measured = float(reading.value)
            model = float(predicted.get(reading.point, math.nan))
            if not (math.isfinite(measured) and math.isfinite(model)):
                continue
            role, index, sigma, relative = spec
            if relative:
                sigma *= abs(model)
            if not sigma > 0.0:
                continue
            if role == _OFFSET:
                off[0].append(index)
                off[1].append(measured - model)
                off[2].append(sigma**2)
                continue
            if role == _FAN:
                row = (model / theta[0], 0.0, 0.0)
            elif role == _PLANT:
                if not math.isfinite(fan_total):
                    continue
                plant_part = model - fan_total - self._cdu_pump_kw
                row = (fan_total / theta[0], plant_part / theta[1], 0.0)
            else:
                drop = self._nominal_voltage[index] - model
                if not drop > 1e-9:
                    continue
                row = (0.0, 0.0, -drop / theta[2])
            rows.append(row)
            residual.append(measured - model)
            variance.append(sigma**2)
        touched: list[str] = []
        if off[0]:
            touched += self._update_offsets(*(np.asarray(column) for column in off))
        if rows:
            touched += self._update_factors(
                np.asarray(rows), np.asarray(residual), np.asarray(variance)
            )
        self.updates += 1
        self._record(moment, touched)
        return len(off[0]) + len(rows)


def _state(calibrator: Calibrator) -> list[bytes]:
    arrays = [
        calibrator._offset,
        calibrator._offset_var,
        calibrator._offset_samples,
        calibrator._offset_clipped,
        calibrator._theta,
        calibrator._cov,
        calibrator._theta_samples,
        calibrator._theta_clipped,
    ]
    return [np.ascontiguousarray(a).tobytes() for a in arrays]


def test_calibrator_update_per_point_equals_the_reading_by_reading_update(
    twin: LiveTwin, tmp_path: Path
) -> None:
    """Same used counts, estimates, variances, sample and clip counts and history, as bytes,
    after each of 80 random batches; predictions are sometimes missing or NaN for a point,
    the fans' total sometimes NaN, a busbar sometimes unloaded (its nominal voltage)."""
    facility = twin.facility
    fast = Calibrator(facility, history_interval=0.0)
    slow = _ReadingByReading(facility, history_interval=0.0)
    base_prediction = twin.predicted(START)
    points = _points(twin)
    nominal = dict(zip(facility.busbars.ids, facility.busbars.nominal_voltage, strict=True))
    rng = np.random.default_rng(9)
    used_total = 0
    for k in range(80):
        moment = START + timedelta(seconds=30 * k)
        predicted = dict(base_prediction)
        for point in rng.choice(sorted(predicted), size=8, replace=False):
            pick = rng.random()
            if pick < 0.3:
                del predicted[point]
            elif pick < 0.6:
                predicted[point] = math.nan
            elif pick < 0.8 and point.startswith("busbar/"):
                predicted[point] = float(nominal[point.split("/")[1]])
            else:
                predicted[point] *= float(rng.uniform(0.8, 1.2))
        readings = [
            Reading(r.point, r.time, r.value + predicted.get(r.point, 0.0) - 20.0)
            for r in _batch(rng, points, moment)
        ]
        used = fast.update(moment, readings, predicted)
        assert used == slow.update(moment, readings, predicted)
        used_total += used
        assert _state(fast) == _state(slow)
        assert fast.drain_history() == slow.drain_history()
    assert used_total > 2_000
    assert (fast._theta_samples > 50).all(), fast._theta_samples
