"""Scenario (documented units) → :class:`physics.facility.Facility` (SI arrays)."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from physics import airflow
from physics import facility as fac
from physics.chiller_records import chiller_from_energyplus, chiller_record
from physics.constants import AIR_VOLUMETRIC_HEAT_CAPACITY, JOULES_PER_KWH
from physics.constants import WATTS_PER_KILOWATT as KW
from physics.liquid.cdu import CHILLED_WATER_LOOP, FACILITY_LOOP, CDUs
from physics.liquid.cold_plate import ColdPlate
from physics.liquid.loop import CoolingTowers, DryCoolers, FacilityLoop, dry_cooler_rated_ua
from physics.plant import ChillerEIR, ChillerPlant
from physics.power import (
    DOUBLE_CONVERSION_UPS,
    INTERMEDIATE_BUS_CONVERTER,
    ORV3_POWER_SHELF,
    EfficiencyCurve,
)
from twin.scenario.chillers import Chillers
from twin.scenario.equipment import (
    Busbar,
    CoolingUnit,
    Efficiency,
    Plant,
    Rack,
    RackType,
    RecirculationEntries,
    RecirculationNone,
)
from twin.scenario.fields import AIR_CLASS_ALLOWABLE, AIR_CLASS_RECOMMENDED, resolve_instant
from twin.scenario.liquid import (
    CDU,
    LITRES_PER_MINUTE,
    fluid_name,
    rated_ua,
    volumetric_heat_capacity,
)
from twin.scenario.liquid import FacilityLoop as LoopSpec
from twin.scenario.schema import Scenario

KWH = JOULES_PER_KWH
DEFAULT_DELTA_T = 12.0
"""Rack air temperature rise at design power when neither ΔT nor airflow is given [K]."""

RACK_MASS_PER_WATT = 1360.0 / 120e3
"""Default rack mass per watt of design power [kg/W]: the NVIDIA DGX GB200 NVL72 weighs
1.36 t (3,000 lb) for 120 kW (as reported at its GTC 2024 presentation, e.g. Tom's Hardware,
"Nvidia's exaflop supercomputer rack", 2024)."""

AIR_VOLUME_PER_RACK = 8.0
"""Default white-space air volume per rack [m³]: engineering assumption (about 2.5 m² of
floor per rack, rack and half of each aisle, under a 3.2 m ceiling); not a sourced figure —
give ``cooling.room_air_volume`` for your hall."""

# ASHRAE 90.1-2019 Appendix G, G3.1.3.15: part-load fan power of variable-speed fans,
# P/P_design = 0.0013 + 0.1470·f + 0.9506·f² − 0.0998·f³ (f = flow fraction).
VSD_FAN = (0.0013, 0.1470, 0.9506, -0.0998, 0.0)
CUBIC_FAN = (0.0, 0.0, 0.0, 1.0, 0.0)

NAMED_CURVES: dict[str, EfficiencyCurve] = {
    "orv3-shelf": ORV3_POWER_SHELF,
    "double-conversion-ups": DOUBLE_CONVERSION_UPS,
    "ibc-48v-12v": INTERMEDIATE_BUS_CONVERTER,
    "transformer": EfficiencyCurve.constant(0.985),
}

T = TypeVar("T")


def efficiency_curve(spec: Efficiency) -> EfficiencyCurve:
    """The efficiency curve a scenario field describes (constant, named or points)."""
    if isinstance(spec, str):
        return NAMED_CURVES[spec]
    if isinstance(spec, int | float):
        return EfficiencyCurve.constant(float(spec))
    loads, etas = zip(*spec.points, strict=True)
    return EfficiencyCurve(tuple(loads), tuple(etas), spec.fixed_loss * KW)


class _Interner:
    """Deduplicate equal curves so vectorized code loops over a few curve groups only."""

    def __init__(self) -> None:
        self.items: list[EfficiencyCurve] = []

    def index(self, curve: EfficiencyCurve) -> int:
        for i, known in enumerate(self.items):
            if known == curve:
                return i
        self.items.append(curve)
        return len(self.items) - 1


def _ids_index(items: Sequence[T], key: Callable[[T], str]) -> dict[str, int]:
    return {key(item): i for i, item in enumerate(items)}


def _utc(value: object) -> np.datetime64:
    stamp = pd.Timestamp(value)  # type: ignore[arg-type]
    if stamp.tzinfo is None:
        raise ValueError(f"time {value} has no timezone")
    return stamp.tz_convert("UTC").tz_localize(None).to_datetime64().astype("datetime64[ns]")


def compile_facility(scenario: Scenario) -> fac.Facility:
    """Build the SI facility the physics acts on from a validated scenario.

    Parameters
    ----------
    scenario
        Validated scenario (see :func:`twin.scenario.loader.load_scenario`).

    Returns
    -------
    physics.facility.Facility
    """
    racks_in = scenario.all_racks()
    busbars_in = scenario.all_busbars()
    feed_index = _ids_index(scenario.power.feeds, lambda f: f.id)
    converters, shelves, ups_curves = _Interner(), _Interner(), _Interner()
    cold_plates: list[ColdPlate] = []
    taps = _busbar_taps(scenario, racks_in, busbars_in)
    cdus = _cdus(scenario.cooling.cdus)
    racks = _racks(scenario, racks_in, taps, converters, (cdus, cold_plates))
    units = _cooling_units(scenario.cooling.units)
    busbars = _busbars(scenario, busbars_in, taps, shelves)
    ups = _ups_units(scenario, feed_index, ups_curves)
    feeds = fac.Feeds(
        ids=[f.id for f in scenario.power.feeds],
        capacity=np.array([f.capacity for f in scenario.power.feeds]) * KW,
    )
    recirculation = _recirculation(scenario, racks)
    site = scenario.site
    allowable = AIR_CLASS_ALLOWABLE[site.air_class]
    return fac.Facility(
        name=site.name,
        timezone=site.timezone,
        elevation=site.elevation,
        inlet_limit=site.inlet_limit_temperature,
        inlet_lower_limit=site.inlet_lower_limit_temperature,
        inlet_envelope=(AIR_CLASS_RECOMMENDED, allowable),
        facility_water_limit=site.facility_water_limit,
        racks=racks,
        recirculation=recirculation,
        units=units,
        cdus=cdus,
        plant=_plant(scenario.cooling.plant),
        chilled_water_temperature=scenario.cooling.plant.chilled_water_temperature,
        chilled_water_temperature_bounds=(
            scenario.cooling.plant.chilled_water_temperature_min,
            scenario.cooling.plant.chilled_water_temperature_max,
        ),
        busbars=busbars,
        ups=ups,
        feeds=feeds,
        cooling_feed=feed_index[scenario.cooling.feed] if scenario.cooling.feed else 0,
        mechanical_efficiency=scenario.power.mechanical_efficiency,
        converter_curves=converters.items,
        shelf_curves=shelves.items,
        ups_curves=ups_curves.items,
        battery=_battery(scenario, feed_index),
        pv_peak=scenario.pv.peak * KW if scenario.pv else 0.0,
        workloads=_workloads(scenario, racks),
        grid=fac.Grid(
            contract_capacity=scenario.grid.contract_capacity * KW,
            demand_charge=scenario.grid.demand_charge / KW,
            carbon_price=scenario.grid.carbon_price / 1e3,
            export_allowed=scenario.grid.export_allowed,
            currency=scenario.grid.currency,
            billing_period=scenario.grid.billing_period,
        ),
        demand_response=[
            (_utc(e.start), _utc(e.end), e.import_cap * KW)
            for e in scenario.grid.demand_response
            if e.import_cap is not None and e.penalty is None
        ],
        cold_plates=cold_plates,
        facility_loop=_facility_loop(scenario.cooling.facility_loop, cdus),
        room_air_volume=(
            scenario.cooling.room_air_volume
            if scenario.cooling.room_air_volume is not None
            else AIR_VOLUME_PER_RACK * racks.count
        ),
    )


@dataclass(frozen=True)
class _BusbarTaps:
    """Where each rack sits on its busbar, and the busbars' segment resistances."""

    busbar_of_rack: np.ndarray
    """Busbar index of each rack [-]."""
    taps: np.ndarray
    """Taps of each rack [-]."""
    first_tap: np.ndarray
    """Index of each rack's first tap on its busbar [-]."""
    tap_count: np.ndarray
    """Taps on each busbar [-]."""
    segment: np.ndarray
    """Resistance of each busbar segment, busbars × taps (0 past the last tap) [Ω]."""


