"""A fleet plan's verified figures, per site and for the fleet, beside its two baselines.

Every figure comes from each site's physics re-simulating that site's share
(:func:`optimizer.accounting.verified_figures`), summed over the sites, plus the network's
transfer cost and carbon.  The baselines do the same work: ``as_operated`` (every job at home
from its release, tier 1 at the nearest site) and ``sites_alone`` (each site co-planned in
time only: the fleet model with every job pinned home and the routing of ``as_operated``), so
``savings_vs_sites_alone`` measures what moving work in space adds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from optimizer.accounting import contracts_met, sla_report, verified_figures
from optimizer.fleet.problem import FleetProblem, job_workload
from optimizer.fleet.solve import SiteOutcome
from physics.constants import SECONDS_PER_HOUR, WATTS_PER_KILOWATT
from physics.schedule import Schedule

COST_PARTS = (
    "energy_cost",
    "demand_charge",
    "demand_response_penalty",
    "demand_response_credit",
    "carbon_cost",
    "battery_wear_cost",
    "lateness_cost",
    "unserved_cost",
    "deferred_cost",
)
"""The parts of a site's cost [currency] (:func:`optimizer.accounting.verified_figures`):
the cost is their sum, the demand-response credit counted negative; the fleet's adds the
network's ``transfer_cost`` (and its carbon in ``carbon_cost``)."""

SUMMED = (
    "cost",
    *COST_PARTS,
    "carbon_kg",
    "grid_energy_kwh",
    "it_energy_kwh",
    "cooling_energy_kwh",
)
"""Site figures added up over the fleet."""

COMPARED = ("cost", "carbon_kg")
"""Fleet figures whose savings are reported against each baseline (besides each site's
peak)."""

EQUAL_WORK_TOLERANCE = 0.005
"""Largest relative difference of fleet IT energy for plan and baseline to count as equal
work [-] (as in the single-site planner)."""


@dataclass
class Judged:
    """One schedule set (plan or baseline) judged by the sites' physics and the contracts.

    Attributes
    ----------
    sites
        Per site: ``verified``, figures, ``violations``, ``contracts_met``, fleet work there.
    figures
        Fleet totals (site figures summed, plus ``transfer_cost``, ``transfer_gb``,
        ``transfer_energy_kwh``, ``transfer_carbon_kg``).
    jobs
        Per fleet job: required, delivered on time by site, ``met``.
    verified
        Every site broke no limit, kept its own contracts, and every fleet job and region
        was served.
    problems
        Why not verified, one line each.
    schedules
        Each site's schedule (setpoints [°C], battery [W], workload power [W]) on the fine
        steps: what the live fleet adopts at a site when the plan is approved.
    """

    sites: dict[str, dict[str, Any]]
    figures: dict[str, float]
    jobs: dict[str, dict[str, Any]]
    verified: bool
    problems: list[str] = field(default_factory=list)
    schedules: dict[str, Schedule] = field(default_factory=dict)


def judge(
    problem: FleetProblem,
    outcomes: list[SiteOutcome],
    references: list[Schedule],
    deferred_prices: list[float],
    network: dict[str, float],
) -> Judged:
    """Judge the sites' outcomes: figures, contracts, violations (see :class:`Judged`)."""
    sites: dict[str, dict[str, Any]] = {}
    totals = dict.fromkeys(SUMMED, 0.0)
    problems: list[str] = []
    for site, outcome, reference, price in zip(
        problem.sites, outcomes, references, deferred_prices, strict=True
    ):
        facility, result = site.facility, outcome.result
        figures = verified_figures(facility, outcome.schedule, result, price)
        step = float(result.attrs["step_seconds"])
        report = sla_report(facility, outcome.schedule, result["time"].values, step, reference)
        own = {name: entry for name, entry in report.items() if not name.startswith("fleet:")}
        met = contracts_met(own)
        violations = [v.message for v in outcome.violations]
        problems += [f"{site.name}: {line}" for line in violations]
        problems += [
            f"{site.name}: contract of {n} not met" for n, e in own.items() if not e["met"]
        ]
        hours = step / SECONDS_PER_HOUR
        work = {
            job.name: round(float(outcome.schedule.workload_power[:, j].sum()) * hours / 1e3, 3)
            for job in problem.jobs
            if (j := site.workload_index(job_workload(job.name))) is not None
        }
        sites[site.name] = {
            "verified": not violations and met,
            "grid_zone": site.grid_zone,
            "metro": site.metro,
            **{k: round(v, 6) for k, v in figures.items()},
            "violations": violations,
            "contracts_met": met,
            "fleet_job_kwh": work,
        }
        for key in SUMMED:
            totals[key] += figures[key]
    totals["cost"] += network["transfer_cost"] + network["transfer_carbon_cost"]
    totals["carbon_cost"] += network["transfer_carbon_cost"]
    totals["carbon_kg"] += network["transfer_carbon_kg"]
    totals.update(network)
    jobs = job_contracts(problem, outcomes)
    problems += [
        f"job {name!r}: {entry['on_time_kwh']:,.0f} of {entry['required_kwh']:,.0f} kWh by its "
        "deadline"
        for name, entry in jobs.items()
        if not entry["met"]
    ]
    schedules = {
        site.name: outcome.schedule for site, outcome in zip(problem.sites, outcomes, strict=True)
    }
    return Judged(sites, totals, jobs, not problems, problems, schedules)


