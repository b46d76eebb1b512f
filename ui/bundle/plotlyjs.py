"""plotly.js for the UI's graphs: a partial bundle with only the trace types the pages draw.

``dcc.Graph`` loads plotly.js lazily, once the first graph is in the page, from the URL that
dash-renderer puts in ``window._dashPlotlyJSURL``: serving locally, Dash's own full bundle
(``_dash-component-suites/plotly/package_data/plotly.min.js``, 4.8 MB, every trace type).
Evaluating it was most of a page's first paint (about 1.1 s of the browser's main thread on
2 cores).  :func:`serve` answers that URL with :data:`BUNDLE` instead: the same plotly.js
version built with :data:`TRACES` only (1.9 MB; built and vendored in ``ui/bundle/vendor``, whose
``README.md`` says how to rebuild it), gzip-compressed for browsers that accept it.  Nothing
is fetched from a CDN: the twin's site may be offline.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
from pathlib import Path

import flask
from dash import Dash

BUNDLE = Path(__file__).resolve().parent / "vendor" / "plotly-dctwin.min.js"
"""The partial plotly.js bundle (minified, with plotly.js's licence header)."""

TRACES = ("scatter", "scattergl", "heatmap", "sankey", "scattergeo")
"""Trace types in :data:`BUNDLE`: every ``type`` the UI's figures use."""

DASH_PATH = "plotly/package_data/plotly.min.js"
"""Where, under ``_dash-component-suites``, dash-renderer tells ``dcc.Graph`` to load
plotly.js from."""


@functools.cache
def _bodies() -> tuple[bytes, bytes, str]:
    """The bundle, its gzip encoding (level 6, compressed once per process: 0.06 s) and its ETag."""
    raw = BUNDLE.read_bytes()
    return raw, gzip.compress(raw, compresslevel=6, mtime=0), hashlib.sha256(raw).hexdigest()[:20]


def version() -> str:
    """plotly.js version of :data:`BUNDLE` (from its licence header, ``… v4.1.1``)."""
    with BUNDLE.open(encoding="utf-8") as handle:
        header = "".join(handle.readline() for _ in range(3))
    return header.split(") v", 1)[1].split()[0]


def response(accept_encoding: str, if_none_match: str | None) -> flask.Response:
    """The bundle as an HTTP response: gzip-encoded when ``accept_encoding`` names gzip,
    ``304 Not Modified`` when ``if_none_match`` is its ETag (the browser revalidates every
    load, as for Dash's own unfingerprinted files)."""
    raw, packed, tag = _bodies()
    zipped = "gzip" in accept_encoding.lower()
    etag = f'"{tag}-gz"' if zipped else f'"{tag}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
    if if_none_match is not None and etag in if_none_match:
        return flask.Response(status=304, headers=headers)
    if zipped:
        headers["Content-Encoding"] = "gzip"
    return flask.Response(
        packed if zipped else raw, mimetype="application/javascript", headers=headers
    )


def serve(app: Dash, requests_prefix: str = "/") -> None:
    """Answer the URL ``dcc.Graph`` loads plotly.js from (see the module's docstring) with
    the partial bundle, before Dash's own route sees the request.

    Parameters
    ----------
    app
        The Dash app (its Flask server gets a ``before_request`` hook).
    requests_prefix
        URL prefix of the app's routes (``/`` when mounted at the root).
    """
    url = f"{requests_prefix.rstrip('/')}/_dash-component-suites/{DASH_PATH}"

    def partial_plotly() -> flask.Response | None:
        if flask.request.path != url:
            return None
        headers = flask.request.headers
        return response(headers.get("Accept-Encoding", ""), headers.get("If-None-Match"))

    app.server.before_request(partial_plotly)


__all__ = ["BUNDLE", "DASH_PATH", "TRACES", "response", "serve", "version"]
