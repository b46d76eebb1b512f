"""Linear coefficients of the planning model, taken from the physics at an operating point.

The plan's decisions are few: a supply setpoint per cooling unit, one chilled-water setpoint,
battery power, and the power of each *flexible workload* (not of each rack).  Rack power is
affine in workload power (each workload's power is spread over its racks in proportion to
their dynamic power), so every physical quantity the limits need is affine in the decisions:

* rack inlet ``T_in[r,t] = h[r,t] + Σ_u W[r,u]·s[u,t] + Σ_j G[r,j]·Δp[j,t]`` (exact in the
  setpoints; in power up to the in-rack loss slope);
* busbar, coil, CDU and feed loads ``base[·,t] + Σ_j coefficient[·,j]·Δp[j,t]``;
* plant heat ``Q[t] = Q0[t] + κ[t]·Σ_j Δp[j,t]``; IT-chain input ``P0[t] + μ[t]·Σ_j Δp[j,t]``
  (κ, μ by a finite difference of the physics);

where ``Δp = p − p0`` is the change from the operating point.  The plant's electric power is
nonlinear in load and chilled-water temperature (EIR curves, economizer, staging): it enters
as ``P ≥ ε_k[t]·Q[t] + Q0[t]·σ_k[t]·(c[t] − c_k)`` — proportional in load and the lower convex
envelope in the chilled-water setpoint of the physics evaluated on a grid of setpoints.  Every
plan is re-simulated, so these approximations only steer; the reported figures are verified.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import xarray as xr
from numpy.typing import NDArray

from optimizer.curve_range import chilled_water_ceiling
from optimizer.horizon import PlanningAxis, planning_axis
from optimizer.linearize_liquid import LiquidCoefficients, liquid_by_period, liquid_coefficients
from physics.constants import SECONDS_PER_HOUR, WATTS_PER_KILOWATT
from physics.facility import Facility
from physics.liquid.cdu import FACILITY_LOOP
from physics.plant import plant_performance
from physics.schedule import Schedule
from physics.simulate import simulate

FloatArray = NDArray[np.float64]
KW = WATTS_PER_KILOWATT
"""[W/kW] (short alias for the many conversions below)."""

SETPOINT_GRID_STEP = 0.5
"""Spacing of the chilled-water setpoints the plant envelope is sampled on [K]."""


@dataclass
class Linearization:
    """Everything the planning model needs, in kW, kWh, °C and hours.

    Arrays along time are per *period* of the planning axis (:mod:`optimizer.horizon`): the
    fine steps of the series first, coarser periods later.  Quantities that meet a limit
    (inlet, coil, CDU, busbar and feed loads) are the largest of the period's fine steps;
    quantities that add up to energy and money (power, price, PV, tier-2 arrivals) are means.
    """

    steps: int
    """Number of periods T [-]."""
    step_hours: FloatArray
    """Length of each period [h], (T,)."""
    time: NDArray[np.datetime64]
    """Start of each period, UTC, (T,)."""
    flexible: NDArray[np.int64]
    """Indices of the tier 2/3 workloads decided by the plan."""
    p0: FloatArray
    """Workload power at the operating point [kW], (T, J) over all workloads."""
    s0: FloatArray
    """Supply setpoints at the operating point [°C], (T, U)."""
    c0: FloatArray
    """Chilled-water setpoint at the operating point [°C], (T,)."""
    inlet_base: FloatArray
    """``h``: inlet minus the setpoint term at the operating point [°C], (R, T)."""
    inlet_supply: sp.csr_matrix
    """``W``: inlet per supply setpoint [-], (R, U)."""
    inlet_work: FloatArray
    """``G``: inlet per kW of each workload [K/kW], (R, J)."""
    inlet_limit: FloatArray
    """Per-rack inlet limit [°C], (R,)."""
    it_chain_base: FloatArray
    """UPS input (IT chain) at the operating point [kW], (T,)."""
    it_chain_slope: FloatArray
    """μ: UPS input per kW of workload [-], (T,)."""
    plant_heat_base: FloatArray
    """Q0: plant load at the operating point [kW], (T,)."""
    plant_heat_slope: FloatArray
    """κ: plant load per kW of workload [-], (T,)."""
    envelope_levels: FloatArray
    """Chilled-water setpoints of the envelope segments' left ends [°C], (K,)."""
    envelope_value: FloatArray
    """ε: plant power per kW of load at each level [-], (T, K)."""
    envelope_slope: FloatArray
    """σ: change of ε per K over the segment [1/K], (T, K)."""
    fixed_cooling: FloatArray
    """CRAH fans + CDU pumps [kW], (T,)."""
    feed_base: FloatArray
    """Feed power at the operating point without cooling [kW], (T, F)."""
    feed_work: FloatArray
    """Feed power per kW of workload [-], (F, J) (times μ[t])."""
    busbar_base: FloatArray
    """Busbar source power at the operating point [kW], (B, T)."""
    busbar_work: sp.csr_matrix
    """Busbar power per kW of workload [-], (B, J)."""
    busbar_capacity: FloatArray
    """min(shelf N+k capacity, ampacity·V, undervoltage limit) [kW], (B,)."""
    coil_base: FloatArray
    """Coil load at the operating point [kW], (U, T)."""
    coil_work: FloatArray
    """Coil load per kW of workload [-], (U, J)."""
    cdu_base: FloatArray
    """CDU load at the operating point [kW], (C, T)."""
    cdu_work: FloatArray
    """CDU load per kW of workload [-], (C, J)."""
    pv: FloatArray
    """PV available [kW], (T,)."""
    price: FloatArray
    """[currency/kWh], (T,)."""
    carbon: FloatArray
    """[kg CO2e/kWh], (T,)."""
    dr_cap: FloatArray
    """Hard grid import cap [kW], NaN outside events, (T,)."""
    dr_soft_cap: FloatArray
    """Priced grid import cap [kW], NaN outside priced events, (T,)."""
    dr_penalty: FloatArray
    """Price of import above the priced cap [currency/kWh], NaN outside, (T,)."""
    dr_credit: FloatArray
    """Credit per kWh imported below the baseline [currency/kWh], NaN outside, (T,)."""
    dr_baseline: FloatArray
    """Baseline load the credit is measured against [kW], NaN outside, (T,)."""
    tier2_profile: FloatArray
    """Tier-2 work arriving per step [kW], (T, J) (0 for other tiers)."""
    wet_bulb: FloatArray
    """[°C], (T,)."""
    chilled_ceiling: FloatArray
    """Highest chilled-water setpoint that keeps the chiller curves within their fitted range
    where the chillers run [°C], (T,) (:func:`optimizer.curve_range.chilled_water_ceiling`;
    a period's lowest fine step)."""
    deferred_energy_price: float
    """Value of tier-3 energy deferred past the horizon [currency per kWh of IT energy]: the
    horizon's mean price (energy + carbon) times its facility energy per IT energy."""
    axis: PlanningAxis
    """The periods over the fine steps of the series."""
    grid_base: FloatArray
    """Grid import at the operating point [kW], (T,)."""
    peak_excess: FloatArray
    """Highest less mean grid import of the operating point within each period [kW], (T,)
    (0 for one-step periods): added to a period's import where it meets the peak."""
    liquid: LiquidCoefficients
    """Cold-plate case and facility-loop coefficients (:mod:`optimizer.blocks.liquid`)."""

    @property
    def end_time(self) -> np.datetime64:
        """End of the look-ahead, UTC."""
        return self.axis.end_time


