"""Tests of twin.estimation: the inlet Kalman filter, SOC, job energy, staleness, output.

Test data: the demo hall simulated as operated (``physics.simulate``) gives the model's
prediction of every point; the "true" hall is that prediction plus known inlet deviations
(smooth along each row, or drawn from the filter's own model), a different battery dispatch or
initial SOC, and Gaussian sensor noise with a fixed seed.  A third of the racks (positions
2, 5, 8, …) carry inlet sensors.
"""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
import xarray as xr

from optimizer.baselines import as_operated
from physics.facility import Facility
from physics.simulate import simulate
from tests.helpers import demo_hall_as_operated
from twin.live.state_estimator import StateEstimator
from twin.scenario.points import PointCatalogue, Reading

SENSOR_STD = 0.3
"""Inlet sensor noise of the test data [K] (the estimator's default measurement_std)."""


pytestmark = pytest.mark.xdist_group("estimation")  # module fixtures built once


@dataclasses.dataclass
class Hall:
    facility: Facility
    series: xr.Dataset
    result: xr.Dataset
    catalogue: PointCatalogue
    times: list[datetime]
    predicted: list[dict[str, float]]
    inlet_points: list[str]
    inlet: np.ndarray  # predicted inlet (T, R) [°C]
    measured: np.ndarray  # (R,) bool


@pytest.fixture(scope="module")
def hall() -> Hall:
    """The demo hall over 3 days at 15 min, as operated."""
    simulated = demo_hall_as_operated(3)
    facility, series, result = simulated.facility, simulated.series, simulated.result
    catalogue, times = simulated.catalogue, simulated.times
    predicted = [catalogue.predict(result, k) for k in range(len(times))]
    points = [f"rack/{r}/inlet_temperature" for r in facility.racks.ids]
    inlet = np.array([[p[q] for q in points] for p in predicted])
    measured = facility.racks.position % 3 == 2
    return Hall(facility, series, result, catalogue, times, predicted, points, inlet, measured)


def _inlet_readings(
    hall: Hall, k: int, truth: np.ndarray, rng: np.random.Generator
) -> list[Reading]:
    return [
        Reading(hall.inlet_points[r], hall.times[k], float(truth[r] + rng.normal(0, SENSOR_STD)))
        for r in np.flatnonzero(hall.measured)
    ]


def _smooth_deviation(hall: Hall, k: int) -> np.ndarray:
    """True inlet minus predicted [K]: a sine along each row (wavelength 16 racks, 1.5 K),
    phase per row, slowly travelling (one cycle in ~3 days)."""
    racks = hall.facility.racks
    phase = {row: 1.3 * i for i, row in enumerate(sorted(set(racks.row)))}
    row_phase = np.array([phase[row] for row in racks.row])
    return 1.5 * np.sin(2 * np.pi * racks.position / 16 + row_phase + 2 * np.pi * k / 288)


def test_measured_close_unmeasured_better_than_prediction(hall: Hall) -> None:
    rng = np.random.default_rng(7)
    estimator = StateEstimator(hall.facility)
    errors, stds, raw = [], [], []
    for k in range(len(hall.times)):
        truth = hall.inlet[k] + _smooth_deviation(hall, k)
        state = estimator.update(
            hall.times[k], _inlet_readings(hall, k, truth, rng), hall.predicted[k]
        )
        if k >= 8:  # burn-in: 2 h
            errors.append(state.inlet_temperature - truth)
            stds.append(state.inlet_temperature_std)
            raw.append(hall.inlet[k] - truth)
    error, std, prediction_error = np.array(errors), np.array(stds), np.array(raw)
    m, u = hall.measured, ~hall.measured

    # measured racks: within 2σ of the truth (95 % expected; ≥ 90 % asked)
    assert np.mean(np.abs(error[:, m]) < 2 * std[:, m]) >= 0.90
    assert np.sqrt(np.mean(error[:, m] ** 2)) < SENSOR_STD
    # unmeasured racks (virtual sensors): at least 2× better than the raw prediction
    rmse_virtual = np.sqrt(np.mean(error[:, u] ** 2))
    rmse_prediction = np.sqrt(np.mean(prediction_error[:, u] ** 2))
    assert rmse_virtual < rmse_prediction / 2.0
    assert np.mean(np.abs(error[:, u]) < 2 * std[:, u]) >= 0.90
    # ... and less certain than any measured rack
    assert std[-1, u].min() > std[-1, m].max()
    assert state.measured.tolist() == m.tolist()


