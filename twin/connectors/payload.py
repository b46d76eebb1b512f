"""MQTT messages → measurement items for :meth:`twin.live.live_twin.LiveTwin.ingest`.

A message's payload is UTF-8 JSON in one of three shapes (the items are those of
``POST /api/v1/measurements``: ``time`` ISO 8601 with a timezone, ``point``, ``value``,
optional ``unit``, default the point's canonical unit):

* one item: ``{"time": "2026-07-06T12:00:00Z", "point": "rack/B07/power", "value": 12.5}``;
* a list of items: ``[{...}, {...}]``;
* a batch as sent over HTTP: ``{"items": [{...}, {...}]}``.

An item without ``point`` takes it from the topic: the levels matched by the subscription's
trailing ``#``.  Subscribed to ``site/+/#``, a message on ``site/hall1/rack/B07/power`` with
payload ``{"time": "…", "value": 12.5, "unit": "kW"}`` is a reading of ``rack/B07/power``.  A
``point`` in the payload wins over the topic.

What cannot become an item is refused here with a code of :data:`PAYLOAD_REFUSAL_CODES`; every
other check (time, point, value, unit, range, duplicates, lateness) is the twin's own
validation (:mod:`twin.live.ingest`), the same as over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from paho.mqtt.client import topic_matches_sub

MAX_PAYLOAD_BYTES = 8 * 1024 * 1024
"""Largest payload parsed [bytes] (the HTTP API's body limit)."""

PAYLOAD_REFUSAL_CODES: Mapping[str, str] = {
    "payload": "payload not UTF-8 JSON, larger than the limit, or neither an item, a list of "
    'items nor {"items": [...]}',
    "item": "an element of the list is not a JSON object",
    "no_point": "an item without 'point' on a topic that does not name one",
    "too_many_items": "more items in one message than the twin's batch limit",
}
"""Codes of the refusals made before validation, and what each means."""


@dataclass(frozen=True)
class Refusal:
    """An item (or a whole payload) refused before validation.

    Attributes
    ----------
    index
        Position of the item in the message (0-based); -1 for the whole payload.
    code
        A key of :data:`PAYLOAD_REFUSAL_CODES`.
    reason
        Why, in one sentence.
    count
        Items refused by it [count] (a refused payload holds one or more).
    """

    index: int
    code: str
    reason: str
    count: int = 1


@dataclass
class MessageItems:
    """What one message holds.

    Attributes
    ----------
    items
        Items ready for :meth:`LiveTwin.ingest` (each with ``point``).
    positions
        Position of each of ``items`` in the message (0-based).
    refused
        Items refused before validation.
    """

    items: list[dict[str, Any]] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)


def check_topic_filter(topic_filter: str) -> str:
    """``topic_filter`` if it is a valid MQTT subscription filter.

    Parameters
    ----------
    topic_filter
        E.g. ``site/+/#``; a shared subscription ``$share/<group>/<filter>`` is allowed.

    Raises
    ------
    ValueError
        Empty, longer than 65,535 bytes, with a NUL, or with ``#``/``+`` not a whole level
        (or ``#`` not the last level).
    """
    if not topic_filter or len(topic_filter.encode()) > 65535 or "\0" in topic_filter:
        raise ValueError(f"MQTT topic filter {topic_filter!r} is empty, too long or has a NUL")
    levels = plain_filter(topic_filter).split("/")
    for position, level in enumerate(levels):
        if ("#" in level or "+" in level) and len(level) > 1:
            raise ValueError(
                f"MQTT topic filter {topic_filter!r}: a wildcard must be a whole level "
                f"(like 'site/+/#'), not {level!r}"
            )
        if level == "#" and position != len(levels) - 1:
            raise ValueError(f"MQTT topic filter {topic_filter!r}: '#' must be the last level")
    return topic_filter


def plain_filter(topic_filter: str) -> str:
    """The filter a topic is matched against: ``$share/<group>/`` removed."""
    if topic_filter.startswith("$share/"):
        parts = topic_filter.split("/", 2)
        return parts[2] if len(parts) == 3 else ""
    return topic_filter


def topic_point(topic: str, filters: Sequence[str]) -> str | None:
    """The point a topic names: the levels matched by the trailing ``#`` of the first filter
    that matches ``topic``; None when no matching filter ends in ``#`` (or it matched no
    level).

    Parameters
    ----------
    topic
        Topic of the message, e.g. ``site/hall1/rack/B07/power``.
    filters
        Subscription filters, e.g. ``["site/+/#"]``.
    """
    for topic_filter in filters:
        plain = plain_filter(topic_filter)
        if not plain.endswith("#") or not topic_matches_sub(plain, topic):
            continue
        fixed = len(plain.split("/")) - 1  # levels before '#'
        rest = topic.split("/")[fixed:]
        if rest and all(rest):
            return "/".join(rest)
    return None


def _payload_items(payload: bytes, limit: int) -> list[Any] | Refusal:
    """The list of raw items in ``payload``, or why the whole payload is refused."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        return Refusal(-1, "payload", f"payload of {len(payload)} bytes; limit {MAX_PAYLOAD_BYTES}")
    try:
        data = json.loads(payload.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return Refusal(-1, "payload", "payload is not UTF-8")
    except ValueError as exc:
        return Refusal(-1, "payload", f"payload is not JSON: {exc}")
    if isinstance(data, dict) and "items" in data:
        data = data["items"]
        if not isinstance(data, list):
            return Refusal(-1, "payload", "'items' is not a list")
    if isinstance(data, dict):
        return [data]
    if not isinstance(data, list):
        return Refusal(-1, "payload", "payload is neither an item, a list nor {'items': [...]}")
    if len(data) > limit:
        reason = f"{len(data)} items in one message; the limit is {limit}"
        return Refusal(-1, "too_many_items", reason, count=len(data))
    return data


def message_items(
    topic: str, payload: bytes, filters: Sequence[str], *, max_items: int
) -> MessageItems:
    """The items of one message, and what was refused before validation.

    Parameters
    ----------
    topic
        The message's topic.
    payload
        Its payload (UTF-8 JSON, see the module docstring).
    filters
        The subscription filters (to read a point from the topic).
    max_items
        Most items one message may hold (the twin's batch limit) [count].
    """
    out = MessageItems()
    raw = _payload_items(payload, max_items)
    if isinstance(raw, Refusal):
        out.refused.append(raw)
        return out
    from_topic: str | None = None
    looked_up = False
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            out.refused.append(Refusal(index, "item", f"item {index} is not a JSON object"))
            continue
        if item.get("point") is None:
            if not looked_up:
                from_topic, looked_up = topic_point(topic, filters), True
            if from_topic is None:
                reason = f"item {index} has no 'point' and topic {topic!r} names none"
                out.refused.append(Refusal(index, "no_point", reason))
                continue
            item = {**item, "point": from_topic}
        out.items.append(item)
        out.positions.append(index)
    return out
