"""``dctwin serve fleet.yaml``: one live twin per site of a fleet file, on one port.

Every site keeps its own store (``--db`` must contain ``{site}``; the fleet's own plans go to
the store named ``fleet``) and, for the demo, its own virtual plant.  The API serves each
site's routes under ``/api/v1/sites/{site}/`` and the fleet's under ``/api/v1/fleet``
(:mod:`twin.api.fleet.app`); the web UI plugin adds its Fleet page.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

from twin.cli.common import err, fail
from twin.cli.serving import bind_port, load_tokens, private_state_dir


class LiveOptions(NamedTuple):
    """Every site's live settings from the ``serve`` options."""

    replan_minutes: float
    """Each site's re-plan period [min]; 0: off."""
    autonomy: bool
    """Apply each site's plans within guardrails without approval."""
    retention_days: float
    """Keep raw readings this many days [d]; 0: all."""


def is_fleet(path: Path) -> bool:
    """Whether ``dctwin serve`` was given a fleet file (a ``fleet:`` key)."""
    from twin.fleet.schema import is_fleet_file

    return is_fleet_file(path)


def fleet_store_template(db: str | None, state_dir: Path) -> str:
    """The store URL template of a served fleet: ``--db`` (which must contain ``{site}``),
    else one SQLite file per site under ``state_dir``."""
    from twin.fleet.sites import SITE_PLACEHOLDER

    if db is None:
        return f"sqlite:///{state_dir.resolve()}/{SITE_PLACEHOLDER}.db"
    if SITE_PLACEHOLDER not in db:
        raise fail(
            f"--db {db.split('@')[-1]}: a fleet keeps one store per site, so the URL must "
            f"contain {SITE_PLACEHOLDER} (replaced by each site's name), e.g. "
            f"--db 'sqlite:///.dctwin/{SITE_PLACEHOLDER}.db' or "
            f"--db 'postgresql://user@host/dctwin_{SITE_PLACEHOLDER}'"
        )
    return db


def serve_fleet(
    path: Path,
    host: str,
    port: int,
    db: str | None,
    state_dir: Path,
    virtual_plant: bool | None,
    cors: list[str] | None,
    mqtt: str | None,
    live: LiveOptions,
) -> None:
    """Serve the fleet in ``path`` until interrupted (see module docs; the arguments are the
    ``serve`` options; virtual plants are on unless ``--no-virtual-plant``)."""
    if mqtt:
        raise fail("--mqtt: connectors are per site; not available with a fleet file yet")
    plants = True if virtual_plant is None else virtual_plant
    template = fleet_store_template(db, state_dir)  # refused before anything loads
    listening = bind_port(host, port)
    import uvicorn

    from twin.api.fleet.app import create_fleet_app
    from twin.fleet.live import open_fleet
    from twin.fleet.schema import FleetError
    from twin.live.live_twin import LiveSettings
    from twin.scenario.loader import ScenarioError

    private_state_dir(state_dir)
    tokens = load_tokens(state_dir)
    settings = LiveSettings(
        replan_minutes=live.replan_minutes,
        autonomy=live.autonomy,
        retention_days=live.retention_days,
    )
    err(f"loading fleet {path.name} and starting one twin per site ...")
    try:
        fleet = open_fleet(path, template, settings, virtual_plant=plants, merge_in_background=True)
    except (FleetError, ScenarioError) as exc:
        listening.close()
        raise fail(str(exc)) from None
    except Exception as exc:  # a store that cannot be opened: say so, no traceback
        listening.close()
        raise fail(f"cannot open the fleet's stores ({template.split('@')[-1]}): {exc}") from None
    from importlib.metadata import entry_points

    plugins = list(entry_points(group="dctwin.web"))
    api = create_fleet_app(fleet, tokens, cors_origins=cors or None, root_redirect=not plugins)
    mounted = []
    for plugin in plugins:
        try:
            plugin.load()(api, next(iter(fleet.twins.values())), tokens)
        except Exception as exc:  # a broken plugin must not stop the API
            err(f"web UI plugin {plugin.name} ({plugin.value}) not loaded: {exc}")
            continue
        mounted.append(plugin.name)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    base = f"http://{host}:{port}"
    err(
        f"dctwin serving fleet {fleet.name!r} ({len(fleet.sites)} sites: "
        f"{', '.join(fleet.sites)}) on {base}/api/v1/fleet and {base}/api/v1/sites/<site>/ "
        f"(docs: {base}/docs; UI: {base + '/fleet' if mounted else 'none'}; "
        f"stores: {template.split('@')[-1]}; virtual plants: {'on' if plants else 'off'})"
    )
    try:
        server = uvicorn.Server(uvicorn.Config(api, host=host, port=port, log_level="info"))
        server.run(sockets=[listening])
    finally:
        listening.close()
        fleet.close()