def _busbar_taps(scenario: Scenario, racks_in: list[Rack], busbars_in: list[Busbar]) -> _BusbarTaps:
    """Taps along each busbar: racks ordered by (row, position), source at tap 0."""
    busbar_index = _ids_index(busbars_in, lambda b: b.id)
    taps = np.array([scenario.rack_types[r.type].taps for r in racks_in], dtype=np.int64)
    busbar_of_rack = np.array([busbar_index[r.busbar] for r in racks_in], dtype=np.int64)
    order = sorted(range(len(racks_in)), key=lambda i: (racks_in[i].row, racks_in[i].position))
    first_tap = np.zeros(len(racks_in), dtype=np.int64)
    tap_count = np.zeros(len(busbars_in), dtype=np.int64)
    for i in order:
        b = busbar_of_rack[i]
        first_tap[i] = tap_count[b]
        tap_count[b] += taps[i]
    max_taps = int(max(tap_count.max(initial=1), 1))
    resistance = np.array([b.resistance for b in busbars_in]) * 1e-3  # mΩ → Ω
    per_segment = resistance / np.maximum(tap_count, 1)
    segment = np.where(
        np.arange(max_taps)[np.newaxis, :] < tap_count[:, np.newaxis], per_segment[:, None], 0.0
    )
    return _BusbarTaps(busbar_of_rack, taps, first_tap, tap_count, segment)


