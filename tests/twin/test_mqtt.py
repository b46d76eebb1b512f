"""The MQTT subscriber against a real Mosquitto broker (Debian's ``mosquitto``, started by
the test on a free port): payload shapes, topic → point, the same validation and idempotency
as HTTP, refusals counted by code, reconnection after a broker restart, nothing lost while the
twin is away or the store fails, and ``dctwin serve --mqtt`` end to end."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from tests.helpers import Clock
from tests.mosquitto import Mosquitto, mosquitto  # noqa: F401 - the fixture
from tests.processes import dctwin, free_port, serving
from twin.connectors import mqtt as connector
from twin.connectors.mqtt import MqttSubscriber, broker_from_url, default_client_id
from twin.connectors.payload import check_topic_filter, message_items, topic_point
from twin.live.live_twin import LiveSettings, LiveTwin
from twin.store.errors import StoreBusy
from twin.store.store import Store

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "demo-hall.yaml"
NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
TOPICS = ["site/+/#"]


def wait_until(condition: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    """Poll ``condition`` every 50 ms until it holds (fail after ``timeout`` [s])."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what or condition}")
        time.sleep(0.05)


class Publisher:
    """A plain paho client publishing QoS 1 messages (each confirmed by the broker)."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-publisher")
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def send(self, topic: str, payload: Any) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        info = self.client.publish(topic, data, qos=1)
        info.wait_for_publish(timeout=10)
        assert info.is_published()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def twin(tmp_path: Path) -> Iterator[LiveTwin]:
    data = yaml.safe_load(SCENARIO.read_text())
    store = Store(f"sqlite:///{tmp_path / 'twin.db'}")
    live = LiveTwin(data, SCENARIO.parent, store, LiveSettings(replan_minutes=0), clock=Clock(NOW))
    yield live
    store.close()


@pytest.fixture
def publisher(mosquitto: Mosquitto) -> Iterator[Publisher]:  # noqa: F811
    sender = Publisher(mosquitto.port)
    yield sender
    sender.close()


def subscribe(twin: LiveTwin, broker: Mosquitto, client_id: str = "dctwin-test") -> MqttSubscriber:
    subscriber = MqttSubscriber(twin, broker_from_url(broker.url), TOPICS, client_id=client_id)
    subscriber.start()
    wait_until(lambda: subscriber.stats().connected, what="the subscriber to connect")
    time.sleep(0.2)  # the SUBACK
    return subscriber


def at(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).isoformat()


# ---------------------------------------------------------------------------- no broker


def test_payload_shapes_and_the_point_from_the_topic() -> None:
    one = json.dumps({"time": at(1), "value": 77, "unit": "degF"}).encode()
    items = message_items("site/h1/rack/A01/inlet_temperature", one, TOPICS, max_items=10)
    assert items.items == [
        {"time": at(1), "value": 77, "unit": "degF", "point": "rack/A01/inlet_temperature"}
    ]
    batch = {"items": [{"time": at(1), "point": "rack/A02/power", "value": 3}, 5, {"value": 1}]}
    parsed = message_items("other/topic", json.dumps(batch).encode(), TOPICS, max_items=10)
    assert [i["point"] for i in parsed.items] == ["rack/A02/power"]
    assert [(r.index, r.code) for r in parsed.refused] == [(1, "item"), (2, "no_point")]
    listed = [{"time": at(1), "value": 1}, {"time": at(2), "value": 2, "point": "grid/power"}]
    parsed = message_items("site/h1/plant/power", json.dumps(listed).encode(), TOPICS, max_items=9)
    assert [i["point"] for i in parsed.items] == ["plant/power", "grid/power"]  # payload wins
    for bad, code in [(b"\xff", "payload"), (b"{not json", "payload"), (b"42", "payload")]:
        assert [r.code for r in message_items("site/a/b", bad, TOPICS, max_items=9).refused] == [
            code
        ]
    many = json.dumps([{"time": at(1), "value": 1}] * 11).encode()
    refused = message_items("site/h1/grid/power", many, TOPICS, max_items=10).refused
    assert [(r.code, r.count) for r in refused] == [("too_many_items", 11)]
    assert topic_point("site/h1", TOPICS) is None  # '#' matched no level
    assert topic_point("a/b/c", ["$share/twins/a/#"]) == "b/c"
    assert topic_point("a/b/c", ["a/+/c"]) is None


@pytest.mark.parametrize("bad", ["", "site/#/x", "site/a#", "site/+x/y"])
def test_bad_topic_filters_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="topic filter"):
        check_topic_filter(bad)


def test_broker_urls_and_credentials() -> None:
    env = {"DCTWIN_MQTT_USERNAME": "twin", "DCTWIN_MQTT_PASSWORD": "s3cret"}
    broker = broker_from_url("mqtt://broker.example", env)
    assert (broker.host, broker.port, broker.tls, broker.username) == (
        "broker.example",
        1883,
        False,
        "twin",
    )
    assert broker.password == "s3cret" and "s3cret" not in repr(broker) + str(broker)
    assert broker_from_url("mqtts://u:p%40ss@10.0.0.5", {}).port == 8883
    assert broker_from_url("mqtts://u:p%40ss@10.0.0.5", {}).password == "p@ss"
    for bad, message in [
        ("http://host", "scheme"),
        ("mqtt://", "no host"),
        ("mqtt://host:99999", "(?i)port"),
        ("mqtt://host:0", "port 0"),
        ("mqtt://host/site/#", "--mqtt-topic"),
    ]:
        with pytest.raises(ValueError, match=message):
            broker_from_url(bad, {})
    assert default_client_id("Demo AI hall") == "dctwin-demo-ai-hall"


# ---------------------------------------------------------------------------- real broker


def test_readings_arrive_validated_converted_and_counted(
    twin: LiveTwin,
    mosquitto: Mosquitto,  # noqa: F811
    publisher: Publisher,
) -> None:
    subscriber = subscribe(twin, mosquitto)
    try:
        reading = {"time": at(1), "value": 77, "unit": "degF"}
        publisher.send("site/h1/rack/A01/inlet_temperature", reading)
        publisher.send(
            "site/h1/batch",
            [
                {"time": at(1), "point": "rack/A02/power", "value": 0.01, "unit": "MW"},
                {"time": at(1), "point": "rack/Q9/power", "value": 1},  # unknown point
                {"time": at(1), "point": "rack/A03/power", "value": 5000},  # out of range
                {"time": "2026-11-18T11:59:00", "point": "rack/A04/power", "value": 1},  # no tz
                {"time": at(1), "point": "rack/A05/power", "value": 1, "unit": "kWh"},
                "not an object",
            ],
        )
        publisher.send("site/h1/rack/A06/power", b"{broken")
        wait_until(lambda: subscriber.stats().messages == 3, what="three messages")
        wait_until(lambda: subscriber.stats().pending == 0, what="the messages to be stored")
        stats = subscriber.stats()
    finally:
        subscriber.stop()
    assert (stats.accepted, stats.inserted, stats.already_stored) == (2, 2, 0)
    assert stats.refused == {
        "unknown_point": 1,
        "range": 1,
        "time": 1,
        "unit": 1,
        "item": 1,
        "payload": 1,
    }
    latest = twin.store.latest(["rack/A01/inlet_temperature", "rack/A02/power"])
    assert latest["rack/A01/inlet_temperature"].value == pytest.approx(25.0)  # 77 °F
    assert latest["rack/A02/power"].value == pytest.approx(10.0)  # 0.01 MW in kW
    assert latest["rack/A02/power"].time == NOW - timedelta(minutes=1)


def test_a_message_sent_twice_is_stored_once(
    twin: LiveTwin,
    mosquitto: Mosquitto,  # noqa: F811
    publisher: Publisher,
) -> None:
    subscriber = subscribe(twin, mosquitto)
    points = ("grid/power", "plant/power")
    payload = {"items": [{"time": at(2), "point": p, "value": 7} for p in points]}
    try:
        publisher.send("site/h1/x", payload)
        publisher.send("site/h1/x", payload)  # QoS 1 may deliver twice: a no-op, as over HTTP
        wait_until(lambda: subscriber.stats().accepted == 4, what="both messages")
        stats = subscriber.stats()
    finally:
        subscriber.stop()
    assert (stats.inserted, stats.already_stored, stats.refused) == (2, 2, {})
    assert twin.store.count(["grid/power", "plant/power"]) == 2


def test_the_subscriber_reconnects_after_the_broker_restarts(
    twin: LiveTwin,
    mosquitto: Mosquitto,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    subscriber = subscribe(twin, mosquitto)
    try:
        mosquitto.stop()
        wait_until(lambda: not subscriber.stats().connected, what="the connection to drop")
        mosquitto.start()  # same port; no persistence, so the session is new
        wait_until(lambda: subscriber.stats().connects == 2, timeout=30, what="a reconnection")
        time.sleep(0.3)  # subscriptions renewed
        sender = Publisher(mosquitto.port)
        sender.send("site/h1/grid/power", {"time": at(1), "value": 1234})
        sender.close()
        wait_until(lambda: subscriber.stats().inserted == 1, what="the reading after the restart")
        stats = subscriber.stats()
    finally:
        subscriber.stop()
    assert stats.disconnects == 1
    assert twin.store.latest(["grid/power"])["grid/power"].value == 1234


def test_messages_wait_in_the_broker_while_the_twin_is_away(
    twin: LiveTwin,
    mosquitto: Mosquitto,  # noqa: F811
    publisher: Publisher,
) -> None:
    first = subscribe(twin, mosquitto, client_id="dctwin-away")
    first.stop()  # the persistent session stays with the broker
    for minute in range(5):
        publisher.send("site/h1/grid/power", {"time": at(10 - minute), "value": 100 + minute})
    second = subscribe(twin, mosquitto, client_id="dctwin-away")
    try:
        wait_until(lambda: second.stats().inserted == 5, what="the five queued readings")
    finally:
        second.stop()
    assert [r.value for r in twin.store.query(["grid/power"], NOW - timedelta(hours=1), NOW)] == [
        100,
        101,
        102,
        103,
        104,
    ]


def test_a_message_is_acknowledged_only_after_its_commit(
    twin: LiveTwin,
    mosquitto: Mosquitto,  # noqa: F811
    publisher: Publisher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While the store fails, the subscriber retries and holds the acknowledgement; stopped
    then, the broker delivers the message again to the next subscriber of the session."""
    monkeypatch.setattr(connector, "RETRY_MIN_S", 0.05)
    real_ingest = twin.ingest
    failures = {"left": 10_000}

    def failing_ingest(items: Any) -> Any:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise StoreBusy("database is locked")
        return real_ingest(items)

    monkeypatch.setattr(twin, "ingest", failing_ingest)
    first = subscribe(twin, mosquitto, client_id="dctwin-crash")
    publisher.send("site/h1/grid/power", {"time": at(1), "value": 555})
    wait_until(lambda: first.stats().store_errors >= 2, what="failed writes")
    first.stop()  # as if the process died: the message was never acknowledged
    assert first.stats().inserted == 0
    failures["left"] = 2  # the store recovers after two more failures
    second = subscribe(twin, mosquitto, client_id="dctwin-crash")
    try:
        wait_until(lambda: second.stats().inserted == 1, what="the redelivered message")
        stats = second.stats()
    finally:
        second.stop()
    assert stats.store_errors == 2
    assert twin.store.latest(["grid/power"])["grid/power"].value == 555


