"""The twin in Prometheus' text format (``GET /metrics``): KPIs, telemetry freshness,
ingestion, plans, alarms and the MQTT connector.

Every metric is computed when scraped (a custom collector on a registry of its own; nothing
is global), and the rendered text is reused for :attr:`TwinMetrics.cache_seconds` so that
several scrapers cost one computation.  Units are SI base units where Prometheus' naming
conventions ask for them (watts, seconds, degrees Celsius, ratios), in the metric's name.

Cardinality stays bounded on any hall: freshness is exported per point *kind* (14 kinds at
most) and for the :attr:`TwinMetrics.stalest` stalest points only, never per point; refusal
reasons are codes of a fixed set (:data:`twin.connectors.counters.REFUSAL_CODES`); plan and
alarm labels take a handful of values.  The full list, with the Grafana dashboard that uses
them, is in ``docs/connectors.md``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from optimizer.plan import COMPARED
from physics.constants import WATTS_PER_KILOWATT
from twin.connectors.counters import IngestCounters
from twin.connectors.mqtt import MqttSubscriber
from twin.live.live_twin import LiveTwin
from twin.scenario.points import PointCatalogue
from twin.store.records import PLAN_STATUSES

log = logging.getLogger(__name__)

STALEST_POINTS = 10
"""How many of the stalest points are exported one by one."""
CACHE_SECONDS = 5.0
"""How long a rendered scrape is reused [s]."""
COST_BUCKET = timedelta(minutes=15)
"""Averaging period of grid import in :func:`energy_cost_today`."""


def energy_cost_today(twin: LiveTwin, now: datetime) -> float:
    """Energy cost since local midnight (the site's timezone) [currency].

    Grid import (``grid/power``, exports count as zero) averaged per 15 minutes from the
    store, each mean priced at the series' price of its step and counted for the part of its
    quarter hour between midnight and ``now`` (so the current quarter counts up to ``now``
    only); quarters without readings cost nothing.

    Parameters
    ----------
    twin
        The live twin.
    now
        Current instant (timezone-aware).
    """
    if "price" not in twin.series:
        return 0.0
    local = now.astimezone(ZoneInfo(twin.scenario.site.timezone))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    times, values = twin.store.downsample("grid/power", midnight, now, COST_BUCKET)
    if not times:
        return 0.0
    prices = twin.series["price"].values[[twin.step_index(t) for t in times]]  # per MWh
    hour = timedelta(hours=1)
    overlap = [min(t + COST_BUCKET, now) - max(t, midnight) for t in times]  # within today
    hours = np.array([max(span / hour, 0.0) for span in overlap])
    energy_mwh = np.maximum(np.asarray(values, dtype=float), 0.0) * hours / 1e3
    return float(energy_mwh @ prices)


POWER_GAUGES = (
    ("dctwin_it_power_watts", "IT power, all racks [W]", "it_power_kw"),
    ("dctwin_facility_power_watts", "Facility power, all feeds [W]", "facility_power_kw"),
    ("dctwin_grid_import_watts", "Grid import (negative: export) [W]", "grid_import_kw"),
    ("dctwin_cooling_power_watts", "Cooling plant power [W]", "cooling_power_kw"),
)
"""(metric, help, key of the twin's ``kpis`` in kW) of the power gauges."""


def _gauge(name: str, documentation: str, value: float | None) -> Iterator[Metric]:
    """One unlabelled gauge, left out when ``value`` is unknown."""
    if value is not None and math.isfinite(value):
        yield GaugeMetricFamily(name, documentation, value=float(value))


def _point_kinds(catalogue: PointCatalogue) -> dict[str, str]:
    """Point id → its kind label, e.g. ``rack/inlet_temperature``."""
    return {point: f"{kind.prefix}/{kind.quantity}" for point, (kind, _) in catalogue.kinds.items()}


class TwinMetrics:
    """The Prometheus exporter of one live twin.

    Parameters
    ----------
    twin
        The live twin; its ingestion is counted from now on (an observer is attached).
    stalest
        Points exported one by one by age, the stalest first [count].
    cache_seconds
        How long a rendered scrape is reused [s]; 0 computes every scrape.
    """

    def __init__(
        self, twin: LiveTwin, *, stalest: int = STALEST_POINTS, cache_seconds: float = CACHE_SECONDS
    ) -> None:
        self.twin = twin
        self.stalest = stalest
        self.cache_seconds = cache_seconds
        self.counters = IngestCounters()
        self.counters.attach(twin)
        self.subscribers: list[MqttSubscriber] = []
        """MQTT subscribers whose counts are exported (:meth:`watch`)."""
        self.registry = CollectorRegistry()
        self.registry.register(self)
        self._kinds: tuple[int, dict[str, str]] = (0, {})
        self._rendered: tuple[float, bytes] = (-math.inf, b"")
        self._lock = threading.Lock()

    def watch(self, subscriber: MqttSubscriber) -> None:
        """Export ``subscriber``'s counts (``dctwin_mqtt_*``)."""
        self.subscribers.append(subscriber)

    def render(self) -> bytes:
        """The exposition text (Prometheus text format 0.0.4), cached ``cache_seconds``."""
        with self._lock:
            made, text = self._rendered
            if time.monotonic() - made >= self.cache_seconds:
                text = generate_latest(self.registry)
                self._rendered = (time.monotonic(), text)
            return text

    def collect(self) -> Iterator[Metric]:
        """Every metric family, computed now (the collector protocol of prometheus_client).

        A section that fails (the store busy, say) is left out and reported in
        ``dctwin_metrics_section_up``; the others are still exported.
        """
        started = time.perf_counter()
        sections: dict[str, Callable[[], Iterable[Metric]]] = {
            "kpis": self._kpis,
            "freshness": self._freshness,
            "ingestion": self._ingestion,
            "plans": self._plans,
            "alarms": self._alarms,
            "mqtt": self._mqtt,
        }
        up = GaugeMetricFamily(
            "dctwin_metrics_section_up",
            "1 when the section's metrics were computed in this scrape, 0 when it failed",
            labels=["section"],
        )
        for name, section in sections.items():
            try:
                families = list(section())
            except Exception:
                log.exception("metrics: the %s section failed", name)
                up.add_metric([name], 0.0)
                continue
            up.add_metric([name], 1.0)
            yield from families
        yield up
        yield GaugeMetricFamily(
            "dctwin_metrics_scrape_duration_seconds",
            "Time taken to compute this scrape [s]",
            value=time.perf_counter() - started,
        )

    # ------------------------------------------------------------------ sections

    def _kpis(self) -> Iterator[Metric]:
        twin = self.twin
        state = twin.state()
        kpis: Mapping[str, Any] = state["kpis"]
        currency = twin.scenario.grid.currency
        info = GaugeMetricFamily(
            "dctwin_info", "The facility served (always 1)", labels=["facility", "currency"]
        )
        info.add_metric([twin.facility.name, currency], 1.0)
        yield info

        def watts(key: str) -> float | None:
            value = kpis.get(key)
            return None if value is None else float(value) * WATTS_PER_KILOWATT

        for name, documentation, key in POWER_GAUGES:
            yield from _gauge(name, documentation, watts(key))
        yield from _gauge("dctwin_pue_ratio", "Power usage effectiveness [-]", kpis.get("pue"))
        yield from _gauge(
            "dctwin_battery_soc_ratio", "Battery state of charge [-]", kpis.get("battery_soc")
        )
        yield from _gauge(
            "dctwin_grid_carbon_intensity_grams_per_kilowatt_hour",
            "Grid carbon intensity now [g/kWh]",
            kpis.get("carbon_g_per_kwh"),
        )
        price = GaugeMetricFamily(
            "dctwin_energy_price_per_megawatt_hour",
            "Energy price now [currency/MWh]",
            labels=["currency"],
        )
        if kpis.get("price_per_mwh") is not None:
            price.add_metric([currency], float(kpis["price_per_mwh"]))
        yield price
        cost = GaugeMetricFamily(
            "dctwin_energy_cost_today",
            "Energy cost since local midnight (site timezone) [currency]",
            labels=["currency"],
        )
        cost.add_metric([currency], energy_cost_today(twin, twin.clock()))
        yield cost
        yield from self._inlets(state)

    def _inlets(self, state: Mapping[str, Any]) -> Iterator[Metric]:
        racks = state.get("racks") or []

        def column(key: str) -> np.ndarray:
            values = [r.get(key) for r in racks]
            return np.array([np.nan if v is None else v for v in values], dtype=float)

        inlet, margin = column("inlet_temperature"), column("margin")
        probability = column("exceedance_probability")
        known = np.isfinite(inlet)
        yield from _gauge(
            "dctwin_inlet_temperature_max_celsius",
            "Highest estimated rack inlet temperature [°C]",
            float(inlet[known].max()) if known.any() else None,
        )
        yield from _gauge(
            "dctwin_inlet_margin_min_kelvin",
            "Smallest margin to the rack inlet limit (negative: above it) [K]",
            float(np.nanmin(margin)) if np.isfinite(margin).any() else None,
        )
        yield from _gauge(
            "dctwin_inlet_limit_celsius", "Rack inlet limit [°C]", state.get("inlet_limit")
        )
        yield from _gauge(
            "dctwin_inlet_exceedance_probability_max_ratio",
            "Highest probability of a rack inlet above the limit [-]",
            float(np.nanmax(probability)) if np.isfinite(probability).any() else None,
        )
        yield from _gauge(
            "dctwin_telemetry_stale", "1 while telemetry is stale, else 0", float(state["stale"])
        )

    def _freshness(self) -> Iterator[Metric]:
        twin = self.twin
        now = twin.clock()
        catalogue = twin.catalogue
        if self._kinds[0] != id(catalogue):
            self._kinds = (id(catalogue), _point_kinds(catalogue))
        kinds = self._kinds[1]
        latest = twin.store.latest()
        points = [p for p in latest if p in kinds]
        ages = np.array([(now - latest[p].time).total_seconds() for p in points], dtype=float)
        ages = np.maximum(ages, 0.0)
        labels = np.array([kinds[p] for p in points], dtype=object)
        silent_after = twin.settings.stale_after_s
        names = {
            "count": ("dctwin_points", "Points of the facility of this kind [count]"),
            "reporting": ("dctwin_points_reporting", "Points of this kind with a stored reading"),
            "silent": (
                "dctwin_points_silent",
                f"Points of this kind whose last reading is older than {silent_after:g} s",
            ),
            "max": ("dctwin_point_age_max_seconds", "Age of the stalest reading of this kind [s]"),
            "median": ("dctwin_point_age_median_seconds", "Median age of this kind's readings [s]"),
        }
        families = {k: GaugeMetricFamily(n, d, labels=["kind"]) for k, (n, d) in names.items()}
        totals: dict[str, int] = {}
        for label in kinds.values():
            totals[label] = totals.get(label, 0) + 1
        for label, total in sorted(totals.items()):
            mine = ages[labels == label] if len(ages) else ages
            families["count"].add_metric([label], total)
            families["reporting"].add_metric([label], len(mine))
            families["silent"].add_metric([label], int((mine > silent_after).sum()))
            if len(mine):
                families["max"].add_metric([label], float(mine.max()))
                families["median"].add_metric([label], float(np.median(mine)))
        yield from families.values()
        stalest = GaugeMetricFamily(
            "dctwin_point_age_seconds",
            f"Age of the last reading of the {self.stalest} stalest points [s]",
            labels=["point", "kind"],
        )
        for k in np.argsort(-ages, kind="stable")[: self.stalest]:
            stalest.add_metric([points[k], kinds[points[k]]], float(ages[k]))
        yield stalest
        newest = max((r.time for r in latest.values()), default=None)
        yield from _gauge(
            "dctwin_last_reading_age_seconds",
            "Age of the newest stored reading of any point [s]",
            None if newest is None else max((now - newest).total_seconds(), 0.0),
        )

    def _ingestion(self) -> Iterator[Metric]:
        totals = self.counters.totals()
        yield CounterMetricFamily(
            "dctwin_ingest_batches", "Batches validated (HTTP, MQTT, plant)", value=totals.batches
        )
        items = CounterMetricFamily(
            "dctwin_ingest_items", "Items validated, by outcome", labels=["outcome"]
        )
        items.add_metric(["accepted"], totals.accepted)
        items.add_metric(["refused"], totals.refused_total)
        yield items
        stored = CounterMetricFamily(
            "dctwin_ingest_readings",
            "Accepted readings: newly stored, or already in the store (a batch sent again)",
            labels=["result"],
        )
        stored.add_metric(["inserted"], totals.inserted)
        stored.add_metric(["already_stored"], totals.already_stored)
        yield stored
        refused = CounterMetricFamily(
            "dctwin_ingest_refused", "Refused items by reason code", labels=["reason"]
        )
        for code, count in sorted(totals.refused.items()):
            refused.add_metric([code], count)
        yield refused
        yield CounterMetricFamily(
            "dctwin_readings_processed",
            "Readings screened, estimated and calibrated from",
            value=self.twin.processed,
        )

    def _plans(self) -> Iterator[Metric]:
        store = self.twin.store
        proposed = store.list_plans(limit=1000, status="proposed")
        yield GaugeMetricFamily(
            "dctwin_plans_awaiting_decision",
            "Plans proposed and neither approved, rejected nor superseded",
            value=len(proposed),
        )
        latest = store.list_plans(limit=1)
        status = GaugeMetricFamily(
            "dctwin_plan_status", "Status of the latest plan (1 for its status)", labels=["status"]
        )
        for name in PLAN_STATUSES:
            status.add_metric([name], float(bool(latest) and latest[0]["status"] == name))
        yield status
        if not latest:
            return
        plan = latest[0]
        summary: Mapping[str, Any] = (plan["payload"] or {}).get("summary") or {}
        yield GaugeMetricFamily(
            "dctwin_plan_created_timestamp_seconds",
            "When the latest plan was made [s since 1970-01-01 UTC]",
            value=plan["created"].timestamp(),
        )
        yield from _gauge(
            "dctwin_plan_verified",
            "1 when the latest plan was verified by the physics, else 0",
            float(bool(summary.get("verified"))),
        )
        solver = GaugeMetricFamily(
            "dctwin_plan_solver_status",
            "Outcome of the latest plan's solve (1 for it): optimal, time_limit, fallback …",
            labels=["solver_status"],
        )
        solver.add_metric([str(summary.get("status", "unknown"))], 1.0)
        yield solver
        savings = GaugeMetricFamily(
            "dctwin_plan_savings_ratio",
            "Latest plan's fractional reduction vs operating as is (negative: worse) [-]",
            labels=["figure"],
        )
        for figure, value in (summary.get("savings_vs_as_operated") or {}).items():
            if figure in COMPARED and isinstance(value, int | float) and math.isfinite(value):
                savings.add_metric([figure], float(value))
        yield savings

    def _alarms(self) -> Iterator[Metric]:
        active = self.twin.store.alarms(active_only=True)
        by_severity: dict[str, int] = {"critical": 0, "warning": 0}
        by_kind: dict[str, int] = {}
        for alarm in active:
            record: Mapping[str, Any] = alarm
            severity = str(record.get("severity") or "none")
            by_severity[severity] = by_severity.get(severity, 0) + 1
            by_kind[alarm["kind"]] = by_kind.get(alarm["kind"], 0) + 1
        severity_family = GaugeMetricFamily(
            "dctwin_alarms_active",
            "Active alarms by severity (none: the alarm carries no severity)",
            labels=["severity"],
        )
        for name, count in sorted(by_severity.items()):
            severity_family.add_metric([name], count)
        yield severity_family
        kind_family = GaugeMetricFamily(
            "dctwin_alarms_active_by_kind", "Active alarms by kind", labels=["kind"]
        )
        for name, count in sorted(by_kind.items()):
            kind_family.add_metric([name], count)
        yield kind_family

    def _mqtt(self) -> Iterator[Metric]:
        if not self.subscribers:
            return
        families = _mqtt_families()
        for subscriber in self.subscribers:
            stats = subscriber.stats()
            broker = str(subscriber.broker)
            families["connected"].add_metric([broker], float(stats.connected))
            families["connects"].add_metric([broker], stats.connects)
            families["disconnects"].add_metric([broker], stats.disconnects)
            families["messages"].add_metric([broker], stats.messages)
            families["pending"].add_metric([broker], stats.pending)
            families["store_errors"].add_metric([broker], stats.store_errors)
            families["items"].add_metric([broker, "accepted"], stats.accepted)
            families["items"].add_metric([broker, "refused"], sum(stats.refused.values()))
            for code, count in sorted(stats.refused.items()):
                families["refused"].add_metric([broker, code], count)
            if stats.last_message is not None:
                families["last"].add_metric([broker], stats.last_message)
        yield from families.values()


def _mqtt_families() -> dict[str, GaugeMetricFamily | CounterMetricFamily]:
    """Empty families of the MQTT subscriber metrics (label ``broker``)."""
    broker = ["broker"]
    return {
        "connected": GaugeMetricFamily(
            "dctwin_mqtt_connected", "1 while connected to the broker", labels=broker
        ),
        "connects": CounterMetricFamily(
            "dctwin_mqtt_connects", "Successful connections to the broker", labels=broker
        ),
        "disconnects": CounterMetricFamily(
            "dctwin_mqtt_disconnects", "Connections lost (each followed by retries)", labels=broker
        ),
        "messages": CounterMetricFamily("dctwin_mqtt_messages", "Messages received", labels=broker),
        "pending": GaugeMetricFamily(
            "dctwin_mqtt_pending_messages", "Messages received, not yet committed", labels=broker
        ),
        "store_errors": CounterMetricFamily(
            "dctwin_mqtt_store_errors", "Failed store writes (each retried)", labels=broker
        ),
        "items": CounterMetricFamily(
            "dctwin_mqtt_items", "Items received, by outcome", labels=[*broker, "outcome"]
        ),
        "refused": CounterMetricFamily(
            "dctwin_mqtt_refused",
            "Items refused by reason code (payload and validation)",
            labels=[*broker, "reason"],
        ),
        "last": GaugeMetricFamily(
            "dctwin_mqtt_last_message_timestamp_seconds",
            "When the last message arrived [s since 1970-01-01 UTC]",
            labels=broker,
        ),
    }