def _racks(
    scenario: Scenario,
    racks_in: list[Rack],
    taps: _BusbarTaps,
    converters: _Interner,
    liquid_path: tuple[CDUs, list[ColdPlate]],
) -> fac.Racks:
    """The racks in SI units, with their airflow at design power and their liquid path
    (coolant flows, cold plates; the cold-plate curves are appended to ``liquid_path[1]``)."""
    unit_index = _ids_index(scenario.cooling.units, lambda u: u.id)
    cdu_index = _ids_index(scenario.cooling.cdus, lambda c: c.id)
    types = [scenario.rack_types[r.type] for r in racks_in]
    design = np.array([t.design_power for t in types]) * KW
    fan_fraction = np.array([t.fan_fraction for t in types])
    liquid = np.array([t.liquid_share for t in types])
    # design air-side heat: fans + air share of compute power
    air_design = design * (fan_fraction + (1 - fan_fraction) * (1 - liquid))
    airflow_m3s = np.empty(len(types))
    for i, t in enumerate(types):
        if t.airflow_per_kw is not None:
            airflow_m3s[i] = t.airflow_per_kw * air_design[i] / KW
        else:
            delta = t.design_delta_t if t.design_delta_t is not None else DEFAULT_DELTA_T
            airflow_m3s[i] = air_design[i] / (AIR_VOLUMETRIC_HEAT_CAPACITY * delta)
    cdu = np.array(
        [cdu_index[r.cdu] if r.cdu is not None else -1 for r in racks_in], dtype=np.int64
    )
    liquid_design = design * (1 - fan_fraction) * liquid
    return fac.Racks(
        ids=[r.id for r in racks_in],
        row=np.array([r.row for r in racks_in]),
        position=np.array([r.position for r in racks_in], dtype=np.int64),
        type_name=np.array([r.type for r in racks_in]),
        design_power=design,
        idle_fraction=np.array([t.idle_fraction for t in types]),
        fan_fraction=fan_fraction,
        fan_knee_temperature=np.array([t.fan_knee_temperature for t in types]),
        fan_speed_slope=np.array([t.fan_speed_slope for t in types]),
        fan_power_exponent=np.array([3.0 if t.fan_power_curve == "cubic" else 1.0 for t in types]),
        liquid_share=liquid,
        capacity_flow=airflow.heat_capacity_flow(airflow_m3s),
        unit=np.array([unit_index[r.cooling_unit] for r in racks_in], dtype=np.int64),
        cdu=cdu,
        busbar=taps.busbar_of_rack,
        first_tap=taps.first_tap,
        taps=taps.taps,
        converter=np.array(
            [converters.index(efficiency_curve(t.converter)) for t in types], dtype=np.int64
        ),
        bbu_energy=np.array([t.bbu_energy for t in types]) * KWH,
        bbu_power=np.array([t.bbu_power for t in types]) * KW,
        coolant_flow=_coolant_flows(types, cdu, liquid_design, liquid_path[0]),
        mass=np.array(
            [
                t.mass if t.mass is not None else RACK_MASS_PER_WATT * d
                for t, d in zip(types, design, strict=True)
            ]
        ),
        specific_heat=np.array([t.specific_heat for t in types]),
        **_cold_plates(racks_in, types, liquid_path[1]),
    )


