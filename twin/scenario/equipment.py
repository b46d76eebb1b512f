"""Scenario schema: a facility and its study described in YAML, validated with pydantic.

Every quantity documents one unit in its description (``[kW]``); YAML may give a bare number in
that unit or a string with a unit (``"120 kW"``, ``"64.4 degF"``), converted at load time.
Values are stored in the documented unit; :mod:`twin.scenario.compile` turns them into SI arrays.

``load_scenario(path)`` returns a validated :class:`Scenario` or raises :class:`ScenarioError`
holding one message per problem, each naming the field path, the value and what was expected.
"""

from __future__ import annotations

import itertools
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from twin.scenario.errors import FieldProblem, _shorten, _unit_message, format_validation_error
from twin.scenario.quantities import (
    Ampere,
    Celsius,
    CubicMetrePerSecond,
    Kilowatt,
    KilowattHour,
    Metre,
    Milliohm,
    Volt,
)
from twin.scenario.units import UnitError, to_unit

SCHEMA_VERSION = 1

# --------------------------------------------------------------------------------------------
# helpers


_ABSOLUTE_TEMPERATURE = re.compile(
    r"(?<![A-Za-z_])(deg\s*[CF]|°\s*[CF]|degree_(Celsius|Fahrenheit)|[CF]|fahrenheit|celsius)\s*$",
    re.IGNORECASE,
)


def _temperature_difference(value: Any) -> float:
    """Read a temperature difference [K]; '10 degC' is refused (an absolute temperature)."""
    if isinstance(value, str) and _ABSOLUTE_TEMPERATURE.search(value.strip()):
        raise ValueError(
            f"{value.strip()!r} reads as an absolute temperature; expected a temperature "
            "difference in K, e.g. '10 K' (or '18 delta_degF')"
        )
    try:
        return to_unit(value, "delta_degC")
    except UnitError as exc:
        raise UnitError(str(exc).replace("delta_degC", "K")) from None


Kelvin = Annotated[
    float,
    BeforeValidator(_temperature_difference),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number"},
                {"type": "string", "description": "number with a unit convertible to K"},
            ],
            "x-unit": "K",
        }
    ),
]
"""Temperature difference [K]: a number or a string like ``"10 K"``; ``"10 degC"`` is refused."""


def _seconds(seconds: float) -> timedelta:
    try:
        return timedelta(seconds=seconds)
    except (OverflowError, ValueError):  # inf, NaN or beyond ±999 999 999 days
        raise ValueError(f"expected a finite duration, got {seconds:g} s") from None