def job_contracts(problem: FleetProblem, outcomes: list[SiteOutcome]) -> dict[str, dict[str, Any]]:
    """Each fleet job's energy delivered before its deadline, by site [kWh], and the mean
    energy price [currency/MWh] and grid carbon intensity [g CO2e/kWh] of the steps it ran
    in at each site, weighted by its power (why it runs where it runs)."""
    time = problem.time
    out: dict[str, dict[str, Any]] = {}
    for job in problem.jobs:
        by_site: dict[str, float] = {}
        price: dict[str, float] = {}
        carbon: dict[str, float] = {}
        for site, outcome in zip(problem.sites, outcomes, strict=True):
            j = site.workload_index(job_workload(job.name))
            if j is None:
                continue
            step = float(outcome.result.attrs["step_seconds"])
            end = time + np.timedelta64(int(step * 1e9), "ns")
            power = outcome.schedule.workload_power[:, j] / WATTS_PER_KILOWATT
            by_site[site.name] = float(power[end <= job.deadline].sum() * step / SECONDS_PER_HOUR)
            if power.sum() > 1e-9:
                for name, into in (("price", price), ("carbon_intensity", carbon)):
                    if name in site.series:
                        values = np.asarray(site.series[name].values, dtype=float)
                        into[site.name] = round(float(np.average(values, weights=power)), 3)
        on_time = sum(by_site.values())
        out[job.name] = {
            "required_kwh": round(job.energy, 3),
            "on_time_kwh": round(on_time, 3),
            "by_site_kwh": {k: round(v, 3) for k, v in by_site.items()},
            "mean_price_per_mwh": price,
            "mean_carbon_g_per_kwh": carbon,
            "home": job.home,
            "deadline": pd.Timestamp(job.deadline).tz_localize("UTC").isoformat(),
            "met": bool(on_time >= job.energy * (1 - 1e-6) - 1e-3),
        }
    return out


def savings(plan: dict[str, float], baseline: dict[str, float]) -> dict[str, float | None]:
    """Fractional reduction of each compared figure vs a baseline (positive: lower)."""
    out: dict[str, float | None] = {}
    for key in COMPARED:
        reference = baseline.get(key)
        out[key] = (reference - plan[key]) / reference if reference else None
    return out


def peak_savings(plan: Judged, baseline: Judged) -> dict[str, float | None]:
    """Fractional reduction of each site's peak import vs a baseline."""
    out: dict[str, float | None] = {}
    for name, figures in plan.sites.items():
        reference = baseline.sites[name]["peak_grid_kw"]
        out[name] = (reference - figures["peak_grid_kw"]) / reference if reference else None
    return out