def _coolant_flows(
    types: list[RackType], cdu: np.ndarray, liquid_design: np.ndarray, cdus: CDUs
) -> np.ndarray:
    """Design coolant flow of each rack [m³/s].

    Stated flows are kept.  On a CDU none of whose racks states a flow, the racks share the
    CDU's rated flow in proportion to their design liquid heat (so the CDU runs at its rated
    flow, as before flows were modelled); elsewhere an unstated flow is the one that gives the
    CDU's rated coolant ΔT at the rack's design liquid heat.
    """
    stated = np.array(
        [np.nan if t.coolant_flow is None else t.coolant_flow * LITRES_PER_MINUTE for t in types]
    )
    flows = np.zeros(len(types))
    for c in range(cdus.count):
        members = np.flatnonzero(cdu == c)
        if not members.size:
            continue
        known = np.isfinite(stated[members])
        if known.any():
            per_watt = 1.0 / (cdus.it_heat_capacity[c] * cdus.coolant_delta_t[c])
            flows[members] = np.where(known, stated[members], liquid_design[members] * per_watt)
        else:
            heat = liquid_design[members]
            total = heat.sum()
            share = heat / total if total > 0 else np.full(members.size, 1.0 / members.size)
            flows[members] = cdus.it_rated_flow[c] * share
    return flows


def _cold_plates(
    racks_in: list[Rack], types: list[RackType], plates: list[ColdPlate]
) -> dict[str, np.ndarray]:
    """Per-rack cold-plate arrays; each rack type's curve is appended to ``plates`` once."""
    index_of_type: dict[str, int] = {}
    index = np.full(len(racks_in), -1, dtype=np.int64)
    for i, (rack, spec) in enumerate(zip(racks_in, types, strict=True)):
        if spec.cold_plate is None:
            continue
        if rack.type not in index_of_type:
            table = spec.cold_plate.resistance
            index_of_type[rack.type] = len(plates)
            plates.append(
                ColdPlate(
                    tuple(flow * LITRES_PER_MINUTE for flow, _ in table),
                    tuple(resistance for _, resistance in table),
                    name=f"cold plate of {rack.type}",
                )
            )
        index[i] = index_of_type[rack.type]

    def value(name: str, default: float) -> np.ndarray:
        return np.array(
            [getattr(t.cold_plate, name) if t.cold_plate is not None else default for t in types],
            dtype=float,
        )

    return {
        "cold_plate": index,
        "plate_count": value("count", 1.0),
        "plate_share": value("heat_share", 0.0),
        "max_case_temperature": value("max_case_temperature", np.nan),
    }


