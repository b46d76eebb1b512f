"""The sites of a fleet file as live twins see them: each site's scenario as a plain mapping
(what :class:`twin.live.live_twin.LiveTwin` re-anchors on the current day), where the site is
on a map, and the store each site keeps.

A live site runs its scenario as the fleet plans it, at the fleet's step (a fleet re-plan
needs every site's live window on it): the workloads the fleet takes over
(``exclude_workloads``) are removed, and the fleet's work is added as the same flexible
workloads the co-plan gives the site (:mod:`twin.fleet.build`): ``fleet:<job>`` on its job
racks for every fleet job allowed there, ``fleet:serve`` on its inference racks.  Their
profiles (``fleet_job_<i>``, ``fleet_serve``) are 0 until a fleet plan is approved: approving
one writes the site's share into them (:mod:`twin.fleet.adopt`), so the site's own re-plans
keep the fleet's work.  The fleet file adds the site's extra series (e.g. its grid zone) after
the scenario's, with paths read from the fleet file's folder; the scenario's own series paths
are made absolute, so the mapping can be planned from any folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optimizer.fleet.problem import SERVE_WORKLOAD, job_workload
from twin.fleet.schema import Fleet, load_fleet
from twin.fleet.schema import FleetSite as SiteSpec
from twin.scenario.loader import ScenarioError, read_text_file, strict_yaml
from twin.scenario.schema import Scenario

SITE_PLACEHOLDER = "{site}"
"""What ``--db`` of ``dctwin serve fleet.yaml`` must contain: replaced by each site's name."""

FLEET_STORE = "fleet"
"""Name put in the ``--db`` template for the fleet's own store (fleet plans and their audit)."""

METROS: dict[str, tuple[float, float]] = {
    "amsterdam": (52.37, 4.90),
    "ashburn": (39.04, -77.49),
    "atlanta": (33.75, -84.39),
    "berlin": (52.52, 13.40),
    "chicago": (41.88, -87.63),
    "copenhagen": (55.68, 12.57),
    "dallas": (32.78, -96.80),
    "denver": (39.74, -104.99),
    "dublin": (53.35, -6.26),
    "frankfurt": (50.11, 8.68),
    "helsinki": (60.17, 24.94),
    "hong-kong": (22.32, 114.17),
    "houston": (29.76, -95.37),
    "london": (51.51, -0.13),
    "los-angeles": (34.05, -118.24),
    "lyon": (45.76, 4.84),
    "madrid": (40.42, -3.70),
    "manchester": (53.48, -2.24),
    "marseille": (43.30, 5.37),
    "miami": (25.76, -80.19),
    "milan": (45.46, 9.19),
    "montreal": (45.50, -73.57),
    "mumbai": (19.08, 72.88),
    "munich": (48.14, 11.58),
    "new-york": (40.71, -74.01),
    "oslo": (59.91, 10.75),
    "paris": (48.86, 2.35),
    "phoenix": (33.45, -112.07),
    "portland": (45.52, -122.68),
    "san-francisco": (37.77, -122.42),
    "san-jose": (37.34, -121.89),
    "sao-paulo": (-23.55, -46.63),
    "seattle": (47.61, -122.33),
    "seoul": (37.57, 126.98),
    "singapore": (1.35, 103.82),
    "stockholm": (59.33, 18.07),
    "sydney": (-33.87, 151.21),
    "tokyo": (35.68, 139.69),
    "toronto": (43.65, -79.38),
    "vienna": (48.21, 16.37),
    "virginia": (39.04, -77.49),
    "warsaw": (52.23, 21.01),
    "zurich": (47.38, 8.54),
}
"""Latitude and longitude [degrees north, degrees east] of metros named in fleet files (city
centres, rounded): a site is drawn at its metro, else at its scenario's coordinates."""


