"""Benchmark of the connectors: MQTT ingestion throughput and the cost and size of a
Prometheus scrape on large halls.

Run by hand (on a quiet machine); prints one JSON line per figure::

    .venv/bin/python benchmarks/connectors.py          # MQTT; scrapes at 1,000 and 10,000 racks
    .venv/bin/python benchmarks/connectors.py --quick  # fewer messages, 200 racks

* **MQTT ingestion**: Debian's Mosquitto on a free port (as the tests start it), the demo
  hall's live twin with a SQLite store and an :class:`twin.connectors.mqtt.MqttSubscriber`
  in this process, and a paho publisher sending QoS 1 messages as fast as the broker takes
  them: ``--messages`` messages of one reading each (one topic per point, ``site/h/<point>``),
  then ``--batches`` messages of 1,000 readings (``{"items": [...]}``).  Timed from the first
  publish to the last reading committed (the subscriber acknowledges after the commit, so
  Mosquitto's in-flight window of 20 messages is the back-pressure).
* **Scrape**: a live twin of ``twin.scenario.synthetic.synthetic_hall(racks)`` with one
  stored reading for every point of the facility (four per rack), then
  :meth:`TwinMetrics.render` without its cache, 5 times: p50 and max [ms], and the number of
  samples in the text (which must not grow with the hall).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.mosquitto import Mosquitto  # noqa: E402


def mqtt_case(messages: int, batches: int) -> list[dict[str, object]]:
    """Readings/s through MQTT for single-reading and 1,000-reading messages."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from twin.connectors.mqtt import MqttSubscriber, broker_from_url
    from twin.live.live_twin import LiveSettings, LiveTwin
    from twin.store.store import Store

    folder = Path(tempfile.mkdtemp(prefix="dctwin-bench-mqtt-"))
    broker = Mosquitto(folder)
    broker.start()
    now = datetime.now(UTC).replace(microsecond=0)
    data = yaml.safe_load((ROOT / "scenarios" / "demo-hall.yaml").read_text())
    store = Store(f"sqlite:///{folder / 'twin.db'}")
    twin = LiveTwin(data, ROOT / "scenarios", store, LiveSettings(replan_minutes=0))
    subscriber = MqttSubscriber(twin, broker_from_url(broker.url), ["site/+/#"], client_id="b")
    subscriber.start()
    while not subscriber.stats().connected:
        time.sleep(0.05)
    time.sleep(0.3)
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-publisher")
    publisher.max_queued_messages_set(0)
    publisher.connect("127.0.0.1", broker.port)
    publisher.loop_start()
    points = [p for p in twin.catalogue.ids if p.startswith("rack/")]
    results = []
    cases = [
        (
            "single readings",
            [
                (
                    f"site/h/{points[k % len(points)]}",
                    {"time": (now - timedelta(seconds=k // len(points))).isoformat(), "value": 1},
                )
                for k in range(messages)
            ],
            1,
        ),
        (
            "1,000-reading batches",
            [
                (
                    "site/h/batch",
                    {
                        "items": [
                            {
                                "time": (
                                    now - timedelta(minutes=30, seconds=b * 10 + k // 100)
                                ).isoformat(),
                                "point": points[k % len(points)],
                                "value": 1,
                            }
                            for k in range(1000)
                        ]
                    },
                )
                for b in range(batches)
            ],
            1000,
        ),
    ]
    for name, payloads, per_message in cases:
        encoded = [(topic, json.dumps(body).encode()) for topic, body in payloads]
        before = subscriber.stats().inserted + subscriber.stats().already_stored
        started = time.perf_counter()
        infos = [publisher.publish(topic, body, qos=1) for topic, body in encoded]
        for info in infos:
            info.wait_for_publish(timeout=120)
        target = before + len(encoded) * per_message
        while subscriber.stats().inserted + subscriber.stats().already_stored < target:
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
        results.append(
            {
                "figure": f"MQTT ingestion, {name}",
                "messages": len(encoded),
                "readings": len(encoded) * per_message,
                "seconds": round(elapsed, 2),
                "readings_per_s": round(len(encoded) * per_message / elapsed),
                "refused": dict(subscriber.stats().refused),
            }
        )
    publisher.disconnect()
    publisher.loop_stop()
    subscriber.stop()
    broker.stop()
    store.close()
    return results


def scrape_case(racks: int) -> dict[str, object]:
    """Time and size of one ``/metrics`` scrape of a hall of ``racks`` racks."""
    from twin.connectors.metrics import TwinMetrics
    from twin.live.live_twin import LiveSettings, LiveTwin
    from twin.scenario.synthetic import synthetic_hall
    from twin.store.store import Store

    folder = Path(tempfile.mkdtemp(prefix="dctwin-bench-scrape-"))
    store = Store(f"sqlite:///{folder / 'twin.db'}")
    built = time.perf_counter()
    data = synthetic_hall(racks, days=1.0, step="15 min")
    twin = LiveTwin(data, folder, store, LiveSettings(replan_minutes=0))
    built = time.perf_counter() - built
    now = twin.clock()
    predicted = twin.predicted(now)
    items = [
        {"time": (now - timedelta(seconds=k % 600)).isoformat(), "point": p, "value": v}
        for k, (p, v) in enumerate(predicted.items())
    ]
    refused = 0  # a huge hall's grid or feed power may exceed the points' physical range
    for start in range(0, len(items), 10_000):
        refused += len(twin.ingest(items[start : start + 10_000]).rejected)
    metrics = TwinMetrics(twin, cache_seconds=0.0)
    times, text = [], b""
    for _ in range(5):
        t0 = time.perf_counter()
        text = metrics.render()
        times.append(time.perf_counter() - t0)
    samples = [line for line in text.decode().splitlines() if line and not line.startswith("#")]
    times.sort()
    store.close()
    return {
        "figure": "scrape of /metrics",
        "racks": racks,
        "points": len(twin.catalogue.ids),
        "stored_points": len(items) - refused,
        "twin_built_s": round(built, 1),
        "scrape_ms_p50": round(times[len(times) // 2] * 1e3, 1),
        "scrape_ms_max": round(times[-1] * 1e3, 1),
        "samples": len(samples),
        "bytes": len(text),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages, 200 racks")
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--batches", type=int, default=50)
    args = parser.parse_args()
    messages, batches = (2_000, 5) if args.quick else (args.messages, args.batches)
    for figure in mqtt_case(messages, batches):
        print(json.dumps(figure), flush=True)
    for racks in (200,) if args.quick else (1_000, 10_000):
        print(json.dumps(scrape_case(racks)), flush=True)


if __name__ == "__main__":
    main()
