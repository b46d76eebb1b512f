"""The liquid path of a whole hall for one chunk of steps (called by :func:`physics.simulate`).

Per step:

1. each rack's coolant flow is its stated (or derived) design flow; a CDU delivers the sum
   over its racks up to its pumps' maximum, and its racks share what it delivers in
   proportion to their flows;
2. CDUs on the chilled-water loop get the chilled water supply; CDUs on the warm-water
   facility loop get the loop supply, found with the loop by a fixed point
   (:func:`physics.liquid.loop.facility_loop_performance`) — the loop supply sets the CDUs'
   facility flows, their heat and flows set the loop return;
3. CDU temperatures (:func:`physics.liquid.cdu.cdu_performance`), then the case temperature
   of every cold-plated rack (:func:`physics.liquid.cold_plate.case_temperature`).

CDU pump heat goes to the facility side of the CDU's loop (the pumps run in the IT loop;
their heat is added to what the loop must reject), as before flows were modelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from physics.liquid.cdu import FACILITY_LOOP, CDUResult, CDUs, cdu_performance
from physics.liquid.cold_plate import ColdPlate, case_temperature
from physics.liquid.loop import FacilityLoop, facility_loop_performance

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

__all__ = ["LiquidRacks", "liquid_hall"]


@dataclass(frozen=True)
class LiquidRacks:
    """What the liquid path needs of the racks, shape (R,) each."""

    cdu: IntArray
    """CDU of each rack, −1 for none."""
    coolant_flow: FloatArray
    """Design coolant flow through each rack [m³/s] (0 without a CDU)."""
    cold_plate: IntArray
    """Index into the cold-plate curves, −1 for none."""
    plate_count: FloatArray
    """Cold plates per rack [-]."""
    plate_share: FloatArray
    """Share of the rack's liquid heat through its plates [-]."""
    max_case_temperature: FloatArray
    """Case temperature limit of the cold-plated devices [°C]; NaN for none."""


def _rack_flows(racks: LiquidRacks, cdu_of_rack: sp.csr_matrix, cdus: CDUs) -> FloatArray:
    """Flow each rack gets [m³/s]: its design flow, scaled down where its CDU is at maximum."""
    demand = cdu_of_rack @ racks.coolant_flow
    delivered = np.minimum(demand, cdus.max_flow)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(demand > 0, delivered / demand, 0.0)
    has_cdu = racks.cdu >= 0
    return np.asarray(
        np.where(has_cdu, racks.coolant_flow * scale[np.maximum(racks.cdu, 0)], 0.0), dtype=float
    )


def _supplies(
    cdus: CDUs,
    loop: FacilityLoop | None,
    cdu_load: FloatArray,
    demand: FloatArray,
    chilled: FloatArray,
    weather: tuple[FloatArray, FloatArray],
) -> tuple[FloatArray, dict[str, Any]]:
    """Facility supply to each CDU (T, C) [°C] and the loop's outputs (empty without one)."""
    on_loop = cdus.loop == FACILITY_LOOP
    supply = np.broadcast_to(chilled[:, np.newaxis], cdu_load.shape).copy()
    if loop is None or not on_loop.any():
        return supply, {}
    columns = np.flatnonzero(on_loop)
    subset = _subset(cdus, columns)
    load = cdu_load[:, columns]

    def flow_of_supply(loop_supply: FloatArray) -> FloatArray:
        result = cdu_performance(subset, load, loop_supply[:, np.newaxis], demand[columns])
        return np.asarray(result.facility_flow.sum(axis=1), dtype=float)

    pump = cdu_performance(subset, load, loop.supply_temperature, demand[columns]).pump_power
    heat = load.sum(axis=1) + pump.sum(axis=1)
    dry_bulb, wet_bulb = weather
    result = facility_loop_performance(
        loop, heat, dry_bulb, wet_bulb, flow_of_supply=flow_of_supply
    )
    supply[:, columns] = result.supply_temperature[:, np.newaxis]
    outputs = {
        "facility_loop_supply_temperature": result.supply_temperature,
        "facility_loop_return_temperature": result.return_temperature,
        "facility_loop_flow": result.flow,
        "facility_loop_heat": heat,
        "dry_cooler_fan_power": result.dry_cooler_fan_power,
        "dry_cooler_heat": result.dry_cooler_heat,
        "facility_loop_tower_fan_power": result.tower_fan_power,
        "facility_loop_tower_heat": result.tower_heat,
        "trim_chiller_power": result.chiller_power,
        "trim_chiller_load": result.chiller_load,
        "facility_loop_pump_power": result.pump_power,
        "facility_loop_power": result.total_power,
        "_clamped": int(np.count_nonzero(result.clamped)),
    }
    return supply, outputs


