"""Benchmark: detection delays and false alarms of the live twin over a simulated day.

    .venv/bin/python benchmarks/alarm_day.py            # 24 h, both runs
    .venv/bin/python benchmarks/alarm_day.py --hours 6  # a shorter day (smoke run)

The demo hall's live twin with its virtual plant (the demo's hidden truth: inlet offsets on
four racks, fan, plant and busbar factors; noise; no demo faults) is fed every 30 s through
the ordinary ingestion path, on a SQLite store, with a test clock:

* **clean run** — nothing injected: every alarm raised is a false alarm (the counts per kind
  and the rate per point-day are reported);
* **injected run** — at known instants: (a) CRAH-3 supplies 6 K warmer than its schedule for
  30 min (rack inlets above 27 °C: ``limit_inlet_temperature_high``); (b) a single 45 °C
  reading on six racks, one each hour (``sensor_spike``); (c) a second device reports 28.5 °C
  on D06 between the plant's readings for 30 min (``sensor_stuck``); (d) the busbar voltage
  of B06 stops for 15 min (``sensor_silent``); (e) a rack inlet sensor drifts at 2 K/h
  (``sensor_drift``).  The delay is from the injection (for silence: from the last reading) to
  the alarm's ``raised`` time; alarms not explained by an injection are counted as false.

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers import START, TICK, Clock, feed, live_twin
from twin.live.live_twin import LiveTwin
from twin.live.virtual_plant import SensorFault, VirtualPlant

SPIKE_RACKS = ("A02", "A05", "B03", "B06", "D03", "D09")
"""Racks that get one 45 °C spike each (their inlet sensors)."""


def _twin(folder: Path, clock: Clock, faults: list[SensorFault]) -> LiveTwin:
    twin = live_twin(folder, clock, virtual_plant=True)
    assert twin.plant is not None
    twin.plant = VirtualPlant(
        twin.facility,
        twin.series,
        twin.plant.truth,
        seed=0,
        faults=faults,
        sensors=twin.plant.sensors,
    )
    return twin


def _supply_offset(twin: LiveTwin, unit: str, kelvin: float) -> None:
    assert twin.plant is not None
    u = twin.facility.units.ids.index(unit)
    schedule = twin.plant.schedule
    supply = np.array(schedule.supply_temperature, dtype=float, copy=True)
    supply[:, u] += kelvin
    twin.plant.apply_schedule(dataclasses.replace(schedule, supply_temperature=supply))


def _existing_sensor(twin: LiveTwin, rack: str) -> str | None:
    point = f"rack/{rack}/inlet_temperature"
    assert twin.plant is not None
    return point if point in twin.plant.sensors else None


def run(hours: float, inject: bool) -> dict[str, Any]:
    """One simulated run of ``hours`` [h]; the alarms and, when injected, the delays [s]."""
    clock = Clock(START)
    at = {name: START + timedelta(hours=hours * f) for name, f in _AT.items()}
    faults: list[SensorFault] = []
    if inject:
        faults = [
            SensorFault("busbar/B06/voltage", "silent", at["silence"], at["silence"] + _15MIN),
            SensorFault("rack/A08/inlet_temperature", "drift", at["drift"], rate=2.0),
        ]
    with tempfile.TemporaryDirectory() as folder:
        twin = _twin(Path(folder), clock, faults)
        spikes = {
            START + timedelta(hours=hours * (k + 0.5) / len(SPIKE_RACKS)): rack
            for k, rack in enumerate(SPIKE_RACKS)
            if _existing_sensor(twin, rack)
        }
        started = time.perf_counter()
        ticks = int(hours * 3600 / TICK.total_seconds())
        hot = False
        for _ in range(ticks):
            now = clock.now
            if inject:
                if not hot and at["hot"] <= now < at["hot"] + _30MIN:
                    _supply_offset(twin, "CRAH-3", 6.0)
                    hot = True
                elif hot and now >= at["hot"] + _30MIN:
                    _supply_offset(twin, "CRAH-3", -6.0)
                    hot = False
                if at["stuck"] <= now < at["stuck"] + _30MIN:
                    twin.ingest([_item(now - timedelta(seconds=15), "rack/D06/inlet_temperature")])
                for moment, rack in spikes.items():
                    if moment <= now < moment + TICK:
                        twin.ingest(
                            [
                                _item(
                                    now - timedelta(seconds=10),
                                    f"rack/{rack}/inlet_temperature",
                                    45.0,
                                )
                            ]
                        )
            feed(twin, clock, 1)
        seconds = time.perf_counter() - started
        alarms = twin.store.alarms(active_only=False, limit=100_000)
        points = len(twin.plant.sensors) if twin.plant else 0
    expected = _expected(at, spikes) if inject else []
    delays: dict[str, list[float]] = {}
    explained: set[int] = set()
    for name, kind, source, since in expected:
        found = [
            a
            for a in alarms
            if a["kind"] == kind
            and (source is None or a["source"] == source)
            and a["raised"] >= since - TICK
        ]
        if found:
            first = min(found, key=lambda a: a["raised"])
            delays.setdefault(name, []).append((first["raised"] - since).total_seconds())
            explained.update(a["id"] for a in found)
        else:
            delays.setdefault(name, []).append(float("nan"))
    if inject:  # side effects of a physical change on the row it hits are not false alarms
        explained.update(
            a["id"]
            for a in alarms
            if at["hot"] - TICK <= a["raised"] <= at["hot"] + _30MIN + _15MIN
            and (
                "CRAH-3" in a["source"]
                or a["source"].split("/")[1:2] in (["C01"], ["C04"], ["C07"], ["C10"])
                or a["kind"].startswith("limit_")
            )
        )
        # the stuck device's first readings look like spikes before they repeat
        explained.update(
            a["id"]
            for a in alarms
            if a["source"] == "rack/D06/inlet_temperature"
            and at["stuck"] - TICK <= a["raised"] <= at["stuck"] + _30MIN
        )
    false = [a for a in alarms if a["id"] not in explained]
    by_kind: dict[str, int] = {}
    for a in false:
        by_kind[a["kind"]] = by_kind.get(a["kind"], 0) + 1
    return {
        "hours": hours,
        "injected": inject,
        "wall_seconds": round(seconds, 1),
        "alarms": len(alarms),
        "false_alarms": len(false),
        "false_by_kind": by_kind,
        "false_sources": sorted({a["source"] for a in false})[:20],
        "false_detail": [
            f"{a['raised'].isoformat()} {a['kind']} {a['severity']}: {a['message']}"
            for a in false[:20]
        ],
        "points": points,
        "false_per_point_day": round(len(false) / max(points, 1) / (hours / 24.0), 5),
        "delays_s": delays,
    }


_15MIN = timedelta(minutes=15)
_30MIN = timedelta(minutes=30)
_AT = {"hot": 2 / 24, "stuck": 6 / 24, "silence": 9 / 24, "drift": 12 / 24}
"""Injection instants as a fraction of the run."""


def _item(moment: datetime, point: str, value: float = 28.5) -> dict[str, Any]:
    return {"time": moment.isoformat(), "point": point, "value": value}


def _expected(
    at: dict[str, datetime], spikes: dict[datetime, str]
) -> list[tuple[str, str, str | None, datetime]]:
    """(name, alarm kind, source or None for any, instant the delay counts from)."""
    out: list[tuple[str, str, str | None, datetime]] = [
        ("a_inlet_above_limit", "limit_inlet_temperature_high", None, at["hot"]),
        ("c_interleaved_stuck", "sensor_stuck", "rack/D06/inlet_temperature", at["stuck"]),
        # silence counts from the last reading before it (one tick earlier)
        ("d_silence", "sensor_silent", "busbar/B06/voltage", at["silence"] - TICK),
        ("e_drift_2K_per_h", "sensor_drift", "rack/A08/inlet_temperature", at["drift"]),
    ]
    out += [
        (
            "b_spike",
            "sensor_spike",
            f"rack/{rack}/inlet_temperature",
            moment - timedelta(seconds=10),
        )
        for moment, rack in spikes.items()
    ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--clean-only", action="store_true", help="skip the injected run")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: one clean hour, no injections"
    )
    args = parser.parse_args()
    if args.quick:
        args.hours, args.clean_only = 1.0, True
    out = {"clean": run(args.hours, False)}
    if not args.clean_only:
        out["injected"] = run(args.hours, True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
