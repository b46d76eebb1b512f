"""``dctwin serve fleet.yaml``: one live twin per site of a fleet file, on one port.

Every site keeps its own store (``--db`` must contain ``{site}``; the fleet's own plans go to
the store named ``fleet``), for the demo its own virtual plant, and with ``--mqtt`` its own
MQTT subscriber (:class:`FleetConnectors`: every ``--mqtt-topic`` must contain ``{site}``,
default ``dctwin/{site}/measurements/#``; one persistent session per site).  The API serves each
site's routes under ``/api/v1/sites/{site}/`` and the fleet's under ``/api/v1/fleet``
(:mod:`twin.api.fleet.app`); the web UI plugin adds its Fleet page.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

import typer

from twin.cli.common import err, fail
from twin.cli.serving import bind_port, closed_on_failure, load_tokens, private_state_dir

if TYPE_CHECKING:
    from twin.connectors.broker import Broker
    from twin.connectors.mqtt import MqttSubscriber
    from twin.fleet.live import FleetTwin
    from twin.live.live_twin import LiveSettings

FLEET_TOPIC = "dctwin/{site}/measurements/#"
"""A fleet's subscription per site when no ``--mqtt-topic`` is given (``{site}``: its name)."""


AlarmMinDuration = Annotated[
    float,
    typer.Option(
        help="A limit alarm's level must hold this long before it is raised [s] "
        "(>= 0; 0: at the first reading beyond its threshold)."
    ),
]
"""``dctwin serve --alarm-min-duration``."""

IngestProcessOption = Annotated[
    bool,
    typer.Option(
        help="Validate and commit measurement batches in a child process of their own "
        "(another core: for high ingestion rates; docs/store.md)."
    ),
]
"""``dctwin serve --ingest-process``."""

MinCycleOption = Annotated[
    float,
    typer.Option(
        help="Shortest interval between the twin's processing cycles [ms] (>= 0): batches "
        "arriving within it are screened and estimated together; 0: a cycle per batch."
    ),
]
"""``dctwin serve --min-cycle-ms``."""


class LiveOptions(NamedTuple):
    """The live settings of the twin (of every site of a fleet) from the ``serve`` options."""

    replan_minutes: float
    """Each site's re-plan period [min]; 0: off."""
    autonomy: bool
    """Apply each site's plans within guardrails without approval."""
    retention_days: float
    """Keep raw readings this many days [d]; 0: all."""
    alarm_min_duration_s: float = 30.0
    """How long a limit alarm's level must hold before it is raised [s]."""
    ingest_process: bool = False
    """Validate and commit measurement batches in a child process (each site's own)."""
    min_cycle_ms: float = 50.0
    """Shortest interval between two processing cycles [ms]."""

    def checked(self) -> LiveOptions:
        """These options, refused (one line, exit 2) before anything loads when one is out of
        range: ``--alarm-min-duration`` must be a finite number of seconds ≥ 0,
        ``--min-cycle-ms`` a finite number of milliseconds ≥ 0, ``--replan-minutes`` and
        ``--retention-days`` finite and ≥ 0 (0: off; NaN had turned both off silently, an
        infinite period stopped the re-plan thread).

        Raises
        ------
        typer.Exit
            An option out of range.
        """
        if not (math.isfinite(self.alarm_min_duration_s) and self.alarm_min_duration_s >= 0):
            raise fail(
                "--alarm-min-duration must be a finite number of seconds >= 0, got "
                f"{self.alarm_min_duration_s:g}"
            )
        for flag, value, unit in (
            ("--replan-minutes", self.replan_minutes, "minutes"),
            ("--retention-days", self.retention_days, "days"),
        ):
            if not (math.isfinite(value) and value >= 0):
                raise fail(f"{flag} must be a finite number of {unit} >= 0 (0: off), got {value:g}")
        if not (math.isfinite(self.min_cycle_ms) and self.min_cycle_ms >= 0):
            raise fail(
                f"--min-cycle-ms must be a finite number of milliseconds >= 0, got "
                f"{self.min_cycle_ms:g}"
            )
        return self

    def settings(self) -> LiveSettings:
        """The :class:`~twin.live.live_twin.LiveSettings` of these options (the others at
        their defaults)."""
        from twin.live.live_twin import LiveSettings

        return LiveSettings(
            replan_minutes=self.replan_minutes,
            autonomy=self.autonomy,
            retention_days=self.retention_days,
            alarm_min_duration_s=self.alarm_min_duration_s,
            ingest_process=self.ingest_process,
            min_cycle_s=self.min_cycle_ms / 1000.0,
        )


