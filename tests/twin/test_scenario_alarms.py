"""After ``PUT /scenario`` (tester tryout3 finding 8, 7 Dec): the active limit alarms are
judged again against the new limits at once (cleared, or re-worded with the new limit: no
text keeps the old one), and the staleness check does not claim "no reading accepted yet"
while readings arrive.

Real parts: the demo hall's live twin with its virtual plant on a SQLite store.
"""

from __future__ import annotations

import copy
from pathlib import Path

from tests.helpers import START, TICK, Clock
from tests.helpers import feed as run
from tests.twin.test_live import make_twin
from twin.live.live_twin import LiveTwin


def _hot(twin: LiveTwin, clock: Clock, values: dict[str, float], ticks: int) -> None:
    for k in range(ticks):
        clock.now += TICK
        twin.plant_tick()
        items = [
            {"time": clock.now.isoformat(), "point": p, "value": v + 0.05 * (k % 3)}
            for p, v in values.items()
        ]
        twin.ingest(items)
        twin.drain()


def test_limit_alarms_are_judged_again_after_a_scenario_change(tmp_path: Path) -> None:
    clock = Clock(START)
    twin = make_twin(tmp_path, clock, faults=[])
    run(twin, clock, 4)
    warm, hot = "rack/A01/inlet_temperature", "rack/B01/inlet_temperature"
    _hot(twin, clock, {warm: 30.5, hot: 40.0}, 4)
    before = {
        a["point"]: a for a in twin.store.alarms(active_only=True) if a["kind"].startswith("limit_")
    }
    assert before[warm]["severity"] == before[hot]["severity"] == "critical"
    assert "27.00 °C limit" in before[hot]["message"]

    data = copy.deepcopy(twin.base_data)
    data["site"] = {**data["site"], "inlet_limit": "allowable"}
    twin.replace_scenario(data, actor="admin")
    limit = twin.facility.inlet_limit
    assert 30.5 + 1.5 < limit < 40.0
    # readings keep arriving: the state is not "stale, no reading accepted yet"
    assert twin.check_staleness() is False
    assert not [a for a in twin.store.alarms(active_only=True) if a["kind"] == "telemetry_stale"]

    _hot(twin, clock, {warm: 30.5, hot: 40.0}, 1)
    cleared = twin.store.get_alarm(before[warm]["id"])
    assert cleared is not None and cleared["cleared"] is not None
    reworded = twin.store.get_alarm(before[hot]["id"])
    assert reworded is not None and reworded["cleared"] is None
    assert reworded["severity"] == "critical"
    assert f"{limit:.2f} °C limit" in reworded["message"]
    assert "27.00" not in reworded["message"]
    assert reworded["detail"]["limit"] == limit
    assert twin.check_staleness() is False
