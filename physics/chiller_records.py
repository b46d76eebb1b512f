"""Named Chiller:Electric:EIR records from public data, and chillers from EnergyPlus fields.

:data:`CHILLER_RECORDS` holds a few records of the EnergyPlus reference data set
``datasets/Chillers.idf`` (CoolTools project curves, "developed from information collected
over a 10-year period from 1991 to 2001"), transcribed with their curve limits from the
Modelica Buildings Library record package ``Buildings.Fluid.Chillers.Data.ElectricEIR``
(lbl-srg/modelica-buildings, ``Buildings/Fluid/Chillers/Data/ElectricEIR.mo``, which
reproduces each EnergyPlus object in its documentation).  Each record's curves are fitted
over its own leaving chilled water and entering condenser ranges; outside them the curves
are evaluated clamped and counted (``clamped_curve_evaluations``).  None of the CoolTools
records reaches past 12.78 °C leaving chilled water: for warm chilled water give your own
curves (:func:`chiller_from_energyplus`).

:func:`chiller_from_energyplus` builds a :class:`~physics.plant.ChillerEIR` from the fields
of an EnergyPlus ``Chiller:Electric:EIR`` object and its ``Curve:Biquadratic`` and
``Curve:Quadratic`` objects, in EnergyPlus units (W, °C) and field names (snake_case).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from physics.curves import BiquadraticCurve, QuadraticCurve
from physics.plant import ChillerEIR

__all__ = ["CHILLER_RECORDS", "ChillerRecord", "chiller_from_energyplus", "chiller_record"]


@dataclass(frozen=True)
class ChillerRecord:
    """One EnergyPlus ``Chiller:Electric:EIR`` reference record.

    Attributes
    ----------
    name
        The EnergyPlus object name without its "ElectricEIRChiller " prefix.
    capacity, cop
        Reference capacity [W] and COP [-].
    leaving_chilled_water, entering_condenser
        Reference temperatures [°C].
    leaving_chilled_water_range, entering_condenser_range
        Curve limits of the two temperatures (both temperature curves) [°C].
    capft, eirft
        Biquadratic coefficients c1…c6.
    eirfplr
        Quadratic coefficients c1…c3.
    part_load
        (minimum part load ratio, maximum part load ratio, minimum unloading ratio) [-];
        the EIRFPLR curve is fitted over PLR 0 to the maximum.
    """

    name: str
    capacity: float
    cop: float
    leaving_chilled_water: float
    entering_condenser: float
    leaving_chilled_water_range: tuple[float, float]
    entering_condenser_range: tuple[float, float]
    capft: tuple[float, float, float, float, float, float]
    eirft: tuple[float, float, float, float, float, float]
    eirfplr: tuple[float, float, float]
    part_load: tuple[float, float, float]

    def chiller(self) -> ChillerEIR:
        """The record as a :class:`~physics.plant.ChillerEIR` at its reference rating."""
        x_min, x_max = self.leaving_chilled_water_range
        y_min, y_max = self.entering_condenser_range
        minimum, maximum, unloading = self.part_load
        return ChillerEIR(
            reference_capacity=self.capacity,
            reference_cop=self.cop,
            capft=BiquadraticCurve(self.capft, x_min, x_max, y_min, y_max),
            eirft=BiquadraticCurve(self.eirft, x_min, x_max, y_min, y_max),
            eirfplr=QuadraticCurve(self.eirfplr, 0.0, maximum),
            min_part_load_ratio=minimum,
            max_part_load_ratio=maximum,
            min_unloading_ratio=unloading,
            reference_leaving_chilled_water_temperature=self.leaving_chilled_water,
            reference_entering_condenser_temperature=self.entering_condenser,
            name=self.name,
        )


CHILLER_RECORDS: dict[str, ChillerRecord] = {
    "mcquay-wsc-471kw": ChillerRecord(
        "McQuay WSC 471kW/5.89COP/Vanes",
        471_200.0, 5.89, 8.89, 26.67, (7.22, 12.78), (12.78, 26.67),
        (0.2521130, 0.01324053, -0.008637329, 0.08581056, -0.004261176, 0.008661899),
        (0.4475238, -0.02588210, -0.001459053, 0.04342595, -0.001000651, 0.001920106),
        (0.2778889, 0.2338363, 0.4883748),
        (0.10, 1.15, 0.10),
    ),
    "carrier-19xr-1259kw": ChillerRecord(
        "Carrier 19XR 1259kW/6.26COP/Vanes",
        1_258_900.0, 6.26, 8.89, 26.67, (7.22, 12.78), (12.78, 26.67),
        (1.082071, 0.03200888, -0.003994780, -0.005789604, -0.0008238938, 0.002933539),
        (0.7582035, 0.006896017, -0.001491911, 0.002249459, 0.0003908697, -0.0001735265),
        (0.2226232, 0.5199282, 0.2578470),
        (0.18, 1.03, 0.18),
    ),
    "york-yk-1997kw": ChillerRecord(
        "York YK 1997kW/7.24COP/Vanes",
        1_997_400.0, 7.24, 8.89, 26.67, (7.22, 12.78), (12.78, 26.67),
        (0.9058272, 0.1309175, -0.003446620, -0.03166792, 0.0002325200, -0.0004892256),
        (0.1188194, 0.08769791, -0.001692086, 0.002209962, 0.001327958, -0.003249833),
        (0.09359332, 0.5873752, 0.3208990),
        (0.18, 1.06, 0.18),
    ),
    "trane-cvhf-1758kw-vsd": ChillerRecord(
        "Trane CVHF 1758kW/6.46COP/VSD",
        1_758_300.0, 6.46, 5.56, 24.44, (5.56, 10.00), (12.78, 24.44),
        (1.066671, 0.005889240, -0.003155053, -0.01591039, 0.0001042897, 0.002576256),
        (0.07989434, 0.02062907, -0.0004050827, 0.04570552, -0.0001469163, -0.001563259),
        (0.3268954, 0.3297771, 0.3423342),
        (0.20, 1.02, 0.20),
    ),
    "trane-rthc-707kw-screw": ChillerRecord(
        "Trane RTHC 707kW/7.77COP/Valve",
        706_800.0, 7.77, 5.56, 15.56, (5.56, 11.11), (15.56, 23.89),
        (0.9362925, 0.02940722, 0.0005726999, -0.005696483, -0.00005569609, -0.0001708132),
        (0.6497944, 0.006883157, -0.0005277681, 0.01725788, 0.0006779317, -0.001244055),
        (0.1997099, 0.6754676, 0.1243767),
        (0.28, 1.01, 0.28),
    ),
}  # fmt: skip
"""Named records (scenario ``curves:`` names) → the EnergyPlus reference chiller."""


def chiller_record(name: str) -> ChillerEIR:
    """The named record as a :class:`~physics.plant.ChillerEIR`.

    Parameters
    ----------
    name
        A key of :data:`CHILLER_RECORDS`.

    Returns
    -------
    ChillerEIR

    Raises
    ------
    KeyError
        For an unknown name, naming the known ones.
    """
    try:
        return CHILLER_RECORDS[name].chiller()
    except KeyError:
        known = ", ".join(sorted(CHILLER_RECORDS))
        raise KeyError(f"unknown chiller record {name!r}; known: {known}") from None


def _curve_limits(fields: Mapping[str, Any], names: Sequence[str]) -> list[float | None]:
    return [None if fields.get(n) is None else float(fields[n]) for n in names]


def _biquadratic(fields: Mapping[str, Any]) -> BiquadraticCurve:
    """A ``Curve:Biquadratic`` from its EnergyPlus fields (snake_case)."""
    coefficients = tuple(
        float(fields[n])
        for n in (
            "coefficient1_constant",
            "coefficient2_x",
            "coefficient3_x_2",
            "coefficient4_y",
            "coefficient5_y_2",
            "coefficient6_x_y",
        )
    )
    x_min, x_max, y_min, y_max, low, high = _curve_limits(
        fields,
        (
            "minimum_value_of_x",
            "maximum_value_of_x",
            "minimum_value_of_y",
            "maximum_value_of_y",
            "minimum_curve_output",
            "maximum_curve_output",
        ),
    )
    if x_min is None or x_max is None or y_min is None or y_max is None:
        raise ValueError("a Curve:Biquadratic needs its minimum and maximum values of x and y")
    return BiquadraticCurve(coefficients, x_min, x_max, y_min, y_max, low, high)  # type: ignore[arg-type]


def _quadratic(fields: Mapping[str, Any]) -> QuadraticCurve:
    """A ``Curve:Quadratic`` from its EnergyPlus fields (snake_case)."""
    coefficients = tuple(
        float(fields[n]) for n in ("coefficient1_constant", "coefficient2_x", "coefficient3_x_2")
    )
    x_min, x_max, low, high = _curve_limits(
        fields,
        (
            "minimum_value_of_x",
            "maximum_value_of_x",
            "minimum_curve_output",
            "maximum_curve_output",
        ),
    )
    if x_min is None or x_max is None:
        raise ValueError("a Curve:Quadratic needs its minimum and maximum value of x")
    return QuadraticCurve(coefficients, x_min, x_max, low, high)  # type: ignore[arg-type]


def chiller_from_energyplus(fields: Mapping[str, Any], name: str = "custom chiller") -> ChillerEIR:
    """A chiller from the fields of an EnergyPlus ``Chiller:Electric:EIR`` object.

    Parameters
    ----------
    fields
        ``reference_capacity`` [W], ``reference_cop`` [-],
        ``reference_leaving_chilled_water_temperature`` and
        ``reference_entering_condenser_fluid_temperature`` [°C],
        ``cooling_capacity_function_of_temperature_curve`` and
        ``electric_input_to_cooling_output_ratio_function_of_temperature_curve`` (each the
        fields of a ``Curve:Biquadratic``),
        ``electric_input_to_cooling_output_ratio_function_of_part_load_ratio_curve`` (the
        fields of a ``Curve:Quadratic``), ``minimum_part_load_ratio``,
        ``maximum_part_load_ratio`` and ``minimum_unloading_ratio`` [-].
    name
        Label used in warnings.

    Returns
    -------
    ChillerEIR
    """
    return ChillerEIR(
        reference_capacity=float(fields["reference_capacity"]),
        reference_cop=float(fields["reference_cop"]),
        capft=_biquadratic(fields["cooling_capacity_function_of_temperature_curve"]),
        eirft=_biquadratic(
            fields["electric_input_to_cooling_output_ratio_function_of_temperature_curve"]
        ),
        eirfplr=_quadratic(
            fields["electric_input_to_cooling_output_ratio_function_of_part_load_ratio_curve"]
        ),
        min_part_load_ratio=float(fields["minimum_part_load_ratio"]),
        max_part_load_ratio=float(fields["maximum_part_load_ratio"]),
        min_unloading_ratio=float(fields["minimum_unloading_ratio"]),
        reference_leaving_chilled_water_temperature=float(
            fields["reference_leaving_chilled_water_temperature"]
        ),
        reference_entering_condenser_temperature=float(
            fields["reference_entering_condenser_fluid_temperature"]
        ),
        name=name,
    )
