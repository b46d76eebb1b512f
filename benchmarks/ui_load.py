"""Benchmark of the web UI: first page load of every page in a real browser.

Run by hand (on a quiet machine); prints one JSON line per figure::

    .venv/bin/python benchmarks/ui_load.py                  # demo hall, then a 10,000-rack floor
    .venv/bin/python benchmarks/ui_load.py --runs 3 --no-big
    .venv/bin/python benchmarks/ui_load.py --quick          # one load per page, demo hall only

* A real ``dctwin serve`` process (demo hall with its virtual plant, no re-plans) on a free
  port; Debian's Chromium (``/usr/bin/chromium``) through Playwright.
* Each run opens a **new browser context** (empty cache, no session) and loads the page;
  the time is from navigation start to the page's main graph rendered (its selector present
  in the DOM), read in the page as ``performance.now()`` (origin: navigation start).
  Reported per page: the first run (cold server caches) and the median and max of all runs,
  the median of a second load in the same context (warm browser cache), and the median CPU
  time of the page's main thread during the first load (Chromium's ``ThreadTime`` metric
  through the DevTools protocol: script, style, layout and paint of the page, which wall
  time on a shared machine inflates), and the bytes that load fetched until the graph was
  in the DOM (``transferSize`` of the page and every resource: bodies as sent, compressed
  or not, plus headers).
* ``--big``: the Floor page of a synthetic 10,000-rack hall
  (:func:`twin.scenario.synthetic.synthetic_hall`, served from a temporary scenario file with
  ``--no-virtual-plant``): the heatmap of 500 rows × 20 positions, hover with rack ids; then
  ``--runs`` rack clicks on that page, each timed from the click to the rack's detail drawn
  and the rack outlined on the map.
* Client (browser) and server share the machine's cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.processes import CHROMIUM, CHROMIUM_ARGS, serving  # noqa: E402

PAGES = {
    "overview": ("/", "#overview-sankey .main-svg .sankey"),
    "floor": ("/floor", "#floor-map .main-svg .hm"),
    "plan": ("/plan", "#plan-grid .main-svg"),
    "whatif": ("/whatif", "#wi-run"),
    "live": ("/live", "#live-residuals .main-svg .scatterlayer, #live-residuals .gl-container"),
}
TOKEN = "benchmark-approve-token-0001"


def _thread_time(cdp: Any) -> float:
    """CPU time of the page's main thread so far [s] (Chromium's ``ThreadTime`` metric)."""
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    return float(next(m["value"] for m in metrics if m["name"] == "ThreadTime"))


TRANSFERRED = """() => performance.getEntriesByType('navigation')
    .concat(performance.getEntriesByType('resource'))
    .reduce((sum, e) => sum + (e.transferSize || 0), 0)"""
"""Bytes the page fetched over the network so far (bodies as sent, compressed or not, plus
headers)."""


Load = tuple[float, float, float, float]


def _load(browser: Any, url: str, selector: str, timeout_ms: float) -> Load:
    """Navigation start → ``selector`` present [ms]: in a fresh context (empty cache), then
    again in the same context (warm browser cache, as on a second visit); the CPU time of
    the page's main thread during the first load [ms] (less sensitive than wall time to
    the other processes on the machine); and the bytes the first load fetched [B]."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    # the UI is behind a login (twin.api.login): a read token opens a session for the context
    base = url.split("/", 3)
    login = context.request.post(
        "/".join(base[:3]) + "/login", form={"token": TOKEN}, max_redirects=0
    )
    if login.status != 303:
        raise RuntimeError(f"login refused: HTTP {login.status}")
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")
    times, cpu, sent = [], 0.0, 0.0
    try:
        for load in range(2):
            before = _thread_time(cdp)
            page.goto(url, wait_until="commit")
            handle = page.wait_for_function(
                "(s) => document.querySelector(s) ? performance.now() : null",
                arg=selector,
                polling="raf",
                timeout=timeout_ms,
            )
            times.append(float(handle.json_value()))
            if load == 0:
                cpu = 1000.0 * (_thread_time(cdp) - before)
                sent = float(page.evaluate(TRANSFERRED))
        return times[0], times[1], cpu, sent
    finally:
        context.close()


CLICK_SCRIPT = """(t0) => {
    const title = document.querySelector('#rack-detail .gtitle');
    const plot = document.querySelector('#floor-map .js-plotly-plot');
    const outlined = plot && plot.data && plot.data.some((t) => String(t.name || '')
        .startsWith('selected '));
    return title && title.textContent.startsWith('Rack') && outlined
        ? performance.now() - t0 : null;
}"""
"""Milliseconds from ``t0`` until the rack's detail is drawn and the map outlines it."""