def test_hot_measured_rack_warms_its_unmeasured_neighbours(hall: Hall) -> None:
    racks = hall.facility.racks
    estimator = StateEstimator(hall.facility)
    hot = racks.ids.index("C05")
    reading = Reading(hall.inlet_points[hot], hall.times[0], float(hall.inlet[0, hot] + 3.0))
    state = estimator.update(hall.times[0], [reading], hall.predicted[0])
    deviation = state.inlet_temperature - state.predicted_inlet_temperature
    neighbours = [racks.ids.index(n) for n in ("C04", "C06")]
    far = racks.ids.index("C10")
    other_row = [r for r in range(racks.count) if racks.row[r] != "C"]

    assert deviation[hot] > 2.5  # close to the reading (prior 1 K, sensor 0.3 K)
    for n in neighbours:
        assert 1.0 < deviation[n] < deviation[hot]
        assert state.inlet_temperature_std[n] > state.inlet_temperature_std[hot]
    assert 0.0 < deviation[far] < min(deviation[n] for n in neighbours)
    assert np.all(deviation[other_row] == 0.0)  # uncorrelated rows untouched
    assert state.measured[hot] and not state.measured[neighbours].any()
    assert state.margin[hot] == pytest.approx(27.0 - state.inlet_temperature[hot])


def test_std_is_calibrated(hall: Hall) -> None:
    """Truth drawn from the filter's own model: about 95 % within 2σ."""
    rng = np.random.default_rng(0)
    estimator = StateEstimator(hall.facility)
    racks = hall.facility.racks
    same = (racks.row[:, None] == racks.row[None, :]) & (racks.unit[:, None] == racks.unit[None, :])
    gap = np.abs(racks.position[:, None] - racks.position[None, :])
    correlation = np.where(same, np.exp(-gap / estimator.correlation_length), 0.0)
    root = np.linalg.cholesky(correlation + 1e-12 * np.eye(racks.count))
    step = (hall.times[1] - hall.times[0]).total_seconds()
    a = math.exp(-step / estimator.reversion_time)
    deviation = estimator.prior_std * root @ rng.normal(size=racks.count)
    inside = []
    for k in range(len(hall.times)):
        if k:
            noise = root @ rng.normal(size=racks.count)
            deviation = a * deviation + math.sqrt(1 - a * a) * estimator.prior_std * noise
        truth = hall.inlet[k] + deviation
        state = estimator.update(
            hall.times[k], _inlet_readings(hall, k, truth, rng), hall.predicted[k]
        )
        inside.append(np.abs(state.inlet_temperature - truth) < 2 * state.inlet_temperature_std)
    share = np.mean(inside)
    assert 0.92 <= share <= 0.98, share


def _battery_hall(hall: Hall) -> tuple[xr.Dataset, Facility]:
    """True hall with a battery dispatch and a model that has the wrong initial SOC.

    Discharge 0.1 MW 06–12 h, charge 0.12 MW 14–20 h daily on 2 MWh: SOC 0.5 → 0.18 → 0.52 …,
    never clipped.  The model's facility believes the battery started at SOC 0.7.
    """
    schedule = as_operated(hall.facility, hall.series)
    hours = np.array([(t - hall.times[0]).total_seconds() / 3600 % 24 for t in hall.times])
    power = np.where((hours >= 6) & (hours < 12), -0.1e6, 0.0)
    power = np.where((hours >= 14) & (hours < 20), 0.12e6, power)
    truth = simulate(hall.facility, dataclasses.replace(schedule, battery_power=power), hall.series)
    battery = hall.facility.battery
    assert battery is not None
    wrong = dataclasses.replace(
        hall.facility, battery=dataclasses.replace(battery, initial_soc=0.7)
    )
    return truth, wrong


def _soc_at_start(result: xr.Dataset, initial: float) -> np.ndarray:
    """SOC at the start of each step (simulate's battery_soc is at the end)."""
    return np.concatenate([[initial], result["battery_soc"].values[:-1]])


def test_soc_converges_with_metered_battery_power(hall: Hall) -> None:
    """Grid and feed meters give the battery power; SOC read only every 2 h."""
    truth, wrong = _battery_hall(hall)
    model = simulate(wrong, as_operated(wrong, hall.series), hall.series)  # idle, SOC 0.7
    soc_true = _soc_at_start(truth, 0.5)
    feeds = [f"feed/{f}/power" for f in hall.facility.feeds.ids]
    rng = np.random.default_rng(3)
    estimator = StateEstimator(hall.facility)
    errors, stds = [], []
    for k, time in enumerate(hall.times):
        predicted = hall.catalogue.predict(model, k)
        readings = [Reading("grid/power", time, float(truth["grid_power"][k]) / 1e3)]
        for f, point in enumerate(feeds):
            kw = float(truth["feed_power"][k, f]) / 1e3
            readings.append(Reading(point, time, kw * (1 + rng.normal(0, 0.002))))
        if k % 8 == 4:
            readings.append(Reading("battery/soc", time, soc_true[k] + rng.normal(0, 0.01)))
        state = estimator.update(time, readings, predicted)
        assert state.soc is not None and state.soc_std is not None
        errors.append(state.soc - soc_true[k])
        stds.append(state.soc_std)
    error, std = np.array(errors), np.array(stds)
    assert state.soc_source == "meters"
    assert error[0] == pytest.approx(0.2, abs=1e-9)  # started from the model's 0.7
    assert np.all(np.abs(error[5:]) < 0.025)  # converged at the first SOC reading
    assert np.mean(np.abs(error[5:]) < 2 * std[5:]) >= 0.9
    assert std[-1] < 0.02


