"""Online calibration against the virtual plant (demo hall, one generated day at 15 min).

The loop is what the live twin does: predict every point with the current estimates, read the
plant, update.  Noise (0.2 K inlets, 1 % powers, 0.02 V busbars) and sample counts set the
tolerances; see each test.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from physics.facility import Facility
from physics.simulate import simulate
from twin.live.calibration import ESTIMATED_FACTORS, Calibrator
from twin.live.parameters import UncertainParameters, point_table, predict
from twin.live.virtual_plant import SensorFault, VirtualPlant, demo_truth, inlet_sensor_racks
from twin.scenario.points import PointCatalogue, Reading

Day = tuple[Facility, xr.Dataset]

LAST = 24
"""Steps (the last 6 h) over which prediction errors are compared."""

GROUPS = {
    "inlet": lambda p: p.endswith("/inlet_temperature"),
    "crah_fan": lambda p: p.endswith("/fan_power"),
    "plant": lambda p: p == "plant/power",
    "busbar": lambda p: p.startswith("busbar/"),
    "feed": lambda p: p.startswith("feed/"),
    "grid": lambda p: p == "grid/power",
}


pytestmark = pytest.mark.xdist_group("calibration")  # module fixtures built once


@dataclass
class Run:
    """What one calibrated day produced."""

    plant: VirtualPlant
    calibrator: Calibrator
    calibrated: np.ndarray
    """One-step-ahead predictions with the estimates of the time, (LAST, sensors)."""
    nominal: np.ndarray
    """Predictions of the uncalibrated model, (LAST, sensors)."""
    true: np.ndarray
    """Noise-free plant values, (LAST, sensors)."""
    measured: np.ndarray
    """Readings (NaN when dropped), (LAST, sensors)."""

    def rmse(self, group: str, against: str = "true") -> tuple[float, float]:
        """(uncalibrated, calibrated) RMSE of a group of sensors over the last steps."""
        columns = [i for i, p in enumerate(self.plant.sensors) if GROUPS[group](p)]
        target = (self.true if against == "true" else self.measured)[:, columns]

        def rmse(prediction: np.ndarray) -> float:
            return float(np.sqrt(np.nanmean((prediction[:, columns] - target) ** 2)))

        return rmse(self.nominal), rmse(self.calibrated)


def _drive(facility: Facility, series: xr.Dataset, plant: VirtualPlant, cal: Calibrator) -> Run:
    """Calibrate online over the plant's window; the setpoints change at noon."""
    steps = series.sizes["time"]
    start = plant.times[0].to_pydatetime()
    sensors = plant.sensors
    rows: dict[str, list[list[float]]] = {"calibrated": [], "true": [], "measured": []}
    for k in range(steps):
        moment = start + timedelta(minutes=15 * k + 7)
        if k == steps // 2:  # an approved plan: warmer air, warmer chilled water
            plant.apply_setpoints(moment, supply_temperature=20.0, chilled_water_temperature=12.5)
        readings = plant.readings(moment)
        predicted = predict(facility, cal.estimates(), plant.schedule, series, k)
        if k >= steps - LAST:
            got = {r.point: r.value for r in readings}
            true = plant.true_state(moment)
            rows["calibrated"].append([predicted[p] for p in sensors])
            rows["true"].append([true[p] for p in sensors])
            rows["measured"].append([got.get(p, np.nan) for p in sensors])
        cal.update(moment, readings, predicted)
    nominal = simulate(facility, plant.schedule, series)
    ids, table = point_table(PointCatalogue(facility), facility, UncertainParameters(), nominal)
    columns = [ids.index(p) for p in sensors]
    return Run(
        plant,
        cal,
        np.asarray(rows["calibrated"]),
        table[steps - LAST :, columns],
        np.asarray(rows["true"]),
        np.asarray(rows["measured"]),
    )


@pytest.fixture(scope="module")
def day(demo_day: Day) -> Run:
    facility, series = demo_day
    plant = VirtualPlant(facility, series, demo_truth(facility, seed=0), seed=1)
    return _drive(facility, series, plant, Calibrator(facility))


