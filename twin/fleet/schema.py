"""The fleet file: sites planned together, the users' regions, the links and the fleet jobs.

A fleet file (``fleet.yaml``) names each site's scenario (a file relative to the fleet file,
or the scenario inline), the users' regions with their tier-1 inference demand and latency to
every site, the network links between sites and the flexible jobs that may run at any of
their allowed sites.  Units as in a scenario: bare numbers in the documented unit, or strings
with a unit ("70 ms", "10 Gbit/s", "2 TB").  ``dctwin schema --fleet`` prints the JSON Schema;
:func:`load_fleet` reads and checks a file (every problem in one :class:`FleetError`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BeforeValidator, Field, ValidationError, WithJsonSchema

from twin.fleet.network import CONTINENTS
from twin.scenario.errors import format_validation_error, known_names
from twin.scenario.fields import OffsetOrInstant, SchemaModel, resolve_instant
from twin.scenario.loader import read_text_file, strict_yaml
from twin.scenario.quantities import Kilowatt, KilowattHour
from twin.scenario.schema import SeriesSource, Simulation
from twin.scenario.units import to_unit


def _reader(unit: str) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        return to_unit(value, unit)

    return parse


def _schema(unit: str) -> WithJsonSchema:
    return WithJsonSchema(
        {
            "anyOf": [
                {"type": "number"},
                {"type": "string", "description": f"number with a unit convertible to {unit}"},
            ],
            "x-unit": unit,
        }
    )


Millisecond = Annotated[float, BeforeValidator(_reader("ms")), _schema("ms")]
"""Time in milliseconds [ms] (latencies)."""
GigabitPerSecond = Annotated[float, BeforeValidator(_reader("Gbit/s")), _schema("Gbit/s")]
"""Bandwidth [Gbit/s]."""
Gigabyte = Annotated[float, BeforeValidator(_reader("GB")), _schema("GB")]
"""Data size [GB]."""
KilowattHourPerGigabyte = Annotated[float, BeforeValidator(_reader("kWh/GB")), _schema("kWh/GB")]
"""Transfer energy [kWh/GB]."""

Continent = Literal["north-america", "europe", "asia-pacific", "south-america"]


class FleetSite(SchemaModel):
    """One site of the fleet: its scenario, where it is, and the racks fleet work may use."""

    name: str = Field(description="Unique site name.")
    scenario: str | dict[str, Any] = Field(
        description="Scenario file (relative to the fleet file) or the scenario inline."
    )
    grid_zone: str | None = Field(None, description="Grid zone label, e.g. 'US-TEX-ERCO'.")
    metro: str | None = Field(None, description="Metro area, e.g. 'dallas'.")
    continent: Continent | None = Field(
        None, description=f"Continent ({', '.join(CONTINENTS)}): default link figures."
    )
    residency: list[str] = Field(
        default_factory=list, description="Data-residency tags the site satisfies, e.g. ['eu']."
    )
    series: list[SeriesSource] = Field(
        default_factory=list,
        description="Extra series sources after the scenario's (they override its variables; "
        "paths relative to the fleet file), e.g. the site's grid zone.",
    )
    carbon_price: float | None = Field(
        None,
        ge=0,
        description="Price of emissions at this site [currency/t CO2e] (default: the scenario's).",
    )
    exclude_workloads: list[str] = Field(
        default_factory=list,
        description="Scenario workloads the fleet takes over (their racks may host fleet work).",
    )
    job_racks: list[str] = Field(
        default_factory=list, description="Racks (ids or patterns) that may host fleet jobs."
    )
    inference_racks: list[str] = Field(
        default_factory=list,
        description="Racks (ids or patterns) that serve the regions' tier-1 inference.",
    )


class Region(SchemaModel):
    """Users in one region: their tier-1 inference demand and latency to every site."""

    name: str = Field(description="Unique region name.")
    demand: Kilowatt = Field(ge=0, description="Peak tier-1 inference demand [kW of IT power].")
    profile: str | None = Field(
        None, description="Series (0..1) scaling the demand over time; none: flat."
    )
    profile_site: str | None = Field(
        None, description="Site whose series hold the profile (default: the first site)."
    )
    latency: dict[str, Millisecond] = Field(
        description="Round-trip latency from the region to every site [ms]."
    )
    latency_budget: Millisecond = Field(gt=0, description="Largest latency allowed [ms].")
    residency: list[str] = Field(
        default_factory=list, description="Tags a serving site must carry, e.g. ['eu']."
    )


class Link(SchemaModel):
    """The network link between two sites (each direction has the bandwidth)."""

    between: tuple[str, str] = Field(description="The two sites.")
    latency: Millisecond | None = Field(None, ge=0, description="Round trip [ms].")
    bandwidth: GigabitPerSecond | None = Field(
        None, gt=0, description="Usable bandwidth each way [Gbit/s]."
    )
    price: float | None = Field(None, ge=0, description="Price per GB moved [currency/GB].")
    energy: KilowattHourPerGigabyte | None = Field(
        None, ge=0, description="Network energy per GB moved [kWh/GB] (default 0.06)."
    )


class FleetJob(SchemaModel):
    """Flexible work (training, fine-tuning, batch inference) that may run at several sites."""

    name: str = Field(description="Unique job name.")
    energy: KilowattHour = Field(gt=0, description="IT energy above idle to deliver [kWh].")
    release: OffsetOrInstant | None = Field(
        None, description="Earliest start (instant, or offset from the fleet start)."
    )
    deadline: OffsetOrInstant = Field(
        description="Latest finish (instant, or offset from the fleet start)."
    )
    sites: list[str] = Field(
        min_length=1, description="Sites the job may run at; the first is its home."
    )
    max_power: Kilowatt | None = Field(
        None, gt=0, description="Highest power at any site (default: its job racks) [kW]."
    )
    data: Gigabyte = Field(
        0.0, ge=0, description="Input data copied to a site away from home [GB]."
    )
    checkpoint: Gigabyte = Field(0.0, ge=0, description="State a migration copies [GB].")
    splittable: bool = Field(
        False,
        description="Its work may run at several sites at once (independent shards, e.g. batch "
        "inference); default: at one site at a time.",
    )
    residency: list[str] = Field(
        default_factory=list, description="Tags every site it runs at must carry."
    )


class Fleet(SchemaModel):
    """A fleet of sites planned together (``fleet.yaml``)."""

    version: Literal[1] = Field(1, description="File format version.")
    fleet: str = Field(description="Name of the fleet (marks the file as a fleet file).")
    simulation: Simulation = Field(description="The window every site is planned over.")
    sites: list[FleetSite] = Field(min_length=1, description="The sites.")
    regions: list[Region] = Field(default_factory=list, description="Users' regions.")
    links: list[Link] = Field(default_factory=list, description="Links between sites.")
    jobs: list[FleetJob] = Field(default_factory=list, description="Fleet jobs.")


class FleetError(ValueError):
    """A fleet file could not be used; ``problems`` lists every issue found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        bullet = "\n  - ".join(problems)
        super().__init__(f"{source}: {len(problems)} problem(s):\n  - {bullet}")


