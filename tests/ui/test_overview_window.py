"""The Overview's trends around the site's local midnight, the UTC midnight and the
daylight-saving changes of the demo hall's timezone (America/Chicago: 8 March and 1 November
2026), on a live twin fed by its virtual plant at fixed instants (real SQLite and physics).

Just after local midnight the trends used to run "since midnight" only: at 00:00:30 one
minute of data, a line of one point that plotly does not draw, so the Overview looked empty
(the browser test's flake after 06:00 UTC).  They now show at least the last 6 h, while the
cost keeps counting from local midnight.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.helpers import Clock, live_twin
from twin.live.live_twin import LiveTwin
from ui import figures_trends, views_overview

CHICAGO = ZoneInfo("America/Chicago")
HISTORY = timedelta(hours=7)
"""Telemetry fed before each instant (more than the 6 h the young day's trends show)."""
TICK = timedelta(minutes=10)
"""Spacing of the virtual plant's readings in these tests (sparse: quick to feed)."""


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, s: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, s, tzinfo=UTC)


LAST = timedelta(seconds=20)
"""Age of the newest reading at the instant (a reading stamped ``now`` itself is not in a
window that ends at ``now``)."""


@pytest.fixture
def twin_at(tmp_path: Path) -> Iterator[Callable[[datetime], LiveTwin]]:
    """A live twin of the demo hall whose clock stands at the given instant, with
    :data:`HISTORY` of virtual-plant readings :data:`TICK` apart, the last :data:`LAST`
    before it."""
    twins: list[LiveTwin] = []

    def make(now: datetime) -> LiveTwin:
        clock = Clock(now - LAST - HISTORY)
        twin = live_twin(tmp_path / str(len(twins)), clock, virtual_plant=True)
        twins.append(twin)
        while clock.now <= now - LAST:
            twin.plant_tick()
            twin.drain()
            clock.now += TICK
        clock.now = now
        return twin

    yield make
    for twin in twins:
        twin.store.close()


# (now, local midnight of its site day, where the trends start), all UTC
INSTANTS = {
    # 00:00:30 CST: the failure seen on 7 Dec after 06:00 UTC
    "just after local midnight": (
        _utc(2026, 12, 7, 6, 0, 30),
        _utc(2026, 12, 7, 6),
        _utc(2026, 12, 7, 0, 0),
    ),
    # 18:00:30 CST: the UTC day turns, the site day does not
    "just after UTC midnight": (
        _utc(2026, 12, 7, 0, 0, 30),
        _utc(2026, 12, 6, 6),
        _utc(2026, 12, 6, 6),
    ),
    # 04:00 CDT on 8 March: 3 h of site day (02:00 CST became 03:00 CDT), not 4
    "spring forward, 3 h of site day": (
        _utc(2026, 3, 8, 9),
        _utc(2026, 3, 8, 6),
        _utc(2026, 3, 8, 3),
    ),
    # 00:30 CDT on 1 November (midnight is 05:00 UTC, the day lasts 25 h)
    "fall back day, just after midnight": (
        _utc(2026, 11, 1, 5, 30),
        _utc(2026, 11, 1, 5),
        _utc(2026, 10, 31, 23, 30),
    ),
    # 00:30 CST on 2 November: midnight is now 06:00 UTC
    "the day after fall back": (
        _utc(2026, 11, 2, 6, 30),
        _utc(2026, 11, 2, 6),
        _utc(2026, 11, 2, 0, 30),
    ),
}


@pytest.mark.parametrize("case", list(INSTANTS))
def test_trends_show_the_last_hours_while_the_cost_counts_since_local_midnight(
    case: str, twin_at: Callable[[datetime], LiveTwin]
) -> None:
    now, midnight, start = INSTANTS[case]
    assert now.astimezone(CHICAGO).replace(hour=0, minute=0, second=0) == midnight
    twin = twin_at(now)
    assert twin.clock() == now
    data = views_overview.trends(twin)
    # the grid import and the hottest inlet cover the window (as far as there is telemetry),
    # not the minute since midnight: one reading per TICK, each in a 1-minute bucket of its
    # own (the plant drops ~2 % of its readings)
    fed = max(start, now - LAST - HISTORY)
    expected = (now - LAST - fed) // TICK + 1
    for trend in ("grid", "hottest"):
        times = [datetime.fromisoformat(t) for t in data[trend]["time"]]
        assert expected - 4 <= len(times) <= expected, trend
        assert start <= times[0] <= fed + 4 * TICK and now - LAST - TICK < times[-1] < now, trend
    assert datetime.fromisoformat(data["start"]) == start
    assert datetime.fromisoformat(data["time"]) == now
    assert now - datetime.fromisoformat(data["start"]) >= timedelta(hours=6)
    # the cost counts from local midnight only, and the card is its last value
    cost_times = [datetime.fromisoformat(t) for t in data["cost"]["time"]]
    grid_times = [datetime.fromisoformat(t) for t in data["grid"]["time"]]
    assert cost_times == [t for t in grid_times if t >= midnight]
    cost_today = views_overview.cost_today(twin, now)
    assert data["cost"]["value"][-1] == pytest.approx(cost_today, rel=1e-12)
    assert cost_today > 0.0


