"""Uncertain model parameters of the live twin, how they change a facility, and what it predicts.

The physics is exact only for the facility it is given.  A real hall differs from its
scenario file in ways that the live twin calibrates online (:mod:`twin.live.calibration`) and that
the demo plant hides (:mod:`twin.live.virtual_plant`):

=============================  =====  =====================================================
parameter                      unit   effect (:func:`apply` / :func:`predict`)
=============================  =====  =====================================================
``inlet_offset`` (per rack)    K      added to the rack's inlet and outlet temperature
                                      (an unmodelled local heat source or leak path)
``recirculation_scale``        1      multiplies every recirculation fraction ``a_ij``
                                      (the air path is rebuilt and re-factorized)
``crah_fan_factor``            1      multiplies every CRAH's design fan power
``plant_power_factor``         1      multiplies the chiller plant's electrical power:
                                      chillers (reference COP divided by it), tower fans
                                      and pumps (design powers multiplied by it)
``busbar_resistance_factor``   1      multiplies every 48 V busbar segment resistance
=============================  =====  =====================================================

Every parameter is applied by building a modified copy of the :class:`~physics.facility.Facility`
with :func:`dataclasses.replace`, so the twin's prediction is the same physics with other
numbers.  The inlet offsets are the exception: they act on the readings only (they do not
change server fan power or any heat balance), so :func:`predict` adds them after simulating.

The module also holds the sensor noise model shared by the virtual plant (which draws noise
from it) and the calibrator (which weighs residuals by it): :data:`DEFAULT_NOISE`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from physics.facility import Facility
from physics.schedule import Schedule
from physics.simulate import simulate
from twin.scenario.points import PointCatalogue, PointKind

FloatArray = NDArray[np.float64]

FACTORS: tuple[str, ...] = (
    "recirculation_scale",
    "crah_fan_factor",
    "plant_power_factor",
    "busbar_resistance_factor",
)
"""The facility-wide multiplicative parameters of :class:`UncertainParameters` [-]."""

OFFSET_QUANTITIES: tuple[str, ...] = ("inlet_temperature", "outlet_temperature")
"""Rack point quantities shifted by the rack's inlet offset."""

DEFAULT_NOISE: dict[str, float] = {
    "inlet_temperature": 0.2,
    "outlet_temperature": 0.3,
    "supply_temperature": 0.1,
    "chilled_water_temperature": 0.1,
    "outdoor_temperature": 0.3,
    "power": 0.01,
    "fan_power": 0.01,
    "voltage": 0.02,
    "soc": 0.005,
}
"""Sensor noise standard deviation per point quantity (the last element of a point id).

Temperatures in K, voltages in V, state of charge in [-], all absolute; the quantities in
:data:`RELATIVE_NOISE` (meters in kW) are fractions of the true value (0.01 = 1 %).  A key
``"<prefix>/<quantity>"`` (e.g. ``"cdu/supply_temperature"``) overrides the quantity's entry
for that prefix only.
"""

RELATIVE_NOISE: frozenset[str] = frozenset({"power", "fan_power"})
"""Quantities whose noise in :data:`DEFAULT_NOISE` is relative to the value [-]."""


