"""The watch after every applied plan: does the hall do what the twin predicted?

When a plan is applied the live twin starts a :class:`PlanWatch` over the points the plan
moves (:func:`moved_points`): the rack inlets, supply temperatures and fan power of the
cooling units whose setpoint changes, plant power and chilled water when that setpoint
changes, the power of the jobs whose power changes and of their racks, the battery SOC when
its dispatch changes, and grid power always.  For ``minutes`` (60) after the application every
reading of those points, screened or not (the screening takes a plant that left the model for
a faulty meter once the calibration moved), is compared with the twin's prediction under the plan by
**the model as calibrated when the plan was applied** (:attr:`PlanWatch.parameters`: factors
and per-rack offsets frozen then; offsets in).  The online calibration keeps learning
meanwhile (screening and the estimate need it), but the watch must not: a sustained
divergence after approval would otherwise be absorbed as a new factor within minutes and the
residual would never last its ``residual_minutes`` (tester finding 2, 7 Dec: plant power
14 % above the model, ``plant_power_factor`` 1.0 → 1.99 in ~2 min, no trip).  The plan was
verified on the model of that moment; the watch asks whether the hall behaves as that model
said.  The watch **trips** when

* a critical limit alarm is raised or escalated, or
* a critical limit alarm that was **already active when the watch started** on what the plan
  moves (:attr:`PlanWatch.standing`) worsens: its margin falls more than its warning band
  (1 K, 0.5 V, 5 % of a capacity) below the margin it had then, for ``worsen_seconds`` (30 s,
  the alarms' minimum duration) on the cycles' times (tester tryout3 finding 6, 7 Dec: a hall
  already over its limit was never a reason to revert; one that gets worse under the plan
  is), or
* a point's residual ``|reading − prediction|`` stays beyond its threshold
  (:data:`RESIDUAL_THRESHOLDS`: 1 K, 0.5 V, 0.05 of SOC, 10 % of the power but at least
  5 kW) for ``residual_minutes`` (10) without a reading back within it, on continuous
  evidence: readings beyond it more than ``max_gap_s`` (300 s) apart start the count again.

A trip is reported once (:class:`WatchTrip`); the live twin then reverts to the safe fallback
(automatically under autonomy, as a proposal otherwise).  A watch that saw nothing wrong for
its whole duration has ``passed``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from physics.facility import Facility
from twin.live.control.preview import ACTIVE_KW, SETPOINT_CHANGE
from twin.live.parameters import FACTORS, UncertainParameters
from twin.scenario.points import PointCatalogue, Reading

__all__ = [
    "RESIDUAL_THRESHOLDS",
    "PlanWatch",
    "WatchTrip",
    "model_from_json",
    "model_json",
    "moved_points",
]

RESIDUAL_THRESHOLDS: dict[str, tuple[float, float]] = {
    "degC": (1.0, 0.0),
    "V": (0.5, 0.0),
    "1": (0.05, 0.0),
    "kW": (5.0, 0.10),
}
"""Residual threshold per canonical unit: ``max(absolute, relative × |prediction|)``."""


def _changed(values: Any, reference: Any, threshold: float) -> bool:
    a = np.asarray(values, dtype=float)
    b = np.asarray(reference, dtype=float)
    return bool(a.shape == b.shape and np.any(np.abs(a - b) > threshold))


def moved_points(
    preview: Mapping[str, Any], facility: Facility, catalogue: PointCatalogue
) -> list[str]:
    """The points a plan moves, from its preview (:func:`twin.live.control.preview.plan_preview`).

    Parameters
    ----------
    preview
        The plan's preview (``setpoints``, ``chilled_water``, ``jobs``, ``battery``).
    facility
        The facility (racks of each unit and job).
    catalogue
        Its points (unknown ones are left out).

    Returns
    -------
    list of str
        Point ids, each once, grid power always included.
    """
    racks = facility.racks
    wanted: list[str] = []
    for unit in preview.get("setpoints", []):
        if abs(unit["max_change_k"]) >= SETPOINT_CHANGE:
            u = facility.units.ids.index(unit["unit"])
            wanted += [f"crah/{unit['unit']}/supply_temperature", f"crah/{unit['unit']}/fan_power"]
            wanted += [
                f"rack/{racks.ids[r]}/inlet_temperature" for r in np.flatnonzero(racks.unit == u)
            ]
    water = preview.get("chilled_water") or {}
    if water and abs(water.get("max_change_k", 0.0)) >= SETPOINT_CHANGE:
        wanted += ["plant/chilled_water_temperature", "plant/power"]
    share = facility.workloads.share.tocsr()
    for job in preview.get("jobs", []):
        energy = job["energy_kwh"]
        if job["action_now"] != "unchanged" or abs(energy["change"]) > ACTIVE_KW:
            j = facility.workloads.ids.index(job["job"])
            wanted.append(f"job/{job['job']}/power")
            row = share.getrow(j)
            wanted += [f"rack/{racks.ids[r]}/power" for r in row.indices[row.data > 0]]
    battery = preview.get("battery") or {}
    if battery and (
        battery["action_now"]["in_force"] != battery["action_now"]["plan"]
        or abs(battery["charge_kwh"]["change"]) > ACTIVE_KW
        or abs(battery["discharge_kwh"]["change"]) > ACTIVE_KW
    ):
        wanted.append("battery/soc")
    wanted.append("grid/power")
    return [p for p in dict.fromkeys(wanted) if p in catalogue]


@dataclass(frozen=True)
class WatchTrip:
    """Why a watch tripped.

    Attributes
    ----------
    plan_id
        The plan watched.
    time
        When (UTC).
    cause
        ``critical_alarm``, ``critical_alarm_worse`` (a standing alarm worsened) or
        ``residual``.
    point
        The point concerned (alarm source or point id).
    reason
        One sentence with the figures.
    """

    plan_id: str
    time: datetime
    cause: str
    point: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        """JSON-ready dict."""
        return {
            "plan_id": self.plan_id,
            "time": self.time.isoformat(),
            "cause": self.cause,
            "point": self.point,
            "reason": self.reason,
        }


@dataclass
class PlanWatch:
    """The watch of one applied plan (see the module docstring).

    Attributes
    ----------
    plan_id
        The plan watched.
    started
        When it was applied (UTC).
    points
        Points judged (:func:`moved_points`).
    units
        Canonical unit of each point.
    minutes
        Length of the watch [min].
    residual_minutes
        How long a residual must stay beyond its threshold to trip [min].
    thresholds
        Residual thresholds per unit (:data:`RESIDUAL_THRESHOLDS` by default).
    parameters
        The calibrated parameters when the plan was applied: the model the readings are
        compared with (None: the caller's prediction as given).
    max_gap_s
        Readings beyond the threshold further apart than this do not make a duration [s].
    """

    plan_id: str
    started: datetime
    points: list[str]
    units: dict[str, str]
    minutes: float = 60.0
    residual_minutes: float = 10.0
    thresholds: Mapping[str, tuple[float, float]] = field(
        default_factory=lambda: dict(RESIDUAL_THRESHOLDS)
    )
    parameters: UncertainParameters | None = None
    max_gap_s: float = 300.0
    standing: dict[tuple[str, str], float] = field(default_factory=dict)
    """Critical limit alarms active on what the plan moves when the watch started: (alarm
    kind, source) → their margin then [unit] (NaN: taken at the first cycle that has one)."""
    worsen_seconds: float = 30.0
    """How long a standing alarm must stay worse by its band to trip [s]."""
    trip: WatchTrip | None = None
    """The trip, once it happened."""
    passed: bool = False
    """The watch ended without a trip."""
    _beyond: dict[str, float] = field(default_factory=dict)
    _seen: dict[str, float] = field(default_factory=dict)
    _worst: dict[str, tuple[float, float]] = field(default_factory=dict)
    _worse_since: dict[tuple[str, str], float] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        """Still watching (neither tripped nor passed)."""
        return self.trip is None and not self.passed

    @property
    def ends(self) -> datetime:
        """When the watch ends (UTC)."""
        return self.started + timedelta(minutes=self.minutes)

    def _threshold(self, point: str, predicted: float) -> float:
        absolute, relative = self.thresholds.get(self.units.get(point, ""), (math.inf, 0.0))
        return max(absolute, relative * abs(predicted))

    def observe(
        self,
        time: datetime,
        readings: Sequence[Reading],
        predicted: Mapping[str, float],
        critical: Iterable[tuple[str, str]] = (),
        levels: Mapping[tuple[str, str], tuple[float, float, str | None]] | None = None,
    ) -> WatchTrip | None:
        """Judge one ingestion cycle; the trip when it happens now (else None).

        Parameters
        ----------
        time
            Instant of the cycle (timezone-aware).
        readings
            The cycle's readings (screened or not).
        predicted
            The twin's prediction of every point at ``time`` (canonical units).
        critical
            Critical limit alarms raised or escalated in this cycle: (source, message).
        levels
            The limit alarms critical now
            (:meth:`twin.live.control.limit_alarms.LimitMonitor.critical_now`): (kind, source)
            → (margin [unit], warning band [unit], point); judged for the :attr:`standing`
            ones.
        """
        if not self.active:
            return None
        now = time.astimezone(UTC)
        for source, message in critical:
            self.trip = WatchTrip(self.plan_id, now, "critical_alarm", source, message)
            return self.trip
        if self.standing and levels is not None:
            trip = self._worsened(now, levels)
            if trip is not None:
                self.trip = trip
                return trip
        watched = set(self.points)
        for reading in sorted(readings, key=lambda r: r.time):
            if reading.point not in watched or reading.time < self.started:
                continue
            model = predicted.get(reading.point)
            if model is None or not math.isfinite(model):
                continue
            residual = reading.value - model
            limit = self._threshold(reading.point, model)
            t = reading.time.timestamp()
            if abs(residual) <= limit:
                self._beyond.pop(reading.point, None)
                continue
            since, seen = self._evidence(reading.point, t)
            self._worst[reading.point] = (residual, limit)
            if seen - since >= self.residual_minutes * 60.0:
                unit = self.units.get(reading.point, "")
                shown = "K" if unit == "degC" else unit
                self.trip = WatchTrip(
                    self.plan_id,
                    now,
                    "residual",
                    reading.point,
                    f"{reading.point} has read {abs(residual):.2f} {shown} "
                    f"{'above' if residual > 0 else 'below'} the twin's prediction (the model as "
                    f"calibrated when the plan was applied) for "
                    f"{(seen - since) / 60:.1f} min (threshold {limit:.2f} {shown}) since the "
                    f"plan was applied",
                )
                return self.trip
        if now >= self.ends:
            self.passed = True
        return None

    def _worsened(
        self, now: datetime, levels: Mapping[tuple[str, str], tuple[float, float, str | None]]
    ) -> WatchTrip | None:
        """The trip when a standing alarm has been worse than at the start by more than its
        band for :attr:`worsen_seconds` (module docstring); else None."""
        t = now.timestamp()
        for key, start in self.standing.items():
            level = levels.get(key)
            if level is None or not math.isfinite(level[0]):
                self._worse_since.pop(key, None)  # cleared or no value: nothing to judge
                continue
            margin, band, _ = level
            if not math.isfinite(start):
                self.standing[key] = margin  # the first value after a restart
                continue
            if margin >= start - band:
                self._worse_since.pop(key, None)
                continue
            since = self._worse_since.setdefault(key, t)
            if t - since >= self.worsen_seconds:
                kind, source = key
                return WatchTrip(
                    self.plan_id,
                    now,
                    "critical_alarm_worse",
                    source,
                    f"the {kind} alarm on {source}, already active when the plan was applied "
                    f"(margin {start:.2f} then), has worsened to a margin of {margin:.2f} (more "
                    f"than its {band:.2f} band) for {t - since:.0f} s",
                )
        return None

    def _evidence(self, point: str, t: float) -> tuple[float, float]:
        """First and newest time [s] of ``point``'s continuous run of readings beyond the
        threshold, with the reading at ``t`` [s] taken in."""
        since, seen = self._beyond.get(point), self._seen.get(point)
        if since is None or seen is None or abs(t - seen) > self.max_gap_s:
            since = seen = t
        self._beyond[point], self._seen[point] = min(since, t), max(seen, t)
        return self._beyond[point], self._seen[point]

    def status(self) -> dict[str, Any]:
        """JSON-ready: plan, start and end (ISO UTC), points, state, residuals beyond their
        threshold now (point → residual, threshold), the trip."""
        state = "tripped" if self.trip else "passed" if self.passed else "watching"
        beyond = {p: {"residual": r, "threshold": lim} for p, (r, lim) in self._worst.items()}
        return {
            "plan_id": self.plan_id,
            "started": self.started.isoformat(),
            "ends": self.ends.isoformat(),
            "state": state,
            "points": list(self.points),
            "beyond": {p: beyond[p] for p in self._beyond if p in beyond},
            "trip": None if self.trip is None else self.trip.to_dict(),
            "standing_alarms": [
                {"kind": kind, "source": source, "margin_at_start": margin}
                for (kind, source), margin in self.standing.items()
            ],
        }


def model_json(parameters: UncertainParameters) -> dict[str, Any]:
    """The watch's frozen model as JSON (for the ``watch_start`` audit entry): the factors
    [-] and ``inlet_offset`` [K] per rack in the facility's order."""
    return {
        **{name: float(getattr(parameters, name)) for name in FACTORS},
        "inlet_offset": [float(v) for v in parameters.inlet_offset],
    }


def model_from_json(data: Mapping[str, Any] | None) -> UncertainParameters | None:
    """:func:`model_json` back to parameters; None when ``data`` holds no model."""
    if not data or not all(name in data for name in FACTORS):
        return None
    factors = {name: float(data[name]) for name in FACTORS}
    return UncertainParameters(inlet_offset=tuple(data.get("inlet_offset") or ()), **factors)