def _subset(cdus: CDUs, columns: IntArray) -> CDUs:
    """The CDUs ``columns`` as their own :class:`CDUs`."""
    return CDUs(
        ids=[cdus.ids[i] for i in columns],
        capacity=cdus.capacity[columns],
        it_rated_flow=cdus.it_rated_flow[columns],
        facility_rated_flow=cdus.facility_rated_flow[columns],
        it_heat_capacity=cdus.it_heat_capacity[columns],
        facility_heat_capacity=cdus.facility_heat_capacity[columns],
        rated_ua=cdus.rated_ua[columns],
        pump_power=cdus.pump_power[columns],
        max_supply_temperature=cdus.max_supply_temperature[columns],
        max_flow=cdus.max_flow[columns],
        supply_setpoint=cdus.supply_setpoint[columns],
        loop=cdus.loop[columns],
        film_exponent=cdus.film_exponent,
    )


def liquid_hall(
    cdus: CDUs,
    racks: LiquidRacks,
    cold_plates: Sequence[ColdPlate],
    loop: FacilityLoop | None,
    liquid_heat: FloatArray,
    chilled_water: FloatArray,
    weather: tuple[FloatArray, FloatArray],
    per_rack: bool,
) -> tuple[dict[str, Any], CDUResult]:
    """Liquid-path outputs of one chunk, by variable name (module docstring).

    Parameters
    ----------
    cdus
        The CDUs.
    racks
        Rack data of the liquid path.
    cold_plates
        Distinct cold-plate curves (indexed by ``racks.cold_plate``).
    loop
        The warm-water facility loop, or ``None``.
    liquid_heat
        Heat each rack gives to the liquid, (T, R) [W].
    chilled_water
        Chilled water supply setpoint, (T,) [°C].
    weather
        (outdoor dry bulb, wet bulb), each (T,) [°C].
    per_rack
        Include the per-rack case temperatures.

    Returns
    -------
    tuple
        (outputs by name, the CDU result); outputs hold the per-CDU arrays (T, C), the loop
        series (T,) when there is a loop, ``case_temperature`` (T, R) when ``per_rack``,
        ``min_case_margin`` and ``max_case_temperature`` (T,) when any rack has cold plates,
        and the private counts
        ``_clamped`` (trim chiller steps clamped), ``_chilled_heat`` (T,) (heat of
        chilled-water CDUs and their pumps) and ``_loop_power`` (T,).
    """
    steps = liquid_heat.shape[0]
    valid = np.flatnonzero(racks.cdu >= 0)
    cdu_of_rack = sp.csr_matrix(
        (np.ones(valid.size), (racks.cdu[valid], valid)), shape=(cdus.count, racks.cdu.size)
    )
    cdu_load = np.asarray((cdu_of_rack @ liquid_heat.T).T).reshape(steps, cdus.count)
    demand = np.asarray(cdu_of_rack @ racks.coolant_flow, dtype=float)
    supply, outputs = _supplies(cdus, loop, cdu_load, demand, chilled_water, weather)
    result = cdu_performance(cdus, cdu_load, supply, demand)
    on_chilled = cdus.loop != FACILITY_LOOP
    outputs["_chilled_heat"] = (cdu_load + result.pump_power)[:, on_chilled].sum(axis=1)
    outputs["_loop_power"] = outputs.get("facility_loop_power", np.zeros(steps))
    outputs.update(
        {
            "cdu_load": cdu_load,
            "cdu_supply_temperature": result.it_supply_temperature,
            "cdu_return_temperature": result.it_return_temperature,
            "cdu_pump_power": result.pump_power,
            "cdu_facility_supply_temperature": supply,
            "cdu_facility_return_temperature": result.facility_return_temperature,
            "cdu_flow": result.it_flow,
            "cdu_flow_demand": np.broadcast_to(demand, cdu_load.shape),
            "cdu_facility_flow": result.facility_flow,
        }
    )
    if np.any(racks.cold_plate >= 0):
        rack_supply = result.it_supply_temperature[:, np.maximum(racks.cdu, 0)]
        case = case_temperature(
            cold_plates,
            racks.cold_plate,
            racks.plate_count,
            racks.plate_share,
            liquid_heat,
            _rack_flows(racks, cdu_of_rack, cdus),
            rack_supply,
        )
        plated = racks.cold_plate >= 0
        outputs["min_case_margin"] = np.min(
            racks.max_case_temperature[plated] - case[:, plated], axis=1
        )
        outputs["max_case_temperature"] = np.max(case[:, plated], axis=1)
        if per_rack:
            outputs["case_temperature"] = case
    outputs.setdefault("_clamped", 0)
    return outputs, result
