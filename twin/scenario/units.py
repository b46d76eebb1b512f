"""Unit parsing at the edge: user input with units → numbers in the documented unit.

A scenario field documents one unit (``design_power`` in kW).  Users may write a bare number
(taken in that unit) or a string with a unit (``"120 kW"``, ``"0.12 MW"``, ``"64.4 degF"``),
which is converted here with pint.  Everything downstream sees plain floats.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

import pint

_NUMBER_WITH_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")

# Spellings users of facility data write that pint does not know, or misreads
# ("cfm" would otherwise be centi-fermi).
_ALIASES = {
    "cfm": "cubic_foot / minute",
    "CFM": "cubic_foot / minute",
    "mOhm": "milliohm",
    "Ohm": "ohm",
    "kOhm": "kiloohm",
    "°C": "degC",
    "°F": "degF",
    "C": "degC",
    "F": "degF",
    "%": "percent",
    "pct": "percent",
    "RT": "refrigeration_ton",
    "TR": "refrigeration_ton",
    "tons": "refrigeration_ton",
    "lpm": "liter / minute",
    "gpm": "gallon / minute",
}


class UnitError(ValueError):
    """A value could not be read or converted to the documented unit."""


@lru_cache(maxsize=1)
def registry() -> pint.UnitRegistry:
    """The shared pint registry (built once; about 0.3 s)."""
    return pint.UnitRegistry(autoconvert_offset_to_baseunit=True)


@lru_cache(maxsize=256)
def _unit(text: str) -> Any:
    return registry().parse_units(_ALIASES.get(text, text))


def to_unit(value: Any, unit: str) -> float:
    """Convert ``value`` to a float in ``unit``.

    Parameters
    ----------
    value
        A number (already in ``unit``), or a string: a number alone (taken in ``unit``) or a
        number followed by a unit, e.g. ``"120 kW"``, ``"64.4 degF"``, ``"0.1 mOhm"``.
    unit
        Target unit, pint syntax (``"kW"``, ``"degC"``, ``"m^3/s"``, ``"delta_degC"``).

    Returns
    -------
    float
        The value in ``unit``.

    Raises
    ------
    UnitError
        When the text is not a number with a unit, the unit is unknown, or its dimension does
        not match ``unit`` (e.g. ``"5 kWh"`` for a power).
    """
    if isinstance(value, bool):
        raise UnitError(f"expected a number in {unit}, got a boolean")
    if isinstance(value, int | float):
        number = float(value)
        if not math.isfinite(number):
            raise UnitError(f"expected a finite number in {unit}, got {value}")
        return number
    if not isinstance(value, str):
        raise UnitError(f"expected a number in {unit} or a string like '12 {unit}'")
    match = _NUMBER_WITH_UNIT.match(value)
    if match is None:
        raise UnitError(f"could not read {value!r} as a number with a unit (e.g. '12 {unit}')")
    number, text = float(match.group(1)), match.group(2)
    if not text:
        return number
    try:
        source = _unit(text)
    except (pint.errors.UndefinedUnitError, AttributeError, TypeError, ValueError) as exc:
        raise UnitError(f"unknown unit {text!r} in {value!r}") from exc
    target = _unit(unit)
    ureg = registry()
    try:
        converted = ureg.Quantity(number, source).to(target).magnitude
    except pint.errors.DimensionalityError as exc:
        raise UnitError(
            f"{value!r} is not convertible to {unit} "
            f"({ureg.get_dimensionality(source)} vs {ureg.get_dimensionality(target)})"
        ) from exc
    return float(converted)