def _cooling_units(units_in: list[CoolingUnit]) -> fac.CoolingUnits:
    """The CRAH/CRAC units in SI units."""
    return fac.CoolingUnits(
        ids=[u.id for u in units_in],
        airflow=np.array([u.airflow for u in units_in]),
        fan_power=np.array([u.fan_power for u in units_in]) * KW,
        fan_coefficients=np.array([_fan_coefficients(u.fan_curve) for u in units_in]),
        minimum_airflow_fraction=np.array([u.minimum_airflow_fraction for u in units_in]),
        capacity=np.array([u.capacity for u in units_in]) * KW,
        supply_temperature=np.array([u.supply_temperature for u in units_in]),
        supply_temperature_min=np.array([u.supply_temperature_min for u in units_in]),
        supply_temperature_max=np.array([u.supply_temperature_max for u in units_in]),
        coil_approach=np.array([u.coil_approach for u in units_in]),
        bypass_fraction=np.array([u.bypass_fraction for u in units_in]),
    )


def _cdus(cdus_in: list[CDU]) -> CDUs:
    """The coolant distribution units in SI units (UA from the rated approach and flows)."""
    flows = np.array([c.rated_flows() for c in cdus_in]).reshape(-1, 2)
    return CDUs(
        ids=[c.id for c in cdus_in],
        capacity=np.array([c.capacity for c in cdus_in]) * KW,
        it_rated_flow=flows[:, 0],
        facility_rated_flow=flows[:, 1],
        it_heat_capacity=np.array(
            [volumetric_heat_capacity(c.coolant, c.rating_temperature) for c in cdus_in]
        ),
        facility_heat_capacity=np.array(
            [volumetric_heat_capacity(c.facility_fluid, c.rating_temperature) for c in cdus_in]
        ),
        rated_ua=np.array([rated_ua(c) for c in cdus_in]),
        pump_power=np.array([c.pump_power for c in cdus_in]) * KW,
        max_supply_temperature=np.array([c.max_supply_temperature for c in cdus_in]),
        max_flow=np.array(
            [
                c.max_flow * LITRES_PER_MINUTE if c.max_flow is not None else flows[i, 0]
                for i, c in enumerate(cdus_in)
            ]
        ),
        supply_setpoint=np.array(
            [
                np.nan if c.supply_temperature_setpoint is None else c.supply_temperature_setpoint
                for c in cdus_in
            ]
        ),
        loop=np.array(
            [FACILITY_LOOP if c.loop == "facility" else CHILLED_WATER_LOOP for c in cdus_in],
            dtype=np.int64,
        ),
        it_fluid=[fluid_name(c.coolant) for c in cdus_in],
        facility_fluid=[fluid_name(c.facility_fluid) for c in cdus_in],
    )


def _busbars(
    scenario: Scenario, busbars_in: list[Busbar], taps: _BusbarTaps, shelves: _Interner
) -> fac.Busbars:
    """The 48 V busbars and their power shelves in SI units."""
    ups_index = _ids_index(scenario.power.ups, lambda u: u.id)
    return fac.Busbars(
        ids=[b.id for b in busbars_in],
        ups=np.array([ups_index[b.ups] for b in busbars_in], dtype=np.int64),
        nominal_voltage=np.array([b.nominal_voltage for b in busbars_in]),
        segment_resistance=taps.segment,
        tap_count=taps.tap_count,
        undervoltage_limit=np.array([b.undervoltage_limit for b in busbars_in]),
        ampacity=np.array([b.ampacity for b in busbars_in]),
        psu_rating=np.array([b.shelf.psu_rating for b in busbars_in]) * KW,
        psu_count=np.array([b.shelf.psu_count for b in busbars_in], dtype=np.int64),
        redundancy=np.array([b.shelf.redundancy for b in busbars_in], dtype=np.int64),
        stage_up_fraction=np.array([b.shelf.stage_up_fraction for b in busbars_in]),
        shelf_curve=np.array(
            [shelves.index(efficiency_curve(b.shelf.efficiency)) for b in busbars_in],
            dtype=np.int64,
        ),
    )


def _ups_units(
    scenario: Scenario, feed_index: dict[str, int], ups_curves: _Interner
) -> fac.UPSUnits:
    """The transformer/UPS stages in SI units."""
    return fac.UPSUnits(
        ids=[u.id for u in scenario.power.ups],
        feed=np.array([feed_index[u.feed] for u in scenario.power.ups], dtype=np.int64),
        rating=np.array([u.rating for u in scenario.power.ups]) * KW,
        curve=np.array(
            [ups_curves.index(efficiency_curve(u.efficiency)) for u in scenario.power.ups],
            dtype=np.int64,
        ),
    )