def _finite_difference(
    facility: Facility, schedule: Schedule, series: xr.Dataset, base: xr.Dataset
) -> tuple[FloatArray, FloatArray, xr.Dataset]:
    """μ and κ: UPS input and plant load per kW of extra workload power, per step, and the
    simulation with the extra power."""
    work = facility.workloads
    bump = 0.05 * work.capacity[np.newaxis, :] * np.ones((schedule.workload_power.shape[0], 1))
    bumped = simulate(
        facility,
        dataclasses.replace(schedule, workload_power=schedule.workload_power + bump),
        series,
        per_rack=False,
    )
    delta_it = (bumped["it_power"] - base["it_power"]).values
    delta_it = np.where(np.abs(delta_it) > 1.0, delta_it, np.nan)
    chain = (bumped["ups_input"].sum("ups") - base["ups_input"].sum("ups")).values / delta_it
    heat = (bumped["plant_load"] - base["plant_load"]).values / delta_it
    return np.nan_to_num(chain, nan=1.1), np.nan_to_num(heat, nan=1.1), bumped


def _plant_envelope(
    facility: Facility, load: FloatArray, wet_bulb: FloatArray, ceiling: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Lower convex envelope in the setpoint of plant power per kW of load, per step.

    Above a step's ``ceiling`` [°C] (the chiller curves' range) the setpoint is not allowed:
    there the power is held at its value at the ceiling, so that the envelope is exact at the
    ceiling and not lowered by setpoints the plan cannot use."""
    low, high = facility.chilled_water_temperature_bounds
    if np.any(facility.cdus.loop != FACILITY_LOOP):  # CDUs on chilled water: its W class
        high = min(high, facility.facility_water_limit)
    levels = np.arange(low, high + 1e-9, SETPOINT_GRID_STEP)
    if levels.size < 2:
        levels = np.array([low, max(high, low + SETPOINT_GRID_STEP)])
    q = np.maximum(load, 1.0)[:, np.newaxis]
    # a level above a step's ceiling is evaluated at the ceiling (one evaluation, (T, K))
    above = levels[np.newaxis, :] > ceiling[:, np.newaxis] + 1e-9
    setpoints = np.where(above, ceiling[:, np.newaxis], levels[np.newaxis, :])
    result = plant_performance(
        facility.plant, q * KW, setpoints, wet_bulb[:, np.newaxis], warn=False
    )
    specific = result.total_power / (q * KW)  # (T, K)
    # lower convex envelope along the levels, step by step (K is a few dozen)
    # Lowering each point to its neighbours' mean until nothing changes converges to the
    # greatest convex minorant (every iterate stays above it); a few hundred cheap passes.
    value = specific.copy()
    spacing = np.diff(levels)
    weight = spacing[1:] / (spacing[:-1] + spacing[1:])  # linear interpolation weights
    for _ in range(levels.size**2):
        interior = weight * value[:, :-2] + (1.0 - weight) * value[:, 2:]
        changed = interior < value[:, 1:-1] - 1e-12
        if not changed.any():
            break
        value[:, 1:-1] = np.where(changed, interior, value[:, 1:-1])
    slope = np.diff(value, axis=1) / np.diff(levels)
    slope = np.concatenate([slope, slope[:, -1:]], axis=1)
    return levels, value, slope


def linearize(
    facility: Facility,
    series: xr.Dataset,
    schedule: Schedule,
    base: xr.Dataset | None = None,
    axis: PlanningAxis | None = None,
) -> Linearization:
    """Coefficients of the planning model at the operating point ``schedule``.

    Parameters
    ----------
    facility
        Compiled facility.
    series
        Exogenous series on the fine (regular) axis of the look-ahead.
    schedule
        Operating point (the as-operated baseline, or the previous plan) on that axis.
    base
        ``simulate(facility, schedule, series)`` if already computed (per-rack output needed).
    axis
        Periods of the plan over the series' steps (default: every step its own period).

    Returns
    -------
    Linearization
        Per period of ``axis``.
    """
    if axis is None:
        axis = planning_axis(series["time"].values, fine_hours=np.inf)
    fine = _fine_linearization(facility, series, schedule, base)
    return fine if axis.is_fine else _by_period(fine, axis)


def _fine_linearization(
    facility: Facility,
    series: xr.Dataset,
    schedule: Schedule,
    base: xr.Dataset | None,
) -> Linearization:
    """:func:`linearize` on the fine steps (every step its own period)."""
    if base is None or "inlet_temperature" not in base:
        base = simulate(facility, schedule, series)
    racks, work = facility.racks, facility.workloads
    steps = series.sizes["time"]
    step_hours = np.full(steps, float(base.attrs["step_seconds"]) / SECONDS_PER_HOUR)

    # rack-level marginal air heat per W of compute: air share + in-rack loss fraction
    chain = base["converter_loss"] + base["busbar_loss"] + base["rectifier_loss"]
    loss_fraction = float((chain / base["it_power"]).mean())
    alpha = (1.0 - racks.liquid_share) + loss_fraction  # (R,)
    share_t = work.share.T.toarray()  # (R, J)
    air_per_work = alpha[:, np.newaxis] * share_t
    inlet_base, inlet_supply, inlet_work, coil_work, cdu_work = _thermal_coefficients(
        facility, schedule, base, air_per_work, share_t
    )
    feed_base, feed_work = _feed_coefficients(facility, base, share_t)
    busbar_base, busbar_work, busbar_capacity = _busbar_coefficients(
        facility, base, share_t, loss_fraction
    )

    mu, kappa, bumped = _finite_difference(facility, schedule, series, base)
    wet_bulb = base["wet_bulb_temperature"].values
    plant_load = base["plant_load"].values / KW
    ceiling = chilled_water_ceiling(facility, wet_bulb)
    levels, value, slope = _plant_envelope(facility, plant_load, wet_bulb, ceiling)

    tier2 = np.zeros((steps, work.count))
    for j in np.flatnonzero(work.tier == 2):
        tier2[:, j] = schedule.workload_power[:, j] / KW
    price, carbon, pv, dr_cap = _market_series(facility, series)
    dr_terms = {
        name: (
            series[name].values / (KW if name in ("dr_soft_cap", "dr_baseline") else 1.0)
            if name in series
            else np.full(steps, np.nan)
        )
        for name in ("dr_soft_cap", "dr_penalty", "dr_credit", "dr_baseline")
    }
    effective = price + facility.grid.carbon_price * carbon  # currency/kWh
    facility_per_it = float(base["facility_power"].sum() / base["it_power"].sum())
    return Linearization(
        steps=steps,
        step_hours=step_hours,
        time=series["time"].values,
        flexible=np.flatnonzero(work.tier >= 2),
        p0=schedule.workload_power / KW,
        s0=schedule.supply_temperature,
        c0=schedule.chilled_water_temperature,
        inlet_base=inlet_base,
        inlet_supply=inlet_supply,
        inlet_work=inlet_work,
        inlet_limit=np.full(racks.count, facility.inlet_limit),
        it_chain_base=base["ups_input"].sum("ups").values / KW,
        it_chain_slope=mu,
        plant_heat_base=plant_load,
        plant_heat_slope=kappa,
        envelope_levels=levels,
        envelope_value=value,
        envelope_slope=slope,
        fixed_cooling=(
            base["crah_fan_power"].sum("unit") + base["cdu_pump_power"].sum("cdu")
        ).values
        / KW,
        feed_base=feed_base,
        feed_work=feed_work,
        busbar_base=busbar_base,
        busbar_work=busbar_work,
        busbar_capacity=busbar_capacity,
        coil_base=base["crah_cooling_load"].values.T / KW,
        coil_work=coil_work,
        cdu_base=base["cdu_load"].values.T / KW,
        cdu_work=cdu_work,
        pv=pv,
        price=price,
        carbon=carbon,
        dr_cap=dr_cap,
        **dr_terms,
        tier2_profile=tier2,
        wet_bulb=wet_bulb,
        chilled_ceiling=ceiling,
        deferred_energy_price=float(np.mean(effective)) * facility_per_it,
        axis=planning_axis(series["time"].values, fine_hours=np.inf),
        peak_excess=np.zeros(steps),
        grid_base=base["grid_power"].values / KW,
        liquid=liquid_coefficients(facility, base, bumped, share_t, cdu_work),
    )


_PERIOD_MAX = ("inlet_base", "coil_base", "cdu_base", "busbar_base")
"""Per-equipment loads ``(·, T)`` that meet a limit: the period's worst fine step."""


