"""The calibrated state survives a restart (tester tryout3 finding 2, 7 Dec: a restart reset
the calibration to its prior): factors, per-rack offsets and sample counts are written to the
store while the twin runs and when it stops, and a new twin on the same SQLite file resumes
from them; a state made on another scenario is not resumed.

Real parts: the demo hall's live twin with its virtual plant (hidden truth: fans 15 % and
the plant 10 % above their data sheets, busbars 30 %), a SQLite file reopened by a new
store and a new twin.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path

import pytest

from tests.helpers import START, Clock
from tests.helpers import feed as run
from tests.twin.test_live import make_twin
from twin.live.control.persist import CALIBRATION, HOTTEST
from twin.live.live_twin import LiveTwin
from ui.views_overview import trends

FACTORS = ("crah_fan_factor", "plant_power_factor", "busbar_resistance_factor")


def _calibrated(folder: Path, clock: Clock) -> tuple[LiveTwin, dict]:
    twin = make_twin(folder, clock, faults=[])
    run(twin, clock, 20)  # 10 min of readings
    status = twin.calibrator.status()
    assert status["plant_power_factor"]["value"] > 1.05  # it learned the hidden truth
    return twin, status


def test_the_calibration_is_resumed_after_a_restart_on_sqlite(tmp_path: Path) -> None:
    clock = Clock(START)
    twin, status = _calibrated(tmp_path, clock)
    # written while running (a kill -9 loses at most a minute of learning) ...
    saved = twin.store.snapshot(CALIBRATION)
    assert saved is not None and saved["scenario_digest"] == twin.scenario_digest
    twin.stop()  # ... and when the twin stops
    twin.store.close()

    clock.now += timedelta(minutes=30)
    again = make_twin(tmp_path, clock, faults=[])
    assert again.calibrator.status()["plant_power_factor"]["value"] == 1.0  # the prior
    again.start()
    again.stop()
    resumed = again.calibrator.status()
    for name in FACTORS:
        assert resumed[name]["value"] == pytest.approx(status[name]["value"], rel=1e-12)
        assert resumed[name]["samples"] == status[name]["samples"] > 0
    offsets = [n for n in status if n.startswith("inlet_offset/")]
    assert len(offsets) >= 12
    for name in offsets:
        assert resumed[name]["value"] == pytest.approx(status[name]["value"], abs=1e-12)
        assert resumed[name]["samples"] == status[name]["samples"]
    assert again.parameters.plant_power_factor == pytest.approx(
        status["plant_power_factor"]["value"]
    )
    entry = next(e for e in again.store.audit_log(limit=20) if e["action"] == "restore_calibration")
    assert "resumed" in entry["reason"] and entry["detail"]["racks"] == 36
    # learning goes on from there: the next readings move it as a calibrated twin's would
    run(again, clock, 2)
    assert (
        again.calibrator.status()["plant_power_factor"]["samples"]
        > (status["plant_power_factor"]["samples"])
    )


def test_a_calibration_made_on_another_scenario_is_not_resumed(tmp_path: Path) -> None:
    clock = Clock(START)
    twin, _ = _calibrated(tmp_path, clock)
    twin.stop()
    again = _restarted_after_another_scenario(twin, CALIBRATION, tmp_path, clock)
    assert again.calibrator.status()["plant_power_factor"]["samples"] == 0
    entry = next(e for e in again.store.audit_log(limit=20) if e["action"] == "restore_calibration")
    assert entry["detail"]["skipped"] == "made on another scenario"


def test_the_hottest_inlet_trend_goes_on_across_a_restart(tmp_path: Path) -> None:
    """The Overview's hottest-inlet trend (one estimate a minute) was empty after every
    restart: it is saved with the calibrated state and resumed, and the new twin's own
    estimates follow it; a trend saved on another scenario is not resumed."""
    clock = Clock(START)
    twin, _ = _calibrated(tmp_path, clock)
    before_times, before_values, before_racks = twin.estimator.history.hottest()
    assert len(before_times) >= 9  # 10 min of readings, one sample a minute
    twin.stop()
    twin.store.close()

    clock.now += timedelta(minutes=30)
    again = make_twin(tmp_path, clock, faults=[])
    assert again.estimator.history.hottest()[0] == []  # nothing until it resumes
    again.start()
    times, values, racks = again.estimator.history.hottest()
    assert times == before_times and racks == before_racks
    assert values == pytest.approx(before_values, abs=1e-4)  # saved to 4 decimals [°C]
    shown = trends(again, clock())["hottest"]
    assert shown["time"] == [t.isoformat() for t in before_times]
    run(again, clock, 2)  # its own estimates come after the resumed ones
    later, _, _ = again.estimator.history.hottest()
    assert later[: len(before_times)] == before_times and len(later) > len(before_times)
    assert later[len(before_times)] > before_times[-1]
    # the 30 min the twin was down are a break in the line, not a straight line across
    drawn = trends(again, clock())["hottest"]
    gap = len(before_times)
    assert drawn["value"][gap] is None and drawn["rack"][gap] == ""
    assert None not in drawn["value"][:gap] + drawn["value"][gap + 1 :]
    again.stop()
    saved = again.store.snapshot(HOTTEST)
    assert saved is not None and len(saved["time"]) == len(later)
    third = _restarted_after_another_scenario(again, HOTTEST, tmp_path, clock)
    assert third.estimator.history.hottest()[0] == []
    third.store.close()


def _restarted_after_another_scenario(
    twin: LiveTwin, snapshot: str, folder: Path, clock: Clock
) -> LiveTwin:
    """A new twin on ``twin``'s (stopped) store, started and stopped, after its ``snapshot``
    was marked as made on another scenario."""
    data = copy.deepcopy(twin.store.snapshot(snapshot))
    assert data is not None
    data["scenario_digest"] = "another"
    twin.store.save_snapshot(snapshot, data)
    twin.store.close()
    again = make_twin(folder, clock, faults=[])
    again.start()
    again.stop()
    return again
