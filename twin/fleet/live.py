"""A fleet in the live twin: one :class:`twin.live.live_twin.LiveTwin` per site, each with its
own store, and the fleet's re-plans (:mod:`twin.fleet.replan`) in the fleet's own store.

:func:`open_fleet` makes it from a fleet file and a store URL template containing ``{site}``
(``dctwin serve fleet.yaml``); :meth:`FleetTwin.summary` is the fleet at a glance: every
site's power, carbon intensity and alarms now, where it is, and the fleet plan in force.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from optimizer.planner import PlanOptions
from twin.fleet.adopt import keep_fleet_work
from twin.fleet.alarms import flat_alarms
from twin.fleet.replan import FleetPlanner
from twin.fleet.sites import FLEET_STORE, SiteSource, fleet_site_check, fleet_sites, store_url
from twin.live.live_twin import LiveSettings, LiveTwin
from twin.store.records import PlanRecord
from twin.store.store import Store


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class SiteTwin:
    """One site of a live fleet.

    Attributes
    ----------
    source
        The site as the fleet file gives it (scenario, metro, where on the map).
    twin
        Its live twin (own store, own virtual plant for the demo).
    """

    source: SiteSource
    twin: LiveTwin

    @property
    def name(self) -> str:
        """The site's name in the fleet file."""
        return self.source.name

    def summary(self) -> dict[str, Any]:
        """The site now: ``power_kw`` (facility power [kW]), ``grid_import_kw`` [kW],
        ``it_power_kw`` [kW], ``pue`` [-], ``carbon_g_per_kwh`` [g CO2e/kWh],
        ``price_per_mwh`` [currency/MWh], ``alarms`` and ``alarms_critical`` [count],
        ``stale``, ``latitude`` / ``longitude`` [degrees], ``metro``, ``grid_zone``."""
        state = self.twin.state()
        kpis = state["kpis"]
        spec = self.source.spec
        return {
            "site": self.name,
            "facility": self.twin.facility.name,
            "metro": spec.metro,
            "grid_zone": spec.grid_zone,
            "continent": spec.continent,
            "latitude": self.source.latitude,
            "longitude": self.source.longitude,
            "racks": self.twin.facility.racks.count,
            "power_kw": kpis.get("facility_power_kw"),
            "it_power_kw": kpis.get("it_power_kw"),
            "grid_import_kw": kpis.get("grid_import_kw"),
            "pue": kpis.get("pue"),
            "carbon_g_per_kwh": kpis.get("carbon_g_per_kwh"),
            "price_per_mwh": kpis.get("price_per_mwh"),
            "battery_soc": kpis.get("battery_soc"),
            "alarms": int(state["alarms"]),
            "alarms_critical": int(state["alarms_critical"]),
            "stale": bool(state.get("stale")),
            "time": state["time"],
        }


class FleetTwin:
    """The live twins of a fleet's sites and the fleet's re-plans.

    Parameters
    ----------
    name
        The fleet's name.
    sites
        Its sites, in file order.
    planner
        Fleet re-plans (the fleet's store).
    """

    def __init__(self, name: str, sites: list[SiteTwin], planner: FleetPlanner) -> None:
        self.name = name
        self.sites = {site.name: site for site in sites}
        self.planner = planner

    @property
    def twins(self) -> dict[str, LiveTwin]:
        """Every site's live twin by site name."""
        return {name: site.twin for name, site in self.sites.items()}

    @property
    def store(self) -> Store:
        """The fleet's own store (fleet plans and their audit)."""
        return self.planner.store

    def start(self) -> None:
        """Start every site's worker threads."""
        for site in self.sites.values():
            site.twin.start()

    def stop(self) -> None:
        """Stop every site's threads and wait for a fleet re-plan under way (up to 5 s)."""
        for site in self.sites.values():
            site.twin.stop()
        self.planner.wait(timeout=5.0)

    def close(self) -> None:
        """Close every store."""
        for site in self.sites.values():
            site.twin.store.close()
        self.store.close()

    def summary(self) -> dict[str, Any]:
        """The fleet now: every site's :meth:`SiteTwin.summary`, totals (``power_kw`` [kW],
        ``alarms`` [count]) and the fleet plan in force (``plan``: id, status, flows, per-site
        figures), the newest proposal and its sites' critical alarms (:meth:`proposal`) and
        any re-plan running, JSON-ready."""
        sites = [site.summary() for site in self.sites.values()]
        plan = self.planner.in_force()
        running = self.planner.running()
        return {
            "fleet": self.name,
            "time": _now().isoformat(),
            "sites": sites,
            "power_kw": sum(s["power_kw"] or 0.0 for s in sites),
            "alarms": sum(s["alarms"] for s in sites),
            "plan": None if plan is None else plan_digest(plan),
            "proposal": self.proposal(),
            "replanning": None if running is None else running.to_dict(),
        }

    def proposal(self) -> dict[str, Any] | None:
        """The newest proposed fleet plan (the one the Fleet page approves), if any: ``id``,
        ``created`` (UTC), ``critical_alarms`` (every site's active critical alarms on what
        its share moves, each with its ``site``) and ``misfits`` (per site whose share does
        not fit it any more, why: approval is refused while one does not), what an approver
        must see first (:meth:`twin.fleet.replan.FleetPlanner.proposal_check`)."""
        proposed = self.store.list_plans(limit=1, status="proposed")
        if not proposed:
            return None
        plan_id = proposed[0]["id"]
        alarms, misfits = self.planner.proposal_check(plan_id)
        return {
            "id": plan_id,
            "created": proposed[0]["created"],
            "critical_alarms": flat_alarms(alarms),
            "misfits": misfits,
        }


