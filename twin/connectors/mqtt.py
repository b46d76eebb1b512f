"""An MQTT subscriber feeding the live twin: ``dctwin serve --mqtt mqtt://host:1883
--mqtt-topic 'site/+/#'``.

Messages (payload formats in :mod:`twin.connectors.payload`) go through
:meth:`twin.live.live_twin.LiveTwin.ingest`: the same validation, unit conversion and
idempotent store as ``POST /api/v1/measurements``.

Delivery
--------
* Subscriptions are QoS 1 (at least once) in a persistent session (``clean_session`` off,
  a fixed client id): while the twin is down or reconnecting, the broker keeps the messages
  for it.
* A message is acknowledged (PUBACK) only once its readings are committed to the store, so a
  crash between receipt and commit loses nothing: the broker delivers the message again, and
  readings already stored count as ``already_stored`` (as a batch sent twice over HTTP).
  While the store refuses writes, the subscriber retries (1 s doubling to 30 s) and holds the
  acknowledgements; the broker then stops sending (its in-flight window is full).
* The connection is re-established on loss (1 s doubling to 30 s between attempts); the
  subscriptions are renewed on every connection.

Messages received together are validated as one batch (one store transaction), split where
two messages carry the same point and time so that a repeated message counts as
``already_stored`` and not as a duplicate within a batch.

Refused items are counted by code (:attr:`MqttStats.refused`; ``/metrics`` exports them) and
logged, one summary line per 10 s at most.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import ssl
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from twin.connectors.broker import DEFAULT_TOPIC, Broker, broker_from_url, default_client_id
from twin.connectors.counters import refusal_code
from twin.connectors.payload import MessageItems, check_topic_filter, message_items
from twin.live.ingest import parse_time
from twin.live.live_twin import IngestResult, LiveTwin

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_TOPIC",
    "Broker",
    "MqttStats",
    "MqttSubscriber",
    "broker_from_url",
    "default_client_id",
]

QOS = 1
"""Quality of service of the subscriptions (at least once; the store is idempotent)."""
RETRY_MIN_S = 1.0
"""First wait before a reconnection or a store retry [s] (doubled up to :data:`RETRY_MAX_S`)."""
RETRY_MAX_S = 30.0
"""Longest wait between reconnections or store retries [s]."""
LOG_EVERY_S = 10.0
"""Refusals are logged at most once per this period [s]."""
MESSAGES_PER_ROUND = 1000
"""Most messages taken from the inbox into one round of validation [count]."""


@dataclass(frozen=True)
class MqttStats:
    """What the subscriber has done since it started.

    Attributes
    ----------
    connected
        Connected to the broker now.
    connects, disconnects
        Successful connections and lost connections [count].
    messages
        Messages received [count].
    accepted, inserted, already_stored
        Items that passed validation, of them newly stored, and already stored [count].
    refused
        Refused items by code (:data:`twin.connectors.payload.PAYLOAD_REFUSAL_CODES` and
        :data:`twin.connectors.counters.REFUSAL_CODES`) [count].
    store_errors
        Failed store writes, each retried [count].
    pending
        Messages received and not yet committed [count].
    last_message
        When the last message arrived (seconds since 1970-01-01 UTC), None before the first.
    """

    connected: bool
    connects: int
    disconnects: int
    messages: int
    accepted: int
    inserted: int
    already_stored: int
    refused: Mapping[str, int]
    store_errors: int
    pending: int
    last_message: float | None


class _RefusalLog:
    """Refusals summarised in one log line per :data:`LOG_EVERY_S` at most."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.example = ""
        self.last = 0.0

    def add(self, topic: str, code: str, reason: str) -> None:
        if not self.counts:
            self.example = f"{reason} (topic {topic!r})"
        self.counts[code] += 1
        now = time.monotonic()
        if now - self.last >= LOG_EVERY_S:
            summary = ", ".join(f"{n} {c}" for c, n in self.counts.most_common())
            log.warning("MQTT: refused items (%s); e.g. %s", summary, self.example)
            self.counts.clear()
            self.last = now


