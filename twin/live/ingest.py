"""Validation of incoming measurements: each item accepted (canonical units) or refused.

An item is ``{"time": ISO 8601 with offset, "point": id, "value": number, "unit": text}``
(``unit`` optional: the point's canonical unit).  Every item is checked on its own: whatever
it holds, a bad item is refused with one reason and the others are kept.  Checks, in order:

* the item is not an object;
* ``time`` missing, unreadable, without a timezone or beyond the calendar once in UTC
  (``0001-01-01T00:00+05:00``); more than ``max_future`` ahead of now or more than
  ``max_age`` behind it (a reading older than the store keeps raw data is refused);
* ``point`` not a point of the facility (:class:`twin.scenario.points.PointCatalogue`);
* ``value`` missing, a boolean, text that is not a plain decimal number (``"2_4"``,
  ``"0x10"``), NaN or infinite;
* ``unit`` unknown, unreadable (``1/0``, ``**``) or of another dimension than the point's
  (``"5 kWh"`` for a power);
* the converted value outside the point's physical range;
* a second item for the same point and time in the batch;
* older than the latest stored reading of the point by more than ``max_lateness``
  (late data within that window is accepted; re-sending a batch is a no-op in the store).

Unit conversion: every conversion the twin meets is affine (°F → °C, MW → kW, % → 1), so each
(unit, canonical unit) pair is converted once through pint into ``a·x + b`` and cached; a
1,000-item batch then costs no pint call.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

from twin.scenario.points import PointCatalogue, Reading
from twin.scenario.units import UnitError, to_unit

MAX_FUTURE = timedelta(minutes=5)
"""Default tolerance for clocks ahead of ours."""
MAX_LATENESS = timedelta(hours=1)
"""Default window in which readings older than the latest stored one are still accepted."""
MAX_AGE = timedelta(days=90)
"""Default age beyond which a reading is refused (the service's default raw retention)."""

_DECIMAL = re.compile(
    r"\s*[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?|inf(?:inity)?|nan)\s*", re.IGNORECASE
)
_SHOWN = 60  # characters of a refused value quoted in a reason


def _quoted(value: Any) -> str:
    """``repr`` of a value for a refusal reason, at most about 60 characters."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


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


class BatchInvalid(ValueError):
    """A measurement batch refused whole, before any item is read: ``status`` 400 (not
    UTF-8), 413 (more items than the limit) or 422 (not JSON, not ``{"items": [...]}``), and
    ``detail``: a message, or for 422 the list of errors in FastAPI's shape (``loc`` starting
    with ``"body"``).  Plain arguments, so that it crosses from the ingest child whole."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(status, detail)
        self.status = status
        self.detail = detail


class _BatchBody(BaseModel):
    """The shape of a JSON measurement batch (the API documents it as ``MeasurementBatch``)."""

    items: list[Any]


def parse_batch(body: bytes, max_items: int) -> list[Any]:
    """The items of a JSON measurement batch ``{"items": [...]}``, checked as the API's body
    model would be (same errors), and at most ``max_items`` [count] of them.

    Done where the batch is committed (in the ingest child with ``--ingest-process``), so
    that the service process neither parses the JSON nor pickles the items.

    Raises
    ------
    BatchInvalid
        400 for a body that is not UTF-8, 422 for one that is not JSON or not an object
        with an ``items`` list, 413 for more items than ``max_items``.
    """
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        invalid = {"type": "json_invalid", "loc": ["body", exc.pos], "msg": "JSON decode error"}
        raise BatchInvalid(422, [{**invalid, "input": {}, "ctx": {"error": exc.msg}}]) from None
    except (UnicodeDecodeError, RecursionError):
        raise BatchInvalid(400, "There was an error parsing the body") from None
    return batch_items(data, max_items)


def batch_items(data: Any, max_items: int) -> list[Any]:
    """The items of a request body already read (:func:`parse_batch`'s JSON, or the raw bytes
    of a body FastAPI would not read as JSON), checked as the API's body model would be.

    Raises
    ------
    BatchInvalid
        422 when ``data`` is not an object with an ``items`` list (FastAPI's errors), 413 for
        more items than ``max_items`` [count].
    """
    try:
        items = _BatchBody.model_validate(data, from_attributes=True).items
    except ValidationError as exc:
        errors = [{**e, "loc": ["body", *e["loc"]]} for e in exc.errors(include_url=False)]
        raise BatchInvalid(422, to_jsonable_python(errors, fallback=str)) from None
    check_batch_size(len(items), max_items)
    return items


def check_batch_size(count: int, max_items: int) -> None:
    """``BatchInvalid`` 413 for a batch of more than ``max_items`` items [count]."""
    if count > max_items:
        raise BatchInvalid(413, f"batch of {count} items; the limit is {max_items}")


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
        Unreadable, without a timezone, or out of the calendar once in UTC.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        text = value.strip()
        if not text.isprintable():  # Python's reader stops at a NUL: "…Z\x00" was taken
            raise ValueError(f"time {_quoted(value)} holds a control character")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"time {_quoted(value)} is not ISO 8601") from None
    else:
        raise ValueError("time is missing or not a string")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"time {_quoted(value)} has no timezone (add Z or an offset like +02:00)")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+05:00, 9999-12-31T23:59-05:00
        raise ValueError(f"time {_quoted(value)} is out of the calendar in UTC") from None


