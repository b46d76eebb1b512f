"""The connector options of ``dctwin serve`` (``--mqtt``, ``--mqtt-topic``,
``--mqtt-client-id``) and their life cycle beside the API server.

The options are checked before the twin loads (a bad URL or topic filter is one line and
exit code 2, at once); the subscriber starts with the server and stops after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import typer

from twin.cli.common import err, fail

if TYPE_CHECKING:
    from twin.connectors.broker import Broker
    from twin.connectors.mqtt import MqttSubscriber
    from twin.live.live_twin import LiveTwin

MqttUrl = Annotated[
    str | None,
    typer.Option(
        "--mqtt",
        help="MQTT broker to subscribe to: mqtt://host:1883 (mqtts:// for TLS). User and "
        "password from DCTWIN_MQTT_USERNAME / DCTWIN_MQTT_PASSWORD, a CA file from "
        "DCTWIN_MQTT_CA_FILE. Payloads: docs/connectors.md.",
    ),
]
"""``--mqtt URL``."""
MqttTopics = Annotated[
    list[str] | None,
    typer.Option(
        "--mqtt-topic",
        help="Topic filter to subscribe to (repeatable; default dctwin/measurements/#). "
        "The levels matched by a trailing # name the point when the payload does not. "
        "Serving a fleet file: each filter must contain {site} (default "
        "dctwin/{site}/measurements/#), one subscriber per site.",
    ),
]
"""``--mqtt-topic FILTER`` (repeatable)."""
MqttClientId = Annotated[
    str | None,
    typer.Option(
        "--mqtt-client-id",
        help="MQTT client id (default dctwin-<facility>): it names the broker session that "
        "keeps messages while the twin is away, so give each twin its own (a fleet: "
        "<id>-<site> per site).",
    ),
]
"""``--mqtt-client-id ID``."""


@dataclass
class Connectors:
    """The connectors ``dctwin serve`` runs beside the API (none without ``--mqtt``).

    Attributes
    ----------
    broker
        MQTT broker, None without ``--mqtt``.
    topics
        Subscription filters.
    client_id
        MQTT client id (None: :func:`twin.connectors.mqtt.default_client_id`).
    subscriber
        The running subscriber, once started.
    """

    broker: Broker | None = None
    topics: list[str] = field(default_factory=list)
    client_id: str | None = None
    subscriber: MqttSubscriber | None = None

    def start(self, api: Any, twin: LiveTwin) -> None:
        """Start the MQTT subscriber feeding ``twin``; its counts go to ``api``'s ``/metrics``.

        Parameters
        ----------
        api
            The FastAPI app (``app.state.metrics``, :func:`twin.api.metrics.install_metrics`).
        twin
            The live twin.
        """
        if self.broker is None:
            return
        from twin.connectors.mqtt import MqttSubscriber, default_client_id

        client_id = self.client_id or default_client_id(twin.facility.name)
        try:
            self.subscriber = MqttSubscriber(twin, self.broker, self.topics, client_id=client_id)
        except ValueError as exc:
            raise fail(f"--mqtt-client-id: {exc}") from None
        api.state.metrics.watch(self.subscriber)
        self.subscriber.start()
        err(
            f"MQTT: subscribing to {', '.join(self.topics)} on {self.broker} "
            f"as {client_id} (QoS 1, persistent session)"
        )

    def stop(self) -> None:
        """Stop the subscriber (unacknowledged messages stay with the broker)."""
        if self.subscriber is not None:
            self.subscriber.stop()
            self.subscriber = None


def connectors_from_options(
    url: str | None, topics: list[str] | None, client_id: str | None
) -> Connectors:
    """The connectors asked for on the command line, checked.

    Parameters
    ----------
    url
        ``--mqtt``.
    topics
        ``--mqtt-topic`` values.
    client_id
        ``--mqtt-client-id``.

    Raises
    ------
    typer.Exit
        A bad URL or topic filter, or MQTT options without ``--mqtt`` (one line, exit 2).
    """
    if url is None:
        if topics or client_id:
            raise fail("--mqtt-topic and --mqtt-client-id need --mqtt URL")
        return Connectors()
    from twin.connectors.broker import DEFAULT_TOPIC, broker_from_url
    from twin.connectors.payload import check_topic_filter

    try:
        broker = broker_from_url(url)
        filters = [check_topic_filter(t) for t in topics or [DEFAULT_TOPIC]]
    except ValueError as exc:
        raise fail(str(exc)) from None
    return Connectors(broker=broker, topics=filters, client_id=client_id)
