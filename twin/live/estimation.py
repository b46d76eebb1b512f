"""State estimation of the live twin: what the hall is doing now, with its uncertainty.

:class:`StateEstimator` combines the model's prediction of every point (the calibrated facility
simulated under the schedule in force, :meth:`twin.scenario.points.PointCatalogue.predict`) with the
readings that passed validation and fault screening (:mod:`twin.live.ingest`,
:mod:`twin.live.faults`).

Rack inlet temperatures (measured or not)
    A Kalman filter on the per-rack deviation ``d = T_inlet − T_predicted`` [K].  Between updates
    the deviation follows a mean-reverting random walk (Ornstein–Uhlenbeck) whose increments are
    correlated between racks that share an air path::

        d(t+Δt) = a·d(t) + w,   a = exp(−Δt/τ),   w ~ N(0, (1 − a²)·σ₀²·C)
        C[i, j] = exp(−|position_i − position_j| / L)   (same row and cooling unit, else 0)

    ``σ₀`` is ``prior_std`` (the spread of the model's error before any reading), ``L`` is
    ``correlation_length`` (in rack positions) and ``τ = 2σ₀²/q²`` with ``q`` the
    ``process_std``, so that for Δt ≪ τ the process noise is ``q²·Δt·C`` (a random walk, variance
    proportional to elapsed time) while an unmeasured row never drifts beyond ``σ₀``.  A reading
    ``y`` of rack r measures ``d_r = y − T_predicted,r`` with noise ``measurement_std``.  Because
    ``C`` is block-diagonal per (row, cooling unit), the filter keeps one dense covariance block
    per row and updates all rows at once with batched linear algebra; a measured rack updates its
    unmeasured neighbours through the covariance (virtual sensors).
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import NDArray
from scipy.special import ndtr

from physics.constants import JOULES_PER_KWH
from physics.facility import Facility
from physics.variables import variable
from twin.scenario.points import PointCatalogue, Reading

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

__all__ = ["EstimatedState", "PointValue", "StateEstimator"]

_HOUR = 3600.0

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


def _json_float(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _json_list(values: FloatArray) -> list[float | None]:
    """Array → list of floats with NaN and ±inf as None."""
    return [v if math.isfinite(v) else None for v in np.asarray(values, dtype=float).tolist()]


@dataclass(frozen=True)
class PointValue:
    """Latest reading of one point.

    Attributes
    ----------
    value
        Reading in the point's canonical unit (``unit``).
    time
        Time of the reading (UTC).
    predicted
        Model prediction at the last update, same unit (None when not predicted).
    unit
        Canonical unit of the point (``kW``, ``V``).
    """

    value: float
    time: datetime
    predicted: float | None
    unit: str


@dataclass(frozen=True)
class PowerChainReadings:
    """Latest readings of the power-chain points (feeds, busbars, grid, plant) as arrays.

    Attributes
    ----------
    points
        Point ids, shape (C,).
    values
        Latest reading in the point's unit; NaN when never read, (C,).
    times
        Time of that reading [s since 1970-01-01 UTC]; −inf when never read, (C,).
    predicted
        Model prediction at the last update, NaN when unknown, (C,).
    units
        Canonical unit of each point, (C,).
    """

    points: list[str]
    values: FloatArray
    times: FloatArray
    predicted: FloatArray
    units: list[str]

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Point id → JSON-ready ``{value, time, predicted, unit}`` for the points read."""
        read = np.flatnonzero(np.isfinite(self.times))
        stamps: dict[float, str] = {}
        for t in np.unique(self.times[read]).tolist():
            stamps[t] = _from_seconds(t).isoformat()
        values = _json_list(self.values[read])
        predicted = _json_list(self.predicted[read])
        times = self.times[read].tolist()
        return {
            self.points[c]: {
                "value": values[k],
                "time": stamps[times[k]],
                "predicted": predicted[k],
                "unit": self.units[c],
            }
            for k, c in enumerate(read.tolist())
        }

    def latest(self) -> dict[str, PointValue]:
        """Point id → :class:`PointValue` for the points read at least once."""
        out: dict[str, PointValue] = {}
        for c in np.flatnonzero(np.isfinite(self.times)):
            predicted = float(self.predicted[c])
            out[self.points[c]] = PointValue(
                float(self.values[c]),
                _from_seconds(float(self.times[c])),
                predicted if math.isfinite(predicted) else None,
                self.units[c],
            )
        return out


