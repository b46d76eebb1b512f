"""Edge resilience: lose each site and each link in turn; is every region's tier 1 still served
within its latency budget, and how long does the lost site ride through on its battery?

A lost site's inference racks are gone; each region's tier-1 demand is re-routed to the sites
still up within its latency budget, on every fine step, by a transport LP (HiGHS through
:func:`scipy.optimize.linprog`) that serves as much as the remaining inference racks allow.
When not all can be served, the regions with the tightest latency budgets are served first;
what cannot be served is reported (peak kW, kWh, hours).  A lost link only stops fleet jobs
moving between its ends (tier 1 reaches sites over the users' networks, not the fleet's
links); every job can still run at its home.  Ride-through: the usable energy of the site's
battery (initial SOC down to its minimum) over its as-operated peak facility power.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from optimizer.fleet.problem import FleetProblem
from physics.constants import SECONDS_PER_HOUR
from physics.schedule import as_operated_schedule
from physics.simulate import simulate


def unserved_demand(problem: FleetProblem, lost: str | None) -> dict[str, np.ndarray]:
    """Tier-1 demand no site within budget can take when site ``lost`` is down [kW] per
    region, on every fine step (the most the remaining inference racks can serve, the
    tightest budgets first)."""
    regions = problem.regions
    steps = problem.time.size
    alive = {s.name: s.inference_capacity for s in problem.sites if s.name != lost}
    pairs = [(r, s) for r, region in enumerate(regions) for s in region.eligible if s in alive]
    sites = sorted({s for _, s in pairs})
    count = len(pairs)
    if count == 0:
        return {region.name: region.demand.copy() for region in regions}
    # per step: served x[r,s] ≥ 0, Σ_s x[r,s] ≤ D_r, Σ_r x[r,s] ≤ cap_s; maximize Σ x
    rows_region = sp.csr_matrix(
        (np.ones(count), ([r for r, _ in pairs], range(count))), shape=(len(regions), count)
    )
    rows_site = sp.csr_matrix(
        (np.ones(count), ([sites.index(s) for _, s in pairs], range(count))),
        shape=(len(sites), count),
    )
    block = sp.vstack([rows_region, rows_site])
    matrix = sp.block_diag([block] * steps, format="csr")
    demand = np.stack([region.demand for region in regions], axis=1)  # (T, R)
    capacity = np.array([alive[s] for s in sites])
    limits = np.concatenate([np.concatenate([demand[t], capacity]) for t in range(steps)])
    # the tightest budgets first: a kW of a region weighs 1 + 1/budget [1/ms]
    weight = np.array([1.0 + 1.0 / regions[r].budget for r, _ in pairs])
    solution = linprog(
        -np.tile(weight, steps), A_ub=matrix, b_ub=limits, bounds=(0, None), method="highs"
    )
    served = np.asarray(solution.x).reshape(steps, count)
    out = {}
    for r, region in enumerate(regions):
        columns = [k for k, (index, _) in enumerate(pairs) if index == r]
        out[region.name] = np.clip(region.demand - served[:, columns].sum(axis=1), 0.0, None)
    return out


def ride_through_minutes(problem: FleetProblem, site: str) -> float | None:
    """Minutes the site's battery carries its as-operated peak facility power [min] (None
    without a battery)."""
    chosen = problem.site(site)
    battery = chosen.facility.battery
    if battery is None:
        return None
    schedule = as_operated_schedule(chosen.facility, chosen.series)
    result = simulate(chosen.facility, schedule, chosen.series, per_rack=False)
    peak = float(result["facility_power"].max())
    usable = battery.capacity * max(battery.initial_soc - battery.soc_min, 0.0)  # J
    return usable / max(peak, 1e-9) / 60.0


def fleet_contingency(problem: FleetProblem) -> dict[str, Any]:
    """Lose each site and each link in turn; pass/fail with margins (see module docs).

    Returns
    -------
    dict
        ``sites``: per lost site, per region ``unserved_peak_kw``, ``unserved_kwh``,
        ``hours_short``, ``margin_kw`` (least spare inference capacity within budget) and
        ``passed``; the site's ``ride_through_min``.  ``links``: per lost link, the jobs that
        can no longer move between its ends.  ``passed``: every case passed.
    """
    hours = float((problem.time[1] - problem.time[0]) / np.timedelta64(1, "s") / SECONDS_PER_HOUR)
    cases: dict[str, Any] = {}
    for site in problem.sites:
        unserved = unserved_demand(problem, site.name)
        regions = {}
        for region in problem.regions:
            short = unserved[region.name]
            spare = sum(
                problem.site(s).inference_capacity for s in region.eligible if s != site.name
            )
            regions[region.name] = {
                "unserved_peak_kw": round(float(short.max()), 3),
                "unserved_kwh": round(float(short.sum() * hours), 3),
                "hours_short": round(float((short > 1e-6).sum() * hours), 3),
                "margin_kw": round(float(spare - region.demand.max()), 3),
                "passed": bool(short.max() <= 1e-6),
            }
        minutes = ride_through_minutes(problem, site.name)
        cases[site.name] = {
            "regions": regions,
            "ride_through_min": None if minutes is None else round(minutes, 2),
            "passed": all(entry["passed"] for entry in regions.values()),
        }
    links = {}
    for link in problem.links:
        stranded = [job.name for job in problem.jobs if set(link.ends) <= set(job.sites)]
        links[" – ".join(link.ends)] = {
            "jobs_that_cannot_move": stranded,
            "tier1_affected": False,
            "passed": True,
        }
    return {
        "sites": cases,
        "links": links,
        "passed": all(case["passed"] for case in cases.values()),
    }