def test_recovers_the_true_factors(day: Run) -> None:
    """Factors within 1 % of the truth, and within 4 of their own reported σ.

    Expected σ from noise and counts (96 steps, 2 % dropouts): CRAH fans 1 % on 4 units,
    σ ≈ 1.15·0.01/√376 = 0.06 %; plant power 1 % of ~570 kW of which ~490 kW scales,
    σ ≈ 1.1·0.012/√94 = 0.13 %; busbars 0.02 V on 0.08–0.27 V drops, 36 per step,
    σ ≈ 0.2 %.  1 % is ≥ 4 σ for each.
    """
    truth, estimates = day.plant.truth, day.calibrator.estimates()
    std = day.calibrator.uncertainty()
    for name in ESTIMATED_FACTORS:
        true, got = getattr(truth, name), getattr(estimates, name)
        assert got == pytest.approx(true, rel=0.01), name
        assert abs(got - true) <= 4 * std[name], name
        assert std[name] < 0.004, name
    assert estimates.recirculation_scale == 1.0  # not estimated: held at the prior


def test_recovers_the_offsets_of_measured_racks(day: Run) -> None:
    """Offsets within 0.1 K: σ = 0.2 K/√94 readings ≈ 0.021 K, so 0.1 K is ~5 σ."""
    facility = day.plant.facility
    truth = np.asarray(day.plant.truth.inlet_offset)
    got = np.asarray(day.calibrator.estimates().inlet_offset)
    std = day.calibrator.uncertainty()
    measured = inlet_sensor_racks(facility)
    assert np.count_nonzero(truth[measured]) == 3
    for r in measured:
        rack = facility.racks.ids[r]
        assert got[r] == pytest.approx(truth[r], abs=0.1), rack
        assert abs(got[r] - truth[r]) <= 4 * std[f"inlet_offset/{rack}"], rack
    unmeasured = sorted(set(range(facility.racks.count)) - set(measured))
    assert np.all(got[unmeasured] == 0.0)  # no sensor: the prior (0) is kept
    assert np.count_nonzero(truth[unmeasured]) == 1  # ... though one of them has an offset
    assert all(std[f"inlet_offset/{facility.racks.ids[r]}"] == 2.0 for r in unmeasured)


def test_calibration_cuts_the_prediction_error(day: Run) -> None:
    """Over the last 6 h, one-step-ahead errors of measured points fall ≥ 10× (vs the truth).

    Uncalibrated errors are the hidden parameters' effects (0.75 K on the inlets, 15 % of the
    CRAH fans, 10 % of the plant, 30 % of the busbar drops); calibrated ones are only the
    estimation error (σ ≈ 0.02 K, 0.1–0.2 %).
    """
    for group in ("inlet", "crah_fan", "plant", "busbar", "feed", "grid"):
        nominal, calibrated = day.rmse(group)
        assert calibrated * 10 <= nominal, group
    nominal, calibrated = day.rmse("inlet")
    assert nominal > 0.5 and calibrated < 0.05
    # against the readings, what is left is the sensor noise (σ = 0.2 K)
    nominal, calibrated = day.rmse("inlet", against="measured")
    assert calibrated == pytest.approx(0.2, rel=0.15)
    assert nominal > 3 * calibrated


def test_status_and_history(day: Run) -> None:
    facility = day.plant.facility
    status = day.calibrator.status()
    for name in ESTIMATED_FACTORS:
        assert status[name]["converged"] and status[name]["estimated"]
        assert status[name]["samples"] > 90 and status[name]["unit"] == "1"
    assert status["recirculation_scale"] == {
        "value": 1.0,
        "std": 0.0,
        "unit": "1",
        "samples": 0,
        "clipped": 0,
        "converged": False,
        "estimated": False,
    }
    offsets = [n for n in status if n.startswith("inlet_offset/")]
    assert len(offsets) == 12  # only racks with an inlet sensor are listed
    assert all(status[n]["converged"] and status[n]["unit"] == "K" for n in offsets)
    history = day.calibrator.history
    assert {e.name for e in history} == set(offsets) | set(ESTIMATED_FACTORS)
    assert all(e.time.tzinfo is not None for e in history)
    fan = [e for e in history if e.name == "crah_fan_factor"]
    assert len(fan) == 96 and fan[0].std > fan[-1].std
    assert fan[-1].value == status["crah_fan_factor"]["value"]
    drained = day.calibrator.drain_history()
    assert drained == history and day.calibrator.drain_history() == []
    assert len(day.calibrator.uncertainty()) == 4 + facility.racks.count


