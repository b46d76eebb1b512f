"""``GET /metrics`` for Prometheus: auth, ingestion counts and refusal codes, freshness per
kind and for the stalest points (bounded), KPIs and today's cost, plans, alarms, a failing
section, the scrape cache, and the Grafana dashboard in ``docs/`` using only real metrics."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import Clock
from twin.api.app import create_app
from twin.api.security import TokenRegistry
from twin.connectors.counters import REFUSAL_CODES, refusal_code
from twin.connectors.metrics import TwinMetrics
from twin.connectors.mqtt import MqttSubscriber, broker_from_url
from twin.live.ingest import validate
from twin.live.live_twin import LiveSettings, LiveTwin
from twin.store.store import Store

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "demo-hall.yaml"
DASHBOARD = ROOT / "docs" / "grafana-dashboard.json"
NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)  # 06:00 in Chicago, the demo hall's timezone
READ = "metrics-read-token-00001"
INGEST = "metrics-ingest-token-001"


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def twin(tmp_path: Path, clock: Clock) -> Iterator[LiveTwin]:
    data = yaml.safe_load(SCENARIO.read_text())
    store = Store(f"sqlite:///{tmp_path / 'twin.db'}")
    live = LiveTwin(data, SCENARIO.parent, store, LiveSettings(replan_minutes=0), clock=clock)
    yield live
    store.close()


@pytest.fixture
def client(twin: LiveTwin) -> Iterator[TestClient]:
    tokens = TokenRegistry.from_spec(f"{READ}=read;{INGEST}=ingest")
    app = create_app(twin, tokens, start_background=False)
    app.state.metrics.cache_seconds = 0.0
    with TestClient(app) as test_client:
        yield test_client


def scrape(client: TestClient) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Sample name → {sorted labels: value}."""
    response = client.get("/metrics", headers={"Authorization": f"Bearer {READ}"})
    assert response.status_code == 200, response.text
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            out.setdefault(sample.name, {})[labels] = sample.value
    return out


def value(metrics: dict[str, Any], name: str, **labels: str) -> float:
    return float(metrics[name][tuple(sorted(labels.items()))])


