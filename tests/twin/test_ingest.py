"""Measurement validation: every refusal has its reason; units convert exactly."""

from __future__ import annotations

import random
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from twin.live.ingest import affine, parse_time, validate
from twin.scenario.compile import compile_facility
from twin.scenario.loader import load_scenario
from twin.scenario.points import PointCatalogue

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 7, 6, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalogue() -> PointCatalogue:
    return PointCatalogue(compile_facility(load_scenario(ROOT / "scenarios" / "demo-hall.yaml")))


def item(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "time": "2026-07-06T11:59:00Z",
        "point": "rack/A01/inlet_temperature",
        "value": 24.5,
    }
    base.update(fields)
    return base


def test_good_items_are_accepted_in_canonical_units(catalogue: PointCatalogue) -> None:
    """°F → °C, MW → kW, % → fraction; offsets converted to UTC."""
    items = [
        item(value=77.0, unit="degF"),
        item(point="feed/A/power", value=1.2, unit="MW"),
        item(point="battery/soc", value=55, unit="%"),
        item(point="busbar/A01/voltage", value="50.1", time="2026-07-06T13:59:00+02:00"),
    ]
    accepted, rejected = validate(items, catalogue, now=NOW)
    assert rejected == []
    values = [r.value for r in accepted]
    assert values == pytest.approx([25.0, 1200.0, 0.55, 50.1])
    assert accepted[3].time == datetime(2026, 7, 6, 11, 59, tzinfo=UTC)
    assert all(r.time.tzinfo is UTC for r in accepted)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"time": "2026-07-06T11:59:00"}, "has no timezone"),
        ({"time": "yesterday"}, "not ISO 8601"),
        ({"time": None}, "missing"),
        ({"time": "2026-07-06T12:10:00Z"}, "600 s in the future"),
        ({"point": "rack/Z99/inlet_temperature"}, "unknown point"),
        ({"point": None}, "point is missing"),
        ({"value": float("nan")}, "not finite"),
        ({"value": "inf"}, "not finite"),
        ({"value": "hot"}, "is not a number"),
        ({"value": None}, "value is missing"),
        ({"value": True}, "value is missing or not a number"),
        ({"unit": "kWh"}, "cannot be converted to degC"),
        ({"unit": "furlongs"}, "cannot be converted"),
        ({"value": 150.0}, "outside the physical range [-20, 80] degC"),
        ({"point": "battery/soc", "value": 1.5}, "1.5 is outside the physical range [0, 1] of soc"),
        # hostile items: each one refused alone, never a 500 for the batch
        ({"value": "2_4"}, "value '2_4' is not a number"),
        ({"value": "0x10"}, "value '0x10' is not a number"),
        ({"value": 10**400}, "value 1000"),
        ({"value": [1]}, "value is missing or not a number"),
        ({"unit": "1/0"}, "unit '1/0' cannot be converted"),
        ({"unit": "**"}, "unit '**' cannot be converted"),
        ({"unit": "("}, "unit '(' cannot be converted"),
        ({"unit": "m**9**9**9"}, "cannot be converted"),
        ({"unit": 5}, "unit is not a string"),
        ({"time": "0001-01-01T00:00+05:00"}, "out of the calendar in UTC"),
        ({"time": "9999-12-31T23:59:59-05:00"}, "out of the calendar in UTC"),
        ({"time": "1970-01-01T00:00:00Z"}, "more than 90 days old"),
        ({"time": 1_700_000_000}, "time is missing or not a string"),
        # Python's ISO reader stops at a NUL (tester9, 7 Dec: both were taken as 10:59 UTC)
        ({"time": "2026-07-06T10:59:00Z\x00"}, "holds a control character"),
        ({"time": "2026-07-06T10:59:00\x00Z"}, "holds a control character"),
        ({"time": "2026-07-06T10:59:00\x00+09:00"}, "holds a control character"),
        ({"point": "x" * 10_000}, "unknown point 'xxxxxxxx"),
    ],
)
def test_each_bad_item_is_refused_with_its_reason(
    catalogue: PointCatalogue, fields: dict[str, object], reason: str
) -> None:
    good = item(point="rack/A02/inlet_temperature")
    accepted, rejected = validate([good, item(**fields)], catalogue, now=NOW)
    assert [r.point for r in accepted] == ["rack/A02/inlet_temperature"]
    assert len(rejected) == 1 and rejected[0].index == 1
    assert reason in rejected[0].reason


def test_duplicates_in_a_batch_and_late_data(catalogue: PointCatalogue) -> None:
    """A second item for the same point and time is refused; data older than the latest
    stored reading is accepted within the lateness window (1 h) and refused beyond it."""
    last = {"rack/A01/inlet_temperature": datetime(2026, 7, 6, 11, 30, tzinfo=UTC)}
    items = [
        item(),
        item(value=30.0),
        item(time="2026-07-06T10:45:00Z"),
        item(time="2026-07-06T10:15:00Z"),
    ]
    accepted, rejected = validate(items, catalogue, now=NOW, last_times=last)
    assert [r.time.minute for r in accepted] == [59, 45]
    assert [r.index for r in rejected] == [1, 3]
    assert "duplicate of item 0" in rejected[0].reason
    assert "out of order" in rejected[1].reason


