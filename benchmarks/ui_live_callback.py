"""Benchmark: the Live page's callback in process (no browser, no HTTP).

    .venv/bin/python benchmarks/ui_live_callback.py            # 2 h of telemetry
    .venv/bin/python benchmarks/ui_live_callback.py --ticks 60  # a shorter feed
    .venv/bin/python benchmarks/ui_live_callback.py --quick     # smoke run (CI)

The demo hall's live twin with its virtual plant is fed every 30 s (test clock, SQLite store),
then :func:`ui.callbacks.live` is called as the page's refresh calls it: the default points
(grid, plant, a feed, three measured rack inlets), each look-back of the range picker,
``--repeat`` times each after one warm-up call (the view cache filled, as on a page that
refreshes every 10 s).  Prints one JSON object: seconds per call (min, median, max) per
look-back.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers import START, Clock, feed, live_twin, token_registry
from ui import callbacks as cb
from ui.pages.live import RANGES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ticks", type=int, default=240, help="plant ticks of 30 s fed first")
    parser.add_argument("--repeat", type=int, default=5, help="timed calls per look-back")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 20 ticks, one timed call per look-back"
    )
    args = parser.parse_args()
    if args.quick:
        args.ticks, args.repeat = 20, 1
    with tempfile.TemporaryDirectory() as folder:
        clock = Clock(START)
        twin = live_twin(Path(folder), clock, virtual_plant=True)
        feed(twin, clock, args.ticks)
        context = cb.UIContext(twin, token_registry({}))
        out: dict[str, object] = {"ticks": args.ticks, "repeat": args.repeat}
        for label, hours in RANGES:
            cb.live(context, None, hours)  # warm-up: the view cache, imports
            seconds = []
            for _ in range(args.repeat):
                begin = time.perf_counter()
                cb.live(context, None, hours)
                seconds.append(time.perf_counter() - begin)
            out[label] = {
                "min_s": round(min(seconds), 3),
                "median_s": round(statistics.median(seconds), 3),
                "max_s": round(max(seconds), 3),
            }
        twin.store.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
