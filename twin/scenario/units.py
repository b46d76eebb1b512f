"""Unit parsing at the edge: user input with units → numbers in the documented unit.

A scenario field documents one unit (``design_power`` in kW).  Users may write a bare number
(taken in that unit) or a string with a unit (``"120 kW"``, ``"0.12 MW"``, ``"64.4 degF"``),
which is converted here with pint.  Everything downstream sees plain floats.

Unit text comes from files and requests, so it is checked before pint sees it: at most
:data:`MAX_UNIT_LENGTH` characters, and every exponent a plain number of magnitude at most
:data:`MAX_EXPONENT` (``m**9**9**9`` would otherwise make pint compute a 370-million-digit
integer).  Whatever pint then raises (``1/0``, an unbalanced ``(``, ``**`` alone) is a
:class:`UnitError` with one line of text, and a result that is not finite is one too.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

import pint

MAX_UNIT_LENGTH = 40
"""Longest unit text read [characters]."""
MAX_EXPONENT = 12
"""Largest magnitude of an exponent in a unit (``m**3``, ``s^-2``) [-]."""

_EXPONENT = re.compile(r"(\*\*|\^)\s*([^\s*/^()]*)")
_PLAIN_NUMBER = re.compile(r"[-+]?\d+(\.\d+)?")
_CHAINED_EXPONENT = re.compile(r"(\*\*|\^)\s*[^\s*/^]*\s*(\*\*|\^)")

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


def _check_unit_text(text: str, value: str) -> None:
    """Refuse unit text pint should not evaluate: too long, or a non-plain or big exponent."""
    if len(text) > MAX_UNIT_LENGTH:
        raise UnitError(
            f"unit text of {len(text)} characters in {_short(value)}; at most {MAX_UNIT_LENGTH}"
        )
    if _CHAINED_EXPONENT.search(text):
        raise UnitError(f"chained unit exponents in {_short(value)}; expected e.g. 'm**3'")
    for match in _EXPONENT.finditer(text):
        operand = match.group(2)
        if not _PLAIN_NUMBER.fullmatch(operand) or abs(float(operand)) > MAX_EXPONENT:
            raise UnitError(
                f"unit exponent {operand or '(none)'!r} in {_short(value)}; expected a plain "
                f"number of magnitude at most {MAX_EXPONENT}, e.g. 'm**3' or 'm^3'"
            )


def _short(value: str) -> str:
    """``value`` quoted, cut to 60 characters."""
    return repr(value if len(value) <= 60 else value[:57] + "...")


@lru_cache(maxsize=256)
def _unit(text: str) -> Any:
    return registry().parse_units(_ALIASES.get(text, text))


def parse_unit(text: str, value: str | None = None) -> Any:
    """The pint unit of ``text`` (an alias such as ``°C`` or pint syntax).

    Parameters
    ----------
    text
        Unit text, e.g. ``"kW"``, ``"m^3/s"``, ``"°F"``.
    value
        The whole value the unit came with, for the message (default ``text``).

    Raises
    ------
    UnitError
        Unknown unit, or text pint cannot read (one line, whatever pint raised).
    """
    _check_unit_text(text, value or text)
    try:
        return _unit(text)
    except Exception as exc:  # pint raises many types on bad text (TokenError, ...)
        raise UnitError(f"unknown unit {text!r} in {_short(value or text)}") from exc


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
        try:
            number = float(value)
        except OverflowError:  # an int beyond the float range
            raise UnitError(f"expected a finite number in {unit}, got a larger integer") from None
        if not math.isfinite(number):
            raise UnitError(f"expected a finite number in {unit}, got {value}")
        return number
    if not isinstance(value, str):
        raise UnitError(f"expected a number in {unit} or a string like '12 {unit}'")
    match = _NUMBER_WITH_UNIT.match(value)
    if match is None:
        raise UnitError(
            f"could not read {_short(value)} as a number with a unit (e.g. '12 {unit}')"
        )
    number, text = float(match.group(1)), match.group(2)
    if not math.isfinite(number):
        raise UnitError(f"expected a finite number in {unit}, got {_short(value)}")
    if not text:
        return number
    source = parse_unit(text, value)
    target = _unit(unit)
    ureg = registry()
    try:
        converted = float(ureg.Quantity(number, source).to(target).magnitude)
    except pint.errors.DimensionalityError as exc:
        raise UnitError(
            f"{value!r} is not convertible to {unit} "
            f"({ureg.get_dimensionality(source)} vs {ureg.get_dimensionality(target)})"
        ) from exc
    except Exception as exc:  # offset-unit calculus, overflow, ...: one line, no traceback
        raise UnitError(f"cannot convert {_short(value)} to {unit}") from exc
    if not math.isfinite(converted):
        raise UnitError(f"{_short(value)} is not a finite number in {unit}")
    return converted
