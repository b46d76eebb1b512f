"""From a fleet file to the optimizer's fleet problem.

Each site's scenario is moved onto the fleet's window (:func:`twin.scenario.window.windowed`),
loses the workloads the fleet takes over, gains the site's extra series (its grid zone) and
the fleet's workloads (:mod:`optimizer.fleet.problem`): one per fleet job allowed there, on
its job racks, and one ``serve`` workload on its inference racks.  Their profiles are the
as-operated fleet (:mod:`optimizer.fleet.baseline`): jobs at home from their release, tier 1
at the nearest site within budget.  Links between sites a job may move between come from the
file or from the published defaults of :mod:`twin.fleet.network`.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from optimizer.fleet import baseline
from optimizer.fleet.problem import (
    SERVE_WORKLOAD,
    FleetJob,
    FleetLink,
    FleetProblem,
    FleetRegion,
    FleetSite,
    job_workload,
)
from physics.constants import WATTS_PER_KILOWATT
from twin.data.series import scenario_series
from twin.data.validation import SeriesError
from twin.fleet.network import TRANSFER_ENERGY_KWH_PER_GB, link_defaults
from twin.fleet.schema import Fleet, FleetError, load_fleet
from twin.fleet.schema import FleetSite as SiteSpec
from twin.scenario.compile import compile_facility
from twin.scenario.fields import resolve_instant
from twin.scenario.loader import ScenarioError, load_scenario, scenario_from_dict
from twin.scenario.schema import Scenario, SeriesSource, Workload
from twin.scenario.window import windowed


@dataclass
class FleetInput:
    """A fleet file made ready to plan.

    Attributes
    ----------
    problem
        The optimizer's fleet problem.
    baseline_routing
        As-operated share of each (region, site) per fine step [-].
    spec
        The validated fleet file.
    """

    problem: FleetProblem
    baseline_routing: dict[tuple[str, str], np.ndarray]
    spec: Fleet
    scenarios: dict[str, Scenario] = field(default_factory=dict)


@dataclass
class _Site:
    spec: SiteSpec
    scenario: Scenario
    folder: Path
    series: xr.Dataset | None = None
    job_capacity: float = 0.0
    inference_capacity: float = 0.0


def _absolute(source: SeriesSource, folder: Path) -> SeriesSource:
    """A series source whose relative paths are read from ``folder``."""
    update: dict[str, Any] = {"data_dir": str((folder / source.data_dir).resolve())}
    if source.file is not None:
        update["file"] = str((folder / source.file).resolve())
    return source.model_copy(update=update)


def _load_site(
    index: int, spec: SiteSpec, fleet: Fleet, folder: Path, carbon_price: float | None = None
) -> _Site:
    where = f"sites[{index}] ({spec.name})"
    try:
        if isinstance(spec.scenario, str):
            path = folder / spec.scenario
            scenario, home = load_scenario(path), path.parent
        else:
            scenario, home = scenario_from_dict(spec.scenario, f"{where}.scenario"), folder
    except ScenarioError as exc:
        named = [f"scenario {exc.source}: {line}" for line in exc.problems]
        raise FleetError(where, named) from None
    window = fleet.simulation
    scenario = windowed(scenario, start=window.start, duration=window.duration, step=window.step)
    ids = [w.id for w in scenario.workloads]
    unknown = [name for name in spec.exclude_workloads if name not in ids]
    if unknown:
        raise FleetError(
            where,
            [f"exclude_workloads: {', '.join(unknown)} — no such workload ({', '.join(ids)})"],
        )
    kept = [w for w in scenario.workloads if w.id not in spec.exclude_workloads]
    extra = [_absolute(source, folder) for source in spec.series]
    series = [_absolute(source, home) for source in scenario.series] + extra
    update: dict[str, Any] = {"workloads": kept, "series": series}
    price = spec.carbon_price if carbon_price is None else carbon_price
    if price is not None:
        update["grid"] = scenario.grid.model_copy(update={"carbon_price": price})
    scenario = scenario.model_copy(update=update)
    return _Site(spec, scenario, home)


def _racks(site: _Site, patterns: list[str], name: str) -> tuple[list[int], list[str]]:
    facility = compile_facility(site.scenario)
    ids = facility.racks.ids
    chosen = sorted(
        {i for p in patterns for i, rack in enumerate(ids) if fnmatch.fnmatchcase(rack, p)}
    )
    problems = [
        f"sites ({site.spec.name}).{name}: {p!r} matches no rack"
        for p in patterns
        if not fnmatch.filter(ids, p)
    ]
    for work in site.scenario.workloads:
        used = {i for p in work.racks for i, rack in enumerate(ids) if fnmatch.fnmatchcase(rack, p)}
        shared = ", ".join(ids[i] for i in sorted(used & set(chosen)))
        if shared:
            problems.append(
                f"sites ({site.spec.name}).{name}: racks {shared} "
                f"also run workload {work.id!r}; expected racks free for the fleet (add it to "
                "exclude_workloads to hand it to the fleet)"
            )
    return chosen, problems


def _capacities(site: _Site) -> list[str]:
    facility = compile_facility(site.scenario)
    dynamic = facility.racks.dynamic_power / WATTS_PER_KILOWATT
    jobs, problems = _racks(site, site.spec.job_racks, "job_racks")
    serve, more = _racks(site, site.spec.inference_racks, "inference_racks")
    problems += more
    if set(jobs) & set(serve):
        problems.append(
            f"sites ({site.spec.name}): job_racks and inference_racks overlap; expected "
            "separate racks"
        )
    site.job_capacity = float(dynamic[jobs].sum())
    site.inference_capacity = float(dynamic[serve].sum())
    return problems


def _links(fleet: Fleet, notes: list[str]) -> tuple[list[FleetLink], list[str]]:
    """Links from the file, completed by the defaults, and one for every pair a job may move
    between."""
    sites = {s.name: s for s in fleet.sites}
    given = {frozenset(link.between): link for link in fleet.links}
    needed = {
        frozenset((a, b)) for job in fleet.jobs for a in job.sites for b in job.sites if a != b
    }
    links: list[FleetLink] = []
    problems: list[str] = []
    for pair in sorted(set(given) | needed, key=sorted):
        link = given.get(pair)
        first, second = link.between if link is not None else tuple(sorted(pair))
        ends = [(sites[n].metro, sites[n].continent) for n in (first, second)]
        default = link_defaults(ends[0], ends[1])
        figures = {
            "latency": link.latency if link else None,
            "bandwidth": link.bandwidth if link else None,
            "price": link.price if link else None,
        }
        missing = [k for k, v in figures.items() if v is None]
        if missing and default is None:
            jobs = [j.name for j in fleet.jobs if {first, second} <= set(j.sites)]
            problems.append(
                f"links: {first} – {second}: no {', '.join(missing)} and no published default "
                f"(same continent, different metros, or continents not given); jobs "
                f"{', '.join(jobs) or '(none)'} may move between them — give the link"
            )
            continue
        links.append(_complete_link(first, second, link, default, missing))
        if missing:
            notes.append(f"link {first} – {second}: {links[-1].source}")
    return links, problems


def _complete_link(
    first: str, second: str, link: Any, default: Any, missing: list[str]
) -> FleetLink:
    """A link's figures from the file, the missing ones from ``default``."""

    def pick(name: str, fallback: str) -> float:
        given = getattr(link, name) if link is not None else None
        return float(given if given is not None else getattr(default, fallback))

    given_price = link.price if link is not None else None
    price = (
        (given_price, given_price)
        if given_price is not None
        else (default.price_forward, default.price_backward)
    )
    energy = link.energy if link is not None and link.energy is not None else None
    source = "fleet file" if not missing else f"defaults ({', '.join(missing)}): {default.source}"
    return FleetLink(
        (first, second),
        pick("latency", "latency"),
        pick("bandwidth", "bandwidth"),
        (float(price[0]), float(price[1])),
        float(energy if energy is not None else TRANSFER_ENERGY_KWH_PER_GB),
        source,
    )