def test_soc_converges_on_model_increments(hall: Hall) -> None:
    """No power meters: the model's SOC increments (right dispatch, wrong start) and readings."""
    truth, wrong = _battery_hall(hall)
    schedule = as_operated(wrong, hall.series)
    power = truth["battery_power"].values
    model = simulate(wrong, dataclasses.replace(schedule, battery_power=power), hall.series)
    soc_true = _soc_at_start(truth, 0.5)
    soc_model = _soc_at_start(model, 0.7)
    rng = np.random.default_rng(4)
    estimator = StateEstimator(hall.facility)
    errors = []
    for k, time in enumerate(hall.times):
        predicted = {"battery/soc": float(soc_model[k])}
        reading = Reading("battery/soc", time, soc_true[k] + rng.normal(0, 0.01))
        state = estimator.update(time, [reading], predicted)
        assert state.soc is not None
        errors.append(state.soc - soc_true[k])
    assert state.soc_source == "model"
    assert np.all(np.abs(errors[10:]) < 0.015)
    assert state.soc_std is not None and state.soc_std < 0.01


def test_job_energy_step_rule(hall: Hall) -> None:
    """Each reading's power is held until the next reading of the same job."""
    t0 = hall.times[0]
    estimator = StateEstimator(hall.facility)
    schedule = [(0, 100.0), (60, 200.0), (180, 50.0), (200, 80.0)]  # (s, kW)
    for seconds, kw in schedule:
        time = t0 + timedelta(seconds=seconds)
        readings = [Reading("job/llm-pretraining/power", time, kw)]
        if seconds == 180:
            readings.append(Reading("job/llm-pretraining/power", t0, 999.0))  # late: ignored
        estimator.update(time, readings, {})
    state = estimator.state()
    expected = (100 * 60 + 200 * 120 + 50 * 20) / 3600  # kWh
    assert state.job_energy_kwh["llm-pretraining"] == pytest.approx(expected)
    assert state.job_energy_kwh["chat-inference"] == 0.0
    work = hall.facility.workloads
    j = work.ids.index("llm-pretraining")
    assert state.job_progress["llm-pretraining"] == pytest.approx(expected * 3.6e6 / work.energy[j])
    assert "chat-inference" not in state.job_progress  # tier 1: no energy target


def test_stale_after_silence_or_many_silent_points(hall: Hall) -> None:
    t0 = hall.times[0]
    estimator = StateEstimator(hall.facility, stale_after=300.0)
    assert estimator.state().stale  # nothing yet
    readings = [Reading(p, t0, float(hall.predicted[0][p])) for p in hall.inlet_points]
    state = estimator.update(t0, readings, hall.predicted[0])
    assert not state.stale and state.stale_reason is None
    assert state.last_reading_time == t0
    assert not estimator.state(t0 + timedelta(seconds=299)).stale
    late = estimator.state(t0 + timedelta(seconds=301))
    assert late.stale and late.stale_reason is not None and "301 s" in late.stale_reason
    # one point keeps reporting, the other 35 fall silent
    t1 = t0 + timedelta(seconds=400)
    state = estimator.update(t1, [Reading(hall.inlet_points[0], t1, 20.0)], hall.predicted[0])
    assert state.stale and state.stale_reason is not None
    assert "35 of 36" in state.stale_reason
    assert len(state.silent_points) == 35
    assert state.measured.sum() == 1  # the others' last readings are older than 300 s


