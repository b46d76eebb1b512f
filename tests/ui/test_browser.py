"""End to end in a real browser: ``dctwin serve`` as a process, Debian's Chromium driven by
Playwright (never a downloaded browser).  Every page loads with no console errors, a what-if
runs and shows its comparison, an approval goes through and lands in the audit log.
Screenshots are saved to ``test-artifacts/`` (gitignored).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.processes import CHROMIUM, CHROMIUM_ARGS, require_chromium, serving
from tests.ui.conftest import plotly_traces
from ui import figures_trends
from ui.bundle import plotlyjs

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
APPROVER = "browser-approve-token-0001"
READER = "browser-read-token-0000001"
INGESTER = "browser-ingest-token-00001"
PAGES = {
    "/": "#overview-sankey .main-svg",
    "/floor": "#floor-map .main-svg",
    "/plan": "#plan-grid .main-svg",
    "/whatif": "#wi-run",
    "/live": "#live-residuals .main-svg",
    "/alarms": "#alarms-table",
    "/fleet": "#fleet-status",
}

ALARM_MIN_DURATION_S = 2
"""The served twin's ``--alarm-min-duration`` [s]: the alarm test needs a limit alarm, and
the default 30 s would be waited out; still longer than one reading, as the default is."""
HOT_POINT = "rack/A01/inlet_temperature"
"""A second inlet sensor on A01 (the virtual plant has none there) that the alarm test makes
report 30 °C, above the 27 °C limit."""

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]  # one server, one browser

require_chromium()

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    state = tmp_path_factory.mktemp("serve")
    tokens = f"{APPROVER}=approve,read;{READER}=read;{INGESTER}=ingest"
    args = ("--replan-minutes", "0", "--alarm-min-duration", str(ALARM_MIN_DURATION_S))
    with serving(*args, state_dir=state, tokens=tokens) as (base, _):
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[tuple[Any, list[str]]]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    login = context.request.post(f"{server}/login", form={"token": READER}, max_redirects=0)
    assert login.status == 303  # the session cookie is now the context's
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    yield page, errors
    context.close()


README_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
"""The README's pictures of the UI, re-taken by a browser test run with ``DCTWIN_README_SHOTS=1``
(not by every run: a test run should not leave the work tree changed)."""
README_SHOTS = {"overview": "ui-overview.png", "floor": "ui-floor.png"}


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"ui-{name}.png"), full_page=True)
    if name in README_SHOTS and os.environ.get("DCTWIN_README_SHOTS") == "1":
        # the visible window, as a person first sees the page
        README_IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(README_IMAGES / README_SHOTS[name]))


def test_every_page_loads_without_console_errors(server: str, page: tuple[Any, list[str]]) -> None:
    tab, errors = page
    drawn_anywhere: set[str] = set()
    for path, selector in PAGES.items():
        tab.goto(server + path)
        tab.wait_for_selector(selector, timeout=30_000)
        tab.wait_for_timeout(500)  # late callbacks would log errors now
        _shot(tab, path.strip("/") or "overview")
        registered, drawn = plotly_traces(tab)
        if drawn:  # plotly.js is the partial bundle, and it has every trace type drawn
            assert registered == set(plotlyjs.TRACES), path
            assert drawn <= registered, path
        drawn_anywhere |= drawn
    assert {"scatter", "heatmap", "sankey"} <= drawn_anywhere
    # the Overview's alarm count opens the Alarms page; a point link opens its trend
    tab.goto(server + "/")
    tab.wait_for_selector("#kpi-alarms-link", timeout=30_000)
    tab.click("#kpi-alarms-link")
    tab.wait_for_selector("#alarms-table", timeout=30_000)
    tab.goto(server + "/live?point=grid%2Fpower")
    tab.wait_for_selector("#live-residuals .main-svg", timeout=30_000)
    tab.wait_for_selector("#live-points:has-text('grid/power')", timeout=30_000)
    # navigation bar: client-side routing to the floor, then click a rack
    tab.click("#nav-floor")
    tab.wait_for_selector("#floor-map .main-svg", timeout=30_000)
    tab.wait_for_timeout(500)
    box = tab.locator("#floor-map .nsewdrag").first.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] * 0.05, box["y"] + box["height"] * 0.1  # rack A01
    tab.mouse.move(x, y)  # hover first, as a person does: plotly then knows the point
    tab.wait_for_timeout(300)
    tab.mouse.click(x, y)
    tab.wait_for_selector("#rack-detail .gtitle:has-text('Rack A01')", timeout=30_000)
    tab.wait_for_function(  # the browser outlines the rack on the map it has
        "() => document.querySelector('#floor-map .js-plotly-plot').data"
        ".some((t) => t.name === 'selected A01')",
        timeout=30_000,
    )
    _shot(tab, "floor-rack-detail")
    assert errors == []


def _renders_on_load(tab: Any, url: str, selector: str) -> int:
    """Times the page at ``url`` is rendered on one load: once with the layout (the
    ``_dash-layout`` response), plus once per route callback (``page.children``)."""
    renders: list[str] = []

    def seen(request: Any) -> None:
        if request.url.endswith("/_dash-layout"):
            renders.append("layout")
        elif "_dash-update-component" in request.url and "page.children" in (
            request.post_data or ""
        ):
            renders.append("route")

    tab.on("request", seen)
    try:
        tab.goto(url)
        tab.wait_for_selector(selector, timeout=30_000)
        tab.wait_for_timeout(1500)  # a late route callback would be sent by now
    finally:
        tab.remove_listener("request", seen)
    return len(renders)


def test_every_page_renders_once_on_load(server: str, page: tuple[Any, list[str]]) -> None:
    tab, errors = page
    counts = {path: _renders_on_load(tab, server + path, sel) for path, sel in PAGES.items()}
    counts["/live?point"] = _renders_on_load(
        tab, server + "/live?point=grid%2Fpower", "#live-points:has-text('grid/power')"
    )
    assert counts == dict.fromkeys(counts, 1)
    assert errors == []


def _csv_of(tab: Any, graph_id: str) -> list[list[str]]:
    """Click the CSV button of chart ``graph_id`` and read the file the browser saves."""
    import csv

    with tab.expect_download() as download:
        tab.click(f".chart:has(#{graph_id}) .csv-button")
    assert download.value.suggested_filename == f"dctwin-{graph_id}.csv"
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    return list(csv.reader(text.splitlines()))


def test_every_chart_exports_csv_with_units(server: str, page: tuple[Any, list[str]]) -> None:
    tab, errors = page
    tab.goto(server + "/")
    tab.wait_for_selector(PAGES["/"], timeout=30_000)
    links = _csv_of(tab, "overview-sankey")
    assert links[0] == ["from", "to", "value [kW]"] and len(links) > 5
    assert all(float(row[2]) >= 0 for row in links[1:])
    tab.goto(server + "/floor")
    tab.wait_for_selector(PAGES["/floor"], timeout=30_000)
    grid = _csv_of(tab, "floor-map")
    assert grid[0] == ["Row", "Position in row [-]", "Rack inlet temperature [°C]", "id"]
    heatmap = grid[1 : grid.index([])] if [] in grid else grid[1:]  # then the sensor dots
    racks = [row for row in heatmap if row[3]]
    assert len(racks) == 36 and all(18.0 < float(row[2]) < 40.0 for row in racks)
    tab.goto(server + "/live?point=grid%2Fpower")
    tab.wait_for_function(  # the refresh callback has drawn the series
        "() => { const p = document.querySelector('#live-residuals .js-plotly-plot');"
        " return p && p._fullData && p._fullData.some((t) => t.x && t.x.length); }",
        timeout=30_000,
    )
    series = _csv_of(tab, "live-residuals")
    assert series[0] == ["series", "x", "x title", "value", "value title"]
    assert any(row[2].startswith("Time (") for row in series[1:])
    assert any("[kW]" in row[4] for row in series[1:])
    assert errors == []


def test_a_whatif_runs_and_shows_its_comparison(server: str, page: tuple[Any, list[str]]) -> None:
    tab, errors = page
    tab.goto(server + "/whatif")
    tab.wait_for_selector("#wi-run")
    tab.fill("#wi-battery_energy_kwh", "3000")
    tab.fill("#wi-horizon", "6")
    tab.click("#wi-run")
    tab.wait_for_selector("#whatif-table", timeout=120_000)
    # the comparison replaced the empty chart's invitation, and has traces
    tab.wait_for_function(
        "() => !document.querySelector('#wi-compare').textContent.includes('Run a what-if')"
        " && document.querySelectorAll('#wi-compare .main-svg .trace').length > 0"
    )
    text = tab.inner_text("#whatif-table")
    assert "current" in text and "modified" in text and "difference" in text
    assert "Done in" in tab.inner_text("#wi-message")
    with tab.expect_download() as download:
        tab.click("#wi-download-button")
    saved = ARTIFACTS / "whatif-scenario.yaml"
    download.value.save_as(str(saved))
    assert "energy: 3000" in saved.read_text()
    _shot(tab, "whatif-result")
    assert errors == []


def test_an_approval_goes_through_and_is_audited(
    server: str, browser: Any, page: tuple[Any, list[str]]
) -> None:
    reader_tab, _ = page
    headers = {"Authorization": f"Bearer {APPROVER}"}
    proposed = httpx.post(f"{server}/api/v1/plans", headers=headers, timeout=120).json()
    reader_tab.goto(server + "/plan")  # a reader sees the plan but may not act on it
    reader_tab.wait_for_selector(f"#plan-status-text:has-text('{proposed['id']}')")
    assert "Read-only session" in reader_tab.inner_text("#plan-session")
    assert reader_tab.is_disabled("#plan-approve") and reader_tab.is_disabled("#plan-propose")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    login = context.request.post(f"{server}/login", form={"token": APPROVER}, max_redirects=0)
    assert login.status == 303
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    tab.goto(server + "/plan")
    tab.wait_for_selector(f"#plan-status-text:has-text('{proposed['id']}')", timeout=30_000)
    assert "may propose, approve and reject" in tab.inner_text("#plan-session")
    tab.fill("#plan-reason", "checked in the browser")
    tab.click("#plan-approve")  # the confirmation step: the preview, nothing applied yet
    tab.wait_for_selector("#plan-confirm #plan-preview-jobs", timeout=30_000)
    preview = tab.inner_text("#plan-preview")
    assert "llm-pretraining" in preview and "in force" in preview
    state = httpx.get(f"{server}/api/v1/plans/{proposed['id']}", headers=headers, timeout=10)
    assert state.json()["status"] == "proposed"
    _shot(tab, "plan-preview")
    tab.click("#plan-confirm-approve")
    tab.wait_for_selector("#plan-message:has-text('applied')", timeout=30_000)
    tab.wait_for_selector("#plan-status-text:has-text('applied')", timeout=30_000)
    _shot(tab, "plan-approved")
    audit = httpx.get(f"{server}/api/v1/audit", headers=headers, timeout=10).json()
    entry = next(e for e in audit if e["action"] == "approve" and e["target"] == proposed["id"])
    assert entry["actor"].startswith("token:") and entry["reason"] == "checked in the browser"
    assert errors == []
    context.close()


def _an_active_alarm(server: str, timeout: float = 120.0) -> dict[str, Any]:
    """The limit alarm of :data:`HOT_POINT` once raised: the point reports 30 °C every second
    until the alarm is listed.  It must have been raised by the first reading sent at least
    the served twin's ``--alarm-min-duration`` (:data:`ALARM_MIN_DURATION_S`) after the first
    hot one, not sooner and not later (so the option reached the twin)."""
    import time
    from datetime import UTC, datetime, timedelta

    read = {"Authorization": f"Bearer {APPROVER}"}
    ingest = {"Authorization": f"Bearer {INGESTER}"}
    sent_times: list[datetime] = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        alarms = httpx.get(f"{server}/api/v1/alarms", headers=read, timeout=60).json()
        hot = [a for a in alarms if a["point"] == HOT_POINT and a["kind"].startswith("limit_")]
        if hot:  # raised by the first reading that held the minimum duration, not before
            minimum = timedelta(seconds=ALARM_MIN_DURATION_S)
            held = [t for t in sent_times if t - sent_times[0] >= minimum]
            assert datetime.fromisoformat(hot[0]["raised"]) == held[0], (hot[0], sent_times)
            return dict(hot[0])
        now = datetime.now(UTC)
        sent_times.append(now)
        reading = {"time": now.isoformat(), "point": HOT_POINT, "value": 30.0}
        sent = httpx.post(
            f"{server}/api/v1/measurements", headers=ingest, json={"items": [reading]}, timeout=60
        )
        assert sent.status_code < 300, sent.text
        time.sleep(1)
    raise AssertionError(f"no alarm raised within {timeout:g} s")


def test_alarm_buttons_need_approve_and_are_audited(
    server: str, browser: Any, page: tuple[Any, list[str]]
) -> None:
    alarm = _an_active_alarm(server)
    reader_tab, _ = page
    reader_tab.goto(server + "/alarms")
    reader_tab.wait_for_selector("#alarms-table", timeout=30_000)
    assert "Read-only session" in reader_tab.inner_text("#alarm-session")
    for button in ("#alarm-ack", "#alarm-shelve", "#alarm-unshelve"):
        assert reader_tab.is_disabled(button)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    login = context.request.post(f"{server}/login", form={"token": APPROVER}, max_redirects=0)
    assert login.status == 303
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    tab.goto(server + "/alarms")
    tab.wait_for_selector("#alarms-table", timeout=30_000)
    assert "you may acknowledge and shelve" in tab.inner_text("#alarm-session")
    tab.wait_for_timeout(1500)  # the page may render twice on load (see the what-if test)
    tab.click("#alarm-choice")
    tab.click(f"[role=option]:has-text('#{alarm['id']} ')", timeout=30_000)
    tab.click("#alarm-ack")
    tab.wait_for_selector("#alarm-action-result:has-text('acknowledged by token:')", timeout=30_000)
    tab.click("#alarm-shelve")  # for the default 1 h
    tab.wait_for_selector("#alarm-action-result:has-text('shelved for 1 h')", timeout=30_000)
    _shot(tab, "alarms-shelved")
    headers = {"Authorization": f"Bearer {APPROVER}"}
    audit = httpx.get(f"{server}/api/v1/audit", headers=headers, timeout=10).json()
    actions = {e["action"] for e in audit if e["target"] == str(alarm["id"])}
    assert actions >= {"acknowledge_alarm", "shelve_alarm"}
    assert all(e["actor"].startswith("token:") for e in audit if e["target"] == str(alarm["id"]))
    assert errors == []
    context.close()


SERIES_DRAWN_JS = """(id) => {
    const plot = document.querySelector(`#${id} .js-plotly-plot, #${id}.js-plotly-plot`);
    const series = plot && plot._fullData && plot._fullData[0];  // the trend, not its limit
    if (!series || !(series.x || []).length) return false;
    const group = plot.querySelector(`.scatterlayer .trace${series.uid}`);
    const marks = group ? group.querySelectorAll('path.js-line, path.point') : [];
    return [...marks].some((mark) => {
        const box = mark.getBBox();
        return box.width > 0 || box.height > 0;  // a line of one point has an empty box
    });
}"""
"""True once the first trace (the series) of the figure ``id`` has points and shows them: a
line or a marker."""


def test_live_bands_and_overview_trends_open_live(server: str, page: tuple[Any, list[str]]) -> None:
    tab, errors = page
    tab.goto(server + "/live?point=rack%2FA02%2Finlet_temperature")
    tab.wait_for_selector("#live-points:has-text('rack/A02/inlet_temperature')", timeout=30_000)
    tab.wait_for_selector("#live-residuals .legendtext:has-text('estimate ±2σ')", timeout=30_000)
    _shot(tab, "live-bands")
    tab.goto(server + "/")
    tab.wait_for_selector("#overview-trend-grid .main-svg", timeout=30_000)
    tab.wait_for_selector("#overview-trend-cost .main-svg", timeout=30_000)
    # a server a few seconds old has one minute of grid import: a marker, not yet a line; an
    # empty trend (no drawn mark of the series) fails here
    tab.wait_for_function(SERIES_DRAWN_JS, arg="overview-trend-grid", timeout=30_000)
    tab.wait_for_timeout(500)
    box = tab.locator("#overview-trend-grid .nsewdrag").first.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] * 0.99, box["y"] + box["height"] * 0.5  # the latest minute
    tab.mouse.move(x, y)
    tab.wait_for_timeout(300)
    tab.mouse.click(x, y)
    tab.wait_for_url("**/live?point=grid%2Fpower", timeout=30_000)
    tab.wait_for_selector("#live-residuals .main-svg", timeout=30_000)
    _shot(tab, "live-from-overview")
    assert errors == []


def test_a_trend_of_one_minute_shows_and_an_empty_one_does_not(browser: Any) -> None:
    """The condition the test above waits for, on the Overview's own grid figure drawn by
    the UI's plotly.js: no data is not drawn; one minute is (a marker: a line of one point
    is an empty path, which the Overview showed for the first minute of a server or of a
    site day); two minutes are a line."""
    data: dict[str, Any] = {
        "start": "2026-12-07T00:00:00+00:00",
        "midnight": "2026-12-07T06:00:00+00:00",
        "time": "2026-12-07T06:00:30+00:00",
        "hottest": {"time": [], "value": [], "rack": [], "limit": 27.0},
        "cost": {"time": [], "value": [], "currency": "USD"},
    }
    minutes = ["2026-12-07T05:59:00+00:00", "2026-12-07T06:00:00+00:00"]
    tab = browser.new_page()
    tab.set_content("<div id='overview-trend-grid'></div>")
    tab.add_script_tag(path=str(plotlyjs.BUNDLE))
    drawn = []
    for count in (0, 1, 2):
        data["grid"] = {"time": minutes[2 - count :], "value": [3e3] * count, "contract_kw": 5e3}
        figure = figures_trends.overview_trends(data, ZoneInfo("America/Chicago"))[0]
        tab.evaluate("(f) => Plotly.newPlot('overview-trend-grid', f.data, f.layout)", figure)
        drawn.append(tab.evaluate(SERIES_DRAWN_JS, "overview-trend-grid"))
    tab.close()
    assert drawn == [False, True, True]