def post(client: TestClient, items: list[dict[str, Any]]) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {INGEST}"}
    response = client.post("/api/v1/measurements", json={"items": items}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def at(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).isoformat()


def test_metrics_need_a_read_token(client: TestClient) -> None:
    assert client.get("/metrics").status_code == 401
    response = client.get("/metrics", headers={"Authorization": f"Bearer {INGEST}"})
    assert response.status_code == 403 and "read" in response.json()["detail"]
    response = client.get("/metrics", headers={"Authorization": f"Bearer {READ}"})
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "# HELP dctwin_pue_ratio" in response.text


def test_every_validation_refusal_has_a_code(twin: LiveTwin) -> None:
    """Each branch of :func:`twin.live.ingest.validate` maps to its own code, none to
    ``other`` (a new refusal sentence would show up here)."""
    items: list[Any] = [
        {"time": at(-10), "point": "grid/power", "value": 1},
        {"time": 17, "point": "grid/power", "value": 1},
        {"time": "yesterday", "point": "grid/power", "value": 1},
        {"time": "2026-11-18T11:00:00", "point": "grid/power", "value": 1},
        {"time": at(1), "point": None, "value": 1},
        {"time": at(1), "point": "rack/ZZ/power", "value": 1},
        {"time": at(1), "point": "grid/power", "value": None},
        {"time": at(1), "point": "grid/power", "value": "high"},
        {"time": at(1), "point": "grid/power", "value": "nan"},
        {"time": at(1), "point": "grid/power", "value": 1, "unit": 5},
        {"time": at(1), "point": "grid/power", "value": 1, "unit": "kWh"},
        {"time": at(1), "point": "battery/soc", "value": 150, "unit": "%"},
        {"time": at(2), "point": "plant/power", "value": 1},
        {"time": at(2), "point": "plant/power", "value": 2},
        {"time": at(120), "point": "grid/power", "value": 1},
    ]
    expected = [
        "future",
        *["time"] * 3,
        "point",
        "unknown_point",
        *["value"] * 3,
        *["unit"] * 2,
        "range",
        "duplicate",
        "late",
    ]
    last = {"grid/power": NOW - timedelta(minutes=5)}
    _, rejected = validate(items, twin.catalogue, now=NOW, last_times=last)
    assert [refusal_code(r.reason) for r in rejected] == expected
    assert set(expected) == set(REFUSAL_CODES) - {"other"}
    assert refusal_code("something new") == "other"


def test_ingestion_is_counted_by_outcome_and_reason(client: TestClient) -> None:
    items = [
        {"time": at(1), "point": "grid/power", "value": 1000},
        {"time": at(1), "point": "plant/power", "value": 300},
        {"time": at(1), "point": "rack/ZZ/power", "value": 1},
        {"time": at(1), "point": "battery/soc", "value": 2},
    ]
    assert post(client, items)["inserted"] == 2
    assert post(client, items)["already_stored"] == 2  # sent again: idempotent
    metrics = scrape(client)
    assert value(metrics, "dctwin_ingest_batches_total") == 2
    assert value(metrics, "dctwin_ingest_items_total", outcome="accepted") == 4
    assert value(metrics, "dctwin_ingest_items_total", outcome="refused") == 4
    assert value(metrics, "dctwin_ingest_readings_total", result="inserted") == 2
    assert value(metrics, "dctwin_ingest_readings_total", result="already_stored") == 2
    assert value(metrics, "dctwin_ingest_refused_total", reason="unknown_point") == 2
    assert value(metrics, "dctwin_ingest_refused_total", reason="range") == 2


def test_freshness_per_kind_and_for_the_stalest_points(client: TestClient, twin: LiveTwin) -> None:
    client.app.state.metrics.stalest = 2  # type: ignore[attr-defined]
    post(
        client,
        [
            {"time": at(10), "point": "rack/A01/inlet_temperature", "value": 24},
            {"time": at(1), "point": "rack/A02/inlet_temperature", "value": 24},
            {"time": at(20), "point": "grid/power", "value": 1000},
            {"time": at(0.5), "point": "rack/A01/power", "value": 10},
        ],
    )
    metrics = scrape(client)
    inlet = {"kind": "rack/inlet_temperature"}
    assert value(metrics, "dctwin_points", **inlet) == len(twin.facility.racks.ids)
    assert value(metrics, "dctwin_points_reporting", **inlet) == 2
    assert value(metrics, "dctwin_points_silent", **inlet) == 1  # 600 s > 300 s
    assert value(metrics, "dctwin_point_age_max_seconds", **inlet) == 600
    assert value(metrics, "dctwin_point_age_median_seconds", **inlet) == 330
    assert value(metrics, "dctwin_points_reporting", kind="rack/outlet_temperature") == 0
    assert metrics["dctwin_point_age_seconds"] == {
        (("kind", "grid/power"), ("point", "grid/power")): 1200.0,
        (("kind", "rack/inlet_temperature"), ("point", "rack/A01/inlet_temperature")): 600.0,
    }
    assert value(metrics, "dctwin_last_reading_age_seconds") == 30
    # the number of series does not depend on the number of points
    kinds = {dict(labels)["kind"] for labels in metrics["dctwin_points"]}
    assert len(kinds) <= 14
    assert len(metrics["dctwin_point_age_seconds"]) == 2


def test_kpis_match_the_state_and_cost_today_integrates_grid_import(
    client: TestClient, twin: LiveTwin, clock: Clock
) -> None:
    midnight = datetime(2026, 11, 18, 6, 0, tzinfo=UTC)  # 00:00 in Chicago (CST, UTC-6)
    clock.now = midnight + timedelta(hours=6, minutes=7, seconds=30)
    minutes = range(-30, 6 * 60 + 8)  # from 23:30 the day before to 06:07 local
    times = [(midnight + timedelta(minutes=m)).isoformat() for m in minutes]
    items = [{"time": t, "point": "grid/power", "value": 2000} for t in times]
    assert post(client, items)["accepted"] == len(items)
    twin.drain()  # the state estimate
    metrics = scrape(client)
    state = twin.state()
    kpis = state["kpis"]
    assert value(metrics, "dctwin_it_power_watts") == pytest.approx(kpis["it_power_kw"] * 1e3)
    assert value(metrics, "dctwin_pue_ratio") == pytest.approx(kpis["pue"])
    assert value(metrics, "dctwin_grid_import_watts") == pytest.approx(2e6)
    inlets = [r["inlet_temperature"] for r in state["racks"]]
    assert len(inlets) == len(twin.facility.racks.ids) and None not in inlets
    assert value(metrics, "dctwin_inlet_temperature_max_celsius") == pytest.approx(max(inlets))
    assert value(metrics, "dctwin_inlet_limit_celsius") == state["inlet_limit"]
    # 2 MW from local midnight: 24 full quarter hours and half of the current one, each at
    # the price of its step [USD/MWh]; nothing before midnight
    quarters = [midnight + timedelta(minutes=15 * q) for q in range(25)]
    prices = np.array([float(twin.series["price"][twin.step_index(q)]) for q in quarters])
    hours = np.array([0.25] * 24 + [0.125])
    expected = float(np.sum(2.0 * hours * prices))
    assert value(metrics, "dctwin_energy_cost_today", currency="USD") == pytest.approx(expected)
    price_now = float(twin.series["price"][twin.step_index(clock.now)])
    assert value(metrics, "dctwin_energy_price_per_megawatt_hour", currency="USD") == price_now
    assert value(metrics, "dctwin_info", facility=twin.facility.name, currency="USD") == 1


def test_plan_status_follows_the_latest_plan(client: TestClient, twin: LiveTwin) -> None:
    metrics = scrape(client)
    assert value(metrics, "dctwin_plans_awaiting_decision") == 0
    assert sum(metrics["dctwin_plan_status"].values()) == 0  # no plan yet
    twin.ingest([{"time": at(1), "point": p, "value": v} for p, v in twin.predicted(NOW).items()])
    twin.drain()
    plan = twin.replan()
    metrics = scrape(client)
    assert value(metrics, "dctwin_plans_awaiting_decision") == 1
    assert value(metrics, "dctwin_plan_status", status="proposed") == 1
    assert value(metrics, "dctwin_plan_created_timestamp_seconds") == NOW.timestamp()
    summary = plan["payload"]["summary"]
    assert value(metrics, "dctwin_plan_verified") == float(summary["verified"])
    assert value(metrics, "dctwin_plan_solver_status", solver_status=summary["status"]) == 1
    savings = summary["savings_vs_as_operated"]
    assert value(metrics, "dctwin_plan_savings_ratio", figure="cost") == pytest.approx(
        savings["cost"]
    )
    twin.reject(plan["id"], actor="test")
    metrics = scrape(client)
    assert value(metrics, "dctwin_plans_awaiting_decision") == 0
    assert value(metrics, "dctwin_plan_status", status="rejected") == 1
    assert value(metrics, "dctwin_plan_status", status="proposed") == 0


def test_active_alarms_by_severity_and_kind(client: TestClient, twin: LiveTwin) -> None:
    twin.store.raise_alarm("sensor_stuck", "rack/A01/inlet_temperature", "stuck", time=NOW)
    twin.store.raise_alarm("sensor_stuck", "rack/A02/inlet_temperature", "stuck", time=NOW)
    gone = twin.store.raise_alarm("telemetry_stale", "site", "stale", time=NOW)
    twin.store.clear_alarm(gone["id"], time=NOW)
    metrics = scrape(client)
    assert value(metrics, "dctwin_alarms_active_by_kind", kind="sensor_stuck") == 2
    assert (("kind", "telemetry_stale"),) not in metrics["dctwin_alarms_active_by_kind"]
    # the store's default severity is "warning" (store schema v3)
    assert value(metrics, "dctwin_alarms_active", severity="warning") == 2
    assert value(metrics, "dctwin_alarms_active", severity="critical") == 0


def test_a_failing_section_is_reported_and_the_rest_still_exported(
    client: TestClient, twin: LiveTwin, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**_: Any) -> Any:
        raise RuntimeError("store unreachable")

    monkeypatch.setattr(twin.store, "list_plans", broken)
    metrics = scrape(client)
    assert value(metrics, "dctwin_metrics_section_up", section="plans") == 0
    assert value(metrics, "dctwin_metrics_section_up", section="kpis") == 1
    assert "dctwin_plan_status" not in metrics and "dctwin_pue_ratio" in metrics


def test_scrapes_are_cached_for_a_few_seconds(twin: LiveTwin) -> None:
    exporter = TwinMetrics(twin, cache_seconds=60.0)
    first = exporter.render()
    twin.ingest([{"time": at(1), "point": "grid/power", "value": 1}])
    assert exporter.render() == first
    exporter.cache_seconds = 0.0
    assert b"dctwin_ingest_batches_total 1.0" in exporter.render()


def test_the_grafana_dashboard_uses_only_exported_metrics(twin: LiveTwin) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exporter = TwinMetrics(twin, cache_seconds=0.0)
    broker = broker_from_url("mqtt://127.0.0.1")
    exporter.watch(MqttSubscriber(twin, broker, ["a/#"], client_id="never-started"))
    twin.ingest([{"time": at(1), "point": p, "value": v} for p, v in twin.predicted(NOW).items()])
    twin.drain()
    twin.replan()
    text = exporter.render().decode()
    exported = set(re.findall(r"^# TYPE (\S+) ", text, flags=re.MULTILINE))
    panels = dashboard["panels"]
    expressions = [t["expr"] for p in panels for t in p.get("targets", [])]
    used = {name for expr in expressions for name in re.findall(r"dctwin_[a-z_]+", expr)}
    assert used and used <= exported, used - exported
    assert {p["title"] for p in panels} >= {"PUE", "Active alarms by severity", "Stalest points"}
    assert all(p["datasource"]["uid"] == "${datasource}" for p in panels if "targets" in p)
