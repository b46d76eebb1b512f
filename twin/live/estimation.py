"""The estimated state of the live twin: what the hall is doing now, with its uncertainty.

:class:`EstimatedState` is what :class:`twin.live.state_estimator.StateEstimator` returns at each
update: per-rack inlet temperatures (mean, standard deviation, measured or virtual, margin to the
limit and the probability of exceeding it), the battery's state of charge, the energy delivered
per workload, the latest power-chain readings (:class:`PowerChainReadings`, :class:`PointValue`)
and the staleness of the telemetry.  It is written as JSON (:meth:`EstimatedState.to_dict`) or as
a CF xarray Dataset (:meth:`EstimatedState.to_dataset`).

Units: temperatures [°C], temperature differences and standard deviations [K], power [kW] (the
points' canonical unit), energy [kWh], SOC [-], times UTC.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from physics.variables import variable

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

__all__ = ["EstimateHistory", "EstimatedState", "PointValue", "PowerChainReadings"]


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


class EstimateHistory:
    """The recent estimated rack inlets, one sample per minute, in memory (bounded).

    The live twin's trends draw the estimate's ±2σ band from it (the store keeps readings,
    not estimates).  Each :meth:`record` of a state overwrites the sample of its minute, so a
    minute holds the last estimate made in it; at most ``samples`` minutes are kept (the oldest
    go first), and a restart starts empty but for the hall's hottest inlet per sample, which the
    twin saves with its calibrated state (:meth:`hottest_saved`, :meth:`restore_hottest`: the
    Overview's trend goes on across a restart).

    Parameters
    ----------
    racks
        Rack ids, the order of the states' per-rack arrays.
    interval
        Sample spacing [s] (default one minute).
    samples
        Most samples kept [-]; default one day, fewer when mean and std of every rack would
        take more than ``budget_bytes`` (float32: 8 bytes per rack and sample).
    budget_bytes
        Memory budget of the default ``samples`` [bytes].
    """

    def __init__(
        self,
        racks: list[str],
        *,
        interval: float = 60.0,
        samples: int | None = None,
        budget_bytes: int = 64_000_000,
    ) -> None:
        if not (math.isfinite(interval) and interval > 0):
            raise ValueError(f"interval must be a positive number of seconds, got {interval!r}")
        count = max(len(racks), 1)
        default = max(60, min(1_440, budget_bytes // (8 * count)))
        self.samples = int(default if samples is None else samples)
        if self.samples < 1:
            raise ValueError(f"samples must be at least 1, got {samples!r}")
        self.interval = float(interval)
        self._index = {rack: r for r, rack in enumerate(racks)}
        self._times = np.full(self.samples, np.nan)  # [s since 1970 UTC]
        self._mean = np.full((self.samples, len(racks)), np.nan, dtype=np.float32)
        self._std = np.full((self.samples, len(racks)), np.nan, dtype=np.float32)
        self._slot = -1  # slot of the newest sample
        self._minute: float | None = None
        self._lock = threading.Lock()
        # the hottest inlet per sample a stopped twin saved: times [s], values [°C], racks
        self._restored: tuple[list[float], list[float], list[str]] = ([], [], [])

    def record(self, state: EstimatedState) -> None:
        """Keep ``state``'s inlet mean [°C] and standard deviation [K] as its minute's sample
        (a state without a time, or older than the newest sample's minute, is ignored)."""
        if state.time is None:
            return
        seconds = state.time.timestamp()
        minute = math.floor(seconds / self.interval)
        with self._lock:
            if self._minute is not None and minute < self._minute:
                return
            if minute != self._minute:
                self._slot = (self._slot + 1) % self.samples
                self._minute = minute
            self._times[self._slot] = seconds
            self._mean[self._slot] = state.inlet_temperature
            self._std[self._slot] = state.inlet_temperature_std

    def series(
        self, rack: str, start: datetime | None = None
    ) -> tuple[list[datetime], FloatArray, FloatArray]:
        """One rack's samples since ``start`` (all kept when None), oldest first.

        Returns
        -------
        times : list of datetime
            Time of each sample's estimate (UTC).
        mean : ndarray
            Estimated inlet temperature [°C].
        std : ndarray
            Its standard deviation [K].

        Raises
        ------
        KeyError
            Unknown rack.
        """
        r = self._index[rack]
        with self._lock:
            order = np.roll(np.arange(self.samples), -(self._slot + 1))
            times = self._times[order]
            mean = self._mean[order, r].astype(float)
            std = self._std[order, r].astype(float)
        keep = np.isfinite(times)
        if start is not None:
            keep &= times >= start.timestamp()
        return (
            [_from_seconds(t) for t in times[keep].tolist()],
            mean[keep],
            std[keep],
        )

    def hottest(
        self, start: datetime | None = None
    ) -> tuple[list[datetime], FloatArray, list[str]]:
        """The hottest estimated inlet of the hall per sample since ``start``, oldest first:
        times (UTC), the highest mean [°C] and the rack that has it (samples where no rack
        has an estimate are left out).  Before this history's own first sample come the
        samples a stopped twin saved (:meth:`restore_hottest`): the trend goes on across a
        restart."""
        with self._lock:
            order = np.roll(np.arange(self.samples), -(self._slot + 1))
            times = self._times[order]
            mean = self._mean[order]
            restored = self._restored
        keep = np.isfinite(times) & np.isfinite(mean).any(axis=1)
        chosen = np.where(np.isfinite(mean[keep]), mean[keep], -np.inf)
        where = np.argmax(chosen, axis=1) if chosen.size else np.zeros(0, dtype=int)
        racks = list(self._index)
        seconds = times[keep]
        first = float(seconds[0]) if seconds.size else math.inf
        before = [k for k, t in enumerate(restored[0]) if t < first]
        seconds = np.concatenate([np.array([restored[0][k] for k in before]), seconds])
        values = np.concatenate(
            [np.array([restored[1][k] for k in before]), chosen[np.arange(len(where)), where]]
        )
        names = [restored[2][k] for k in before] + [racks[r] for r in where.tolist()]
        wanted = np.flatnonzero(seconds >= start.timestamp()) if start is not None else None
        if wanted is not None:
            seconds, values, names = seconds[wanted], values[wanted], [names[k] for k in wanted]
        return [_from_seconds(t) for t in seconds.tolist()], values.astype(float), names

    def hottest_saved(self) -> dict[str, list[Any]]:
        """:meth:`hottest` over everything kept, JSON-ready for a snapshot: ``time`` [s since
        1970 UTC], ``value`` [°C] and ``rack``."""
        times, values, racks = self.hottest()
        return {
            "time": [t.timestamp() for t in times],
            "value": [round(float(v), 4) for v in values],
            "rack": racks,
        }

    def restore_hottest(self, saved: Mapping[str, Any]) -> int:
        """Keep the hottest-inlet samples a stopped twin saved (:meth:`hottest_saved`) for the
        minutes before this history's own; the newest :attr:`samples` of those whose rack is
        known.  Returns how many were kept.

        Raises
        ------
        KeyError, TypeError, ValueError
            ``saved`` is not such a series.
        """
        rows = [
            (float(t), float(v), str(r))
            for t, v, r in zip(saved["time"], saved["value"], saved["rack"], strict=True)
            if str(r) in self._index and math.isfinite(float(t)) and math.isfinite(float(v))
        ]
        rows = sorted(rows)[-self.samples :]
        with self._lock:
            self._restored = (
                [t for t, _, _ in rows],
                [v for _, v, _ in rows],
                [r for *_, r in rows],
            )
        return len(rows)

    def __len__(self) -> int:
        """Samples kept [-]."""
        with self._lock:
            return int(np.isfinite(self._times).sum())
