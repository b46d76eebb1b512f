"""Where the MQTT subscriber connects (:class:`Broker`, from ``--mqtt URL``) and its
default subscription and client id; re-exported by :mod:`twin.connectors.mqtt`.

Only the standard library: ``dctwin serve`` checks its MQTT options with this before it
imports the twin (a bad URL is one line and exit code 2 in a fraction of a second).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

DEFAULT_TOPIC = "dctwin/measurements/#"
"""Subscription when no topic is given: ``dctwin/measurements/<point id>``."""


@dataclass(frozen=True)
class Broker:
    """Where and how to connect.

    Attributes
    ----------
    host, port
        Broker address (port 1883, or 8883 with TLS, unless given).
    tls
        TLS (``mqtts://``), checked against the system's CAs or ``ca_file``.
    username, password
        Credentials (None: anonymous).  Never part of a log line or a ``repr``.
    ca_file
        PEM file of the CA(s) to trust instead of the system's.
    """

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def broker_from_url(url: str, environ: Mapping[str, str] | None = None) -> Broker:
    """A :class:`Broker` from ``mqtt://[user[:password]@]host[:port]`` (``mqtts://`` for TLS).

    ``DCTWIN_MQTT_USERNAME`` and ``DCTWIN_MQTT_PASSWORD`` supply credentials the URL lacks
    (better than a password on the command line, which other users see in ``ps``);
    ``DCTWIN_MQTT_CA_FILE`` names a CA file for TLS.

    Parameters
    ----------
    url
        Broker URL.
    environ
        Environment (default: this process's).

    Raises
    ------
    ValueError
        Another scheme, no host, a bad port, or a path.
    """
    environ = os.environ if environ is None else environ
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"MQTT URL {url!r}: {exc}") from None
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ValueError(f"MQTT URL {url!r}: the scheme must be mqtt:// or mqtts://")
    if not parts.hostname:
        raise ValueError(f"MQTT URL {url!r} has no host (e.g. mqtt://broker.example:1883)")
    if parts.path not in ("", "/") or parts.query:
        raise ValueError(f"MQTT URL {url!r}: give topics with --mqtt-topic, not in the URL")
    if port == 0:
        raise ValueError(f"MQTT URL {url!r}: port 0 (give 1 to 65535)")
    tls = parts.scheme == "mqtts"
    username = unquote(parts.username) if parts.username else environ.get("DCTWIN_MQTT_USERNAME")
    password = unquote(parts.password) if parts.password else environ.get("DCTWIN_MQTT_PASSWORD")
    return Broker(
        host=parts.hostname,
        port=port or (8883 if tls else 1883),
        tls=tls,
        username=username or None,
        password=password or None,
        ca_file=environ.get("DCTWIN_MQTT_CA_FILE") or None,
    )


def default_client_id(facility: str) -> str:
    """``dctwin-<facility>`` with the facility's name in lower case, runs of other characters
    than letters and digits as ``-`` (e.g. ``dctwin-demo-ai-hall``).

    Parameters
    ----------
    facility
        The facility's name.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", facility.lower()).strip("-")
    return f"dctwin-{slug or 'twin'}"[:64]
