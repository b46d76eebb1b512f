"""Scenario sections describing the hall's equipment: racks, cooling, power, battery and PV.

Rack types, racks and rows of racks; cooling units, CDUs, hot-air recirculation and the chiller
plant; utility feeds, UPS stages, power shelves and 48 V busbars with their efficiency curves;
the facility battery and on-site photovoltaics.  Values are stored in the documented unit.
"""

from __future__ import annotations

import itertools
import re
from typing import Annotated, Any, Literal, get_args

from pydantic import BeforeValidator, Discriminator, Field, Tag, field_validator, model_validator

from twin.scenario.chillers import Chillers, Economizer
from twin.scenario.errors import FieldProblem
from twin.scenario.fields import Fraction, Kelvin, SchemaModel
from twin.scenario.liquid import CDU, ColdPlate, FacilityLoop
from twin.scenario.quantities import (
    Ampere,
    Celsius,
    CubicMetre,
    CubicMetrePerSecond,
    JoulePerKilogramKelvin,
    Kilogram,
    Kilowatt,
    KilowattHour,
    LitrePerMinute,
    Milliohm,
    Volt,
)

# --------------------------------------------------------------------------------------------
# efficiency curves

NamedCurve = Literal["orv3-shelf", "double-conversion-ups", "transformer", "ibc-48v-12v"]