@dataclass(frozen=True)
class UncertainParameters:
    """Model parameters the live twin calibrates; the defaults are the scenario as written.

    Frozen and hashable (the live twin uses an instance as a cache key).

    Attributes
    ----------
    inlet_offset
        Additive bias of each rack's inlet (and outlet) temperature [K], aligned with
        ``facility.racks.ids``; the empty tuple means 0 for every rack.
    recirculation_scale
        Multiplier of every recirculation fraction [-] (1: as in the scenario).
    crah_fan_factor
        Multiplier of every CRAH's fan power [-].
    plant_power_factor
        Multiplier of the chiller plant's electrical power (chillers, tower fans, pumps) [-].
    busbar_resistance_factor
        Multiplier of every busbar segment resistance [-].
    """

    inlet_offset: tuple[float, ...] = field(default=())
    recirculation_scale: float = 1.0
    crah_fan_factor: float = 1.0
    plant_power_factor: float = 1.0
    busbar_resistance_factor: float = 1.0

    def __post_init__(self) -> None:
        offsets = tuple(float(v) for v in np.asarray(self.inlet_offset, dtype=float).ravel())
        if not all(math.isfinite(v) for v in offsets):
            raise ValueError("inlet_offset must be finite [K]")
        object.__setattr__(self, "inlet_offset", offsets)
        for name in FACTORS:
            value = float(getattr(self, name))
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"{name} must be a positive finite factor, got {value}")
            object.__setattr__(self, name, value)

    def offsets(self, facility: Facility) -> FloatArray:
        """Inlet offset of every rack of ``facility`` [K], shape (R,).

        Raises
        ------
        ValueError
            If ``inlet_offset`` is neither empty nor one value per rack.
        """
        count = facility.racks.count
        if not self.inlet_offset:
            return np.zeros(count)
        if len(self.inlet_offset) != count:
            raise ValueError(
                f"inlet_offset has {len(self.inlet_offset)} values but the facility has "
                f"{count} racks"
            )
        return np.asarray(self.inlet_offset, dtype=float)

    def as_dict(self, facility: Facility) -> dict[str, float]:
        """Flat name → value: the factors [-] and ``inlet_offset/<rack>`` [K] per rack."""
        values = {name: float(getattr(self, name)) for name in FACTORS}
        for rack, offset in zip(facility.racks.ids, self.offsets(facility), strict=True):
            values[f"inlet_offset/{rack}"] = float(offset)
        return values


def apply(facility: Facility, params: UncertainParameters) -> Facility:
    """The facility with ``params`` applied (a modified copy; ``facility`` is not changed).

    * ``recirculation_scale`` s: ``recirculation ← s·A``.  The air path is rebuilt from it
      (``Facility.air_path`` is derived on first use) and validated at once: a scale that makes
      a rack send more than its outlet air, or receive more recirculated air than its own
      airflow, raises ``ValueError``.
    * ``crah_fan_factor`` f: ``units.fan_power ← f·fan_power``, so CRAH fan power is exactly
      f times the nominal at every airflow.
    * ``plant_power_factor`` g: chiller ``reference_cop ← COP/g`` (chiller power exactly g
      times, staging unchanged), tower fan and pump design powers ← g times.  The tower design
      heat rejection is pinned to the nominal, so towers are not resized; tower fans still
      see the extra chiller heat, so the plant's total power grows slightly more than g
      (+0.4 % of the tower fan power per 1 % of g on the demo hall).
    * ``busbar_resistance_factor`` b: ``segment_resistance ← b·R``; the voltage drop grows
      by about b (1.3009× for b = 1.3 on the demo hall: constant-power loads draw a little
      more current at the lower voltage).
    * ``inlet_offset`` does not change the facility (see :func:`predict`); it is only checked
      against the rack count.

    Parameters
    ----------
    facility
        Nominal compiled facility.
    params
        Parameters to apply.

    Returns
    -------
    Facility
        ``facility`` itself when every factor is 1, else a modified copy.

    Raises
    ------
    ValueError
        If the offsets do not match the racks or the recirculation scale is not physical.
    """
    params.offsets(facility)
    changes: dict[str, Any] = {}
    if params.recirculation_scale != 1.0:
        changes["recirculation"] = (facility.recirculation * params.recirculation_scale).tocsr()
    if params.crah_fan_factor != 1.0:
        units = facility.units
        changes["units"] = replace(units, fan_power=units.fan_power * params.crah_fan_factor)
    if params.plant_power_factor != 1.0:
        plant, g = facility.plant, params.plant_power_factor
        changes["plant"] = replace(
            plant,
            chiller=replace(plant.chiller, reference_cop=plant.chiller.reference_cop / g),
            tower_fan_design_power=plant.tower_fan_design_power * g,
            chilled_water_pump_design_power=plant.chilled_water_pump_design_power * g,
            condenser_pump_design_power=plant.condenser_pump_design_power * g,
            tower_design_heat_rejection=plant.design_heat_rejection,
        )
    if params.busbar_resistance_factor != 1.0:
        bus = facility.busbars
        changes["busbars"] = replace(
            bus, segment_resistance=bus.segment_resistance * params.busbar_resistance_factor
        )
    if not changes:
        return facility
    modified = replace(facility, **changes)
    if "recirculation" in changes:
        _ = modified.air_path  # build and validate now, not in the middle of a simulation
    elif "air_path" in facility.__dict__:
        modified.__dict__["air_path"] = facility.__dict__["air_path"]  # same K and A: reuse
    return modified


