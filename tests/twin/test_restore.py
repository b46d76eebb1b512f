"""A restarted twin runs the plans that were in force (real SQLite store, real HiGHS re-plan,
verified on the twin): the plans still ``applied`` in the store, made on the same scenario,
are merged back at their own instants and the newest is watched again; a plan made on a
replaced scenario is left out and said so; a plan with no step on the window is refused
before anything is written."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers import Clock, demo_hall_due_today
from tests.helpers import feed as run
from tests.twin.test_live import make_twin
from twin.live.control.payload import schedule_from_json
from twin.live.live_twin import LiveTwin

FIELDS = ("supply_temperature", "chilled_water_temperature", "battery_power", "workload_power")
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _approved(twin: LiveTwin, clock: Clock) -> dict:
    run(twin, clock, 4)
    record = twin.replan()
    twin.approve(record["id"], actor="operator", reason="run it")
    return dict(record)


def _restarted(folder: Path, clock: Clock) -> LiveTwin:
    twin = make_twin(folder, clock, scenario=demo_hall_due_today())
    twin.start()
    twin.stop()
    return twin


def test_a_restart_restores_the_applied_plan_and_its_watch(tmp_path: Path) -> None:
    clock = Clock(NOW)
    first = make_twin(tmp_path, clock, scenario=demo_hall_due_today())
    record = _approved(first, clock)
    before = first.schedule
    first.store.close()

    clock.now += timedelta(minutes=5)  # within the watch (60 min by default)
    twin = make_twin(tmp_path, clock, scenario=demo_hall_due_today())
    assert np.array_equal(twin.schedule.supply_temperature, twin.baseline.supply_temperature)
    twin.start()
    twin.stop()
    schedule = record["payload"]["schedule"]
    span = twin.times.get_indexer(pd.DatetimeIndex(pd.to_datetime(schedule["time"], utc=True)))
    assert (span >= 0).all()
    planned = schedule_from_json(schedule, twin.facility)
    for f in FIELDS:
        assert np.allclose(getattr(twin.schedule, f)[span], getattr(planned, f), atol=1e-6)
        assert np.array_equal(getattr(twin.schedule, f), getattr(before, f))
    assert twin.applied_plans == [record["id"]]
    assert twin.plant is not None and twin.plant.schedule is twin.schedule
    assert twin.supervisor.watch is not None and twin.supervisor.watch.plan_id == record["id"]
    entries = {e["action"]: e for e in twin.store.audit_log(limit=20)}
    assert entries["restore"]["detail"]["plans"] == [
        {"plan": record["id"], "kept": len(schedule["time"]), "before_window": 0}
    ]
    assert entries["watch_start"]["target"] == record["id"]
    twin.store.close()

    clock.now += timedelta(hours=2)  # the watch had ended: the plan runs, unwatched
    later = _restarted(tmp_path, clock)
    assert later.applied_plans == [record["id"]]
    assert later.supervisor.watch is None
    later.store.close()


def test_nothing_out_of_force_comes_back_after_a_scenario_replacement(tmp_path: Path) -> None:
    """Plan ``before`` (on the file's scenario) is taken out of force by ``PUT /scenario``;
    plan ``after`` is made on the replaced scenario.  A restart serves the file again: neither
    comes back (the hall runs as operated), and the audit says why for each."""
    clock = Clock(NOW)
    first = make_twin(tmp_path, clock, scenario=demo_hall_due_today())
    before = _approved(first, clock)
    data = copy.deepcopy(first.base_data)
    data["site"] = {**data["site"], "name": "Demo AI hall (edited)"}
    first.replace_scenario(data, actor="admin")
    after = _approved(first, clock)
    first.store.close()

    twin = _restarted(tmp_path, clock)  # the service starts again on its file
    assert twin.applied_plans == []
    for f in FIELDS:
        assert np.array_equal(getattr(twin.schedule, f), getattr(twin.baseline, f))
    assert twin.supervisor.watch is None
    entry = next(e for e in twin.store.audit_log(limit=20) if e["action"] == "restore")
    skipped = {p["plan"]: p["skipped"] for p in entry["detail"]["plans"]}
    assert skipped[after["id"]] == "made on another scenario"
    assert skipped[before["id"]].startswith("out of force since the scenario was replaced")
    assert entry["reason"].startswith("0 plan(s) in force again")
    twin.store.close()


def test_a_plan_off_the_window_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    clock = Clock(NOW)
    twin = make_twin(tmp_path, clock, scenario=demo_hall_due_today())
    run(twin, clock, 4)
    record = twin.replan()
    clock.now += timedelta(days=12)  # the window moves past every step of the proposal
    assert twin.reanchor_if_needed()
    with pytest.raises(ValueError, match="no step of it lies on the live window"):
        twin.approve(record["id"], actor="operator", reason="late")
    assert twin.store.get_plan(record["id"])["status"] == "proposed"
    assert twin.applied_plans == []
    assert all(e["action"] != "approve" for e in twin.store.audit_log(limit=20))
    twin.store.close()
