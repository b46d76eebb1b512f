"""The warm-water facility loop: dry coolers, cooling towers and optional trim chillers.

CDUs placed on this loop (``loop: facility`` in a scenario) get their facility water from
it instead of from the chilled-water plant.  The loop water returning from the CDUs at
``T_return`` passes up to three stages in series, each cooling it toward the loop supply
setpoint ``T_set`` and never below it:

1. **Dry coolers** (sensible, no water use): ``count`` identical finned coils in parallel,
   each a cross-flow exchanger, both streams unmixed (the EnergyPlus ``FluidCooler`` model,
   :func:`~physics.liquid.exchanger.crossflow_effectiveness`) between its share of the loop
   water and outdoor air at the dry-bulb temperature.  Variable-speed fans: air flow ∝
   speed s, UA ∝ s^n_air, fan power ∝ s³.  The speed is the lowest that brings the water
   to ``T_set`` (bisection); below ``minimum_fan_speed`` the fans cycle at that speed for
   the fraction of time that meets the setpoint (as EnergyPlus does for single-speed
   fluid coolers), and when even full speed is not enough the water leaves warmer.
2. **Cooling towers** (closed-circuit / with an exchanger): leaving water
   ``max(T_wet-bulb + approach, T_set)``; fan power ``P_design·(Q/Q_design)³``.
3. **Trim chillers**: the Chiller:Electric:EIR model of :mod:`physics.plant` cools what is
   left to ``T_set``; their condenser sees outdoor air (EnergyPlus ``AirCooled``: the
   entering condenser temperature is the outdoor dry bulb).  Load beyond them is unmet and
   the loop supply rises above the setpoint.

The loop is solved per step as a fixed point: the supply sets the CDUs' facility flows
(their valves) and returns, the return sets what the stages deliver.  Loop pumps follow the
affinity law on the loop flow over its design flow.

UA of a dry coolers is rated from a nominal capacity at design entering water and air
temperatures with the design flows (the EnergyPlus ``NominalCapacity`` input method):
:func:`dry_cooler_rated_ua`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import brentq

from physics.constants import AIR_VOLUMETRIC_HEAT_CAPACITY
from physics.liquid.exchanger import crossflow_effectiveness
from physics.plant import ChillerPlant, plant_performance

FloatArray = NDArray[np.float64]

__all__ = [
    "AIR_FILM_EXPONENT",
    "CoolingTowers",
    "DryCoolers",
    "FacilityLoop",
    "LoopResult",
    "dry_cooler_outlet",
    "dry_cooler_rated_ua",
    "facility_loop_performance",
]

AIR_FILM_EXPONENT = float(np.log(0.6) / np.log(0.5))
"""Exponent of UA on dry-cooler air flow, 0.737: the EnergyPlus two-speed fluid cooler and
tower sizing defaults put UA at 0.6 of its full-speed value at half air flow
("Low Fan Speed U-Factor Times Area Sizing Factor" 0.6, "Low Fan Speed Air Flow Rate Sizing
Factor" 0.5), i.e. UA ∝ (air flow)^(ln 0.6/ln 0.5)."""

_BISECTION_STEPS = 40
_FIXED_POINT_STEPS = 40
_FIXED_POINT_TOLERANCE = 1e-6
"""Loop supply change [K] below which the fixed point has converged."""


@dataclass(frozen=True)
class DryCoolers:
    """Identical dry coolers (closed-circuit fluid coolers without spray) in parallel.

    Parameters
    ----------
    count
        Units installed [-].
    rated_ua
        UA of one unit at full fan speed and its design water flow [W/K].
    air_flow
        Air flow of one unit at full fan speed [m³/s].
    fan_power
        Fan power of one unit at full speed [W].
    minimum_fan_speed
        Lowest variable-speed fan speed; below it the fans cycle [-].
    air_film_exponent
        Exponent of UA on air flow [-].
    """

    count: int
    rated_ua: float
    air_flow: float
    fan_power: float
    minimum_fan_speed: float = 0.2
    air_film_exponent: float = AIR_FILM_EXPONENT

    def __post_init__(self) -> None:
        if self.count < 0 or self.rated_ua < 0 or self.air_flow < 0 or self.fan_power < 0:
            raise ValueError("dry coolers: count, UA, air flow and fan power must be >= 0")
        if not 0.0 < self.minimum_fan_speed <= 1.0:
            raise ValueError(
                f"dry coolers: minimum fan speed must be in (0, 1], got {self.minimum_fan_speed}"
            )


@dataclass(frozen=True)
class CoolingTowers:
    """Cooling towers on the loop, held at a constant approach to the wet bulb.

    Parameters
    ----------
    approach
        Leaving water minus wet bulb [K].
    fan_power
        Total fan power at the design heat rejection [W].
    design_heat_rejection
        Heat rejected at full fan power [W].
    """

    approach: float
    fan_power: float
    design_heat_rejection: float


@dataclass(frozen=True)
class FacilityLoop:
    """A warm-water facility loop and what rejects its heat.

    Parameters
    ----------
    supply_temperature
        Loop supply setpoint [°C].
    heat_capacity
        ρ·c_p of the loop fluid [J/(m³·K)].
    design_flow
        Loop flow at design (sum of its CDUs' rated facility flows) [m³/s].
    pump_power
        Loop pump power at design flow [W].
    dry_coolers
        Dry coolers, or ``None``.
    towers
        Cooling towers, or ``None``.
    trim_chillers
        Trim chillers (air-cooled: the condenser sees the dry bulb), or ``None``.
    pump_affinity_exponent
        Exponent of the pump affinity law [-].
    """

    supply_temperature: float
    heat_capacity: float
    design_flow: float
    pump_power: float = 0.0
    dry_coolers: DryCoolers | None = None
    towers: CoolingTowers | None = None
    trim_chillers: ChillerPlant | None = None
    pump_affinity_exponent: float = 2.5

    def __post_init__(self) -> None:
        if self.dry_coolers is None and self.towers is None and self.trim_chillers is None:
            raise ValueError("a facility loop needs dry coolers, towers or trim chillers")


def dry_cooler_outlet(
    coolers: DryCoolers,
    inlet_temperature: ArrayLike,
    water_capacity_rate: ArrayLike,
    dry_bulb: ArrayLike,
    speed: ArrayLike,
) -> FloatArray:
    """Water leaving the dry coolers at fan speed ``speed`` [°C].

    Parameters
    ----------
    coolers
        The dry coolers.
    inlet_temperature
        Entering water [°C].
    water_capacity_rate
        ρ·c_p·V̇ of all the water through the coolers [W/K].
    dry_bulb
        Outdoor dry-bulb temperature [°C].
    speed
        Fan speed, 0–1 [-].

    Returns
    -------
    numpy.ndarray
        Leaving water [°C]; equal to the inlet where air is not colder than the water.
    """
    t_in = np.asarray(inlet_temperature, dtype=float)
    s = np.clip(np.asarray(speed, dtype=float), 0.0, 1.0)
    c_water = np.asarray(water_capacity_rate, dtype=float) / max(coolers.count, 1)
    c_air = AIR_VOLUMETRIC_HEAT_CAPACITY * coolers.air_flow * s
    ua = coolers.rated_ua * s**coolers.air_film_exponent
    effectiveness, c_min = crossflow_effectiveness(ua, c_water, c_air)
    drop = effectiveness * c_min * (t_in - np.asarray(dry_bulb, dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        cooled = t_in - np.where(c_water > 0, np.maximum(drop, 0.0) / c_water, 0.0)
    return np.asarray(cooled, dtype=float)


def dry_cooler_rated_ua(
    capacity: float,
    entering_water_temperature: float,
    entering_air_temperature: float,
    water_capacity_rate: float,
    air_flow: float,
) -> float:
    """UA of one dry cooler that rejects ``capacity`` at the design conditions [W/K].

    The EnergyPlus ``NominalCapacity`` method: UA such that the cross-flow exchanger with
    the design water and air flows rejects the nominal capacity between the design entering
    water and entering air temperatures.

    Parameters
    ----------
    capacity
        Nominal heat rejection of one unit [W].
    entering_water_temperature, entering_air_temperature
        Design conditions [°C].
    water_capacity_rate
        ρ·c_p·V̇ of one unit's design water flow [W/K].
    air_flow
        Design air flow of one unit [m³/s].

    Returns
    -------
    float
        UA [W/K].

    Raises
    ------
    ValueError
        When the capacity cannot be reached at any UA with these flows.
    """
    c_air = AIR_VOLUMETRIC_HEAT_CAPACITY * air_flow
    span = entering_water_temperature - entering_air_temperature
    c_min = min(c_air, water_capacity_rate)
    if span <= 0 or capacity >= 0.999 * c_min * span:
        raise ValueError(
            f"a dry cooler cannot reject {capacity / 1e3:.0f} kW with {span:g} K between "
            f"water and air at these flows (at most {c_min * span / 1e3:.0f} kW); raise the "
            "air or water flow or the design water temperature"
        )

    def residual(ua: float) -> float:
        effectiveness, _ = crossflow_effectiveness(ua, water_capacity_rate, c_air)
        return float(effectiveness) * c_min * span - capacity

    high = c_min
    while residual(high) < 0:
        high *= 2.0
    return float(brentq(residual, 0.0, high, xtol=1e-9 * high))


@dataclass(frozen=True)
class LoopResult:
    """Operating point of the facility loop, arrays (T,)."""

    supply_temperature: FloatArray
    """Loop water to the CDUs [°C]."""
    return_temperature: FloatArray
    """Loop water back from the CDUs [°C]."""
    flow: FloatArray
    """Loop flow [m³/s]."""
    dry_cooler_fan_power: FloatArray
    """[W]"""
    dry_cooler_heat: FloatArray
    """Heat rejected by the dry coolers [W]."""
    tower_fan_power: FloatArray
    """[W]"""
    tower_heat: FloatArray
    """Heat rejected by the towers [W]."""
    chiller_power: FloatArray
    """Trim chiller electric power [W]."""
    chiller_load: FloatArray
    """Heat taken by the trim chillers [W]."""
    pump_power: FloatArray
    """Loop pump power [W]."""
    clamped: NDArray[np.bool_]
    """True where a trim chiller curve input was outside its limits."""

    @property
    def total_power(self) -> FloatArray:
        """Fans, trim chillers and pumps [W]."""
        return (
            self.dry_cooler_fan_power + self.tower_fan_power + self.chiller_power + self.pump_power
        )


def _dry_cooler_stage(
    coolers: DryCoolers,
    inlet: FloatArray,
    capacity_rate: FloatArray,
    dry_bulb: FloatArray,
    setpoint: float,
) -> tuple[FloatArray, FloatArray]:
    """(leaving water [°C], fan power [W]) with the fans controlled to the setpoint."""
    need = (inlet > setpoint) & (dry_bulb < inlet) & (capacity_rate > 0)
    full = dry_cooler_outlet(coolers, inlet, capacity_rate, dry_bulb, 1.0)
    enough = need & (full <= setpoint)
    low, high = np.zeros(inlet.shape), np.ones(inlet.shape)
    for _ in range(_BISECTION_STEPS if enough.any() else 0):
        middle = 0.5 * (low + high)
        warm = dry_cooler_outlet(coolers, inlet, capacity_rate, dry_bulb, middle) > setpoint
        low = np.where(enough & warm, middle, low)
        high = np.where(enough & ~warm, middle, high)
    speed = np.where(enough, high, np.where(need, 1.0, 0.0))
    minimum = coolers.minimum_fan_speed
    at_minimum = dry_cooler_outlet(coolers, inlet, capacity_rate, dry_bulb, minimum)
    cycling = enough & (speed < minimum)
    with np.errstate(divide="ignore", invalid="ignore"):
        on_time = np.clip((inlet - setpoint) / (inlet - at_minimum), 0.0, 1.0)
    power_each = coolers.fan_power * np.where(cycling, on_time * minimum**3, speed**3)
    leaving = np.where(enough, setpoint, np.where(need, full, inlet))
    return np.asarray(leaving, dtype=float), np.asarray(power_each * coolers.count, dtype=float)


def _reject(
    loop: FacilityLoop,
    inlet: FloatArray,
    capacity_rate: FloatArray,
    dry_bulb: FloatArray,
    wet_bulb: FloatArray,
) -> dict[str, FloatArray]:
    """The three stages in series on water entering at ``inlet`` [°C]."""
    setpoint = loop.supply_temperature
    water = inlet
    out = {name: np.zeros(inlet.shape) for name in ("dry_fan", "dry_heat", "tower_fan")}
    out["tower_heat"] = np.zeros(inlet.shape)
    out["chiller_power"] = np.zeros(inlet.shape)
    out["chiller_load"] = np.zeros(inlet.shape)
    out["clamped"] = np.zeros(inlet.shape)
    if loop.dry_coolers is not None and loop.dry_coolers.count > 0:
        leaving, fan = _dry_cooler_stage(loop.dry_coolers, water, capacity_rate, dry_bulb, setpoint)
        out["dry_fan"], out["dry_heat"] = fan, capacity_rate * (water - leaving)
        water = leaving
    if loop.towers is not None:
        target = np.maximum(wet_bulb + loop.towers.approach, setpoint)
        leaving = np.minimum(water, target)
        heat = capacity_rate * (water - leaving)
        fraction = np.minimum(heat / max(loop.towers.design_heat_rejection, 1e-9), 1.0)
        out["tower_fan"], out["tower_heat"] = loop.towers.fan_power * fraction**3, heat
        water = leaving
    if loop.trim_chillers is not None:
        load = capacity_rate * np.maximum(water - setpoint, 0.0)
        # air-cooled condenser: entering condenser temperature = outdoor dry bulb, i.e. the
        # plant's "tower water" with zero approach and no floor
        trim = plant_performance(loop.trim_chillers, load, setpoint, dry_bulb, warn=False)
        carried = load - np.nan_to_num(trim.unmet_load)
        out["chiller_power"] = np.nan_to_num(trim.chiller_power)
        out["chiller_load"] = carried
        out["clamped"] = np.asarray(trim.clamped, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            water = np.where(capacity_rate > 0, water - carried / capacity_rate, water)
    out["leaving"] = np.asarray(water, dtype=float)
    return out


def facility_loop_performance(
    loop: FacilityLoop,
    heat: ArrayLike,
    dry_bulb: ArrayLike,
    wet_bulb: ArrayLike,
    flow: ArrayLike | None = None,
    flow_of_supply: Callable[[FloatArray], FloatArray] | None = None,
) -> LoopResult:
    """Supply and return temperatures and the power of the facility loop.

    Parameters
    ----------
    loop
        The loop.
    heat
        Heat the CDUs (and their pumps) put into the loop water, (T,) [W].
    dry_bulb, wet_bulb
        Outdoor dry- and wet-bulb temperatures, (T,) [°C].
    flow
        Loop flow, (T,) [m³/s]; ``None``: the design flow.
    flow_of_supply
        Loop flow as a function of the supply temperature (CDU valves throttling to their
        setpoints); evaluated at each fixed-point pass instead of ``flow``.

    Returns
    -------
    LoopResult
    """
    q = np.maximum(np.asarray(heat, dtype=float), 0.0)
    t_db = np.broadcast_to(np.asarray(dry_bulb, dtype=float), q.shape)
    t_wb = np.broadcast_to(np.asarray(wet_bulb, dtype=float), q.shape)
    fixed_flow = np.broadcast_to(
        np.asarray(loop.design_flow if flow is None else flow, dtype=float), q.shape
    )
    supply = np.full(q.shape, loop.supply_temperature)
    for _ in range(_FIXED_POINT_STEPS):
        rate = (fixed_flow if flow_of_supply is None else flow_of_supply(supply)) * (
            loop.heat_capacity
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            ret = supply + np.where(rate > 0, q / rate, 0.0)
        stages = _reject(loop, ret, rate, t_db, t_wb)
        change = float(np.max(np.abs(stages["leaving"] - supply), initial=0.0))
        supply = stages["leaving"]
        if change < _FIXED_POINT_TOLERANCE:
            break
    loop_flow = rate / loop.heat_capacity
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(loop.design_flow > 0, loop_flow / loop.design_flow, 0.0)
    pumps = np.where(loop_flow > 0, loop.pump_power * fraction**loop.pump_affinity_exponent, 0.0)
    return LoopResult(
        supply_temperature=supply,
        return_temperature=np.asarray(ret, dtype=float),
        flow=np.asarray(loop_flow, dtype=float),
        dry_cooler_fan_power=stages["dry_fan"],
        dry_cooler_heat=stages["dry_heat"],
        tower_fan_power=stages["tower_fan"],
        tower_heat=stages["tower_heat"],
        chiller_power=stages["chiller_power"],
        chiller_load=stages["chiller_load"],
        pump_power=np.asarray(pumps, dtype=float),
        clamped=stages["clamped"] > 0.5,
    )
