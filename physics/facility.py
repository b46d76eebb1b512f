"""The compiled facility: arrays in SI units that every physical model acts on.

:mod:`twin.scenario.compile` builds a :class:`Facility` from a validated scenario; tests and
benchmarks may build one directly.  Indices link the parts: ``racks.unit[r]`` is the cooling unit of
rack r, ``racks.busbar[r]`` its busbar, ``busbars.ups[b]`` the UPS feeding busbar b, and so on.
``-1`` means "none" (a rack with no CDU).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from physics.airflow import AirPath
from physics.battery import BatteryResult, integrate_soc
from physics.liquid.cdu import CDUs
from physics.liquid.cold_plate import ColdPlate
from physics.liquid.hall import LiquidRacks
from physics.liquid.loop import FacilityLoop
from physics.plant import ChillerPlant
from physics.power import EfficiencyCurve

__all__ = [
    "Battery",
    "Busbars",
    "CDUs",
    "CoolingUnits",
    "Facility",
    "Feeds",
    "Grid",
    "Racks",
    "UPSUnits",
    "Workloads",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class Racks:
    """Per-rack parameters, shape (R,) each."""

    ids: list[str]
    row: NDArray[np.str_]
    position: IntArray
    type_name: NDArray[np.str_]
    design_power: FloatArray
    """IT power at full load and nominal inlet [W]."""
    idle_fraction: FloatArray
    """Compute power at zero utilization over full-load compute power [-]."""
    fan_fraction: FloatArray
    """Server fan share of design power at nominal inlet [-]."""
    fan_knee_temperature: FloatArray
    """[°C]"""
    fan_speed_slope: FloatArray
    """Server airflow increase per kelvin of inlet above the knee, relative to design [1/K]."""
    fan_power_exponent: FloatArray
    """Exponent of server fan power on airflow fraction [-]: 3 affinity law, 1 the
    EnergyPlus example's ECM fan curve."""
    liquid_share: FloatArray
    """Share of compute heat to direct-to-chip liquid [-]."""
    capacity_flow: FloatArray
    """Rack air heat-capacity flow ρ·c_p·V̇ [W/K]."""
    unit: IntArray
    cdu: IntArray
    busbar: IntArray
    first_tap: IntArray
    """Index of the rack's first tap on its busbar [-]."""
    taps: IntArray
    converter: IntArray
    """Index into :attr:`Facility.converter_curves` [-]."""
    bbu_energy: FloatArray
    """[J]"""
    bbu_power: FloatArray
    """[W]"""
    coolant_flow: FloatArray
    """Design coolant flow through the rack's cold plates [m³/s]; 0 without a CDU."""
    cold_plate: IntArray
    """Index into :attr:`Facility.cold_plates`, −1 for racks without cold plates."""
    plate_count: FloatArray
    """Cold plates per rack [-]."""
    plate_share: FloatArray
    """Share of the rack's liquid heat through its cold plates [-]."""
    max_case_temperature: FloatArray
    """Case temperature limit of the cold-plated devices [°C]; NaN without cold plates."""
    mass: FloatArray
    """Mass of the rack with its IT equipment [kg]."""
    specific_heat: FloatArray
    """Mean specific heat of the rack's mass [J/(kg·K)]."""

    @property
    def count(self) -> int:
        """Number of racks R."""
        return len(self.ids)

    @property
    def liquid(self) -> LiquidRacks:
        """What the liquid path needs of the racks."""
        return LiquidRacks(
            cdu=self.cdu,
            coolant_flow=self.coolant_flow,
            cold_plate=self.cold_plate,
            plate_count=self.plate_count,
            plate_share=self.plate_share,
            max_case_temperature=self.max_case_temperature,
        )

    @property
    def heat_capacity(self) -> FloatArray:
        """Thermal capacitance of each rack, mass × specific heat [J/K]."""
        return np.asarray(self.mass * self.specific_heat, dtype=float)

    @property
    def compute_design_power(self) -> FloatArray:
        """Compute (non-fan) power at full load [W]."""
        return self.design_power * (1.0 - self.fan_fraction)

    @property
    def dynamic_power(self) -> FloatArray:
        """Compute power between idle and full load [W]."""
        return self.compute_design_power * (1.0 - self.idle_fraction)