@dataclass(frozen=True)
class SiteSource:
    """One site of a fleet file, ready for a live twin.

    Attributes
    ----------
    name
        The site's name in the fleet file.
    data
        Its scenario as a plain mapping, with the fleet's extra series appended.
    folder
        Folder the scenario's relative file references are read from.
    spec
        The site as written in the fleet file.
    latitude, longitude
        Where the site is drawn [degrees north, degrees east]: its metro, else its scenario.
    """

    name: str
    data: dict[str, Any]
    folder: Path
    spec: SiteSpec
    latitude: float | None
    longitude: float | None


def store_url(template: str, site: str) -> str:
    """The store URL of ``site`` from a ``--db`` template containing ``{site}``.

    Raises
    ------
    ValueError
        When the template does not contain ``{site}`` (every site needs its own store).
    """
    if SITE_PLACEHOLDER not in template:
        raise ValueError(
            f"--db {template.split('@')[-1]} has no {SITE_PLACEHOLDER}: a fleet keeps one store "
            f"per site, e.g. --db 'sqlite:///.dctwin/{SITE_PLACEHOLDER}.db'"
        )
    return template.replace(SITE_PLACEHOLDER, site)


def _series_entry(source: Any, fleet_folder: Path) -> dict[str, Any]:
    """A fleet site's extra series source as a scenario mapping entry (paths made absolute)."""
    entry: dict[str, Any] = source.model_dump(mode="json", exclude_unset=True)
    if "data_dir" in entry or source.zone is not None:
        entry["data_dir"] = str((fleet_folder / source.data_dir).resolve())
    if source.file is not None:
        entry["file"] = str((fleet_folder / source.file).resolve())
    return entry


def _absolute_paths(entry: dict[str, Any], folder: Path) -> dict[str, Any]:
    """A scenario's series entry with its file and data folder made absolute."""
    entry = dict(entry)
    if "file" in entry:
        entry["file"] = str((folder / str(entry["file"])).resolve())
    if "zone" in entry or "data_dir" in entry:
        entry["data_dir"] = str(
            (folder / str(entry.get("data_dir", "../../shared/data"))).resolve()
        )
    return entry


def profile_series(index: int) -> str:
    """Name of the profile series of fleet job number ``index`` (file order) at a site."""
    return f"fleet_job_{index}"


SERVE_PROFILE = "fleet_serve"
"""Name of the profile series of a site's routed tier 1 (``fleet:serve``)."""


def fleet_workloads(fleet: Fleet, spec: SiteSpec) -> tuple[list[dict[str, Any]], list[str]]:
    """The fleet's workloads at a live site (see module docs) and their profile names."""
    workloads: list[dict[str, Any]] = []
    for index, job in enumerate(fleet.jobs):
        if spec.name in job.sites and spec.job_racks:
            workloads.append(
                {
                    "id": job_workload(job.name),
                    "tier": 2,
                    "racks": list(spec.job_racks),
                    "profile": profile_series(index),
                    "max_delay": "1 s",
                }
            )
    if spec.inference_racks:
        workloads.append(
            {
                "id": SERVE_WORKLOAD,
                "tier": 2,
                "racks": list(spec.inference_racks),
                "profile": SERVE_PROFILE,
                "max_delay": "1 s",
            }
        )
    return workloads, [str(w["profile"]) for w in workloads]


def _scenario_mapping(spec: SiteSpec, fleet_folder: Path) -> tuple[dict[str, Any], Path]:
    if isinstance(spec.scenario, str):
        path = fleet_folder / spec.scenario
        try:
            text = read_text_file(path)
        except OSError as exc:
            raise ScenarioError(str(path), [f"cannot read it: {exc.strerror or exc}"]) from None
        except ValueError as exc:  # not a regular file, too large, not UTF-8
            raise ScenarioError(str(path), [str(exc)]) from None
        data = strict_yaml(text)
        if not isinstance(data, dict):
            raise ScenarioError(str(path), ["the file is not a mapping"])
        return data, path.parent
    return dict(spec.scenario), fleet_folder