def test_affine_conversions_are_exact() -> None:
    assert affine("degF", "degC") == pytest.approx((5 / 9, -160 / 9))
    assert affine("MW", "kW") == pytest.approx((1000.0, 0.0))
    assert affine("percent", "1") == pytest.approx((0.01, 0.0))
    assert affine("kW", "kW") == (1.0, 0.0)


def test_parse_time_requires_a_timezone() -> None:
    assert parse_time("2026-07-06T12:00:00Z") == NOW
    assert parse_time("2026-07-06T14:00:00+02:00") == NOW
    with pytest.raises(ValueError, match="no timezone"):
        parse_time(datetime(2026, 7, 6, 12))
    assert parse_time(NOW + timedelta(hours=1)).hour == 13
    assert parse_time(" 2026-07-06T12:00:00Z\r\n") == NOW  # surrounding white space is fine


def test_items_that_are_not_objects_are_refused_one_by_one(catalogue: PointCatalogue) -> None:
    """A poisoned batch: the valid items are kept, each bad one refused with its reason."""
    items: list[object] = [
        item(),
        5,
        "text",
        None,
        [1, 2],
        item(point="rack/A02/inlet_temperature"),
    ]
    accepted, rejected = validate(items, catalogue, now=NOW)
    assert [r.point for r in accepted] == [
        "rack/A01/inlet_temperature",
        "rack/A02/inlet_temperature",
    ]
    assert [r.index for r in rejected] == [1, 2, 3, 4]
    assert all(r.reason.startswith("item is not an object") for r in rejected)


def _one_by_one(
    items: list[object], catalogue: PointCatalogue, last: dict[str, datetime]
) -> tuple[list[tuple[str, datetime, bytes]], list[tuple[int, str | None, str]]]:
    """What ``validate`` must give, from each item validated alone (no shared time texts,
    so no inline path), then the batch's duplicate and lateness rules applied here."""
    accepted: list[tuple[str, datetime, bytes]] = []
    rejected: list[tuple[int, str | None, str]] = []
    seen: dict[tuple[str, datetime], int] = {}
    for index, raw in enumerate(items):
        ok, refused = validate([raw], catalogue, now=NOW)
        if refused:
            rejected.append((index, refused[0].point, refused[0].reason))
            continue
        reading = ok[0]
        point = reading.point
        if (point, reading.time) in seen:
            first = seen[point, reading.time]
            rejected.append((index, point, f"duplicate of item {first} (same point and time)"))
            continue
        if point in last and reading.time < last[point] - timedelta(hours=1):
            rejected.append((index, point, "out of order"))
            continue
        seen[point, reading.time] = index
        accepted.append((point, reading.time, struct.pack("<d", reading.value)))
    return accepted, rejected


def test_batches_give_what_each_item_alone_gives(catalogue: PointCatalogue) -> None:
    """Random batches of good and bad items sharing time texts (the inline path of
    ``validate``) give the readings (values bit for bit, -0.0 included) and refusals (index,
    point, reason) of the items validated one at a time."""
    rng = random.Random(5)
    points = ["rack/A01/inlet_temperature", "rack/A02/inlet_temperature", "battery/soc"]
    times = [f"2026-07-06T11:{m:02d}:00Z" for m in (50, 55, 59)] + [
        "2026-07-06T10:00:00Z",  # late for A01 (last 11:30), fine for the others
        "2026-07-06T13:59:00+02:00",
        "2026-07-06T12:10:00Z",  # future
        "2026-07-06T11:59:00",  # no timezone
        "1970-01-01T00:00:00Z",  # too old
    ]
    odd: list[dict[str, object]] = [
        {"value": float("nan")}, {"value": float("inf")}, {"value": -0.0}, {"value": 0.0},
        {"value": 5}, {"value": True}, {"value": "24.5"}, {"value": "2_4"}, {"value": None},
        {"value": 150.0}, {"value": 0.75}, {"value": -20.0}, {"value": 80.0},
        {"value": 80.00000000000001}, {"unit": ""}, {"unit": "degC"}, {"unit": "degF"},
        {"unit": 5}, {"unit": "1/0"}, {"point": "rack/Z99/inlet_temperature"},
        {"point": None}, {"point": 7}, {"time": None}, {"time": ["x"]}, {"time": 17},
    ]  # fmt: skip
    last = {"rack/A01/inlet_temperature": datetime(2026, 7, 6, 11, 30, tzinfo=UTC)}
    for _ in range(60):
        items: list[object] = []
        for _ in range(rng.randrange(1, 80)):
            fields: dict[str, object] = {
                "time": rng.choice(times),
                "point": rng.choice(points),
                "value": rng.choice([24.5, 0.5, rng.uniform(-30.0, 90.0)]),
            }
            if rng.random() < 0.4:
                fields.update(rng.choice(odd))
            if rng.random() < 0.05:
                del fields[rng.choice(["time", "point", "value"])]
            items.append(fields if rng.random() < 0.97 else rng.choice([5, "x", None, [1]]))
        accepted, rejected = validate(items, catalogue, now=NOW, last_times=last)
        expected_ok, expected_refused = _one_by_one(items, catalogue, last)
        assert [(r.point, r.time, struct.pack("<d", r.value)) for r in accepted] == expected_ok
        assert len(rejected) == len(expected_refused)
        for got, (index, point, reason) in zip(rejected, expected_refused, strict=True):
            assert (got.index, got.point) == (index, point)
            if reason == "out of order":
                assert got.reason.startswith("out of order: ")
            else:
                assert got.reason == reason
