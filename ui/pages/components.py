"""Components and settings the pages share.

Every chart comes with a **CSV** button (:func:`graph`, :func:`graph_with`): the browser
writes the chart's data as it is drawn, with the axis titles (units, and the site's timezone
on time axes) in the headers; no round trip to the server.  PNG is the modebar's camera.
"""

from __future__ import annotations

from typing import Any

from dash import MATCH, Dash, Input, Output, State, dcc, html

REFRESH_MS = 5_000
"""Period of the live pages' refresh [ms]."""

CSV_BUTTON = "csv-button"
"""Type of the pattern-matching id of every chart's CSV button (``{"type", "graph"}``)."""


def graph_config(graph_id: str) -> Any:
    """Plotly settings of every chart: no logo; the camera button saves a PNG named after it."""
    return {
        "displaylogo": False,
        "toImageButtonOptions": {"format": "png", "filename": f"dctwin-{graph_id}", "scale": 2},
    }


def _with_csv(graph_id: str, chart: dcc.Graph) -> html.Div:
    button = html.Button(
        "CSV",
        id={"type": CSV_BUTTON, "graph": graph_id},
        className="csv-button",
        title="Download this chart's data as CSV (units in the headers, times in site time)",
    )
    return html.Div([html.Div(button, className="chart-tools"), chart], className="chart")


def graph(graph_id: str, **style: Any) -> html.Div:
    """An empty graph (filled by a callback), without the Plotly logo, with a CSV button.

    Parameters
    ----------
    graph_id
        Component id of the ``dcc.Graph``.
    style
        CSS style of the graph's container, if any.
    """
    chart = dcc.Graph(id=graph_id, config=graph_config(graph_id), style=style or None)
    return _with_csv(graph_id, chart)


def graph_with(graph_id: str, figure: Any) -> html.Div:
    """A graph drawn with the page (``figure``), without the Plotly logo, with a CSV button.

    Parameters
    ----------
    graph_id
        Component id of the ``dcc.Graph``.
    figure
        The Plotly figure.
    """
    return _with_csv(graph_id, dcc.Graph(id=graph_id, figure=figure, config=graph_config(graph_id)))


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


CSV_SCRIPT = """
function(clicks, id) {
    const none = window.dash_clientside.no_update;
    const holder = document.getElementById(id.graph);
    const plot = holder && holder.querySelector(".js-plotly-plot");
    if (!clicks || !plot || !plot._fullData) { return none; }
    const layout = plot._fullLayout || {};
    const cell = (v) => {
        const s = v === null || v === undefined ? "" : String(v);
        return /[",\\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
    };
    const list = (v) => (v === null || v === undefined ? [] : Array.from(v));
    const named = (axis) => {
        const a = layout[axis];
        return a && a.title && a.title.text;
    };
    // subplots title one shared axis (e.g. time on the bottom row): use it for its siblings
    const title = (axis, fallback) => named(axis) || (axis[0] === "x" && Object.keys(layout)
        .filter((k) => k.startsWith("xaxis") && named(k)).map(named)[0]) || fallback;
    const axisOf = (ref, letter) => letter + "axis" + (ref || letter).slice(1);
    const rows = [];
    const traces = plot._fullData.filter((t) => t.visible !== false);
    traces.filter((t) => t.z !== undefined).forEach((t) => {
        const bar = (t.colorbar && t.colorbar.title && t.colorbar.title.text) || "value";
        const xs = list(t.x), ys = list(t.y), z = list(t.z), c = list(t.customdata);
        if (rows.length) { rows.push([]); }
        rows.push([title(axisOf(t.yaxis, "y"), "y"), title(axisOf(t.xaxis, "x"), "x"),
                   typeof t.meta === "string" ? t.meta : (t.name ? t.name + " " : "") + bar,
                   "id"]);
        z.forEach((zrow, i) => list(zrow).forEach((v, j) => rows.push(
            [ys[i], xs[j], v, c.length ? list(c[i])[j] : ""])));
    });
    traces.filter((t) => t.type === "sankey").forEach((t) => {
        const labels = list(t.node.label), unit = (t.valuesuffix || "").trim();
        if (rows.length) { rows.push([]); }
        rows.push(["from", "to", "value" + (unit ? " [" + unit + "]" : "")]);
        const s = list(t.link.source), d = list(t.link.target), v = list(t.link.value);
        s.forEach((k, i) => rows.push([labels[k], labels[d[i]], v[i]]));
    });
    const xy = traces.filter((t) => t.x !== undefined && t.y !== undefined && t.z === undefined
        && t.type !== "sankey");
    const sameX = xy.length > 1 && xy.every((t) => list(t.x).length === list(xy[0].x).length
        && list(t.x).every((v, i) => v === list(xy[0].x)[i])
        && t.xaxis === xy[0].xaxis);
    if (xy.length && rows.length) { rows.push([]); }
    if (sameX) {
        rows.push([title(axisOf(xy[0].xaxis, "x"), "x")].concat(
            xy.map((t) => t.name + ": " + title(axisOf(t.yaxis, "y"), "value"))));
        list(xy[0].x).forEach((x, i) => rows.push([x].concat(xy.map((t) => list(t.y)[i]))));
    } else if (xy.length) {
        rows.push(["series", "x", "x title", "value", "value title"]);
        xy.forEach((t) => {
            const xt = title(axisOf(t.xaxis, "x"), "x"), yt = title(axisOf(t.yaxis, "y"), "y");
            const ys = list(t.y);
            list(t.x).forEach((x, i) => rows.push([t.name, x, xt, ys[i], yt]));
        });
    }
    if (!rows.length) { return none; }  // nothing drawn yet
    const text = "\\ufeff" + rows.map((r) => r.map(cell).join(",")).join("\\r\\n") + "\\r\\n";
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([text], {type: "text/csv;charset=utf-8"}));
    link.download = "dctwin-" + id.graph + ".csv";
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
    return none;
}
"""
"""Browser-side CSV writer of one chart (wide when every line shares its x values, long
otherwise; heatmaps as row, position, value, rack id; Sankey links as from, to, value)."""


def register_csv(app: Dash) -> None:
    """Wire every chart's CSV button (one client-side, pattern-matching callback)."""
    app.clientside_callback(
        CSV_SCRIPT,
        Output({"type": CSV_BUTTON, "graph": MATCH}, "title"),
        Input({"type": CSV_BUTTON, "graph": MATCH}, "n_clicks"),
        State({"type": CSV_BUTTON, "graph": MATCH}, "id"),
        prevent_initial_call=True,
    )
