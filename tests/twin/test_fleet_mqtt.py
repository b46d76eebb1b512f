"""``dctwin serve fleet.yaml --mqtt``: one MQTT subscriber per site against a real Mosquitto
broker (Debian's ``mosquitto``; skipped with the reason when absent, failed in CI), each
feeding its own site's twin and store."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.fleet_live import one_day_fleet
from tests.helpers import dctwin_in_process
from tests.mosquitto import Mosquitto, mosquitto  # noqa: F401 - the fixture
from tests.processes import serving


def publish(port: int, topic: str, payload: dict[str, object]) -> None:
    """One QoS 1 message, confirmed by the broker."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fleet-test-publisher")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        info = client.publish(topic, json.dumps(payload).encode(), qos=1)
        info.wait_for_publish(timeout=10)
        assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def test_each_site_subscribes_to_its_own_topics(tmp_path: Path, mosquitto: Mosquitto) -> None:  # noqa: F811
    fleet_file = one_day_fleet(tmp_path)
    token = "fleet-mqtt-token-0000001"
    args = (str(fleet_file), "--no-virtual-plant", "--replan-minutes", "0")
    args += ("--mqtt", mosquitto.url, "--mqtt-topic", "plant/{site}/#")
    with serving(*args, state_dir=tmp_path, tokens=f"{token}=read", timeout=180) as (base, _):
        headers = {"Authorization": f"Bearer {token}"}
        moment = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
        query = {
            "point": "grid/power",
            "start": (moment - timedelta(minutes=1)).isoformat(),
            "end": (moment + timedelta(minutes=1)).isoformat(),
        }

        def stored(site: str) -> list[float]:
            url = f"{base}/api/v1/sites/{site}/measurements"
            return list(httpx.get(url, params=query, headers=headers, timeout=30).json()["value"])

        deadline = time.monotonic() + 60.0
        reading = {"time": moment.isoformat(), "value": 40.0, "unit": "kW"}
        sent = 0.0
        while time.monotonic() < deadline and stored("london-edge") != [40.0]:
            # sent again every second until the subscriber has connected (QoS 1 with a
            # persistent session keeps it from then on); the same reading twice is one row;
            # the store is read every 0.1 s in between
            if time.monotonic() - sent >= 1.0:
                publish(mosquitto.port, "plant/london-edge/grid/power", reading)
                sent = time.monotonic()
            time.sleep(0.1)
        assert stored("london-edge") == [40.0]  # kW
        assert stored("dallas-core") == []  # another site's topic: not this store
        text = httpx.get(f"{base}/metrics", headers=headers, timeout=30).text
        connected = [
            line for line in text.splitlines() if line.startswith("dctwin_mqtt_connected{")
        ]
        for site in ("dallas-core", "frankfurt-core", "london-edge"):  # one subscriber each
            assert any(f'site="{site}"' in line and line.endswith(" 1.0") for line in connected)


def test_a_fleet_topic_without_site_is_refused(tmp_path: Path) -> None:
    fleet_file = one_day_fleet(tmp_path)
    done = dctwin_in_process(
        "serve", fleet_file, "--state-dir", tmp_path, "--mqtt", "mqtt://127.0.0.1:1",
        "--mqtt-topic", "plant/#",
    )  # fmt: skip
    assert done.returncode == 2
    assert "{site}" in done.stderr and "plant/#" in done.stderr
    assert "Traceback" not in done.stderr