def is_fleet_file(path: str | Path) -> bool:
    """Whether ``path`` holds a fleet file (a YAML mapping with a ``fleet:`` key); False for
    anything else, unreadable, not a regular file (``/dev/zero``: refused unread) or
    malformed, which the scenario loader then reports."""
    try:
        data = strict_yaml(read_text_file(Path(path)))
    except (OSError, ValueError, TypeError, RecursionError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and "fleet" in data


def load_fleet(path: str | Path) -> Fleet:
    """Read and check a fleet file.

    Raises
    ------
    FleetError
        With one message per problem (YAML, schema, names that refer to nothing).
    """
    source = str(path)
    try:
        data = strict_yaml(read_text_file(Path(path)))
    except OSError as exc:
        raise FleetError(source, [f"cannot read file: {exc.strerror or exc}"]) from None
    except yaml.YAMLError as exc:
        raise FleetError(source, [f"malformed YAML: {exc}"]) from None
    except ValueError as exc:  # not a regular file, too large, not UTF-8
        raise FleetError(source, [str(exc)]) from None
    return fleet_from_dict(data, source)


def fleet_from_dict(data: Any, source: str = "<fleet>") -> Fleet:
    """Validate a fleet given as plain data (see :func:`load_fleet`)."""
    if not isinstance(data, dict):
        raise FleetError(source, ["expected a mapping with fleet:, simulation:, sites:, ..."])
    try:
        fleet = Fleet.model_validate(data)
    except ValidationError as exc:
        raise FleetError(source, format_validation_error(exc, data, Fleet)) from None
    problems = reference_problems(fleet)
    if problems:
        raise FleetError(source, problems)
    return fleet


def _duplicates(names: list[str], where: str) -> list[str]:
    seen: set[str] = set()
    lines = []
    for name in names:
        if name in seen:
            lines.append(f"{where}: {name!r} given twice; expected unique names")
        seen.add(name)
    return lines


def reference_problems(fleet: Fleet) -> list[str]:
    """Names that refer to nothing, missing latencies, residency no site satisfies."""
    sites = {site.name: site for site in fleet.sites}
    known = known_names(sites)
    lines = _duplicates([s.name for s in fleet.sites], "sites")
    lines += _duplicates([r.name for r in fleet.regions], "regions")
    lines += _duplicates([j.name for j in fleet.jobs], "jobs")
    for i, region in enumerate(fleet.regions):
        where = f"regions[{i}] ({region.name})"
        unknown = [name for name in region.latency if name not in sites]
        lines += [
            f"{where}.latency: {n!r} — no such site; expected one of {known}" for n in unknown
        ]
        missing = [name for name in sites if name not in region.latency]
        if missing:
            lines.append(
                f"{where}.latency: no latency to site(s) {', '.join(missing)}; expected the "
                "round trip from the region to every site [ms]"
            )
        if region.profile_site is not None and region.profile_site not in sites:
            lines.append(f"{where}.profile_site: {region.profile_site!r} — expected one of {known}")
    pairs: set[frozenset[str]] = set()
    for i, link in enumerate(fleet.links):
        for end in link.between:
            if end not in sites:
                lines.append(f"links[{i}].between: {end!r} — no such site; expected one of {known}")
        if link.between[0] == link.between[1]:
            lines.append(f"links[{i}].between: a link joins two different sites")
        pair = frozenset(link.between)
        if pair in pairs:
            lines.append(f"links[{i}].between: {' – '.join(link.between)} given twice")
        pairs.add(pair)
    for i, job in enumerate(fleet.jobs):
        where = f"jobs[{i}] ({job.name})"
        lines += _duplicates(job.sites, f"{where}.sites")
        for name in job.sites:
            if name not in sites:
                lines.append(f"{where}.sites: {name!r} — no such site; expected one of {known}")
            elif not sites[name].job_racks:
                lines.append(
                    f"{where}.sites: site {name!r} has no job_racks; expected the racks that "
                    "host fleet jobs there"
                )
            elif not set(job.residency) <= set(sites[name].residency):
                lines.append(
                    f"{where}.sites: site {name!r} lacks residency {sorted(job.residency)} "
                    f"(it has {sorted(sites[name].residency)})"
                )
    return lines + _window_problems(fleet)


def _window_problems(fleet: Fleet) -> list[str]:
    """Every job's release and deadline inside the fleet window, in that order."""
    start = fleet.simulation.start
    end = start + fleet.simulation.duration
    lines = []
    for i, job in enumerate(fleet.jobs):
        release = resolve_instant(job.release, start)
        deadline = resolve_instant(job.deadline, start)
        if deadline <= release:
            lines.append(
                f"jobs[{i}].deadline: {deadline.isoformat()} — not after the release "
                f"{release.isoformat()} of job {job.name!r}"
            )
        elif deadline > end or release < start:
            lines.append(
                f"jobs[{i}] ({job.name}): runs {release.isoformat()} → {deadline.isoformat()}, "
                f"outside the fleet window {start.isoformat()} → {end.isoformat()}; expected "
                "release and deadline inside it (lengthen simulation.duration)"
            )
    return lines


def fleet_json_schema() -> dict[str, Any]:
    """The JSON Schema of fleet files."""
    schema = Fleet.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "dctwin fleet"
    return schema