class EfficiencyPoints(SchemaModel):
    """Efficiency vs load fraction, interpolated linearly (clipped at the ends)."""

    points: list[
        tuple[Annotated[float, Field(ge=0, le=1.5)], Annotated[float, Field(gt=0, le=1)]]
    ] = Field(
        min_length=1,
        description="(load fraction [-], efficiency [-]) pairs.",
        examples=[[[0.1, 0.9], [0.5, 0.97], [1.0, 0.96]]],
    )
    fixed_loss: Kilowatt = Field(0.0, ge=0, description="No-load loss [kW].")

    @field_validator("points")
    @classmethod
    def _increasing(cls, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        loads = [p[0] for p in points]
        if any(b <= a for a, b in itertools.pairwise(loads)):
            raise ValueError(f"expected strictly increasing load fractions, got {loads}")
        return points


_CURVE_NAMES: tuple[str, ...] = get_args(NamedCurve)


def _efficiency_kind(value: Any) -> str | None:
    if isinstance(value, dict | EfficiencyPoints):
        return "efficiency-points"
    if isinstance(value, str) and value in _CURVE_NAMES:
        return "efficiency-named"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "efficiency-number"
    if isinstance(value, str) and re.fullmatch(r"\s*[0-9.]+(?:[eE][-+]?\d+)?\s*", value):
        return "efficiency-number"  # "0.96"
    return None


Efficiency = Annotated[
    Annotated[Annotated[float, Field(gt=0, le=1)], Tag("efficiency-number")]
    | Annotated[NamedCurve, Tag("efficiency-named")]
    | Annotated[EfficiencyPoints, Tag("efficiency-points")],
    Discriminator(
        _efficiency_kind,
        custom_error_type="efficiency",
        custom_error_message="expected an efficiency in (0, 1], a named curve ("
        + ", ".join(_CURVE_NAMES)
        + ") or {points: [[load fraction, efficiency], ...]}",
    ),
]
"""Efficiency [-]: a constant, a named curve or points of efficiency vs load fraction."""

# --------------------------------------------------------------------------------------------
# racks


class RackType(SchemaModel):
    """A rack model in the catalogue (e.g. a 120 kW liquid-cooled GPU rack)."""

    design_power: Kilowatt = Field(gt=0, description="Design IT power at full load [kW].")
    idle_fraction: Fraction = Field(
        0.3, description="IT power when idle as a fraction of design power [-]."
    )
    liquid_share: Fraction = Field(
        0.0, description="Share of rack heat removed by direct-to-chip liquid cooling [-]."
    )
    design_delta_t: Kelvin | None = Field(
        None, gt=0, description="Air temperature rise across the rack at design power [K]."
    )
    airflow_per_kw: CubicMetrePerSecond | None = Field(
        None,
        gt=0,
        description="Airflow per kW of design air-side heat [m³/s per kW]; alternative to "
        "design_delta_t (default: design_delta_t = 12 K).",
        examples=[0.07],
    )
    fan_fraction: Fraction = Field(
        0.06, description="Server fan share of design power at nominal inlet [-]."
    )
    fan_knee_temperature: Celsius = Field(
        27.0, description="Inlet temperature above which server fans speed up [°C]."
    )
    fan_speed_slope: float = Field(
        0.04, ge=0, le=1, description="Fan speed increase per kelvin above the knee [1/K]."
    )
    taps: int = Field(
        1, ge=1, le=64, description="Load taps this rack places on its 48 V busbar [-]."
    )
    converter: Efficiency = Field(
        "ibc-48v-12v", description="Intermediate bus converter (48→12 V) efficiency."
    )
    bbu_energy: KilowattHour = Field(
        0.0, ge=0, description="Rack battery backup unit usable energy [kWh]."
    )
    bbu_power: Kilowatt = Field(0.0, ge=0, description="Rack battery backup power rating [kW].")
    fan_power_curve: Literal["cubic", "linear"] = Field(
        "cubic",
        description="Server fan power vs airflow fraction above the knee: 'cubic' (affinity "
        "law) or 'linear' (the EnergyPlus ITE example's ECM fan curve).",
    )
    coolant_flow: LitrePerMinute | None = Field(
        None,
        gt=0,
        description="Design coolant flow through the rack's cold plates [L/min] (default: "
        "its share of its CDU's rated flow).",
    )
    cold_plate: ColdPlate | None = Field(
        None, description="Cold plates and the case temperature limit of their devices."
    )
    mass: Kilogram | None = Field(
        None,
        gt=0,
        description="Mass of the rack with its IT equipment [kg] (default: 11.3 kg per kW of "
        "design power, the NVIDIA DGX GB200 NVL72's 1,360 kg for 120 kW).",
    )
    specific_heat: JoulePerKilogramKelvin = Field(
        490.0, gt=0, description="Mean specific heat of the rack's mass [J/(kg·K)] (steel)."
    )
    description: str = Field("", description="Free text describing the rack model.")

    @model_validator(mode="after")
    def _one_airflow(self) -> RackType:
        if self.design_delta_t is not None and self.airflow_per_kw is not None:
            raise FieldProblem("airflow_per_kw", "give design_delta_t or airflow_per_kw, not both")
        return self


class Rack(SchemaModel):
    """One rack at a floor position."""

    id: str = Field(min_length=1, description="Unique rack id, e.g. 'B07'.", examples=["B07"])
    row: str = Field(description="Row name, e.g. 'B'.", examples=["B"])
    position: int = Field(ge=0, description="Position along the row (1 = first) [-].", examples=[7])
    type: str = Field(description="Rack type name from rack_types.", examples=["inference-40"])
    cooling_unit: str = Field(
        description="Id of the CRAH/CRAC serving the rack's air.", examples=["CRAH-2"]
    )
    cdu: str | None = Field(
        None, description="Id of the CDU serving its liquid loop.", examples=["CDU-1"]
    )
    busbar: str = Field(description="Id of the 48 V busbar feeding the rack.", examples=["BB-B"])


class RackRow(SchemaModel):
    """Shorthand for a row of identical racks: expands to racks '{row}{position:02d}'."""

    row: str = Field(description="Row name.")
    type: str = Field(description="Rack type name from rack_types.")
    count: int = Field(ge=1, le=10_000, description="Number of racks [-].")
    first_position: int = Field(1, ge=0, description="Position of the first rack [-].")
    cooling_unit: str = Field(description="Id of the CRAH/CRAC serving the row.")
    cdu: str | None = Field(None, description="Id of the CDU serving the row.")
    busbar: str | None = Field(
        None, description="Id of one busbar shared by the row (exclusive with busbar_template)."
    )
    busbar_template: str | None = Field(
        None,
        description="Name of a busbar template: each rack gets its own busbar '{rack id}' "
        "(Open Rack V3 style, busbar inside the rack).",
    )
    ups: str | None = Field(None, description="UPS feeding per-rack busbars from a template.")

    @model_validator(mode="after")
    def _busbar_choice(self) -> RackRow:
        if (self.busbar is None) == (self.busbar_template is None):
            given = "both" if self.busbar is not None else "neither"
            raise ValueError(f"give exactly one of busbar or busbar_template (got {given})")
        if self.busbar_template is not None and self.ups is None:
            raise FieldProblem(
                "ups", "required with busbar_template: the id of the UPS feeding the new busbars"
            )
        return self

    def rack_ids(self) -> list[str]:
        """Ids of the racks this row expands to."""
        return [f"{self.row}{self.first_position + i:02d}" for i in range(self.count)]


# --------------------------------------------------------------------------------------------
# cooling


def _five_coefficients(value: Any) -> Any:
    if isinstance(value, list | tuple) and len(value) != 5:
        raise ValueError(
            f"expected 5 polynomial coefficients c0..c4 of the flow fraction, got {len(value)}"
        )
    return value


def _fan_curve_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "fan-named"
    if isinstance(value, list | tuple):
        return "fan-coefficients"
    return None


FanCurve = Annotated[
    Annotated[Literal["vsd", "cubic"], Tag("fan-named")]
    | Annotated[
        tuple[float, float, float, float, float],
        BeforeValidator(_five_coefficients),
        Tag("fan-coefficients"),
    ],
    Discriminator(
        _fan_curve_kind,
        custom_error_type="fan_curve",
        custom_error_message="expected 'vsd', 'cubic' or 5 polynomial coefficients",
    ),
]


class CoolingUnit(SchemaModel):
    """A CRAH (chilled-water coil) or CRAC unit supplying air to racks."""

    id: str = Field(description="Unique cooling unit id.")
    airflow: CubicMetrePerSecond = Field(gt=0, description="Design (maximum) airflow [m³/s].")
    fan_power: Kilowatt = Field(ge=0, description="Fan power at design airflow [kW].")
    fan_curve: FanCurve = Field(
        "vsd",
        description="Fan power vs flow fraction: 'vsd' (ASHRAE 90.1 App. G variable-speed "
        "curve), 'cubic' (affinity law), or 5 polynomial coefficients.",
    )
    minimum_airflow_fraction: Fraction = Field(
        0.3, description="Lowest fan speed as a fraction of design airflow [-]."
    )
    capacity: Kilowatt = Field(gt=0, description="Coil cooling capacity [kW].")
    supply_temperature: Celsius = Field(
        18.0, description="Supply air setpoint as operated today [°C]."
    )
    supply_temperature_min: Celsius = Field(14.0, description="Lowest supply setpoint [°C].")
    supply_temperature_max: Celsius = Field(27.0, description="Highest supply setpoint [°C].")
    coil_approach: Kelvin = Field(
        4.0, ge=0, description="Supply air minus chilled water supply at design [K]."
    )
    bypass_fraction: Fraction = Field(
        0.1, description="Share of unit airflow bypassing the racks (leakage) [-]."
    )

    @model_validator(mode="after")
    def _bounds(self) -> CoolingUnit:
        lo, hi, op = (
            self.supply_temperature_min,
            self.supply_temperature_max,
            self.supply_temperature,
        )
        if not lo <= op <= hi:
            raise FieldProblem(
                "supply_temperature",
                f"{op:g} °C is outside the unit's setpoint range; expected "
                f"supply_temperature_min..supply_temperature_max = {lo:g}..{hi:g} °C",
            )
        return self


class RecirculationLayout(SchemaModel):
    """Recirculation generated from the layout (documented in docs/physics.md).

    Within a row, rack i's outlet air reaches rack j's inlet with fraction
    ``neighbor_fraction · decay^(|i−j|−1)`` for ``1 ≤ |i−j| ≤ reach``; every rack re-ingests
    ``self_fraction`` of its own outlet, and the first/last racks of a row an extra
    ``end_of_row_fraction`` (hot air wrapping around the row end).
    """

    mode: Literal["layout"] = Field("layout", description="Recirculation model (default).")
    self_fraction: Fraction = Field(0.02, description="Own outlet air re-ingested [-].")
    neighbor_fraction: Fraction = Field(0.03, description="To the adjacent rack [-].")
    decay: Fraction = Field(0.5, description="Factor per extra rack of distance [-].")
    reach: int = Field(3, ge=0, le=50, description="Farthest rack reached [racks].")
    end_of_row_fraction: Fraction = Field(
        0.05, description="Extra self-recirculation of end-of-row racks [-]."
    )


class RecirculationEntry(SchemaModel):
    """One measured/CFD recirculation fraction."""

    source: str = Field(
        alias="from", description="Rack whose outlet air recirculates.", examples=["A01"]
    )
    target: str = Field(alias="to", description="Rack whose inlet receives it.", examples=["A02"])
    fraction: Fraction = Field(
        description="Share of source outlet air reaching target [-].", examples=[0.04]
    )


class RecirculationEntries(SchemaModel):
    """Recirculation given explicitly as a sparse matrix (e.g. from CFD or calibration)."""

    mode: Literal["entries"] = Field("entries", description="Recirculation model.")
    entries: list[RecirculationEntry] = Field(
        default_factory=list, description="Recirculation fractions, rack to rack."
    )


class RecirculationNone(SchemaModel):
    """Perfect containment: no recirculation."""

    mode: Literal["none"] = Field("none", description="Recirculation model.")


def _recirculation_shorthand(value: Any) -> Any:
    """``recirculation: none`` is short for ``recirculation: {mode: none}``."""
    return {"mode": value} if isinstance(value, str) else value


def _recirculation_mode(value: Any) -> Any:
    if isinstance(value, dict):
        return value.get("mode", "layout")  # the documented default
    return getattr(value, "mode", None)


Recirculation = Annotated[
    Annotated[RecirculationLayout, Tag("layout")]
    | Annotated[RecirculationEntries, Tag("entries")]
    | Annotated[RecirculationNone, Tag("none")],
    Discriminator(_recirculation_mode),
    BeforeValidator(_recirculation_shorthand),
]


class Plant(SchemaModel):
    """Chiller plant with cooling towers, water-side economizer and pumps."""

    chillers: Chillers = Field(description="The chillers.")
    chilled_water_temperature: Celsius = Field(
        12.0, description="Chilled water supply setpoint as operated today [°C]."
    )
    chilled_water_temperature_min: Celsius = Field(6.0, description="Lowest setpoint [°C].")
    chilled_water_temperature_max: Celsius = Field(22.0, description="Highest setpoint [°C].")
    chilled_water_delta_t: Kelvin = Field(6.0, gt=0, description="Return minus supply [K].")
    tower_approach: Kelvin = Field(4.0, ge=0, description="Tower water minus wet bulb [K].")
    minimum_condenser_temperature: Celsius = Field(
        15.0, description="Lowest tower leaving water temperature [°C]."
    )
    tower_fan_power: Kilowatt = Field(ge=0, description="Tower fan power at design [kW].")
    economizer: Economizer = Field(default_factory=Economizer, description="Water-side economizer.")
    chilled_water_pump_power: Kilowatt = Field(0.0, ge=0, description="At design flow [kW].")
    condenser_pump_power: Kilowatt = Field(0.0, ge=0, description="At design flow [kW].")

    @model_validator(mode="after")
    def _bounds(self) -> Plant:
        lo, hi = self.chilled_water_temperature_min, self.chilled_water_temperature_max
        if not lo <= self.chilled_water_temperature <= hi:
            raise FieldProblem(
                "chilled_water_temperature",
                f"{self.chilled_water_temperature:g} °C is outside the setpoint range; expected "
                f"chilled_water_temperature_min..chilled_water_temperature_max = "
                f"{lo:g}..{hi:g} °C",
            )
        return self


class Cooling(SchemaModel):
    """Air and liquid cooling of the white space and the plant behind them."""

    units: list[CoolingUnit] = Field(min_length=1, description="CRAH/CRAC units.")
    cdus: list[CDU] = Field(default_factory=list, description="Coolant distribution units.")
    recirculation: Recirculation = Field(
        default_factory=RecirculationLayout,
        description="Hot-air recirculation model: mode layout (default), entries or none.",
    )
    plant: Plant = Field(description="Chiller plant behind the cooling units.")
    facility_loop: FacilityLoop | None = Field(
        None, description="Warm-water facility loop of the CDUs with loop 'facility'."
    )
    room_air_volume: CubicMetre | None = Field(
        None,
        gt=0,
        description="Air volume of the white space [m³] for cooling-loss transients (default: "
        "8 m³ per rack, an engineering assumption).",
    )
    feed: str | None = Field(
        None, description="Utility feed of cooling loads (default: first).", examples=["FEED-B"]
    )

    @model_validator(mode="after")
    def _loops(self) -> Cooling:
        on_loop = [c.id for c in self.cdus if c.loop == "facility"]
        if on_loop and self.facility_loop is None:
            raise FieldProblem(
                "facility_loop",
                f"required: CDU(s) {', '.join(on_loop)} are on the facility loop "
                "(loop: facility); describe it or put them on loop: chilled_water",
            )
        return self


# --------------------------------------------------------------------------------------------
# power


class Feed(SchemaModel):
    """A utility feed (medium-voltage service) and its capacity."""

    id: str = Field(description="Unique feed id.")
    capacity: Kilowatt = Field(gt=0, description="Feed capacity [kW].")


class UPS(SchemaModel):
    """Transformer + UPS stage between a feed and the rack power shelves."""

    id: str = Field(description="Unique UPS id.")
    feed: str = Field(description="Feed id.")
    rating: Kilowatt = Field(gt=0, description="Rated output [kW].")
    efficiency: Efficiency = Field("double-conversion-ups", description="Efficiency vs load.")


class PowerShelf(SchemaModel):
    """Rectifier shelf (AC → 48 V): PSUs sharing the load, staged, with redundancy."""

    psu_rating: Kilowatt = Field(gt=0, description="Output rating of one PSU [kW].")
    psu_count: int = Field(ge=1, le=1000, description="Installed PSUs [-].")
    redundancy: int = Field(1, ge=0, description="Spare PSUs (N+k) [-].")
    stage_up_fraction: float = Field(
        0.8, gt=0, le=1, description="Per-PSU load above which another PSU is staged on [-]."
    )
    efficiency: Efficiency = Field("orv3-shelf", description="PSU efficiency vs load.")

    @model_validator(mode="after")
    def _redundancy(self) -> PowerShelf:
        if self.redundancy >= self.psu_count:
            raise FieldProblem(
                "redundancy",
                f"{self.redundancy} spare PSUs leave none to carry load; expected fewer than "
                f"psu_count ({self.psu_count})",
            )
        return self


class BusbarTemplate(SchemaModel):
    """Electrical description of a 48 V busbar and its power shelf."""

    nominal_voltage: Volt = Field(51.0, gt=0, description="Shelf output voltage [V].")
    resistance: Milliohm = Field(
        gt=0, description="End-to-end busbar resistance, source to farthest tap [mΩ]."
    )
    undervoltage_limit: Volt = Field(46.0, gt=0, description="Lowest acceptable tap voltage [V].")
    ampacity: Ampere = Field(gt=0, description="Current rating [A].")
    shelf: PowerShelf = Field(description="Rectifier shelf feeding the busbar.")


class Busbar(BusbarTemplate):
    """A 48 V busbar (in a rack or along a row) fed by a shelf from a UPS."""

    id: str = Field(description="Unique busbar id.")
    ups: str = Field(description="UPS id.")


class Power(SchemaModel):
    """Utility → transformer/UPS → power shelves → 48 V busbars → converters → IT."""

    feeds: list[Feed] = Field(min_length=1, description="Utility feeds.")
    ups: list[UPS] = Field(min_length=1, description="Transformer/UPS stages.")
    busbars: list[Busbar] = Field(
        default_factory=list, description="48 V busbars shared by several racks."
    )
    busbar_templates: dict[str, BusbarTemplate] = Field(
        default_factory=dict,
        description="Named busbar designs that rows instantiate once per rack.",
    )
    mechanical_efficiency: float = Field(
        0.985, gt=0, le=1, description="Transformer efficiency for cooling loads [-]."
    )


# --------------------------------------------------------------------------------------------
# storage and generation


class Battery(SchemaModel):
    """Facility battery energy storage system (BESS)."""

    energy: KilowattHour = Field(gt=0, description="Usable energy capacity [kWh].")
    power: Kilowatt = Field(gt=0, description="Charge and discharge power limit [kW].")
    charge_efficiency: float = Field(0.948, gt=0, le=1, description="[-]")
    discharge_efficiency: float = Field(0.948, gt=0, le=1, description="[-]")
    soc_min: Fraction = Field(0.1, description="Lowest state of charge [-].")
    soc_max: Fraction = Field(0.95, description="Highest state of charge [-].")
    initial_soc: Fraction = Field(0.5, description="State of charge at the start [-].")
    wear_cost: float = Field(
        0.02, ge=0, description="Degradation cost per kWh of throughput [currency/kWh]."
    )
    feed: str | None = Field(
        None, description="Feed it is connected to (default: first).", examples=["FEED-A"]
    )

    @model_validator(mode="after")
    def _window(self) -> Battery:
        if not self.soc_min < self.soc_max:
            raise FieldProblem(
                "soc_min",
                f"expected a value below soc_max ({self.soc_max:g}), got {self.soc_min:g}",
            )
        if not self.soc_min <= self.initial_soc <= self.soc_max:
            raise FieldProblem(
                "initial_soc",
                f"expected a state of charge within soc_min..soc_max = "
                f"{self.soc_min:g}..{self.soc_max:g}, got {self.initial_soc:g}",
            )
        return self


class PV(SchemaModel):
    """On-site photovoltaics; output = peak × the series ``pv_capacity_factor``."""

    peak: Kilowatt = Field(gt=0, description="Peak AC output [kW].")
