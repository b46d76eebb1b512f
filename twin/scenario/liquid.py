"""Scenario sections of the liquid path: fluids, cold plates, CDUs and the facility loop.

A CDU is rated by its capacity, its approach (IT supply minus facility supply at capacity)
and its flows on both sides (a flow or a temperature difference at capacity, for each), with
a fluid on each side (``water``, ``pg25`` or a fluid given by its properties, e.g. the
dielectric of an immersion tank).  CDUs sit on the chilled-water loop of the plant
(``loop: chilled_water``, the default) or on the warm-water facility loop
(``loop: facility``), which :class:`FacilityLoop` describes: dry coolers, cooling towers and
trim chillers.
"""

from __future__ import annotations

import itertools
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, Tag, field_validator, model_validator

from physics.liquid.cdu import rated_ua_for_approach
from physics.liquid.exchanger import FILM_EXPONENT, scaled_ua
from physics.liquid.fluids import film_coefficient_ratio, fluid
from twin.scenario.chillers import Chillers
from twin.scenario.errors import FieldProblem
from twin.scenario.fields import (
    FIELDS_TAG,
    NAMED_TAG,
    Fraction,
    Kelvin,
    SchemaModel,
    named_or_fields,
)
from twin.scenario.quantities import (
    Celsius,
    CubicMetrePerSecond,
    JoulePerKilogramKelvin,
    KelvinPerWatt,
    KilogramPerCubicMetre,
    Kilowatt,
    LitrePerMinute,
)

LITRES_PER_MINUTE = 1.0 / 60_000.0
"""[m³/s per L/min]"""

DEFAULT_COOLANT_DELTA_T = 10.0
"""IT-side temperature rise at capacity when neither it nor the flow is given [K]."""


class CustomFluid(SchemaModel):
    """A fluid given by its properties at the loop's temperatures (e.g. an immersion
    dielectric from its datasheet)."""

    name: str = Field(examples=["PG40"], min_length=1, description="Fluid name, for messages.")
    specific_heat: JoulePerKilogramKelvin = Field(
        examples=["3600 J/(kg*K)"], gt=0, description="c_p [J/(kg·K)]."
    )
    density: KilogramPerCubicMetre = Field(examples=["1040 kg/m^3"], gt=0, description="ρ [kg/m³].")


FluidName = Literal["water", "pg25"]


FluidSpec = Annotated[
    Annotated[FluidName, Tag(NAMED_TAG)] | Annotated[CustomFluid, Tag(FIELDS_TAG)],
    named_or_fields(
        CustomFluid,
        error_type="fluid",
        message="expected 'water', 'pg25' or {name, specific_heat, density}",
    ),
]
"""A heat-transfer fluid: ``water``, ``pg25`` (EnergyPlus property tables) or custom."""


def volumetric_heat_capacity(spec: FluidSpec, temperature: float) -> float:
    """ρ·c_p of a fluid spec at ``temperature`` [°C] [J/(m³·K)]."""
    if isinstance(spec, CustomFluid):
        return spec.density * spec.specific_heat
    return float(fluid(spec).volumetric_heat_capacity(temperature))


def fluid_name(spec: FluidSpec) -> str:
    """Name of a fluid spec."""
    return spec.name if isinstance(spec, CustomFluid) else spec