def plan_digest(plan: PlanRecord) -> dict[str, Any]:
    """A stored fleet plan in short: id, status, when, the co-plan's status and figures, its
    savings against each baseline (fractions: positive is lower), the ``sites_alone``
    baseline's cost [currency] and carbon [kg], work moved between sites (``flows``, kWh),
    transfers per link (GB) and per-site figures."""
    payload = plan.get("payload") or {}
    summary = payload.get("summary") or {}
    keys = ("status", "verified", "cost", "carbon_kg", "it_energy_kwh", "currency")
    return {
        "id": plan["id"],
        "status": plan["status"],
        "created": plan["created"],
        "decided_by": plan["decided_by"],
        "plan": {k: summary.get(k) for k in keys},
        "savings_vs_sites_alone": summary.get("savings_vs_sites_alone"),
        "sites_alone": {
            k: v
            for k, v in ((summary.get("baselines") or {}).get("sites_alone") or {}).items()
            if k in ("cost", "carbon_kg", "verified")
        }
        or None,
        "savings_vs_as_operated": summary.get("savings_vs_as_operated"),
        "flows": payload.get("flows") or [],
        "transfers": summary.get("transfers") or [],
        "routing": summary.get("routing") or {},
        "sites": summary.get("sites") or {},
    }


def open_fleet(
    path: str | Path,
    db_template: str,
    settings: LiveSettings | None = None,
    *,
    virtual_plant: bool = True,
    clock: Callable[[], datetime] = _now,
    plan_options: PlanOptions | None = None,
    merge_in_background: bool = False,
) -> FleetTwin:
    """One live twin per site of the fleet file at ``path``.

    Parameters
    ----------
    path
        The fleet file.
    db_template
        Store URL with ``{site}``: each site's store, and the fleet's own (``{site}`` =
        :data:`twin.fleet.sites.FLEET_STORE`).
    settings
        Every site's live settings (its live window lengthened to the fleet's duration + 2 d
        when shorter).
    virtual_plant
        Feed each site from its own virtual plant (seeded by its position in the file).
    clock
        Current time.
    plan_options
        Options of the fleet co-plans (default: 60 s time limit).
    merge_in_background
        Stores merge their staging buffer in the background (``dctwin serve``).

    Raises
    ------
    ValueError
        When ``db_template`` lacks ``{site}`` or a site is named like the fleet's store.
    twin.fleet.schema.FleetError, twin.scenario.loader.ScenarioError
        When the fleet file or a site's scenario is invalid.
    """
    path = Path(path)
    fleet_url = store_url(db_template, FLEET_STORE)
    fleet, sources = fleet_sites(path)
    if any(source.name == FLEET_STORE for source in sources):
        raise ValueError(f"a site is named {FLEET_STORE!r}: that store name is the fleet's own")
    # a live window starts 00:00 UTC yesterday: it must reach now + the fleet's duration
    settings = settings or LiveSettings()
    days = (fleet.simulation.duration + timedelta(days=2)) / timedelta(days=1)
    settings = replace(settings, window_days=max(settings.window_days, days))
    sites: list[SiteTwin] = []
    try:
        for index, source in enumerate(sources):
            store = Store(
                store_url(db_template, source.name), merge_in_background=merge_in_background
            )
            twin = LiveTwin(
                source.data,
                source.folder,
                store,
                settings,
                virtual_plant=virtual_plant,
                clock=clock,
                seed=index,
            )
            twin.reanchor_observers.append(functools.partial(keep_fleet_work, twin))
            twin.scenario_checks.append(fleet_site_check(twin.scenario))
            sites.append(SiteTwin(source, twin))
        fleet_store = Store(fleet_url, merge_in_background=merge_in_background)
    except BaseException:
        for site in sites:
            site.twin.store.close()
        raise
    planner = FleetPlanner(
        path,
        fleet_store,
        {site.name: site.twin.store for site in sites},
        plan_options or PlanOptions(time_limit=60.0),
        clock,
        {site.name: site.twin for site in sites},
    )
    return FleetTwin(fleet.fleet, sites, planner)


__all__ = ["FleetTwin", "SiteTwin", "open_fleet", "plan_digest"]
