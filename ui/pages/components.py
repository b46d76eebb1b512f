"""Components and settings the pages share."""

from __future__ import annotations

from typing import Any

from dash import dcc

REFRESH_MS = 5_000
"""Period of the live pages' refresh [ms]."""


def graph_config(graph_id: str) -> Any:
    """Plotly settings of every chart: no logo; the camera button saves a PNG named after it."""
    return {
        "displaylogo": False,
        "toImageButtonOptions": {"format": "png", "filename": f"dctwin-{graph_id}", "scale": 2},
    }


def graph(graph_id: str, **style: Any) -> dcc.Graph:
    """An empty graph (filled by a callback), without the Plotly logo.

    Parameters
    ----------
    graph_id
        Component id.
    style
        CSS style of the graph's container, if any.
    """
    return dcc.Graph(id=graph_id, config=graph_config(graph_id), style=style or None)


def graph_with(graph_id: str, figure: Any) -> dcc.Graph:
    """A graph drawn with the page (``figure``), without the Plotly logo.

    Parameters
    ----------
    graph_id
        Component id.
    figure
        The Plotly figure.
    """
    return dcc.Graph(id=graph_id, figure=figure, config=graph_config(graph_id))


def session() -> tuple[str | None, frozenset[str]]:
    """The principal (``token:<fingerprint>`` or ``user:<name>``) and scopes of the request's
    session, as the login gate passes them (:mod:`twin.api.login`); ``(None, {})`` outside a
    request or without the gate (then nothing beyond reading is allowed)."""
    import flask

    if not flask.has_request_context():
        return None, frozenset()
    principal = flask.request.headers.get("X-Dctwin-Principal") or None
    scopes = flask.request.headers.get("X-Dctwin-Scopes") or ""
    if principal is None:
        return None, frozenset()
    return principal, frozenset(s for s in scopes.split(",") if s)