def _regions(fleet: Fleet, sites: dict[str, _Site]) -> tuple[list[FleetRegion], list[str]]:
    regions, problems = [], []
    first = fleet.sites[0].name
    for region in fleet.regions:
        series = sites[region.profile_site or first].series
        assert series is not None
        steps = series.sizes["time"]
        if region.profile is None:
            profile = np.ones(steps)
        elif region.profile not in series:
            problems.append(
                f"regions ({region.name}).profile: {region.profile!r} — no such series at site "
                f"{region.profile_site or first} (have: {', '.join(map(str, series.data_vars))})"
            )
            continue
        else:
            profile = np.clip(np.asarray(series[region.profile].values, dtype=float), 0.0, 1.0)
        eligible = sorted(
            (
                name
                for name, latency in region.latency.items()
                if latency <= region.latency_budget
                and set(region.residency) <= set(sites[name].spec.residency)
                and sites[name].inference_capacity > 0
            ),
            key=lambda name: region.latency[name],
        )
        regions.append(
            FleetRegion(
                region.name,
                region.demand * profile,
                dict(region.latency),
                region.latency_budget,
                eligible,
            )
        )
    return regions, problems


def _jobs(fleet: Fleet, sites: dict[str, _Site]) -> list[FleetJob]:
    start = fleet.simulation.start
    jobs = []
    for job in fleet.jobs:
        release = resolve_instant(job.release, start)
        deadline = resolve_instant(job.deadline, start)
        limit = job.max_power if job.max_power is not None else math.inf
        jobs.append(
            FleetJob(
                job.name,
                job.energy,
                _instant(release),
                _instant(deadline),
                list(job.sites),
                {name: min(limit, sites[name].job_capacity) for name in job.sites},
                job.data,
                job.checkpoint,
                job.splittable,
            )
        )
    return jobs


