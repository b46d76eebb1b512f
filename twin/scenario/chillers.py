"""Scenario sections of chillers: named EnergyPlus records or curves given field by field.

``curves`` of :class:`Chillers` is either the name of a record of
:data:`physics.chiller_records.CHILLER_RECORDS` or an EnergyPlus ``Chiller:Electric:EIR``
object written with its field names in snake_case, e.g.::

    curves:
      reference_capacity: 1758.3 kW
      reference_cop: 6.46
      reference_leaving_chilled_water_temperature: 5.56 degC
      reference_entering_condenser_fluid_temperature: 24.44 degC
      cooling_capacity_function_of_temperature_curve:
        coefficient1_constant: 1.066671
        ...                            # coefficient2_x … coefficient6_x_y
        minimum_value_of_x: 5.56       # leaving chilled water [°C]
        maximum_value_of_x: 10.0
        minimum_value_of_y: 12.78      # entering condenser [°C]
        maximum_value_of_y: 24.44
      electric_input_to_cooling_output_ratio_function_of_temperature_curve: {...}
      electric_input_to_cooling_output_ratio_function_of_part_load_ratio_curve:
        coefficient1_constant: 0.3268954
        coefficient2_x: 0.3297771
        coefficient3_x_2: 0.3423342
        minimum_value_of_x: 0.0
        maximum_value_of_x: 1.02
      minimum_part_load_ratio: 0.2
      maximum_part_load_ratio: 1.02
      minimum_unloading_ratio: 0.2

The chillers are rated to the section's ``capacity`` and ``cop``; the curves (normalized)
keep their shape and their limits.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, Tag, model_validator

from physics.chiller_records import CHILLER_RECORDS
from twin.scenario.errors import FieldProblem
from twin.scenario.fields import FIELDS_TAG, NAMED_TAG, Kelvin, SchemaModel, named_or_fields
from twin.scenario.quantities import Celsius, Kilowatt

NamedChiller = Literal[
    "mcquay-wsc-471kw",
    "carrier-19xr-1259kw",
    "york-yk-1997kw",
    "trane-cvhf-1758kw-vsd",
    "trane-rthc-707kw-screw",
]
"""Names of :data:`physics.chiller_records.CHILLER_RECORDS` (checked equal in the tests)."""


class BiquadraticCurveFields(SchemaModel):
    """EnergyPlus ``Curve:Biquadratic``: c1 + c2·x + c3·x² + c4·y + c5·y² + c6·x·y."""

    coefficient1_constant: float = Field(examples=[0.252113], description="c1 [-].")
    coefficient2_x: float = Field(examples=[0.01324053], description="c2 [1/°C].")
    coefficient3_x_2: float = Field(examples=[-0.008637329], description="c3 [1/°C²].")
    coefficient4_y: float = Field(examples=[0.08581056], description="c4 [1/°C].")
    coefficient5_y_2: float = Field(examples=[-0.004261176], description="c5 [1/°C²].")
    coefficient6_x_y: float = Field(examples=[0.008661899], description="c6 [1/°C²].")
    minimum_value_of_x: float = Field(
        examples=[7.22], description="Lowest leaving chilled water [°C]."
    )
    maximum_value_of_x: float = Field(
        examples=[12.78], description="Highest leaving chilled water [°C]."
    )
    minimum_value_of_y: float = Field(
        examples=[12.78], description="Lowest entering condenser temperature [°C]."
    )
    maximum_value_of_y: float = Field(
        examples=[26.67], description="Highest entering condenser temperature [°C]."
    )
    minimum_curve_output: float | None = Field(
        None, examples=[0.0], description="Output floor [-]."
    )
    maximum_curve_output: float | None = Field(
        None, examples=[1.2], description="Output ceiling [-]."
    )

    @model_validator(mode="after")
    def _ordered(self) -> BiquadraticCurveFields:
        if self.minimum_value_of_x > self.maximum_value_of_x:
            raise FieldProblem("maximum_value_of_x", "expected a value >= minimum_value_of_x")
        if self.minimum_value_of_y > self.maximum_value_of_y:
            raise FieldProblem("maximum_value_of_y", "expected a value >= minimum_value_of_y")
        return self


class QuadraticCurveFields(SchemaModel):
    """EnergyPlus ``Curve:Quadratic``: c1 + c2·x + c3·x² in part-load ratio x."""

    coefficient1_constant: float = Field(examples=[0.2778889], description="c1 [-].")
    coefficient2_x: float = Field(examples=[0.2338363], description="c2 [-].")
    coefficient3_x_2: float = Field(examples=[0.4883748], description="c3 [-].")
    minimum_value_of_x: float = Field(examples=[0.1], description="Lowest part-load ratio [-].")
    maximum_value_of_x: float = Field(examples=[1.15], description="Highest part-load ratio [-].")
    minimum_curve_output: float | None = Field(
        None, examples=[0.0], description="Output floor [-]."
    )
    maximum_curve_output: float | None = Field(
        None, examples=[1.2], description="Output ceiling [-]."
    )

    @model_validator(mode="after")
    def _ordered(self) -> QuadraticCurveFields:
        if self.minimum_value_of_x > self.maximum_value_of_x:
            raise FieldProblem("maximum_value_of_x", "expected a value >= minimum_value_of_x")
        return self


_Biquadratic = BiquadraticCurveFields
_Quadratic = QuadraticCurveFields


class ElectricEIRChiller(SchemaModel):
    """An EnergyPlus ``Chiller:Electric:EIR`` object, field names in snake_case."""

    reference_capacity: Kilowatt = Field(
        examples=["471.2 kW"], gt=0, description="Reference capacity [kW]."
    )
    reference_cop: float = Field(examples=[5.89], gt=0, le=20, description="Reference COP [-].")
    reference_leaving_chilled_water_temperature: Celsius = Field(
        examples=["8.89 degC"], description="Leaving chilled water temperature of the rating [°C]."
    )
    reference_entering_condenser_fluid_temperature: Celsius = Field(
        examples=["26.67 degC"],
        description="Entering condenser fluid temperature of the rating [°C].",
    )
    cooling_capacity_function_of_temperature_curve: BiquadraticCurveFields = Field(
        description="CAPFT curve (x: leaving chilled water, y: entering condenser)."
    )
    electric_input_to_cooling_output_ratio_function_of_temperature_curve: _Biquadratic = Field(
        description="EIRFT curve (same inputs)."
    )
    electric_input_to_cooling_output_ratio_function_of_part_load_ratio_curve: _Quadratic = Field(
        description="EIRFPLR curve (x: part-load ratio)."
    )
    minimum_part_load_ratio: float = Field(
        examples=[0.1], gt=0, le=1, description="Cycling below [-]."
    )
    maximum_part_load_ratio: float = Field(
        examples=[1.15], gt=0, le=2, description="Highest PLR [-]."
    )
    minimum_unloading_ratio: float = Field(
        examples=[0.1], gt=0, le=1, description="False loading below [-]."
    )

    @model_validator(mode="after")
    def _part_load(self) -> ElectricEIRChiller:
        low, unload, high = (
            self.minimum_part_load_ratio,
            self.minimum_unloading_ratio,
            self.maximum_part_load_ratio,
        )
        if not low <= unload <= high:
            raise FieldProblem(
                "minimum_unloading_ratio",
                f"expected minimum_part_load_ratio ({low:g}) <= minimum_unloading_ratio "
                f"({unload:g}) <= maximum_part_load_ratio ({high:g})",
            )
        return self


ChillerCurves = Annotated[
    Annotated[NamedChiller, Tag(NAMED_TAG)] | Annotated[ElectricEIRChiller, Tag(FIELDS_TAG)],
    named_or_fields(
        ElectricEIRChiller,
        error_type="chiller_curves",
        message="expected a named chiller record ("
        + ", ".join(sorted(CHILLER_RECORDS))
        + ") or the fields of an EnergyPlus Chiller:Electric:EIR object",
    ),
]
"""A named EnergyPlus reference chiller, or an EnergyPlus object given field by field."""


class Chillers(SchemaModel):
    """Identical electric chillers (EnergyPlus Chiller:Electric:EIR form)."""

    count: int = Field(2, ge=1, le=50, description="Installed chillers [-].")
    redundancy: int = Field(1, ge=0, description="Spare chillers (N+k) [-].")
    capacity: Kilowatt = Field(gt=0, description="Reference capacity of one chiller [kW].")
    cop: float = Field(5.89, gt=0, le=20, description="Reference COP [-].")
    curves: ChillerCurves = Field(
        "mcquay-wsc-471kw",
        description="Performance curves: a named EnergyPlus reference record or a "
        "Chiller:Electric:EIR object with its curves (EnergyPlus field names).",
    )

    @model_validator(mode="after")
    def _redundancy(self) -> Chillers:
        if self.redundancy >= self.count:
            raise FieldProblem(
                "redundancy",
                f"{self.redundancy} spare chillers leave none to carry load; expected fewer "
                f"than count ({self.count})",
            )
        return self


class Economizer(SchemaModel):
    """Water-side economizer: tower water pre-cools chilled water through a heat exchanger."""

    enabled: bool = Field(True, description="Whether the economizer is installed and used.")
    approach: Kelvin = Field(1.5, ge=0, description="Heat-exchanger approach [K].")
    mode: Literal["integrated", "non-integrated"] = Field(
        "integrated",
        description="'integrated': the economizer pre-cools and the chillers trim the rest; "
        "'non-integrated': the economizer runs only when it carries the whole load.",
    )
