"""Chiller plant: EIR chiller curves, cooling tower, water-side economizer, pumps and fans.

The chiller is the EnergyPlus ``Chiller:Electric:EIR`` model (DOE-2 form; EnergyPlus
Engineering Reference, "Electric Chiller Model Based on Condenser Entering Temperature"):

    AvailCap = RefCap · CAPFT(T_chw,l, T_cond,e)
    PLR      = min(Load / AvailCap, PLR_max)
    CR       = min(PLR / PLR_min, 1)                       (cycling ratio)
    P        = AvailCap / RefCOP · EIRFT(T_chw,l, T_cond,e) · EIRFPLR(max(PLR, MUR)) · CR

with MUR the minimum unloading ratio.  Below MUR the chiller *false-loads* (hot-gas bypass):
it still draws the power of PLR = MUR and rejects the difference as extra condenser heat;
below PLR_min it also cycles, which scales power (and false load) by CR.  This is the reading
of ``ChillerElectricEIR.cc`` (``CalcElectricEIRChillerModel``): ``FRAC = min(1, PLR/PLR_min)``
from the load-based PLR, then ``PLR = max(PLR, MinUnloadRat)`` for the EIRFPLR curve and
``FalseLoad = AvailCap·PLR·FRAC − Q_evap``.

The performance curves (:mod:`physics.curves`; re-exported here) clamp their inputs to the
fitted limits, as EnergyPlus does, and the calling model reports clamping with one
:class:`~physics.warnings.CurveRangeWarning` per call and a boolean ``clamped`` array in its
result.

The plant (:func:`plant_performance`) adds an open cooling tower held at a constant approach
to the wet bulb, an integrated water-side economizer (plate heat exchanger between tower water
and chilled-water return), equal-PLR chiller staging, and pumps and tower fans on affinity
laws.  Its simplifying assumptions are listed on :class:`ChillerPlant`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from physics.constants import WATTS_PER_KILOWATT
from physics.curves import (
    BiquadraticCurve,
    CubicCurve,
    CurveInput,
    QuadraticCurve,
    warn_if_clamped,
)

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

__all__ = [
    "ASHRAE_90_1_VSD_FAN_COEFFICIENTS",
    "BiquadraticCurve",
    "ChillerEIR",
    "ChillerPlant",
    "ChillerResult",
    "CubicCurve",
    "CurveInput",
    "PlantResult",
    "QuadraticCurve",
    "affinity_power",
    "chiller_performance",
    "fan_part_load_power",
    "plant_performance",
    "warn_if_clamped",
]

ASHRAE_90_1_VSD_FAN_COEFFICIENTS: tuple[float, float, float, float, float] = (
    0.0013,
    0.1470,
    0.9506,
    -0.0998,
    0.0,
)
"""Part-load power of a VAV fan with a variable-speed drive, ``P/P_design`` as a polynomial in
flow fraction (constant term first): ASHRAE 90.1 Appendix G, Table G3.1.3.15, Method 2.
It sums to 0.9991 at full flow; that is the published curve."""


def _array(value: ArrayLike) -> FloatArray:
    return np.asarray(value, dtype=float)


def _nan_where(invalid: BoolArray, value: ArrayLike) -> FloatArray:
    """``value`` as float array with NaN where ``invalid`` (NaN inputs give NaN outputs)."""
    return np.asarray(np.where(invalid, np.nan, value), dtype=float)


@dataclass(frozen=True)
class ChillerEIR:
    """An electric chiller in the EnergyPlus ``Chiller:Electric:EIR`` form.

    Parameters
    ----------
    reference_capacity
        Evaporator capacity at the reference temperatures [W].
    reference_cop
        Coefficient of performance at the reference temperatures and full load [-].
    capft
        Capacity modifier, biquadratic in leaving chilled water temperature (x) [°C] and
        entering condenser water temperature (y) [°C].
    eirft
        Electric-input-to-cooling-output ratio modifier, same inputs as ``capft``.
    eirfplr
        EIR modifier, quadratic in part-load ratio [-].
    min_part_load_ratio
        Below this PLR the chiller cycles on and off [-].
    max_part_load_ratio
        Highest PLR the chiller can run at [-]; load beyond it is unmet.
    min_unloading_ratio
        Below this PLR the chiller false-loads (hot-gas bypass) [-]; must lie between the
        minimum and maximum part-load ratios.
    reference_leaving_chilled_water_temperature
        Rating condition, for documentation [°C].
    reference_entering_condenser_temperature
        Rating condition, for documentation [°C].
    name
        Label used in warnings.
    """

    reference_capacity: float
    reference_cop: float
    capft: BiquadraticCurve
    eirft: BiquadraticCurve
    eirfplr: QuadraticCurve
    min_part_load_ratio: float = 0.1
    max_part_load_ratio: float = 1.0
    min_unloading_ratio: float = 0.1
    reference_leaving_chilled_water_temperature: float = 6.67
    reference_entering_condenser_temperature: float = 29.44
    name: str = "chiller"

    def __post_init__(self) -> None:
        if not (self.reference_capacity > 0 and self.reference_cop > 0):
            raise ValueError(
                f"{self.name}: reference capacity and COP must be positive, got "
                f"{self.reference_capacity} W and {self.reference_cop}"
            )
        if not (
            0 < self.min_part_load_ratio <= self.min_unloading_ratio <= self.max_part_load_ratio
        ):
            raise ValueError(
                f"{self.name}: need 0 < min part load ratio ({self.min_part_load_ratio}) <= "
                f"min unloading ratio ({self.min_unloading_ratio}) <= max part load ratio "
                f"({self.max_part_load_ratio})"
            )

    @classmethod
    def mcquay_wsc_471kw(cls) -> ChillerEIR:
        """The EnergyPlus dataset chiller "ElectricEIRChiller McQuay WSC 471kW/5.89COP/Vanes".

        A water-cooled centrifugal chiller with inlet-vane capacity control, from the
        EnergyPlus reference data set ``DataSets/Chillers.idf`` (CoolTools project curves).
        Rating: 471.2 kW (the record's exact reference capacity; "471kW" in the name is
        rounded), COP 5.89, at 8.89 °C leaving chilled water and 26.67 °C entering condenser
        water.  Minimum part-load ratio 0.1, maximum 1.15, minimum unloading ratio 0.1.

        Curve limits used here, as given for this record by the Modelica Buildings library
        data record ``ElectricEIRChiller_McQuay_WSC_471kW_589COP_Vanes`` (a transcription of
        the EnergyPlus record) and by the EnergyPlus unit test ``ChillerIPLVTestWaterCooled``:
        leaving chilled water 7.22–12.78 °C, entering condenser water 12.78–26.67 °C (both
        temperature curves), part-load ratio 0–1.15.  Neither source sets output limits.

        Returns
        -------
        ChillerEIR
            The dataset chiller.
        """
        x_min, x_max, y_min, y_max = 7.22, 12.78, 12.78, 26.67
        return cls(
            reference_capacity=471_200.0,
            reference_cop=5.89,
            capft=BiquadraticCurve(
                (0.2521130, 0.01324053, -0.008637329, 0.08581056, -0.004261176, 0.008661899),
                x_min,
                x_max,
                y_min,
                y_max,
            ),
            eirft=BiquadraticCurve(
                (0.4475238, -0.02588210, -0.001459053, 0.04342595, -0.001000651, 0.001920106),
                x_min,
                x_max,
                y_min,
                y_max,
            ),
            eirfplr=QuadraticCurve((0.2778889, 0.2338363, 0.4883748), 0.0, 1.15),
            min_part_load_ratio=0.1,
            max_part_load_ratio=1.15,
            min_unloading_ratio=0.1,
            reference_leaving_chilled_water_temperature=8.89,
            reference_entering_condenser_temperature=26.67,
            name="McQuay WSC 471kW/5.89COP/Vanes",
        )

    def scaled(self, reference_capacity: float, reference_cop: float | None = None) -> ChillerEIR:
        """A copy with another rating and the same (normalized) performance curves.

        Parameters
        ----------
        reference_capacity
            New reference capacity [W].
        reference_cop
            New reference COP [-]; ``None`` keeps this chiller's.

        Returns
        -------
        ChillerEIR
            The re-rated chiller, e.g. "a 2 MW chiller with the McQuay curves".
        """
        cop = self.reference_cop if reference_cop is None else reference_cop
        kilowatts = reference_capacity / WATTS_PER_KILOWATT
        return dataclasses.replace(
            self,
            reference_capacity=float(reference_capacity),
            reference_cop=float(cop),
            name=f"{self.name} scaled to {kilowatts:.0f} kW, COP {cop:g}",
        )


@dataclass(frozen=True)
class ChillerResult:
    """Operating point of one chiller (arrays shaped like the broadcast inputs).

    Attributes
    ----------
    power
        Electric power [W].
    available_capacity
        Capacity at the operating temperatures, ``RefCap·CAPFT`` [W].
    part_load_ratio
        Load-based part-load ratio ``min(load/available_capacity, max PLR)`` [-].
    cycling_ratio
        Fraction of the time step the compressor runs, ``min(PLR/min PLR, 1)`` [-].
    cop
        Cooling delivered over electric power [-]; NaN where the chiller is off.
    unmet_load
        Load above what the chiller can deliver at its maximum PLR [W].
    false_load
        Extra evaporator heat from false loading below the minimum unloading ratio [W]; it
        goes to the condenser on top of load and power.
    clamped
        True where a curve input was outside its limits (only counted where load > 0).
    """

    power: FloatArray
    available_capacity: FloatArray
    part_load_ratio: FloatArray
    cycling_ratio: FloatArray
    cop: FloatArray
    unmet_load: FloatArray
    false_load: FloatArray
    clamped: BoolArray


def chiller_performance(
    chiller: ChillerEIR,
    load: ArrayLike,
    leaving_chilled_water_temperature: ArrayLike,
    entering_condenser_temperature: ArrayLike,
    warn: bool = True,
) -> ChillerResult:
    """Electric power and operating state of one chiller (EnergyPlus Chiller:Electric:EIR).

    See the module docstring for the equations.  Curve inputs are clamped to their limits;
    when ``warn`` is true and any point with load > 0 was clamped, one
    :class:`~physics.warnings.CurveRangeWarning` names each offending input, the range seen
    and the limits.  Zero (or negative) load gives zero power; NaN in any input gives NaN
    outputs.

    Parameters
    ----------
    chiller
        The chiller.
    load
        Evaporator load asked of the chiller [W].
    leaving_chilled_water_temperature
        Leaving chilled water temperature (setpoint) [°C].
    entering_condenser_temperature
        Entering condenser water temperature [°C].
    warn
        Emit a warning when curve inputs were clamped.

    Returns
    -------
    ChillerResult
        Power, available capacity, PLR, cycling ratio, COP, unmet load, false load and the
        clamping mask, all broadcast to a common shape.
    """
    load_w, t_chw, t_cond = np.broadcast_arrays(
        np.maximum(_array(load), 0.0),
        _array(leaving_chilled_water_temperature),
        _array(entering_condenser_temperature),
    )
    available = np.maximum(chiller.reference_capacity * chiller.capft(t_chw, t_cond), 0.0)
    running = (load_w > 0.0) & (available > 0.0)
    safe_available = np.where(available > 0.0, available, 1.0)
    delivered = np.where(running, np.minimum(load_w, chiller.max_part_load_ratio * available), 0.0)
    plr = delivered / safe_available
    cycling = np.minimum(plr / chiller.min_part_load_ratio, 1.0)
    plr_for_eir = np.maximum(plr, chiller.min_unloading_ratio)
    power = np.where(
        running,
        available
        / chiller.reference_cop
        * chiller.eirft(t_chw, t_cond)
        * chiller.eirfplr(plr_for_eir)
        * cycling,
        0.0,
    )
    false_load = np.where(
        running, np.maximum(available * plr_for_eir * cycling - delivered, 0.0), 0.0
    )
    cop = np.full(power.shape, np.nan)
    np.divide(delivered, power, out=cop, where=power > 0.0)
    used = load_w > 0.0
    clamped = used & (
        chiller.capft.out_of_range(t_chw, t_cond)
        | chiller.eirft.out_of_range(t_chw, t_cond)
        | chiller.eirfplr.out_of_range(plr_for_eir)
    )
    if warn and clamped.any():
        warn_if_clamped(
            f"Chiller {chiller.name!r}",
            [
                CurveInput(
                    "leaving chilled water temperature",
                    t_chw,
                    max(chiller.capft.x_min, chiller.eirft.x_min),
                    min(chiller.capft.x_max, chiller.eirft.x_max),
                    "°C",
                ),
                CurveInput(
                    "entering condenser temperature",
                    t_cond,
                    max(chiller.capft.y_min, chiller.eirft.y_min),
                    min(chiller.capft.y_max, chiller.eirft.y_max),
                    "°C",
                ),
                CurveInput(
                    "part load ratio", plr_for_eir, chiller.eirfplr.x_min, chiller.eirfplr.x_max
                ),
            ],
            used,
        )
    invalid = np.isnan(load_w) | np.isnan(t_chw) | np.isnan(t_cond)
    return ChillerResult(
        power=_nan_where(invalid, power),
        available_capacity=_nan_where(invalid, available),
        part_load_ratio=_nan_where(invalid, plr),
        cycling_ratio=_nan_where(invalid, cycling),
        cop=_nan_where(invalid, cop),
        unmet_load=_nan_where(invalid, load_w - delivered),
        false_load=_nan_where(invalid, false_load),
        clamped=np.asarray(clamped, dtype=bool),
    )


def affinity_power(
    design_power: ArrayLike, flow_fraction: ArrayLike, exponent: float = 3.0
) -> FloatArray:
    """Fan or pump power by the affinity laws, ``P = P_design · f^n``.

    With fixed system curve (no static head) power goes with the cube of flow (n = 3);
    pumps controlled to a fixed differential-pressure setpoint follow a lower exponent
    (about 2 to 2.5).

    Parameters
    ----------
    design_power
        Power at design flow [W].
    flow_fraction
        Flow over design flow [-]; negative values count as zero.
    exponent
        Affinity exponent n [-].

    Returns
    -------
    numpy.ndarray
        Power [W].
    """
    fraction = np.maximum(_array(flow_fraction), 0.0)
    return np.asarray(_array(design_power) * fraction**exponent, dtype=float)


def fan_part_load_power(
    design_power: ArrayLike,
    flow_fraction: ArrayLike,
    coefficients: Sequence[float] = ASHRAE_90_1_VSD_FAN_COEFFICIENTS,
    minimum_flow_fraction: float = 0.0,
) -> FloatArray:
    """Variable-volume fan power from a part-load polynomial (EnergyPlus Fan:VariableVolume).

    ``P = P_design · (c0 + c1 f + c2 f² + c3 f³ + c4 f⁴)`` with
    ``f = max(flow_fraction, minimum_flow_fraction)``; zero flow means the fan is off
    (zero power).  The default coefficients are the ASHRAE 90.1 Appendix G VSD fan curve
    (:data:`ASHRAE_90_1_VSD_FAN_COEFFICIENTS`).

    Parameters
    ----------
    design_power
        Fan power at design flow [W].
    flow_fraction
        Flow over design flow [-].
    coefficients
        Polynomial coefficients, constant term first (up to five) [-].
    minimum_flow_fraction
        Flow fraction below which power stays at its value at this fraction [-].

    Returns
    -------
    numpy.ndarray
        Fan power [W].
    """
    flow = _array(flow_fraction)
    f = np.maximum(flow, minimum_flow_fraction)
    part_load = np.polynomial.polynomial.polyval(f, np.asarray(coefficients, dtype=float))
    return np.asarray(np.where(flow > 0.0, _array(design_power) * part_load, 0.0), dtype=float)


@dataclass(frozen=True, kw_only=True)
class ChillerPlant:
    """A water-cooled chiller plant with cooling towers and a water-side economizer.

    Simplifying assumptions (all in :func:`plant_performance`):

    * The towers hold a constant approach to the wet bulb; with fans throttled they never
      cool below what is needed.  The minimum condenser temperature protects the chillers
      only: their entering condenser water is held at
      ``max(wet bulb + tower_approach, minimum_condenser_temperature)`` by the condenser
      bypass valve, while the economizer exchanger gets the tower water itself,
      ``max(wet bulb + tower_approach, chilled water supply − economizer_approach)``.
      Approach growth at part load or above design rejection is not modelled.
    * Tower fan power follows the fan affinity law on rejected heat,
      ``P = P_design·(Q/Q_design)³``, with Q/Q_design capped at 1 (fans at full speed).
    * Chilled water and condenser water pumps are variable speed with one flow fraction,
      ``carried load / design_cooling_load`` floored at ``minimum_pump_speed``;
      power by :func:`affinity_power` with ``pump_affinity_exponent``.
    * Chilled water ΔT is held at ``chilled_water_delta_t`` at every load.
    * All running chillers share the load at equal PLR; the condenser water entering them is
      the tower leaving water.

    Parameters
    ----------
    chiller
        The (identical) chillers installed.
    chiller_count
        Chillers installed, including redundant ones.
    tower_fan_design_power
        Total tower fan power at design heat rejection [W].
    chilled_water_pump_design_power
        Total chilled water pump power at design flow [W].
    condenser_pump_design_power
        Total condenser water pump power at design flow [W].
    redundant_chillers
        k of N+k; excluded from the design (firm) cooling load, which sets the pump design
        flow and the default tower design rejection.  All installed chillers may run to
        meet load.
    tower_approach
        Tower leaving water minus wet bulb at design [K].
    minimum_condenser_temperature
        Lowest tower leaving water temperature the controls allow [°C].
    tower_design_heat_rejection
        Heat rejected at design [W]; ``None`` means design cooling load × (1 + 1/COP_ref).
    economizer_enabled
        Whether the water-side economizer heat exchanger is installed and enabled.
    economizer_approach
        Heat-exchanger approach, economizer leaving chilled water minus tower water [K].
    economizer_integrated
        ``True`` (integrated, the default): the economizer pre-cools the return water and the
        chillers trim the rest (partial economizing).  ``False`` (non-integrated): the
        economizer runs only when it carries the whole load alone; otherwise the chillers
        carry everything.
    chilled_water_delta_t
        Design chilled water return minus supply temperature [K].
    pump_affinity_exponent
        Exponent of the pump affinity law [-]; 3 is the ideal law without static head, 2.5
        (default) allows for differential-pressure setpoint control.
    minimum_pump_speed
        Lowest pump flow fraction [-].
    """

    chiller: ChillerEIR
    chiller_count: int
    tower_fan_design_power: float
    chilled_water_pump_design_power: float
    condenser_pump_design_power: float
    redundant_chillers: int = 1
    tower_approach: float = 3.9
    minimum_condenser_temperature: float = 13.0
    tower_design_heat_rejection: float | None = None
    economizer_enabled: bool = True
    economizer_approach: float = 1.5
    economizer_integrated: bool = True
    chilled_water_delta_t: float = 6.0
    pump_affinity_exponent: float = 2.5
    minimum_pump_speed: float = 0.3

    def __post_init__(self) -> None:
        if self.chiller_count < 1 or not 0 <= self.redundant_chillers < self.chiller_count:
            raise ValueError(
                f"need chiller_count >= 1 and 0 <= redundant_chillers < chiller_count, got "
                f"{self.chiller_count} and {self.redundant_chillers}"
            )
        if self.chilled_water_delta_t <= 0:
            raise ValueError(f"chilled_water_delta_t must be > 0, got {self.chilled_water_delta_t}")
        if not 0 <= self.minimum_pump_speed <= 1:
            raise ValueError(f"minimum_pump_speed must be in [0, 1], got {self.minimum_pump_speed}")

    @property
    def design_cooling_load(self) -> float:
        """Firm capacity at reference conditions, (N installed − k redundant)·RefCap [W]."""
        return (self.chiller_count - self.redundant_chillers) * self.chiller.reference_capacity

    @property
    def design_heat_rejection(self) -> float:
        """Tower heat rejection at design [W]."""
        if self.tower_design_heat_rejection is not None:
            return self.tower_design_heat_rejection
        return self.design_cooling_load * (1.0 + 1.0 / self.chiller.reference_cop)


@dataclass(frozen=True)
class PlantResult:
    """Operating point of a chiller plant (arrays shaped like the broadcast inputs).

    Attributes
    ----------
    chiller_power
        Electric power of all running chillers [W].
    chillers_running
        Number of chillers running [-] (integers).
    tower_fan_power
        Cooling tower fan power [W].
    pump_power
        Chilled water plus condenser water pump power [W].
    economizer_fraction
        Share of the cooling load carried by the water-side economizer, 0–1 [-].
    unmet_load
        Cooling load the plant could not carry [W].
    total_power
        Chillers + tower fans + pumps [W].
    clamped
        True where a chiller curve input was outside its limits.
    tower_water_temperature
        Condenser water entering the chillers, after the bypass that holds the minimum
        condenser temperature [°C].
    chiller_load
        Load left for the chillers after the economizer [W].
    economizer_water_temperature
        Tower water entering the economizer exchanger [°C]; NaN without an economizer.
    """

    chiller_power: FloatArray
    chillers_running: NDArray[np.int64]
    tower_fan_power: FloatArray
    pump_power: FloatArray
    economizer_fraction: FloatArray
    unmet_load: FloatArray
    total_power: FloatArray
    clamped: BoolArray
    tower_water_temperature: FloatArray
    chiller_load: FloatArray
    economizer_water_temperature: FloatArray


def entering_condenser_water(plant: ChillerPlant, wet_bulb_temperature: ArrayLike) -> FloatArray:
    """Condenser water entering the chillers: ``max(T_wb + tower_approach,
    minimum_condenser_temperature)`` [°C] for the outdoor wet bulb ``wet_bulb_temperature``
    [°C] (the towers' approach; the condenser water is held at its minimum in cold weather)."""
    return np.maximum(
        _array(wet_bulb_temperature) + plant.tower_approach, plant.minimum_condenser_temperature
    )


def _economizer(
    plant: ChillerPlant, t_sup: FloatArray, t_wb: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """(share of the load carried free [-], tower water to the exchanger [°C]); steps 1–2 of
    :func:`plant_performance` on the economizer path."""
    if not plant.economizer_enabled:
        return np.zeros(t_sup.shape), np.full(t_sup.shape, np.nan)
    water = np.maximum(t_wb + plant.tower_approach, t_sup - plant.economizer_approach)
    leaving = water + plant.economizer_approach
    ret = t_sup + plant.chilled_water_delta_t
    fraction = np.clip((ret - leaving) / plant.chilled_water_delta_t, 0, 1)
    if not plant.economizer_integrated:
        fraction = np.where(fraction >= 1.0, 1.0, 0.0)
    return np.asarray(fraction, dtype=float), np.asarray(water, dtype=float)


@dataclass(frozen=True)
class _ChillerPick:
    """The fields of :class:`ChillerResult` the plant reads, at the chosen chiller count."""

    power: FloatArray
    unmet_load: FloatArray
    false_load: FloatArray
    clamped: BoolArray


def _stage_chillers(
    plant: ChillerPlant,
    chiller_load: FloatArray,
    t_sup: FloatArray,
    tower_water: FloatArray,
    warn: bool,
) -> tuple[NDArray[np.int64], _ChillerPick]:
    """Chillers running (the count from the fewest that carry ``chiller_load`` [W] to all
    installed that draws the least power) and each chiller's operating point at that count.

    ``t_sup`` is the leaving chilled water [°C], ``tower_water`` the entering condenser
    water [°C]."""
    chiller = plant.chiller
    capacity_each = chiller.reference_capacity * chiller.capft(t_sup, tower_water)
    safe_capacity = np.where(capacity_each > 0.0, capacity_each, 1.0)
    needed = np.ceil(chiller_load / safe_capacity * (1.0 - 1e-12))
    fewest = np.clip(needed, 1, plant.chiller_count)
    # Stage the count (from the fewest that carry the load to all installed) that draws the
    # least power: with EIR part-load curves, more chillers at lower PLR often draw less.
    # Every count at once (one vectorised call, counts on a leading axis): the arithmetic is
    # elementwise, so each element is bit-identical to a call per count.
    counts = np.arange(1, plant.chiller_count + 1, dtype=float).reshape(
        (plant.chiller_count,) + (1,) * chiller_load.ndim
    )
    staged = chiller_performance(chiller, chiller_load / counts, t_sup, tower_water, warn=False)
    running = fewest.copy()
    best = np.full(chiller_load.shape, np.inf)
    for index in range(plant.chiller_count):
        power = (index + 1) * staged.power[index]
        better = (index + 1 >= fewest) & (power < best * (1.0 - 1e-12))
        running = np.where(better, index + 1, running)
        best = np.where(better, power, best)
    running = np.where(chiller_load > 0.0, running, 0).astype(np.int64)
    # the operating point at the chosen count (count 1 where none runs: the load is 0 there,
    # as chiller_load / max(running, 1) would give)
    pick = np.expand_dims(np.maximum(running, 1) - 1, 0)
    each = _ChillerPick(
        power=np.take_along_axis(staged.power, pick, 0)[0],
        unmet_load=np.take_along_axis(staged.unmet_load, pick, 0)[0],
        false_load=np.take_along_axis(staged.false_load, pick, 0)[0],
        clamped=np.take_along_axis(staged.clamped, pick, 0)[0],
    )
    if warn and each.clamped.any():  # the warning names the inputs at the chosen counts
        per_chiller = chiller_load / np.maximum(running, 1)
        chiller_performance(chiller, per_chiller, t_sup, tower_water, warn=True)
    return running, each


def plant_performance(
    plant: ChillerPlant,
    cooling_load: ArrayLike,
    chilled_water_supply_temperature: ArrayLike,
    wet_bulb_temperature: ArrayLike,
    warn: bool = True,
) -> PlantResult:
    """Electric power of a chiller plant with a water-side economizer.

    1. Condenser water entering the chillers
       ``T_cond = max(T_wb + tower_approach, minimum_condenser_temperature)`` (the minimum
       protects the chillers: a bypass valve mixes warm condenser return into the tower
       water).  Tower water to the economizer exchanger
       ``T_tw = max(T_wb + tower_approach, T_sup − economizer_approach)`` (the tower fans
       never make water colder than the exchanger can use; the chillers' minimum does not
       apply to this path).
    2. Economizer leaving water ``T_econ = T_tw + economizer_approach``; return water
       ``T_ret = T_sup + ΔT``.  With the economizer enabled it pre-cools the return water:
       fraction of load carried free ``clip((T_ret − T_econ)/(T_ret − T_sup), 0, 1)`` —
       1 (chillers off) when ``T_econ ≤ T_sup``, 0 when ``T_econ ≥ T_ret``.  Non-integrated
       plants (``economizer_integrated=False``) use the economizer only where the fraction
       is 1.
    3. The rest goes to the chillers: running = the count, from ``ceil(chiller load /
       AvailCap)`` up to all installed, that draws the least power (0 without chiller load),
       each at equal PLR, leaving water at ``T_sup``,
       entering condenser water at ``T_cond``.  Load above what all installed chillers
       deliver at their maximum PLR is unmet.
    4. Pumps by affinity from the flow fraction ``carried / design_cooling_load`` (floored at
       ``minimum_pump_speed``; pumps off at zero load); tower fans by affinity (cube) from the
       rejected heat ``carried + chiller power + false load``.

    Parameters
    ----------
    plant
        The plant.
    cooling_load
        Heat to remove from the chilled water loop [W].
    chilled_water_supply_temperature
        Chilled water supply (chiller leaving) setpoint [°C].
    wet_bulb_temperature
        Outdoor wet-bulb temperature [°C].
    warn
        Emit one :class:`~physics.warnings.CurveRangeWarning` when chiller curve inputs
        were clamped.

    Returns
    -------
    PlantResult
        Powers, chillers running, economizer fraction, unmet load and the clamping mask.
        NaN in any input gives NaN in every float field (and 0 chillers running).
    """
    load, t_sup, t_wb = np.broadcast_arrays(
        np.maximum(_array(cooling_load), 0.0),
        _array(chilled_water_supply_temperature),
        _array(wet_bulb_temperature),
    )
    tower_water = entering_condenser_water(plant, t_wb)
    fraction, economizer_water = _economizer(plant, t_sup, t_wb)
    fraction = np.where(load > 0.0, fraction, 0.0)
    chiller_load = load * (1.0 - fraction)

    running, each = _stage_chillers(plant, chiller_load, t_sup, tower_water, warn)
    chiller_power = each.power * running
    unmet = each.unmet_load * running
    carried = load - unmet
    flow_fraction = np.where(
        carried > 0.0,
        np.maximum(carried / plant.design_cooling_load, plant.minimum_pump_speed),
        0.0,
    )
    pump_power = affinity_power(
        plant.chilled_water_pump_design_power + plant.condenser_pump_design_power,
        flow_fraction,
        plant.pump_affinity_exponent,
    )
    rejected = carried + chiller_power + each.false_load * running
    tower_fan_power = affinity_power(
        plant.tower_fan_design_power, np.minimum(rejected / plant.design_heat_rejection, 1.0)
    )
    invalid = np.isnan(load) | np.isnan(t_sup) | np.isnan(t_wb)
    return PlantResult(
        chiller_power=_nan_where(invalid, chiller_power),
        chillers_running=running,
        tower_fan_power=_nan_where(invalid, tower_fan_power),
        pump_power=_nan_where(invalid, pump_power),
        economizer_fraction=_nan_where(invalid, fraction),
        unmet_load=_nan_where(invalid, unmet),
        total_power=_nan_where(invalid, chiller_power + tower_fan_power + pump_power),
        clamped=each.clamped,
        tower_water_temperature=_nan_where(invalid, tower_water),
        chiller_load=_nan_where(invalid, chiller_load),
        economizer_water_temperature=_nan_where(invalid, economizer_water),
    )