def _fan_coefficients(curve: str | tuple[float, ...]) -> tuple[float, ...]:
    if curve == "vsd":
        return VSD_FAN
    if curve == "cubic":
        return CUBIC_FAN
    return tuple(float(c) for c in curve)


def chiller_of(chillers: Chillers) -> ChillerEIR:
    """The chiller a scenario's chillers section describes, rated to its capacity and COP.

    Parameters
    ----------
    chillers
        The section: a named EnergyPlus record or an EnergyPlus object field by field.

    Returns
    -------
    physics.plant.ChillerEIR
    """
    curves = chillers.curves
    if isinstance(curves, str):
        base = chiller_record(curves)
    else:
        fields = curves.model_dump()
        fields["reference_capacity"] = curves.reference_capacity * KW
        base = chiller_from_energyplus(fields, name="scenario chiller")
    return base.scaled(chillers.capacity * KW, chillers.cop)


def _plant(plant: Plant) -> ChillerPlant:
    chillers = plant.chillers
    chiller = chiller_of(chillers)
    design_load = chillers.capacity * KW * (chillers.count - chillers.redundancy)
    return ChillerPlant(
        chiller=chiller,
        chiller_count=chillers.count,
        redundant_chillers=chillers.redundancy,
        tower_approach=plant.tower_approach,
        minimum_condenser_temperature=plant.minimum_condenser_temperature,
        tower_fan_design_power=plant.tower_fan_power * KW,
        tower_design_heat_rejection=design_load * (1 + 1 / chillers.cop),
        economizer_enabled=plant.economizer.enabled,
        economizer_approach=plant.economizer.approach,
        economizer_integrated=plant.economizer.mode == "integrated",
        chilled_water_delta_t=plant.chilled_water_delta_t,
        chilled_water_pump_design_power=plant.chilled_water_pump_power * KW,
        condenser_pump_design_power=plant.condenser_pump_power * KW,
    )


def _facility_loop(spec: LoopSpec | None, cdus: CDUs) -> FacilityLoop | None:
    """The warm-water facility loop in SI units; dry-cooler UA rated from their capacity."""
    if spec is None:
        return None
    heat_capacity = volumetric_heat_capacity(spec.fluid, spec.supply_temperature)
    design_flow = float(cdus.facility_rated_flow[cdus.loop == FACILITY_LOOP].sum())
    coolers = None
    if spec.dry_coolers is not None:
        dry = spec.dry_coolers
        coolers = DryCoolers(
            count=dry.count,
            rated_ua=dry_cooler_rated_ua(
                dry.capacity * KW,
                dry.design_entering_water_temperature,
                dry.design_entering_air_temperature,
                heat_capacity * design_flow / dry.count,
                dry.air_flow,
            ),
            air_flow=dry.air_flow,
            fan_power=dry.fan_power * KW,
            minimum_fan_speed=dry.minimum_fan_speed,
        )
    towers = None
    if spec.towers is not None:
        towers = CoolingTowers(
            approach=spec.towers.approach,
            fan_power=spec.towers.fan_power * KW,
            design_heat_rejection=spec.towers.design_heat_rejection * KW,
        )
    trim = None
    if spec.trim_chillers is not None:
        chillers = spec.trim_chillers
        trim = ChillerPlant(
            chiller=chiller_of(chillers),
            chiller_count=chillers.count,
            redundant_chillers=chillers.redundancy,
            tower_fan_design_power=0.0,
            chilled_water_pump_design_power=0.0,
            condenser_pump_design_power=0.0,
            tower_approach=0.0,
            minimum_condenser_temperature=-273.15,
            economizer_enabled=False,
        )
    return FacilityLoop(
        supply_temperature=spec.supply_temperature,
        heat_capacity=heat_capacity,
        design_flow=design_flow,
        pump_power=spec.pump_power * KW,
        dry_coolers=coolers,
        towers=towers,
        trim_chillers=trim,
    )


