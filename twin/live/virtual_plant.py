"""A virtual plant: the physics with hidden true parameters, seen through imperfect sensors.

The demo (and the tests of the live twin) need a hall that behaves like a real one: it runs
the approved setpoints, differs from its scenario file in ways the twin has to discover, and
reports through sensors that are noisy, drop readings and sometimes fail.
:class:`VirtualPlant` simulates the *true* facility (:func:`twin.live.parameters.apply` of the
nominal facility with the hidden :class:`~twin.live.parameters.UncertainParameters`) under its
current schedule and turns the result into :class:`~twin.scenario.points.Reading` objects:

* **Noise**: Gaussian, σ per point quantity from :data:`twin.live.parameters.DEFAULT_NOISE`
  (0.2 K on rack inlets, 1 % on powers, 0.02 V on busbar voltages, 0.005 on the battery
  SOC, …), clipped to the point's physical range.
* **Dropouts**: each reading is missing with probability ``dropout`` (default 0.02),
  independently.
* **Faults** (:class:`SensorFault`) from a start time (to an optional end): ``stuck`` (the
  value read at the start, repeated), ``drift`` (a bias growing at ``rate`` per hour),
  ``spike`` (with probability ``probability`` per reading, ±``magnitude``) and ``silent``
  (no readings).

Noise is drawn from a generator seeded by ``(seed, reading time in ms)``: the same time
always gives the same readings, whatever was asked before, and two times within one step
give independent noise.  The simulation of the whole window is cached and recomputed only
when the schedule or setpoints change.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np
import pandas as pd
import xarray as xr
from numpy.typing import NDArray

from physics.facility import Facility
from physics.schedule import Schedule, as_operated_schedule
from physics.simulate import simulate
from twin.live.parameters import (
    DEFAULT_NOISE,
    RELATIVE_NOISE,
    UncertainParameters,
    apply,
    point_table,
)
from twin.scenario.points import PointCatalogue, Reading

FloatArray = NDArray[np.float64]

FaultKind = Literal["stuck", "drift", "spike", "silent"]
FAULT_KINDS: tuple[str, ...] = ("stuck", "drift", "spike", "silent")

SPIKE_SIGMAS = 20.0
"""Default spike size in noise standard deviations of the point [-]."""


@dataclass(frozen=True)
class SensorFault:
    """A sensor fault injected into one point's readings.

    Attributes
    ----------
    point
        Point id of the faulty sensor (must be among the plant's sensors).
    kind
        ``"stuck"``: every reading repeats the value read at ``start`` (noise included,
        under the schedule in force when the fault first takes effect); ``"drift"``: a bias
        ``rate·(t − start)`` is added; ``"spike"``: with probability ``probability`` a reading
        is off by ±``magnitude`` (random sign); ``"silent"``: no readings.
    start
        Timezone-aware time the fault begins.
    end
        Timezone-aware time it ends (exclusive); ``None``: it never ends.
    rate
        Drift rate [point unit per hour] (``drift`` only).
    magnitude
        Spike size [point unit]; ``None``: 20 σ of the point's noise (20 units of the point
        when its noise is 0) (``spike`` only).
    probability
        Chance that a reading spikes, in [0, 1] (``spike`` only).
    """

    point: str
    kind: FaultKind
    start: datetime
    end: datetime | None = None
    rate: float = 0.0
    magnitude: float | None = None
    probability: float = 0.05

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind {self.kind!r} is not one of {', '.join(FAULT_KINDS)}")
        object.__setattr__(self, "start", _utc(self.start))
        if self.end is not None:
            object.__setattr__(self, "end", _utc(self.end))
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"spike probability must be in [0, 1], got {self.probability}")

    def active(self, time: datetime) -> bool:
        """Whether the fault acts at ``time`` (tz-aware)."""
        return self.start <= time and (self.end is None or time < self.end)


def inlet_sensor_racks(facility: Facility) -> list[int]:
    """Indices of the racks with an inlet sensor by default: every third rack from the second.

    Parameters
    ----------
    facility
        Compiled facility.

    Returns
    -------
    list of int
        Rack indices (all of ``facility.racks.ids`` order) [-]; ~1/3 of the racks, so the
        state estimator has unmeasured racks to infer.
    """
    count = facility.racks.count
    return list(range(1 if count > 1 else 0, count, 3))


def default_sensors(facility: Facility, series: xr.Dataset | None = None) -> list[str]:
    """The points a typical hall measures.

    Inlets of every third rack (:func:`inlet_sensor_racks`), every rack's power, every CRAH's
    supply temperature and fan power, every busbar voltage, every feed power, plant power,
    chilled water temperature, battery SOC (with a battery), grid power, outdoor temperature
    (when ``series`` is given and has it) and every job's power.

    Parameters
    ----------
    facility
        Compiled facility.
    series
        The plant's exogenous series (to leave out the outdoor temperature if it is absent).

    Returns
    -------
    list of str
        Point ids.
    """
    racks, units = facility.racks.ids, facility.units.ids
    points = [f"rack/{racks[r]}/inlet_temperature" for r in inlet_sensor_racks(facility)]
    points += [f"rack/{rack}/power" for rack in racks]
    points += [f"crah/{unit}/supply_temperature" for unit in units]
    points += [f"crah/{unit}/fan_power" for unit in units]
    points += [f"busbar/{bus}/voltage" for bus in facility.busbars.ids]
    points += [f"feed/{feed}/power" for feed in facility.feeds.ids]
    points += ["plant/power", "plant/chilled_water_temperature"]
    if facility.battery is not None:
        points.append("battery/soc")
    points.append("grid/power")
    if series is None or "outdoor_temperature" in series:
        points.append("site/outdoor_temperature")
    points += [f"job/{job}/power" for job in facility.workloads.ids]
    return points


def demo_truth(facility: Facility, seed: int = 0) -> UncertainParameters:
    """Hidden true parameters of the demo plant, so the calibrator has real work.

    Four racks get an inlet offset drawn uniformly in 0.5–2 K: three with an inlet sensor
    (:func:`inlet_sensor_racks`) and one without (which only a state estimator can notice);
    CRAH fans draw 15 % more than their data sheet, the plant 10 % more, and busbars have
    30 % more resistance.  The recirculation scale stays 1 (see :mod:`twin.live.calibration`).

    Parameters
    ----------
    facility
        Compiled facility.
    seed
        Seed of the choice of racks and offsets.

    Returns
    -------
    UncertainParameters
    """
    rng = np.random.default_rng(seed)
    measured = inlet_sensor_racks(facility)
    unmeasured = sorted(set(range(facility.racks.count)) - set(measured))
    chosen = list(rng.choice(measured, size=min(3, len(measured)), replace=False))
    if unmeasured:
        chosen.append(int(rng.choice(unmeasured)))
    offsets = np.zeros(facility.racks.count)
    offsets[np.asarray(chosen, dtype=int)] = rng.uniform(0.5, 2.0, size=len(chosen))
    return UncertainParameters(
        inlet_offset=tuple(np.round(offsets, 2)),
        crah_fan_factor=1.15,
        plant_power_factor=1.10,
        busbar_resistance_factor=1.30,
    )


class VirtualPlant:
    """A simulated hall with hidden true parameters that streams sensor readings.

    Parameters
    ----------
    facility
        Nominal compiled facility (what the twin believes).
    series
        Exogenous series over the plant's window (regular UTC ``time`` axis).
    truth
        The hidden true parameters (default: nominal).
    schedule
        What the plant runs (default: :func:`physics.schedule.as_operated_schedule`).
    seed
        Seed of the noise, dropouts and spikes (reproducible per reading time).
    noise
        Noise σ per quantity, merged over :data:`twin.live.parameters.DEFAULT_NOISE` (absolute in
        the point's unit, relative for kW meters).
    dropout
        Probability that a reading is missing, in [0, 1).
    faults
        Injected sensor faults.
    sensors
        Measured points (default: :func:`default_sensors`).

    Attributes
    ----------
    truth : UncertainParameters
        The hidden parameters (tests compare calibration against them).
    true_facility : Facility
        ``apply(facility, truth)``, what is simulated.
    sensors : list of str
        Measured point ids.
    """

    def __init__(
        self,
        facility: Facility,
        series: xr.Dataset,
        truth: UncertainParameters | None = None,
        *,
        schedule: Schedule | None = None,
        seed: int = 0,
        noise: Mapping[str, float] | None = None,
        dropout: float = 0.02,
        faults: Iterable[SensorFault] = (),
        sensors: Sequence[str] | None = None,
    ) -> None:
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.facility = facility
        self.series = series
        self.truth = truth if truth is not None else UncertainParameters()
        self.true_facility = apply(facility, self.truth)
        self.catalogue = PointCatalogue(facility)
        self.seed = int(seed)
        self.noise: dict[str, float] = {**DEFAULT_NOISE, **(noise or {})}
        self.dropout = float(dropout)
        self.sensors: list[str] = (
            list(sensors) if sensors is not None else default_sensors(facility, series)
        )
        unknown = [p for p in self.sensors if p not in self.catalogue]
        if unknown:
            raise ValueError(f"unknown sensor point(s): {', '.join(unknown[:5])}")
        if len(set(self.sensors)) != len(self.sensors):
            raise ValueError("a sensor point is listed twice")
        self.faults: tuple[SensorFault, ...] = tuple(faults)
        position = {p: i for i, p in enumerate(self.sensors)}
        self._faults_of: dict[int, list[int]] = {}
        for f, fault in enumerate(self.faults):
            if fault.point not in position:
                raise ValueError(f"fault on {fault.point!r}, which is not a sensor of the plant")
            self._faults_of.setdefault(position[fault.point], []).append(f)

        time = np.asarray(series["time"].values).astype("datetime64[ns]")
        if time.size < 2:
            raise ValueError("the plant's series needs at least two steps")
        self._t0 = int(time[0].astype(np.int64))
        self._dt = int((time[1] - time[0]).astype(np.int64))
        self._steps = int(time.size)
        self._schedule = (
            schedule if schedule is not None else as_operated_schedule(facility, series)
        )
        self._schedule.check(facility, self._steps)

        kinds = [self.catalogue.kind(p) for p in self.sensors]
        sigma = []
        for kind in kinds:
            key = f"{kind.prefix}/{kind.quantity}"
            sigma.append(self.noise.get(key, self.noise.get(kind.quantity, 0.0)))
        self._sigma = np.asarray(sigma, dtype=float)
        self._relative = np.array([k.quantity in RELATIVE_NOISE for k in kinds])
        self._low = np.array([k.low for k in kinds], dtype=float)
        self._high = np.array([k.high for k in kinds], dtype=float)

        self._lock = threading.RLock()
        self._result: xr.Dataset | None = None
        self._ids: list[str] = []
        self._table: FloatArray = np.empty((0, 0))
        self._columns: NDArray[np.int64] = np.empty(0, dtype=np.int64)
        self._stuck: dict[int, float] = {}

    # ------------------------------------------------------------------ time

    @property
    def times(self) -> pd.DatetimeIndex:
        """Start of every step of the window (UTC)."""
        return pd.DatetimeIndex(
            pd.to_datetime(self._t0 + self._dt * np.arange(self._steps), utc=True)
        )

    def step_index(self, time: datetime) -> int:
        """Index of the step containing ``time`` (tz-aware); ``ValueError`` outside the window."""
        ns = pd.Timestamp(_utc(time)).value
        index = (ns - self._t0) // self._dt
        if not 0 <= index < self._steps:
            raise ValueError(
                f"{_utc(time).isoformat()} is outside the plant's window "
                f"({self.times[0].isoformat()} + {self._steps} steps)"
            )
        return int(index)

    # ------------------------------------------------------------------ operation

    @property
    def schedule(self) -> Schedule:
        """The schedule the plant runs (setpoints, battery, workloads over the window)."""
        return self._schedule

    def apply_schedule(self, schedule: Schedule) -> None:
        """Run ``schedule`` over the whole window from now on (an approved plan).

        Raises ``ValueError`` if its shapes do not fit the facility and window.
        """
        schedule.check(self.facility, self._steps)
        with self._lock:
            self._schedule = schedule
            self._result = None

    def apply_setpoints(
        self,
        time: datetime,
        supply_temperature: float | Sequence[float] | Mapping[str, float] | None = None,
        chilled_water_temperature: float | None = None,
    ) -> None:
        """Change setpoints from the step containing ``time`` to the end of the window.

        Parameters
        ----------
        time
            Timezone-aware time the change takes effect (its whole step runs the new value).
        supply_temperature
            Supply air setpoint [°C]: one value for every cooling unit, one per unit (facility
            order) or unit id → value for some units; ``None`` keeps the current ones.
        chilled_water_temperature
            Chilled water supply setpoint [°C]; ``None`` keeps the current one.
        """
        start = self.step_index(time)
        with self._lock:
            old = self._schedule
            supply = np.array(old.supply_temperature, dtype=float, copy=True)
            chilled = np.array(old.chilled_water_temperature, dtype=float, copy=True)
            if supply_temperature is not None:
                supply[start:] = self._unit_values(supply_temperature, supply[start])
            if chilled_water_temperature is not None:
                chilled[start:] = float(chilled_water_temperature)
            schedule = Schedule(
                supply_temperature=supply,
                chilled_water_temperature=chilled,
                battery_power=old.battery_power,
                workload_power=old.workload_power,
            )
            schedule.check(self.facility, self._steps)
            self._schedule = schedule
            self._result = None

    def _unit_values(
        self, values: float | Sequence[float] | Mapping[str, float], current: FloatArray
    ) -> FloatArray:
        units = self.facility.units.ids
        out = np.array(current, dtype=float, copy=True)
        if isinstance(values, Mapping):
            for unit, value in values.items():
                if unit not in units:
                    raise ValueError(f"unknown cooling unit {unit!r}")
                out[units.index(unit)] = float(value)
            return out
        array = np.asarray(values, dtype=float)
        if array.ndim == 0:
            out[:] = float(array)
        elif array.shape == (len(units),):
            out[:] = array
        else:
            raise ValueError(f"supply_temperature needs 1 or {len(units)} values, got {array.size}")
        return out

    # ------------------------------------------------------------------ truth

    @property
    def result(self) -> xr.Dataset:
        """The simulation of the true facility under the current schedule (cached)."""
        with self._lock:
            self._refresh()
            assert self._result is not None
            return self._result

    def _refresh(self) -> None:
        if self._result is not None:
            return
        result = simulate(self.true_facility, self._schedule, self.series)
        ids, table = point_table(self.catalogue, self.facility, self.truth, result)
        where = {p: i for i, p in enumerate(ids)}
        missing = [p for p in self.sensors if p not in where]
        if missing:
            raise ValueError(f"no simulated value for sensor(s): {', '.join(missing[:5])}")
        self._result, self._ids, self._table = result, ids, table
        self._columns = np.array([where[p] for p in self.sensors], dtype=np.int64)

    def true_state(self, time: datetime) -> dict[str, float]:
        """Noise-free value of every point (measured or not) in the step containing ``time``.

        Returns
        -------
        dict
            Point id → value in its canonical unit, inlet offsets included.
        """
        index = self.step_index(time)
        with self._lock:
            self._refresh()
            return {p: float(v) for p, v in zip(self._ids, self._table[index], strict=True)}

    # ------------------------------------------------------------------ readings

    def noise_sigma(self, values: FloatArray) -> FloatArray:
        """Noise σ of every sensor for its true values (sensor order, canonical units)."""
        return np.where(self._relative, self._sigma * np.abs(values), self._sigma)

    def _draw(self, time: datetime) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """(noisy values without faults, dropout draws, spike draws, signed spike σ) at ``time``.

        The generator is seeded by ``(seed, time in ms)``; the draws are in sensor order.
        """
        index = self.step_index(time)
        with self._lock:
            self._refresh()
            true = self._table[index, self._columns]
        millis = (pd.Timestamp(time).value // 1_000_000) % 2**63
        rng = np.random.default_rng([self.seed, int(millis)])
        size = len(self.sensors)
        normal = rng.standard_normal(size)
        drop = rng.random(size)
        spike = rng.random(size)
        sign = np.where(rng.random(size) < 0.5, -1.0, 1.0)
        sigma = self.noise_sigma(true)
        noisy = np.clip(true + sigma * normal, self._low, self._high)
        return noisy, drop, spike, sign * np.where(sigma > 0, sigma, 1.0)

    def readings(self, time: datetime) -> list[Reading]:
        """One reading per working sensor for the step containing ``time``.

        Parameters
        ----------
        time
            Timezone-aware measurement time (the readings carry it, in UTC).

        Returns
        -------
        list of Reading
            In sensor order; missing: dropped readings and silent sensors.
        """
        moment = _utc(time)
        noisy, drop, spike, spike_sigma = self._draw(moment)
        out: list[Reading] = []
        for i, point in enumerate(self.sensors):
            if drop[i] < self.dropout:
                continue
            value: float | None = float(noisy[i])
            for f in self._faults_of.get(i, ()):
                fault = self.faults[f]
                if not fault.active(moment):
                    continue
                if fault.kind == "silent":
                    value = None
                    break
                assert value is not None
                if fault.kind == "stuck":
                    value = self._stuck_value(f, i)
                elif fault.kind == "drift":
                    hours = (moment - fault.start).total_seconds() / 3600.0
                    value += fault.rate * hours
                elif spike[i] < fault.probability:
                    signed = float(spike_sigma[i])
                    if fault.magnitude is None:
                        value += SPIKE_SIGMAS * signed
                    else:
                        value += float(np.sign(signed)) * fault.magnitude
            if value is not None:
                out.append(Reading(point, moment, value))
        return out

    def _stuck_value(self, fault: int, sensor: int) -> float:
        with self._lock:
            if fault not in self._stuck:
                start = self.faults[fault].start
                first = self.times[0].to_pydatetime()
                self._stuck[fault] = float(self._draw(max(start, first))[0][sensor])
            return self._stuck[fault]


def _utc(time: datetime) -> datetime:
    """``time`` in UTC; ``ValueError`` for naive datetimes."""
    if not isinstance(time, datetime):
        raise TypeError(f"expected a datetime, got {type(time).__name__}")
    if time.tzinfo is None or time.utcoffset() is None:
        raise ValueError(f"naive datetime {time.isoformat()}: give a timezone (UTC)")
    return time.astimezone(UTC)
