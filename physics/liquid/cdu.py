"""Coolant distribution units: liquid-to-liquid counterflow exchangers with flows on both sides.

A CDU exchanges the direct-to-chip heat Q between the technology cooling system (TCS, the
"IT side": coolant through the cold plates, driven by the CDU's pumps) and the facility
water (FWS).  With heat-capacity rates ``C_it = ρ·c_p·V̇_it`` and ``C_fac`` and the
counterflow effectiveness ε(UA, C_it, C_fac) of :mod:`physics.liquid.exchanger`, the
steady state of one step is

    T_it,return   = T_fac,supply + Q/(ε·C_min)
    T_it,supply   = T_it,return − Q/C_it
    T_fac,return  = T_fac,supply + Q/C_fac

UA is rated at the rated flows and follows the flows with the film-coefficient law of
:func:`~physics.liquid.exchanger.scaled_ua`.  Flows:

* IT side: the racks' cold-plate flow demand (up to the pumps' maximum flow), or the rated
  flow when the racks do not state their flow;
* facility side: the rated flow with the control valve open; with an IT supply setpoint the
  valve throttles the facility flow until ``T_it,supply`` = setpoint (found by bisection),
  and stays open when even full flow cannot reach it (the IT supply then floats above the
  setpoint).

At constant flows ε is constant and the approach ``T_it,supply − T_fac,supply`` is linear in
load, ``approach_at_capacity·Q/Q_capacity`` — the model dctwin used before flows existed;
:func:`rated_ua_for_approach` finds the UA that reproduces a given rated approach, so
scenarios that give only an approach and ΔT keep their results.  Pump power follows the
affinity law on the IT-side flow, ``P = P_rated·(V̇/V̇_rated)³``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from physics.liquid.exchanger import FILM_EXPONENT, counterflow_effectiveness, scaled_ua

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

__all__ = [
    "CHILLED_WATER_LOOP",
    "FACILITY_LOOP",
    "CDUResult",
    "CDUs",
    "cdu_performance",
    "rated_ua_for_approach",
]

CHILLED_WATER_LOOP = 0
"""Value of :attr:`CDUs.loop` for a CDU on the chilled-water loop of the chiller plant."""
FACILITY_LOOP = 1
"""Value of :attr:`CDUs.loop` for a CDU on the warm-water facility loop."""

_BISECTION_STEPS = 40
"""Halvings of the facility-flow interval when holding an IT supply setpoint (2⁻⁴⁰ of the
rated flow: far below any meaningful flow)."""


def rated_ua_for_approach(
    capacity: ArrayLike,
    approach: ArrayLike,
    it_capacity_rate: ArrayLike,
    facility_capacity_rate: ArrayLike,
) -> FloatArray:
    """UA of a counterflow CDU that gives ``approach`` at ``capacity`` and the rated flows.

    Inverts ε-NTU: ``ε = Q/(C_min·(approach + Q/C_it))`` and
    ``NTU = ln((1 − ε·C_r)/(1 − ε))/(1 − C_r)`` (``ε/(1 − ε)`` at ``C_r = 1``).

    Parameters
    ----------
    capacity
        Rated heat load Q [W].
    approach
        IT supply minus facility supply at the rated load and flows [K].
    it_capacity_rate, facility_capacity_rate
        Rated ρ·c_p·V̇ of each side [W/K].

    Returns
    -------
    numpy.ndarray
        UA [W/K].

    Raises
    ------
    ValueError
        When no exchanger can do it: the effectiveness needed is 1 or more, i.e. the
        facility water would have to leave warmer than the IT return.
    """
    q = np.asarray(capacity, dtype=float)
    c_it = np.asarray(it_capacity_rate, dtype=float)
    c_fac = np.asarray(facility_capacity_rate, dtype=float)
    c_min, c_max = np.minimum(c_it, c_fac), np.maximum(c_it, c_fac)
    ratio = c_min / c_max
    span = np.asarray(approach, dtype=float) + q / c_it  # T_it,return − T_fac,supply
    effectiveness = q / (c_min * span)
    if np.any(~(effectiveness < 1.0)) or np.any(~(effectiveness > 0.0)):
        raise ValueError(
            "a CDU's rated approach is too small for its flows: the effectiveness needed, "
            f"{np.max(effectiveness):.3f}, is not below 1 (raise the approach or the facility "
            "flow)"
        )
    balanced = np.abs(1.0 - ratio) < 1e-9
    with np.errstate(divide="ignore", invalid="ignore"):
        general = np.log((1.0 - effectiveness * ratio) / (1.0 - effectiveness)) / (1.0 - ratio)
    ntu = np.where(balanced, effectiveness / (1.0 - effectiveness), general)
    return np.asarray(ntu * c_min, dtype=float)


@dataclass(frozen=True)
class CDUs:
    """Coolant distribution units, shape (C,) each (flows in m³/s, powers in W)."""

    ids: list[str]
    capacity: FloatArray
    """Rated heat load [W]."""
    it_rated_flow: FloatArray
    """IT-side (TCS) flow at rating [m³/s]."""
    facility_rated_flow: FloatArray
    """Facility-side flow at rating, valve open [m³/s]."""
    it_heat_capacity: FloatArray
    """ρ·c_p of the IT-side fluid at the rating temperature [J/(m³·K)]."""
    facility_heat_capacity: FloatArray
    """ρ·c_p of the facility-side fluid at the rating temperature [J/(m³·K)]."""
    rated_ua: FloatArray
    """Exchanger UA at the rated flows [W/K]."""
    pump_power: FloatArray
    """IT-side pump power at the rated flow [W]."""
    max_supply_temperature: FloatArray
    """Highest IT supply the cold plates accept [°C]."""
    max_flow: FloatArray
    """Highest IT-side flow the pumps deliver [m³/s]."""
    supply_setpoint: FloatArray
    """IT supply temperature setpoint [°C]; NaN: facility valve always open."""
    loop: IntArray
    """:data:`CHILLED_WATER_LOOP` or :data:`FACILITY_LOOP` [-]."""
    it_fluid: list[str] = field(default_factory=list)
    """Name of the IT-side fluid of each CDU."""
    facility_fluid: list[str] = field(default_factory=list)
    """Name of the facility-side fluid of each CDU."""
    film_exponent: float = FILM_EXPONENT
    """Film coefficient exponent of the UA flow scaling [-]."""

    @property
    def count(self) -> int:
        """Number of CDUs C."""
        return len(self.ids)

    @property
    def it_capacity_rate(self) -> FloatArray:
        """Rated IT-side ρ·c_p·V̇ [W/K]."""
        return np.asarray(self.it_heat_capacity * self.it_rated_flow, dtype=float)

    @property
    def facility_capacity_rate(self) -> FloatArray:
        """Rated facility-side ρ·c_p·V̇ [W/K]."""
        return np.asarray(self.facility_heat_capacity * self.facility_rated_flow, dtype=float)

    @property
    def coolant_delta_t(self) -> FloatArray:
        """IT return minus supply at the rated load and flow [K]."""
        return np.asarray(self.capacity / self.it_capacity_rate, dtype=float)

    @property
    def approach(self) -> FloatArray:
        """IT supply minus facility supply at the rated load and flows [K].

        At constant flows the approach is this times load over capacity.
        """
        effectiveness, c_min = counterflow_effectiveness(
            self.rated_ua, self.it_capacity_rate, self.facility_capacity_rate
        )
        return np.asarray(
            self.capacity / (effectiveness * c_min) - self.coolant_delta_t, dtype=float
        )


@dataclass(frozen=True)
class CDUResult:
    """Operating point of the CDUs, arrays (T, C)."""

    it_supply_temperature: FloatArray
    """Coolant to the cold plates [°C]."""
    it_return_temperature: FloatArray
    """Coolant back from the cold plates [°C]."""
    facility_return_temperature: FloatArray
    """Facility water leaving the CDU [°C]."""
    it_flow: FloatArray
    """IT-side flow delivered [m³/s]."""
    facility_flow: FloatArray
    """Facility-side flow drawn [m³/s]."""
    effectiveness: FloatArray
    """Exchanger effectiveness [-]."""
    pump_power: FloatArray
    """IT-side pump power [W]."""

    @property
    def it_delta_t(self) -> FloatArray:
        """IT return minus supply [K]."""
        return self.it_return_temperature - self.it_supply_temperature


def _temperatures(
    cdus: CDUs,
    load: FloatArray,
    facility_supply: FloatArray,
    it_flow: FloatArray,
    facility_fraction: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """(IT supply, IT return, facility return, ε) for a facility flow fraction [°C, -]."""
    it_fraction = it_flow / cdus.it_rated_flow
    c_it = cdus.it_heat_capacity * it_flow
    c_fac = cdus.facility_capacity_rate * facility_fraction
    ua = scaled_ua(cdus.rated_ua, it_fraction, facility_fraction, cdus.film_exponent)
    effectiveness, c_min = counterflow_effectiveness(ua, c_it, c_fac)
    active = load > 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        rise = np.where(active, load / (effectiveness * c_min), 0.0)
        it_return = facility_supply + rise
        it_supply = it_return - np.where(active, load / c_it, 0.0)
        facility_return = facility_supply + np.where(active, load / c_fac, 0.0)
    return it_supply, it_return, facility_return, effectiveness


def cdu_performance(
    cdus: CDUs,
    load: ArrayLike,
    facility_supply_temperature: ArrayLike,
    it_flow: ArrayLike | None = None,
) -> CDUResult:
    """Temperatures, flows and pump power of the CDUs (module docstring).

    Parameters
    ----------
    cdus
        The CDUs.
    load
        Heat from the cold plates, (T, C) [W].
    facility_supply_temperature
        Facility water supply to each CDU, broadcast to (T, C) [°C].
    it_flow
        IT-side flow demanded by the racks, (T, C) or (C,) [m³/s]; ``None``: the rated
        flow.  Delivered flow is capped at :attr:`CDUs.max_flow`.

    Returns
    -------
    CDUResult
        With NaN temperatures where a CDU carries load without any IT-side flow.
    """
    heat = np.maximum(np.asarray(load, dtype=float), 0.0)
    supply = np.broadcast_to(np.asarray(facility_supply_temperature, dtype=float), heat.shape)
    demand = cdus.it_rated_flow if it_flow is None else np.asarray(it_flow, dtype=float)
    flow = np.broadcast_to(np.minimum(demand, cdus.max_flow), heat.shape)
    fraction = np.ones(heat.shape)
    it_supply, it_return, facility_return, effectiveness = _temperatures(
        cdus, heat, supply, flow, fraction
    )
    setpoint = np.broadcast_to(cdus.supply_setpoint, heat.shape)
    throttle = np.isfinite(setpoint) & (it_supply < setpoint) & (heat > 0.0)
    if throttle.any():
        # IT supply falls as facility flow rises: bisect the flow fraction in (0, 1]
        low, high = np.zeros(heat.shape), np.ones(heat.shape)
        for _ in range(_BISECTION_STEPS):
            middle = 0.5 * (low + high)
            trial = _temperatures(cdus, heat, supply, flow, np.where(throttle, middle, 1.0))[0]
            too_warm = trial > setpoint
            low = np.where(throttle & too_warm, middle, low)
            high = np.where(throttle & ~too_warm, middle, high)
        fraction = np.where(throttle, high, 1.0)
        it_supply, it_return, facility_return, effectiveness = _temperatures(
            cdus, heat, supply, flow, fraction
        )
    pump = np.where(cdus.capacity > 0, cdus.pump_power, 0.0) * (flow / cdus.it_rated_flow) ** 3
    return CDUResult(
        it_supply_temperature=np.asarray(it_supply, dtype=float),
        it_return_temperature=np.asarray(it_return, dtype=float),
        facility_return_temperature=np.asarray(facility_return, dtype=float),
        it_flow=np.asarray(flow, dtype=float),
        facility_flow=np.asarray(fraction * cdus.facility_rated_flow, dtype=float),
        effectiveness=effectiveness,
        pump_power=np.asarray(pump, dtype=float),
    )
