"""The What-if page: the form, progress, the side-by-side comparison, YAML download."""

from __future__ import annotations

from typing import Any

import dash
from dash import Dash, Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from twin.data.loaders import available_zones
from twin.data.validation import SeriesError
from ui import callbacks as cb
from ui import figures
from ui.pages.components import graph_with, session
from ui.views_whatif import WHATIF_FIELDS, current_values


def grid_zones() -> list[str]:
    """The grid zones the form offers: every zone of the server's public data
    (:func:`twin.data.loaders.available_zones`, where a what-if's ``grid_zone`` is read from);
    none when the server has no grid data."""
    try:
        return available_zones()
    except (SeriesError, OSError):
        return []


FIELD_IDS = [f"wi-{name}" for name in WHATIF_FIELDS]
"""Component ids of the form's fields, in the order of :data:`WHATIF_FIELDS`."""


def _field(label: str, component: Any) -> list[Any]:
    return [html.Label(label), component]


def _form(context: cb.UIContext) -> html.Div:
    """The form: one field per key of :data:`WHATIF_FIELDS`, and the horizon."""
    twin = context.twin
    rack_types = sorted(twin.scenario_data.get("rack_types") or {})
    units = list(twin.facility.units.ids)
    feeds = list(twin.facility.feeds.ids)
    now = current_values(twin)  # fields start at the facility as it is: no change

    def number(name: str, placeholder: str, minimum: float | None = None) -> dcc.Input:
        return dcc.Input(
            id=f"wi-{name}",
            type="number",
            placeholder=placeholder,
            value=now.get(name),
            min=minimum,
        )

    def choose(name: str, options: list[str], none: str = "none") -> dcc.Dropdown:
        placeholder = "(none)" if options else f"({none})"
        return dcc.Dropdown(id=f"wi-{name}", options=options, placeholder=placeholder)

    zones = grid_zones()

    return html.Div(
        _field("Add racks of type", choose("add_racks_type", rack_types))
        + _field("Number of racks to add [-]", number("add_racks_count", "0", 0))
        + _field("Supply air setpoint min [°C]", number("supply_min_c", "units differ"))
        + _field("Supply air setpoint max [°C]", number("supply_max_c", "units differ"))
        + _field("Chilled water supply setpoint [°C]", number("chilled_water_c", ""))
        + _field("Battery energy [kWh]", number("battery_energy_kwh", "no battery", 0))
        + _field("Battery power [kW]", number("battery_power_kw", "no battery", 0))
        + _field("Fail a cooling unit", choose("fail_cooling_unit", units))
        + _field("Fail a feed", choose("fail_feed", feeds))
        + _field("Demand response: starts in [h]", number("dr_start_hours", "e.g. 3"))
        + _field("Demand response: lasts [h]", number("dr_duration_hours", "e.g. 2"))
        + _field("Demand response: import cap [kW]", number("dr_import_cap_kw", "e.g. 2000"))
        + _field("Switch grid zone", choose("grid_zone", zones, none="no grid data here"))
        + _field("Horizon [h]", dcc.Input(id="wi-horizon", type="number", value=24)),
        className="form card",
    )


def layout(context: cb.UIContext) -> html.Div:
    """The What-if page: the form, progress, the side-by-side comparison, YAML download."""
    return html.Div(
        [
            html.H2("What-if"),
            _form(context),
            html.Button("Run what-if", id="wi-run", n_clicks=0),
            html.Button("Download modified scenario (YAML)", id="wi-download-button", n_clicks=0),
            html.Div(
                [html.Progress(id="wi-progress", value="0", max="1"), html.Span(id="wi-message")],
                className="card",
            ),
            html.Div(id="wi-table", className="card"),
            html.Div(
                graph_with("wi-compare", figures.empty("Run a what-if: its figures appear here")),
                className="card",
            ),
            dcc.Store(id="wi-job"),
            dcc.Store(id="wi-yaml"),
            dcc.Download(id="wi-download"),
            dcc.Interval(id="wi-poll", interval=700, disabled=True),
        ],
        className="page",
    )


def register(app: Dash, context: cb.UIContext) -> None:
    """Wire the What-if page to ``app``: run in the background, poll, download the YAML."""

    @app.callback(
        Output("wi-job", "data"),
        Output("wi-poll", "disabled", allow_duplicate=True),
        Output("wi-message", "children", allow_duplicate=True),
        Input("wi-run", "n_clicks"),
        *[State(f, "value") for f in FIELD_IDS],
        State("wi-horizon", "value"),
        prevent_initial_call=True,
    )
    def whatif_run(_: int, *values: Any) -> tuple[Any, ...]:
        edits = dict(zip(WHATIF_FIELDS, values[:-1], strict=True))
        job_id, message = cb.whatif_start(context, edits, values[-1], owner=session()[0])
        return job_id, job_id is None, message

    @app.callback(
        Output("wi-progress", "value"),
        Output("wi-message", "children"),
        Output("wi-table", "children"),
        Output("wi-compare", "figure"),
        Output("wi-yaml", "data"),
        Output("wi-poll", "disabled"),
        Input("wi-poll", "n_intervals"),
        State("wi-job", "data"),
        prevent_initial_call=True,
    )
    def whatif_poll(_: int | None, job: str | None) -> tuple[Any, ...]:
        state = cb.job_progress(context, job)
        keep = dash.no_update
        fraction = f"{state['fraction']:.2f}"
        if state["state"] in ("queued", "running"):
            elapsed = state.get("elapsed_s", 0.0)
            return fraction, f"{state['message']} ({elapsed:.0f} s)", keep, keep, keep, False
        if state["state"] == "failed" or state["result"] is None:
            return "0", f"What-if failed: {state['error']}", keep, keep, keep, True
        table, figure = cb.whatif_result(context, state["result"])
        message = f"Done in {state.get('elapsed_s', 0.0):.1f} s."
        return "1", message, table, figure, state["result"]["scenario_yaml"], True

    @app.callback(
        Output("wi-download", "data"),
        Input("wi-download-button", "n_clicks"),
        State("wi-yaml", "data"),
        *[State(f, "value") for f in FIELD_IDS],
        prevent_initial_call=True,
    )
    def whatif_download(_: int, text: str | None, *values: Any) -> dict[str, Any]:
        if not text:  # no run yet: the scenario as edited now
            from ui.views_whatif import modified_scenario, portable_scenario

            try:
                data = modified_scenario(
                    context.twin, cb.whatif_edits(dict(zip(WHATIF_FIELDS, values, strict=True)))
                )
            except (ValueError, TypeError, OverflowError):  # an edit that cannot apply
                raise PreventUpdate from None
            text = portable_scenario(context.twin, data)
        return {"content": text, "filename": "whatif-scenario.yaml", "type": "text/yaml"}
