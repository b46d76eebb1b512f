"""What a fleet plan is given: sites with their compiled facility and series, regions, links,
fleet jobs.

Each site's facility already carries the fleet's work as extra flexible workloads (built by
:mod:`twin.fleet.build`): one per fleet job allowed there, on the site's job racks, and one
``serve`` workload on its inference racks for the regions' routed tier-1 demand.  Their
profiles in the site's series are the as-operated fleet baseline (jobs at home from their
release, tier 1 at the nearest site), which is also the operating point the site's model is
linearized at.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from physics.facility import Facility

FloatArray = NDArray[np.float64]

SERVE_WORKLOAD = "fleet:serve"
"""Id of the injected workload carrying a site's routed tier-1 inference."""


def job_workload(job: str) -> str:
    """Id of the injected workload carrying fleet job ``job`` at a site."""
    return f"fleet:{job}"


class FleetInfeasible(ValueError):
    """The fleet's contracts cannot all be met; ``explanation`` says why, in words."""

    def __init__(self, explanation: list[str]) -> None:
        self.explanation = explanation
        super().__init__("; ".join(explanation))


@dataclass
class FleetSite:
    """One site: its compiled facility (with the fleet's workloads) and series.

    Attributes
    ----------
    name
        Site name.
    facility
        Compiled facility, with the injected workloads :func:`job_workload` and
        :data:`SERVE_WORKLOAD`.
    series
        Exogenous series on the fleet's fine time axis.
    job_capacity
        Dynamic power of the racks hosting fleet jobs [kW] (0: none).
    inference_capacity
        Dynamic power of the racks serving routed tier-1 inference [kW] (0: none).
    grid_zone, metro
        Labels for reports.
    """

    name: str
    facility: Facility
    series: xr.Dataset
    job_capacity: float
    inference_capacity: float
    grid_zone: str | None = None
    metro: str | None = None

    def workload_index(self, workload: str) -> int | None:
        """Index of workload ``workload`` in the facility, None when absent."""
        ids = self.facility.workloads.ids
        return ids.index(workload) if workload in ids else None

    @property
    def injected(self) -> list[int]:
        """Indices of the fleet's workloads in the facility."""
        return [
            j for j, name in enumerate(self.facility.workloads.ids) if name.startswith("fleet:")
        ]


@dataclass
class FleetRegion:
    """Users of one region.

    Attributes
    ----------
    name
        Region name.
    demand
        Tier-1 inference demand on every fine step [kW of IT power], shape (N,).
    latency
        Round trip from the region to each site [ms].
    budget
        Largest latency allowed [ms].
    eligible
        Sites that may serve it: within the budget, with the residency tags it needs and with
        inference racks.
    """

    name: str
    demand: FloatArray
    latency: dict[str, float]
    budget: float
    eligible: list[str]


@dataclass
class FleetLink:
    """A network link between two sites, usable both ways.

    Attributes
    ----------
    ends
        The two sites.
    latency
        Round trip [ms].
    bandwidth
        Usable bandwidth each way [Gbit/s].
    price
        Price of a GB from ``ends[0]`` to ``ends[1]`` and back [currency/GB].
    energy
        Network energy per GB moved [kWh/GB].
    source
        Where the figures come from.
    """

    ends: tuple[str, str]
    latency: float
    bandwidth: float
    price: tuple[float, float]
    energy: float
    source: str = "fleet file"

    def price_from(self, origin: str) -> float:
        """Price of a GB leaving ``origin`` over this link [currency/GB]."""
        return self.price[0] if origin == self.ends[0] else self.price[1]

    def gigabytes_per_hour(self) -> float:
        """Data the link carries in an hour each way [GB/h]."""
        return self.bandwidth * 3600.0 / 8.0


@dataclass
class FleetJob:
    """Flexible work that may run at several sites.

    Attributes
    ----------
    name
        Job name.
    energy
        IT energy above idle to deliver by the deadline, over all sites [kWh].
    release, deadline
        UTC instants.
    sites
        Allowed sites, the home first.
    max_power
        Highest power at each allowed site [kW] (at most its job racks).
    data
        Input data copied with a move to a site away from home [GB].
    checkpoint
        State copied with every move [GB].
    splittable
        Whether the job's work may run at several sites at once (independent shards); if not,
        the job is at one site at a time (binary presence).
    """

    name: str
    energy: float
    release: np.datetime64
    deadline: np.datetime64
    sites: list[str]
    max_power: dict[str, float]
    data: float = 0.0
    checkpoint: float = 0.0
    splittable: bool = False

    @property
    def home(self) -> str:
        """The site the job starts at (its data and checkpoint are there)."""
        return self.sites[0]

    def moved_gigabytes(self, destination: str) -> float:
        """Data a move to ``destination`` copies [GB]: the checkpoint, and the input data
        unless the destination is home."""
        return self.checkpoint + (self.data if destination != self.home else 0.0)


@dataclass
class FleetProblem:
    """Everything a fleet plan needs.

    Attributes
    ----------
    name
        Fleet name.
    sites, regions, links, jobs
        As above; every site's series share one fine time axis.
    notes
        Remarks from building the problem (defaults used, baseline shortfalls).
    """

    name: str
    sites: list[FleetSite]
    regions: list[FleetRegion] = field(default_factory=list)
    links: list[FleetLink] = field(default_factory=list)
    jobs: list[FleetJob] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def site(self, name: str) -> FleetSite:
        """The site called ``name``."""
        for site in self.sites:
            if site.name == name:
                return site
        raise KeyError(name)

    def link(self, first: str, second: str) -> FleetLink | None:
        """The link between two sites (either order), None when there is none."""
        for link in self.links:
            if set(link.ends) == {first, second}:
                return link
        return None

    def copy_periods(
        self, step_hours: FloatArray
    ) -> dict[tuple[str, str, str], dict[int, list[tuple[int, float]]]]:
        """The periods each move's copy occupies and the GB it sends in each [GB].

        A move of job j from a to b decided for period t0 copies j's checkpoint (and its input
        data unless b is home) over the link at its full bandwidth from the start of t0 on,
        over as many periods as that takes; the job runs at neither site until the copy is
        done (it left a at t0 and starts at b in the period after the copy's last).  A copy of
        0 GB still takes its period t0.

        Parameters
        ----------
        step_hours
            Length of every planning period [h].

        Returns
        -------
        dict
            Per (job, from, to) that a link joins: per period t0 a move may start in, the list
            of (period, GB sent in it); a t0 whose copy would not end inside the horizon is
            absent (such a move is impossible).
        """
        dt = np.asarray(step_hours, dtype=float)
        out: dict[tuple[str, str, str], dict[int, list[tuple[int, float]]]] = {}
        for job in self.jobs:
            for origin in job.sites:
                for target in job.sites:
                    link = self.link(origin, target) if origin != target else None
                    if link is None:
                        continue
                    size = job.moved_gigabytes(target)
                    per_hour = link.gigabytes_per_hour()
                    starts: dict[int, list[tuple[int, float]]] = {}
                    for t0 in range(dt.size):
                        spans, left = [], size
                        for t in range(t0, dt.size):
                            piece = min(per_hour * float(dt[t]), left)
                            spans.append((t, piece))
                            left -= piece
                            if left <= 1e-9 * max(size, 1.0):
                                break
                        if left <= 1e-9 * max(size, 1.0):
                            starts[t0] = spans
                    out[(job.name, origin, target)] = starts
        return out

    @property
    def time(self) -> NDArray[np.datetime64]:
        """The fine time axis shared by all sites, UTC."""
        return np.asarray(self.sites[0].series["time"].values, dtype="datetime64[ns]")
