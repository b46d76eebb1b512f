"""The Fleet page in a real browser: ``dctwin serve fleet.yaml`` as a process (the tests'
one-day version of the example fleet), Debian's Chromium driven by Playwright.  The map draws
its world outline from the UI's own assets (no request leaves the server), the page logs no
error, and a site's **open** link shows that site on the other pages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.fleet_live import one_day_fleet
from tests.processes import CHROMIUM, CHROMIUM_ARGS, require_chromium, serving
from tests.ui.conftest import plotly_traces
from ui.bundle import plotlyjs

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
READER = "browser-fleet-read-token-01"

pytestmark = pytest.mark.slow

require_chromium()

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    state = tmp_path_factory.mktemp("serve-fleet")
    fleet_file = one_day_fleet(state)
    args = (str(fleet_file), "--replan-minutes", "0")
    with serving(*args, state_dir=state, tokens=f"{READER}=read", timeout=180) as (base, _):
        yield base


def test_the_fleet_page_maps_the_sites_offline_and_opens_a_site(server: str) -> None:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        login = context.request.post(f"{server}/login", form={"token": READER}, max_redirects=0)
        assert login.status == 303
        tab = context.new_page()
        errors: list[str] = []
        elsewhere: list[str] = []
        host = urlsplit(server).netloc

        def request(r: Any) -> None:
            if urlsplit(r.url).netloc not in (host, ""):
                elsewhere.append(r.url)

        tab.on("request", request)
        tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.goto(server + "/fleet")
        tab.wait_for_selector("#fleet-map .main-svg", timeout=60_000)
        # the outline drawn: countries from /assets/topojson/world_110m.json
        tab.wait_for_selector("#fleet-map g.countries path", state="attached", timeout=60_000)
        tab.wait_for_selector("#fleet-map text:has-text('london-edge')", timeout=30_000)
        tab.wait_for_selector("#fleet-sites a#fleet-open-london-edge", timeout=30_000)
        registered, drawn = plotly_traces(tab)  # the partial plotly.js draws the geo map
        assert registered == set(plotlyjs.TRACES)
        assert "scattergeo" in drawn and drawn <= registered
        tab.wait_for_timeout(500)
        ARTIFACTS.mkdir(exist_ok=True)
        tab.screenshot(path=str(ARTIFACTS / "ui-fleet.png"), full_page=True)
        tab.click("#fleet-open-london-edge")
        tab.wait_for_selector("#nav-site:has-text('london-edge')", timeout=60_000)
        tab.wait_for_selector("#overview-status:has-text('london-edge')", timeout=60_000)
        tab.click("#nav-floor")
        tab.wait_for_selector("#floor-map .main-svg", timeout=60_000)
        tab.wait_for_timeout(500)
        context.close()
        browser.close()
    assert elsewhere == []  # no CDN: the world outline came from the server
    assert errors == []