# ---------------------------------------------------------------------------- dctwin serve


def test_serve_with_mqtt_end_to_end(tmp_path: Path, mosquitto: Mosquitto) -> None:  # noqa: F811
    token = "mqtt-serve-token-000001"
    args = ("--no-virtual-plant", "--replan-minutes", "0", "--mqtt", mosquitto.url)
    args += ("--mqtt-topic", "site/+/#", "--mqtt-client-id", "dctwin-serve-test")
    with serving(*args, state_dir=tmp_path, tokens=f"{token}=read") as (base, _):
        headers = {"Authorization": f"Bearer {token}"}
        moment = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
        log_path = tmp_path / "serve.log"
        sender = Publisher(mosquitto.port)
        try:
            # the subscriber says it has connected; /metrics is first read after the refusal,
            # so its 5 s cache (CACHE_SECONDS) holds nothing older to wait out
            wait_until(lambda: "MQTT: connected to" in log_path.read_text(), timeout=20)
            reading = {"time": moment.isoformat(), "value": 2.5, "unit": "MW"}
            sender.send("site/hall/grid/power", reading)
            sender.send("site/hall/grid/power", {**reading, "value": "high"})
        finally:
            sender.close()
        query = {"point": "grid/power", "start": (moment - timedelta(minutes=1)).isoformat()}
        query["end"] = (moment + timedelta(minutes=1)).isoformat()

        def stored() -> list[float]:
            answer = httpx.get(f"{base}/api/v1/measurements", params=query, headers=headers)
            return list(answer.json()["value"])

        wait_until(lambda: stored() == [2500.0], what="the reading through the API")
        refused = "refused items (1 value)"
        wait_until(lambda: refused in log_path.read_text(), what="the refusal in the log")
        seen: list[str] = []

        def refusal_counted() -> bool:  # the exporter's cache lasts 5 s
            seen.append(metrics(base, headers))
            return 'dctwin_ingest_refused_total{reason="value"} 1.0' in seen[-1]

        wait_until(refusal_counted, timeout=20, what="the refusal in /metrics")
        text = seen[-1]
    broker = f"mqtt://127.0.0.1:{mosquitto.port}"
    assert f'dctwin_mqtt_connected{{broker="{broker}"}} 1.0' in text
    assert f'dctwin_mqtt_items_total{{broker="{broker}",outcome="accepted"}} 1.0' in text
    assert 'dctwin_ingest_refused_total{reason="value"} 1.0' in text
    log = (tmp_path / "serve.log").read_text()
    assert "subscribing to site/+/# on mqtt://127.0.0.1" in log
    assert "refused items (1 value)" in log


def metrics(base: str, headers: dict[str, str]) -> str:
    """``GET /metrics``."""
    return httpx.get(f"{base}/metrics", headers=headers, timeout=30).text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mqtt", "http://broker"], "scheme must be mqtt:// or mqtts://"),
        (["--mqtt", "mqtt://broker", "--mqtt-topic", "a/#/b"], "'#' must be the last level"),
        (["--mqtt-topic", "site/#"], "need --mqtt URL"),
    ],
)
def test_serve_refuses_bad_mqtt_options_at_once(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = dctwin("serve", "--port", str(free_port()), "--state-dir", tmp_path, *args, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    # Refused before the twin loads: no "loading ..." line, no token file, no database.
    assert "loading" not in result.stderr
    assert list(tmp_path.iterdir()) == []
