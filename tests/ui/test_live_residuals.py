"""The Live page's comparison around an approval: the model gives a whole 15-minute step the
schedule in force, so the readings of the step in which a plan was applied, before it was,
ran another schedule; they are left out of the comparison and the page says so."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.helpers import START, Clock, feed, live_twin
from ui import callbacks as cb
from ui import views_live


def test_readings_before_an_approval_inside_its_step_are_not_compared(tmp_path: Path) -> None:
    clock = Clock(START + timedelta(hours=2))
    twin = live_twin(tmp_path, clock, virtual_plant=True, plan_time_limit_s=30)
    try:
        feed(twin, clock, 14)  # 7 minutes into the 15-minute step
        plan = twin.replan()
        applied_at = clock.now
        twin.approve(plan["id"], actor="test", reason="mid-step")
        feed(twin, clock, 30)
        data = views_live.residuals(twin, ["grid/power"], 1.0)
        step_start = START + timedelta(hours=2)
        assert data["not_compared"] == [
            {"start": step_start.isoformat(), "end": applied_at.isoformat()}
        ]
        series = data["series"]["grid/power"]
        times = [datetime.fromisoformat(t) for t in series["time"]]
        before = [p for t, p in zip(times, series["predicted"], strict=True) if t < step_start]
        inside = [
            p for t, p in zip(times, series["predicted"], strict=True)
            if step_start <= t < applied_at
        ]  # fmt: skip
        after = [p for t, p in zip(times, series["predicted"], strict=True) if t >= applied_at]
        assert inside and all(p is None for p in inside)
        assert after and all(p is not None for p in after)
        assert all(p is not None for p in before)
        note = cb._not_compared(data["not_compared"], ZoneInfo("America/Chicago"))
        assert note.startswith("; readings 08:00–08:07:00 (America/Chicago) not compared")
    finally:
        twin.stop()