@dataclass(frozen=True)
class EstimatedState:
    """The estimated state of the facility at one instant.

    Attributes
    ----------
    time
        Instant of the estimate (UTC); None before the first update.
    racks
        Rack ids, the order of every per-rack array.
    rows, positions
        Row and position of each rack.
    inlet_temperature
        Estimated inlet temperature, mean [°C], shape (R,); NaN for racks never predicted.
    inlet_temperature_std
        Its standard deviation [K], shape (R,).
    predicted_inlet_temperature
        Model prediction the estimate corrects [°C], shape (R,).
    measured
        The rack had an accepted inlet reading within the estimator's ``measured_within``
        seconds; False for virtual sensors, shape (R,).
    inlet_limit
        Rack inlet limit of the facility [°C].
    margin
        ``inlet_limit − inlet_temperature`` [K], shape (R,).
    exceedance_probability
        Probability that the inlet is above the limit under the Gaussian estimate [-], (R,).
    soc, soc_std
        Battery state of charge, mean and standard deviation [-]; None without a battery.
    soc_source
        How the SOC was last propagated: ``"meters"`` (grid − feeds), ``"model"`` (predicted
        increment), ``"hold"`` (no information) or ``"none"`` (no battery).
    job_energy_kwh
        Energy delivered per workload since its first power reading [kWh].
    job_progress
        Delivered energy over the workload's tier-3 energy target [-] (tier-3 workloads only).
    chain
        Latest feed power, busbar voltage, grid and plant power readings as arrays
        (:attr:`power_chain` is the same by point id).
    last_reading_time
        Time of the newest accepted reading (UTC); None when nothing was accepted yet.
    stale
        Telemetry is stale (see :class:`StateEstimator`).
    stale_reason
        Why, in one sentence (None when not stale).
    silent_points
        Points that reported before and have been silent for more than ``stale_after``.
    """

    time: datetime | None
    racks: list[str]
    rows: list[str]
    positions: list[int]
    inlet_temperature: FloatArray
    inlet_temperature_std: FloatArray
    predicted_inlet_temperature: FloatArray
    measured: BoolArray
    inlet_limit: float
    margin: FloatArray
    exceedance_probability: FloatArray
    soc: float | None
    soc_std: float | None
    soc_source: str
    job_energy_kwh: dict[str, float]
    job_progress: dict[str, float]
    chain: PowerChainReadings
    last_reading_time: datetime | None
    stale: bool
    stale_reason: str | None
    silent_points: list[str] = field(default_factory=list)

    @cached_property
    def power_chain(self) -> dict[str, PointValue]:
        """Latest reading of every power-chain point read so far, by point id."""
        return self.chain.latest()

    def rack(self, rack: str) -> dict[str, Any]:
        """The estimate of one rack as a dict (``KeyError`` for an unknown id)."""
        try:
            r = self.racks.index(rack)
        except ValueError:
            raise KeyError(f"unknown rack {rack!r}") from None
        return self._rack_record(r)

    def _rack_record(self, r: int) -> dict[str, Any]:
        return {
            "rack": self.racks[r],
            "row": self.rows[r],
            "position": self.positions[r],
            "inlet_temperature": _json_float(self.inlet_temperature[r]),
            "inlet_temperature_std": _json_float(self.inlet_temperature_std[r]),
            "predicted_inlet_temperature": _json_float(self.predicted_inlet_temperature[r]),
            "measured": bool(self.measured[r]),
            "margin": _json_float(self.margin[r]),
            "exceedance_probability": _json_float(self.exceedance_probability[r]),
        }

    def _rack_records(self) -> list[dict[str, Any]]:
        columns = {
            "inlet_temperature": _json_list(self.inlet_temperature),
            "inlet_temperature_std": _json_list(self.inlet_temperature_std),
            "predicted_inlet_temperature": _json_list(self.predicted_inlet_temperature),
            "measured": [bool(m) for m in self.measured.tolist()],
            "margin": _json_list(self.margin),
            "exceedance_probability": _json_list(self.exceedance_probability),
        }
        names = ["rack", "row", "position", *columns]
        rows = zip(self.racks, self.rows, self.positions, *columns.values(), strict=True)
        return [dict(zip(names, row, strict=True)) for row in rows]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN → None, times ISO 8601 UTC).

        Units: temperatures °C, std and margin K, energy kWh, powers kW, voltages V.
        """
        return {
            "time": None if self.time is None else self.time.isoformat(),
            "inlet_limit": self.inlet_limit,
            "racks": self._rack_records(),
            "battery": {
                "soc": self.soc,
                "soc_std": self.soc_std,
                "source": self.soc_source,
            },
            "job_energy_kwh": dict(self.job_energy_kwh),
            "job_progress": dict(self.job_progress),
            "power_chain": self.chain.to_dict(),
            "last_reading_time": (
                None if self.last_reading_time is None else self.last_reading_time.isoformat()
            ),
            "stale": self.stale,
            "stale_reason": self.stale_reason,
            "silent_points": list(self.silent_points),
        }

    def to_dataset(self) -> xr.Dataset:
        """The state as an xarray Dataset with CF ``units``/``long_name`` attrs.

        Dims ``rack``, ``workload`` and, for equipment with readings, ``feed`` and ``busbar``;
        scalar ``time`` coordinate (UTC, stored naive as everywhere in dctwin).  Powers of the
        power chain are converted to W (the registry's unit); job energy stays in kW h.
        """
        rack_coords = {
            "rack": self.racks,
            "rack_row": ("rack", np.asarray(self.rows, dtype=str)),
            "rack_position": ("rack", np.asarray(self.positions, dtype=np.int64)),
        }
        ds = xr.Dataset(coords=rack_coords)
        ds["inlet_temperature"] = ("rack", self.inlet_temperature)
        ds["inlet_temperature"].attrs.update(variable("inlet_temperature").attrs)
        ds["inlet_temperature"].attrs["description"] = "Estimated mean (Kalman filter)."
        ds["inlet_temperature_std"] = ("rack", self.inlet_temperature_std)
        ds["inlet_temperature_std"].attrs.update(variable("inlet_temperature_std").attrs)
        ds["predicted_inlet_temperature"] = ("rack", self.predicted_inlet_temperature)
        ds["predicted_inlet_temperature"].attrs.update(
            variable("predicted_inlet_temperature").attrs
        )
        ds["inlet_measured"] = ("rack", self.measured.astype(np.int8))
        ds["inlet_measured"].attrs.update(
            {
                **variable("inlet_measured").attrs,
                "flag_values": np.array([0, 1], dtype=np.int8),
                "flag_meanings": "virtual measured",
            }
        )
        ds["inlet_limit_margin"] = ("rack", self.margin)
        ds["inlet_limit_margin"].attrs.update(variable("inlet_limit_margin").attrs)
        ds["inlet_exceedance_probability"] = ("rack", self.exceedance_probability)
        ds["inlet_exceedance_probability"].attrs.update(
            variable("inlet_exceedance_probability").attrs
        )
        nan = float("nan")
        ds["battery_soc"] = ((), nan if self.soc is None else self.soc)
        ds["battery_soc"].attrs.update(variable("battery_soc").attrs)
        ds["battery_soc_std"] = ((), nan if self.soc_std is None else self.soc_std)
        ds["battery_soc_std"].attrs.update(variable("battery_soc_std").attrs)
        jobs = list(self.job_energy_kwh)
        ds = ds.assign_coords(workload=jobs)
        ds["workload_energy"] = ("workload", [self.job_energy_kwh[j] for j in jobs])
        ds["workload_energy"].attrs.update(variable("workload_energy").attrs)
        ds["workload_progress"] = (
            "workload",
            [self.job_progress.get(j, nan) for j in jobs],
        )
        ds["workload_progress"].attrs.update(variable("workload_progress").attrs)
        for prefix, dim, name, scale in (
            ("feed", "feed", "feed_power", 1e3),
            ("busbar", "busbar", "busbar_min_voltage", 1.0),
        ):
            points = [p for p in self.power_chain if p.startswith(prefix + "/")]
            if not points:
                continue
            ids = [p.split("/")[1] for p in points]
            ds = ds.assign_coords({dim: ids})
            ds[name] = (dim, [self.power_chain[p].value * scale for p in points])
            ds[name].attrs.update(variable(name).attrs)
            ds[name].attrs["description"] = "Latest reading."
            ds[f"{name}_reading_time"] = (dim, [_naive(self.power_chain[p].time) for p in points])
            ds[f"{name}_reading_time"].attrs["long_name"] = f"Time of the latest {name} reading"
        for point, name in (("grid/power", "grid_power"), ("plant/power", "cooling_power")):
            if point in self.power_chain:
                ds[name] = ((), self.power_chain[point].value * 1e3)
                ds[name].attrs.update(variable(name).attrs)
                ds[name].attrs["description"] = "Latest reading."
        if self.time is not None:
            ds = ds.assign_coords(time=_naive(self.time))
            ds["time"].attrs.update({"standard_name": "time", "timezone": "UTC"})
        ds.attrs.update(
            {
                "title": "dctwin estimated state",
                "Conventions": "CF-1.10",
                "inlet_limit": self.inlet_limit,
                "stale": int(self.stale),
                "stale_reason": self.stale_reason or "",
                "last_reading_time": (
                    "" if self.last_reading_time is None else self.last_reading_time.isoformat()
                ),
                "soc_source": self.soc_source,
            }
        )
        return ds


def _naive(moment: datetime) -> np.datetime64:
    return np.datetime64(moment.astimezone(UTC).replace(tzinfo=None), "ns")


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
        self.reversion_time = 2.0 * prior_std**2 / process_std**2 * _HOUR
        """Mean-reversion time τ of the inlet deviation [s]."""
        self.soc_process_std = float(soc_process_std)
        self.soc_measurement_std = float(soc_measurement_std)
        self.soc_prior_std = float(soc_prior_std)
        self.stale_after = float(stale_after)
        self.silent_fraction = float(silent_fraction)
        self.measured_within = float(stale_after if measured_within is None else measured_within)

        self.catalogue = PointCatalogue(facility)
        self._build_groups()
        self._build_points()

        racks = facility.racks
        self._predicted_inlet = np.full(racks.count, np.nan)
        self._last_inlet_time = np.full(racks.count, -np.inf)
        self._d = np.zeros(self._slot_rack.shape)
        self._p = self.prior_std**2 * self._corr.copy()
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

    # ------------------------------------------------------------------ structure

    def _build_groups(self) -> None:
        """Racks grouped by (row, cooling unit), padded to one (G, n) layout."""
        racks = self.facility.racks
        # the layout of the returned states, the same for every update (shared, read-only)
        self._rack_ids = list(racks.ids)
        self._rack_rows = [str(r) for r in racks.row]
        self._rack_positions = [int(p) for p in racks.position]
        keys: dict[tuple[str, int], list[int]] = {}
        for r in range(racks.count):
            keys.setdefault((str(racks.row[r]), int(racks.unit[r])), []).append(r)
        groups = [
            sorted(members, key=lambda r: int(racks.position[r])) for members in keys.values()
        ]
        size = max((len(g) for g in groups), default=1)
        count = max(len(groups), 1)
        slot_rack = np.full((count, size), -1, dtype=np.int64)
        corr = np.tile(np.eye(size), (count, 1, 1))
        self._rack_group = np.zeros(racks.count, dtype=np.int64)
        self._rack_slot = np.zeros(racks.count, dtype=np.int64)
        for g, members in enumerate(groups):
            n = len(members)
            slot_rack[g, :n] = members
            pos = racks.position[members].astype(float)
            corr[g, :n, :n] = np.exp(-np.abs(pos[:, None] - pos[None, :]) / self.correlation_length)
            self._rack_group[members] = g
            self._rack_slot[members] = np.arange(n)
        self._slot_rack = slot_rack
        self._corr = corr

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
            self._propagate(now - previous)
            self._time = now
        current = self._time
        assert current is not None

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

        self._update_inlets(current, inlet_value, inlet_time)
        self._update_soc(current, previous, predicted, soc_readings)
        self._state = self._build_state(current)
        return self._state

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

    # ------------------------------------------------------------------ inlet filter

    def _propagate(self, dt: float) -> None:
        """Ornstein–Uhlenbeck prediction over ``dt`` seconds."""
        a = math.exp(-dt / self.reversion_time)
        self._d *= a
        self._p *= a * a
        self._p += (1.0 - a * a) * self.prior_std**2 * self._corr

    def _take_predictions(self, predicted: Mapping[str, float]) -> None:
        values = self._predicted_inlet
        for r, point in enumerate(self._inlet_points):
            value = predicted.get(point)
            if value is not None and math.isfinite(value):
                values[r] = value
        for c, point in enumerate(self._chain_points):
            value = predicted.get(point)
            if value is not None and math.isfinite(value):
                self._chain_pred[c] = value

    def _update_inlets(self, now: float, value: FloatArray, when: FloatArray) -> None:
        """Kalman update of every row with at least one new inlet reading."""
        new = (
            np.isfinite(value) & np.isfinite(self._predicted_inlet) & (when > self._last_inlet_time)
        )
        if not new.any():
            return
        racks = np.flatnonzero(new)
        self._last_inlet_time[racks] = when[racks]
        age = np.maximum(now - when[racks], 0.0)
        variance = self.measurement_std**2 + self.process_std**2 * age / _HOUR
        groups = np.unique(self._rack_group[racks])
        local_groups = np.searchsorted(groups, self._rack_group[racks])
        size = self._slot_rack.shape[1]
        mask = np.zeros((groups.size, size), dtype=bool)
        z = np.zeros((groups.size, size))
        r_var = np.ones((groups.size, size))
        slots = self._rack_slot[racks]
        mask[local_groups, slots] = True
        z[local_groups, slots] = value[racks] - self._predicted_inlet[racks]
        r_var[local_groups, slots] = variance

        p = self._p[groups]
        d = self._d[groups]
        both = mask[:, :, None] & mask[:, None, :]
        s = np.where(both, p, 0.0)  # H P Hᵀ, identity on the unmeasured diagonal
        diag = np.arange(size)
        s[:, diag, diag] = np.where(mask, p[:, diag, diag] + r_var, 1.0)
        innovation = np.where(mask, z - d, 0.0)
        ph = np.where(mask[:, None, :], p, 0.0)  # P Hᵀ with unmeasured columns zeroed
        # S is symmetric: solve S [x | W] = [innovation | H P]
        rhs = np.concatenate([innovation[:, :, None], np.swapaxes(ph, 1, 2)], axis=2)
        sol = np.linalg.solve(s, rhs)
        d = d + np.einsum("gij,gj->gi", ph, sol[:, :, 0])
        p = p - ph @ sol[:, :, 1:]
        p = 0.5 * (p + np.swapaxes(p, 1, 2))
        self._d[groups] = d
        self._p[groups] = p

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
        g, s = self._rack_group, self._rack_slot
        deviation = self._d[g, s]
        std = np.sqrt(np.maximum(self._p[g, s, s], 0.0))
        mean = self._predicted_inlet + deviation
        limit = float(self.facility.inlet_limit)
        margin = limit - mean
        with np.errstate(invalid="ignore", divide="ignore"):
            exceed = ndtr(-margin / std)
        if now is None:
            measured = np.zeros(racks.count, dtype=bool)
        else:
            measured = now - self._last_inlet_time <= self.measured_within
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