def _by_period(fine: Linearization, axis: PlanningAxis) -> Linearization:
    """The fine linearization reduced to the periods of ``axis`` (see :class:`Linearization`).

    Limits see the worst fine step of a period, energy and money the mean; a DR cap the
    lowest cap of the period's event steps; the peak the mean import plus the operating
    point's excess of its highest fine step over the mean (``peak_excess``).
    """

    def mean(values: np.ndarray, time_axis: int = 0) -> FloatArray:
        return axis.reduce(values, "mean", time_axis)

    changes: dict[str, object] = {
        name: axis.reduce(getattr(fine, name), "max", 1) for name in _PERIOD_MAX
    }
    for name in (
        "p0", "s0", "c0", "it_chain_base", "it_chain_slope", "plant_heat_base",
        "plant_heat_slope", "envelope_value", "envelope_slope", "fixed_cooling", "pv", "price",
        "carbon", "tier2_profile", "wet_bulb", "grid_base",
    ):  # fmt: skip
        changes[name] = mean(getattr(fine, name))
    changes["feed_base"] = axis.reduce(fine.feed_base, "max", 0)
    changes["dr_cap"] = axis.reduce(fine.dr_cap, "min", 0)
    changes["chilled_ceiling"] = axis.reduce(fine.chilled_ceiling, "min", 0)
    changes["dr_soft_cap"] = axis.reduce(fine.dr_soft_cap, "min", 0)
    changes["dr_penalty"] = axis.reduce(fine.dr_penalty, "max", 0)
    changes["dr_credit"] = axis.reduce(fine.dr_credit, "min", 0)
    changes["dr_baseline"] = axis.reduce(fine.dr_baseline, "min", 0)
    changes["peak_excess"] = axis.reduce(fine.grid_base, "max", 0) - mean(fine.grid_base)
    changes["liquid"] = liquid_by_period(fine.liquid, axis)
    return dataclasses.replace(
        fine,
        steps=axis.periods,
        step_hours=axis.period_hours,
        time=axis.start,
        axis=axis,
        **changes,  # type: ignore[arg-type]
    )