def _instant(moment: Any) -> np.datetime64:
    import pandas as pd

    return pd.Timestamp(moment).tz_convert("UTC").tz_localize(None).to_datetime64()


def _inject(
    site: _Site,
    jobs: list[FleetJob],
    placement: dict[str, np.ndarray],
    served: np.ndarray | None,
) -> tuple[Scenario, xr.Dataset]:
    """The site's scenario and series with the fleet's workloads at their baseline profile."""
    assert site.series is not None
    workloads = list(site.scenario.workloads)
    profiles: dict[str, np.ndarray] = {}
    for index, job in enumerate(jobs):
        if site.spec.name not in job.sites:
            continue
        power = (
            placement[job.name]
            if job.home == site.spec.name
            else np.zeros(site.series.sizes["time"])
        )
        name = f"fleet_job_{index}"
        profiles[name] = power / max(site.job_capacity, 1e-9)
        workloads.append(
            Workload.model_validate(
                {
                    "id": job_workload(job.name),
                    "tier": 2,
                    "racks": site.spec.job_racks,
                    "profile": name,
                    "max_delay": "1 s",
                }
            )
        )
    if served is not None and site.inference_capacity > 0:
        profiles["fleet_serve"] = served / site.inference_capacity
        workloads.append(
            Workload.model_validate(
                {
                    "id": SERVE_WORKLOAD,
                    "tier": 2,
                    "racks": site.spec.inference_racks,
                    "profile": "fleet_serve",
                    "max_delay": "1 s",
                }
            )
        )
    series = site.series.assign(
        {
            name: (
                "time",
                np.clip(values, 0.0, 1.0),
                {"units": "1", "long_name": f"{name} utilization"},
            )
            for name, values in profiles.items()
        }
    )
    return site.scenario.model_copy(update={"workloads": workloads}), series