class ColdPlate(SchemaModel):
    """The cold plates of a rack type and the case limit of the devices under them."""

    count: int = Field(ge=1, le=10_000, description="Cold plates per rack, in parallel [-].")
    heat_share: Fraction = Field(
        1.0, description="Share of the rack's liquid heat through these plates [-]."
    )
    resistance: list[tuple[LitrePerMinute, KelvinPerWatt]] = Field(
        min_length=1,
        description="Case-to-inlet-coolant thermal resistance vs flow through one plate: "
        "[[flow L/min, resistance K/W], ...] from the datasheet, increasing flow.",
    )
    max_case_temperature: Celsius = Field(
        description="Highest case (or junction, if the resistance is junction-to-coolant) "
        "temperature of the devices [°C]."
    )

    @field_validator("resistance")
    @classmethod
    def _table(cls, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        flows = [p[0] for p in points]
        if any(f <= 0 for f in flows) or any(p[1] <= 0 for p in points):
            raise ValueError("expected positive flows and resistances")
        if any(b <= a for a, b in itertools.pairwise(flows)):
            raise ValueError(f"expected strictly increasing flows, got {flows}")
        return points


LoopName = Literal["chilled_water", "facility"]


class CDU(SchemaModel):
    """A coolant distribution unit: a liquid-to-liquid exchanger and the pumps of a D2C loop."""

    id: str = Field(description="Unique CDU id.")
    capacity: Kilowatt = Field(gt=0, description="Rated heat load [kW].")
    approach: Kelvin = Field(
        3.0,
        gt=0,
        description="IT (coolant) supply minus facility supply at rated load and flows [K] "
        "(the datasheet's approach temperature difference).",
    )
    coolant_delta_t: Kelvin | None = Field(
        None, gt=0, description="IT return minus supply at capacity [K] (default 10 K)."
    )
    coolant_flow: LitrePerMinute | None = Field(
        None, gt=0, description="Rated IT-side flow [L/min]; alternative to coolant_delta_t."
    )
    facility_delta_t: Kelvin | None = Field(
        None, gt=0, description="Facility return minus supply at capacity [K] (default: IT ΔT)."
    )
    facility_flow: LitrePerMinute | None = Field(
        None,
        examples=["1200 L/min"],
        gt=0,
        description="Rated facility-side flow [L/min]; alternative to ΔT.",
    )
    coolant: FluidSpec = Field("water", description="IT-side fluid.")
    facility_fluid: FluidSpec = Field("water", description="Facility-side fluid.")
    rated_coolant: FluidName | None = Field(
        None,
        examples=["pg25"],
        description="IT-side fluid of the datasheet rating (capacity, approach, flows), when "
        "it is not the coolant used: UA then follows the fluid by the Dittus–Boelter film "
        "coefficient ratio at the same volume flows (default: the coolant).",
    )
    rated_facility_fluid: FluidName | None = Field(
        None,
        examples=["water"],
        description="Facility-side fluid of the datasheet rating, as rated_coolant "
        "(default: the facility fluid).",
    )
    rating_temperature: Celsius = Field(
        30.0, description="Temperature the fluid properties are taken at [°C]."
    )
    pump_power: Kilowatt = Field(0.0, ge=0, description="Pump power at the rated flow [kW].")
    max_flow: LitrePerMinute | None = Field(
        None, gt=0, description="Highest IT-side flow of the pumps [L/min] (default: rated)."
    )
    supply_temperature_setpoint: Celsius | None = Field(
        None,
        examples=["32 degC"],
        description="IT supply setpoint the facility valve holds [°C]; none: valve open.",
    )
    max_supply_temperature: Celsius = Field(
        45.0, description="Highest coolant supply the cold plates accept [°C]."
    )
    loop: LoopName = Field(
        "chilled_water",
        description="Facility water source: 'chilled_water' (the chiller plant) or "
        "'facility' (the warm-water facility loop).",
    )

    @model_validator(mode="after")
    def _flows(self) -> CDU:
        if self.coolant_delta_t is not None and self.coolant_flow is not None:
            raise FieldProblem("coolant_flow", "give coolant_delta_t or coolant_flow, not both")
        if self.facility_delta_t is not None and self.facility_flow is not None:
            raise FieldProblem("facility_flow", "give facility_delta_t or facility_flow, not both")
        rates = self.rated_capacity_rates()
        q = self.capacity * 1e3
        c_min = min(rates)
        needed = q / (c_min * (self.approach + q / rates[0]))
        if not needed < 1.0:
            raise FieldProblem(
                "approach",
                f"{self.approach:g} K is too small for these flows: the exchanger would need "
                f"an effectiveness of {needed:.2f} (>= 1); raise the approach or the flows",
            )
        self.film_ratios()
        if self.max_flow is not None and self.max_flow < self.rated_flows()[0] / LITRES_PER_MINUTE:
            raise FieldProblem("max_flow", "expected at least the rated coolant flow")
        return self

    def rating_fluids(self) -> tuple[FluidSpec, FluidSpec]:
        """(IT, facility) fluids of the datasheet rating."""
        return (
            self.coolant if self.rated_coolant is None else self.rated_coolant,
            self.facility_fluid if self.rated_facility_fluid is None else self.rated_facility_fluid,
        )

    def rated_flows(self) -> tuple[float, float]:
        """(IT, facility) flows at rating [m³/s] (the same volume flows on other fluids)."""
        q = self.capacity * 1e3
        it_fluid, fac_fluid = self.rating_fluids()
        it_capacity = volumetric_heat_capacity(it_fluid, self.rating_temperature)
        fac_capacity = volumetric_heat_capacity(fac_fluid, self.rating_temperature)
        if self.coolant_flow is not None:
            it_flow = self.coolant_flow * LITRES_PER_MINUTE
        else:
            delta = self.coolant_delta_t or DEFAULT_COOLANT_DELTA_T
            it_flow = q / (it_capacity * delta)
        if self.facility_flow is not None:
            fac_flow = self.facility_flow * LITRES_PER_MINUTE
        else:
            delta = self.facility_delta_t or q / (it_capacity * it_flow)
            fac_flow = q / (fac_capacity * delta)
        return it_flow, fac_flow

    def rated_capacity_rates(self) -> tuple[float, float]:
        """(IT, facility) ρ·c_p·V̇ of the rating fluids at rating [W/K]."""
        it_flow, fac_flow = self.rated_flows()
        it_fluid, fac_fluid = self.rating_fluids()
        return (
            volumetric_heat_capacity(it_fluid, self.rating_temperature) * it_flow,
            volumetric_heat_capacity(fac_fluid, self.rating_temperature) * fac_flow,
        )

    def film_ratios(self) -> tuple[float, float]:
        """(IT, facility) film coefficient of the fluid used over the rating's [-]."""
        ratios = []
        used_fluids = (self.coolant, self.facility_fluid)
        for used, rated in zip(used_fluids, self.rating_fluids(), strict=True):
            if fluid_name(used) == fluid_name(rated):
                ratios.append(1.0)
            elif isinstance(used, CustomFluid) or isinstance(rated, CustomFluid):
                raise FieldProblem(
                    "rated_coolant",
                    "a fluid other than the rating's needs conductivity and viscosity: "
                    "expected 'water' or 'pg25' on both",
                )
            else:
                ratio = film_coefficient_ratio(fluid(used), fluid(rated), self.rating_temperature)
                ratios.append(ratio)
        return ratios[0], ratios[1]


class DryCoolers(SchemaModel):
    """Identical dry coolers (closed fluid coolers, no spray) on the facility loop."""

    count: int = Field(ge=1, le=500, description="Units installed [-].")
    capacity: Kilowatt = Field(
        gt=0, description="Nominal heat rejection of one unit at the design conditions [kW]."
    )
    design_entering_water_temperature: Celsius = Field(
        description="Entering water temperature of the rating [°C]."
    )
    design_entering_air_temperature: Celsius = Field(
        description="Entering (ambient) air temperature of the rating [°C]."
    )
    air_flow: CubicMetrePerSecond = Field(gt=0, description="Air flow of one unit [m³/s].")
    fan_power: Kilowatt = Field(ge=0, description="Fan power of one unit at full speed [kW].")
    minimum_fan_speed: Fraction = Field(
        0.2, gt=0, description="Lowest fan speed before the fans cycle [-]."
    )

    @model_validator(mode="after")
    def _design(self) -> DryCoolers:
        if self.design_entering_water_temperature <= self.design_entering_air_temperature:
            raise FieldProblem(
                "design_entering_water_temperature",
                "expected a temperature above design_entering_air_temperature",
            )
        return self


class LoopTowers(SchemaModel):
    """Cooling towers (closed-circuit, or open with an exchanger) on the facility loop."""

    approach: Kelvin = Field(4.0, ge=0, description="Leaving water minus wet bulb [K].")
    fan_power: Kilowatt = Field(ge=0, description="Fan power at design rejection [kW].")
    design_heat_rejection: Kilowatt = Field(gt=0, description="Heat rejected at design [kW].")


class FacilityLoop(SchemaModel):
    """Warm-water facility loop (ASHRAE W classes): dry coolers, towers, trim chillers."""

    supply_temperature: Celsius = Field(
        30.0, description="Loop supply setpoint [°C] (limited by the site's liquid class)."
    )
    fluid: FluidSpec = Field("water", description="Loop fluid.")
    pump_power: Kilowatt = Field(0.0, ge=0, description="Loop pump power at design flow [kW].")
    dry_coolers: DryCoolers | None = Field(None, description="Dry coolers, first stage.")
    towers: LoopTowers | None = Field(None, description="Cooling towers, second stage.")
    trim_chillers: Chillers | None = Field(
        None,
        description="Air-cooled trim chillers, last stage (their condensers see the outdoor "
        "dry bulb; use an air-cooled record or curves).",
    )

    @model_validator(mode="after")
    def _something_rejects(self) -> FacilityLoop:
        if self.dry_coolers is None and self.towers is None and self.trim_chillers is None:
            raise ValueError("give dry_coolers, towers or trim_chillers (at least one)")
        return self


def rated_ua(cdu: CDU) -> float:
    """UA of ``cdu`` at its rated flows with the fluids it runs [W/K].

    UA of the datasheet rating from its approach (rating fluids), then each side's film
    coefficient times its fluid's film ratio (:func:`physics.liquid.exchanger.scaled_ua`);
    the model validated that a UA exists.
    """
    it_rate, fac_rate = cdu.rated_capacity_rates()
    rated = rated_ua_for_approach(cdu.capacity * 1e3, cdu.approach, it_rate, fac_rate)
    g_it, g_fac = cdu.film_ratios()
    return float(np.asarray(scaled_ua(rated, 1.0, 1.0, FILM_EXPONENT, g_it, g_fac)))
