"""Time axes across a daylight-saving change: drawn in order, at one offset, and said so.

Plotly has no time zones, so the figures get naive wall-clock strings.  On the day the clocks
go back, the repeated hour's wall-clock times would run backwards over the hour before it;
in a window across a change :func:`ui.figures.axis_zone` draws the whole axis at the offset of
its start and the axis title says so.  US clocks went back on 1 Nov 2026 at 02:00 CDT
(07:00 UTC); the EU's went forward on 29 Mar 2026 at 01:00 UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from ui import figures, figures_trends

CHICAGO = ZoneInfo("America/Chicago")
BERLIN = ZoneInfo("Europe/Berlin")


def _times(start: datetime, hours: float, step_min: int = 15) -> list[str]:
    steps = int(hours * 60 / step_min)
    return [(start + timedelta(minutes=step_min * k)).isoformat() for k in range(steps)]


def _increasing(x: list[str]) -> bool:
    return all(a < b for a, b in pairwise(x))


def _view(times: list[str]) -> dict[str, list[object]]:
    return {
        "time": times,
        "price": [50.0] * len(times),
        "carbon_intensity": [300.0] * len(times),
    }


def test_a_window_without_a_change_keeps_the_sites_wall_clock() -> None:
    times = _times(datetime(2026, 7, 1, tzinfo=UTC), 24)
    assert figures.axis_zone(CHICAGO, times) is CHICAGO
    fig = figures.plan_signals(_view(times), CHICAGO)
    assert fig.layout.xaxis.title.text == "Time (America/Chicago)"
    assert list(fig.data[0].x)[:2] == ["2026-06-30 19:00:00", "2026-06-30 19:15:00"]


def test_the_repeated_hour_is_drawn_after_the_hour_before_it() -> None:
    times = _times(datetime(2026, 10, 31, 12, tzinfo=UTC), 36)
    # the wall clock alone runs backwards at 02:00 CDT -> 01:00 CST
    assert not _increasing(figures.local_times(times, CHICAGO))
    fig = figures.plan_signals(_view(times), CHICAGO)
    x = list(fig.data[0].x)
    assert len(x) == len(times) and _increasing(x)
    assert x[0] == "2026-10-31 07:00:00"  # CDT, the offset at the window's start
    assert x[-1] == "2026-11-01 18:45:00"  # 23:45 UTC at UTC-05:00 (17:45 CST on the wall)
    assert fig.layout.xaxis.title.text == (
        "Time (UTC\u221205:00 throughout: America/Chicago changes its clocks in this window)"
    )


def test_the_skipped_hour_is_not_drawn_as_a_gap() -> None:
    times = _times(datetime(2026, 3, 28, 12, tzinfo=UTC), 24)
    wall = figures.local_times(times, BERLIN)
    assert "2026-03-29 02:00:00" not in wall and "2026-03-29 03:00:00" in wall  # one hour gone
    fig = figures.plan_signals(_view(times), BERLIN)
    x = [datetime.fromisoformat(t) for t in fig.data[0].x]
    assert {b - a for a, b in pairwise(x)} == {timedelta(minutes=15)}
    assert "UTC+01:00 throughout" in fig.layout.xaxis.title.text


def test_a_year_with_both_changes_is_drawn_at_one_offset() -> None:
    """The offsets at both ends agree (winter); the summer between them is still seen."""
    ends = ["2026-01-01T00:00:00+00:00", "2026-12-31T00:00:00+00:00"]
    zone = figures.axis_zone(BERLIN, ends)
    assert zone is not BERLIN
    assert zone.utcoffset(None) == timedelta(hours=1)


@pytest.mark.parametrize(
    ("start", "expected"),
    [("2026-11-01T03:00:00+00:00", "fixed"), ("2026-11-01T12:00:00+00:00", "site")],
)
def test_overview_trends_share_one_axis_zone_for_their_window(start: str, expected: str) -> None:
    """Every trend of the Overview is drawn in the zone of the page's window, lines and the
    window's range alike (a trace that itself does not cross the change included)."""
    now = "2026-11-01T18:00:00+00:00"
    late = _times(datetime(2026, 11, 1, 9, tzinfo=UTC), 9, 60)  # after the change only
    data = {
        "start": start,
        "time": now,
        "midnight": "2026-11-01T05:00:00+00:00",
        "grid": {"time": late, "value": [1.0] * len(late), "contract_kw": 2.0},
        "hottest": {"time": late, "value": [25.0] * len(late), "rack": ["A01"] * len(late),
                    "limit": 27.0},
        "cost": {"time": late, "value": [1.0] * len(late), "currency": "USD"},
    }  # fmt: skip
    trends = figures_trends.overview_trends(data, CHICAGO)
    offset = -5 if expected == "fixed" else -6  # CDT at the window's start, else CST
    first_late = (datetime(2026, 11, 1, 9) + timedelta(hours=offset)).isoformat(sep=" ")
    for figure in trends:
        assert figure["data"][0]["x"][0] == first_late
        title = figure["layout"]["xaxis"]["title"]["text"]
        assert ("throughout" in title) == (expected == "fixed")
        x_range = figure["layout"]["xaxis"]["range"]
        assert x_range[1] == (datetime(2026, 11, 1, 18) + timedelta(hours=offset)).isoformat(
            sep=" "
        )
