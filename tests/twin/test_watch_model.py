"""The watch after an applied plan compares the readings with the model as calibrated when the
plan was applied, so the online calibration cannot learn a divergence away before the watch's
residual window ends (tester finding 2, 7 Dec: plant power 14 % above the model was absorbed
as ``plant_power_factor`` 1.0 → 1.99 within ~2 min and the watch never tripped).

Real parts: the demo hall's live twin with its virtual plant, SQLite, HiGHS re-plans.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.helpers import TICK, Clock, change_hidden_truth, demo_hall_due_today
from tests.helpers import feed as run
from tests.twin.test_live import make_twin
from twin.live.control.watch import model_from_json, model_json
from twin.live.live_twin import LiveTwin
from twin.live.virtual_plant import VirtualPlant

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _approved(twin: LiveTwin, clock: Clock) -> str:
    run(twin, clock, 4)
    record = twin.replan()
    twin.approve(record["id"], actor="operator", reason="night shift test")
    watch = twin.supervisor.watch
    assert watch is not None and "plant/power" in watch.points
    return str(record["id"])


def _less_efficient_plant(twin: LiveTwin, factor: float) -> None:
    """From now the plant draws ``factor`` × its power (the twin is not told)."""
    assert twin.plant is not None
    change_hidden_truth(twin, plant_power_factor=twin.plant.truth.plant_power_factor * factor)


def test_a_sustained_plant_power_divergence_after_approval_trips_the_watch(
    tmp_path: Path,
) -> None:
    clock = Clock(NOW)
    twin = make_twin(tmp_path, clock, faults=[], scenario=demo_hall_due_today())
    plan_id = _approved(twin, clock)
    watch = twin.supervisor.watch
    assert watch is not None and watch.parameters is not None
    frozen = watch.parameters.plant_power_factor
    changed = clock.now
    _less_efficient_plant(twin, 1.14)  # ~14 % more plant power than the model
    ticks = 0
    while watch.trip is None and ticks < 26:  # 13 min of 30 s readings
        run(twin, clock, 1)
        ticks += 1
    # the calibration still learns the new plant (screening and the estimate use it) ...
    assert twin.parameters.plant_power_factor > frozen * 1.05, (ticks, watch.status())
    # ... but the watch judged against the model of the approval and tripped on its residual
    assert watch.trip is not None, watch.status()
    assert watch.trip.cause == "residual" and watch.trip.point == "plant/power"
    assert timedelta(minutes=10) <= watch.trip.time - changed <= timedelta(minutes=11)
    assert "as calibrated when the plan was applied" in watch.trip.reason
    actions = [(e["action"], e["target"]) for e in twin.store.audit_log(limit=100)]
    assert ("watch_trip", plan_id) in actions
    start = next(e for e in twin.store.audit_log(limit=100) if e["action"] == "watch_start")
    assert start["detail"]["model"]["plant_power_factor"] == pytest.approx(frozen)


def test_a_restarted_watch_keeps_the_model_it_started_with(tmp_path: Path) -> None:
    clock = Clock(NOW)
    first = make_twin(tmp_path, clock, faults=[], scenario=demo_hall_due_today())
    plan_id = _approved(first, clock)
    assert first.supervisor.watch is not None
    before = first.supervisor.watch.parameters
    assert before is not None and before.plant_power_factor > 1.05  # learned: truth 1.10
    assert model_from_json(model_json(before)) == before
    first.store.close()

    clock.now += 10 * TICK
    twin = make_twin(tmp_path, clock, faults=[], scenario=demo_hall_due_today())
    twin.start()
    twin.stop()
    # the calibration is resumed from the store (loop7), and the watch keeps its own model
    assert twin.parameters.plant_power_factor > 1.05
    watch = twin.supervisor.watch
    assert watch is not None and watch.plan_id == plan_id
    assert watch.parameters == before
    twin.store.close()


def test_the_tester_repro_trips_although_the_screening_excludes_the_meter(
    tmp_path: Path,
) -> None:
    """The tester's run: no plant power meter until after the approval, then 14 % above the
    model.  The calibration moves and the screening then takes the meter for faulty (its
    readings are excluded); the watch judges every reading of its points and still trips."""
    clock = Clock(NOW)
    twin = make_twin(tmp_path, clock, faults=[], scenario=demo_hall_due_today())
    assert twin.plant is not None
    sensors = [s for s in twin.plant.sensors if s != "plant/power"]
    twin.plant = VirtualPlant(
        twin.facility, twin.series, twin.plant.truth, seed=0, faults=[], sensors=sensors
    )
    _approved(twin, clock)
    watch = twin.supervisor.watch
    assert watch is not None and watch.parameters is not None
    model = twin.predicted(clock.now, watch.parameters)["plant/power"]
    changed = clock.now
    ticks = 0
    while watch.trip is None and ticks < 26:
        reading = {"time": clock.now.isoformat(), "point": "plant/power", "value": 1.14 * model}
        assert twin.ingest([reading]).accepted == 1
        run(twin, clock, 1)
        ticks += 1
    assert twin.screening()["plant/power"]["faulty"] > 0  # excluded by the screening
    assert watch.trip is not None and watch.trip.point == "plant/power", watch.status()
    assert timedelta(minutes=10) <= watch.trip.time - changed <= timedelta(minutes=11)
