"""Moist-air psychrometrics (SI), after the 2017 ASHRAE Handbook — Fundamentals, chapter 1.

Only what the plant and air-side models need: saturation vapour pressure (Hyland–Wexler,
eqs. 5 and 6), standard-atmosphere pressure at an elevation (eq. 3), humidity ratio from
relative humidity (eqs. 20, 22 and 24 with the ideal-gas relation φ = p_w/p_ws), the
psychrometric equation that links humidity ratio to thermodynamic wet-bulb temperature
(eqs. 33 and 35) and its inverse, the wet-bulb temperature, solved by vectorized bisection.

All functions broadcast their arguments (numpy rules) and return float64 arrays (0-d for
scalar input).  Relative humidity is in percent (0–100), matching the weather series.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from physics.constants import STANDARD_PRESSURE
from physics.runtime.memo import LastSeen, digest

FloatArray = NDArray[np.float64]

__all__ = [
    "humidity_ratio",
    "humidity_ratio_from_wet_bulb",
    "pressure_at_elevation",
    "saturation_humidity_ratio",
    "saturation_vapor_pressure",
    "wet_bulb_temperature",
]

_ZERO_CELSIUS = 273.15
"""0 °C in kelvin [K]."""

_MOLAR_MASS_RATIO = 0.621945
"""Ratio of the molar masses of water vapour and dry air, M_w/M_da [-] (ASHRAE eq. 20)."""

# ASHRAE 2017 Fundamentals ch. 1, eq. 5 (over ice, -100..0 °C), T in K, p_ws in Pa.
_ICE = (-5.6745359e03, 6.3925247e00, -9.6778430e-03, 6.2215701e-07, 2.0747825e-09, -9.4840240e-13)
_ICE_LOG = 4.1635019e00
# ASHRAE 2017 Fundamentals ch. 1, eq. 6 (over liquid water, 0..200 °C).
_WATER = (-5.8002206e03, 1.3914993e00, -4.8640239e-02, 4.1764768e-05, -1.4452093e-08)
_WATER_LOG = 6.5459673e00

_BISECTION_ITERATIONS = 60
"""Halvings of the wet-bulb bracket; 60 take a 200 K bracket below 1e-15 K."""

_LOWEST_WET_BULB = -100.0
"""Lower end of the wet-bulb search bracket [°C] (lower validity limit of eq. 5)."""


def saturation_vapor_pressure(temperature: ArrayLike) -> FloatArray:
    """Saturation pressure of water vapour (Hyland–Wexler).

    ASHRAE Handbook — Fundamentals 2017, ch. 1, eq. 5 (over ice, used below 0 °C) and eq. 6
    (over liquid water, 0 °C and above).  Valid from -100 °C to 200 °C; ASHRAE states the
    formulas are within 300 ppm of the tabulated values over that range.

    Parameters
    ----------
    temperature
        Temperature [°C].

    Returns
    -------
    numpy.ndarray
        Saturation vapour pressure [Pa].
    """
    t = np.asarray(temperature, dtype=float)
    kelvin = t + _ZERO_CELSIUS
    c1, c2, c3, c4, c5, c6 = _ICE
    log_ice = (
        c1 / kelvin
        + c2
        + kelvin * (c3 + kelvin * (c4 + kelvin * (c5 + kelvin * c6)))
        + _ICE_LOG * np.log(kelvin)
    )
    c8, c9, c10, c11, c12 = _WATER
    log_water = (
        c8 / kelvin
        + c9
        + kelvin * (c10 + kelvin * (c11 + kelvin * c12))
        + _WATER_LOG * np.log(kelvin)
    )
    return np.asarray(np.exp(np.where(t < 0.0, log_ice, log_water)), dtype=float)


def pressure_at_elevation(elevation: ArrayLike) -> FloatArray:
    """Standard-atmosphere barometric pressure at an elevation.

    ASHRAE Handbook — Fundamentals 2017, ch. 1, eq. 3:
    ``p = 101.325 (1 − 2.25577e-5 Z)^5.2559`` kPa.  Valid from -5000 m to 11 000 m.

    Parameters
    ----------
    elevation
        Elevation above sea level [m].

    Returns
    -------
    numpy.ndarray
        Barometric pressure [Pa].
    """
    z = np.asarray(elevation, dtype=float)
    return np.asarray(STANDARD_PRESSURE * (1.0 - 2.25577e-5 * z) ** 5.2559, dtype=float)


def saturation_humidity_ratio(
    temperature: ArrayLike, pressure: ArrayLike = STANDARD_PRESSURE
) -> FloatArray:
    """Humidity ratio of saturated moist air.

    ASHRAE Handbook — Fundamentals 2017, ch. 1, eq. 23: ``W_s = 0.621945 p_ws/(p − p_ws)``.

    Parameters
    ----------
    temperature
        Temperature [°C].
    pressure
        Total (barometric) pressure [Pa].

    Returns
    -------
    numpy.ndarray
        Saturation humidity ratio [kg/kg] (water per dry air).
    """
    p_ws = saturation_vapor_pressure(temperature)
    p = np.asarray(pressure, dtype=float)
    return np.asarray(_MOLAR_MASS_RATIO * p_ws / (p - p_ws), dtype=float)


def humidity_ratio(
    dry_bulb: ArrayLike,
    relative_humidity: ArrayLike,
    pressure: ArrayLike = STANDARD_PRESSURE,
) -> FloatArray:
    """Humidity ratio from dry-bulb temperature and relative humidity.

    ``p_w = φ·p_ws(t)`` (ASHRAE 2017 ch. 1 eq. 24, ideal-gas form of the definition in eq. 22)
    and ``W = 0.621945 p_w/(p − p_w)`` (eq. 20).

    Parameters
    ----------
    dry_bulb
        Dry-bulb temperature [°C].
    relative_humidity
        Relative humidity [%] (0–100).
    pressure
        Total (barometric) pressure [Pa].

    Returns
    -------
    numpy.ndarray
        Humidity ratio [kg/kg] (water per dry air).
    """
    phi = np.asarray(relative_humidity, dtype=float) / 100.0
    p_w = phi * saturation_vapor_pressure(dry_bulb)
    p = np.asarray(pressure, dtype=float)
    return np.asarray(_MOLAR_MASS_RATIO * p_w / (p - p_w), dtype=float)


def humidity_ratio_from_wet_bulb(
    dry_bulb: ArrayLike,
    wet_bulb: ArrayLike,
    pressure: ArrayLike = STANDARD_PRESSURE,
) -> FloatArray:
    """Humidity ratio from dry-bulb and thermodynamic wet-bulb temperature.

    The psychrometric equation, ASHRAE Handbook — Fundamentals 2017, ch. 1, eq. 33 (wet bulb
    at or above 0 °C, water film) and eq. 35 (wet bulb below 0 °C, ice film)::

        W = ((2501 − 2.326 t*) W*_s − 1.006 (t − t*)) / (2501 + 1.86 t − 4.186 t*)
        W = ((2830 − 0.24 t*) W*_s − 1.006 (t − t*)) / (2830 + 1.86 t − 2.1 t*)

    with ``W*_s`` the saturation humidity ratio at the wet-bulb temperature.

    Parameters
    ----------
    dry_bulb
        Dry-bulb temperature t [°C].
    wet_bulb
        Thermodynamic wet-bulb temperature t* [°C].
    pressure
        Total (barometric) pressure [Pa].

    Returns
    -------
    numpy.ndarray
        Humidity ratio [kg/kg] (water per dry air).  Negative values mean the pair is not
        physical (wet bulb too low for the dry bulb).
    """
    t = np.asarray(dry_bulb, dtype=float)
    ts = np.asarray(wet_bulb, dtype=float)
    w_s = saturation_humidity_ratio(ts, pressure)
    water = ((2501.0 - 2.326 * ts) * w_s - 1.006 * (t - ts)) / (2501.0 + 1.86 * t - 4.186 * ts)
    ice = ((2830.0 - 0.24 * ts) * w_s - 1.006 * (t - ts)) / (2830.0 + 1.86 * t - 2.1 * ts)
    return np.asarray(np.where(ts >= 0.0, water, ice), dtype=float)


def wet_bulb_temperature(
    dry_bulb: ArrayLike,
    relative_humidity: ArrayLike,
    pressure: ArrayLike = STANDARD_PRESSURE,
) -> FloatArray:
    """Thermodynamic wet-bulb temperature from dry bulb and relative humidity.

    Solves the psychrometric equation (:func:`humidity_ratio_from_wet_bulb`, ASHRAE 2017
    ch. 1 eqs. 33/35) for ``t*`` such that it gives the humidity ratio of the air
    (:func:`humidity_ratio`), by vectorized bisection with a fixed 60 halvings (bracket width
    far below 1e-9 K for every element at once).

    The two branches of the equation (water film for t* ≥ 0, eq. 33; ice film below, eq. 35)
    do not meet at t* = 0: for t > 0 the ice branch gives the larger humidity ratio there.
    Each branch is monotonic in t*, but for air whose wet bulb lies close to 0 °C both can
    have a self-consistent root (one at or above 0 °C on eq. 33, one below on eq. 35).  This
    function takes the water-film root whenever it exists (t ≥ 0 and W ≥ W_eq33(t, t*=0)),
    otherwise the ice-film root, searched in [-100 °C, min(t, 0 °C)].

    Parameters
    ----------
    dry_bulb
        Dry-bulb temperature [°C] (-100 to 200).
    relative_humidity
        Relative humidity [%] (0–100).
    pressure
        Total (barometric) pressure [Pa].

    Returns
    -------
    numpy.ndarray
        Wet-bulb temperature [°C], shaped like the broadcast inputs; NaN where an input is
        NaN (gaps in weather series stay gaps).
    """
    t, rh, p = np.broadcast_arrays(
        np.asarray(dry_bulb, dtype=float),
        np.asarray(relative_humidity, dtype=float),
        np.asarray(pressure, dtype=float),
    )
    target = humidity_ratio(t, rh, p)
    water = (t >= 0.0) & (target >= humidity_ratio_from_wet_bulb(t, np.zeros(t.shape), p))
    low = np.where(water, 0.0, _LOWEST_WET_BULB)
    high = np.where(water, t, np.minimum(t, 0.0))
    for _ in range(_BISECTION_ITERATIONS):
        middle = 0.5 * (low + high)
        # midpoints stay strictly inside each branch's bracket, so eq. 33/35 is chosen right
        too_humid = humidity_ratio_from_wet_bulb(t, middle, p) > target
        high = np.where(too_humid, middle, high)
        low = np.where(too_humid, low, middle)
    return np.asarray(np.where(np.isnan(target), np.nan, 0.5 * (low + high)), dtype=float)


def outdoor_temperatures(
    series: Mapping[Hashable, Any], elevation: float, dry_bulb_required: bool = False
) -> tuple[FloatArray, FloatArray]:
    """Outdoor dry- and wet-bulb temperatures of a weather series [°C].

    Parameters
    ----------
    series
        An xarray Dataset (or mapping of arrays) with ``wet_bulb_temperature`` [°C], or
        ``outdoor_temperature`` [°C] and ``relative_humidity`` [%] from which the wet bulb is
        computed at the site pressure; ``outdoor_temperature`` is the dry bulb.
    elevation
        Site elevation [m].
    dry_bulb_required
        Raise when ``outdoor_temperature`` is missing (dry coolers and air-cooled condensers
        need it); otherwise the wet bulb stands in for a missing dry bulb.

    Returns
    -------
    tuple of numpy.ndarray
        (dry bulb, wet bulb) [°C].

    Raises
    ------
    KeyError
        Naming the missing series.
    """
    if "wet_bulb_temperature" in series:
        wet = np.asarray(series["wet_bulb_temperature"].values, dtype=float)
    else:
        missing = [n for n in ("outdoor_temperature", "relative_humidity") if n not in series]
        if missing:
            raise KeyError(
                "simulate needs wet_bulb_temperature or outdoor_temperature and "
                f"relative_humidity in the series; missing: {', '.join(missing)}"
            )
        wet = _weather_wet_bulb(
            series["outdoor_temperature"].values,
            series["relative_humidity"].values,
            float(pressure_at_elevation(elevation)),
        )
    if "outdoor_temperature" in series:
        return np.asarray(series["outdoor_temperature"].values, dtype=float), wet
    if dry_bulb_required:
        raise KeyError(
            "the facility loop has dry coolers or trim chillers, which need "
            "outdoor_temperature (dry bulb) in the series"
        )
    return wet, wet


_WET_BULBS: LastSeen[FloatArray] = LastSeen(8)
"""Wet bulbs of the last 8 weather series seen, by a digest of their exact input."""


def _weather_wet_bulb(dry_bulb: Any, relative_humidity: Any, pressure: float) -> FloatArray:
    """:func:`wet_bulb_temperature` of a weather series [°C], remembered for its exact input.

    A plan simulates the same look-ahead a dozen times (baselines, linearization,
    verification): the 60-halving bisection then runs once per distinct series.  The key is
    a digest of the inputs' bytes, dtype and shape and of the pressure [Pa]
    (:func:`physics.runtime.memo.digest`), so a hit returns exactly what the computation gave
    for the same input (a copy: callers own their arrays).
    """
    dry, rh = np.asarray(dry_bulb), np.asarray(relative_humidity)
    key = digest(dry, rh, np.float64(pressure))
    wet = _WET_BULBS.get(key)
    if wet is None:
        wet = np.asarray(wet_bulb_temperature(dry, rh, pressure), dtype=float)
        _WET_BULBS.put(key, wet)
    return wet.copy()
