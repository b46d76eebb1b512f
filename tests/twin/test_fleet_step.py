"""A fleet file served live whose step and duration differ from its sites' scenarios: every
site runs at the fleet's step on a live window that holds the fleet's whole duration from now,
so a live re-plan works and moves a job over a link that needs several periods for its copy
(real SQLite stores, real HiGHS co-plan, the sites' physics)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from optimizer.planner import PlanOptions
from tests.helpers import Clock
from tests.optimizer.test_fleet import fleet_file
from twin.fleet.live import open_fleet
from twin.live.live_twin import LiveSettings

SLOW_LINK = {
    "between": ["expensive", "cheap"],
    "latency": "10 ms",
    "bandwidth": "0.05 Gbit/s",  # 22.5 GB/h: the job's 70 GB take 4 hourly periods
    "price": 0.02,
}


def test_a_fleet_served_live_runs_at_its_step_and_window_and_moves_the_job(
    tmp_path: Path,
) -> None:
    # edge pods at their scenario's 15 min step in a fleet file at 1 h, with a job due 6 days
    # after the window's start.  Until 2026-12-07 each site ran at 15 min on a 7-day live
    # window from 00:00 yesterday, and every re-plan failed: "live step 900 s differs from the
    # fleet's 3600 s", then the job's deadline "outside the fleet window" (5-6 days left).
    path = fleet_file(
        tmp_path,
        simulation={"start": "2026-06-01T00:00:00Z", "duration": "7 d", "step": "1 h"},
        links=[SLOW_LINK],
        jobs=[
            {
                "name": "batch",
                "energy": "150 kWh",
                "deadline": "6 d",
                "sites": ["expensive", "cheap"],
                "checkpoint": "20 GB",
                "data": "50 GB",
            }
        ],
    )
    live = open_fleet(
        path,
        f"sqlite:///{tmp_path}/{{site}}.db",
        LiveSettings(replan_minutes=0),
        virtual_plant=False,
        plan_options=PlanOptions(time_limit=60.0),
    )
    try:
        for site in live.sites.values():
            assert site.twin.step_seconds == 3600.0
            assert len(site.twin.times) == 9 * 24  # 00:00 yesterday + 7 d + 2 d
        record = live.planner.replan(actor="test", reason="test")
        payload = record["payload"]
        summary = payload["summary"]
        assert summary["status"] == "optimal" and summary["verified"], summary.get("problems")
        assert payload["window"]["step_s"] == 3600.0
        assert summary["jobs"]["batch"]["met"]
        (transfer,) = summary["transfers"]
        assert (transfer["from"], transfer["to"], transfer["gb"]) == ("expensive", "cheap", 70.0)
        assert [(f["job"], f["from"], f["to"]) for f in payload["flows"]] == [
            ("batch", "expensive", "cheap")
        ]
        approved = live.planner.approve(record["id"], actor="test", reason="test")
        assert approved["status"] == "approved"
    finally:
        live.stop()
        live.close()


def test_a_plan_made_late_in_a_long_step_can_be_approved_for_an_hour(tmp_path: Path) -> None:
    # a fleet at 1 h: a re-plan 50 min into the hour gets a window starting at the hour.
    # Until 2026-12-07 a plan was stale an hour after its window's start, so this one could
    # be approved for 10 min only (and at a 2 h step, one made 61 min in, never).
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    clock = Clock(hour + timedelta(minutes=50))
    live = open_fleet(
        fleet_file(tmp_path, links=[SLOW_LINK]),
        f"sqlite:///{tmp_path}/{{site}}.db",
        LiveSettings(replan_minutes=0),
        virtual_plant=False,
        clock=clock,
        plan_options=PlanOptions(time_limit=60.0, fine_hours=24.0),
    )
    try:
        first = live.planner.replan(actor="test", reason="test")
        assert first["payload"]["window"]["start"] == hour.isoformat()
        clock.now = hour + timedelta(minutes=50 + 59)  # 109 min after the window's start
        approved = live.planner.approve(first["id"], actor="test", reason="test")
        assert approved["status"] == "approved"
        second = live.planner.replan(actor="test", reason="test")
        clock.now += timedelta(minutes=61)
        with pytest.raises(ValueError, match="stale"):
            live.planner.approve(second["id"], actor="test", reason="test")
    finally:
        live.stop()
        live.close()


@pytest.mark.parametrize("name", ["fleet-small.yaml", "fleet.yaml"])
def test_the_example_fleets_open_live_as_the_readme_serves_them(tmp_path: Path, name: str) -> None:
    """``dctwin serve scenarios/fleet.yaml`` failed (tester9, 7 Dec): a fleet's live window is
    its duration + 2 d (9 d) while the demo hall replays a 7-day file.  The live window repeats
    the replayed file by whole days, so every site's series cover the window."""
    from tests.helpers import SCENARIOS

    fleet = open_fleet(SCENARIOS / name, f"sqlite:///{tmp_path}/{{site}}.db")
    try:
        for twin in fleet.twins.values():
            days = (twin.times[-1] - twin.times[0]).total_seconds() / 86400.0
            assert days > 8.9 and not twin.series["price"].isnull().any()
    finally:
        fleet.close()
