"""The as-operated fleet: every job at its home site from its release, tier 1 at the nearest
site.

This is what a fleet runs without a fleet planner, and the operating point each site's model
is linearized at.  Jobs run flat out (at their maximum power, within what the home site's job
racks have left) from their release until their energy is delivered; each region's tier-1
demand goes to the eligible site with the lowest latency, and what that site cannot take
spills to the next nearest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from physics.constants import SECONDS_PER_HOUR

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class JobSpec:
    """A job for the baseline: name, energy [kWh], release and deadline (UTC), home site,
    maximum power at home [kW]."""

    name: str
    energy: float
    release: np.datetime64
    deadline: np.datetime64
    home: str
    max_power: float


@dataclass(frozen=True)
class RegionSpec:
    """A region for the baseline: name, demand per fine step [kW], eligible sites by
    increasing latency."""

    name: str
    demand: FloatArray
    nearest: Sequence[str]


def home_placement(
    jobs: Sequence[JobSpec],
    time: NDArray[np.datetime64],
    step_seconds: float,
    capacity: dict[str, float],
) -> tuple[dict[str, FloatArray], list[str]]:
    """Power of every job at its home site, flat out from its release [kW].

    Parameters
    ----------
    jobs
        The jobs, placed in order of release.
    time
        Fine time axis, UTC, shape (N,).
    step_seconds
        Fine step [s].
    capacity
        Dynamic power of each site's job racks [kW].

    Returns
    -------
    tuple
        Power per job on every fine step [kW], shape (N,), and notes on jobs the baseline
        does not finish by their deadline.
    """
    hours = step_seconds / SECONDS_PER_HOUR
    left = {site: np.full(time.size, value, dtype=float) for site, value in capacity.items()}
    power: dict[str, FloatArray] = {}
    notes: list[str] = []
    for job in sorted(jobs, key=lambda job: job.release):
        run = np.zeros(time.size)
        remaining = job.energy
        room = left[job.home]
        for t in np.flatnonzero(time >= job.release):
            if remaining <= 1e-9:
                break
            run[t] = min(job.max_power, room[t], remaining / hours)
            remaining -= run[t] * hours
        room -= run
        power[job.name] = run
        late = float(run[time >= job.deadline].sum() * hours)
        if remaining > 1e-6 or late > 1e-6:
            notes.append(
                f"as operated, job {job.name!r} at {job.home} delivers "
                f"{job.energy - remaining - late:,.0f} of {job.energy:,.0f} kWh by its deadline"
            )
    return power, notes


def nearest_routing(
    regions: Sequence[RegionSpec], capacity: dict[str, float]
) -> tuple[dict[tuple[str, str], FloatArray], list[str]]:
    """Share of each region's demand served by each site, nearest first [-].

    Parameters
    ----------
    regions
        The regions, their eligible sites nearest first.
    capacity
        Dynamic power of each site's inference racks [kW].

    Returns
    -------
    tuple
        Share per (region, site) on every fine step [-], and notes on demand that no eligible
        site can take.
    """
    left = {site: None for site in capacity}
    room: dict[str, FloatArray] = {}
    shares: dict[tuple[str, str], FloatArray] = {}
    notes: list[str] = []
    for region in regions:
        demand = np.asarray(region.demand, dtype=float)
        unplaced = demand.copy()
        for site in region.nearest:
            if site not in room:
                room[site] = np.full(demand.size, capacity.get(site, 0.0))
            taken = np.minimum(unplaced, room[site])
            room[site] -= taken
            unplaced -= taken
            with np.errstate(invalid="ignore", divide="ignore"):
                shares[(region.name, site)] = np.where(demand > 0, taken / demand, 0.0)
        if not region.nearest:
            notes.append(f"region {region.name!r}: no site within its latency budget")
        elif unplaced.max() > 1e-6:
            notes.append(
                f"as operated, region {region.name!r}: up to {unplaced.max():,.1f} kW of tier-1 "
                "demand finds no capacity within its latency budget"
            )
    del left
    return shares, notes
