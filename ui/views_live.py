"""Read models of the Live page: measured vs predicted series, calibration and faults.

* :func:`default_live_points` — the points shown by default.
* :func:`residuals` — measured vs predicted series, calibration and faults.

Conventions as in :mod:`ui.views`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from twin.live.parameters import point_table
from ui.views import ViewCache, json_number, json_numbers, window_result

if TYPE_CHECKING:
    from twin.live.live_twin import LiveTwin


def default_live_points(twin: LiveTwin, limit: int = 6) -> list[str]:
    """Points the Live page shows by default: grid, plant, first feed, three measured inlets.

    Rack inlets with stored readings come first (the others are virtual sensors).
    """
    ids = twin.catalogue.ids
    wanted = ["grid/power", "plant/power"]
    wanted += [p for p in ids if p.startswith("feed/")][:1]
    inlets = [p for p in ids if p.endswith("/inlet_temperature") and p.startswith("rack/")]
    read = twin.store.latest(inlets)
    wanted += ([p for p in inlets if p in read] + [p for p in inlets if p not in read])[:3]
    return [p for p in wanted if p in twin.catalogue][:limit]


RAW_TRENDS_HOURS = 1.0
"""Longest look-back shown as raw readings [h] (one dot per reading)."""
TREND_BUCKET_S = 60.0
"""Trend resolution for look-backs up to :data:`FINE_TRENDS_HOURS` [s]."""
FINE_TRENDS_HOURS = 24.0
"""Longest look-back shown at :data:`TREND_BUCKET_S` [h]."""


def trend_bucket(hours: float, step_seconds: float) -> float:
    """Bucket of a trend over ``hours`` [h]: none (raw readings, 0) up to
    :data:`RAW_TRENDS_HOURS`, 1 min up to a day, the model step [s] beyond."""
    if hours <= RAW_TRENDS_HOURS:
        return 0.0
    return TREND_BUCKET_S if hours <= FINE_TRENDS_HOURS else step_seconds


def _measured(
    twin: LiveTwin, point: str, begin: datetime, now: datetime, bucket: float
) -> tuple[list[datetime], list[float]]:
    """Raw readings (``bucket`` 0) or bucket means of ``point`` in ``[begin, now]``."""
    if bucket <= 0:
        readings = twin.store.query([point], begin, now + timedelta(microseconds=1))
        return [r.time for r in readings], [r.value for r in readings]
    return twin.store.downsample(point, begin, now, timedelta(seconds=bucket))


def inlet_estimate(twin: LiveTwin, point: str, begin: datetime) -> dict[str, Any] | None:
    """The estimate of a rack inlet point since ``begin`` (one sample a minute, in memory:
    :class:`twin.live.estimation.EstimateHistory`) and its limits: ``time`` (ISO UTC),
    ``mean`` [°C], ``std`` [K], ``upper`` and ``lower`` (inlet limits [°C]); None for other
    points."""
    parts = point.split("/")
    if len(parts) != 3 or parts[0] != "rack" or parts[2] != "inlet_temperature":
        return None
    with twin.lock:
        history = twin.estimator.history
    times, mean, std = history.series(parts[1], begin)
    facility = twin.facility
    return {
        "time": [t.isoformat() for t in times],
        "mean": json_numbers(mean),
        "std": json_numbers(std),
        "upper": json_number(float(facility.inlet_limit)),
        "lower": json_number(float(facility.inlet_lower_limit)),
    }


def mixed_steps(twin: LiveTwin, model_times: pd.DatetimeIndex) -> list[tuple[datetime, datetime]]:
    """The parts of model steps that ran another schedule than the one the model gives them:
    from the start of the step in which a plan in force was applied to the moment it was
    (the model's schedule has one value a step, the plan's from the step's start on).
    Readings there are not compared with the model [UTC instants, start inclusive]."""
    if not len(model_times):
        return []
    mixed = []
    for record in twin.store.list_plans(limit=20, status="applied"):
        applied = record.get("decided_at")
        if applied is None or applied <= model_times[0]:
            continue
        i = int(model_times.searchsorted(pd.Timestamp(applied), side="right")) - 1
        start = model_times[max(i, 0)].to_pydatetime()
        if start < applied:
            mixed.append((start, applied))
    return mixed


def residuals(
    twin: LiveTwin,
    points: Sequence[str] | None = None,
    hours: float = 6.0,
    cache: ViewCache | None = None,
) -> dict[str, Any]:
    """Measured vs twin prediction for a few points over the last ``hours``.

    Measurements are the raw readings up to :data:`RAW_TRENDS_HOURS`, then the store's means
    per :func:`trend_bucket` (1 min up to a day, the model step beyond); the prediction is the
    calibrated model under the schedule in force at the step of each reading or bucket;
    residual = measured − predicted.

    Parameters
    ----------
    twin
        The live twin.
    points
        Point ids (default :func:`default_live_points`); unknown ids raise ``KeyError``.
    hours
        Look-back [h].
    cache
        The twin's view cache (none: simulate every time).

    Returns
    -------
    dict
        ``series``: point → ``{time, measured, predicted, residual, units, estimate}`` (the
        point's canonical unit: °C, kW, V or 1; ``estimate``: :func:`inlet_estimate` for rack
        inlets, else None); ``start``, ``time`` (the window, ISO UTC); ``bucket_s`` (0: raw
        readings); ``rmse``: point → root-mean-square residual; ``not_compared``: the
        intervals of :func:`mixed_steps` (``start``, ``end``, ISO UTC), predicted None there;
        ``calibration`` (parameter → value, std, unit, converged, samples); ``parameter_history``
        (name → time, value, std); ``faults`` (active sensor faults); ``alarms`` (active).
    """
    chosen = list(points) if points is not None else default_live_points(twin)
    for point in chosen:
        if point not in twin.catalogue:
            raise KeyError(f"unknown point {point!r}")
    now = twin.clock()
    step = twin.step_seconds
    lookback = max(1, math.ceil(hours * 3600 / step))
    model = window_result(twin, now, lookback_steps=lookback, cache=cache)
    model_times = pd.DatetimeIndex(model["time"].values).tz_localize("UTC")
    start = model_times[0].to_pydatetime()
    # the twin's prediction: the model with the calibrated inlet offsets added
    ids, table = point_table(twin.catalogue, twin.facility, twin.parameters, model)
    column = {point: c for c, point in enumerate(ids)}
    series: dict[str, dict[str, Any]] = {}
    rmse: dict[str, float | None] = {}
    begin = max(start, now - timedelta(hours=hours))
    bucket = trend_bucket(hours, step)
    mixed = mixed_steps(twin, model_times)
    for point in chosen:
        kind = twin.catalogue.kind(point)
        times, values = _measured(twin, point, begin, now, bucket)
        predicted: list[float | None] = []
        c = column.get(point)
        for moment in times:
            if c is None or any(lo <= moment < hi for lo, hi in mixed):
                predicted.append(None)
                continue
            i = int(model_times.searchsorted(pd.Timestamp(moment), side="right")) - 1
            predicted.append(json_number(float(table[max(i, 0), c])))
        residual = [
            None if p is None or m is None else m - p
            for m, p in zip(json_numbers(values), predicted, strict=True)
        ]
        finite = [r for r in residual if r is not None]
        rmse[point] = (
            json_number(math.sqrt(sum(r * r for r in finite) / len(finite))) if finite else None
        )
        series[point] = {
            "time": [t.isoformat() for t in times],
            "measured": json_numbers(values),
            "predicted": predicted,
            "residual": residual,
            "units": kind.unit,
            "estimate": inlet_estimate(twin, point, begin),
        }
    with twin.lock:
        calibration = twin.calibrator.status()
        faults = [f.to_dict() for f in twin.faults.active_faults()]
    history: dict[str, dict[str, list[Any]]] = {}
    for entry in twin.store.parameter_history(limit=2_000):
        item = history.setdefault(entry["name"], {"time": [], "value": [], "std": []})
        item["time"].append(entry["time"].isoformat())
        item["value"].append(json_number(entry["value"]))
        item["std"].append(json_number(entry["std"]))
    alarms = [
        {**a, "raised": a["raised"].isoformat(), "cleared": None}
        for a in twin.store.alarms(active_only=True, limit=200)
    ]
    return {
        "time": now.isoformat(),
        "start": begin.isoformat(),
        "bucket_s": bucket,
        "series": series,
        "rmse": rmse,
        "not_compared": [{"start": lo.isoformat(), "end": hi.isoformat()} for lo, hi in mixed],
        "calibration": calibration,
        "parameter_history": history,
        "faults": faults,
        "alarms": alarms,
    }


__all__ = [
    "RAW_TRENDS_HOURS",
    "default_live_points",
    "inlet_estimate",
    "mixed_steps",
    "residuals",
]