def _thermal_coefficients(
    facility: Facility,
    schedule: Schedule,
    base: xr.Dataset,
    air_per_work: FloatArray,
    share_t: FloatArray,
) -> tuple[FloatArray, sp.csr_matrix, FloatArray, FloatArray, FloatArray]:
    """``inlet_base``, ``inlet_supply``, ``inlet_work``, ``coil_work`` and ``cdu_work``.

    ``air_per_work`` is each rack's air heat per W of each workload [-], (R, J); ``share_t``
    each rack's share of each workload's power [-], (R, J).
    """
    racks, air_path = facility.racks, facility.air_path
    n_racks, n_units = racks.count, facility.units.count
    inlet_work = air_path.solve(air_path.recirculation_transpose @ air_per_work) * KW  # K per kW
    unit_indicator = sp.csr_matrix(
        (np.ones(n_racks), (np.arange(n_racks), racks.unit)), shape=(n_racks, n_units)
    )
    mixing = air_path.solve((sp.diags(air_path.supply_capacity_flow) @ unit_indicator).toarray())
    mixing[np.abs(mixing) < 1e-12] = 0.0
    inlet_supply = sp.csr_matrix(mixing)
    inlet0 = base["inlet_temperature"].values.T  # (R, T)
    inlet_base = inlet0 - inlet_supply @ schedule.supply_temperature.T

    unit_rack = unit_indicator.T.toarray()  # (U, R)
    cdu_rack = np.zeros((facility.cdus.count, n_racks))
    has_cdu = racks.cdu >= 0
    cdu_rack[racks.cdu[has_cdu], np.flatnonzero(has_cdu)] = 1.0
    coil_work = unit_rack @ air_per_work
    cdu_work = cdu_rack @ (racks.liquid_share[:, np.newaxis] * share_t)
    return inlet_base, inlet_supply, inlet_work, coil_work, cdu_work


