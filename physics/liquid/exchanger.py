"""Effectiveness–NTU relations of the heat exchangers in the liquid path.

For a heat exchanger with heat-capacity rates C_hot and C_cold (ṁ·c_p [W/K]),
``C_min = min``, ``C_r = C_min/C_max``, ``NTU = UA/C_min`` and the heat transferred is

    Q = ε(NTU, C_r)·C_min·(T_hot,in − T_cold,in)

(the effectiveness relations tabulated in Incropera, DeWitt et al., *Fundamentals of Heat
and Mass Transfer*, ch. 11):

* counterflow (a CDU's brazed-plate exchanger)::

      ε = (1 − exp(−NTU·(1 − C_r))) / (1 − C_r·exp(−NTU·(1 − C_r))),   ε = NTU/(1 + NTU) at C_r = 1

* cross-flow, both streams unmixed (a dry cooler's finned coil), the approximation
  EnergyPlus ``FluidCooler:SingleSpeed``/``TwoSpeed`` evaluate (``FluidCoolers.cc``,
  ``SimSimpleFluidCooler``)::

      ε = 1 − exp((1/C_r)·NTU^0.22·(exp(−C_r·NTU^0.78) − 1))

UA changes with the flows: with the film resistances of the two sides equal at the rated
flows and each film coefficient ∝ flow^n (Dittus–Boelter, n = 0.8, for turbulent flow),

    1/UA = (1/(2·UA_rated))·((ṁ_hot/ṁ_hot,rated)^−n + (ṁ_cold/ṁ_cold,rated)^−n)

(:func:`scaled_ua`); wall conduction and fouling are folded into the two film terms.  A
side running another fluid than the rating's at the same volume flow has its film
coefficient times the Dittus–Boelter ratio ``g`` of the two fluids
(:func:`physics.liquid.fluids.film_coefficient_ratio`), so in general

    1/UA = (1/(2·UA_rated))·((ṁ_hot/ṁ_hot,rated)^−n/g_hot + (ṁ_cold/ṁ_cold,rated)^−n/g_cold)
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

__all__ = [
    "FILM_EXPONENT",
    "counterflow_effectiveness",
    "crossflow_effectiveness",
    "scaled_ua",
]

FILM_EXPONENT = 0.8
"""Exponent n of film coefficient on flow, h ∝ ṁ^n (Dittus–Boelter, turbulent) [-]."""


def _ratios(
    ua: ArrayLike, capacity_a: ArrayLike, capacity_b: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(NTU, C_r, C_min) for UA [W/K] and the two heat-capacity rates [W/K]."""
    a, b = np.asarray(capacity_a, dtype=float), np.asarray(capacity_b, dtype=float)
    c_min, c_max = np.minimum(a, b), np.maximum(a, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(c_max > 0, c_min / c_max, 0.0)
        ntu = np.where(c_min > 0, np.asarray(ua, dtype=float) / c_min, 0.0)
    return np.asarray(ntu), np.asarray(ratio), np.asarray(c_min)


def counterflow_effectiveness(
    ua: ArrayLike, capacity_hot: ArrayLike, capacity_cold: ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Effectiveness of a counterflow exchanger and its C_min.

    Parameters
    ----------
    ua
        Overall conductance UA [W/K].
    capacity_hot, capacity_cold
        Heat-capacity rates ṁ·c_p of the two streams [W/K].

    Returns
    -------
    tuple of numpy.ndarray
        (ε [-], C_min [W/K]); ε = 0 where either stream has no flow.
    """
    ntu, ratio, c_min = _ratios(ua, capacity_hot, capacity_cold)
    balanced = np.abs(1.0 - ratio) < 1e-9
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        decay = np.exp(-ntu * (1.0 - ratio))
        general = (1.0 - decay) / (1.0 - ratio * decay)
    effectiveness = np.where(balanced, ntu / (1.0 + ntu), general)
    effectiveness = np.where(c_min > 0, effectiveness, 0.0)
    return np.asarray(effectiveness, dtype=float), c_min


def crossflow_effectiveness(
    ua: ArrayLike, capacity_a: ArrayLike, capacity_b: ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Effectiveness of a cross-flow exchanger, both streams unmixed, and its C_min.

    The approximation EnergyPlus evaluates for fluid coolers (``SimSimpleFluidCooler``);
    it is within 0.011 (absolute, in ε) of the exact series solution for C_r ≤ 1 and
    0.25 ≤ NTU ≤ 5 (checked in the tests).

    Parameters
    ----------
    ua
        Overall conductance UA [W/K].
    capacity_a, capacity_b
        Heat-capacity rates of the two streams [W/K].

    Returns
    -------
    tuple of numpy.ndarray
        (ε [-], C_min [W/K]); ε = 0 where either stream has no flow.
    """
    ntu, ratio, c_min = _ratios(ua, capacity_a, capacity_b)
    safe_ratio = np.where(ratio > 1e-12, ratio, 1e-12)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        eta = ntu**0.22
        effectiveness = 1.0 - np.exp(eta / safe_ratio * (np.exp(-safe_ratio * ntu**0.78) - 1.0))
    # C_r → 0: ε = 1 − exp(−NTU) (the limit of the formula)
    effectiveness = np.where(ratio > 1e-12, effectiveness, 1.0 - np.exp(-ntu))
    effectiveness = np.where((c_min > 0) & (ntu > 0), effectiveness, 0.0)
    return np.asarray(effectiveness, dtype=float), c_min


def scaled_ua(
    rated_ua: ArrayLike,
    flow_fraction_hot: ArrayLike,
    flow_fraction_cold: ArrayLike,
    exponent: ArrayLike = FILM_EXPONENT,
    film_ratio_hot: ArrayLike = 1.0,
    film_ratio_cold: ArrayLike = 1.0,
) -> FloatArray:
    """UA at off-rated flows and fluids with equal film resistances at rating (module
    docstring).

    Parameters
    ----------
    rated_ua
        UA at the rated flows [W/K].
    flow_fraction_hot, flow_fraction_cold
        Flow over rated flow on each side [-].
    exponent
        Film coefficient exponent n [-].
    film_ratio_hot, film_ratio_cold
        Film coefficient of each side's fluid over that of the rating's fluid at the same
        volume flow [-] (1: the rating's fluid).

    Returns
    -------
    numpy.ndarray
        UA [W/K]; 0 where either side has no flow.
    """
    hot = np.asarray(flow_fraction_hot, dtype=float)
    cold = np.asarray(flow_fraction_cold, dtype=float)
    n = np.asarray(exponent, dtype=float)
    flowing = (hot > 0) & (cold > 0)
    safe_hot, safe_cold = np.where(flowing, hot, 1.0), np.where(flowing, cold, 1.0)
    g_hot = np.asarray(film_ratio_hot, dtype=float)
    g_cold = np.asarray(film_ratio_cold, dtype=float)
    resistance = 0.5 * (safe_hot ** (-n) / g_hot + safe_cold ** (-n) / g_cold)
    return np.asarray(np.where(flowing, np.asarray(rated_ua) / resistance, 0.0), dtype=float)