def _battery(scenario: Scenario, feed_index: dict[str, int]) -> fac.Battery | None:
    b = scenario.battery
    if b is None:
        return None
    return fac.Battery(
        capacity=b.energy * KWH,
        power=b.power * KW,
        charge_efficiency=b.charge_efficiency,
        discharge_efficiency=b.discharge_efficiency,
        soc_min=b.soc_min,
        soc_max=b.soc_max,
        initial_soc=b.initial_soc,
        wear_cost=b.wear_cost / KWH,
        feed=feed_index[b.feed] if b.feed else 0,
    )


def _recirculation(scenario: Scenario, racks: fac.Racks) -> sp.csr_matrix:
    spec = scenario.cooling.recirculation
    n = racks.count
    if isinstance(spec, RecirculationNone):
        return sp.csr_matrix((n, n))
    if isinstance(spec, RecirculationEntries):
        index = {rid: i for i, rid in enumerate(racks.ids)}
        return airflow.recirculation_from_entries(
            n,
            [index[e.source] for e in spec.entries],
            [index[e.target] for e in spec.entries],
            [e.fraction for e in spec.entries],
        )
    return airflow.layout_recirculation(
        racks.row,
        racks.position,
        self_fraction=spec.self_fraction,
        neighbor_fraction=spec.neighbor_fraction,
        decay=spec.decay,
        reach=spec.reach,
        end_of_row_fraction=spec.end_of_row_fraction,
    )


def _workloads(scenario: Scenario, racks: fac.Racks) -> fac.Workloads:
    items = scenario.workloads
    start = scenario.simulation.start
    dynamic = racks.dynamic_power
    rows, cols, vals = [], [], []
    capacity = np.zeros(len(items))
    for j, work in enumerate(items):
        chosen = sorted({i for pattern in work.racks for i in _match(racks.ids, pattern)})
        cap = float(dynamic[chosen].sum())
        capacity[j] = cap
        weights = dynamic[chosen] / cap if cap > 0 else np.full(len(chosen), 1 / len(chosen))
        rows += [j] * len(chosen)
        cols += chosen
        vals += list(weights)
    share = sp.csr_matrix((vals, (rows, cols)), shape=(len(items), racks.count))

    def opt(values: list[float | None], scale: float = 1.0) -> np.ndarray:
        return np.array([np.nan if v is None else v * scale for v in values], dtype=float)

    nat = np.datetime64("NaT", "ns")
    return fac.Workloads(
        ids=[w.id for w in items],
        tier=np.array([w.tier for w in items], dtype=np.int64),
        share=share,
        capacity=capacity,
        profile=[w.profile for w in items],
        utilization=opt([w.utilization for w in items]),
        profile_scale=np.array([w.profile_scale for w in items]),
        max_delay=opt([w.max_delay.total_seconds() if w.max_delay else None for w in items]),
        energy=opt([w.energy for w in items], KWH),
        min_power=np.array([(w.min_power or 0.0) * KW for w in items]),
        max_power=np.array(
            [
                min(w.max_power * KW, capacity[j]) if w.max_power is not None else capacity[j]
                for j, w in enumerate(items)
            ]
        ),
        release=np.array(
            [_utc(resolve_instant(w.release, start)) if w.tier == 3 else nat for w in items],
            dtype="datetime64[ns]",
        ),
        deadline=np.array(
            [_utc(resolve_instant(w.deadline, start)) if w.tier == 3 else nat for w in items],
            dtype="datetime64[ns]",
        ),
        lateness_penalty=np.array([w.lateness_penalty or 0.0 for w in items]) / KWH / 3600.0,
        unserved_penalty=np.array([w.unserved_penalty or 0.0 for w in items]) / KWH,
        soft=np.array([w.tier == 3 and w.sla == "soft" for w in items], dtype=bool),
    )


def _match(ids: list[str], pattern: str) -> list[int]:
    return [i for i, rid in enumerate(ids) if fnmatch.fnmatchcase(rid, pattern)]