def _location(spec: SiteSpec, data: dict[str, Any]) -> tuple[float | None, float | None]:
    if spec.metro and spec.metro.lower() in METROS:
        return METROS[spec.metro.lower()]
    site = data.get("site") or {}
    latitude, longitude = site.get("latitude"), site.get("longitude")
    if isinstance(latitude, int | float) and isinstance(longitude, int | float):
        return float(latitude), float(longitude)
    return None, None


def site_source(spec: SiteSpec, fleet_folder: Path, fleet: Fleet | None = None) -> SiteSource:
    """One fleet site made ready for a live twin (see module docs; without ``fleet``, the
    scenario keeps its own workloads and gets no fleet workloads).

    Raises
    ------
    twin.scenario.loader.ScenarioError
        When the site's scenario file cannot be read or is not a mapping.
    """
    data, folder = _scenario_mapping(spec, fleet_folder)
    data = dict(data)
    data["series"] = [_absolute_paths(entry, folder) for entry in data.get("series") or []]
    if spec.series:
        data["series"] += [_series_entry(source, fleet_folder) for source in spec.series]
    if fleet is not None:
        # the site runs at the fleet's step: a fleet re-plan needs every live window on it
        simulation = dict(data.get("simulation") or {})
        simulation["step"] = f"{fleet.simulation.step.total_seconds():g} s"
        data["simulation"] = simulation
        added, profiles = fleet_workloads(fleet, spec)
        kept = [
            w
            for w in data.get("workloads") or []
            if not (isinstance(w, dict) and w.get("id") in spec.exclude_workloads)
        ]
        data["workloads"] = kept + added
        data["series"] += [{"constant": 0.0, "variable": name} for name in profiles]
    site = dict(data.get("site") or {})
    facility = site.get("name") or spec.name
    site["name"] = facility if facility == spec.name else f"{facility} ({spec.name})"
    data["site"] = site
    latitude, longitude = _location(spec, data)
    return SiteSource(spec.name, data, folder, spec, latitude, longitude)


def fleet_sites(path: str | Path) -> tuple[Fleet, list[SiteSource]]:
    """The fleet file at ``path`` and its sites, in file order.

    Raises
    ------
    twin.fleet.schema.FleetError
        When the fleet file is invalid.
    twin.scenario.loader.ScenarioError
        When a site's scenario file cannot be read.
    """
    path = Path(path)
    fleet = load_fleet(path)
    return fleet, [site_source(spec, path.parent, fleet) for spec in fleet.sites]


def fleet_site_check(running: Scenario) -> Callable[[Scenario], list[str]]:
    """What a fleet site's replacement scenario (``PUT /sites/{site}/scenario``) must keep of
    ``running``, the scenario it runs as the fleet made it: the fleet's step (a fleet re-plan
    needs every live window on it) and the fleet's workloads (a share names them; without
    them no fleet plan could be approved).  Returns the check: one line per problem."""
    step = running.simulation.step
    fleet_work = {w.id for w in running.workloads if w.id.startswith("fleet:")}

    def check(scenario: Scenario) -> list[str]:
        problems = []
        if scenario.simulation.step != step:
            problems.append(
                f"simulation.step: {scenario.simulation.step}; a fleet site runs at the "
                f"fleet's step, {step}"
            )
        missing = sorted(fleet_work - {w.id for w in scenario.workloads})
        if missing:
            problems.append(
                f"workloads: {', '.join(missing)} missing; the fleet plans them at this site "
                "(keep them, or change the fleet file)"
            )
        return problems

    return check


__all__ = [
    "FLEET_STORE",
    "METROS",
    "SERVE_PROFILE",
    "SITE_PLACEHOLDER",
    "SiteSource",
    "fleet_site_check",
    "fleet_sites",
    "fleet_workloads",
    "profile_series",
    "site_source",
    "store_url",
]