@dataclass
class FleetPlan:
    """A fleet plan verified by every site's physics, with both baselines."""

    name: str
    status: str
    """``optimal``, ``time_limit``, ``infeasible`` (see ``explanation``) or ``fallback``."""
    plan: Judged | None
    baselines: dict[str, Judged]
    transfers: list[dict[str, Any]] = field(default_factory=list)
    routing: dict[str, dict[str, float]] = field(default_factory=dict)
    """Share of each region's tier-1 energy served by each site [-]."""
    latency_violations: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    rounds: int = 0
    explanation: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    currency: str = "USD"
    source: str = "co_plan"
    """Which plan is returned: ``co_plan`` (work free to move) or ``sites_alone`` (the co-plan
    found nothing in time, or verified dearer)."""

    @property
    def verified(self) -> bool:
        """The plan's every site verified, every fleet contract kept, no latency exceeded."""
        return self.plan is not None and self.plan.verified and not self.latency_violations

    def equal_work(self) -> dict[str, Any]:
        """Fleet IT energy of plan and baselines [kWh] and their largest relative difference."""
        if self.plan is None:
            return {}
        energy = {"plan": self.plan.figures["it_energy_kwh"]}
        energy.update({k: v.figures["it_energy_kwh"] for k, v in self.baselines.items()})
        reference = max(energy["plan"], 1e-9)
        difference = max(abs(v - energy["plan"]) / reference for v in energy.values())
        return {
            "it_energy_kwh": {k: round(v, 3) for k, v in energy.items()},
            "max_relative_difference": round(difference, 6),
            "equal": bool(difference <= EQUAL_WORK_TOLERANCE),
        }

    def comparable(self, baseline: str) -> str | None:
        """Why the plan's savings against ``baseline`` are not reported (None: they are): the
        plan verified, ``sites_alone`` verified, and the same work done."""
        judged = self.baselines.get(baseline)
        if self.plan is None or judged is None:
            return "no plan or no baseline"
        if not self.plan.verified:
            return "the plan is not verified"
        if not judged.verified and baseline != "as_operated":
            # as operated is today's practice, compared even where it breaks a limit (its
            # problems are listed); a planned baseline must be verified to be compared
            return f"{baseline} is not verified"
        energy = (self.plan.figures["it_energy_kwh"], judged.figures["it_energy_kwh"])
        if abs(energy[0] - energy[1]) > EQUAL_WORK_TOLERANCE * max(energy[0], 1e-9):
            return f"unequal work ({energy[0]:,.0f} vs {energy[1]:,.0f} kWh of IT energy)"
        return None

    def to_json(self) -> dict[str, Any]:
        """The ``dctwin plan fleet.yaml --json`` object."""
        data: dict[str, Any] = {
            "fleet": self.name,
            "status": self.status,
            "verified": self.verified,
            "plan_source": self.source,
            "currency": self.currency,
        }
        if self.plan is not None:
            plan = self.plan
            data.update({k: round(v, 6) for k, v in plan.figures.items()})
            data["contracts_met"] = all(e["met"] for e in plan.jobs.values()) and all(
                s["contracts_met"] for s in plan.sites.values()
            )
            data["sites"] = plan.sites
            data["jobs"] = plan.jobs
            data["problems"] = plan.problems
            for name, judged in self.baselines.items():
                why = self.comparable(name)
                data[f"savings_vs_{name}"] = (
                    {
                        **savings(plan.figures, judged.figures),
                        "peak_grid_kw": peak_savings(plan, judged),
                    }
                    if why is None
                    else {"cost": None, "carbon_kg": None, "peak_grid_kw": {}, "not_reported": why}
                )
            data["equal_work"] = self.equal_work()
        data["baselines"] = {
            name: {
                **{k: round(v, 6) for k, v in judged.figures.items()},
                "verified": judged.verified,
                "problems": judged.problems,
                "sites": judged.sites,
                "jobs": judged.jobs,
            }
            for name, judged in self.baselines.items()
        }
        data.update(
            {
                "transfers": self.transfers,
                "routing": self.routing,
                "latency_violations": self.latency_violations,
                "timings": {k: round(v, 3) for k, v in self.timings.items()},
                "rounds": self.rounds,
                "notes": self.notes,
            }
        )
        if self.explanation:
            data["explanation"] = self.explanation
        return data


def infeasible_plan(problem: FleetProblem, explanation: list[str]) -> FleetPlan:
    """The answer for a fleet whose contracts cannot be met (``explanation``: why, in words)."""
    return FleetPlan(
        problem.name,
        "infeasible",
        None,
        {},
        explanation=explanation,
        notes=list(problem.notes),
        currency=problem.sites[0].facility.grid.currency,
    )
