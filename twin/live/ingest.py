"""Validation of incoming measurements: each item accepted (canonical units) or refused.

An item is ``{"time": ISO 8601 with offset, "point": id, "value": number, "unit": text}``
(``unit`` optional: the point's canonical unit).  Checks, in order, each giving one reason:

* ``time`` missing, unreadable or without a timezone; more than ``max_future`` ahead of now;
* ``point`` not a point of the facility (:class:`twin.scenario.points.PointCatalogue`);
* ``value`` missing, not a number, NaN or infinite;
* ``unit`` unknown or of another dimension than the point's (``"5 kWh"`` for a power);
* the converted value outside the point's physical range;
* a second item for the same point and time in the batch;
* older than the latest stored reading of the point by more than ``max_lateness``
  (late data within that window is accepted; re-sending a batch is a no-op in the store).

Unit conversion: every conversion the twin meets is affine (°F → °C, MW → kW, % → 1), so each
(unit, canonical unit) pair is converted once through pint into ``a·x + b`` and cached; a
1,000-item batch then costs no pint call.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from twin.scenario.points import PointCatalogue, Reading
from twin.scenario.units import UnitError, to_unit

MAX_FUTURE = timedelta(minutes=5)
"""Default tolerance for clocks ahead of ours."""
MAX_LATENESS = timedelta(hours=1)
"""Default window in which readings older than the latest stored one are still accepted."""


@dataclass(frozen=True)
class Rejection:
    """One refused item.

    Attributes
    ----------
    index
        Position of the item in the batch (0-based).
    point
        Its point id as sent (None if missing).
    reason
        Why, in one sentence.
    """

    index: int
    point: str | None
    reason: str


@lru_cache(maxsize=512)
def affine(unit: str, canonical: str) -> tuple[float, float]:
    """``(a, b)`` with value in ``canonical`` = a × value in ``unit`` + b.

    Raises
    ------
    twin.units.UnitError
        Unknown unit or another dimension.
    """
    if unit == canonical:
        return 1.0, 0.0
    zero = to_unit(f"0 {unit}", canonical)
    one = to_unit(f"1 {unit}", canonical)
    return one - zero, zero


def parse_time(value: Any) -> datetime:
    """A timezone-aware UTC datetime from ISO 8601 text (``Z`` or an offset required).

    Raises
    ------
    ValueError
        Unreadable, or without a timezone.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(f"time {value!r} is not ISO 8601") from exc
    else:
        raise ValueError("time is missing or not a string")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"time {value!s} has no timezone (add Z or an offset like +02:00)")
    return parsed.astimezone(UTC)


def validate(
    items: Sequence[Mapping[str, Any]],
    catalogue: PointCatalogue,
    *,
    now: datetime,
    last_times: Mapping[str, datetime] | None = None,
    max_future: timedelta = MAX_FUTURE,
    max_lateness: timedelta = MAX_LATENESS,
) -> tuple[list[Reading], list[Rejection]]:
    """Split a batch into accepted readings (canonical units, UTC) and rejections.

    Parameters
    ----------
    items
        Raw items (``time``, ``point``, ``value``, optional ``unit``).
    catalogue
        The facility's points.
    now
        Current time (timezone-aware).
    last_times
        Latest stored time per point (for the lateness check).
    max_future, max_lateness
        Tolerances (see the module docstring).

    Returns
    -------
    tuple
        Accepted readings in batch order, and the rejections.
    """
    last_times = last_times or {}
    accepted: list[Reading] = []
    rejected: list[Rejection] = []
    seen: dict[tuple[str, datetime], int] = {}
    horizon = now + max_future
    for index, item in enumerate(items):
        point = item.get("point")
        point_text = point if isinstance(point, str) else None

        def refuse(reason: str, index: int = index, point: str | None = point_text) -> None:
            rejected.append(Rejection(index, point, reason))

        try:
            time = parse_time(item.get("time"))
        except ValueError as exc:
            refuse(str(exc))
            continue
        if time > horizon:
            ahead = (time - now).total_seconds()
            refuse(f"time {time.isoformat()} is {ahead:.0f} s in the future")
            continue
        if point_text is None:
            refuse("point is missing or not a string")
            continue
        if point_text not in catalogue:
            refuse(f"unknown point {point_text!r}")
            continue
        kind = catalogue.kind(point_text)
        raw = item.get("value")
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            refuse("value is missing or not a number")
            continue
        try:
            number = float(raw)
        except ValueError:
            refuse(f"value {raw!r} is not a number")
            continue
        if not math.isfinite(number):
            refuse(f"value {raw!r} is not finite")
            continue
        unit = item.get("unit") or kind.unit
        if not isinstance(unit, str):
            refuse("unit is not a string")
            continue
        try:
            a, b = affine(unit, kind.unit)
        except UnitError:
            refuse(f"unit {unit!r} cannot be converted to {kind.unit} ({kind.quantity})")
            continue
        value = a * number + b
        if not kind.low <= value <= kind.high:
            refuse(
                f"{value:g} {kind.unit} is outside the physical range "
                f"[{kind.low:g}, {kind.high:g}] {kind.unit} of {kind.quantity}"
            )
            continue
        key = (point_text, time)
        if key in seen:
            refuse(f"duplicate of item {seen[key]} (same point and time)")
            continue
        last = last_times.get(point_text)
        if last is not None and time < last - max_lateness:
            refuse(
                f"out of order: {time.isoformat()} is more than {max_lateness} older than "
                f"the latest stored reading ({last.isoformat()})"
            )
            continue
        seen[key] = index
        accepted.append(Reading(point_text, time, value))
    return accepted, rejected