def test_robust_to_dropouts_and_spikes(demo_day: Day) -> None:
    """30 % dropouts and 10 % spikes (20 σ, random sign) on three sensors.

    Clipping at 4 σ bounds a spike's pull once the estimate has settled; the tolerances are
    twice those of the clean day (fewer readings: σ grows by √(1/0.7) ≈ 1.2).
    """
    facility, series = demo_day
    start = pd.Timestamp(series["time"].values[0]).tz_localize("UTC").to_pydatetime()
    truth = demo_truth(facility, seed=0)
    spiky = ["rack/C04/inlet_temperature", "plant/power", "crah/CRAH-3/fan_power"]
    faults = [SensorFault(p, "spike", start, probability=0.1) for p in spiky]
    plant = VirtualPlant(facility, series, truth, seed=3, dropout=0.3, faults=faults)
    run = _drive(facility, series, plant, Calibrator(facility))
    estimates = run.calibrator.estimates()
    for name in ESTIMATED_FACTORS:
        assert getattr(estimates, name) == pytest.approx(getattr(truth, name), rel=0.02), name
    rack = facility.racks.ids.index("C04")
    assert truth.inlet_offset[rack] > 0.5
    assert estimates.inlet_offset[rack] == pytest.approx(truth.inlet_offset[rack], abs=0.2)
    status = run.calibrator.status()
    assert status["inlet_offset/C04"]["clipped"] >= 1
    assert status["plant_power_factor"]["clipped"] >= 1
    assert status["inlet_offset/C04"]["samples"] < 0.8 * 96  # dropouts really happened


# ---------------------------------------------------------------------------- single updates


@pytest.fixture
def calibrator(demo_day: Day) -> Calibrator:
    return Calibrator(demo_day[0])


T0 = datetime(2026, 7, 6, 12, tzinfo=UTC)


def _inlet(rack: str, value: float, time: datetime = T0) -> Reading:
    return Reading(f"rack/{rack}/inlet_temperature", time, value)


def test_scalar_update_follows_the_kalman_equations(calibrator: Calibrator) -> None:
    predicted = {"rack/A02/inlet_temperature": 21.0}
    assert calibrator.update(T0, [_inlet("A02", 22.0)], predicted) == 1
    prior, noise = 2.0**2, 0.2**2
    gain = prior / (prior + noise)
    assert calibrator.estimates().inlet_offset[1] == pytest.approx(gain * 1.0)
    assert calibrator.uncertainty()["inlet_offset/A02"] == pytest.approx(
        np.sqrt(prior * noise / (prior + noise))
    )


def test_nan_never_updates(calibrator: Calibrator) -> None:
    before = (calibrator.estimates(), calibrator.uncertainty())
    readings = [
        _inlet("A02", float("nan")),
        _inlet("A05", 25.0),
        Reading("crah/CRAH-1/fan_power", T0, float("inf")),
    ]
    predicted = {"rack/A02/inlet_temperature": 21.0, "rack/A05/inlet_temperature": float("nan")}
    predicted["crah/CRAH-1/fan_power"] = 5.0
    assert calibrator.update(T0, readings, predicted) == 0
    assert (calibrator.estimates(), calibrator.uncertainty()) == before
    assert calibrator.history == []


def test_unknown_and_unused_points_are_ignored(calibrator: Calibrator) -> None:
    readings = [
        _inlet("Z99", 30.0),
        Reading("nonsense", T0, 1.0),
        Reading("site/outdoor_temperature", T0, 35.0),
        Reading("rack/A02/power", T0, 130.0),
        _inlet("A08", 22.0),  # no prediction for it
    ]
    predicted = {"site/outdoor_temperature": 30.0, "rack/A02/power": 120.0}
    before = calibrator.estimates()
    assert calibrator.update(T0, readings, predicted) == 0
    assert calibrator.estimates() == before


