"""The ``dctwin`` command line.

Progress and errors go to stderr, results to stdout (``--json`` prints exactly one JSON
object), so the output can be piped.  A bad scenario prints one line per problem and exits 2;
it never shows a traceback.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from twin.cli.common import (
    DEMO_SCENARIO,
    app,
    clamped_line,
    err,
    fail,
    json_default,
    load_scenario_file,
    load_series,
)
from twin.cli.connect import MqttClientId, MqttTopics, MqttUrl, connectors_from_options
from twin.cli.serve_fleet import (
    AlarmMinDuration,
    IngestProcessOption,
    LiveOptions,
    MinCycleOption,
    fleet_connectors,
    is_fleet,
    serve_fleet,
)
from twin.cli.serving import bind_port, closed_on_failure, load_tokens, private_state_dir


@app.command()
def simulate(
    scenario: Annotated[
        Path, typer.Argument(help="Scenario YAML file (default: the demo hall).")
    ] = DEMO_SCENARIO,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Write the full result as NetCDF (.nc); the per-equipment series are "
            "written as they are simulated, not kept in memory."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as one JSON object.")
    ] = False,
    no_racks: Annotated[
        bool, typer.Option("--no-racks", help="Leave per-rack series out of --out.")
    ] = False,
) -> None:
    """Simulate a scenario as operated today and print its summary."""
    from physics.runtime.allocator import keep_freed_memory
    from physics.schedule import as_operated_schedule
    from physics.simulate import simulate as run_simulation
    from physics.simulate import summarize
    from physics.violations import find_violations
    from twin.cli.progress import ProgressBars
    from twin.scenario.compile import compile_facility

    started = time.perf_counter()
    keep_freed_memory()  # chunk temporaries reused, not faulted in again (physics.runtime)
    spec = load_scenario_file(scenario)
    series = load_series(spec, scenario)
    facility = compile_facility(spec)
    err(f"simulating {facility.name}: {facility.racks.count} racks × {series.sizes['time']} steps")
    try:
        schedule = as_operated_schedule(facility, series)
    except KeyError as exc:
        raise fail(f"{scenario}: {exc.args[0]}") from None
    # with --out the per-equipment series stream to a file beside it as they are simulated
    # (memory does not grow with the horizon); the rest is appended, then the file renamed
    partial = None if out is None else _partial(out)
    try:
        with ProgressBars() as bars:  # spinners with elapsed time, on a terminal only
            with bars.stage("simulating"):
                inputs = (facility, schedule, series)
                result = _run(run_simulation, inputs, not no_racks, out, partial)
            with bars.stage("checking limits"):
                summary = summarize(result)
                summary["violations"] = [v.message for v in find_violations(facility, result)]
            if out is not None and partial is not None:
                with bars.stage("writing"):
                    _finish_netcdf(result, partial, out)
    finally:
        if partial is not None and partial.exists():  # left by a failure
            partial.unlink()
    summary["elapsed_s"] = round(time.perf_counter() - started, 3)
    summary["currency"] = spec.grid.currency
    if as_json:
        typer.echo(json.dumps(summary, indent=2, allow_nan=False, default=json_default))
    else:
        typer.echo(_format_summary(summary))


def _run(
    simulate: Any, inputs: tuple[Any, ...], per_rack: bool, out: Path | None, partial: Path | None
) -> Any:
    """``simulate(*inputs)``, streaming to ``partial`` (:func:`_partial` of ``out``) if given;
    one error line naming ``out`` if that file cannot be written."""
    if out is None or partial is None:
        return simulate(*inputs, per_rack=per_rack)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return simulate(*inputs, per_rack=per_rack, store=partial)
    except OSError as exc:
        raise fail(f"cannot write {out}: {exc}") from None


def _partial(out: Path) -> Path:
    """The file a streamed ``--out`` is written to before it is complete (hidden, beside it)."""
    return out.with_name(f".{out.name}.partial")


def _finish_netcdf(result: Any, partial: Path, out: Path) -> None:
    """Append the in-memory rest of a streamed ``result`` to ``partial``, rename it ``out``."""
    from physics.runtime.stream import complete_store

    try:
        complete_store(result, partial)
        partial.replace(out)
    except (OSError, ValueError) as exc:
        raise fail(f"cannot write {out}: {exc}") from None
    err(f"wrote {out}")


def _format_summary(summary: dict[str, Any]) -> str:
    lines = [
        f"steps                 {summary['steps']} × {summary['step_seconds'] / 60:g} min, "
        f"{summary['racks']} racks",
        f"IT energy             {summary['it_energy_kwh']:,.0f} kWh",
        f"cooling energy        {summary['cooling_energy_kwh']:,.0f} kWh",
        f"facility energy       {summary['facility_energy_kwh']:,.0f} kWh",
        f"power-chain losses    {summary['power_chain_loss_kwh']:,.0f} kWh",
        f"PUE                   {summary['pue']:.3f}",
        f"peak grid import      {summary['peak_grid_kw']:,.0f} kW",
        f"hottest inlet         {summary['max_inlet_temperature_c']:.2f} °C "
        f"(limit {summary['inlet_limit_c']:g} °C, {summary['inlet_violations']} rack-steps above)",
        f"lowest busbar voltage {summary['min_busbar_voltage_v']:.3f} V",
    ]
    if "max_case_temperature_c" in summary:
        lines.append(
            f"hottest case          {summary['max_case_temperature_c']:.2f} °C "
            f"(smallest margin to its limit {summary['min_case_margin_k']:.2f} K)"
        )
    if "max_facility_loop_supply_c" in summary:
        lines.append(f"facility loop supply  up to {summary['max_facility_loop_supply_c']:.2f} °C")
    lines.append(clamped_line(summary))
    if "energy_cost" in summary:
        currency = summary.get("currency", "")
        lines.append(f"energy cost           {summary['energy_cost']:,.0f} {currency}".rstrip())
    if "carbon_kg" in summary:
        lines.append(f"emissions             {summary['carbon_kg'] / 1e3:,.1f} t CO2e")
    violations = summary.get("violations", [])
    lines.append(f"violations            {len(violations)}")
    lines += [f"  - {v}" for v in violations]
    return "\n".join(lines)


@app.command()
def schema(
    fleet: Annotated[bool, typer.Option("--fleet", help="The schema of fleet files.")] = False,
    markdown: Annotated[
        bool,
        typer.Option(
            "--markdown",
            help="Print the human-readable field reference (docs/scenario-reference.md) "
            "instead of JSON Schema.",
        ),
    ] = False,
) -> None:
    """Print the JSON Schema of scenario files (of fleet files with --fleet), or with
    --markdown the scenario field reference."""
    if fleet:
        from twin.fleet.schema import fleet_json_schema

        typer.echo(json.dumps(fleet_json_schema(), indent=2))
        return
    if markdown:
        from twin.scenario.reference import scenario_reference

        scenarios = [
            path
            for path in sorted(DEMO_SCENARIO.parent.glob("*.yaml"))
            if not path.name.startswith("fleet")
        ]
        typer.echo(scenario_reference(scenarios), nl=False)
        return
    from twin.scenario.loader import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))


@app.command()
def doctor() -> None:
    """Check the installation and solve a toy LP with HiGHS through Pyomo."""
    from twin.cli.doctor import run_checks

    report = run_checks()
    for check in report.checks:
        typer.echo(f"{'ok  ' if check.ok else 'FAIL'} {check.name:<24} {check.detail}")
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def serve(
    scenario: Annotated[
        Path | None,
        typer.Argument(help="Scenario YAML file (default: the demo hall with a virtual plant)."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8050,
    db: Annotated[
        str | None,
        typer.Option(
            help="Store URL: sqlite:///path.db (default: under --state-dir) or "
            "postgresql://user@host:port/db."
        ),
    ] = None,
    state_dir: Annotated[
        Path, typer.Option(help="Folder for the default SQLite store and the demo tokens.")
    ] = Path(".dctwin"),
    virtual_plant: Annotated[
        bool | None,
        typer.Option(
            "--virtual-plant/--no-virtual-plant",
            help="Feed readings from the virtual plant (default: on without a scenario).",
        ),
    ] = None,
    replan_minutes: Annotated[float, typer.Option(help="Re-plan period [min]; 0: off.")] = 15.0,
    autonomy: Annotated[
        bool, typer.Option(help="Apply plans within guardrails without approval.")
    ] = False,
    retention_days: Annotated[
        float, typer.Option(help="Keep raw readings this many days (hourly rollups stay); 0: all.")
    ] = 90.0,
    cors: Annotated[
        list[str] | None, typer.Option(help="Allowed CORS origin (repeatable); default closed.")
    ] = None,
    alarm_min_duration: AlarmMinDuration = 30.0,
    ingest_process: IngestProcessOption = False,
    min_cycle_ms: MinCycleOption = 50.0,
    mqtt: MqttUrl = None,
    mqtt_topic: MqttTopics = None,
    mqtt_client_id: MqttClientId = None,
) -> None:
    """Serve the live twin: API under /api/v1 on one port, SQLite store by default.  Given a
    fleet file, one twin per site (--db must then contain {site})."""
    path = scenario or DEMO_SCENARIO
    live = LiveOptions(
        replan_minutes, autonomy, retention_days, alarm_min_duration, ingest_process, min_cycle_ms
    ).checked()
    if scenario is not None and is_fleet(scenario):  # one twin per site
        return serve_fleet(
            scenario, host, port, db, state_dir, virtual_plant, cors,
            fleet_connectors(mqtt, mqtt_topic, mqtt_client_id),  # checked before loading
            live,
        )  # fmt: skip
    connectors = connectors_from_options(mqtt, mqtt_topic, mqtt_client_id)  # before loading
    listening = bind_port(host, port)  # a port in use is reported before anything loads
    import logging

    import uvicorn

    from twin.api.app import create_app
    from twin.live.live_twin import LiveTwin
    from twin.scenario.loader import strict_yaml
    from twin.store.store import Store

    with closed_on_failure(listening):  # a refusal below releases the port
        # every problem (unreadable, bad YAML, schema) as one clear message
        load_scenario_file(path)
        data = strict_yaml(path.read_text(encoding="utf-8"))  # the mapping the twin re-anchors
        plant = scenario is None if virtual_plant is None else virtual_plant
        private_state_dir(state_dir)
        url = db or f"sqlite:///{(state_dir / 'dctwin.db').resolve()}"
        try:
            store = Store(url, merge_in_background=True)
        except Exception as exc:  # connection refused, bad URL: say so, no traceback
            raise fail(f"cannot open the store {url.split('@')[-1]}: {exc}") from None
        tokens = load_tokens(state_dir)
        settings = live.settings()
        err(f"loading {path.name} and starting the twin ...")
        twin = LiveTwin(data, path.parent, store, settings, virtual_plant=plant)
    # The web UI is a plugin (entry point group ``dctwin.web``, e.g. ``ui.app:mount``):
    # ``twin`` must not import ``ui`` (layers point down), so the UI is found by name here.
    from importlib.metadata import entry_points

    plugins = list(entry_points(group="dctwin.web"))
    api = create_app(twin, tokens, cors_origins=cors or None, root_redirect=not plugins)
    mounted = []
    for plugin in plugins:
        try:
            plugin.load()(api, twin, tokens)
        except Exception as exc:  # a broken plugin must not stop the API
            err(f"web UI plugin {plugin.name} ({plugin.value}) not loaded: {exc}")
            continue
        mounted.append(plugin.name)
    if mounted and host not in ("127.0.0.1", "localhost", "::1"):
        # The UI is behind a login (twin.api.login); its cookie is Secure: say how to reach it.
        err(
            f"note: the web UI on {host} needs a login (a read token or a DCTWIN_USERS "
            "user); from other machines it takes logins over HTTPS only: put a TLS proxy "
            "in front"
        )
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    err(
        f"dctwin serving {twin.facility.name} on http://{host}:{port}/api/v1 "
        f"(docs: http://{host}:{port}/docs; "
        f"UI: {'http://' + host + ':' + str(port) + '/' if mounted else 'none'}; "
        f"store: {url.split('@')[-1]}; "
        f"virtual plant: {'on' if plant else 'off'})"
    )
    connectors.start(api, twin)
    try:
        server = uvicorn.Server(uvicorn.Config(api, host=host, port=port, log_level="info"))
        server.run(sockets=[listening])
    finally:
        connectors.stop()
        listening.close()
