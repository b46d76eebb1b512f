"""Readings stamped ahead of the twin's clock (accepted up to ``MAX_FUTURE``, 5 min) never
stamp an alarm or a watch trip in the future, and a limit alarm's minimum duration needs
continuous evidence (tester finding 4, 7 Dec: a critical alarm and a ``watch_trip`` stamped
80 s ahead, from two readings 12 minutes apart).

Real parts: the demo hall's live twin with its virtual plant, SQLite, HiGHS re-plans.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.helpers import TICK, Clock, demo_hall_due_today
from tests.helpers import feed as run
from tests.twin.test_live import make_twin
from twin.live.control.watch import PlanWatch
from twin.live.live_twin import LiveTwin
from twin.scenario.points import Reading

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
POINT = "rack/A01/inlet_temperature"  # no sensor of the virtual plant reads it
HIGH = "limit_inlet_temperature_high"


def _post(twin: LiveTwin, moment: datetime, value: float) -> None:
    result = twin.ingest([{"time": moment.isoformat(), "point": POINT, "value": value}])
    assert result.accepted == 1, result.rejected
    twin.drain()


def _alarms(twin: LiveTwin, kind: str = HIGH) -> list[dict]:
    return [
        dict(a)
        for a in twin.store.alarms(active_only=False)
        if a["kind"] == kind and a["source"] == POINT
    ]


def test_skewed_readings_need_continuous_evidence_and_stamp_nothing_ahead(
    tmp_path: Path,
) -> None:
    clock = Clock(NOW)
    twin = make_twin(tmp_path, clock, faults=[], scenario=demo_hall_due_today())
    run(twin, clock, 4)
    plan = twin.replan()
    twin.approve(plan["id"], actor="operator", reason="under watch")
    watch = twin.supervisor.watch
    assert watch is not None and watch.active

    # the tester's repro: 29 °C (2 K over the limit) ten minutes ago and two minutes ahead
    _post(twin, clock.now - timedelta(minutes=10), 29.0)
    _post(twin, clock.now + timedelta(minutes=2), 29.0)
    assert _alarms(twin) == []  # two readings 12 min apart are not 30 s of evidence
    assert watch.active

    # a gateway whose clock runs 2 min fast, reading every 30 s: alarmed at its second
    # reading, stamped at the twin's clock, and the watch trips at the clock too
    for _ in range(2):
        run(twin, clock, 1)
        _post(twin, clock.now + timedelta(minutes=2), 29.0)
    (alarm,) = _alarms(twin)
    assert alarm["severity"] == "critical"
    assert alarm["raised"] <= clock.now
    assert alarm["detail"]["readings_ahead_s"] == 120.0
    assert watch.trip is not None and watch.trip.time <= clock.now
    trip = next(e for e in twin.store.audit_log(limit=50) if e["action"] == "watch_trip")
    assert trip["detail"]["readings_ahead_s"] == 120.0
    assert datetime.fromisoformat(trip["detail"]["time"]) <= clock.now
    for every in twin.store.alarms(active_only=False):
        assert every["raised"] <= clock.now, every


def _plant_power(moment: datetime, value: float) -> list[Reading]:
    return [Reading("plant/power", moment, value)]


def test_the_watch_residual_needs_readings_without_long_gaps() -> None:
    start = NOW
    watch = PlanWatch("p", start, ["plant/power"], {"plant/power": "kW"})
    predicted = {"plant/power": 600.0}
    # 700 kW (beyond 10 %) read once, and again 12 min later: not 10 min of evidence
    assert watch.observe(start, _plant_power(start, 700.0), predicted) is None
    later = start + timedelta(minutes=12)
    assert watch.observe(later, _plant_power(later, 700.0), predicted) is None
    # then every 30 s: the residual lasts 10 min from the reading at ``later``
    moment = later
    trip = None
    while trip is None and moment < later + timedelta(minutes=11):
        moment += TICK
        trip = watch.observe(moment, _plant_power(moment, 700.0), predicted)
    assert trip is not None and trip.cause == "residual"
    assert moment - later == timedelta(minutes=10)
