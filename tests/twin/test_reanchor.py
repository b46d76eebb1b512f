"""Moving the live window keeps the applied plans that reach into it (the single-site twin):
a real re-plan (HiGHS, verified on the twin), approved, then the clock moved to where the
window must move while the plan still runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from tests.helpers import Clock
from tests.helpers import feed as run
from tests.twin.test_live import make_twin
from twin.live.control.payload import schedule_from_json

FIELDS = ("supply_temperature", "chilled_water_temperature", "battery_power", "workload_power")


def test_a_window_move_keeps_the_approved_plan_running(tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 11, 22, 12, 0, tzinfo=UTC))
    twin = make_twin(tmp_path, clock)  # window 21 Nov 00:00 -> 28 Nov 00:00
    assert twin.times[0] == pd.Timestamp("2026-11-21T00:00Z")
    clock.now = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)
    run(twin, clock, 4)
    record = twin.replan()
    twin.approve(record["id"], actor="operator", reason="run it")
    schedule = record["payload"]["schedule"]
    planned = schedule_from_json(schedule, twin.facility)
    times = pd.DatetimeIndex(pd.to_datetime(schedule["time"], utc=True))
    assert times[-1] >= pd.Timestamp("2026-11-27T12:00Z")  # runs past the move below

    clock.now = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)  # less than 24 h left in the window
    assert twin.reanchor_if_needed()
    assert twin.times[0] == pd.Timestamp("2026-11-26T00:00Z")  # the window moved
    span = twin.times.get_indexer(times)
    assert (span >= 0).all()
    changed = False
    for f in FIELDS:  # the plan is still in force, at its own instants, the plant's too
        kept = getattr(twin.schedule, f)[span]
        assert np.allclose(kept, getattr(planned, f), atol=1e-6)
        changed |= not np.allclose(kept, getattr(twin.baseline, f)[span], atol=1e-3)
    assert changed  # and it is not what the new window would run without it
    assert twin.plant is not None and twin.plant.schedule is twin.schedule
    outside = np.ones(len(twin.times), dtype=bool)
    outside[span] = False
    supply = twin.schedule.supply_temperature
    assert np.allclose(supply[outside], twin.baseline.supply_temperature[outside])
    entry = twin.store.audit_log()[0]
    assert entry["action"] == "reanchor"
    kept = {"plan": record["id"], "kept": len(times), "before_window": 0}
    assert entry["detail"]["plans"] == [kept]
    assert entry["detail"]["window"][0] == "2026-11-26T00:00:00+00:00"

    # a plan reverted after it was applied is not carried into the next window
    twin.store.set_plan_status(record["id"], "reverted", "watch", "tripped")
    clock.now += timedelta(days=5)
    assert twin.reanchor_if_needed()
    assert twin.applied_plans == []
    assert np.array_equal(twin.schedule.battery_power, twin.baseline.battery_power)
    assert twin.store.audit_log()[0]["detail"]["plans"] == []
