"""Growth headroom: how much IT load can grow with the grid peak held at today's.

Each uniform growth factor is co-planned by :func:`optimizer.plan.plan` under today's
as-operated peak as an import cap and verified by simulation; bisection finds the largest
feasible factor.  See :func:`growth_headroom` and ``docs/capacity.md``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from optimizer.plan import PlanOptions
from optimizer.plan import plan as make_plan
from physics.schedule import as_operated_schedule
from physics.simulate import simulate
from twin.scenario.compile import compile_facility
from twin.scenario.schema import Scenario
from twin.studies import StudyProgress
from twin.studies.battery import window_days

ENERGY_TOLERANCE = 1e-3
"""Relative shortfall of grown IT energy accepted by the growth headroom (rounding) [-]."""


@dataclass(frozen=True)
class GrowthStep:
    """One growth factor tried."""

    factor: float
    feasible: bool
    peak_kw: float | None
    """Verified planned peak import (None when no verified plan) [kW]."""
    status: str
    explanation: list[str] = field(default_factory=list)
    """The planner's explanation when infeasible (what limits the growth)."""


@dataclass
class GrowthHeadroom:
    """Result of :func:`growth_headroom`."""

    factor: float
    """Largest uniform IT growth factor found feasible [-] (1 = today)."""
    peak_today_kw: float
    """As-operated peak import today: the cap every grown plan must keep [kW]."""
    it_energy_today_kwh: float
    it_energy_grown_kwh: float
    steps: list[GrowthStep]
    capped_at_maximum: bool
    """True when ``max_factor`` itself was feasible (the headroom is at least that)."""

    @property
    def limited_by(self) -> list[str]:
        """Why the smallest infeasible factor tried fails (the planner's explanation)."""
        failing = [s for s in self.steps if not s.feasible]
        if not failing:
            return []
        first = min(failing, key=lambda s: s.factor)
        return first.explanation

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return {
            "factor": self.factor,
            "it_growth_percent": 100.0 * (self.factor - 1.0),
            "peak_today_kw": self.peak_today_kw,
            "it_energy_today_kwh": self.it_energy_today_kwh,
            "it_energy_grown_kwh": self.it_energy_grown_kwh,
            "capped_at_maximum": self.capped_at_maximum,
            "limited_by": self.limited_by,
            "steps": [dataclasses.asdict(s) for s in self.steps],
        }


def grown(scenario: Scenario, factor: float) -> Scenario:
    """Uniform IT growth on the same floor.

    Parameters
    ----------
    scenario
        Validated scenario.
    factor
        Growth factor [-]: every rack type's design power [kW] and every tier-3 job's energy
        [kWh] and power bounds [kW] are multiplied by it (rack airflow follows the design
        power through the type's design ΔT).

    Returns
    -------
    twin.scenario.Scenario
    """
    types = {
        name: t.model_copy(update={"design_power": t.design_power * factor})
        for name, t in scenario.rack_types.items()
    }
    work = []
    for w in scenario.workloads:
        update: dict[str, Any] = {}
        for key in ("energy", "min_power", "max_power"):
            value = getattr(w, key)
            if value is not None:
                update[key] = value * factor
        work.append(w.model_copy(update=update))
    return scenario.model_copy(update={"rack_types": types, "workloads": work})


def growth_headroom(
    scenario: Scenario,
    series: xr.Dataset,
    *,
    max_factor: float = 2.0,
    tolerance: float = 0.02,
    options: PlanOptions | None = None,
    progress: StudyProgress | None = None,
) -> GrowthHeadroom:
    """How much IT load can grow while the grid peak stays at today's as-operated peak.

    Each growth factor is co-planned (:func:`optimizer.plan.plan`: flexible work, battery,
    cooling setpoints) with today's as-operated peak imposed as an import cap at every step,
    and counts as feasible when the plan is verified by simulation with no limit broken (the
    cap, and every physical limit of the grown hall) and every flexible job is delivered by
    its IT energy is at least ``factor`` times today's as-operated IT energy (the grown work
    is really done, not pushed out of the window).  Bisection between 1 and ``max_factor``.

    Parameters
    ----------
    scenario
        Validated scenario.
    series
        Its exogenous series.
    max_factor
        Largest growth factor tried [-].
    tolerance
        Bisection stops when the bracket is narrower [-].
    options
        Planner options (shadow prices are switched off).
    progress
        Called after each growth factor co-planned with (what was done, how many done, how many in
        all or an upper bound) [-], e.g. to drive a progress bar.

    Returns
    -------
    GrowthHeadroom
    """
    options = dataclasses.replace(options or PlanOptions(), shadow_prices=False)
    today = compile_facility(scenario)
    ds_today = simulate(today, as_operated_schedule(today, series), series)
    peak = float(ds_today["grid_power"].max()) / 1e3
    step_hours = window_days(series) * 24.0 / series.sizes["time"]
    energy_today = float(ds_today["it_power"].sum()) / 1e3 * step_hours
    cap = np.full(series.sizes["time"], peak * 1e3)
    if "dr_import_cap" in series:
        cap = np.fmin(cap, series["dr_import_cap"].values)
    capped = series.assign(dr_import_cap=("time", cap))
    capped["dr_import_cap"].attrs.update(
        series["dr_import_cap"].attrs
        if "dr_import_cap" in series
        else {"units": "W", "long_name": "Grid import cap"}
    )
    steps: list[GrowthStep] = []
    energies: dict[float, float] = {1.0: energy_today}

    def feasible(factor: float) -> bool:
        facility = compile_facility(grown(scenario, factor))
        result = make_plan(facility, capped, options)
        figures = result.figures
        reasons = list(result.explanation[:3])
        if not result.verified:
            reasons += [v.message for v in result.violations[:3]]
        if figures["peak_grid_kw"] > peak * (1 + 1e-6):
            reasons.append(
                f"planned peak {figures['peak_grid_kw']:,.1f} kW above today's {peak:,.1f} kW"
            )
        delivered = figures["it_energy_kwh"]
        if delivered < factor * energy_today * (1 - ENERGY_TOLERANCE):
            reasons.append(
                f"IT energy {delivered:,.0f} kWh is short of {factor:.3g} × today's "
                f"{energy_today:,.0f} kWh (flexible work pushed out of the window)"
            )
        ok = result.verified and not reasons
        steps.append(
            GrowthStep(
                factor=factor,
                feasible=ok,
                peak_kw=figures["peak_grid_kw"] if result.verified else None,
                status=result.status,
                explanation=reasons or ([] if ok else [f"no verified plan ({result.status})"]),
            )
        )
        if ok:
            energies[factor] = result.figures["it_energy_kwh"]
        if progress is not None:
            state = "fits" if ok else "does not fit"
            progress(f"IT × {factor:.3f} {state}", len(steps), most)
        return ok

    most = 2 + max(math.ceil(math.log2(max(max_factor - 1.0, tolerance) / tolerance)), 0)

    lo, hi = 1.0, max_factor
    at_max = feasible(hi)
    if at_max:
        lo = hi
    elif not feasible(lo):
        lo = 1.0
    else:
        while hi - lo > tolerance:
            mid = 0.5 * (lo + hi)
            if feasible(mid):
                lo = mid
            else:
                hi = mid
    return GrowthHeadroom(
        factor=lo if any(s.feasible for s in steps) else 1.0,
        peak_today_kw=peak,
        it_energy_today_kwh=energy_today,
        it_energy_grown_kwh=energies.get(lo, energy_today),
        steps=steps,
        capped_at_maximum=at_max,
    )
