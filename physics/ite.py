"""Air-cooled IT equipment: the EnergyPlus ``ElectricEquipment:ITE:AirCooled`` model.

EnergyPlus Engineering Reference, "Electric Equipment ITE (Air-Cooled)", and
``InternalHeatGains.cc`` (``CalcZoneITEq``).  For N units of design power P_d (total
``P = N·P_d``, CPU loading x, inlet temperature T_in):

    P_cpu = P·(1 − F_fan)·f_cpu(x, T_in)
    V̇     = P·v·f_air(x, T_in)                  v = design airflow per power [m³/(s·W)]
    P_fan = P·F_fan·f_fan(f_air(x, T_in))         f_fan: fan power vs airflow fraction
    P_ups = (P_cpu + P_fan)·(1 − η_ups·f_ups(PLR_ups)),  PLR_ups = (P_cpu + P_fan)/P
    T_out = T_in + (P_cpu + P_fan)/(ρ·c_p·V̇)

Curve outputs for CPU power and airflow are floored at zero (EnergyPlus does the same).
EnergyPlus evaluates ρ and c_p from the inlet air state; here the constants of
:mod:`physics.constants` (ρ = 1.2041 kg/m³, c_p = 1006 J/(kg·K)) are used, which is what the
reference figures of the EnergyPlus data-center example assume.

The module-level curves are those of the EnergyPlus example file
``1ZoneDataCenterCRAC_wApproachTemp.idf``.  Its fan curve "ECM FanPower fFlow" is a
``Curve:Quadratic`` with coefficients (0, 1, 0) — fan power *linear* in airflow fraction, not
the cube of the affinity law; pass a :class:`~physics.curves.CubicCurve` with (0, 0, 0, 1) for
affinity-law fans.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from physics.constants import AIR_VOLUMETRIC_HEAT_CAPACITY
from physics.curves import (
    BiquadraticCurve,
    CubicCurve,
    CurveInput,
    QuadraticCurve,
    warn_if_clamped,
)

FloatArray = NDArray[np.float64]

__all__ = [
    "ECM_FAN_POWER_CURVE",
    "SERVER_AIRFLOW_CURVE",
    "SERVER_POWER_CURVE",
    "ITEResult",
    "ite_air_cooled",
]

SERVER_POWER_CURVE = BiquadraticCurve(
    (-1.0, 1.0, 0.0, 0.06667, 0.0, 0.0), 0.0, 1.5, -10.0, 99.0, output_min=0.0, output_max=99.0
)
"""CPU power modifier "Data Center Servers Power fLoadTemp" of the EnergyPlus example
``1ZoneDataCenterCRAC_wApproachTemp``: ``−1 + x + 0.06667·T_in`` (x: CPU loading [-],
T_in [°C]); limits x 0–1.5, T_in −10–99 °C, output 0–99."""

SERVER_AIRFLOW_CURVE = BiquadraticCurve(
    (-1.4, 0.9, 0.0, 0.1, 0.0, 0.0), 0.0, 1.5, -10.0, 99.0, output_min=0.0, output_max=99.0
)
"""Airflow modifier "Data Center Servers Airflow fLoadTemp" of the same example:
``−1.4 + 0.9·x + 0.1·T_in``; limits x 0–1.5, T_in −10–99 °C, output 0–99."""

ECM_FAN_POWER_CURVE = QuadraticCurve((0.0, 1.0, 0.0), 0.0, 99.0)
"""Fan power modifier "ECM FanPower fFlow" of the same example: ``0 + 1·f + 0·f²`` in airflow
fraction f, limits 0–99 (linear)."""


@dataclass(frozen=True)
class ITEResult:
    """Electric power and air stream of air-cooled IT equipment (broadcast arrays).

    Attributes
    ----------
    cpu_power
        Power of everything but the server fans [W].
    fan_power
        Server fan power [W].
    airflow
        Air volume flow through the equipment [m³/s].
    ups_loss
        Power-supply (UPS) loss [W].
    outlet_temperature
        Air outlet temperature [°C]; equals the inlet where airflow is zero.
    it_power
        ``cpu_power + fan_power`` [W].
    clamped
        True where a curve input was outside its limits.
    """

    cpu_power: FloatArray
    fan_power: FloatArray
    airflow: FloatArray
    ups_loss: FloatArray
    outlet_temperature: FloatArray
    it_power: FloatArray
    clamped: NDArray[np.bool_]


def ite_air_cooled(
    design_power_per_unit: ArrayLike,
    units: ArrayLike,
    cpu_loading: ArrayLike,
    inlet_temperature: ArrayLike,
    design_fan_power_fraction: ArrayLike,
    design_airflow_per_power: ArrayLike,
    cpu_power_curve: BiquadraticCurve = SERVER_POWER_CURVE,
    airflow_curve: BiquadraticCurve = SERVER_AIRFLOW_CURVE,
    fan_power_curve: QuadraticCurve | CubicCurve = ECM_FAN_POWER_CURVE,
    ups_efficiency: ArrayLike = 1.0,
    ups_efficiency_curve: QuadraticCurve | None = None,
    warn: bool = True,
) -> ITEResult:
    """Power, airflow and outlet temperature of air-cooled IT equipment (EnergyPlus ITE).

    See the module docstring for the equations.  Curve inputs are clamped to the curve
    limits; when ``warn`` is true and any was clamped, one
    :class:`~physics.warnings.CurveRangeWarning` says which.

    Parameters
    ----------
    design_power_per_unit
        Design electric power of one unit (server) including its fans [W].
    units
        Number of units [-].
    cpu_loading
        CPU loading (utilization) x, 0–1 [-].
    inlet_temperature
        Air inlet temperature T_in [°C].
    design_fan_power_fraction
        Share of design power drawn by the fans at design [-].
    design_airflow_per_power
        Design airflow per watt of design power [m³/(s·W)].
    cpu_power_curve
        CPU power modifier, biquadratic in x and T_in [-].
    airflow_curve
        Airflow modifier, biquadratic in x and T_in [-].
    fan_power_curve
        Fan power modifier in airflow fraction [-].
    ups_efficiency
        Design power-supply efficiency [-]; 1 (default) means no UPS loss here, for when the
        UPS is modelled in the power chain instead.
    ups_efficiency_curve
        Efficiency modifier in UPS part-load ratio [-]; ``None`` means 1.
    warn
        Emit a warning when curve inputs were clamped.

    Returns
    -------
    ITEResult
        CPU power, fan power, airflow, UPS loss, outlet temperature, IT power and the
        clamping mask.
    """
    design_power = np.asarray(design_power_per_unit, dtype=float) * np.asarray(units, dtype=float)
    loading = np.asarray(cpu_loading, dtype=float)
    t_in = np.asarray(inlet_temperature, dtype=float)
    fan_fraction = np.asarray(design_fan_power_fraction, dtype=float)

    cpu_power = np.maximum(
        design_power * (1.0 - fan_fraction) * cpu_power_curve(loading, t_in), 0.0
    )
    airflow_fraction = np.maximum(airflow_curve(loading, t_in), 0.0)
    airflow = design_power * np.asarray(design_airflow_per_power, dtype=float) * airflow_fraction
    fan_power = np.maximum(design_power * fan_fraction * fan_power_curve(airflow_fraction), 0.0)
    it_power = cpu_power + fan_power

    efficiency = np.asarray(ups_efficiency, dtype=float)
    ups_load_ratio = np.divide(
        it_power,
        design_power,
        out=np.zeros(np.broadcast(it_power, design_power).shape),
        where=design_power > 0.0,
    )
    if ups_efficiency_curve is not None:
        efficiency = efficiency * ups_efficiency_curve(ups_load_ratio)
    ups_loss = it_power * np.maximum(1.0 - efficiency, 0.0)

    capacity_flow = airflow * AIR_VOLUMETRIC_HEAT_CAPACITY
    rise = np.divide(
        it_power,
        capacity_flow,
        out=np.zeros(np.broadcast(it_power, capacity_flow).shape),
        where=capacity_flow > 0.0,
    )
    outlet = np.where(np.isnan(it_power) | np.isnan(airflow), np.nan, t_in + rise)

    clamped = (
        cpu_power_curve.out_of_range(loading, t_in)
        | airflow_curve.out_of_range(loading, t_in)
        | fan_power_curve.out_of_range(airflow_fraction)
    )
    if ups_efficiency_curve is not None:
        clamped = clamped | ups_efficiency_curve.out_of_range(ups_load_ratio)
    shape = np.broadcast(outlet, ups_loss, clamped).shape
    if warn and clamped.any():
        _warn_clamped(
            cpu_power_curve,
            airflow_curve,
            fan_power_curve,
            ups_efficiency_curve,
            loading=loading,
            t_in=t_in,
            airflow_fraction=airflow_fraction,
            ups_load_ratio=ups_load_ratio,
        )

    def full(value: FloatArray) -> FloatArray:
        return np.asarray(np.broadcast_to(value, shape), dtype=float)

    return ITEResult(
        cpu_power=full(cpu_power),
        fan_power=full(fan_power),
        airflow=full(airflow),
        ups_loss=full(ups_loss),
        outlet_temperature=full(outlet),
        it_power=full(it_power),
        clamped=np.asarray(np.broadcast_to(clamped, shape), dtype=bool),
    )


def _warn_clamped(
    cpu_power_curve: BiquadraticCurve,
    airflow_curve: BiquadraticCurve,
    fan_power_curve: QuadraticCurve | CubicCurve,
    ups_efficiency_curve: QuadraticCurve | None,
    *,
    loading: FloatArray,
    t_in: FloatArray,
    airflow_fraction: FloatArray,
    ups_load_ratio: FloatArray,
) -> None:
    """One warning naming the inputs of :func:`ite_air_cooled` outside their curve limits."""
    inputs = [
        CurveInput(
            "CPU loading",
            loading,
            max(cpu_power_curve.x_min, airflow_curve.x_min),
            min(cpu_power_curve.x_max, airflow_curve.x_max),
        ),
        CurveInput(
            "inlet temperature",
            t_in,
            max(cpu_power_curve.y_min, airflow_curve.y_min),
            min(cpu_power_curve.y_max, airflow_curve.y_max),
            "°C",
        ),
        CurveInput(
            "airflow fraction", airflow_fraction, fan_power_curve.x_min, fan_power_curve.x_max
        ),
    ]
    if ups_efficiency_curve is not None:
        inputs.append(
            CurveInput(
                "UPS part load ratio",
                ups_load_ratio,
                ups_efficiency_curve.x_min,
                ups_efficiency_curve.x_max,
            )
        )
    warn_if_clamped("Air-cooled IT equipment", inputs)
