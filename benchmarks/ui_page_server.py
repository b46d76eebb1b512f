"""Benchmark: the server's share of each page's first paint, in process (no browser, no HTTP).

    .venv/bin/python benchmarks/ui_page_server.py             # 40 plant ticks, 5 calls
    .venv/bin/python benchmarks/ui_page_server.py --quick     # smoke run (CI)

The demo hall's live twin with its virtual plant, fed every 30 s (test clock, SQLite store),
one proposed plan; then, per page, what the server computes before the page's first paint:
the page's layout (:func:`ui.app.page_for`, drawn with the layout response) serialized as
Dash sends it, plus the callbacks that fire on load (Plan: :func:`ui.callbacks.plan_page`;
Live: :func:`ui.callbacks.live` for the default points over 6 h).  One warm-up call, then
``--repeat`` timed calls; process CPU seconds (less inflated than wall time by the other
processes of a shared machine) and wall seconds, median; response bytes.  Prints one JSON
object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers import START, Clock, feed, live_twin, token_registry
from ui import callbacks as cb
from ui.app import PAGES, page_for


def _dumps(value: Any) -> str:
    """``value`` as Dash serializes a response (plotly's JSON encoder)."""
    import plotly

    return json.dumps(value, cls=plotly.utils.PlotlyJSONEncoder)


def _median(call: Callable[[], Any], repeat: int) -> dict[str, Any]:
    """Median CPU and wall seconds of ``repeat`` calls after a warm-up; bytes sent."""
    size = len(_dumps(call()).encode())
    cpu, wall = [], []
    for _ in range(repeat):
        began, began_cpu = time.perf_counter(), time.process_time()
        _dumps(call())
        wall.append(time.perf_counter() - began)
        cpu.append(time.process_time() - began_cpu)
    return {
        "cpu_s": round(statistics.median(cpu), 4),
        "wall_s": round(statistics.median(wall), 4),
        "bytes": size,
    }


def main() -> None:
    """Run the benchmark and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=40, help="Plant ticks of 30 s fed first.")
    parser.add_argument("--repeat", type=int, default=5, help="Timed calls per page.")
    parser.add_argument("--quick", action="store_true", help="20 ticks, one timed call.")
    args = parser.parse_args()
    if args.quick:
        args.ticks, args.repeat = 20, 1
    with tempfile.TemporaryDirectory() as folder:
        clock = Clock(START)
        twin = live_twin(Path(folder), clock, virtual_plant=True)
        feed(twin, clock, args.ticks)
        twin.replan(actor="benchmark", reason="a plan for the Plan page")
        context = cb.UIContext(twin, token_registry({}))
        on_load: dict[str, Callable[[], Any]] = {
            "/plan": lambda: cb.plan_page(context, None)["figures"],
            "/live": lambda: cb.live(context, None, 6.0)["residuals"],
        }
        out: dict[str, Any] = {"benchmark": "ui_page_server", "ticks": args.ticks}
        for path, title in PAGES:
            if path == "/fleet":  # serving one site: the page only says so
                continue
            extra = on_load.get(path)

            def render(path: str = path, extra: Callable[[], Any] | None = extra) -> Any:
                page = page_for(path, context).to_plotly_json()
                return [page, extra()] if extra is not None else page

            out[title] = _median(render, args.repeat)
        twin.store.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