def _feed_coefficients(
    facility: Facility, base: xr.Dataset, share_t: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """``feed_base`` and ``feed_work``: UPS input per feed (cooling excluded: it is a
    decision-dependent term) and its change per kW of each workload."""
    racks = facility.racks
    n_racks = racks.count
    feed_of_ups = np.zeros((len(facility.feeds.ids), len(facility.ups.ids)))
    feed_of_ups[facility.ups.feed, np.arange(len(facility.ups.ids))] = 1.0
    feed_base = base["ups_input"].values @ feed_of_ups.T / KW  # (T, F)
    ups_of_rack = facility.busbars.ups[racks.busbar]
    feed_of_rack = facility.ups.feed[ups_of_rack]
    feed_rack = np.zeros((len(facility.feeds.ids), n_racks))
    feed_rack[feed_of_rack, np.arange(n_racks)] = 1.0
    feed_work = feed_rack @ share_t  # (F, J)
    return feed_base, feed_work


def _busbar_coefficients(
    facility: Facility, base: xr.Dataset, share_t: FloatArray, loss_fraction: float
) -> tuple[FloatArray, sp.csr_matrix, FloatArray]:
    """``busbar_base``, ``busbar_work`` and ``busbar_capacity`` (the least of the shelves'
    N+k capacity, ampacity times voltage and the undervoltage limit)."""
    racks, bus = facility.racks, facility.busbars
    n_racks = racks.count
    busbar_rack = sp.csr_matrix(
        (np.ones(n_racks), (racks.busbar, np.arange(n_racks))), shape=(bus.count, n_racks)
    )
    busbar_work = sp.csr_matrix(busbar_rack @ (share_t * (1.0 + loss_fraction)))
    busbar_base = base["shelf_output"].values.T / KW
    # undervoltage: the drop grows about linearly with power, so the power at which the
    # lowest tap reaches its limit is the operating power scaled by the allowed drop
    drop = bus.nominal_voltage[:, np.newaxis] - base["busbar_min_voltage"].values.T
    allowed = (bus.nominal_voltage - bus.undervoltage_limit)[:, np.newaxis]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv_power = np.nanmin(np.where(drop > 1e-9, busbar_base * allowed / drop, np.inf), axis=1)
    busbar_capacity = np.minimum.reduce(
        [bus.shelf_capacity / KW, bus.ampacity * bus.nominal_voltage / KW, uv_power]
    )
    return busbar_base, busbar_work, busbar_capacity


def _market_series(
    facility: Facility, series: xr.Dataset
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """``price`` [currency/kWh], ``carbon`` [kg/kWh], ``pv`` [kW] and ``dr_cap`` [kW] per step."""
    steps = series.sizes["time"]
    price = series["price"].values / 1e3  # USD/MWh → USD/kWh
    carbon = series["carbon_intensity"].values / 1e3  # g/kWh → kg/kWh
    pv = np.zeros(steps)
    if facility.pv_peak > 0:
        pv = facility.pv_peak * np.clip(series["pv_capacity_factor"].values, 0, 1) / KW
    dr = (
        series["dr_import_cap"].values / KW if "dr_import_cap" in series else np.full(steps, np.nan)
    )
    return price, carbon, pv, dr
