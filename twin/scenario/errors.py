"""Readable scenario errors: one line per pydantic problem, naming path, value and expectation.

Pydantic reports union members, tagged-union tags and validator names as extra path parts and
phrases limits in its own words; this module turns each error into a line like
``rack_types.gpu-120.design_power: -120 — expected a value > 0 kW``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel, Tag, ValidationError
from pydantic.fields import FieldInfo

from twin.scenario.units import UnitError, to_unit


class FieldProblem(ValueError):
    """A check across fields of one model that fails on one of them.

    Raised from model validators so that the message names ``<model path>.<field>`` and the
    value the user wrote there, not the whole section.
    """

    def __init__(self, field: str | list[str], expected: str) -> None:
        super().__init__(expected)
        self.fields = [field] if isinstance(field, str) else list(field)


def _path(loc: Iterable[Any]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text or "(top level)"


def shorten(value: Any, limit: int = 60) -> str:
    """A value as the user would recognise it in a message, at most ``limit`` characters.

    Parameters
    ----------
    value
        Any value; instants are shown in ISO 8601, durations in seconds, anything else as
        its ``repr`` (cut with ``...`` past ``limit``).
    limit
        Longest text returned [characters].

    Returns
    -------
    str
        The short text.
    """
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return f"{value.total_seconds():g} s"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def known_names(ids: Iterable[str], limit: int = 8) -> str:
    """The names a reference may use, sorted, for a message.

    Parameters
    ----------
    ids
        Known ids or names (repeats are shown once).
    limit
        Most names listed before ``...``.

    Returns
    -------
    str
        ``"A, B, C"`` or ``"A, B, ... (36 in total)"``; ``"none defined"`` when empty.
    """
    items = sorted(set(ids))
    if not items:
        return "none defined"
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown}, ... ({len(items)} in total)"


# Pydantic reports union members and tagged-union tags as extra path parts; drop them so the
# path reads like the YAML the user wrote (only parts that are not keys the user wrote).
_UNION_PARTS = re.compile(
    r"^(function-before\[.*\]|function-after\[.*\]|constrained-float|float|int|str|bool|"
    r"tuple\[.*\]|list\[.*\]|literal\[.*\]|json-or-python\[.*\]|lax-or-strict\[.*\]|"
    r"EfficiencyPoints|layout|entries|none|timedelta|datetime|"
    r"efficiency-(number|named|points)|fan-(named|coefficients)|named|fields)$"
)
_ABSENT = object()
# callable discriminators are reported by function name: the field they read
_DISCRIMINATOR_FIELDS = {"_recirculation_mode()": "mode"}
_BOUND_WORDS = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", ">="),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "<="),
}


def _has(node: Any, part: Any) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list | tuple) and isinstance(part, int) and 0 <= part < len(node)


def _clean_loc(loc: Iterable[Any], data: Any) -> tuple[list[Any], Any]:
    """The user's path in ``loc`` and the raw value found there (``_ABSENT`` if none)."""
    path: list[Any] = []
    node = data
    for part in loc:
        if _has(node, part):
            node = node[part]
        elif isinstance(part, str) and _UNION_PARTS.match(part):
            continue
        else:
            node = _ABSENT
        path.append(part)
    return path, node


def format_validation_error(
    error: ValidationError, data: Any = None, model: type[BaseModel] | None = None
) -> list[str]:
    """One readable line per pydantic error: ``path: value — what was expected``.

    Parameters
    ----------
    error
        The error pydantic raised.
    data
        The data that was validated (the raw values are quoted from it).
    model
        Model class whose fields the error paths are looked up in, for units, descriptions
        and the known fields of a section (normally :class:`~twin.scenario.schema.Scenario`);
        None: paths only.

    Returns
    -------
    list of str
        One line per problem, the first message per path.
    """
    problems: list[str] = []
    seen: set[str] = set()
    for item in error.errors(include_url=False):
        loc, raw = _clean_loc(item["loc"], data)
        for line in _problem_lines(item, loc, raw, model):
            # a union reports every alternative: keep the first message per path
            path = line.split(": ", 1)[0]
            if path in seen:
                continue
            seen.add(path)
            problems.append(line)
    return problems