class MqttSubscriber:
    """Subscribes to topics on a broker and ingests what arrives into a live twin.

    Parameters
    ----------
    twin
        The live twin fed.
    broker
        Broker to connect to (:func:`broker_from_url`).
    topics
        Subscription filters (``+`` and ``#`` wildcards; ``$share/<group>/…`` allowed).
    client_id
        MQTT client id; it names the broker's session that keeps messages while this
        subscriber is away, so each twin needs its own.
    """

    def __init__(
        self, twin: LiveTwin, broker: Broker, topics: Sequence[str], *, client_id: str
    ) -> None:
        if not topics:
            raise ValueError("no MQTT topic to subscribe to")
        if not client_id or len(client_id.encode()) > 65535:
            raise ValueError("the MQTT client id must be 1 to 65,535 bytes")
        self.twin = twin
        self.broker = broker
        self.topics = [check_topic_filter(t) for t in topics]
        self.client_id = client_id
        self._inbox: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._refused: Counter[str] = Counter()
        self._connected = False
        self._last_message: float | None = None
        self._refusal_log = _RefusalLog()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._client = self._new_client()

    # ------------------------------------------------------------------ connection

    def _new_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=False,
            manual_ack=True,
        )
        client.reconnect_delay_set(min_delay=int(RETRY_MIN_S), max_delay=int(RETRY_MAX_S))
        if self.broker.username:
            client.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls:
            client.tls_set(ca_certs=self.broker.ca_file, cert_reqs=ssl.CERT_REQUIRED)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    def _on_connect(self, client: mqtt.Client, _: Any, flags: Any, reason: Any, __: Any) -> None:
        if reason.is_failure:
            log.error("MQTT: %s refused the connection: %s", self.broker, reason)
            return
        with self._lock:
            self._connected = True
            self._counts["connects"] += 1
        client.subscribe([(topic, QOS) for topic in self.topics])
        session = "resumed" if flags.session_present else "new"
        topics = ", ".join(self.topics)
        log.info("MQTT: connected to %s (%s session); topics %s", self.broker, session, topics)

    def _on_connect_fail(self, _: mqtt.Client, __: Any) -> None:
        log.warning("MQTT: cannot reach %s; retrying (up to every %g s)", self.broker, RETRY_MAX_S)

    def _on_disconnect(self, _: mqtt.Client, __: Any, ___: Any, reason: Any, ____: Any) -> None:
        with self._lock:
            was = self._connected
            self._connected = False
            if was:
                self._counts["disconnects"] += 1
        if was and not self._stop.is_set():
            log.warning("MQTT: lost the connection to %s (%s); reconnecting", self.broker, reason)

    def _on_subscribe(self, _: mqtt.Client, __: Any, ___: int, reasons: Any, ____: Any) -> None:
        for topic, reason in zip(self.topics, reasons, strict=False):
            if reason.is_failure:
                log.error("MQTT: %s refused the subscription to %r: %s", self.broker, topic, reason)

    def _on_message(self, _: mqtt.Client, __: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self._counts["messages"] += 1
            self._last_message = time.time()
        self._inbox.put(message)

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Connect (in the background; retried until it succeeds) and start ingesting."""
        self._stop.clear()
        self._worker = threading.Thread(target=self._work, name="dctwin-mqtt", daemon=True)
        self._worker.start()
        self._client.connect_async(self.broker.host, self.broker.port, keepalive=30)
        self._client.loop_start()

    def stop(self) -> None:
        """Disconnect and stop; messages not yet committed stay unacknowledged, so the broker
        delivers them again to the next subscriber with this client id."""
        self._stop.set()
        self._client.disconnect()
        self._client.loop_stop()
        if self._worker is not None:
            self._worker.join(timeout=10.0)
            self._worker = None
        with self._lock:
            self._connected = False

    def stats(self) -> MqttStats:
        """The counts so far."""
        with self._lock:
            return MqttStats(
                connected=self._connected,
                connects=self._counts["connects"],
                disconnects=self._counts["disconnects"],
                messages=self._counts["messages"],
                accepted=self._counts["accepted"],
                inserted=self._counts["inserted"],
                already_stored=self._counts["already_stored"],
                refused=dict(self._refused),
                store_errors=self._counts["store_errors"],
                pending=self._inbox.qsize() + self._counts["in_hand"],
                last_message=self._last_message,
            )

    # ------------------------------------------------------------------ ingestion

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                messages = [self._inbox.get(timeout=0.5)]
            except queue.Empty:
                continue
            while len(messages) < MESSAGES_PER_ROUND:
                try:
                    messages.append(self._inbox.get_nowait())
                except queue.Empty:
                    break
            with self._lock:
                self._counts["in_hand"] = len(messages)
            try:
                self.handle(messages)
            except Exception:  # keep the subscriber alive; the messages stay unacknowledged
                log.exception("MQTT: handling %d message(s) failed", len(messages))
            with self._lock:
                self._counts["in_hand"] = 0

    def handle(self, messages: Sequence[mqtt.MQTTMessage]) -> None:
        """Validate, store and acknowledge ``messages`` (the worker's round; tests call it).

        Parameters
        ----------
        messages
            Received messages, in arrival order.
        """
        limit = self.twin.settings.max_batch_items
        parsed = [
            message_items(m.topic, bytes(m.payload), self.topics, max_items=limit) for m in messages
        ]
        for message, content in zip(messages, parsed, strict=True):
            for refusal in content.refused:
                self._refuse(message.topic, refusal.code, refusal.reason, refusal.count)
        for group in _groups(parsed, limit):
            items = [item for k in group for item in parsed[k].items]
            result = self._ingest(items) if items else IngestResult(0, 0, 0)
            if result is None:
                return  # stopping while the store refuses writes: leave them unacknowledged
            self._count(result, [messages[k].topic for k in group for _ in parsed[k].items])
            for k in group:
                self._client.ack(messages[k].mid, messages[k].qos)

    def _ingest(self, items: list[dict[str, Any]]) -> IngestResult | None:
        """``twin.ingest(items)``, retried while the store fails; None when stopped first."""
        delay = RETRY_MIN_S
        while True:
            try:
                return self.twin.ingest(items)
            except Exception as exc:
                with self._lock:
                    self._counts["store_errors"] += 1
                size = len(items)
                log.warning("MQTT: storing %d item(s) failed (%s); retry in %g s", size, exc, delay)
            if self._stop.wait(delay):
                return None
            delay = min(delay * 2, RETRY_MAX_S)

    def _count(self, result: IngestResult, topics: Sequence[str]) -> None:
        with self._lock:
            self._counts["accepted"] += result.accepted
            self._counts["inserted"] += result.inserted
            self._counts["already_stored"] += result.already_stored
        for rejection in result.rejected:
            self._refuse(topics[rejection.index], refusal_code(rejection.reason), rejection.reason)

    def _refuse(self, topic: str, code: str, reason: str, count: int = 1) -> None:
        with self._lock:
            self._refused[code] += count
            self._refusal_log.add(topic, code, reason)


def _key(item: Mapping[str, Any]) -> tuple[Any, Any]:
    """(point, time) of an item as validation compares them (the raw time if unreadable)."""
    point, moment = item.get("point"), item.get("time")
    with contextlib.suppress(ValueError):
        moment = parse_time(moment)
    return (
        point if isinstance(point, str) else repr(point),
        moment if isinstance(moment, datetime | str) else repr(moment),
    )


def _groups(parsed: Sequence[MessageItems], limit: int) -> list[list[int]]:
    """Consecutive messages in batches of at most ``limit`` items in which no two messages
    share a (point, time): each batch is validated as one."""
    groups: list[list[int]] = []
    current: list[int] = []
    keys: set[tuple[Any, Any]] = set()
    size = 0
    for k, content in enumerate(parsed):
        mine = {_key(item) for item in content.items}
        if current and (size + len(content.items) > limit or mine & keys):
            groups.append(current)
            current, keys, size = [], set(), 0
        current.append(k)
        keys |= mine
        size += len(content.items)
    if current:
        groups.append(current)
    return groups
