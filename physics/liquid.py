"""Liquid path: direct-to-chip heat to a CDU loop, and the loop temperatures.

A CDU is a liquid-to-liquid heat exchanger between the technology cooling system (TCS, the
coolant through the cold plates) and the facility water.  With constant flows on both sides
the exchanger effectiveness ε is constant (ε-NTU method, Incropera & DeWitt ch. 11), so

    T_tcs,return − T_fw,supply = Q / (ε·C_min)      and      T_tcs,supply = T_tcs,return − Q/C_tcs

are both linear in the load Q.  The CDU approach ``T_tcs,supply − T_fw,supply`` is therefore
``approach_at_capacity · Q / Q_capacity`` and the coolant rise is
``delta_t_at_capacity · Q / Q_capacity``, which is what these functions compute.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class CDUTemperatures:
    """Loop temperatures of CDUs."""

    supply_temperature: FloatArray
    """Coolant (TCS) supply to the cold plates [°C]."""
    return_temperature: FloatArray
    """Coolant return from the cold plates [°C]."""
    load_fraction: FloatArray
    """Load over capacity [-] (> 1 is an overload)."""


def cdu_temperatures(
    load: ArrayLike,
    capacity: ArrayLike,
    approach_at_capacity: ArrayLike,
    delta_t_at_capacity: ArrayLike,
    facility_water_temperature: ArrayLike,
) -> CDUTemperatures:
    """Coolant temperatures of CDUs with constant flows (ε-NTU, linear in load).

    Parameters
    ----------
    load
        Heat from the cold plates [W].
    capacity
        CDU rated heat capacity [W].
    approach_at_capacity
        Coolant supply minus facility water supply at rated load [K].
    delta_t_at_capacity
        Coolant return minus supply at rated load [K].
    facility_water_temperature
        Facility water supply temperature [°C].

    Returns
    -------
    CDUTemperatures
    """
    fraction = np.asarray(load, dtype=float) / np.asarray(capacity, dtype=float)
    supply = (
        np.asarray(facility_water_temperature, dtype=float)
        + np.asarray(approach_at_capacity, dtype=float) * fraction
    )
    ret = supply + np.asarray(delta_t_at_capacity, dtype=float) * fraction
    return CDUTemperatures(np.asarray(supply), np.asarray(ret), np.asarray(fraction))