def add_offsets(
    values: dict[str, float], facility: Facility, params: UncertainParameters
) -> dict[str, float]:
    """Add each rack's inlet offset to its inlet and outlet temperature points, in place.

    Parameters
    ----------
    values
        Point id → value (canonical units), e.g. from :meth:`PointCatalogue.predict`.
    facility
        The facility whose rack order ``params.inlet_offset`` follows.
    params
        Parameters holding the offsets [K].

    Returns
    -------
    dict
        ``values`` (modified).
    """
    offsets = params.offsets(facility)
    for rack, offset in zip(facility.racks.ids, offsets, strict=True):
        if offset == 0.0:
            continue
        for quantity in OFFSET_QUANTITIES:
            point = f"rack/{rack}/{quantity}"
            if point in values:
                values[point] += float(offset)
    return values


def point_table(
    catalogue: PointCatalogue,
    facility: Facility,
    params: UncertainParameters,
    result: xr.Dataset,
) -> tuple[list[str], FloatArray]:
    """Every point's value at every step of a simulation, offsets included.

    The vectorized equivalent of :meth:`PointCatalogue.predict` at every step followed by
    :func:`add_offsets`.

    Parameters
    ----------
    catalogue
        Points of ``facility``.
    facility
        The (nominal) facility, for the rack order of the offsets.
    params
        Parameters whose inlet offsets [K] are added.
    result
        :func:`physics.simulate.simulate` result with per-rack series.

    Returns
    -------
    (list of str, numpy.ndarray)
        Point ids (those whose variable is in ``result``) and their values, shape (T, P), in
        canonical units.
    """
    offsets = params.offsets(facility)
    rack_index = {rack: r for r, rack in enumerate(facility.racks.ids)}
    ids: list[str] = []
    columns: list[FloatArray] = []
    cache: dict[str, FloatArray] = {}
    for point, (kind, index) in catalogue.kinds.items():
        if kind.variable not in result:
            continue
        if kind.variable not in cache:
            cache[kind.variable] = np.asarray(result[kind.variable].values, dtype=float)
        data = cache[kind.variable]
        column = (data if index is None else data[:, index]) * kind.scale
        if kind.prefix == "rack" and kind.quantity in OFFSET_QUANTITIES:
            column = column + offsets[rack_index[point.split("/")[1]]]
        ids.append(point)
        columns.append(column)
    steps = result.sizes["time"]
    table = np.column_stack(columns) if columns else np.empty((steps, 0))
    return ids, table


def predict(
    facility: Facility,
    params: UncertainParameters,
    schedule: Schedule,
    series: xr.Dataset,
    step: int,
) -> dict[str, float]:
    """Every point's value predicted at one step with ``params`` applied.

    Simulates only the two steps ending at ``step`` (steps are quasi-steady equilibria; the
    battery, the only state carried between steps, is started from its SOC integrated over
    the earlier steps), so a prediction costs the same at any step of a long window.

    Parameters
    ----------
    facility
        Nominal compiled facility.
    params
        Parameters to apply (:func:`apply`); offsets [K] are added to rack inlet and outlet
        temperatures.
    schedule
        Decisions over the whole ``series`` window.
    series
        Exogenous series (at least two steps).
    step
        Index along ``time`` (negative counts from the end).

    Returns
    -------
    dict
        Point id → value in the point's canonical unit (°C, kW, V, 1).
    """
    steps = series.sizes["time"]
    if steps < 2:
        raise ValueError("predict needs a series of at least two steps")
    if not -steps <= step < steps:
        raise IndexError(f"step {step} outside the series' {steps} steps")
    step %= steps
    first = max(step - 1, 0)
    result = simulate_window(facility, params, schedule, series, first, first + 2)
    values = PointCatalogue(facility).predict(result, step - first)
    return add_offsets(values, facility, params)