def build_fleet(path: str | Path, *, carbon_price: float | None = None) -> FleetInput:
    """Read a fleet file and make the optimizer's fleet problem (see module docs).

    Parameters
    ----------
    path
        The fleet file.
    carbon_price
        Carbon price for every site [currency/t CO2e], overriding the scenarios' and the
        sites' ``carbon_price`` (None: keep them).

    Raises
    ------
    FleetError
        With one message per problem: the file, a site's scenario or series, racks, links,
        regions.
    """
    path = Path(path)
    return build_from_fleet(load_fleet(path), path.parent, str(path), carbon_price=carbon_price)


def build_from_fleet(
    fleet: Fleet,
    folder: Path,
    source: str,
    *,
    carbon_price: float | None = None,
    series: dict[str, xr.Dataset] | None = None,
) -> FleetInput:
    """The optimizer's fleet problem of a validated fleet (see :func:`build_fleet`).

    Parameters
    ----------
    fleet
        The fleet (e.g. :func:`twin.fleet.anchor.anchored_fleet`: the live window).
    folder
        Folder relative paths of the fleet are read from.
    source
        Name of the fleet in messages.
    carbon_price
        As for :func:`build_fleet` [currency/t CO2e].
    series
        Each site's exogenous series on the fleet's window (e.g. its live twin's), by site
        name; a site not given reads its scenario's sources.
    """
    problems: list[str] = []
    sites: dict[str, _Site] = {}
    for index, spec in enumerate(fleet.sites):
        try:
            site = _load_site(index, spec, fleet, folder, carbon_price)
        except FleetError as exc:
            problems += [f"{exc.source}: {line}" for line in exc.problems]
            continue
        problems += _capacities(site)
        try:
            given = (series or {}).get(spec.name)
            site.series = (
                given if given is not None else scenario_series(site.scenario, site.folder)
            )
        except (SeriesError, KeyError) as exc:
            problems.append(f"sites ({spec.name}).series: {exc}")
        sites[spec.name] = site
    if problems:
        raise FleetError(source, problems)
    notes: list[str] = []
    links, more = _links(fleet, notes)
    regions, region_problems = _regions(fleet, sites)
    problems += more + region_problems
    if problems:
        raise FleetError(source, problems)
    for name, site in sites.items():
        clash = [w.id for w in site.scenario.workloads if w.id.startswith("fleet:")]
        if clash:
            raise FleetError(
                source, [f"sites ({name}): workload ids {clash} use the fleet's prefix"]
            )
    jobs = _jobs(fleet, sites)
    first = next(iter(sites.values()))
    assert first.series is not None
    time = np.asarray(first.series["time"].values, dtype="datetime64[ns]")
    step = fleet.simulation.step.total_seconds()
    placement, placement_notes = baseline.home_placement(
        [
            baseline.JobSpec(j.name, j.energy, j.release, j.deadline, j.home, j.max_power[j.home])
            for j in jobs
        ],
        time,
        step,
        {name: site.job_capacity for name, site in sites.items()},
    )
    shares, routing_notes = baseline.nearest_routing(
        [baseline.RegionSpec(r.name, r.demand, r.eligible) for r in regions],
        {name: site.inference_capacity for name, site in sites.items()},
    )
    notes += placement_notes + routing_notes
    fleet_sites = []
    scenarios = {}
    for name, site in sites.items():
        served = sum(
            (shares[(r.name, name)] * r.demand for r in regions if (r.name, name) in shares),
            np.zeros(time.size),
        )
        scenario, injected = _inject(site, jobs, placement, served)
        scenarios[name] = scenario
        fleet_sites.append(
            FleetSite(
                name,
                compile_facility(scenario),
                injected,
                site.job_capacity,
                site.inference_capacity,
                site.spec.grid_zone,
                site.spec.metro,
            )
        )
    problem = FleetProblem(fleet.fleet, fleet_sites, regions, links, jobs, notes)
    return FleetInput(problem, shares, fleet, scenarios)
