"""Benchmark: the Floor page of a large hall in process (no browser, no HTTP).

    .venv/bin/python benchmarks/ui_floor_callback.py               # 10,000 racks
    .venv/bin/python benchmarks/ui_floor_callback.py --racks 1000
    .venv/bin/python benchmarks/ui_floor_callback.py --quick       # smoke run (CI)

A live twin of a synthetic hall (:func:`twin.scenario.synthetic.synthetic_hall`, SQLite
store, no virtual plant: the Floor shows the model's prediction, as a freshly started
``dctwin serve hall.yaml --no-virtual-plant`` does; clock 12 h into the scenario) is built
once, without :func:`ui.app.warm_up` (the first call is cold); then, as the server does on
a page load and a click:

* ``page``: the Floor page's layout (:func:`ui.pages.floor.layout`: the map and an empty
  rack detail) serialized to JSON as Dash sends it — the first call (cold caches: the
  prediction's simulation) and the median of ``--repeat`` calls after it; CPU time of the
  process and wall time;
* ``page_next_step``: the page once more after the clock moved one model step on (the
  prediction simulated anew);
* ``map``: :func:`ui.callbacks.floor_map` (a new quantity), the same way;
* ``click``: :func:`ui.callbacks.rack_click` on a rack, serialized;
* ``payload_bytes``: the size of the serialized layout and of each response.

Prints one JSON object.  Seconds; bytes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers import token_registry
from twin.live.live_twin import LiveSettings, LiveTwin
from twin.scenario.synthetic import synthetic_hall
from twin.store.store import Store
from ui import callbacks as cb
from ui.pages import floor


def _dumps(value: Any) -> str:
    """``value`` as Dash serializes a response (its JSON encoder: plotly's)."""
    import plotly

    return json.dumps(value, cls=plotly.utils.PlotlyJSONEncoder)


def _timed(call: Callable[[], Any], repeat: int) -> dict[str, Any]:
    """First call and the median of ``repeat`` more: wall and CPU seconds, payload bytes."""
    walls, cpus, size = [], [], 0
    for _ in range(repeat + 1):
        wall, cpu = time.perf_counter(), time.process_time()
        size = len(_dumps(call()).encode())
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return {
        "first_wall_s": round(walls[0], 3),
        "first_cpu_s": round(cpus[0], 3),
        "median_wall_s": round(statistics.median(walls[1:]), 3),
        "median_cpu_s": round(statistics.median(cpus[1:]), 3),
        "payload_bytes": size,
    }


def _next_step(context: cb.UIContext, now: list[datetime]) -> dict[str, Any]:
    """The page once the clock enters the next model step (its prediction simulated anew,
    imports warm): wall and CPU seconds."""
    now[0] += timedelta(seconds=context.twin.step_seconds)
    wall, cpu = time.perf_counter(), time.process_time()
    _dumps(floor.layout(context).to_plotly_json())
    return {
        "wall_s": round(time.perf_counter() - wall, 3),
        "cpu_s": round(time.process_time() - cpu, 3),
    }


def main() -> None:
    """Run the benchmark and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--racks", type=int, default=10_000, help="Racks of the hall [-].")
    parser.add_argument("--repeat", type=int, default=5, help="Timed calls after the first.")
    parser.add_argument("--quick", action="store_true", help="1,000 racks, one repeat.")
    args = parser.parse_args()
    if args.quick:
        args.racks, args.repeat = 1000, 1
    data = synthetic_hall(args.racks)
    start = datetime.fromisoformat(data["simulation"]["start"].replace("Z", "+00:00"))
    now = [start + timedelta(hours=12)]  # a 6 h rack detail window inside the scenario
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "hall.yaml").write_text(yaml.safe_dump(data))
        store = Store(f"sqlite:///{Path(folder) / 'twin.db'}")
        begin = time.perf_counter()
        twin = LiveTwin(
            data, Path(folder), store, LiveSettings(replan_minutes=0), clock=lambda: now[0]
        )
        startup = time.perf_counter() - begin
        context = cb.UIContext(twin, token_registry({}))
        rack = twin.facility.racks.ids[len(twin.facility.racks.ids) // 2]
        click = {"points": [{"customdata": rack}]}
        out: dict[str, Any] = {
            "benchmark": "ui_floor_callback",
            "racks": len(twin.facility.racks.ids),
            "repeat": args.repeat,
            "twin_startup_s": round(startup, 2),
            "page": _timed(lambda: floor.layout(context).to_plotly_json(), args.repeat),
            "page_next_step": _next_step(context, now),
            "map": _timed(lambda: cb.floor_map(context, "power", rack), args.repeat),
            "click": _timed(lambda: cb.rack_click(context, click), args.repeat),
        }
        store.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
