"""The one unit formatter of the UI: CF unit strings as people read them, numbers with units.

The variables registry (:mod:`physics.variables`) writes units as CF/UDUNITS strings
(``"degC"``, ``"USD MWh-1"``, ``"g kW-1 h-1"``, ``"1"``); the pages show ``°C``, ``USD/MWh``,
``g/kWh`` and ``%``.  Powers scale to kW or MW by size, energies to kWh or MWh.
"""

from __future__ import annotations

import math
import re

_NAMED = {
    "degC": "°C",
    "degree_Celsius": "°C",
    "celsius": "°C",
    "1": "-",
    "": "",
    "m3 s-1": "m³/s",
    "m3/s": "m³/s",
    "W m-2": "W/m²",
}
_POWERS = {"2": "²", "3": "³"}


def unit_text(units: str | None) -> str:
    """A CF unit string as shown: ``"USD MWh-1"`` → ``"USD/MWh"``, ``"degC"`` → ``"°C"``.

    Parameters
    ----------
    units
        CF/UDUNITS unit string (``"1"``, a fraction, is ``-`` on an axis and ``%`` in
        :func:`format_value`, which scales it).

    Returns
    -------
    str
        The unit for labels and values.
    """
    if units is None:
        return ""
    text = units.strip()
    if text in _NAMED:
        return _NAMED[text]
    above, below = [], []
    for token in text.split():
        match = re.fullmatch(r"([A-Za-z°µ_]+)(-?\d+)?", token)
        if match is None:
            return text
        name, power = match.group(1), match.group(2)
        if power is not None and power.startswith("-"):
            exponent = power[1:]
            below.append(name + ("" if exponent == "1" else _POWERS.get(exponent, exponent)))
        else:
            above.append(name + ("" if power in (None, "1") else _POWERS.get(power, power)))
    shown = " ".join(above) or "1"
    return f"{shown}/{''.join(below)}" if below else shown


def axis_title(long_name: str, units: str | None) -> str:
    """``"Electricity price [USD/MWh]"``; no brackets without a unit."""
    shown = unit_text(units)
    return f"{long_name} [{shown}]" if shown else long_name


def scale(units: str | None) -> float:
    """Factor from a value in ``units`` to the shown unit (100 for a fraction, else 1)."""
    return 100.0 if (units or "").strip() == "1" else 1.0


def format_power(kilowatts: float | None, digits: int = 3) -> str:
    """A power with kW or MW by size: ``"850 kW"``, ``"531.5 MW"``; ``"–"`` when unknown."""
    if kilowatts is None or not math.isfinite(kilowatts):
        return "–"
    if abs(kilowatts) >= 1000.0:
        return f"{_significant(kilowatts / 1000.0, digits + 1)} MW"
    return f"{_significant(kilowatts, digits)} kW"


def format_energy(kilowatt_hours: float | None, digits: int = 3) -> str:
    """An energy with kWh or MWh by size: ``"850 kWh"``, ``"12.4 MWh"``."""
    if kilowatt_hours is None or not math.isfinite(kilowatt_hours):
        return "–"
    if abs(kilowatt_hours) >= 1000.0:
        return f"{_significant(kilowatt_hours / 1000.0, digits + 1)} MWh"
    return f"{_significant(kilowatt_hours, digits)} kWh"


def format_value(value: float | None, units: str | None, digits: int = 3) -> str:
    """A value in CF ``units`` as shown: ``"23.4 °C"``, ``"42.1 USD/MWh"``, ``"85 %"``.

    Powers in ``kW`` or ``W`` and energies in ``kWh`` scale to MW/MWh when large.
    """
    if value is None or not math.isfinite(value):
        return "–"
    text = (units or "").strip()
    if text == "kW":
        return format_power(value, digits)
    if text == "W":
        return format_power(value / 1000.0, digits)
    if text == "kWh":
        return format_energy(value, digits)
    shown = "%" if text == "1" else unit_text(text)
    number = _significant(value * scale(text), digits)
    return f"{number} {shown}".strip()


def _significant(value: float, digits: int) -> str:
    """``value`` with about ``digits`` significant figures, thousands separated, no exponent."""
    if value == 0:
        return "0"
    decimals = max(digits - 1 - math.floor(math.log10(abs(value))), 0)
    return f"{value:,.{decimals}f}"


__all__ = [
    "axis_title",
    "format_energy",
    "format_power",
    "format_value",
    "scale",
    "unit_text",
]
