"""gzip for the UI's scripts: Dash's component suites, compressed once per process.

A fresh browser fetches about 1.2 MB of Dash's own scripts before the first paint (React,
dash-renderer, the core and HTML components, their async chunks), which Dash's Flask server
sends uncompressed unless ``flask-compress`` is installed, and then compresses them again for
every request.  These files are the installed packages' (their content never changes while
the server runs), so :func:`serve` compresses each one once (gzip level 6, about a quarter of
the size) and keeps it in memory; callbacks and layouts are left as they are (their JSON
changes with every answer).  The partial plotly.js is gzip-compressed by
:mod:`ui.bundle.plotlyjs` itself.
"""

from __future__ import annotations

import gzip
import hashlib
import threading

import flask
from dash import Dash

SCRIPT_TYPES = frozenset({"application/javascript", "text/javascript", "text/css"})
"""Media types compressed."""

MIN_BYTES = 1024
"""Smaller files are sent as they are [bytes]."""


class StaticGzip:
    """``after_request`` hook: gzip a ``_dash-component-suites`` script for a browser that
    accepts it, from a per-process cache keyed by the file's content digest.

    Parameters
    ----------
    prefix
        URL path prefix of the component suites (``/_dash-component-suites/`` at the root).
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._packed: dict[bytes, bytes] = {}
        self._lock = threading.Lock()

    def packed(self, raw: bytes) -> bytes:
        """``raw`` gzip-compressed (level 6), computed once per distinct content."""
        key = hashlib.blake2b(raw, digest_size=16).digest()
        with self._lock:
            found = self._packed.get(key)
        if found is None:
            found = gzip.compress(raw, compresslevel=6, mtime=0)
            with self._lock:
                self._packed[key] = found
        return found

    def __call__(self, response: flask.Response) -> flask.Response:
        request = flask.request
        if (
            not request.path.startswith(self.prefix)
            or response.status_code != 200
            or response.direct_passthrough
            or "Content-Encoding" in response.headers
            or response.mimetype not in SCRIPT_TYPES
            or "gzip" not in request.headers.get("Accept-Encoding", "").lower()
        ):
            return response
        raw = response.get_data()
        if len(raw) < MIN_BYTES:
            return response
        response.set_data(self.packed(raw))
        response.headers["Content-Encoding"] = "gzip"
        response.vary.add("Accept-Encoding")
        etag, weak = response.get_etag()
        if etag:  # another encoding, another tag (Dash then answers its revalidation 200)
            response.set_etag(f"{etag}-gz", weak=bool(weak))
        return response


def serve(app: Dash, requests_prefix: str = "/") -> StaticGzip:
    """Compress ``app``'s component-suite scripts (see the module's docstring); returns the
    hook (its cache).

    Parameters
    ----------
    app
        The Dash app (its Flask server gets an ``after_request`` hook).
    requests_prefix
        URL prefix of the app's routes (``/`` when mounted at the root).
    """
    hook = StaticGzip(f"{requests_prefix.rstrip('/')}/_dash-component-suites/")
    app.server.after_request(hook)
    return hook


__all__ = ["MIN_BYTES", "SCRIPT_TYPES", "StaticGzip", "serve"]