def validate(
    items: Sequence[Any],
    catalogue: PointCatalogue,
    *,
    now: datetime,
    last_times: Mapping[str, datetime] | None = None,
    max_future: timedelta = MAX_FUTURE,
    max_lateness: timedelta = MAX_LATENESS,
    max_age: timedelta = MAX_AGE,
) -> tuple[list[Reading], list[Rejection]]:
    """Split a batch into accepted readings (canonical units, UTC) and rejections.

    Parameters
    ----------
    items
        Raw items (objects with ``time``, ``point``, ``value``, optional ``unit``; anything
        else is refused as an item).
    catalogue
        The facility's points.
    now
        Current time (timezone-aware).
    last_times
        Latest stored time per point (for the lateness check).
    max_future, max_lateness, max_age
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
    window = (now - max_age, now + max_future, now)
    times: dict[str, datetime | str] = {}  # per distinct time text: a batch repeats a few
    kinds = catalogue.kinds
    oldest, latest, _ = window
    limits = {point: last - max_lateness for point, last in last_times.items()}
    for index, item in enumerate(items):
        # The usual item first, inline: a dict whose time text was read before (in this
        # batch) and is in the window, a known point, a finite float, no unit, in range, not
        # a repeat and not too late: accepted as _check_item and the checks below would.
        # Anything else goes through _check_item and those checks (and gets their reason).
        checked: Reading | str | None = None
        if type(item) is dict and item.get("unit") is None:
            raw = item.get("time")
            time = times.get(raw) if type(raw) is str else None
            point = item.get("point")
            number = item.get("value")
            entry = kinds.get(point) if type(point) is str else None
            if (
                type(time) is datetime
                and entry is not None
                and type(number) is float
                and oldest <= time <= latest
                and math.isfinite(number)
            ):
                kind = entry[0]
                value = 1.0 * number + 0.0  # the affine conversion to the same unit
                if kind.low <= value <= kind.high:
                    checked = Reading(point, time, value)  # type: ignore[arg-type]
                    key = (point, time)
                    limit = limits.get(point)  # type: ignore[arg-type]
                    if key not in seen and (limit is None or time >= limit):
                        seen[key] = index  # type: ignore[index]
                        accepted.append(checked)
                        continue
        if checked is None:
            checked = _check_item(item, catalogue, window, times)
            point = item.get("point") if type(item) is dict or isinstance(item, Mapping) else None
        point_text = point if isinstance(point, str) else None
        if isinstance(checked, str):
            rejected.append(Rejection(index, point_text, checked))
            continue
        key = (checked.point, checked.time)
        if key in seen:
            rejected.append(
                Rejection(index, point_text, f"duplicate of item {seen[key]} (same point and time)")
            )
            continue
        last = last_times.get(checked.point)
        if last is not None and checked.time < last - max_lateness:
            rejected.append(
                Rejection(
                    index,
                    point_text,
                    f"out of order: {checked.time.isoformat()} is more than {max_lateness} older "
                    f"than the latest stored reading ({last.isoformat()})",
                )
            )
            continue
        seen[key] = index
        accepted.append(checked)
    return accepted, rejected


def _check_item(
    item: Any,
    catalogue: PointCatalogue,
    window: tuple[datetime, datetime, datetime],
    times: dict[str, datetime | str],
) -> Reading | str:
    """The reading of one item (canonical unit, UTC), or why it is refused.

    ``window`` is (oldest accepted, latest accepted, now); ``times`` memoises
    :func:`parse_time` (its datetime, or its error message) by time text within one batch.
    """
    if type(item) is not dict and not isinstance(item, Mapping):  # a dict: no ABC check
        return f"item is not an object (got {type(item).__name__})"
    raw = item.get("time")
    time = times.get(raw) if isinstance(raw, str) else None
    if time is None:
        try:
            time = parse_time(raw)
        except ValueError as exc:
            time = str(exc)
        if isinstance(raw, str):
            times[raw] = time
    if isinstance(time, str):
        return time
    oldest, latest, now = window
    if time > latest:
        return f"time {time.isoformat()} is {(time - now).total_seconds():.0f} s in the future"
    if time < oldest:
        return (
            f"time {time.isoformat()} is more than {(now - oldest).days} days old (older "
            "readings are not kept raw)"
        )
    point = item.get("point")
    if not isinstance(point, str):
        return "point is missing or not a string"
    if point not in catalogue:
        return f"unknown point {_quoted(point)}"
    kind = catalogue.kind(point)
    number = _number(item.get("value"))
    if isinstance(number, str):
        return number
    unit = item.get("unit")
    if unit is None or unit == "":
        unit = kind.unit
    elif not isinstance(unit, str):
        return "unit is not a string"
    try:
        a, b = affine(unit, kind.unit)
    except UnitError:
        return f"unit {_quoted(unit)} cannot be converted to {kind.unit} ({kind.quantity})"
    value = a * number + b
    if not kind.low <= value <= kind.high:
        unit = "" if kind.unit == "1" else f" {kind.unit}"  # a fraction: no unit shown
        return (
            f"{value:g}{unit} is outside the physical range "
            f"[{kind.low:g}, {kind.high:g}]{unit} of {kind.quantity}"
        )
    return Reading(point, time, value)


def _number(raw: Any) -> float | str:
    """``raw`` as a finite float, or why not: booleans and text other than a plain decimal
    number (``"2_4"``, ``"0x10"``, ``"nan"``) are refused."""
    if type(raw) is float:  # what JSON numbers with a fraction are: the checks below, fewer calls
        return raw if math.isfinite(raw) else f"value {_quoted(raw)} is not finite"
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return "value is missing or not a number"
    if isinstance(raw, str) and not _DECIMAL.fullmatch(raw):
        return f"value {_quoted(raw)} is not a number"
    try:
        number = float(raw)
    except (ValueError, OverflowError):
        return f"value {_quoted(raw)} is not a number"
    if not math.isfinite(number):
        return f"value {_quoted(raw)} is not finite"
    return number