def _clicks(browser: Any, url: str, count: int, timeout_ms: float) -> list[float]:
    """Rack clicks on the loaded Floor page: click → the rack's detail drawn and the rack
    outlined on the map [ms], one per click, each on another rack."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    base = url.split("/", 3)
    context.request.post("/".join(base[:3]) + "/login", form={"token": TOKEN}, max_redirects=0)
    page = context.new_page()
    try:
        page.goto(url, wait_until="commit")
        page.wait_for_selector(PAGES["floor"][1], timeout=timeout_ms)
        box = page.locator("#floor-map .nsewdrag").first.bounding_box()
        times = []
        for k in range(count):
            x = box["x"] + box["width"] * (0.1 + 0.15 * (k % 5))
            y = box["y"] + box["height"] * (0.2 + 0.1 * (k % 5))
            page.mouse.move(x, y)  # hover first: plotly then knows the point
            page.wait_for_timeout(300)
            page.evaluate(
                "() => { const t = document.querySelector('#rack-detail .gtitle');"
                " if (t) { t.textContent = ''; } }"
            )
            t0 = page.evaluate("() => performance.now()")
            page.mouse.click(x, y)
            handle = page.wait_for_function(CLICK_SCRIPT, arg=t0, polling="raf", timeout=timeout_ms)
            times.append(float(handle.json_value()))
        return times
    finally:
        context.close()


def _report(name: str, loads: list[Load], **extra: Any) -> None:
    times = [load[0] for load in loads]
    warm = [load[1] for load in loads]
    cpu = [load[2] for load in loads]
    sent = [load[3] for load in loads]
    print(
        json.dumps(
            {
                "benchmark": "ui_first_load",
                "page": name,
                "runs": len(times),
                "first_ms": round(times[0], 1),
                "median_ms": round(statistics.median(times), 1),
                "max_ms": round(max(times), 1),
                "warm_cache_median_ms": round(statistics.median(warm), 1),
                "browser_main_thread_cpu_median_ms": round(statistics.median(cpu), 1),
                "first_load_transferred_kb": round(statistics.median(sent) / 1000.0, 1),
                "cpus": os.cpu_count(),
                "machine": platform.machine(),
                **extra,
            }
        ),
        flush=True,
    )


def _demo_pages(browser: Any, folder: Path, runs: int, tokens: str) -> None:
    """Every page of the demo hall (with its virtual plant and one proposed plan)."""
    state = folder / "demo"
    state.mkdir()
    with serving("--replan-minutes", "0", state_dir=state, tokens=tokens) as (base, _):
        time.sleep(3)  # a few plant readings in
        httpx.post(
            f"{base}/api/v1/plans", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
        )  # one proposed plan for the Plan page
        for name, (path, selector) in PAGES.items():
            loads = [_load(browser, base + path, selector, 60_000) for _ in range(runs)]
            _report(name, loads, hall="demo", racks=36)


def main() -> None:
    """Run the benchmark and print JSON lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="Loads per page [-].")
    parser.add_argument("--big", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--pages",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="The demo hall's pages (--no-pages: only the big Floor).",
    )
    parser.add_argument("--racks", type=int, default=10_000, help="Racks of the big hall [-].")
    parser.add_argument("--quick", action="store_true", help="One load per page, no big hall.")
    options = parser.parse_args()
    if options.quick:
        options.runs, options.big = 1, False
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        tokens = f"{TOKEN}=approve,read"
        if options.pages:
            _demo_pages(browser, Path(folder), options.runs, tokens)
        if options.big:
            from twin.scenario.synthetic import synthetic_hall

            big = Path(folder) / "big"
            big.mkdir()
            scenario = big / "hall.yaml"
            scenario.write_text(yaml.safe_dump(synthetic_hall(options.racks)))
            started = time.perf_counter()
            args = (str(scenario), "--no-virtual-plant", "--replan-minutes", "0")
            with serving(*args, state_dir=big, tokens=tokens, timeout=600) as (base, _):
                startup = time.perf_counter() - started
                path, selector = PAGES["floor"]
                loads = [
                    _load(browser, base + path, selector, 300_000) for _ in range(options.runs)
                ]
                clicks = _clicks(browser, base + path, options.runs, 300_000)
                _report(
                    "floor",
                    loads,
                    hall="synthetic",
                    racks=options.racks,
                    startup_s=round(startup, 1),
                    rack_click_first_ms=round(clicks[0], 1),
                    rack_click_median_ms=round(statistics.median(clicks), 1),
                    rack_click_max_ms=round(max(clicks), 1),
                )
        browser.close()


if __name__ == "__main__":
    main()