def is_fleet(path: Path) -> bool:
    """Whether ``dctwin serve`` was given a fleet file (a ``fleet:`` key)."""
    from twin.fleet.schema import is_fleet_file

    return is_fleet_file(path)


@dataclass
class FleetConnectors:
    """The MQTT subscribers of a served fleet: one per site (none without ``--mqtt``).

    Attributes
    ----------
    broker
        MQTT broker, None without ``--mqtt``.
    topics
        Subscription filters, each containing ``{site}`` (replaced by each site's name).
    client_id
        MQTT client id prefix (each site's is ``<prefix>-<site>``); None: each site's
        :func:`twin.connectors.mqtt.default_client_id`.
    subscribers
        The running subscribers by site, once started.
    """

    broker: Broker | None = None
    topics: list[str] = field(default_factory=list)
    client_id: str | None = None
    subscribers: dict[str, MqttSubscriber] = field(default_factory=dict)

    def site_topics(self, site: str) -> list[str]:
        """The subscription filters of ``site``."""
        from twin.fleet.sites import SITE_PLACEHOLDER

        return [topic.replace(SITE_PLACEHOLDER, site) for topic in self.topics]

    def start(self, api: Any, fleet: FleetTwin) -> None:
        """Start one subscriber per site feeding its twin; counts go to ``api``'s ``/metrics``
        with the site's label (:mod:`twin.api.fleet.metrics`)."""
        if self.broker is None:
            return
        from twin.connectors.mqtt import MqttSubscriber, default_client_id

        for name, site in fleet.sites.items():
            client_id = (
                f"{self.client_id}-{name}"
                if self.client_id
                else default_client_id(site.twin.facility.name)
            )
            try:
                subscriber = MqttSubscriber(
                    site.twin, self.broker, self.site_topics(name), client_id=client_id
                )
            except ValueError as exc:
                self.stop()
                raise fail(f"--mqtt-topic/--mqtt-client-id for site {name}: {exc}") from None
            api.state.metrics.sites[name].watch(subscriber)
            subscriber.start()
            self.subscribers[name] = subscriber
        err(
            f"MQTT: {len(self.subscribers)} sites subscribing to {', '.join(self.topics)} on "
            f"{self.broker} (QoS 1, a persistent session per site)"
        )

    def stop(self) -> None:
        """Stop every subscriber (unacknowledged messages stay with the broker)."""
        for subscriber in self.subscribers.values():
            subscriber.stop()
        self.subscribers.clear()


def fleet_connectors(
    url: str | None, topics: list[str] | None, client_id: str | None
) -> FleetConnectors:
    """The fleet's connectors asked for on the command line, checked before anything loads.

    Raises
    ------
    typer.Exit
        A bad URL or topic filter, a filter without ``{site}``, or MQTT options without
        ``--mqtt`` (one line, exit 2).
    """
    if url is None:
        if topics or client_id:
            raise fail("--mqtt-topic and --mqtt-client-id need --mqtt URL")
        return FleetConnectors()
    from twin.connectors.broker import broker_from_url
    from twin.connectors.payload import check_topic_filter
    from twin.fleet.sites import SITE_PLACEHOLDER

    chosen = topics or [FLEET_TOPIC]
    for topic in chosen:
        if SITE_PLACEHOLDER not in topic:
            raise fail(
                f"--mqtt-topic {topic}: a fleet subscribes each site to its own topics, so "
                f"every filter must contain {SITE_PLACEHOLDER} (replaced by the site's name), "
                f"e.g. --mqtt-topic '{FLEET_TOPIC}'"
            )
    try:
        broker = broker_from_url(url)
        for topic in chosen:
            check_topic_filter(topic.replace(SITE_PLACEHOLDER, "site"))
    except ValueError as exc:
        raise fail(str(exc)) from None
    return FleetConnectors(broker=broker, topics=list(chosen), client_id=client_id)