def _parse_duration(value: Any) -> timedelta:
    """Read ``"15min"``, ``"15 min"``, ``"24h"``, ``"7 d"``, ``900`` (seconds) or a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '15 min' or '24 h'")
    if isinstance(value, int | float):
        return _seconds(float(value))
    if isinstance(value, str):
        text = value.strip()
        compact = re.fullmatch(r"([0-9.]+)\s*(s|min|h|d|w)", text)
        if compact:
            unit = {"s": "s", "min": "min", "h": "h", "d": "day", "w": "week"}[compact.group(2)]
            text = f"{compact.group(1)} {unit}"
        try:
            return _seconds(to_unit(text, "s"))
        except UnitError as exc:
            raise ValueError(
                f"expected a duration such as '15 min' or '24 h' ({_unit_message(str(exc))})"
            ) from exc
    raise ValueError("expected a duration such as '15 min' or '24 h'")


Duration = Annotated[
    timedelta,
    BeforeValidator(_parse_duration),
    WithJsonSchema(
        {
            "anyOf": [{"type": "number"}, {"type": "string"}],
            "description": "duration: seconds, or text like '15 min', '24 h', '7 d'",
        }
    ),
]

_INSTANT_EXAMPLE = "'2026-07-08T12:00:00Z'"


def _parse_offset_or_instant(value: Any) -> timedelta | datetime:
    """Read a workload time: an offset from the window start (``"6 h"``) or an aware instant."""
    if isinstance(value, str) and re.match(r"\s*\d{4}-\d{2}-\d{2}", value):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                f"expected an ISO 8601 instant with timezone such as {_INSTANT_EXAMPLE}"
            ) from None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"the instant has no timezone; expected e.g. {_INSTANT_EXAMPLE} (UTC) or "
                "'2026-07-08T07:00:00-05:00'"
            )
        return value
    if isinstance(value, date):
        raise ValueError(f"a date alone is not an instant; expected e.g. {_INSTANT_EXAMPLE}")
    try:
        return _parse_duration(value)
    except ValueError:
        raise ValueError(
            "expected an offset from the simulation start such as '6 h' or '2 d', or an "
            f"ISO 8601 instant with timezone such as {_INSTANT_EXAMPLE}"
        ) from None


OffsetOrInstant = Annotated[
    timedelta | datetime,
    BeforeValidator(_parse_offset_or_instant),
    WithJsonSchema(
        {
            "anyOf": [{"type": "number"}, {"type": "string"}],
            "description": "offset from the simulation start ('6 h', '2 d', seconds) or an "
            "ISO 8601 instant with timezone",
        }
    ),
]

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


class _Model(BaseModel):
    """Base: unknown fields are errors, assignment re-validates, enums stored as values."""

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, populate_by_name=True, allow_inf_nan=False
    )


# --------------------------------------------------------------------------------------------
# site

AirClass = Literal["A1", "A2", "A3", "A4"]
LiquidClass = Literal["W17", "W27", "W32", "W40", "W45", "W+"]

# ASHRAE TC 9.9 Thermal Guidelines (5th ed., 2021): recommended 18–27 °C for A1–A4;
# allowable maxima A1 32, A2 35, A3 40, A4 45 °C (minima 15, 10, 5, 5 °C).
AIR_CLASS_ALLOWABLE = {"A1": (15.0, 32.0), "A2": (10.0, 35.0), "A3": (5.0, 40.0), "A4": (5.0, 45.0)}
AIR_CLASS_RECOMMENDED = (18.0, 27.0)
# ASHRAE liquid cooling classes (2021): maximum facility water supply temperature [°C].
LIQUID_CLASS_SUPPLY_LIMIT = {
    "W17": 17.0,
    "W27": 27.0,
    "W32": 32.0,
    "W40": 40.0,
    "W45": 45.0,
    "W+": 60.0,
}


class Site(_Model):
    """Where the facility is and which thermal classes bound it."""

    name: str = Field(description="Site name.")
    latitude: float = Field(0.0, ge=-90, le=90, description="Latitude [degrees north].")
    longitude: float = Field(0.0, ge=-180, le=180, description="Longitude [degrees east].")
    elevation: Metre = Field(0.0, ge=-500, le=6000, description="Elevation above sea level [m].")
    timezone: str = Field("UTC", description="IANA timezone for display, e.g. 'America/Chicago'.")
    air_class: AirClass = Field("A2", description="ASHRAE air-cooling equipment class.")
    inlet_limit: Literal["recommended", "allowable"] = Field(
        "recommended",
        description="Which ASHRAE envelope bounds rack inlets: 'recommended' (18–27 °C) or "
        "the class 'allowable' range.",
    )
    max_inlet_temperature: Celsius | None = Field(
        None, description="Override of the inlet limit [°C]; default from the class envelope."
    )
    liquid_class: LiquidClass = Field(
        "W32", description="ASHRAE liquid-cooling class: maximum facility water supply."
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA timezone {value!r} (e.g. 'Europe/Berlin')") from exc
        return value

    @property
    def inlet_limit_temperature(self) -> float:
        """The upper rack inlet limit in force [°C]."""
        if self.max_inlet_temperature is not None:
            return self.max_inlet_temperature
        if self.inlet_limit == "recommended":
            return AIR_CLASS_RECOMMENDED[1]
        return AIR_CLASS_ALLOWABLE[self.air_class][1]

    @property
    def facility_water_limit(self) -> float:
        """Maximum facility water supply temperature of the liquid class [°C]."""
        return LIQUID_CLASS_SUPPLY_LIMIT[self.liquid_class]


class Simulation(_Model):
    """The time window simulated or planned."""

    start: AwareDatetime = Field(description="First instant, timezone-aware ISO 8601.")
    duration: Duration = Field(timedelta(days=1), description="Length of the window.")
    step: Duration = Field(timedelta(minutes=15), description="Time step.")

    @model_validator(mode="after")
    def _step_divides(self) -> Simulation:
        if self.step <= timedelta(0):
            raise FieldProblem("step", f"expected a positive time step, got {self.step}")
        if self.duration < self.step:
            raise FieldProblem(
                "duration", f"{self.duration} is shorter than one step ({self.step})"
            )
        if self.duration % self.step:
            raise FieldProblem(
                "duration",
                f"{self.duration} is not a whole number of steps; expected a multiple of "
                f"step ({self.step})",
            )
        return self


# --------------------------------------------------------------------------------------------
# efficiency curves

NamedCurve = Literal["orv3-shelf", "double-conversion-ups", "transformer", "ibc-48v-12v"]


class EfficiencyPoints(_Model):
    """Efficiency vs load fraction, interpolated linearly (clipped at the ends)."""

    points: list[
        tuple[Annotated[float, Field(ge=0, le=1.5)], Annotated[float, Field(gt=0, le=1)]]
    ] = Field(min_length=1, description="(load fraction [-], efficiency [-]) pairs.")
    fixed_loss: Kilowatt = Field(0.0, ge=0, description="No-load loss [kW].")

    @field_validator("points")
    @classmethod
    def _increasing(cls, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        loads = [p[0] for p in points]
        if any(b <= a for a, b in itertools.pairwise(loads)):
            raise ValueError(f"expected strictly increasing load fractions, got {loads}")
        return points


_CURVE_NAMES: tuple[str, ...] = get_args(NamedCurve)


def _efficiency_kind(value: Any) -> str | None:
    if isinstance(value, dict | EfficiencyPoints):
        return "efficiency-points"
    if isinstance(value, str) and value in _CURVE_NAMES:
        return "efficiency-named"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "efficiency-number"
    if isinstance(value, str) and re.fullmatch(r"\s*[0-9.]+(?:[eE][-+]?\d+)?\s*", value):
        return "efficiency-number"  # "0.96"
    return None


Efficiency = Annotated[
    Annotated[Annotated[float, Field(gt=0, le=1)], Tag("efficiency-number")]
    | Annotated[NamedCurve, Tag("efficiency-named")]
    | Annotated[EfficiencyPoints, Tag("efficiency-points")],
    Discriminator(
        _efficiency_kind,
        custom_error_type="efficiency",
        custom_error_message="expected an efficiency in (0, 1], a named curve ("
        + ", ".join(_CURVE_NAMES)
        + ") or {points: [[load fraction, efficiency], ...]}",
    ),
]
"""Efficiency [-]: a constant, a named curve or points of efficiency vs load fraction."""

# --------------------------------------------------------------------------------------------
# racks


class RackType(_Model):
    """A rack model in the catalogue (e.g. a 120 kW liquid-cooled GPU rack)."""

    design_power: Kilowatt = Field(gt=0, description="Design IT power at full load [kW].")
    idle_fraction: Fraction = Field(
        0.3, description="IT power when idle as a fraction of design power [-]."
    )
    liquid_share: Fraction = Field(
        0.0, description="Share of rack heat removed by direct-to-chip liquid cooling [-]."
    )
    design_delta_t: Kelvin | None = Field(
        None, gt=0, description="Air temperature rise across the rack at design power [K]."
    )
    airflow_per_kw: CubicMetrePerSecond | None = Field(
        None,
        gt=0,
        description="Airflow per kW of design air-side heat [m³/s per kW]; alternative to "
        "design_delta_t (default: design_delta_t = 12 K).",
    )
    fan_fraction: Fraction = Field(
        0.06, description="Server fan share of design power at nominal inlet [-]."
    )
    fan_knee_temperature: Celsius = Field(
        27.0, description="Inlet temperature above which server fans speed up [°C]."
    )
    fan_speed_slope: float = Field(
        0.04, ge=0, le=1, description="Fan speed increase per kelvin above the knee [1/K]."
    )
    taps: int = Field(
        1, ge=1, le=64, description="Load taps this rack places on its 48 V busbar [-]."
    )
    converter: Efficiency = Field(
        "ibc-48v-12v", description="Intermediate bus converter (48→12 V) efficiency."
    )
    bbu_energy: KilowattHour = Field(
        0.0, ge=0, description="Rack battery backup unit usable energy [kWh]."
    )
    bbu_power: Kilowatt = Field(0.0, ge=0, description="Rack battery backup power rating [kW].")
    description: str = Field("", description="Free text describing the rack model.")

    @model_validator(mode="after")
    def _one_airflow(self) -> RackType:
        if self.design_delta_t is not None and self.airflow_per_kw is not None:
            raise FieldProblem("airflow_per_kw", "give design_delta_t or airflow_per_kw, not both")
        return self


class Rack(_Model):
    """One rack at a floor position."""

    id: str = Field(min_length=1, description="Unique rack id, e.g. 'B07'.")
    row: str = Field(description="Row name, e.g. 'B'.")
    position: int = Field(ge=0, description="Position along the row (1 = first) [-].")
    type: str = Field(description="Rack type name from rack_types.")
    cooling_unit: str = Field(description="Id of the CRAH/CRAC serving the rack's air.")
    cdu: str | None = Field(None, description="Id of the CDU serving its liquid loop.")
    busbar: str = Field(description="Id of the 48 V busbar feeding the rack.")


class RackRow(_Model):
    """Shorthand for a row of identical racks: expands to racks '{row}{position:02d}'."""

    row: str = Field(description="Row name.")
    type: str = Field(description="Rack type name from rack_types.")
    count: int = Field(ge=1, le=10_000, description="Number of racks [-].")
    first_position: int = Field(1, ge=0, description="Position of the first rack [-].")
    cooling_unit: str = Field(description="Id of the CRAH/CRAC serving the row.")
    cdu: str | None = Field(None, description="Id of the CDU serving the row.")
    busbar: str | None = Field(
        None, description="Id of one busbar shared by the row (exclusive with busbar_template)."
    )
    busbar_template: str | None = Field(
        None,
        description="Name of a busbar template: each rack gets its own busbar '{rack id}' "
        "(Open Rack V3 style, busbar inside the rack).",
    )
    ups: str | None = Field(None, description="UPS feeding per-rack busbars from a template.")

    @model_validator(mode="after")
    def _busbar_choice(self) -> RackRow:
        if (self.busbar is None) == (self.busbar_template is None):
            given = "both" if self.busbar is not None else "neither"
            raise ValueError(f"give exactly one of busbar or busbar_template (got {given})")
        if self.busbar_template is not None and self.ups is None:
            raise FieldProblem(
                "ups", "required with busbar_template: the id of the UPS feeding the new busbars"
            )
        return self

    def rack_ids(self) -> list[str]:
        """Ids of the racks this row expands to."""
        return [f"{self.row}{self.first_position + i:02d}" for i in range(self.count)]


# --------------------------------------------------------------------------------------------
# cooling


def _five_coefficients(value: Any) -> Any:
    if isinstance(value, list | tuple) and len(value) != 5:
        raise ValueError(
            f"expected 5 polynomial coefficients c0..c4 of the flow fraction, got {len(value)}"
        )
    return value


def _fan_curve_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "fan-named"
    if isinstance(value, list | tuple):
        return "fan-coefficients"
    return None


FanCurve = Annotated[
    Annotated[Literal["vsd", "cubic"], Tag("fan-named")]
    | Annotated[
        tuple[float, float, float, float, float],
        BeforeValidator(_five_coefficients),
        Tag("fan-coefficients"),
    ],
    Discriminator(
        _fan_curve_kind,
        custom_error_type="fan_curve",
        custom_error_message="expected 'vsd', 'cubic' or 5 polynomial coefficients",
    ),
]


class CoolingUnit(_Model):
    """A CRAH (chilled-water coil) or CRAC unit supplying air to racks."""

    id: str = Field(description="Unique cooling unit id.")
    airflow: CubicMetrePerSecond = Field(gt=0, description="Design (maximum) airflow [m³/s].")
    fan_power: Kilowatt = Field(ge=0, description="Fan power at design airflow [kW].")
    fan_curve: FanCurve = Field(
        "vsd",
        description="Fan power vs flow fraction: 'vsd' (ASHRAE 90.1 App. G variable-speed "
        "curve), 'cubic' (affinity law), or 5 polynomial coefficients.",
    )
    minimum_airflow_fraction: Fraction = Field(
        0.3, description="Lowest fan speed as a fraction of design airflow [-]."
    )
    capacity: Kilowatt = Field(gt=0, description="Coil cooling capacity [kW].")
    supply_temperature: Celsius = Field(
        18.0, description="Supply air setpoint as operated today [°C]."
    )
    supply_temperature_min: Celsius = Field(14.0, description="Lowest supply setpoint [°C].")
    supply_temperature_max: Celsius = Field(27.0, description="Highest supply setpoint [°C].")
    coil_approach: Kelvin = Field(
        4.0, ge=0, description="Supply air minus chilled water supply at design [K]."
    )
    bypass_fraction: Fraction = Field(
        0.1, description="Share of unit airflow bypassing the racks (leakage) [-]."
    )

    @model_validator(mode="after")
    def _bounds(self) -> CoolingUnit:
        lo, hi, op = (
            self.supply_temperature_min,
            self.supply_temperature_max,
            self.supply_temperature,
        )
        if not lo <= op <= hi:
            raise FieldProblem(
                "supply_temperature",
                f"{op:g} °C is outside the unit's setpoint range; expected "
                f"supply_temperature_min..supply_temperature_max = {lo:g}..{hi:g} °C",
            )
        return self


class CDU(_Model):
    """A coolant distribution unit: liquid-to-liquid exchanger and pumps of a D2C loop."""

    id: str = Field(description="Unique CDU id.")
    capacity: Kilowatt = Field(gt=0, description="Heat capacity [kW].")
    approach: Kelvin = Field(
        3.0,
        gt=0,
        description="Coolant supply minus facility water supply at full capacity [K]; "
        "scales linearly with load (ε-NTU with constant flows).",
    )
    coolant_delta_t: Kelvin = Field(
        10.0, gt=0, description="Coolant return minus supply at full capacity [K]."
    )
    pump_power: Kilowatt = Field(0.0, ge=0, description="Pump power at full flow [kW].")
    max_supply_temperature: Celsius = Field(
        45.0, description="Highest coolant supply the cold plates accept [°C]."
    )


class RecirculationLayout(_Model):
    """Recirculation generated from the layout (documented in docs/physics.md).

    Within a row, rack i's outlet air reaches rack j's inlet with fraction
    ``neighbor_fraction · decay^(|i−j|−1)`` for ``1 ≤ |i−j| ≤ reach``; every rack re-ingests
    ``self_fraction`` of its own outlet, and the first/last racks of a row an extra
    ``end_of_row_fraction`` (hot air wrapping around the row end).
    """

    mode: Literal["layout"] = Field("layout", description="Recirculation model (default).")
    self_fraction: Fraction = Field(0.02, description="Own outlet air re-ingested [-].")
    neighbor_fraction: Fraction = Field(0.03, description="To the adjacent rack [-].")
    decay: Fraction = Field(0.5, description="Factor per extra rack of distance [-].")
    reach: int = Field(3, ge=0, le=50, description="Farthest rack reached [racks].")
    end_of_row_fraction: Fraction = Field(
        0.05, description="Extra self-recirculation of end-of-row racks [-]."
    )


class RecirculationEntry(_Model):
    """One measured/CFD recirculation fraction."""

    source: str = Field(alias="from", description="Rack whose outlet air recirculates.")
    target: str = Field(alias="to", description="Rack whose inlet receives it.")
    fraction: Fraction = Field(description="Share of source outlet air reaching target [-].")


class RecirculationEntries(_Model):
    """Recirculation given explicitly as a sparse matrix (e.g. from CFD or calibration)."""

    mode: Literal["entries"] = Field("entries", description="Recirculation model.")
    entries: list[RecirculationEntry] = Field(
        default_factory=list, description="Recirculation fractions, rack to rack."
    )


class RecirculationNone(_Model):
    """Perfect containment: no recirculation."""

    mode: Literal["none"] = Field("none", description="Recirculation model.")


def _recirculation_shorthand(value: Any) -> Any:
    """``recirculation: none`` is short for ``recirculation: {mode: none}``."""
    return {"mode": value} if isinstance(value, str) else value


def _recirculation_mode(value: Any) -> Any:
    if isinstance(value, dict):
        return value.get("mode", "layout")  # the documented default
    return getattr(value, "mode", None)


Recirculation = Annotated[
    Annotated[RecirculationLayout, Tag("layout")]
    | Annotated[RecirculationEntries, Tag("entries")]
    | Annotated[RecirculationNone, Tag("none")],
    Discriminator(_recirculation_mode),
    BeforeValidator(_recirculation_shorthand),
]

ChillerCurves = Literal["mcquay-wsc-471kw"]


class Chillers(_Model):
    """Identical electric chillers (EnergyPlus Chiller:Electric:EIR form)."""

    count: int = Field(2, ge=1, le=50, description="Installed chillers [-].")
    redundancy: int = Field(1, ge=0, description="Spare chillers (N+k) [-].")
    capacity: Kilowatt = Field(gt=0, description="Reference capacity of one chiller [kW].")
    cop: float = Field(5.89, gt=0, le=20, description="Reference COP [-].")
    curves: ChillerCurves = Field(
        "mcquay-wsc-471kw", description="Named EnergyPlus performance curve set."
    )

    @model_validator(mode="after")
    def _redundancy(self) -> Chillers:
        if self.redundancy >= self.count:
            raise FieldProblem(
                "redundancy",
                f"{self.redundancy} spare chillers leave none to carry load; expected fewer "
                f"than count ({self.count})",
            )
        return self


class Economizer(_Model):
    """Water-side economizer: tower water pre-cools chilled water through a heat exchanger."""

    enabled: bool = Field(True, description="Whether the economizer is installed and used.")
    approach: Kelvin = Field(1.5, ge=0, description="Heat-exchanger approach [K].")


class Plant(_Model):
    """Chiller plant with cooling towers, water-side economizer and pumps."""

    chillers: Chillers = Field(description="The chillers.")
    chilled_water_temperature: Celsius = Field(
        12.0, description="Chilled water supply setpoint as operated today [°C]."
    )
    chilled_water_temperature_min: Celsius = Field(6.0, description="Lowest setpoint [°C].")
    chilled_water_temperature_max: Celsius = Field(22.0, description="Highest setpoint [°C].")
    chilled_water_delta_t: Kelvin = Field(6.0, gt=0, description="Return minus supply [K].")
    tower_approach: Kelvin = Field(4.0, ge=0, description="Tower water minus wet bulb [K].")
    minimum_condenser_temperature: Celsius = Field(
        15.0, description="Lowest tower leaving water temperature [°C]."
    )
    tower_fan_power: Kilowatt = Field(ge=0, description="Tower fan power at design [kW].")
    economizer: Economizer = Field(default_factory=Economizer, description="Water-side economizer.")
    chilled_water_pump_power: Kilowatt = Field(0.0, ge=0, description="At design flow [kW].")
    condenser_pump_power: Kilowatt = Field(0.0, ge=0, description="At design flow [kW].")

    @model_validator(mode="after")
    def _bounds(self) -> Plant:
        lo, hi = self.chilled_water_temperature_min, self.chilled_water_temperature_max
        if not lo <= self.chilled_water_temperature <= hi:
            raise FieldProblem(
                "chilled_water_temperature",
                f"{self.chilled_water_temperature:g} °C is outside the setpoint range; expected "
                f"chilled_water_temperature_min..chilled_water_temperature_max = "
                f"{lo:g}..{hi:g} °C",
            )
        return self


class Cooling(_Model):
    """Air and liquid cooling of the white space and the plant behind them."""

    units: list[CoolingUnit] = Field(min_length=1, description="CRAH/CRAC units.")
    cdus: list[CDU] = Field(default_factory=list, description="Coolant distribution units.")
    recirculation: Recirculation = Field(
        default_factory=RecirculationLayout,
        description="Hot-air recirculation model: mode layout (default), entries or none.",
    )
    plant: Plant = Field(description="Chiller plant behind the cooling units.")
    feed: str | None = Field(None, description="Utility feed of cooling loads (default: first).")


# --------------------------------------------------------------------------------------------
# power


class Feed(_Model):
    """A utility feed (medium-voltage service) and its capacity."""

    id: str = Field(description="Unique feed id.")
    capacity: Kilowatt = Field(gt=0, description="Feed capacity [kW].")


class UPS(_Model):
    """Transformer + UPS stage between a feed and the rack power shelves."""

    id: str = Field(description="Unique UPS id.")
    feed: str = Field(description="Feed id.")
    rating: Kilowatt = Field(gt=0, description="Rated output [kW].")
    efficiency: Efficiency = Field("double-conversion-ups", description="Efficiency vs load.")


class PowerShelf(_Model):
    """Rectifier shelf (AC → 48 V): PSUs sharing the load, staged, with redundancy."""

    psu_rating: Kilowatt = Field(gt=0, description="Output rating of one PSU [kW].")
    psu_count: int = Field(ge=1, le=1000, description="Installed PSUs [-].")
    redundancy: int = Field(1, ge=0, description="Spare PSUs (N+k) [-].")
    stage_up_fraction: float = Field(
        0.8, gt=0, le=1, description="Per-PSU load above which another PSU is staged on [-]."
    )
    efficiency: Efficiency = Field("orv3-shelf", description="PSU efficiency vs load.")

    @model_validator(mode="after")
    def _redundancy(self) -> PowerShelf:
        if self.redundancy >= self.psu_count:
            raise FieldProblem(
                "redundancy",
                f"{self.redundancy} spare PSUs leave none to carry load; expected fewer than "
                f"psu_count ({self.psu_count})",
            )
        return self


class BusbarTemplate(_Model):
    """Electrical description of a 48 V busbar and its power shelf."""

    nominal_voltage: Volt = Field(51.0, gt=0, description="Shelf output voltage [V].")
    resistance: Milliohm = Field(
        gt=0, description="End-to-end busbar resistance, source to farthest tap [mΩ]."
    )
    undervoltage_limit: Volt = Field(46.0, gt=0, description="Lowest acceptable tap voltage [V].")
    ampacity: Ampere = Field(gt=0, description="Current rating [A].")
    shelf: PowerShelf = Field(description="Rectifier shelf feeding the busbar.")


class Busbar(BusbarTemplate):
    """A 48 V busbar (in a rack or along a row) fed by a shelf from a UPS."""

    id: str = Field(description="Unique busbar id.")
    ups: str = Field(description="UPS id.")


class Power(_Model):
    """Utility → transformer/UPS → power shelves → 48 V busbars → converters → IT."""

    feeds: list[Feed] = Field(min_length=1, description="Utility feeds.")
    ups: list[UPS] = Field(min_length=1, description="Transformer/UPS stages.")
    busbars: list[Busbar] = Field(
        default_factory=list, description="48 V busbars shared by several racks."
    )
    busbar_templates: dict[str, BusbarTemplate] = Field(
        default_factory=dict,
        description="Named busbar designs that rows instantiate once per rack.",
    )
    mechanical_efficiency: float = Field(
        0.985, gt=0, le=1, description="Transformer efficiency for cooling loads [-]."
    )


# --------------------------------------------------------------------------------------------
# storage and generation


class Battery(_Model):
    """Facility battery energy storage system (BESS)."""

    energy: KilowattHour = Field(gt=0, description="Usable energy capacity [kWh].")
    power: Kilowatt = Field(gt=0, description="Charge and discharge power limit [kW].")
    charge_efficiency: float = Field(0.948, gt=0, le=1, description="[-]")
    discharge_efficiency: float = Field(0.948, gt=0, le=1, description="[-]")
    soc_min: Fraction = Field(0.1, description="Lowest state of charge [-].")
    soc_max: Fraction = Field(0.95, description="Highest state of charge [-].")
    initial_soc: Fraction = Field(0.5, description="State of charge at the start [-].")
    wear_cost: float = Field(
        0.02, ge=0, description="Degradation cost per kWh of throughput [currency/kWh]."
    )
    feed: str | None = Field(None, description="Feed it is connected to (default: first).")

    @model_validator(mode="after")
    def _window(self) -> Battery:
        if not self.soc_min < self.soc_max:
            raise FieldProblem(
                "soc_min",
                f"expected a value below soc_max ({self.soc_max:g}), got {self.soc_min:g}",
            )
        if not self.soc_min <= self.initial_soc <= self.soc_max:
            raise FieldProblem(
                "initial_soc",
                f"expected a state of charge within soc_min..soc_max = "
                f"{self.soc_min:g}..{self.soc_max:g}, got {self.initial_soc:g}",
            )
        return self


class PV(_Model):
    """On-site photovoltaics; output = peak × the series ``pv_capacity_factor``."""

    peak: Kilowatt = Field(gt=0, description="Peak AC output [kW].")


# --------------------------------------------------------------------------------------------
# workloads


class Workload(_Model):
    """IT work on a set of racks, by tier.

    Tier 1: critical inference, a fixed utilization profile.  Tier 2: real-time analytics, a
    profile whose work may be delayed by at most ``max_delay``.  Tier 3: training/batch: an
    ``energy`` to deliver between ``release`` and ``deadline`` at a power between
    ``min_power`` (when running) and ``max_power``.
    """

    id: str = Field(description="Unique workload id.")
    tier: Literal[1, 2, 3] = Field(
        description="1: critical inference, 2: deferrable analytics, 3: training/batch."
    )
    racks: list[str] = Field(
        min_length=1, description="Rack ids or glob patterns ('A*') the workload runs on."
    )
    utilization: Fraction | None = Field(
        None, description="Tier 1/2: constant utilization of the racks' dynamic power [-]."
    )
    profile: str | None = Field(
        None, description="Tier 1/2: name of a series (0..1) giving utilization over time."
    )
    profile_scale: float = Field(1.0, ge=0, le=1, description="Multiplier on the profile [-].")
    max_delay: Duration | None = Field(None, description="Tier 2: how long work may be deferred.")
    energy: KilowattHour | None = Field(
        None, ge=0, description="Tier 3: IT energy above idle to deliver [kWh]."
    )
    min_power: Kilowatt | None = Field(
        None, ge=0, description="Tier 3: lowest power while running [kW]."
    )
    max_power: Kilowatt | None = Field(
        None, ge=0, description="Tier 3: highest power (default: racks' dynamic power) [kW]."
    )
    release: OffsetOrInstant | None = Field(
        None, description="Tier 3: earliest start (instant, or offset from start)."
    )
    deadline: OffsetOrInstant | None = Field(
        None, description="Tier 3: latest finish (instant, or offset from start)."
    )
    lateness_penalty: float = Field(
        0.5, ge=0, description="Cost per kWh delivered late, per hour of delay [currency/kWh/h]."
    )
    unserved_penalty: float = Field(
        1.0, ge=0, description="Cost per kWh not delivered in the horizon [currency/kWh]."
    )

    @model_validator(mode="after")
    def _by_tier(self) -> Workload:
        if self.tier in (1, 2):
            if (self.utilization is None) == (self.profile is None):
                given = "both" if self.utilization is not None else "neither"
                raise ValueError(
                    f"tier {self.tier} needs exactly one of utilization or profile (got {given})"
                )
            if self.tier == 2 and self.max_delay is None:
                raise FieldProblem("max_delay", "required for tier 2, e.g. max_delay: 2 h")
        else:
            missing = [n for n in ("energy", "release", "deadline") if getattr(self, n) is None]
            if missing:
                raise FieldProblem(missing, "required for tier 3 (batch/training) workloads")
            if (
                self.min_power is not None
                and self.max_power is not None
                and self.min_power > self.max_power
            ):
                raise FieldProblem(
                    "min_power",
                    f"{self.min_power:g} kW exceeds max_power ({self.max_power:g} kW); expected "
                    "min_power <= max_power",
                )
        return self


# --------------------------------------------------------------------------------------------
# grid and series


class DemandResponseEvent(_Model):
    """A window during which grid import must stay under a cap."""

    start: AwareDatetime = Field(description="Event start, ISO 8601 with timezone.")
    end: AwareDatetime = Field(description="Event end, ISO 8601 with timezone.")
    import_cap: Kilowatt = Field(ge=0, description="Grid import cap during the event [kW].")

    @model_validator(mode="after")
    def _ordered(self) -> DemandResponseEvent:
        if self.end <= self.start:
            raise FieldProblem("end", f"expected an instant after start ({self.start.isoformat()})")
        return self


class Grid(_Model):
    """Grid connection, tariff and emissions accounting."""

    contract_capacity: Kilowatt = Field(gt=0, description="Contracted import limit [kW].")
    demand_charge: float = Field(
        0.0, ge=0, description="Charge on the peak import in the window [currency/kW]."
    )
    carbon_price: float = Field(0.0, ge=0, description="Price of emissions [currency/t CO2e].")
    export_allowed: bool = Field(False, description="Whether net export to the grid is allowed.")
    currency: str = Field("USD", description="Currency of every cost.")
    demand_response: list[DemandResponseEvent] = Field(
        default_factory=list, description="Demand-response events (import caps)."
    )


SeriesFormat = Literal["dctwin", "price_csv", "carbon_csv", "open_meteo", "epw", "cpu_trace"]


class SeriesSource(_Model):
    """One source of exogenous series; later entries override earlier ones.

    Exactly one of: ``file`` (with ``format``), ``zone`` (a folder of the public data set),
    ``values`` (inline, one per ``step`` from the simulation start), ``constant``, ``generate``.
    """

    file: str | None = Field(None, description="Path, relative to the scenario file.")
    format: SeriesFormat = Field("dctwin", description="File format.")
    zone: str | None = Field(None, description="Grid zone folder, e.g. 'US-TEX-ERCO'.")
    data_dir: str = Field(
        "../../shared/data", description="Public data folder, relative to the scenario file."
    )
    year: int | None = Field(None, description="Year to map the series onto (zone/epw files).")
    variable: str | None = Field(None, description="Variable name for values/constant/csv.")
    values: list[float] | None = Field(
        None, description="Inline values of variable, one per step from the start."
    )
    constant: float | None = Field(None, description="A constant value of variable.")
    step: Duration | None = Field(None, description="Step of inline values.")
    generate: Literal["demo"] | None = Field(None, description="Generated demo series.")
    seed: int = Field(0, description="Random seed of generated series.")
    replay_from: AwareDatetime | None = Field(
        None,
        description="Replay history: the data from this instant on is shifted so that it "
        "starts at the simulation start (e.g. a July 2023 week as next week).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> SeriesSource:
        given = [
            n
            for n in ("file", "zone", "values", "constant", "generate")
            if getattr(self, n) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of file, zone, values, constant, generate; got "
                + (", ".join(given) or "none")
            )
        if (self.values is not None or self.constant is not None) and self.variable is None:
            raise FieldProblem(
                "variable", "required with values/constant: the series name, e.g. variable: price"
            )
        if self.values is not None and self.step is None:
            raise FieldProblem("step", "required with values: their time step, e.g. step: 1h")
        return self


# --------------------------------------------------------------------------------------------
# the scenario


class Scenario(_Model):
    """A facility, its signals and the window studied."""

    version: Literal[1] = Field(1, description="Schema version.")
    site: Site = Field(description="Site: name, location, timezone, ASHRAE classes.")
    simulation: Simulation = Field(description="Window: start, duration, step.")
    rack_types: dict[str, RackType] = Field(
        min_length=1, description="Rack catalogue: rack type name → its description."
    )
    racks: list[Rack] = Field(default_factory=list, description="Racks listed one by one.")
    rows: list[RackRow] = Field(default_factory=list, description="Rows of identical racks.")
    cooling: Cooling = Field(description="Cooling units, CDUs, recirculation and plant.")
    power: Power = Field(description="Feeds, UPS, 48 V busbars and power shelves.")
    battery: Battery | None = Field(None, description="Facility battery (BESS), if any.")
    pv: PV | None = Field(None, description="On-site photovoltaics, if any.")
    workloads: list[Workload] = Field(
        default_factory=list, description="IT work on the racks, by tier."
    )
    grid: Grid = Field(description="Grid connection, tariff and demand response.")
    series: list[SeriesSource] = Field(
        default_factory=list, description="Sources of price, carbon, weather and load series."
    )

    @model_validator(mode="after")
    def _has_racks(self) -> Scenario:
        if not self.racks and not self.rows:
            raise ValueError("the scenario has no racks: give racks or rows")
        return self

    def all_racks(self) -> list[Rack]:
        """Explicit racks followed by the racks the rows expand to."""
        racks = list(self.racks)
        for row in self.rows:
            for offset, rack_id in enumerate(row.rack_ids()):
                racks.append(
                    Rack(
                        id=rack_id,
                        row=row.row,
                        position=row.first_position + offset,
                        type=row.type,
                        cooling_unit=row.cooling_unit,
                        cdu=row.cdu,
                        busbar=row.busbar if row.busbar is not None else rack_id,
                    )
                )
        return racks

    def all_busbars(self) -> list[Busbar]:
        """Explicit busbars followed by the per-rack busbars rows create from templates."""
        busbars = list(self.power.busbars)
        for row in self.rows:
            if (
                row.busbar_template is None
                or row.busbar_template not in self.power.busbar_templates
            ):
                continue
            template = self.power.busbar_templates[row.busbar_template]
            for rack_id in row.rack_ids():
                busbars.append(Busbar(id=rack_id, ups=row.ups or "", **template.model_dump()))
        return busbars


# --------------------------------------------------------------------------------------------
# loading and errors


class ScenarioError(ValueError):
    """A scenario file could not be used; ``problems`` lists every issue found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        bullet = "\n  - ".join(problems)
        super().__init__(f"{source}: {len(problems)} problem(s):\n  - {bullet}")


