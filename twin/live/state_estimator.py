"""State estimation of the live twin: what the hall is doing now, with its uncertainty.

:class:`StateEstimator` combines the model's prediction of every point (the calibrated facility
simulated under the schedule in force, :meth:`twin.scenario.points.PointCatalogue.predict`) with the
readings that passed validation and fault screening (:mod:`twin.live.ingest`,
:mod:`twin.live.faults`) into an :class:`twin.live.estimation.EstimatedState`.

Rack inlet temperatures (measured or not)
    A Kalman filter on the per-rack deviation ``d = T_inlet − T_predicted`` [K] with increments
    correlated between racks that share an air path (:class:`twin.live.inlet_filter.InletFilter`,
    whose module describes the model); a measured rack updates its unmeasured neighbours
    through the covariance (virtual sensors).
Battery state of charge
    A scalar Kalman filter.  Prediction integrates the battery's grid-side power when it can be
    metered (no PV: ``grid/power − Σ feed/*/power``, both read in the previous update; stored
    energy changes by ``P·η_c·Δt`` charging, ``P/η_d·Δt`` discharging); otherwise it follows the
    model's SOC increment between updates; otherwise it stays put.  Process noise
    ``soc_process_std² · Δt``.  ``battery/soc`` readings update it.
Job progress
    Energy delivered per workload [kWh] by integrating its ``job/<id>/power`` readings with the
    step rule (each reading's power held until the next reading of the same point, the same
    convention as a simulation step).  Energy before the first reading is not counted.
Power chain
    The latest reading (value, time, prediction) of every feed power, busbar voltage, grid and
    plant power point.
Staleness
    The state is stale when no reading was accepted for more than ``stale_after`` seconds, or when
    more than ``silent_fraction`` of the points that reported before have been silent that long.

Units: temperatures [°C], temperature differences and standard deviations [K], power [kW] (the
points' canonical unit), energy [kWh], SOC [-], times UTC.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr

from physics.constants import JOULES_PER_KWH
from physics.facility import Facility
from twin.live.estimation import EstimatedState, EstimateHistory, PowerChainReadings
from twin.live.inlet_filter import InletFilter
from twin.scenario.points import PointCatalogue, Reading

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

__all__ = ["StateEstimator"]

_HOUR = 3600.0
_PAST_KEPT = 720
"""Readings per rack :meth:`StateEstimator.discount` can go back over [count] (an hour at 5 s)."""

# point roles (codes in StateEstimator._role)
_OTHER, _INLET, _SOC, _JOB, _CHAIN = 0, 1, 2, 3, 4
_CHAIN_KINDS = {
    ("feed", "power"),
    ("busbar", "voltage"),
    ("grid", "power"),
    ("plant", "power"),
}


def _utc(moment: datetime, what: str) -> datetime:
    """``moment`` in UTC; ``ValueError`` for a naive datetime."""
    if not isinstance(moment, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} {moment.isoformat()} has no timezone (naive datetimes refused)")
    return moment.astimezone(UTC)


def _from_seconds(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


class StateEstimator:
    """Live state estimate of one facility (see the module docstring for the model).

    Parameters
    ----------
    facility
        Compiled facility (racks' ``row``, ``position`` and ``unit`` define the air paths).
    process_std
        Growth of the inlet deviation's standard deviation per square-root hour between
        readings, ``q`` [K h^-1/2].
    measurement_std
        Inlet sensor noise [K].
    correlation_length
        Decay length of the correlation between racks of one row, ``L`` [rack positions].
    prior_std
        Standard deviation of the model's inlet error before any reading, ``σ₀`` [K]; also the
        bound an unmeasured, uncorrelated rack relaxes to.
    soc_process_std
        SOC random-walk standard deviation per square-root hour [h^-1/2].
    soc_measurement_std
        Noise of ``battery/soc`` readings [-].
    soc_prior_std
        SOC standard deviation before any reading [-].
    stale_after
        Silence after which the state (or a point) counts as stale [s].
    silent_fraction
        Fraction of reporting points silent for ``stale_after`` that makes the state stale [-].
    measured_within
        A rack counts as measured when its inlet was read this recently [s]; default
        ``stale_after``.
    """

    def __init__(
        self,
        facility: Facility,
        *,
        process_std: float = 0.3,
        measurement_std: float = 0.3,
        correlation_length: float = 3.0,
        prior_std: float = 1.0,
        soc_process_std: float = 0.005,
        soc_measurement_std: float = 0.01,
        soc_prior_std: float = 0.1,
        stale_after: float = 300.0,
        silent_fraction: float = 0.5,
        measured_within: float | None = None,
    ) -> None:
        for name, value in (
            ("process_std", process_std),
            ("measurement_std", measurement_std),
            ("correlation_length", correlation_length),
            ("prior_std", prior_std),
            ("soc_process_std", soc_process_std),
            ("soc_measurement_std", soc_measurement_std),
            ("soc_prior_std", soc_prior_std),
            ("stale_after", stale_after),
        ):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if not 0 < silent_fraction <= 1:
            raise ValueError(f"silent_fraction must be in (0, 1], got {silent_fraction!r}")
        self.facility = facility
        self.process_std = float(process_std)
        self.measurement_std = float(measurement_std)
        self.correlation_length = float(correlation_length)
        self.prior_std = float(prior_std)
        self.soc_process_std = float(soc_process_std)
        self.soc_measurement_std = float(soc_measurement_std)
        self.soc_prior_std = float(soc_prior_std)
        self.stale_after = float(stale_after)
        self.silent_fraction = float(silent_fraction)
        self.measured_within = float(stale_after if measured_within is None else measured_within)

        self.catalogue = PointCatalogue(facility)
        self._build_layout()
        self._build_points()

        racks = facility.racks
        self._predicted_inlet = np.full(racks.count, np.nan)
        self._inlets = InletFilter(
            facility,
            process_std=process_std,
            measurement_std=measurement_std,
            correlation_length=correlation_length,
            prior_std=prior_std,
        )
        self.reversion_time = self._inlets.reversion_time
        """Mean-reversion time τ of the inlet deviation [s]."""
        self._time: float | None = None

        battery = facility.battery
        self._soc: float | None = None if battery is None else float(battery.initial_soc)
        self._soc_var = self.soc_prior_std**2
        self._soc_initialized = False
        self._soc_source = "none" if battery is None else "hold"
        self._soc_predicted_prev: float | None = None
        self._battery_power_prev: float | None = None

        work = facility.workloads
        self._job_energy = np.zeros(work.count)
        self._job_last = np.full(work.count, np.nan)  # last power [kW]
        self._job_last_time = np.full(work.count, -np.inf)
        chain = len(self._chain_points)
        self._chain_val = np.full(chain, np.nan)
        self._chain_time = np.full(chain, -np.inf)
        self._chain_pred = np.full(chain, np.nan)
        self._chain_units = [self.catalogue.kind(p).unit for p in self._chain_points]
        self._chain_of = {p: c for c, p in enumerate(self._chain_points)}
        self._point_last = np.full(len(self._point_ids), -np.inf)
        self._last_reading: float | None = None
        self._state: EstimatedState | None = None
        self._offsets = np.zeros(racks.count)  # the calibrated offsets in the predictions [K]
        self._past: dict[int, deque[tuple[float, float]]] = {}
        """Per rack, (reading time [s], deviation before it + offset then [K]) of its recent
        readings: :meth:`discount` goes back to one."""
        self.history = EstimateHistory(self._rack_ids)
        """The recent estimates, one per minute (the trends' uncertainty bands)."""

    # ------------------------------------------------------------------ structure

    def _build_layout(self) -> None:
        """The rack layout of the returned states, the same for every update (shared,
        read-only)."""
        racks = self.facility.racks
        self._rack_ids = list(racks.ids)
        self._rack_rows = [str(r) for r in racks.row]
        self._rack_positions = [int(p) for p in racks.position]

    def _build_points(self) -> None:
        """Role and target index of every catalogue point."""
        cat = self.catalogue
        self._point_ids = list(cat.ids)
        self._point_index = {p: i for i, p in enumerate(self._point_ids)}
        self._role = np.zeros(len(self._point_ids), dtype=np.int64)
        self._target = np.full(len(self._point_ids), -1, dtype=np.int64)
        self._inlet_points = [""] * self.facility.racks.count
        self._feed_points: list[str] = []
        self._chain_points: list[str] = []
        self._chain_slot = np.full(len(self._point_ids), -1, dtype=np.int64)
        for i, point in enumerate(self._point_ids):
            kind, index = cat.kinds[point]
            if kind.prefix == "rack" and kind.quantity == "inlet_temperature":
                self._role[i], self._target[i] = _INLET, int(index or 0)
                self._inlet_points[int(index or 0)] = point
            elif kind.prefix == "battery":
                self._role[i] = _SOC
            elif kind.prefix == "job":
                self._role[i], self._target[i] = _JOB, int(index or 0)
            elif (kind.prefix, kind.quantity) in _CHAIN_KINDS:
                self._role[i] = _CHAIN
                self._chain_slot[i] = len(self._chain_points)
                self._chain_points.append(point)
                if kind.prefix == "feed":
                    self._feed_points.append(point)

    # ------------------------------------------------------------------ public API

    def update(
        self,
        time: datetime,
        readings: Sequence[Reading],
        predicted: Mapping[str, float],
        offsets: FloatArray | None = None,
    ) -> EstimatedState:
        """Propagate the estimate to ``time`` and correct it with ``readings``.

        Parameters
        ----------
        time
            Instant of the update (timezone-aware).  An earlier time than the previous update
            (a late batch) does not move the filter back: its readings are applied at the
            filter's current time with their age added to the measurement variance.
        readings
            Accepted readings (canonical units).  Readings of unknown points, non-finite values
            and inlet readings older than the rack's last applied one are ignored; of several
            inlet readings of one rack the newest is used.
        predicted
            Model prediction of every point at ``time`` (:meth:`PointCatalogue.predict`).
            Missing or non-finite entries keep the previous prediction.
        offsets
            The calibrated inlet offsets [K] per rack included in ``predicted`` (None: as in
            the previous update).  When the calibration moves an offset the deviations are
            moved back by as much, so an inlet the deviation had already learned is not
            counted twice (watch6, 7 Dec: one 29.0 °C reading gave 32.14 ± 0.22 °C).

        Returns
        -------
        EstimatedState

        Raises
        ------
        ValueError
            ``time`` or a reading's time is naive.
        """
        now = _utc(time, "update time").timestamp()
        idx, when, value = self._reading_arrays(readings)  # raises before any change
        previous = self._time
        if previous is None:
            self._time = now
        elif now > previous:
            self._inlets.propagate(now - previous)
            self._time = now
        current = self._time
        assert current is not None

        if offsets is not None:
            new = np.asarray(offsets, dtype=float)
            self._inlets.shift(self._offsets - new)
            self._offsets = new.copy()
        self._take_predictions(predicted)

        # --- readings, dispatched by role
        if idx.size:
            np.maximum.at(self._point_last, idx, when)
            newest = float(when.max())
            if self._last_reading is None or newest > self._last_reading:
                self._last_reading = newest
        role = self._role[idx]
        inlet_value, inlet_time = self._newest_per(
            self.facility.racks.count, self._target[idx], when, value, role == _INLET
        )
        chain_value, chain_time = self._newest_per(
            len(self._chain_points), self._chain_slot[idx], when, value, role == _CHAIN
        )
        fresher = chain_time > self._chain_time
        self._chain_time[fresher] = chain_time[fresher]
        self._chain_val[fresher] = chain_value[fresher]
        soc_readings = [
            (float(t), float(v))
            for t, v in zip(when[role == _SOC], value[role == _SOC], strict=True)
        ]
        jobs = np.flatnonzero(role == _JOB)
        for k in jobs[np.argsort(when[jobs], kind="stable")]:
            self._integrate_job(int(self._target[idx[k]]), float(when[k]), float(value[k]))

        self._remember(inlet_value, inlet_time)
        self._inlets.update(current, inlet_value, inlet_time, self._predicted_inlet)
        self._update_soc(current, previous, predicted, soc_readings)
        self._state = self._build_state(current)
        self.history.record(self._state)
        return self._state

    def carry_times(self, other: StateEstimator) -> int:
        """Take the last reading times of ``other`` (the estimator of the scenario replaced)
        for the points this facility still has, so the state is not "stale: no reading
        accepted yet" while readings arrive (tester tryout3 finding 8, 7 Dec); returns the
        points carried over.  The estimates themselves start again."""
        carried = 0
        for point, i in self._point_index.items():
            j = other._point_index.get(point)
            if j is not None and math.isfinite(other._point_last[j]):
                self._point_last[i] = other._point_last[j]
                carried += 1
        if carried and other._last_reading is not None:
            times = self._point_last[np.isfinite(self._point_last)]
            self._last_reading = float(times.max())
            self._state = None
        return carried

    def _remember(self, value: FloatArray, when: FloatArray) -> None:
        """Keep each rack's deviation (+ offset) before the new readings it takes now."""
        new = np.flatnonzero(np.isfinite(value) & (when > self._inlets.last_time))
        if new.size == 0:
            return
        deviation = self._inlets.deviation()[0]
        for r in new.tolist():
            past = self._past.setdefault(r, deque(maxlen=_PAST_KEPT))
            past.append((float(when[r]), float(deviation[r] + self._offsets[r])))

    def discount(self, point: str, since: datetime) -> bool:
        """Take back what the inlet readings of ``point`` from ``since`` on moved its rack's
        deviation (a sensor found stuck or drifting since then): the deviation goes back to
        its value before the first of them (in the frame of today's offsets); the
        covariance and the neighbours are left as they are.  True when it moved."""
        i = self._point_index.get(point)
        if i is None or self._role[i] != _INLET:
            return False
        r = int(self._target[i])
        t0 = _utc(since, "since").timestamp()
        for t, value in self._past.get(r, ()):
            if t >= t0:
                self._inlets.set_deviation(r, value - float(self._offsets[r]))
                self._state = self._build_state(self._time)
                return True
        return False

    def _reading_arrays(
        self, readings: Sequence[Reading]
    ) -> tuple[NDArray[np.int64], FloatArray, FloatArray]:
        """(point index, time [s since epoch], value) of the known, finite readings."""
        index = self._point_index
        seconds: dict[datetime, float] = {}
        idx: list[int] = []
        when: list[float] = []
        value: list[float] = []
        for reading in readings:
            i = index.get(reading.point)
            moment = reading.time
            t = seconds.get(moment)
            if t is None or moment.tzinfo is None:  # naive: always refused by _utc
                t = _utc(moment, f"time of reading {reading.point}").timestamp()
                seconds[moment] = t
            if i is None:
                continue
            v = float(reading.value)
            if math.isfinite(v):
                idx.append(i)
                when.append(t)
                value.append(v)
        return (
            np.asarray(idx, dtype=np.int64),
            np.asarray(when, dtype=float),
            np.asarray(value, dtype=float),
        )

    @staticmethod
    def _newest_per(
        size: int,
        target: NDArray[np.int64],
        when: FloatArray,
        value: FloatArray,
        select: BoolArray,
    ) -> tuple[FloatArray, FloatArray]:
        """Newest value and its time per target slot among the selected readings."""
        out_value = np.full(size, np.nan)
        out_time = np.full(size, -np.inf)
        k = np.flatnonzero(select)
        if k.size:
            order = k[np.lexsort((when[k], target[k]))]  # by slot, then time
            last = np.r_[target[order][1:] != target[order][:-1], True]
            chosen = order[last]
            out_value[target[chosen]] = value[chosen]
            out_time[target[chosen]] = when[chosen]
        return out_value, out_time

    def state(self, now: datetime | None = None) -> EstimatedState:
        """The latest estimate; with ``now``, its staleness re-evaluated at ``now``.

        Parameters
        ----------
        now
            Current time (timezone-aware); default: the time of the last update.
        """
        if self._state is None:
            self._state = self._build_state(self._time)
        if now is None:
            return self._state
        moment = _utc(now, "now").timestamp()
        stale, reason, silent = self._staleness(moment)
        return replace(self._state, stale=stale, stale_reason=reason, silent_points=silent)

    # ------------------------------------------------------------------ predictions

    def _take_predictions(self, predicted: Mapping[str, float]) -> None:
        """Keep the finite predictions of the rack inlets and the power-chain points."""
        values = self._predicted_inlet
        for r, point in enumerate(self._inlet_points):
            value = predicted.get(point)
            if value is not None and math.isfinite(value):
                values[r] = value
        for c, point in enumerate(self._chain_points):
            value = predicted.get(point)
            if value is not None and math.isfinite(value):
                self._chain_pred[c] = value

    # ------------------------------------------------------------------ battery and jobs

    def _update_soc(
        self,
        now: float,
        previous: float | None,
        predicted: Mapping[str, float],
        readings: list[tuple[float, float]],
    ) -> None:
        battery = self.facility.battery
        if battery is None or self._soc is None:
            return
        predicted_soc = predicted.get("battery/soc")
        if predicted_soc is not None and not math.isfinite(predicted_soc):
            predicted_soc = None
        metered = self._metered_battery_power()
        if not self._soc_initialized:
            if predicted_soc is not None:
                self._soc = float(predicted_soc)
            self._soc_initialized = True
        elif previous is not None and now > previous:
            dt = now - previous
            change = 0.0
            if self._battery_power_prev is not None:
                power = self._battery_power_prev * 1e3  # W, held over the interval
                stored = (
                    power * battery.charge_efficiency
                    if power > 0
                    else power / battery.discharge_efficiency
                )
                change = stored * dt / battery.capacity
                self._soc_source = "meters"
            elif predicted_soc is not None and self._soc_predicted_prev is not None:
                change = float(predicted_soc) - self._soc_predicted_prev
                self._soc_source = "model"
            else:
                self._soc_source = "hold"
            self._soc = float(np.clip(self._soc + change, 0.0, 1.0))
            self._soc_var += self.soc_process_std**2 * dt / _HOUR
        self._battery_power_prev = metered
        if predicted_soc is not None:
            self._soc_predicted_prev = float(predicted_soc)
        r2 = self.soc_measurement_std**2
        for t, value in sorted(readings):
            age = max(now - t, 0.0)
            variance = r2 + self.soc_process_std**2 * age / _HOUR
            gain = self._soc_var / (self._soc_var + variance)
            self._soc = float(self._soc + gain * (value - self._soc))
            self._soc_var *= 1.0 - gain

    def _metered_battery_power(self) -> float | None:
        """Battery grid-side power from this update's meters, ``grid − Σ feeds`` [kW], or None.

        Needs no PV, a grid reading and a reading of every feed, all at the update time's latest
        batch (readings not older than ``stale_after``).
        """
        if self.facility.pv_peak > 0 or self._time is None:
            return None
        if "grid/power" not in self._chain_of or not self._feed_points:
            return None
        slots = [self._chain_of["grid/power"]] + [self._chain_of[p] for p in self._feed_points]
        if np.any(self._time - self._chain_time[slots] > self.stale_after):
            return None
        return float(self._chain_val[slots[0]] - self._chain_val[slots[1:]].sum())

    def _integrate_job(self, j: int, t: float, power: float) -> None:
        """Step rule: the previous reading's power [kW] held until ``t``."""
        last_time = self._job_last_time[j]
        if t <= last_time:
            return
        if math.isfinite(last_time):
            self._job_energy[j] += self._job_last[j] * (t - last_time) / _HOUR
        self._job_last[j] = power
        self._job_last_time[j] = t

    # ------------------------------------------------------------------ state

    def _staleness(self, now: float | None) -> tuple[bool, str | None, list[str]]:
        if now is None or self._last_reading is None:
            return True, "no reading has been accepted yet", []
        silence = now - self._last_reading
        reported = np.isfinite(self._point_last)
        silent = reported & (now - self._point_last > self.stale_after)
        silent_ids = [self._point_ids[i] for i in np.flatnonzero(silent)]
        if silence > self.stale_after:
            return (
                True,
                f"no reading accepted for {silence:.0f} s (stale after {self.stale_after:.0f} s)",
                silent_ids,
            )
        count = int(reported.sum())
        share = len(silent_ids) / count if count else 0.0
        if share > self.silent_fraction:
            return (
                True,
                f"{len(silent_ids)} of {count} reporting points ({share:.0%}) have been silent "
                f"for more than {self.stale_after:.0f} s (limit {self.silent_fraction:.0%})",
                silent_ids,
            )
        return False, None, silent_ids

    def _build_state(self, now: float | None) -> EstimatedState:
        racks = self.facility.racks
        deviation, std = self._inlets.deviation()
        mean = self._predicted_inlet + deviation
        limit = float(self.facility.inlet_limit)
        margin = limit - mean
        with np.errstate(invalid="ignore", divide="ignore"):
            exceed = ndtr(-margin / std)
        if now is None:
            measured = np.zeros(racks.count, dtype=bool)
        else:
            measured = now - self._inlets.last_time <= self.measured_within
        work = self.facility.workloads
        progress: dict[str, float] = {}
        for j, name in enumerate(work.ids):
            target = float(work.energy[j])
            if int(work.tier[j]) == 3 and math.isfinite(target) and target > 0:
                progress[name] = float(self._job_energy[j] * JOULES_PER_KWH / target)
        stale, reason, silent = self._staleness(now)
        soc = self._soc if self.facility.battery is not None else None
        return EstimatedState(
            time=None if now is None else _from_seconds(now),
            racks=self._rack_ids,
            rows=self._rack_rows,
            positions=self._rack_positions,
            inlet_temperature=mean,
            inlet_temperature_std=std,
            predicted_inlet_temperature=self._predicted_inlet.copy(),
            measured=measured,
            inlet_limit=limit,
            margin=margin,
            exceedance_probability=np.asarray(exceed, dtype=float),
            soc=soc,
            soc_std=None if soc is None else math.sqrt(self._soc_var),
            soc_source=self._soc_source,
            job_energy_kwh={name: float(self._job_energy[j]) for j, name in enumerate(work.ids)},
            job_progress=progress,
            chain=PowerChainReadings(
                self._chain_points,
                self._chain_val.copy(),
                self._chain_time.copy(),
                self._chain_pred.copy(),
                self._chain_units,
            ),
            last_reading_time=None
            if self._last_reading is None
            else _from_seconds(self._last_reading),
            stale=stale,
            stale_reason=reason,
            silent_points=silent,
        )
