"""Battery sizing: battery sizes co-planned with the facility, with savings and payback.

Each size of a power × duration grid is co-planned with the rest of the facility by
:func:`optimizer.plan.plan` and verified by simulation; savings are against the verified plan
without a battery.  See :func:`battery_sizing` and ``docs/capacity.md``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from optimizer.plan import PlanOptions
from optimizer.plan import plan as make_plan
from physics import facility as fac
from physics.constants import JOULES_PER_KWH
from physics.facility import Facility
from twin.studies import StudyProgress

KWH = JOULES_PER_KWH


@dataclass(frozen=True)
class BatteryCosts:
    """Capital cost of a facility battery: ``fixed + energy·E + power·P``.

    Defaults are REopt's (NREL) former default installed costs of electric storage, one
    default for all sizes, 253 USD/kWh + 968 USD/kW + 222,115 USD (REopt-Analysis-Scripts
    announcement #208, "Updated Costs for Battery, PV, and Wind", which replaced them with
    ATB 2025 size classes).  The study reports the figures in the scenario currency; give
    local costs for a real decision.
    """

    energy: float = 253.0
    """[currency/kWh]"""
    power: float = 968.0
    """[currency/kW]"""
    fixed: float = 222_115.0
    """[currency]"""
    lifetime: float = 10.0
    """Years over which the net benefit of a size is compared (undiscounted) [a]."""

    def capital(self, energy_kwh: float, power_kw: float) -> float:
        """Installed cost of a battery of ``energy_kwh`` [kWh] and ``power_kw`` [kW] [currency]."""
        if energy_kwh <= 0 and power_kw <= 0:
            return 0.0
        return self.fixed + self.energy * energy_kwh + self.power * power_kw


@dataclass(frozen=True)
class BatteryOption:
    """One battery size, dispatched by the co-planner and verified by simulation."""

    energy_kwh: float
    power_kw: float
    window_cost: float
    """Verified plan cost over the window [currency]."""
    window_savings: float
    """Against the verified plan without a battery [currency]."""
    annual_savings: float
    """``window_savings`` × 365 d / window [currency/a]."""
    capital: float
    """[currency]"""
    payback_years: float
    """``capital / annual_savings`` (inf without savings) [a]."""
    net_benefit: float
    """``annual_savings · lifetime − capital`` [currency]."""
    peak_kw: float
    verified: bool


@dataclass
class BatterySizing:
    """Result of :func:`battery_sizing`."""

    options: list[BatteryOption]
    best: BatteryOption | None
    """Largest net benefit among verified sizes whose savings repay the capital within
    :attr:`BatteryCosts.lifetime` (None: no size does)."""
    no_battery_cost: float
    no_battery_peak_kw: float
    """Peak import of the verified plan without a battery [kW]."""
    as_operated_peak_kw: float
    """Peak import as operated today [kW]."""
    window_days: float
    costs: BatteryCosts

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (infinite paybacks as ``null``)."""

        def option(o: BatteryOption) -> dict[str, Any]:
            data = dataclasses.asdict(o)
            data["payback_years"] = o.payback_years if np.isfinite(o.payback_years) else None
            return data

        return {
            "best": option(self.best) if self.best else None,
            "options": [option(o) for o in self.options],
            "no_battery_cost": self.no_battery_cost,
            "no_battery_peak_kw": self.no_battery_peak_kw,
            "as_operated_peak_kw": self.as_operated_peak_kw,
            "window_days": self.window_days,
            "costs": dataclasses.asdict(self.costs),
        }


def window_days(series: xr.Dataset) -> float:
    """Length of the series' window [d]: its steps times the first step's length."""
    time = series["time"].values
    step = float((time[1] - time[0]) / np.timedelta64(1, "s"))
    return float(time.size * step / 86400.0)


def battery_sizing(
    facility: Facility,
    series: xr.Dataset,
    *,
    powers_kw: list[float] | None = None,
    durations_h: tuple[float, ...] = (1.0, 2.0, 4.0),
    costs: BatteryCosts | None = None,
    options: PlanOptions | None = None,
    progress: StudyProgress | None = None,
) -> BatterySizing:
    """Battery size and dispatch for the tariff and demand-response events, with payback.

    Each size (power × duration grid) is co-planned with the rest of the facility by
    :func:`optimizer.plan.plan` — the battery dispatch together with cooling and flexible
    work, against energy price, demand charge, carbon price and DR caps — and the plan is
    verified by simulation.  Savings are against the verified plan without a battery, so
    they are what the battery adds beyond flexibility.

    Parameters
    ----------
    facility
        Compiled facility (its battery, if any, gives efficiencies and SOC window).
    series
        Exogenous series of the window.
    powers_kw
        Battery powers [kW] (default: 10, 20 and 40 % of the as-operated peak import).
    durations_h
        Energy over power [h].
    costs
        Capital costs (default :class:`BatteryCosts`).
    options
        Planner options (shadow prices are switched off).
    progress
        Called after each co-planned size (the first: no battery) with (what was done, how many
        done, how many in all or an upper bound) [-], e.g. to drive a progress bar.

    Returns
    -------
    BatterySizing
    """
    costs = costs or BatteryCosts()
    options = dataclasses.replace(options or PlanOptions(), shadow_prices=False)
    days = window_days(series)
    template = facility.battery or fac.Battery(
        capacity=0.0,
        power=0.0,
        charge_efficiency=0.948,
        discharge_efficiency=0.948,
        soc_min=0.1,
        soc_max=0.95,
        initial_soc=0.5,
        wear_cost=0.02 / KWH,
        feed=0,
    )
    without = make_plan(dataclasses.replace(facility, battery=None), series, options)
    reference = without.figures["cost"]
    sizes: list[tuple[float, float]] = []
    if powers_kw is None:
        peak = without.baselines["as_operated"]["peak_grid_kw"]
        powers_kw = [round(peak * share, -1) for share in (0.1, 0.2, 0.4)]
        if facility.battery is not None:  # today's battery is one of the options
            sizes.append((facility.battery.power / 1e3, facility.battery.capacity / KWH))
    sizes += [(power, power * hours) for power in powers_kw for hours in durations_h]
    if progress is not None:
        progress("co-planned without a battery", 1, len(sizes) + 1)
    sized: list[BatteryOption] = []
    for power, energy in sizes:
        battery = dataclasses.replace(template, capacity=energy * KWH, power=power * 1e3)
        result = make_plan(dataclasses.replace(facility, battery=battery), series, options)
        saving = reference - result.figures["cost"]
        annual = saving * 365.0 / days
        capital = costs.capital(energy, power)
        sized.append(
            BatteryOption(
                energy_kwh=energy,
                power_kw=power,
                window_cost=result.figures["cost"],
                window_savings=saving,
                annual_savings=annual,
                capital=capital,
                payback_years=capital / annual if annual > 0 else float("inf"),
                net_benefit=annual * costs.lifetime - capital,
                peak_kw=result.figures["peak_grid_kw"],
                verified=result.verified,
            )
        )
        if progress is not None:
            progress(f"{energy:,.0f} kWh / {power:,.0f} kW", len(sized) + 1, len(sizes) + 1)
    paying = [o for o in sized if o.verified and o.net_benefit > 0]
    best = max(paying, key=lambda o: o.net_benefit) if paying else None
    return BatterySizing(
        options=sized,
        best=best,
        no_battery_cost=reference,
        no_battery_peak_kw=without.figures["peak_grid_kw"],
        as_operated_peak_kw=without.baselines["as_operated"]["peak_grid_kw"],
        window_days=days,
        costs=costs,
    )