def resolve_instant(value: timedelta | datetime | None, start: datetime) -> datetime:
    """A workload time given as an instant or as an offset from the window start."""
    if value is None:
        return start
    if isinstance(value, timedelta):
        return start + value
    return value


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file.

    Raises
    ------
    ScenarioError
        With one message per problem (YAML syntax, schema, cross-references).
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(source, [f"cannot read file: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            source, [f"not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})"]
        ) from None
    return parse_scenario(text, source=source)


class _Loader(yaml.SafeLoader):
    """Safe YAML loader that refuses a key given twice in one mapping (instead of keeping
    the last silently)."""


def _mapping_without_duplicates(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.setdefault(key, key_node.start_mark.line + 1)
        except TypeError:  # unhashable key: the constructor reports it
            continue
        if first != key_node.start_mark.line + 1:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first given at line {first}); expected each key once",
                key_node.start_mark,
            )
    return loader.construct_mapping(node, deep=True)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def strict_yaml(text: str) -> Any:
    """YAML text as plain data (a safe loader) refusing a key given twice in one mapping.

    Raises :class:`yaml.YAMLError` (a duplicate key is a ``ConstructorError`` with its line).
    """
    return yaml.load(text, Loader=_Loader)


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Validate a scenario given as YAML text (see :func:`load_scenario`)."""
    try:
        data = strict_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(source, [f"malformed YAML at {where}{problem}"]) from None
    if data is None:
        raise ScenarioError(source, ["the file is empty; expected a mapping of sections"])
    if not isinstance(data, dict):
        raise ScenarioError(
            source,
            [
                "(top level): expected a mapping of sections (site:, simulation:, ...), got "
                f"{type(data).__name__} {_shorten(data)}"
            ],
        )
    return scenario_from_dict(data, source=source)


def scenario_from_dict(data: dict[str, Any], source: str = "<scenario>") -> Scenario:
    from twin.scenario.checks import reference_problems  # imports this module

    """Validate a scenario given as a dict (see :func:`load_scenario`)."""
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(source, format_validation_error(exc, data)) from None
    problems = reference_problems(scenario)
    if problems:
        raise ScenarioError(source, problems)
    return scenario


def json_schema() -> dict[str, Any]:
    """The JSON Schema of scenario files."""
    schema = Scenario.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "dctwin scenario"
    return schema