def fleet_store_template(db: str | None, state_dir: Path) -> str:
    """The store URL template of a served fleet: ``--db`` (which must contain ``{site}``),
    else one SQLite file per site under ``state_dir``."""
    from twin.fleet.sites import SITE_PLACEHOLDER

    if db is None:
        return f"sqlite:///{state_dir.resolve()}/{SITE_PLACEHOLDER}.db"
    if SITE_PLACEHOLDER not in db:
        raise fail(
            f"--db {db.split('@')[-1]}: a fleet keeps one store per site, so the URL must "
            f"contain {SITE_PLACEHOLDER} (replaced by each site's name), e.g. "
            f"--db 'sqlite:///.dctwin/{SITE_PLACEHOLDER}.db' or "
            f"--db 'postgresql://user@host/dctwin_{SITE_PLACEHOLDER}'"
        )
    return db


def serve_fleet(
    path: Path,
    host: str,
    port: int,
    db: str | None,
    state_dir: Path,
    virtual_plant: bool | None,
    cors: list[str] | None,
    connectors: FleetConnectors,
    live: LiveOptions,
) -> None:
    """Serve the fleet in ``path`` until interrupted (see module docs; the arguments are the
    ``serve`` options, ``connectors`` from :func:`fleet_connectors`; virtual plants are on
    unless ``--no-virtual-plant``)."""
    plants = True if virtual_plant is None else virtual_plant
    template = fleet_store_template(db, state_dir)  # refused before anything loads
    listening = bind_port(host, port)
    import uvicorn

    from twin.api.fleet.app import create_fleet_app
    from twin.data.validation import SeriesError
    from twin.fleet.live import open_fleet
    from twin.fleet.schema import FleetError
    from twin.scenario.loader import ScenarioError

    with closed_on_failure(listening):  # a refusal below releases the port
        private_state_dir(state_dir)
        tokens = load_tokens(state_dir)
        settings = live.settings()
        err(f"loading fleet {path.name} and starting one twin per site ...")
        try:
            fleet = open_fleet(
                path, template, settings, virtual_plant=plants, merge_in_background=True
            )
        except (FleetError, ScenarioError, SeriesError) as exc:  # a site's scenario or data
            raise fail(str(exc)) from None
        except Exception as exc:  # a store that cannot be opened: say so, no traceback
            where = template.split("@")[-1]
            raise fail(f"cannot open the fleet's stores ({where}): {exc}") from None
    from importlib.metadata import entry_points

    plugins = list(entry_points(group="dctwin.web"))
    api = create_fleet_app(fleet, tokens, cors_origins=cors or None, root_redirect=not plugins)
    mounted = []
    for plugin in plugins:
        try:
            plugin.load()(api, next(iter(fleet.twins.values())), tokens)
        except Exception as exc:  # a broken plugin must not stop the API
            err(f"web UI plugin {plugin.name} ({plugin.value}) not loaded: {exc}")
            continue
        mounted.append(plugin.name)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    base = f"http://{host}:{port}"
    err(
        f"dctwin serving fleet {fleet.name!r} ({len(fleet.sites)} sites: "
        f"{', '.join(fleet.sites)}) on {base}/api/v1/fleet and {base}/api/v1/sites/<site>/ "
        f"(docs: {base}/docs; UI: {base + '/fleet' if mounted else 'none'}; "
        f"stores: {template.split('@')[-1]}; virtual plants: {'on' if plants else 'off'})"
    )
    connectors.start(api, fleet)
    try:
        server = uvicorn.Server(uvicorn.Config(api, host=host, port=port, log_level="info"))
        server.run(sockets=[listening])
    finally:
        connectors.stop()
        listening.close()
        fleet.close()
