"""Coefficients of the planning model's liquid rows, from the physics at an operating point.

:mod:`optimizer.blocks.liquid` explains the rows (cold-plate case temperature, the
warm-water loop's liquid class); this module takes their coefficients from the simulations
:func:`optimizer.linearize.linearize` runs, and lists what no plan can fix
(:func:`liquid_refusals`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from physics.constants import WATTS_PER_KILOWATT
from physics.facility import Facility
from physics.liquid.cdu import FACILITY_LOOP

if TYPE_CHECKING:
    from optimizer.horizon import PlanningAxis

FloatArray = NDArray[np.float64]
KW = WATTS_PER_KILOWATT
LITRES_PER_MINUTE_PER_M3S = 60_000.0
"""[L/min per m³/s]"""

__all__ = [
    "LiquidCoefficients",
    "liquid_by_period",
    "liquid_coefficients",
    "liquid_refusals",
]


@dataclass
class LiquidCoefficients:
    """Coefficients of the liquid rows, in kW, °C and K (see the module docstring)."""

    case_base: FloatArray
    """``case0``: case temperature at the operating point [°C], (R, T); NaN without plates."""
    case_work: FloatArray
    """Case temperature per kW of each workload [K/kW], (R, J)."""
    case_limit: FloatArray
    """Case temperature limit [°C], (R,); NaN without plates."""
    on_loop: NDArray[np.bool_]
    """Whether each CDU is on the warm-water facility loop, (C,)."""
    loop_base: FloatArray
    """``T_loop0``: facility loop supply at the operating point [°C], (T,); NaN without a
    loop."""
    loop_slope: FloatArray
    """λ: loop supply rise per kW of loop heat [K/kW], (T,); ≥ 0."""


def _loop_slope(
    facility: Facility, base: xr.Dataset, bumped: xr.Dataset, on_loop: NDArray[np.bool_]
) -> FloatArray:
    """λ per step from the operating point and a simulation with more work [K/kW].

    Where the extra work did not reach the loop (its racks already at full power) but the
    supply floats above the setpoint, λ is the dry-cooler estimate ``(T_supply − T_dry-bulb)
    / Q_loop``: at full fan speed a cross-flow coil's leaving water is
    ``T_db + Q·(1 − ε)/(ε·C)`` above the air, proportional to the heat it rejects.
    """
    steps = base.sizes["time"]
    loop = facility.facility_loop
    if loop is None or "facility_loop_supply_temperature" not in base or not on_loop.any():
        return np.zeros(steps)
    supply = base["facility_loop_supply_temperature"].values
    rise = bumped["facility_loop_supply_temperature"].values - supply
    heat = (bumped["cdu_load"] - base["cdu_load"]).values[:, on_loop].sum(axis=1) / KW
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(heat > 1.0, rise / heat, 0.0)
        loop_heat = base["facility_loop_heat"].values / KW
        floating = (supply > loop.supply_temperature + 1e-3) & (heat <= 1.0) & (loop_heat > 1.0)
        estimate = (supply - base["outdoor_temperature"].values) / loop_heat
    slope = np.where(floating, np.clip(estimate, 0.0, None), slope)
    return np.asarray(np.clip(slope, 0.0, None), dtype=float)


def _rack_resistance(facility: Facility) -> FloatArray:
    """Cold-plate resistance of each rack at its flow per plate [K/W], (R,); 0 without plates.

    A CDU whose racks ask more than its pumps' maximum flow shares the maximum in proportion
    (as the physics does; such a plan is refused anyway, :func:`liquid_refusals`).
    """
    racks, cdus = facility.racks, facility.cdus
    resistance = np.zeros(racks.count)
    for r in np.flatnonzero((racks.cold_plate >= 0) & (racks.cdu >= 0)):
        c = int(racks.cdu[r])
        demand = float(racks.coolant_flow[racks.cdu == c].sum())
        scale = min(1.0, float(cdus.max_flow[c]) / demand) if demand > 0 else 0.0
        per_plate = racks.coolant_flow[r] * scale / max(float(racks.plate_count[r]), 1.0)
        plate = facility.cold_plates[int(racks.cold_plate[r])]
        resistance[r] = float(plate.resistance(per_plate))
    return np.nan_to_num(resistance, nan=0.0)


def liquid_coefficients(
    facility: Facility,
    base: xr.Dataset,
    bumped: xr.Dataset,
    share_t: FloatArray,
    cdu_work: FloatArray,
) -> LiquidCoefficients:
    """Coefficients of the liquid rows at the operating point (module docstring).

    Parameters
    ----------
    facility
        Compiled facility.
    base
        Simulation of the operating point, with per-rack series.
    bumped
        Simulation with every workload 5 % of its capacity higher (for λ).
    share_t
        Each rack's share of each workload's power [-], (R, J).
    cdu_work
        CDU load per kW of each workload [-], (C, J).

    Returns
    -------
    LiquidCoefficients
    """
    racks, cdus = facility.racks, facility.cdus
    steps = base.sizes["time"]
    on_loop = np.asarray(cdus.loop == FACILITY_LOOP, dtype=bool)
    if "case_temperature" in base:
        case_base = np.asarray(base["case_temperature"].values.T, dtype=float)
    else:
        case_base = np.full((racks.count, steps), np.nan)
    plate_slope = (
        _rack_resistance(facility) * racks.plate_share / np.maximum(racks.plate_count, 1.0)
    ) * racks.liquid_share  # K per W of the rack's compute power
    case_work = plate_slope[:, np.newaxis] * share_t * KW
    if cdus.count:
        approach = np.where(cdus.capacity > 0, cdus.approach / (cdus.capacity / KW), 0.0)
        has_cdu = racks.cdu >= 0
        cdu_term = approach[:, np.newaxis] * cdu_work  # K per kW, (C, J)
        case_work[has_cdu] += cdu_term[racks.cdu[has_cdu]]
    loop_base = (
        base["facility_loop_supply_temperature"].values.astype(float)
        if "facility_loop_supply_temperature" in base
        else np.full(steps, np.nan)
    )
    return LiquidCoefficients(
        case_base=case_base,
        case_work=case_work,
        case_limit=np.asarray(racks.max_case_temperature, dtype=float),
        on_loop=on_loop,
        loop_base=loop_base,
        loop_slope=_loop_slope(facility, base, bumped, on_loop),
    )


def liquid_by_period(fine: LiquidCoefficients, axis: PlanningAxis) -> LiquidCoefficients:
    """The coefficients on the periods of ``axis``: temperatures and λ at their worst fine
    step (a limit sees the hottest step of a period)."""
    return dataclasses.replace(
        fine,
        case_base=axis.reduce(fine.case_base, "max", 1),
        loop_base=axis.reduce(fine.loop_base, "max", 0),
        loop_slope=axis.reduce(fine.loop_slope, "max", 0),
    )


def liquid_refusals(facility: Facility) -> list[str]:
    """Why no plan can work on the liquid side, whatever it decides.

    Two limits no setpoint or workload decision of the plan moves: a CDU whose racks need
    more coolant flow than its pumps deliver (the flows are set by the rack types), and a
    warm-water loop whose supply setpoint is above the site's liquid class limit.

    Returns
    -------
    list of str
        One sentence per problem, naming the CDU with the flow needed and available
        [L/min], or the loop setpoint and the class limit [°C]; empty: none.
    """
    racks, cdus = facility.racks, facility.cdus
    lines = []
    for c in range(cdus.count):
        needed = float(racks.coolant_flow[racks.cdu == c].sum())
        available = float(cdus.max_flow[c])
        if needed > available * (1.0 + 1e-9):
            lines.append(
                f"CDU {cdus.ids[c]}: its racks need {needed * LITRES_PER_MINUTE_PER_M3S:,.0f} "
                f"L/min of coolant, its pumps deliver at most "
                f"{available * LITRES_PER_MINUTE_PER_M3S:,.0f} L/min (no setpoint or workload "
                "decision changes the flow: raise the CDU's max_flow or lower the racks' "
                "coolant_flow)"
            )
    loop = facility.facility_loop
    on_loop = np.any(cdus.loop == FACILITY_LOOP)
    if loop is not None and on_loop and loop.supply_temperature > facility.facility_water_limit:
        lines.append(
            f"the facility loop supply setpoint {loop.supply_temperature:g} °C is above the "
            f"site's liquid class limit {facility.facility_water_limit:g} °C (the plan does "
            "not move the loop setpoint: lower it or change the class)"
        )
    return lines