def test_outliers_are_clipped_at_four_sigma(calibrator: Calibrator) -> None:
    point = "rack/A02/inlet_temperature"
    for minute in range(50):  # the plant reads 1 K above the nominal model; prediction follows
        moment = T0 + timedelta(minutes=minute)
        current = calibrator.estimates().inlet_offset[1]
        calibrator.update(moment, [_inlet("A02", 22.0, moment)], {point: 21.0 + current})
    assert calibrator.status()["inlet_offset/A02"]["clipped"] == 0
    offset = calibrator.estimates().inlet_offset[1]
    variance = calibrator.uncertainty()["inlet_offset/A02"] ** 2
    moment = T0 + timedelta(minutes=50)
    calibrator.update(moment, [_inlet("A02", 21.0 + offset + 50.0, moment)], {point: 21.0 + offset})
    noise = 0.2**2
    bound = 4.0 * np.sqrt(variance + noise)  # forgetting over one minute is ~1e-4 relative
    expected = offset + variance / (variance + noise) * bound
    assert calibrator.estimates().inlet_offset[1] == pytest.approx(expected, rel=1e-3)
    assert calibrator.estimates().inlet_offset[1] - offset < 0.1  # not 50 K
    assert calibrator.status()["inlet_offset/A02"]["clipped"] == 1


def test_factor_update_and_plant_sensitivity(calibrator: Calibrator, demo_day: Day) -> None:
    """One reading of each kind: fans and busbars by ratio; plant power net of fans and pumps."""
    facility, _ = demo_day
    fans = {f"crah/{u}/fan_power": 5.0 for u in facility.units.ids}
    predicted = {**fans, "plant/power": 20.0 + 24.0 + 400.0, "busbar/A01/voltage": 50.8}
    readings = [Reading(p, T0, 5.75) for p in fans]  # +15 %
    readings += [Reading("plant/power", T0, 20.0 * 1.15 + 24.0 + 440.0)]  # fans +15 %, plant +10 %
    readings += [Reading("busbar/A01/voltage", T0, 51.0 - 0.2 * 1.3)]
    assert calibrator.update(T0, readings, predicted) == 6
    got = calibrator.estimates()
    # one update with 1 % noise against a 20 % prior: shrinkage ≤ 1 % of the step
    assert got.crah_fan_factor == pytest.approx(1.15, abs=0.002)
    assert got.plant_power_factor == pytest.approx(1.10, abs=0.01)
    # busbar: one reading, H = −0.2 V, σ = 0.02 V against a 0.3 prior: posterior mean exact
    information = (0.2 / 0.02) ** 2
    shrunk = 1.0 + information / (information + 1 / 0.3**2) * 0.3
    assert got.busbar_resistance_factor == pytest.approx(shrunk, rel=1e-9)
    assert calibrator.status()["busbar_resistance_factor"]["samples"] == 1
    assert calibrator.status()["crah_fan_factor"]["samples"] == 5  # 4 fans + plant power


def test_forgetting_grows_uncertainty_up_to_the_prior(demo_day: Day) -> None:
    facility, _ = demo_day
    point = "rack/A02/inlet_temperature"
    cal = Calibrator(facility, forgetting=0.9)
    cal.update(T0, [_inlet("A02", 22.0)], {point: 21.0})
    after = cal.uncertainty()["inlet_offset/A02"]
    later = T0 + timedelta(hours=2)
    cal.update(later, [], {})
    assert cal.uncertainty()["inlet_offset/A02"] == pytest.approx(after / 0.9, rel=1e-9)
    cal.update(later + timedelta(days=30), [], {})
    assert cal.uncertainty()["inlet_offset/A02"] == pytest.approx(2.0)
    assert cal.uncertainty()["crah_fan_factor"] == pytest.approx(0.2)


def test_times_must_be_timezone_aware(calibrator: Calibrator) -> None:
    with pytest.raises(ValueError, match="naive"):
        calibrator.update(datetime(2026, 7, 6, 12), [], {})
    with pytest.raises(ValueError, match="forgetting"):
        Calibrator(calibrator.facility, forgetting=0.0)