@dataclass(frozen=True)
class CoolingUnits:
    """CRAH/CRAC units, shape (U,) each."""

    ids: list[str]
    airflow: FloatArray
    """Design airflow [m³/s]."""
    fan_power: FloatArray
    """Fan power at design airflow [W]."""
    fan_coefficients: FloatArray
    """Fan power fraction vs flow fraction, 4th-order polynomial, shape (U, 5) [-]."""
    minimum_airflow_fraction: FloatArray
    capacity: FloatArray
    """Coil capacity [W]."""
    supply_temperature: FloatArray
    """As-operated setpoint [°C]."""
    supply_temperature_min: FloatArray
    supply_temperature_max: FloatArray
    coil_approach: FloatArray
    """[K]"""
    bypass_fraction: FloatArray

    @property
    def count(self) -> int:
        """Number of units U."""
        return len(self.ids)


@dataclass(frozen=True)
class Busbars:
    """48 V busbars and their power shelves, shape (B,) each."""

    ids: list[str]
    ups: IntArray
    nominal_voltage: FloatArray
    """[V]"""
    segment_resistance: FloatArray
    """Resistance of each segment, source → tap k, shape (B, K_max) [Ω]."""
    tap_count: IntArray
    undervoltage_limit: FloatArray
    """[V]"""
    ampacity: FloatArray
    """[A]"""
    psu_rating: FloatArray
    """[W]"""
    psu_count: IntArray
    redundancy: IntArray
    stage_up_fraction: FloatArray
    shelf_curve: IntArray
    """Index into :attr:`Facility.shelf_curves`."""

    @property
    def count(self) -> int:
        """Number of busbars B."""
        return len(self.ids)

    @property
    def shelf_capacity(self) -> FloatArray:
        """Shelf output capacity with redundancy held back [W]."""
        return (self.psu_count - self.redundancy) * self.psu_rating


@dataclass(frozen=True)
class UPSUnits:
    """Transformer/UPS stages, shape (N,) each."""

    ids: list[str]
    feed: IntArray
    rating: FloatArray
    """[W]"""
    curve: IntArray
    """Index into :attr:`Facility.ups_curves`."""


@dataclass(frozen=True)
class Feeds:
    """Utility feeds."""

    ids: list[str]
    capacity: FloatArray
    """[W]"""


@dataclass(frozen=True)
class Battery:
    """Facility battery."""

    capacity: float
    """Usable energy [J]."""
    power: float
    """Charge and discharge limit [W]."""
    charge_efficiency: float
    discharge_efficiency: float
    soc_min: float
    soc_max: float
    initial_soc: float
    wear_cost: float
    """[currency/J] of throughput."""
    feed: int

    def integrate(self, requested_power: NDArray[np.float64], step: float) -> BatteryResult:
        """SOC over time for requested power [W] (+ charging) at step [s], clipped to limits."""
        return integrate_soc(
            self.initial_soc,
            requested_power,
            step,
            self.capacity,
            self.charge_efficiency,
            self.discharge_efficiency,
            self.soc_min,
            self.soc_max,
            self.power,
            self.power,
        )


