"""Limit alarms from the screened readings and the estimate: severities, hysteresis, duration.

:class:`LimitMonitor` judges every watched limit (:mod:`twin.live.control.limit_table`) at each
ingestion cycle (:meth:`LimitMonitor.evaluate`, called by the live twin after screening and
estimation).  The value judged is, per limit:

* the newest **reading** of its point, held while it is younger than ``fresh_after`` (120 s),
  **whether or not the fault screening accepted it**: a reading beyond a hard limit is never
  silently excluded (a single-rack hot spot is exactly what one sensor shows, and the screening
  cannot tell it from an offset).  A reading the screening excluded (``excluded`` of
  :meth:`LimitMonitor.evaluate`: a spike, or a sensor held stuck, drifting or interleaved by
  :class:`twin.live.faults.FaultDetector`) is *suspected*: its level is raised only on
  continuous evidence (a later reading still beyond, ``min_duration`` after the first), the
  alarm says the sensor is suspected and gives the estimate without it; and a suspected
  reading equal to the sensor's previous one (a stuck value carries no news) is judged
  together with the screened value (the older accepted reading or the estimate), the worse of
  the two;
* else the **estimate**: the state estimator's rack inlet (virtual sensors included) or battery
  SOC, or the calibrated model at the current step (UPS and power-shelf output, which no
  sensor measures; a feed or busbar whose meter is silent).

With ``margin = limit − value`` for an upper limit (``value − limit`` for a lower one), the
*raw level* is 2 (critical) when ``margin < −tolerance``, 1 (warning) when ``margin < warning``,
else 0.  The alarm's level rises to L once the raw level has been at least L for
``min_duration`` seconds without a break (30 s: one reading is never enough, yet the alarm is
raised in the ingestion cycle that completes the duration).  The duration needs **continuous
evidence**: it is counted on the readings' own times while a reading stands for the point
(on the cycle's time for an estimate), and it starts again when two pieces of evidence are
more than ``max_gap`` apart (300 s, the twin's stale threshold; either way in time) or the
basis changes between reading and estimate.  Two readings 12 minutes apart, or a reading
stamped minutes ahead after an old one, are not 30 s of evidence (tester finding 4, 7 Dec).
It falls only once the margin has cleared the level's threshold by the band's
``hysteresis`` for ``clear_duration`` seconds (60 s): a value hovering at a threshold does
not flap.

Each change is a :class:`LimitEvent` for the store: ``raise`` (a new alarm, or an escalation to
critical), ``update`` (critical back to warning) and ``clear``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from physics.facility import Facility
from physics.variables import unit_symbol
from twin.live.control.limit_table import AlarmBand, LimitEntries, resolve_limits
from twin.live.estimation import EstimatedState
from twin.scenario.points import Reading

__all__ = ["SEVERITY_OF_LEVEL", "LimitEvent", "LimitMonitor"]

FloatArray = NDArray[np.float64]

SEVERITY_OF_LEVEL = {1: "warning", 2: "critical"}
"""Alarm severity of each level (0: no alarm)."""


@dataclass(frozen=True)
class LimitEvent:
    """One change of a limit alarm, for the store.

    Attributes
    ----------
    action
        ``raise`` (new alarm or escalation), ``update`` (less severe) or ``clear``.
    alarm
        Alarm kind, e.g. ``limit_inlet_temperature_high``.
    source
        Alarm source (a point id when measured).
    point
        The point whose trend shows it, or None.
    severity
        ``warning`` or ``critical`` (``clear``: the severity it had).
    message
        One sentence with the figures.
    time
        When (UTC).
    detail
        ``value``, ``limit``, ``margin``, ``unit``, ``basis`` (``measured`` or ``estimated``),
        ``std`` (estimate's standard deviation, when known).
    """

    action: Literal["raise", "update", "clear"]
    alarm: str
    source: str
    point: str | None
    severity: str
    message: str
    time: datetime
    detail: dict[str, Any] = field(default_factory=dict)


def _format(value: float, unit: str, delta: bool = False) -> str:
    """A value (or a difference) with its unit: ``27.62 °C``, ``0.62 K``, ``2,043.1 kW``."""
    if unit == "degC":
        return f"{value:.2f} {'K' if delta else '°C'}"
    if unit == "1":
        return f"{value:.3f}"
    if unit == "kW":
        return f"{value:,.1f} kW"
    return f"{value:.2f} {unit_symbol(unit)}"


class LimitMonitor:
    """Limit alarms of one facility.

    Parameters
    ----------
    facility
        The nominal compiled facility (its design limits).
    points
        The catalogue's point ids.
    bands
        Severity bands per canonical unit (:data:`~twin.live.control.limit_table.DEFAULT_BANDS`
        for the others).
    min_duration
        Seconds a level must hold before the alarm reaches it [s].
    clear_duration
        Seconds the margin must clear a level's threshold (plus hysteresis) before the alarm
        leaves it [s].
    fresh_after
        A reading older than this no longer stands for its point; the estimate does [s].
    max_gap
        Evidence further apart than this does not make a duration (module docstring) [s].
    """

    def __init__(
        self,
        facility: Facility,
        points: Sequence[str],
        *,
        bands: Mapping[str, AlarmBand] | None = None,
        min_duration: float = 30.0,
        clear_duration: float = 60.0,
        fresh_after: float = 120.0,
        max_gap: float = 300.0,
    ) -> None:
        for name, value in (
            ("min_duration", min_duration),
            ("clear_duration", clear_duration),
            ("fresh_after", fresh_after),
            ("max_gap", max_gap),
        ):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a non-negative number of seconds, got {value}")
        self.entries: LimitEntries = resolve_limits(facility, frozenset(points), bands)
        self.min_duration = float(min_duration)
        self.clear_duration = float(clear_duration)
        self.fresh_after = float(fresh_after)
        self.max_gap = float(max_gap)
        n = self.entries.count
        self._racks = {rack: r for r, rack in enumerate(facility.racks.ids)}
        self._plan_estimates()
        self._by_point: dict[str, list[int]] = {}
        for e, point in enumerate(self.entries.point):
            if point is not None:
                self._by_point.setdefault(point, []).append(e)
        self.level = np.zeros(n, dtype=np.int64)
        """Current alarm level of each entry: 0 none, 1 warning, 2 critical."""
        self._reading = np.full(n, np.nan)
        self._reading_time = np.full(n, -np.inf)
        self._raw = np.full(n, np.nan)  # newest reading, screened or not
        self._raw_time = np.full(n, -np.inf)
        self._raw_previous = np.full(n, np.nan)  # the point's reading before it
        self._suspect = np.full(n, "", dtype=object)  # why the newest reading was excluded
        self._above = np.full((n, 2), np.nan)  # since when the raw level is ≥ 1, ≥ 2 [s]
        self._seen = np.full((n, 2), np.nan)  # the newest evidence of it [s]
        self._was_measured = np.zeros(n, dtype=bool)
        self._below = np.full(n, np.nan)  # since when the release level is below the level [s]
        self.value = np.full(n, np.nan)
        """Value judged at the last evaluation [unit]."""
        self.measured = np.zeros(n, dtype=bool)
        """The value judged last was a reading (else an estimate)."""
        self.std = np.full(n, np.nan)
        """Standard deviation of the estimate judged last [unit]; NaN for readings."""
        self.suspected = np.full(n, "", dtype=object)
        """Per entry, why the reading judged last was excluded by the screening (``spike``,
        ``stuck``, ``drift``, ...); empty for an accepted reading or an estimate."""
        self.screened = np.full(n, np.nan)
        """The value the screening alone leaves (the accepted reading, else the estimate),
        judged last [unit]."""
        self.estimated = np.full(n, np.nan)
        """The estimate (or calibrated model) of each entry at the last evaluation [unit]."""

    def adopt(self, active: Sequence[Mapping[str, Any]]) -> None:
        """Take the levels of alarms already active in the store (after a restart), so that
        they clear when their condition does.

        Parameters
        ----------
        active
            Active alarms (``kind``, ``source``, ``severity``).
        """
        pairs = zip(self.entries.alarm, self.entries.source, strict=True)
        where = {pair: e for e, pair in enumerate(pairs)}
        for alarm in active:
            e = where.get((str(alarm["kind"]), str(alarm["source"])))
            if e is not None:
                self.level[e] = 2 if alarm.get("severity") == "critical" else 1

    def changed_limits(self, active: Sequence[Mapping[str, Any]]) -> set[int]:
        """The entries of active limit alarms stored with another limit than the entry's now
        (the scenario was replaced, or a restart serves the file again after a replacement):
        :meth:`rejudge` them."""
        pairs = zip(self.entries.alarm, self.entries.source, strict=True)
        where = {pair: e for e, pair in enumerate(pairs)}
        changed: set[int] = set()
        for alarm in active:
            e = where.get((str(alarm["kind"]), str(alarm["source"])))
            stored = (alarm.get("detail") or {}).get("limit")
            if e is None or not isinstance(stored, int | float):
                continue
            if abs(float(stored) - float(self.entries.limit[e])) > 1e-9:
                changed.add(e)
        return changed

    def rejudge(self, time: datetime, entries: set[int]) -> list[LimitEvent]:
        """Judge again, at once, the alarms of ``entries`` against the limits now (after
        :meth:`changed_limits`): cleared when the value judged last is within the new limit's
        warning band, lowered to a warning, or kept at its level and re-worded with the new
        limit (an escalation still needs the minimum duration).  Entries without a value yet
        are left in ``entries`` for a later cycle; the others are removed from it."""
        events: list[LimitEvent] = []
        done = set()
        for e in sorted(entries):
            if not math.isfinite(self.value[e]):
                continue
            done.add(e)
            old = int(self.level[e])
            if old == 0:
                continue
            margin = float(self.entries.sign[e] * (self.entries.limit[e] - self.value[e]))
            warning = margin < self.entries.warning[e]
            raw = 2 if margin < -self.entries.tolerance[e] else 1 if warning else 0
            new = min(raw, old)
            event = self._event(e, old, new, margin, time)
            note = " (judged again: the limits changed with the scenario)"
            events.append(dataclasses.replace(event, message=event.message + note))
            self.level[e] = new
            self._below[e] = np.nan
        entries -= done
        return events

    def critical_now(self) -> dict[tuple[str, str], tuple[float, float, str | None]]:
        """The entries at the critical level now: (alarm kind, source) → (margin [unit],
        warning band [unit], point); the margin is NaN before the first evaluation (after a
        restart, :meth:`adopt` gives the level before a value)."""
        entries = self.entries
        margin = entries.sign * (entries.limit - self.value)
        return {
            (str(entries.alarm[e]), str(entries.source[e])): (
                float(margin[e]),
                float(entries.warning[e]),
                entries.point[e],
            )
            for e in np.flatnonzero(self.level == 2)
        }

    def evaluate(
        self,
        time: datetime,
        readings: Sequence[Reading],
        estimate: EstimatedState,
        model: xr.Dataset | Mapping[str, Any],
        excluded: Sequence[Reading] = (),
        suspected: Mapping[str, str] | None = None,
    ) -> list[LimitEvent]:
        """Judge every watched limit at ``time``; the alarm changes.

        Parameters
        ----------
        time
            Instant of the ingestion cycle (timezone-aware).
        readings
            The cycle's accepted readings (after fault screening), canonical units.
        estimate
            The state estimate at ``time``.
        model
            The calibrated model at the current step: simulation variable → value per
            equipment (SI units, as :func:`physics.simulate.simulate` gives them).
        excluded
            The cycle's readings the screening excluded, canonical units: judged too, as
            suspected readings (module docstring).
        suspected
            Why each point's excluded readings were excluded (``spike``, ``stuck``, ``drift``,
            ...; default ``suspected``).

        Returns
        -------
        list of LimitEvent
            In entry order.
        """
        now = time.astimezone(UTC).timestamp()
        # each watched point's last reading at its latest time (what taking the readings one
        # by one, a reading replacing one at the same time or older, leaves), then the entries
        by_point = self._by_point
        stamps: dict[datetime, float] = {}
        newest = self._newest(readings, stamps)
        for point, (t, value) in newest.items():
            for e in by_point[point]:
                if t >= self._reading_time[e]:
                    self._reading[e], self._reading_time[e] = value, t
                if t >= self._raw_time[e]:
                    self._take_raw(e, t, value, "")
        why = suspected or {}
        for point, (t, value) in self._newest(excluded, stamps).items():
            for e in by_point[point]:
                if t > self._raw_time[e]:  # an accepted reading at the same time stands
                    self._take_raw(e, t, value, why.get(point) or "suspected")
        fresh = (now - self._reading_time <= self.fresh_after) & np.isfinite(self._reading)
        estimated, std = self._estimates(estimate, model)
        self.screened = np.where(fresh, self._reading, estimated)
        self.estimated = estimated
        suspect = (
            (self._suspect != "")
            & (now - self._raw_time <= self.fresh_after)
            & np.isfinite(self._raw)
        )
        judged = np.where(suspect, self._raw, self.screened)
        if suspect.any():
            # a suspected sensor repeating its value carries no news: the worse of it and
            # the screened value
            sign, limit = self.entries.sign, self.entries.limit
            repeated = suspect & (np.abs(self._raw - self._raw_previous) <= 1e-9)
            worse = repeated & (sign * (limit - self.screened) < sign * (limit - self._raw))
            judged = np.where(worse, self.screened, judged)
            suspect &= ~worse
        self.value = judged
        self.measured = fresh | suspect
        self.std = np.where(self.measured, np.nan, std)
        self.suspected = np.where(suspect, self._suspect, "")
        # a reading is evidence up to its own time (a suspected one too), an estimate up to
        # the cycle's
        evidence = np.where(fresh, self._reading_time, now)
        if suspect.any():
            evidence = np.where(suspect, self._raw_time, evidence)
        return self._step(now, time, evidence)

    def _newest(
        self, readings: Sequence[Reading], stamps: dict[datetime, float]
    ) -> dict[str, tuple[float, float]]:
        """Each watched point's last reading at its latest time: point → (time [s], value)."""
        by_point = self._by_point
        newest: dict[str, tuple[float, float]] = {}
        for reading in readings:
            if reading.point not in by_point:
                continue
            t = stamps.get(reading.time)
            if t is None:
                t = stamps[reading.time] = reading.time.timestamp()
            previous = newest.get(reading.point)
            if previous is None or t >= previous[0]:
                newest[reading.point] = (t, reading.value)
        return newest

    def _take_raw(self, e: int, t: float, value: float, why: str) -> None:
        """The newest reading of entry ``e``'s point, screened (``why`` empty) or not."""
        if t > self._raw_time[e]:
            self._raw_previous[e] = self._raw[e]
        self._raw[e], self._raw_time[e], self._suspect[e] = value, t, why

    def crossed(self, point: str, value: float) -> list[str]:
        """How ``value`` of ``point`` is beyond its hard limits (by more than the tolerance),
        e.g. ``["above its 27.00 °C limit"]``; empty when within them.

        Parameters
        ----------
        point
            A point id.
        value
            A reading of it [its canonical unit].
        """
        entries = self.entries
        found = []
        for e in self._by_point.get(point, ()):
            if entries.sign[e] * (entries.limit[e] - value) < -entries.tolerance[e]:
                side = "above" if entries.sign[e] > 0 else "below"
                found.append(
                    f"{side} its {_format(float(entries.limit[e]), entries.unit[e])} limit"
                )
        return found

    def _plan_estimates(self) -> None:
        """Index arrays of the fallback estimates, so an evaluation gathers them with a few
        array operations (one lookup per model variable, not one per entry)."""
        entries = self.entries
        kinds = np.asarray(entries.estimate, dtype=object)
        inlet = np.flatnonzero(kinds == "inlet")
        self._inlet_entries = inlet
        self._inlet_racks = np.array(
            [self._racks[entries.equipment[e]] for e in inlet], dtype=np.int64
        )
        self._soc_entries = np.flatnonzero(kinds == "soc")
        by_variable: dict[str, list[int]] = {}
        for e in np.flatnonzero((kinds != "inlet") & (kinds != "soc")):
            by_variable.setdefault(entries.variable[e], []).append(int(e))
        self._model_entries = {
            name: np.asarray(rows, dtype=np.int64) for name, rows in by_variable.items()
        }
        self._model_values: tuple[xr.Dataset | Mapping[str, Any], FloatArray] | None = None

    def _estimates(
        self, estimate: EstimatedState, model: xr.Dataset | Mapping[str, Any]
    ) -> tuple[FloatArray, FloatArray]:
        """The fallback value [unit] and its standard deviation [unit] (NaN: unknown).

        The model's part is kept for the next call with the same :class:`xarray.Dataset`
        (the same object: the twin's cached simulation of a step, never modified), so the
        batches of one cycle, and the cycles of one step, look its variables up once.
        """
        entries = self.entries
        std = np.full(entries.count, np.nan)
        kept = self._model_values
        if kept is not None and kept[0] is model:
            value = kept[1].copy()
        else:
            value = self._model_estimates(model)
            if isinstance(model, xr.Dataset):
                self._model_values = (model, value.copy())
        if self._inlet_entries.size:
            inlet = np.asarray(estimate.inlet_temperature, dtype=float)
            inlet_std = np.asarray(estimate.inlet_temperature_std, dtype=float)
            value[self._inlet_entries] = inlet[self._inlet_racks]
            std[self._inlet_entries] = inlet_std[self._inlet_racks]
        if self._soc_entries.size and estimate.soc is not None:
            value[self._soc_entries] = estimate.soc
            if estimate.soc_std is not None:
                std[self._soc_entries] = estimate.soc_std
        return value, std

    def _model_estimates(self, model: xr.Dataset | Mapping[str, Any]) -> FloatArray:
        """The entries' values from the model [unit]; NaN for the others (inlet and state of
        charge entries are filled from the estimate, after)."""
        entries = self.entries
        value = np.full(entries.count, np.nan)
        for name, rows in self._model_entries.items():
            data = model.get(name)
            if data is None:
                continue
            flat = np.atleast_1d(np.asarray(data, dtype=float)).ravel()
            index = entries.index[rows]
            inside = index < flat.size
            value[rows[inside]] = flat[index[inside]] / entries.scale[rows[inside]]
        return value

    def _step(self, now: float, time: datetime, evidence: FloatArray) -> list[LimitEvent]:
        """Advance the level of every entry to ``now``; the resulting events.

        ``evidence`` [s], per entry, is the time of what its value rests on (the reading's
        time, ``now`` for an estimate): the durations are counted on it, continuously
        (module docstring)."""
        entries = self.entries
        margin = entries.sign * (entries.limit - self.value)
        known = np.isfinite(margin)
        critical = known & (margin < -entries.tolerance)
        warning = known & (margin < entries.warning)
        switched = self.measured != self._was_measured
        self._was_measured = self.measured.copy()
        for column, raw in enumerate((warning, critical)):
            since, seen = self._above[:, column], self._seen[:, column]
            gap = np.abs(evidence - seen)  # NaN where nothing was seen
            restart = np.isnan(since) | ~(gap <= self.max_gap) | switched
            start = np.where(restart, evidence, np.fmin(since, evidence))
            last = np.where(restart, evidence, np.fmax(seen, evidence))
            self._above[:, column] = np.where(raw, start, np.nan)
            self._seen[:, column] = np.where(raw, last, np.nan)
        held = self._seen - self._above >= self.min_duration  # (n, 2), False where NaN
        target = np.where(held[:, 1], 2, np.where(held[:, 0], 1, 0))
        # the level the margin allows to stay at: thresholds moved out by the hysteresis
        keep = np.where(
            known & (margin < -entries.tolerance + entries.hysteresis),
            2,
            np.where(known & (margin < entries.warning + entries.hysteresis), 1, 0),
        )
        keep = np.where(known, keep, self.level)  # no value: no change
        falling = keep < self.level
        self._below = np.where(falling, np.where(np.isnan(self._below), now, self._below), np.nan)
        release = falling & (now - self._below >= self.clear_duration)
        new = np.where(target > self.level, target, np.where(release, keep, self.level))
        events: list[LimitEvent] = []
        for e in np.flatnonzero(new != self.level):
            events.append(self._event(int(e), int(self.level[e]), int(new[e]), margin[e], time))
        self.level = new
        self._below[release] = np.nan
        return events

    def _event(self, e: int, old: int, new: int, margin: float, time: datetime) -> LimitEvent:
        entries = self.entries
        unit = entries.unit[e]
        value, limit = float(self.value[e]), float(entries.limit[e])
        upper = entries.sign[e] > 0
        what = f"{entries.description[e]} of {entries.equipment[e]}"
        suspected = str(self.suspected[e])
        if suspected:
            estimate = float(self.estimated[e])
            without = (
                f", {_format(estimate, unit)} estimated without it"
                if math.isfinite(estimate)
                else ""
            )
            basis = f"measured; the sensor is suspected ({suspected}){without}"
        elif self.measured[e]:
            basis = "measured"
        elif math.isfinite(self.std[e]):
            basis = f"estimated, ± {_format(float(self.std[e]), unit, delta=True)}"
        else:
            basis = "estimated by the calibrated model"
        shown = f"{what} {_format(value, unit)} ({basis})"
        if new == 2:
            side = "above" if upper else "below"
            message = f"{shown} {side} its {_format(limit, unit)} limit"
        elif new == 1:
            message = (
                f"{shown}: {_format(abs(margin), unit, delta=True)} from its "
                f"{_format(limit, unit)} {'upper' if upper else 'lower'} limit (warning within "
                f"{_format(float(entries.warning[e]), unit, delta=True)})"
            )
        else:
            message = f"{shown}: back within {_format(limit, unit)} with margin to spare"
        detail: dict[str, Any] = {
            "value": value,
            "limit": limit,
            "margin": float(margin),
            "unit": unit,
            "basis": "measured" if self.measured[e] else "estimated",
            "std": float(self.std[e]) if math.isfinite(self.std[e]) else None,
        }
        if suspected:
            detail["suspected"] = suspected
            estimate = float(self.estimated[e])
            detail["estimate"] = estimate if math.isfinite(estimate) else None
        action: Literal["raise", "update", "clear"]
        if new == 0:
            action = "clear"
        elif new > old:
            action = "raise"
        else:
            action = "update"
        return LimitEvent(
            action,
            entries.alarm[e],
            entries.source[e],
            entries.point[e],
            SEVERITY_OF_LEVEL.get(new or old, "warning"),
            message,
            time,
            detail,
        )
