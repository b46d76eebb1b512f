"""Field types shared by the scenario schema: quantities with units, durations, instants.

Temperature differences (:data:`Kelvin`), durations (:data:`Duration`), workload times
(:data:`OffsetOrInstant`), fractions, the ASHRAE thermal classes and :class:`SchemaModel`, the
base of every scenario section.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    WithJsonSchema,
)

from twin.scenario.errors import unit_message
from twin.scenario.units import UnitError, to_unit

# --------------------------------------------------------------------------------------------
# quantities, durations and instants

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


MAX_DURATION = timedelta(days=3660)
"""Longest duration (or offset) a scenario may give, about ten years."""
EARLIEST_INSTANT = datetime(1900, 1, 1, tzinfo=UTC)
"""Earliest instant a scenario may give."""
LATEST_INSTANT = datetime(2200, 1, 1, tzinfo=UTC)
"""Instants a scenario gives are before this one (pandas stops in 2262)."""


def _seconds(seconds: float) -> timedelta:
    if not math.isfinite(seconds):
        raise ValueError(f"expected a finite duration, got {seconds:g} s")
    if abs(seconds) > MAX_DURATION.total_seconds():
        raise ValueError(
            f"expected a duration of at most {MAX_DURATION.days} days, got {seconds:g} s"
        )
    duration = timedelta(seconds=seconds)
    if abs(duration) > MAX_DURATION:
        raise ValueError(f"expected a duration of at most {MAX_DURATION.days} days, got {duration}")
    return duration


def check_instant(value: datetime) -> datetime:
    """``value`` when it lies in [:data:`EARLIEST_INSTANT`, :data:`LATEST_INSTANT`).

    Raises ``ValueError`` otherwise, and for an instant whose UTC conversion overflows
    (``0001-01-01T00:00+05:00``).
    """
    try:
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError(f"{value.isoformat()} is out of the range of dates") from None
    if not EARLIEST_INSTANT <= utc < LATEST_INSTANT:
        raise ValueError(
            f"{value.isoformat()} is outside {EARLIEST_INSTANT.year}-{LATEST_INSTANT.year - 1}"
        )
    return value


Instant = Annotated[AwareDatetime, AfterValidator(check_instant)]
"""A timezone-aware instant between 1900 and 2199."""


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
                f"expected a duration such as '15 min' or '24 h' ({unit_message(str(exc))})"
            ) from exc
    raise ValueError("expected a duration such as '15 min' or '24 h'")


Duration = Annotated[
    timedelta,
    BeforeValidator(_parse_duration),
    WithJsonSchema(
        {
            "anyOf": [{"type": "number"}, {"type": "string"}],
            "description": "duration: seconds, or text like '15 min', '24 h', '7 d'",
            "x-type": "duration",
        }
    ),
]
"""Duration: seconds as a number, or text like ``"15 min"``, ``"24 h"``, ``"7 d"``."""

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
        return check_instant(value)
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
            "x-type": "offset or instant",
        }
    ),
]
"""Workload time: an offset from the window start (``"6 h"``) or an aware ISO 8601 instant."""

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
"""A fraction in [0, 1] [-]."""


# --------------------------------------------------------------------------------------------
# the base of every section


NAMED_TAG = "named"
"""Tag of the named-record member of a :func:`named_or_fields` union."""
FIELDS_TAG = "fields"
"""Tag of the given-field-by-field member of a :func:`named_or_fields` union."""


def named_or_fields(model: type[BaseModel], *, error_type: str, message: str) -> Discriminator:
    """The discriminator of a field that takes a record's name or a ``model`` field by field.

    A string selects the member tagged :data:`NAMED_TAG`; a mapping (or a ``model``
    instance) the member tagged :data:`FIELDS_TAG`; anything else is refused with
    ``message``. Both tags are dropped from the paths in error messages.
    """

    def kind(value: Any) -> str | None:
        if isinstance(value, str):
            return NAMED_TAG
        if isinstance(value, dict | model):
            return FIELDS_TAG
        return None

    return Discriminator(kind, custom_error_type=error_type, custom_error_message=message)


class SchemaModel(BaseModel):
    """Base of every scenario section.

    Unknown fields are errors, assignment re-validates, fields may be given by name or alias,
    and infinite or NaN numbers are refused.
    """

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, populate_by_name=True, allow_inf_nan=False
    )


# --------------------------------------------------------------------------------------------
# ASHRAE thermal classes

AirClass = Literal["A1", "A2", "A3", "A4"]
"""ASHRAE air-cooling equipment class."""
LiquidClass = Literal["W17", "W27", "W32", "W40", "W45", "W+"]
"""ASHRAE liquid-cooling class."""

# ASHRAE TC 9.9 Thermal Guidelines (5th ed., 2021): recommended 18–27 °C for A1–A4;
# allowable maxima A1 32, A2 35, A3 40, A4 45 °C (minima 15, 10, 5, 5 °C).
AIR_CLASS_ALLOWABLE = {"A1": (15.0, 32.0), "A2": (10.0, 35.0), "A3": (5.0, 40.0), "A4": (5.0, 45.0)}
"""Allowable rack inlet range of each air class: (minimum, maximum) [°C]."""
AIR_CLASS_RECOMMENDED = (18.0, 27.0)
"""Recommended rack inlet range of every air class: (minimum, maximum) [°C]."""
# ASHRAE liquid cooling classes (2021): maximum facility water supply temperature [°C].
LIQUID_CLASS_SUPPLY_LIMIT = {
    "W17": 17.0,
    "W27": 27.0,
    "W32": 32.0,
    "W40": 40.0,
    "W45": 45.0,
    "W+": 60.0,
}
"""Maximum facility water supply temperature of each liquid class [°C]."""

# --------------------------------------------------------------------------------------------
# workload times


def resolve_instant(value: timedelta | datetime | None, start: datetime) -> datetime:
    """A workload time given as an instant or as an offset from the window start.

    Parameters
    ----------
    value
        An aware instant, an offset from ``start``, or None (the start itself).
    start
        Start of the simulated window (timezone-aware).

    Returns
    -------
    datetime
        The instant.
    """
    if value is None:
        return start
    if isinstance(value, timedelta):
        return start + value
    return value