@dataclass(frozen=True)
class Workloads:
    """Workloads by tier; ``share[j, r]`` is the part of workload j's power going to rack r."""

    ids: list[str]
    tier: IntArray
    share: sp.csr_matrix
    """(J, R) [-], rows sum to one."""
    capacity: FloatArray
    """Dynamic power of the workload's racks [W]."""
    profile: list[str | None]
    """Tier 1/2: series name of the utilization profile."""
    utilization: FloatArray
    """Tier 1/2: constant utilization (NaN when a profile is used) [-]."""
    profile_scale: FloatArray
    max_delay: FloatArray
    """Tier 2 [s] (NaN otherwise)."""
    energy: FloatArray
    """Tier 3 IT energy above idle [J] (NaN otherwise)."""
    min_power: FloatArray
    """Tier 3 [W]."""
    max_power: FloatArray
    """Tier 3 [W]."""
    release: NDArray[np.datetime64]
    """Tier 3, UTC."""
    deadline: NDArray[np.datetime64]
    """Tier 3, UTC."""
    lateness_penalty: FloatArray
    """[currency/J per s of delay]"""
    unserved_penalty: FloatArray
    """[currency/J]"""
    soft: BoolArray | None = None
    """Tier 3: True where the job's service contract is *soft* (a shortfall or lateness is
    allowed at its penalties); False or None: *hard*, its energy is due by its deadline."""

    @property
    def count(self) -> int:
        """Number of workloads J."""
        return len(self.ids)

    def is_soft(self, j: int) -> bool:
        """Whether workload ``j`` has a soft service contract (see :attr:`soft`)."""
        return bool(self.soft is not None and self.soft[j])


@dataclass(frozen=True)
class Grid:
    """Grid contract and prices that are not time series."""

    contract_capacity: float
    """[W]"""
    demand_charge: float
    """[currency/W] on each billing period's highest import."""
    carbon_price: float
    """[currency/kg CO2e]"""
    export_allowed: bool
    currency: str
    billing_period: str = "month"
    """``"month"`` (calendar months in the site's timezone) or ``"window"`` (the simulated
    window is one billing period)."""


@dataclass(frozen=True)
class Facility:
    """Everything the physics needs about a facility, in SI arrays."""

    name: str
    timezone: str
    elevation: float
    """[m]"""
    inlet_limit: float
    """Upper rack inlet limit [°C]."""
    inlet_lower_limit: float
    """Lower rack inlet limit [°C] (the minimum of the site's ASHRAE envelope)."""
    inlet_envelope: tuple[tuple[float, float], tuple[float, float]]
    """((recommended min, max), (allowable min, max)) [°C] for RCI."""
    facility_water_limit: float
    """Liquid class (ASHRAE W17…W+) maximum facility water supply [°C]."""
    racks: Racks
    recirculation: sp.csr_matrix
    units: CoolingUnits
    cdus: CDUs
    plant: ChillerPlant
    chilled_water_temperature: float
    """As-operated chilled water supply setpoint [°C]."""
    chilled_water_temperature_bounds: tuple[float, float]
    """[°C]"""
    busbars: Busbars
    ups: UPSUnits
    feeds: Feeds
    cooling_feed: int
    mechanical_efficiency: float
    converter_curves: list[EfficiencyCurve]
    shelf_curves: list[EfficiencyCurve]
    ups_curves: list[EfficiencyCurve]
    battery: Battery | None
    pv_peak: float
    """[W]; 0 without PV."""
    workloads: Workloads
    grid: Grid
    demand_response: list[tuple[np.datetime64, np.datetime64, float]] = field(default_factory=list)
    """Hard demand-response caps: (start UTC, end UTC, import cap [W]); priced events live in
    the series (``dr_soft_cap``, ``dr_penalty``, ``dr_credit``, ``dr_baseline``)."""
    cold_plates: list[ColdPlate] = field(default_factory=list)
    """Distinct cold-plate resistance curves (:attr:`Racks.cold_plate` indexes them)."""
    facility_loop: FacilityLoop | None = None
    """Warm-water facility loop of the CDUs with ``loop`` = facility, or ``None``."""
    room_air_volume: float = float("nan")
    """Air volume of the white space [m³] (transients); NaN when not given."""

    @cached_property
    def air_path(self) -> AirPath:
        """The factorized rack air network (built on first use)."""
        return AirPath(self.racks.capacity_flow, self.recirculation)