def simulate_window(
    facility: Facility,
    params: UncertainParameters,
    schedule: Schedule,
    series: xr.Dataset,
    first: int,
    stop: int,
) -> xr.Dataset:
    """Simulate steps ``first`` to ``stop`` (exclusive) with ``params``'s factors applied.

    The battery starts from its SOC integrated over the steps before ``first`` (the only
    state carried between the quasi-steady steps).  Offsets are *not* in the result: add them
    with :func:`add_offsets` or :func:`point_table`.

    Parameters
    ----------
    facility
        Nominal compiled facility.
    params
        Parameters to apply (:func:`apply`).
    schedule
        Decisions over the whole ``series`` window.
    series
        Exogenous series.
    first, stop
        Step indices of the window [-].

    Returns
    -------
    xarray.Dataset
        :func:`physics.simulate.simulate` output (CF attrs; powers [W], temperatures [°C]).
    """
    window = slice(first, stop)
    modified = apply(facility, params)
    battery = modified.battery
    if battery is not None and first > 0:
        seconds = _step_seconds(series)
        soc = battery.integrate(np.asarray(schedule.battery_power[:first], dtype=float), seconds)
        modified = replace(modified, battery=replace(battery, initial_soc=float(soc.soc[-1])))
    part = Schedule(
        supply_temperature=np.asarray(schedule.supply_temperature)[window],
        chilled_water_temperature=np.asarray(schedule.chilled_water_temperature)[window],
        battery_power=np.asarray(schedule.battery_power)[window],
        workload_power=np.asarray(schedule.workload_power)[window],
    )
    return simulate(modified, part, series.isel(time=window))


def rounded_factors(params: UncertainParameters, decimals: int = 3) -> UncertainParameters:
    """``params`` without offsets and with its factors rounded (a cache key for simulations).

    Offsets are added after a simulation, so a model simulated with these parameters serves
    every offset update; factors rounded to 0.001 (0.1 %) stay below the 1 % noise of the
    power meters they act on.
    """
    rounded = {name: round(getattr(params, name), decimals) for name in FACTORS}
    return replace(params, inlet_offset=(), **rounded)


def noise_std(
    kind: PointKind, value: float | FloatArray, noise: Mapping[str, float] | None = None
) -> FloatArray:
    """Sensor noise standard deviation of points of one kind.

    Parameters
    ----------
    kind
        The point kind.
    value
        True (or predicted) value(s) in the kind's unit; used for relative noise.
    noise
        Noise table (see :data:`DEFAULT_NOISE`); missing entries fall back to the default,
        quantities unknown to both to 0.

    Returns
    -------
    numpy.ndarray
        Standard deviation in the kind's unit, shaped like ``value``.
    """
    table = DEFAULT_NOISE if noise is None else {**DEFAULT_NOISE, **noise}
    key = f"{kind.prefix}/{kind.quantity}"
    sigma = table.get(key, table.get(kind.quantity, 0.0))
    magnitude = np.abs(np.asarray(value, dtype=float))
    if kind.quantity in RELATIVE_NOISE:
        return np.asarray(sigma * magnitude, dtype=float)
    return np.full(magnitude.shape, float(sigma))


def _step_seconds(series: xr.Dataset) -> float:
    time = np.asarray(series["time"].values)
    return float((time[1] - time[0]) / np.timedelta64(1, "s"))