def _problem_lines(item: Any, loc: list[Any], raw: Any, model: type[BaseModel] | None) -> list[str]:
    kind = item["type"]
    message = str(item["msg"]).removeprefix("Value error, ").removeprefix("Input should be ")
    path = _path(loc)
    value = shorten(raw if raw is not _ABSENT else item["input"])
    info = _field_at(list(item["loc"]), model)
    if kind == "extra_forbidden":
        line = f"{path}: unknown field (value {value})"
        parent = _model_at(list(item["loc"])[:-1], model)
        if parent is not None:
            names = [f.alias or n for n, f in parent.model_fields.items()]
            line += f"; expected one of: {', '.join(sorted(names))}"
        return [line]
    if kind == "missing":
        return [f"{path}: required field is missing{_expecting(info)}"]
    if kind in _BOUND_WORDS:
        key, word = _BOUND_WORDS[kind]
        limit = item.get("ctx", {}).get(key)
        unit = _unit_of(info)
        shown = f"{limit:g}" if isinstance(limit, int | float) else str(limit)
        return [f"{path}: {value} — expected a value {word} {shown}{f' {unit}' if unit else ''}"]
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        field = str(item.get("ctx", {}).get("discriminator", "")).strip("'")
        field = _DISCRIMINATOR_FIELDS.get(field, field)
        tags = item.get("ctx", {}).get("expected_tags", "")
        if kind == "union_tag_not_found":
            return [f"{path}: {value} — expected a mapping with a {field!r} entry"]
        if not isinstance(raw, dict):
            return [f"{path}: {value} — expected one of {tags}"]
        return [f"{path}.{field}: {shorten(raw.get(field))} — expected one of {tags}"]
    error = item.get("ctx", {}).get("error")
    if isinstance(error, FieldProblem):
        lines = []
        for field in error.fields:
            found = raw.get(field, _ABSENT) if isinstance(raw, dict) else _ABSENT
            where = f"{path}.{field}" if loc else field
            if found is _ABSENT:
                lines.append(f"{where}: {error}")
            else:
                lines.append(f"{where}: {shorten(found)} — {error}")
        return lines
    if kind == "model_type":
        message = f"expected a mapping of fields (a {item['ctx']['class_name']} section)"
    elif kind == "dict_type":
        message = "expected a mapping (name: value entries)"
    elif kind == "list_type":
        message = "expected a list ('- item' lines or [a, b])"
    elif isinstance(error, UnitError):
        message = unit_message(str(error))
    elif kind == "timezone_aware" or kind.startswith(("datetime_", "date_from")):
        message = (
            "expected an ISO 8601 instant with timezone, e.g. '2026-07-06T00:00:00Z' or "
            f"'2026-07-06T00:00:00-05:00' ({message.removeprefix('Input should ')})"
        )
    elif kind != "value_error" and not message.startswith("expected"):
        message = "expected " + message
    if isinstance(raw if raw is not _ABSENT else item["input"], dict) and _model_at(
        list(item["loc"]), model
    ):
        return [f"{path}: {message}"]  # a check on a whole section: the section is the path
    return [f"{path}: {value} — {message}"]


def _expecting(info: FieldInfo | None) -> str:
    if info is None or not info.description:
        return ""
    return f"; expected: {info.description.rstrip('.')}"


def _unit_of(info: FieldInfo | None) -> str:
    """The documented unit of a field, from ``[unit]`` in its description ('' if none/[-])."""
    if info is None or not info.description:
        return ""
    found = re.findall(r"\[([^\]]+)\]", info.description)
    return "" if not found or found[-1] == "-" else found[-1]


_DIMENSIONS = {
    "a power": "W",
    "an energy": "J",
    "a temperature": "K",
    "a length": "m",
    "a time": "s",
    "a volume flow": "m^3/s",
    "a resistance": "ohm",
    "a voltage": "V",
    "a current": "A",
    "a mass": "kg",
    "a pressure": "Pa",
    "a volume": "m^3",
    "a dimensionless number": "dimensionless",
}
_NOT_CONVERTIBLE = re.compile(r"^'(?P<text>.*)' is not convertible to (?P<unit>\S+) \(")


def unit_message(message: str) -> str:
    """Name the quantities in a unit mismatch: "'5 kWh' is an energy; expected a power in kW".

    Parameters
    ----------
    message
        Text of a :class:`~twin.scenario.units.UnitError`.

    Returns
    -------
    str
        The message naming both quantities, or ``message`` unchanged when it is not a
        mismatch between two known quantities.
    """
    match = _NOT_CONVERTIBLE.match(message)
    number = re.match(r"\s*[-+]?[0-9.]+(?:[eE][-+]?\d+)?\s*(.+)$", match["text"]) if match else None
    if match is None or number is None:
        return message
    given, wanted = _kind(number.group(1)), _kind(match["unit"])
    if given is None or wanted is None:
        return message
    return f"{match['text']!r} is {given}; expected {wanted} in {match['unit']}"


def _kind(unit: str) -> str | None:
    """'an energy' for 'kWh' (None when the unit is not one of :data:`_DIMENSIONS`)."""
    for name, reference in _DIMENSIONS.items():
        try:
            to_unit(f"1 {unit}", reference)
        except UnitError:
            continue
        return name
    return None


def _walk(annotation: Any, part: Any) -> tuple[Any, FieldInfo | None]:
    """Follow one path part into a type: a model field, a dict value, a list/tuple item."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _walk(get_args(annotation)[0], part)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, info in annotation.model_fields.items():
            if part in (name, info.alias):
                return info.annotation, info
        return None, None
    if origin is dict and isinstance(part, str):
        return get_args(annotation)[1], None
    if origin in (list, tuple) and isinstance(part, int):
        args = get_args(annotation)
        return (args[min(part, len(args) - 1)] if args else None), None
    members = [m for m in get_args(annotation) if m is not type(None)]
    for member in members:  # a tagged union: the part names the member
        if any(isinstance(meta, Tag) and meta.tag == part for meta in get_args(member)[1:]):
            return member, None
    for member in members:  # a union: the first member that has the part
        found = _walk(member, part)
        if found[0] is not None or found[1] is not None:
            return found
    if isinstance(part, str) and _UNION_PARTS.match(part):
        return annotation, None  # pydantic's name of a union member: stay where we are
    return None, None


def _field_at(loc: list[Any], model: type[BaseModel] | None) -> FieldInfo | None:
    """The pydantic field at ``loc`` from ``model`` (following models, dicts, lists, union
    members), if any."""
    if model is None:
        return None
    annotation: Any = model
    info: FieldInfo | None = None
    for part in loc:
        annotation, found = _walk(annotation, part)
        if annotation is None and found is None:
            return None
        if found is not None or not (isinstance(part, str) and _UNION_PARTS.match(part)):
            info = found
    return info


def _model_at(loc: list[Any], model: type[BaseModel] | None) -> type[BaseModel] | None:
    """The model class reached by following ``loc`` from ``model`` (best effort)."""
    if model is None:
        return None
    annotation: Any = model
    for part in loc:
        annotation, _ = _walk(annotation, part)
        if annotation is None:
            return None
    return _first_model(annotation)


def _first_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _first_model(arg)
        if found is not None:
            return found
    return None
