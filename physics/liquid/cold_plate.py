"""Cold plates: the case temperature of the liquid-cooled devices of each rack.

A rack type with cold plates has ``plates`` identical cold plates in parallel (one per GPU
or CPU package), each fed at the CDU's IT supply temperature with an equal share of the
rack's coolant flow.  A share ``plate_share`` of the rack's liquid heat goes through the
plates (the rest — memory, VRMs, switch ASICs on their own plates — has no case limit
here).  The plate's thermal resistance is the vendor figure *case to inlet coolant*,
``R = (T_case − T_coolant,in)/q`` [K/W], a function of the flow through the plate, so

    q_plate  = plate_share · Q_liquid,rack / plates
    T_case   = T_it,supply + q_plate · R(V̇_rack / plates)

R(V̇) is given as a table of (flow, resistance) points from a datasheet and interpolated
linearly in log–log coordinates (a power law ``R ∝ V̇^−m`` between points, the shape of
measured cold-plate curves); outside the table R is held at the end values (conservative
at low flow only if the table reaches low enough — give the datasheet's full range).
Temperature rise of the coolant between plates in series is not modelled (plates are in
parallel).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

__all__ = ["ColdPlate", "case_temperature"]


@dataclass(frozen=True)
class ColdPlate:
    """Thermal resistance of a cold plate as a function of flow.

    Parameters
    ----------
    flows
        Flow through one plate at each table point, increasing [m³/s].
    resistances
        Case-to-inlet-coolant thermal resistance at each flow [K/W].
    name
        Label (the rack type), for messages.
    """

    flows: tuple[float, ...]
    resistances: tuple[float, ...]
    name: str = "cold plate"

    def __post_init__(self) -> None:
        if len(self.flows) != len(self.resistances) or not self.flows:
            raise ValueError(f"{self.name}: give as many resistances as flows (at least one)")
        if any(f <= 0 for f in self.flows) or any(r <= 0 for r in self.resistances):
            raise ValueError(f"{self.name}: flows and resistances must be positive")
        if np.any(np.diff(self.flows) <= 0):
            raise ValueError(f"{self.name}: table flows must increase")

    def resistance(self, flow: ArrayLike) -> FloatArray:
        """Thermal resistance at ``flow`` through one plate [m³/s] [K/W].

        Log–log linear interpolation, held at the table ends; NaN where the flow is not
        positive.
        """
        rate = np.asarray(flow, dtype=float)
        positive = rate > 0
        safe = np.where(positive, rate, self.flows[0])
        log_r = np.interp(np.log(safe), np.log(self.flows), np.log(self.resistances))
        return np.asarray(np.where(positive, np.exp(log_r), np.nan), dtype=float)


def case_temperature(
    plates: Sequence[ColdPlate],
    plate_index: ArrayLike,
    plate_count: ArrayLike,
    plate_share: ArrayLike,
    liquid_heat: ArrayLike,
    rack_flow: ArrayLike,
    supply_temperature: ArrayLike,
) -> FloatArray:
    """Case temperature of each rack's cold-plated devices, (T, R) [°C].

    Parameters
    ----------
    plates
        The distinct cold-plate curves.
    plate_index
        Index into ``plates`` for each rack, −1 for racks without cold plates, (R,).
    plate_count
        Cold plates per rack, (R,) [-].
    plate_share
        Share of the rack's liquid heat through its plates, (R,) [-].
    liquid_heat
        Heat each rack gives to the liquid, (T, R) [W].
    rack_flow
        Coolant flow through each rack, (T, R) or (R,) [m³/s].
    supply_temperature
        Coolant supply temperature at each rack, (T, R) [°C].

    Returns
    -------
    numpy.ndarray
        (T, R) [°C]; NaN for racks without cold plates.
    """
    index = np.asarray(plate_index, dtype=np.int64)
    heat = np.asarray(liquid_heat, dtype=float)
    count = np.maximum(np.asarray(plate_count, dtype=float), 1.0)
    flow = np.broadcast_to(np.asarray(rack_flow, dtype=float), heat.shape) / count
    result = np.full(heat.shape, np.nan)
    for number, plate in enumerate(plates):
        columns = np.flatnonzero(index == number)
        if not columns.size:
            continue
        per_plate = np.asarray(plate_share, dtype=float)[columns] * heat[:, columns]
        per_plate = per_plate / count[columns]
        result[:, columns] = np.asarray(supply_temperature, dtype=float)[
            :, columns
        ] + per_plate * plate.resistance(flow[:, columns])
    return result