def test_nan_unknown_points_and_missing_predictions_ignored(hall: Hall) -> None:
    t0 = hall.times[0]
    estimator = StateEstimator(hall.facility)
    before = estimator.update(t0, [], hall.predicted[0])
    junk = [
        Reading("rack/ZZ99/inlet_temperature", t0, 40.0),
        Reading(hall.inlet_points[1], t0, float("nan")),
        Reading("battery/soc", t0, float("inf")),
    ]
    predicted = dict(hall.predicted[1])
    predicted[hall.inlet_points[2]] = float("nan")
    del predicted[hall.inlet_points[3]]
    after = estimator.update(t0, junk, predicted)
    assert np.array_equal(after.inlet_temperature_std, before.inlet_temperature_std)
    assert after.soc == before.soc
    assert after.last_reading_time is None
    assert not after.measured.any()
    # a missing or NaN prediction keeps the previous one
    for r in (2, 3):
        assert after.predicted_inlet_temperature[r] == hall.predicted[0][hall.inlet_points[r]]
    assert after.predicted_inlet_temperature[4] == hall.predicted[1][hall.inlet_points[4]]


def test_naive_datetimes_rejected(hall: Hall) -> None:
    estimator = StateEstimator(hall.facility)
    naive = datetime(2026, 7, 6, 12, 0)
    with pytest.raises(ValueError, match="no timezone"):
        estimator.update(naive, [], {})
    with pytest.raises(ValueError, match="no timezone"):
        estimator.update(
            datetime(2026, 7, 6, 12, 0, tzinfo=UTC),
            [Reading(hall.inlet_points[0], naive, 20.0)],
            {},
        )
    with pytest.raises(ValueError, match="no timezone"):
        estimator.state(naive)


def test_late_batch_does_not_move_the_filter_back(hall: Hall) -> None:
    t0, t1 = hall.times[0], hall.times[4]
    estimator = StateEstimator(hall.facility)
    estimator.update(t1, [], hall.predicted[4])
    p = hall.inlet_points[4]
    state = estimator.update(t0, [Reading(p, t0, hall.predicted[4][p] + 2.0)], hall.predicted[4])
    assert state.time == t1
    fresh = StateEstimator(hall.facility)
    fresh.update(t1, [Reading(p, t1, hall.predicted[4][p] + 2.0)], hall.predicted[4])
    late = state.inlet_temperature[4] - state.predicted_inlet_temperature[4]
    on_time = fresh.state().inlet_temperature[4] - fresh.state().predicted_inlet_temperature[4]
    assert 0.0 < late < on_time  # an hour-old reading counts less than a fresh one


def test_json_and_dataset_outputs(hall: Hall) -> None:
    t0 = hall.times[0]
    estimator = StateEstimator(hall.facility)
    readings = [
        Reading(hall.inlet_points[1], t0, 22.0),
        Reading("feed/A/power", t0, 1200.0),
        Reading("busbar/A01/voltage", t0, 51.2),
        Reading("grid/power", t0, 2400.0),
        Reading("battery/soc", t0, 0.55),
        Reading("job/chat-inference/power", t0, 300.0),
    ]
    state = estimator.update(t0, readings, hall.predicted[0])
    data: dict[str, Any] = json.loads(json.dumps(state.to_dict(), allow_nan=False))
    assert data["time"] == t0.isoformat()
    assert data["racks"][1]["measured"] is True
    assert data["racks"][1]["rack"] == hall.facility.racks.ids[1]
    assert data["power_chain"]["feed/A/power"]["value"] == 1200.0
    assert data["power_chain"]["feed/A/power"]["time"] == t0.isoformat()
    assert data["power_chain"]["busbar/A01/voltage"]["unit"] == "V"
    assert data["battery"]["soc"] == pytest.approx(state.soc)
    assert data["stale"] is False
    assert state.power_chain["feed/A/power"].value == 1200.0
    assert state.power_chain["feed/A/power"].time == t0
    assert state.power_chain["feed/A/power"].predicted == pytest.approx(
        hall.predicted[0]["feed/A/power"]
    )
    assert "feed/B/power" not in state.power_chain  # never read

    ds = state.to_dataset()
    for name in ds.data_vars:
        assert "units" in ds[name].attrs or str(name).endswith("_reading_time"), name
        assert "long_name" in ds[name].attrs, name
    assert ds["inlet_temperature"].attrs["units"] == "degC"
    assert ds["inlet_temperature_std"].attrs["units"] == "K"
    assert ds["feed_power"].sel(feed="A").item() == pytest.approx(1.2e6)  # W
    assert ds["grid_power"].item() == pytest.approx(2.4e6)
    assert int(ds["inlet_measured"].sum()) == 1
    assert ds.attrs["Conventions"] == "CF-1.10"
    assert ds["time"].values == np.datetime64(t0.replace(tzinfo=None), "ns")
    assert state.rack(hall.facility.racks.ids[1])["measured"] is True


def test_parameters_validated(hall: Hall) -> None:
    with pytest.raises(ValueError, match="process_std"):
        StateEstimator(hall.facility, process_std=0.0)
    with pytest.raises(ValueError, match="silent_fraction"):
        StateEstimator(hall.facility, silent_fraction=1.5)