@pytest.mark.parametrize("case", list(INSTANTS))
def test_the_figures_say_which_window_they_show_and_mark_midnight(
    case: str, twin_at: Callable[[datetime], LiveTwin]
) -> None:
    now, midnight, start = INSTANTS[case]
    twin = twin_at(now)
    grid, hottest, cost = figures_trends.overview_trends(views_overview.trends(twin), CHICAGO)
    young = midnight > start
    window = "last 6 h" if young else "since 00:00"
    assert grid["layout"]["title"]["text"] == f"Grid import · {window}"
    assert hottest["layout"]["title"]["text"] == f"Hottest rack inlet (estimate) · {window}"
    assert cost["layout"]["title"]["text"] == "Cost so far today · since 00:00"
    # a window across a clock change is drawn at its start's offset throughout (in order)
    offset = start.astimezone(CHICAGO).utcoffset()
    crosses = offset != now.astimezone(CHICAGO).utcoffset()
    zone = timezone(offset) if crosses and offset is not None else CHICAGO
    local = [t.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") for t in (start, now)]
    assert crosses == (case == "spring forward, 3 h of site day")
    for figure in (grid, hottest, cost):
        assert figure["layout"]["xaxis"]["range"] == local
        assert ("throughout" in figure["layout"]["xaxis"]["title"]["text"]) == crosses
        shapes = figure["layout"].get("shapes", [])
        if young:  # a dotted line at the site's midnight, labelled
            marked = midnight.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
            assert [s["x0"] for s in shapes] == [marked]
            assert figure["layout"]["annotations"][0]["text"] == "00:00"
        else:
            assert shapes == []
    assert len(grid["data"][0]["x"]) >= (now - max(start, now - HISTORY)) // TICK - 4


def test_cost_today_restarts_at_local_midnight_not_at_the_utc_one(
    twin_at: Callable[[datetime], LiveTwin],
) -> None:
    """Across the site's midnight the day's cost starts again from 0 (a few seconds'
    worth just after); across the UTC midnight it keeps growing."""
    twin = twin_at(_utc(2026, 12, 7, 6, 0, 30))
    before, after = (
        views_overview.cost_today(twin, _utc(2026, 12, 7, 5, 59, 30)),
        views_overview.cost_today(twin, _utc(2026, 12, 7, 6, 0, 30)),
    )
    assert before > 0.0 and 0.0 < after < before / 10.0  # 30 s against ~42 one-minute means
    late = [_utc(2026, 12, 6, 23, 59, 30), _utc(2026, 12, 7, 0, 0, 30), _utc(2026, 12, 7, 1)]
    costs = [views_overview.cost_today(twin, moment) for moment in late]
    assert costs == sorted(costs) and costs[0] > 0.0


def test_a_trend_of_one_reading_is_drawn_as_a_marker() -> None:
    """A server (or a site day) a few seconds old has one minute of data: a line of one point
    draws nothing, so the trend shows a marker instead."""
    data = {
        "start": "2026-12-07T00:00:00+00:00",
        "midnight": "2026-12-07T06:00:00+00:00",
        "time": "2026-12-07T06:00:30+00:00",
        "grid": {"time": ["2026-12-07T06:00:00+00:00"], "value": [3000.0], "contract_kw": 5e3},
        "hottest": {"time": [], "value": [], "rack": [], "limit": 27.0},
        "cost": {"time": ["2026-12-07T06:00:00+00:00"], "value": [0.5], "currency": "USD"},
    }
    grid, hottest, cost = figures_trends.overview_trends(data, CHICAGO)
    assert grid["data"][0]["mode"] == "lines+markers" and grid["data"][0]["x"]
    assert cost["data"][0]["mode"] == "lines+markers"
    assert hottest["layout"]["title"]["text"].endswith(" — no data yet")
    data["grid"] = {**data["grid"], "time": ["2026-12-07T05:59:00+00:00", data["time"]]}
    data["grid"]["value"] = [3000.0, 3010.0]
    assert figures_trends.overview_trends(data, CHICAGO)[0]["data"][0]["mode"] == "lines"


def test_a_long_gap_in_a_trend_is_a_break_not_a_line() -> None:
    """A 30-min gap in samples a minute apart (the twin was down) gets one break halfway
    (NaN, no rack); a missed reading in telemetry every 10 min does not."""
    t0 = _utc(2026, 12, 7, 8)
    minutes = [0, 1, 2, 32, 33]
    times = [t0 + timedelta(minutes=m) for m in minutes]
    drawn, values, racks = views_overview.broken_at_gaps(times, [20.0] * 5, list("abcde"))
    assert drawn == [*times[:3], t0 + timedelta(minutes=17), *times[3:]]
    assert [v == v for v in values] == [True, True, True, False, True, True]
    assert racks == ["a", "b", "c", "", "d", "e"]
    sparse = [t0 + timedelta(minutes=m) for m in (0, 10, 20, 40, 50)]
    assert views_overview.broken_at_gaps(sparse, [1.0] * 5)[0] == sparse
    assert views_overview.broken_at_gaps([], []) == ([], [], [])
