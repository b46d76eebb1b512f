"""Pydantic field types for quantities with units, used by the scenario schema.

``Kilowatt`` is a float in kW; YAML may give ``120`` or ``"0.12 MW"``.  The JSON Schema of
each type says its unit under ``x-unit`` and accepts a number or a string.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

from twin.scenario.units import to_unit


def quantity(unit: str) -> Any:
    """``Annotated[float, ...]`` parsed from a number in ``unit`` or a string with a unit."""

    def parse(value: Any) -> float:
        return to_unit(value, unit)

    schema = {
        "anyOf": [
            {"type": "number"},
            {"type": "string", "description": f"number with a unit convertible to {unit}"},
        ],
        "x-unit": unit,
    }
    return Annotated[float, BeforeValidator(parse), WithJsonSchema(schema)]


Kilowatt = quantity("kW")
KilowattHour = quantity("kWh")
Celsius = quantity("degC")
Kelvin = quantity("delta_degC")
Milliohm = quantity("milliohm")
Volt = quantity("V")
Ampere = quantity("A")
CubicMetrePerSecond = quantity("m^3/s")
Metre = quantity("m")
Hours = quantity("h")
LitrePerMinute = quantity("L/min")
KelvinPerWatt = quantity("K/W")
Kilogram = quantity("kg")
CubicMetre = quantity("m^3")
JoulePerKilogramKelvin = quantity("J/(kg*K)")
KilogramPerCubicMetre = quantity("kg/m^3")
