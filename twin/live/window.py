"""The live window and the demo plant's faults.

* :func:`live_scenario_dict` re-anchors a scenario on the current day: its window starts at
  00:00 UTC yesterday and lasts a week; file and zone series replay from their original start,
  absolute event and job times move with it.
* :func:`demo_faults` are the sensor faults the demo plant injects, so that a newcomer sees
  detection within the first hour.
* :func:`scenario_digest` names a scenario's content: a plan made on one scenario is not
  adopted (fleet shares) or restored after a restart on another.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from twin.live.virtual_plant import SensorFault

__all__ = ["demo_faults", "live_scenario_dict", "scenario_digest"]


def scenario_digest(data: Mapping[str, Any]) -> str:
    """A 16-hex-digit digest of a scenario as written (before re-anchoring): equal for equal
    content, whatever the key order."""
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _floor_day(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _shift(value: Any, offset: timedelta) -> Any:
    """Shift an absolute ISO time (string or datetime) by ``offset``; leave offsets alone."""
    if isinstance(value, datetime):  # YAML reads unquoted timestamps as datetimes
        return (value + offset).isoformat()
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return value  # a relative offset like "6 d"
        if parsed.tzinfo is not None:
            return (parsed + offset).isoformat()
    return value


def live_scenario_dict(base: Mapping[str, Any], now: datetime, days: float = 7.0) -> dict[str, Any]:
    """``base`` re-anchored so that its window starts at 00:00 UTC the day before ``now``.

    File and zone series replay from the original start (``replay_from``), repeated by whole
    days where the window runs past the data (``repeat``); demand-response
    events and absolute workload times move by the same offset.  The step is kept.

    Parameters
    ----------
    base
        Scenario as a plain mapping (YAML content).
    now
        Current time (timezone-aware).
    days
        Length of the live window [d].
    """
    data = copy.deepcopy(dict(base))
    simulation = dict(data.get("simulation") or {})
    original = simulation.get("start")
    start = _floor_day(now) - timedelta(days=1)
    offset = timedelta(0)
    if original is not None:
        offset = start - pd.Timestamp(str(original)).to_pydatetime().astimezone(UTC)
    simulation.update(start=start.isoformat(), duration=f"{days:g} d")
    simulation.setdefault("step", "15 min")
    data["simulation"] = simulation
    series = []
    for source in data.get("series") or []:
        source = dict(source)
        wants_replay = ("file" in source or "zone" in source) and "replay_from" not in source
        if wants_replay and original is not None:
            source["replay_from"] = pd.Timestamp(str(original)).isoformat()
            # a window longer than the data (a week of demo data under a fleet's 9-day live
            # window) repeats it by whole days
            source.setdefault("repeat", True)
        series.append(source)
    data["series"] = series
    grid = data.get("grid") or {}
    events = grid.get("demand_response") or []
    grid["demand_response"] = [
        {**e, "start": _shift(e.get("start"), offset), "end": _shift(e.get("end"), offset)}
        for e in events
    ]
    for workload in data.get("workloads") or []:
        for key in ("release", "deadline"):
            if key in workload:
                workload[key] = _shift(workload[key], offset)
    return data


def demo_faults(sensors: Sequence[str], start: datetime) -> list[SensorFault]:
    """The demo plant's sensor faults, so a newcomer sees detection within the first hour.

    From ``start``: a rack-inlet sensor stuck from +10 to +40 min, another drifting at
    3 K/h from +50 min to +2 h, a third spiking on 1 % of its readings, and a busbar
    voltage sensor silent from +20 to +35 min.
    """
    inlets = [p for p in sensors if p.endswith("/inlet_temperature")]
    voltages = [p for p in sensors if p.endswith("/voltage")]

    def minutes(m: float) -> datetime:
        return start + timedelta(minutes=m)

    faults: list[SensorFault] = []
    if len(inlets) >= 3:
        faults += [
            SensorFault(inlets[0], "stuck", minutes(10), minutes(40)),
            SensorFault(inlets[1], "drift", minutes(50), minutes(120), rate=3.0),
            SensorFault(inlets[2], "spike", start, probability=0.01),
        ]
    if voltages:
        faults.append(SensorFault(voltages[0], "silent", minutes(20), minutes(35)))
    return faults
