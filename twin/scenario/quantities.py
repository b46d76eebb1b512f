"""Pydantic field types for quantities with units, used by the scenario schema.

``Kilowatt`` is a float in kW; YAML may give ``120`` or ``"0.12 MW"``.  The JSON Schema of
each type says its unit under ``x-unit`` and accepts a number or a string.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

from twin.scenario.units import to_unit

LARGEST = 1e9
"""Largest magnitude of any scenario quantity in its unit (1 TW in kW, 1 TWh in kWh): beyond
it a value is a typo or an attack, and the planner's LP would fail numerically (a 1e30 kWh
battery ended as "HiGHS stopped with error")."""


def quantity(unit: str) -> Any:
    """``Annotated[float, ...]`` parsed from a number in ``unit`` or a string with a unit,
    at most :data:`LARGEST` in magnitude."""

    def parse(value: Any) -> float:
        number = to_unit(value, unit)
        if abs(number) > LARGEST:
            raise ValueError(f"{number:.3g} {unit} is beyond the plausible range (±{LARGEST:g})")
        return number

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
