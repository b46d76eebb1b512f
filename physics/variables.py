"""The one registry of named quantities: name, CF/UDUNITS unit, long name, description.

It feeds the CF attributes of every xarray variable dctwin writes, the API schema and the UI
axis labels, so a quantity is named and united in exactly one place.  Names are full words
from one glossary (``supply_temperature``), never unit-suffixed.

``resample`` says how a series is brought to a finer or coarser simulation step:
``"hold"`` (piecewise constant over its interval: prices, carbon intensity, event flags),
``"interpolate"`` (linear in time: weather), ``"mean"`` (interval averages: loads).

Sections: exogenous series; the per-rack, cooling and power-chain state of
:func:`physics.simulate.simulate` and its facility-level extremes and indices; the estimated
state of the live twin; the figures of a plan and of one sweep point.  The plan and sweep
figures keep the names the sweep store has always used, some with a unit suffix
(``peak_grid_kw``); their unit ``currency`` stands for the scenario's currency code, put in
where the figure is written.  Units are UDUNITS strings; :func:`unit_symbol` gives the
symbol messages print.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import xarray as xr

Resample = Literal["hold", "interpolate", "mean"]


@dataclass(frozen=True)
class Variable:
    """One registered quantity."""

    name: str
    units: str
    long_name: str
    description: str = ""
    resample: Resample = "mean"

    @property
    def attrs(self) -> dict[str, str]:
        """CF attributes for an xarray variable of this quantity."""
        attrs = {"units": self.units, "long_name": self.long_name}
        if self.description:
            attrs["description"] = self.description
        return attrs

    @property
    def label(self) -> str:
        """Axis label, e.g. ``"Rack inlet temperature [degC]"``."""
        return f"{self.long_name} [{self.units}]"


def _v(
    name: str, units: str, long_name: str, description: str = "", resample: Resample = "mean"
) -> Variable:
    return Variable(name, units, long_name, description, resample)


_ALL: tuple[Variable, ...] = (
    # --- exogenous series -------------------------------------------------------------------
    _v("price", "USD MWh-1", "Electricity price", "Wholesale energy price.", "hold"),
    _v(
        "carbon_intensity",
        "g kW-1 h-1",
        "Grid carbon intensity",
        "Direct grid emissions in g CO2e per kWh imported.",
        "hold",
    ),
    _v("outdoor_temperature", "degC", "Outdoor dry-bulb temperature", resample="interpolate"),
    _v("relative_humidity", "%", "Outdoor relative humidity", resample="interpolate"),
    _v("wet_bulb_temperature", "degC", "Outdoor wet-bulb temperature", resample="interpolate"),
    _v("cloud_cover", "%", "Total cloud cover", resample="interpolate"),
    _v("wind_speed", "m s-1", "Wind speed at 10 m", resample="interpolate"),
    _v(
        "global_horizontal_irradiance",
        "W m-2",
        "Global horizontal irradiance",
        resample="interpolate",
    ),
    _v("cpu_load", "1", "Normalized cluster CPU load", "Fraction of capacity, 0..1."),
    _v(
        "pv_capacity_factor",
        "1",
        "PV capacity factor",
        "PV AC output divided by its peak rating, 0..1.",
        resample="interpolate",
    ),
    _v(
        "dr_import_cap",
        "W",
        "Demand-response import cap",
        "Grid import limit during a demand-response event; NaN outside events.",
        "hold",
    ),
    _v(
        "dr_soft_cap",
        "W",
        "Demand-response priced cap",
        "Grid import above which a demand-response penalty is billed; NaN outside events.",
        "hold",
    ),
    _v(
        "dr_penalty",
        "currency kWh-1",
        "Demand-response penalty",
        "Price of each kWh imported above the priced cap during an event; NaN outside events.",
        "hold",
    ),
    _v(
        "dr_credit",
        "currency kWh-1",
        "Demand-response credit",
        "Payment for each kWh imported below the baseline during an event; NaN outside events.",
        "hold",
    ),
    _v(
        "dr_baseline",
        "W",
        "Demand-response baseline load",
        "Customer baseline load a demand-response credit is measured against; NaN outside events.",
        "hold",
    ),
    # --- per-rack state -----------------------------------------------------------------------
    _v("rack_power", "W", "Rack IT power", "Electrical power consumed by the rack's IT load."),
    _v("rack_utilization", "1", "Rack utilization", "Fraction of the rack's dynamic power."),
    _v("server_fan_power", "W", "Server fan power", "Part of rack power drawn by server fans."),
    _v("rack_air_heat", "W", "Rack heat to air"),
    _v("rack_liquid_heat", "W", "Rack heat to liquid", "Heat removed by direct-to-chip cooling."),
    _v("inlet_temperature", "degC", "Rack inlet temperature"),
    _v("outlet_temperature", "degC", "Rack outlet temperature"),
    _v("inlet_limit_margin", "K", "Margin to inlet limit", "Class limit minus inlet temperature."),
    _v("tap_voltage", "V", "Busbar tap voltage", "Lowest 48 V busbar voltage seen by the rack."),
    _v("bbu_ride_through", "s", "BBU ride-through time", "Rack battery backup time at load."),
    _v("liquid_share", "1", "Share of heat to liquid", "Design share of the rack's heat."),
    # --- facility-level extremes and indices over the racks -----------------------------------
    _v("rack_overcommit", "1", "Largest rack overcommitment", "Utilization requested above 1."),
    _v("max_inlet_temperature", "degC", "Hottest rack inlet temperature"),
    _v("mean_inlet_temperature", "degC", "Mean rack inlet temperature"),
    _v("inlet_violation_count", "1", "Racks above the inlet limit"),
    _v("min_tap_voltage", "V", "Lowest busbar tap voltage"),
    _v("rci_hi", "%", "Rack Cooling Index (high side)"),
    _v("rci_lo", "%", "Rack Cooling Index (low side)"),
    _v("shi", "1", "Supply Heat Index"),
    _v("min_bbu_ride_through", "s", "Shortest rack BBU ride-through"),
    # --- cooling ------------------------------------------------------------------------------
    _v("supply_temperature", "degC", "Supply air temperature", "Cooling-unit supply setpoint."),
    _v("chilled_water_temperature", "degC", "Chilled water supply temperature"),
    _v("crah_airflow", "m3 s-1", "Cooling-unit airflow"),
    _v("crah_airflow_demand", "m3 s-1", "Cooling-unit airflow demanded by its racks"),
    _v("crah_fan_power", "W", "Cooling-unit fan power"),
    _v("crah_cooling_load", "W", "Cooling-unit coil load"),
    _v("cdu_load", "W", "CDU heat load"),
    _v("cdu_supply_temperature", "degC", "CDU coolant supply temperature"),
    _v("cdu_return_temperature", "degC", "CDU coolant return temperature"),
    _v("cdu_pump_power", "W", "CDU pump power"),
    _v("cdu_facility_supply_temperature", "degC", "CDU facility water supply temperature"),
    _v("cdu_facility_return_temperature", "degC", "CDU facility water return temperature"),
    _v("cdu_flow", "m3 s-1", "CDU coolant flow", "IT-side (TCS) flow the pumps deliver."),
    _v("cdu_flow_demand", "m3 s-1", "CDU coolant flow demanded", "Sum of its racks' flows."),
    _v("cdu_facility_flow", "m3 s-1", "CDU facility water flow", "Through its exchanger."),
    _v("case_temperature", "degC", "Cold-plate case temperature", "Hottest device of the rack."),
    _v("max_case_temperature", "degC", "Hottest cold-plate case temperature"),
    _v("min_case_margin", "K", "Smallest case temperature margin", "Limit minus case."),
    _v("facility_loop_supply_temperature", "degC", "Facility loop supply temperature"),
    _v("facility_loop_return_temperature", "degC", "Facility loop return temperature"),
    _v("facility_loop_flow", "m3 s-1", "Facility loop flow"),
    _v("facility_loop_heat", "W", "Facility loop heat load", "CDU heat and pump heat."),
    _v("dry_cooler_fan_power", "W", "Dry cooler fan power"),
    _v("dry_cooler_heat", "W", "Heat rejected by dry coolers"),
    _v("facility_loop_tower_fan_power", "W", "Facility loop tower fan power"),
    _v("facility_loop_tower_heat", "W", "Heat rejected by facility loop towers"),
    _v("trim_chiller_power", "W", "Trim chiller electric power"),
    _v("trim_chiller_load", "W", "Trim chiller load"),
    _v("facility_loop_pump_power", "W", "Facility loop pump power"),
    _v("facility_loop_power", "W", "Facility loop power", "Fans, trim chillers and pumps."),
    _v("plant_load", "W", "Chiller plant load"),
    _v("plant_unmet_load", "W", "Chiller plant unmet load"),
    _v("chiller_power", "W", "Chiller electric power"),
    _v("chillers_running", "1", "Chillers running"),
    _v("tower_fan_power", "W", "Cooling tower fan power"),
    _v("plant_pump_power", "W", "Plant pump power"),
    _v("economizer_fraction", "1", "Economizer fraction", "Share of plant load cooled free."),
    _v("cooling_power", "W", "Cooling power", "All electric power drawn by cooling."),
    # --- power chain --------------------------------------------------------------------------
    _v("it_power", "W", "IT power"),
    _v("converter_loss", "W", "Converter loss", "Intermediate bus converter (48->12 V) loss."),
    _v("busbar_loss", "W", "Busbar loss", "I²R loss in 48 V busbars."),
    _v("busbar_min_voltage", "V", "Lowest busbar voltage"),
    _v("busbar_current", "A", "Busbar source current"),
    _v("busbar_collapsed", "1", "Busbar voltage collapse", "1 where no load-flow solution exists."),
    _v("rectifier_loss", "W", "Rectifier loss", "Power shelf (AC->48 V) loss."),
    _v("rectifiers_active", "1", "Rectifiers active"),
    _v("shelf_output", "W", "Power shelf output"),
    _v("shelf_overloaded", "1", "Power shelf overloaded", "1 above the N+k capacity."),
    _v("ups_output", "W", "Transformer/UPS output"),
    _v("ups_input", "W", "Transformer/UPS input"),
    _v("ups_loss", "W", "Transformer/UPS loss"),
    _v("power_chain_loss", "W", "Power chain loss", "All conversion and distribution losses."),
    _v("feed_power", "W", "Utility feed power"),
    _v("facility_power", "W", "Facility power", "IT + cooling + losses before the battery/PV."),
    _v("pv_power", "W", "PV power"),
    _v("pv_curtailed", "W", "PV power curtailed"),
    _v("battery_power", "W", "Battery power", "Positive when charging, negative discharging."),
    _v("battery_clipped", "1", "Battery request clipped", "1 where the requested power was cut."),
    _v("battery_soc", "1", "Battery state of charge", "Stored energy / usable capacity, 0..1."),
    _v("grid_power", "W", "Grid import"),
    _v("pue", "1", "Power usage effectiveness"),
    _v("workload_power", "W", "Workload power", "IT power given to a workload above idle."),
    # --- estimated state of the live twin (twin.live.estimation) ------------------------------
    _v("inlet_temperature_std", "K", "Rack inlet temperature standard deviation"),
    _v("predicted_inlet_temperature", "degC", "Predicted rack inlet temperature"),
    _v("inlet_measured", "1", "Rack inlet measured"),
    _v("inlet_exceedance_probability", "1", "Probability of inlet above limit"),
    _v("battery_soc_std", "1", "Battery state of charge standard deviation"),
    _v("workload_energy", "kW h", "Workload energy delivered"),
    _v("workload_progress", "1", "Workload progress", "Tier 3 only."),
    # --- figures of a plan and of one sweep point (twin.studies.sweep) ------------------------
    _v("cost", "currency", "Total cost of the verified plan"),
    _v("energy_cost", "currency", "Energy cost"),
    _v("demand_charge", "currency", "Demand charge on the peak import"),
    _v("carbon_cost", "currency", "Carbon price times emissions"),
    _v("battery_wear_cost", "currency", "Battery wear cost"),
    _v("lateness_cost", "currency", "Tier-3 lateness penalty"),
    _v("unserved_cost", "currency", "Tier-3 unserved-energy penalty"),
    _v("deferred_cost", "currency", "Value of tier-3 energy deferred past the horizon"),
    _v("carbon_kg", "kg", "Emissions (CO2e)"),
    _v("peak_grid_kw", "kW", "Peak grid import"),
    _v("grid_energy_kwh", "kW h", "Grid energy imported"),
    _v("it_energy_kwh", "kW h", "IT energy"),
    _v("cooling_energy_kwh", "kW h", "Cooling energy"),
    _v("max_inlet_temperature_c", "degC", "Hottest rack inlet temperature"),
    _v("power_chain_loss_kwh", "kW h", "Power-chain losses (UPS, rectifiers, busbar, IBC)"),
    _v("other_energy_kwh", "kW h", "Facility energy neither IT, cooling nor power chain"),
    _v("facility_energy_kwh", "kW h", "Facility energy"),
    _v("as_operated_violations", "1", "Limits broken, as-operated baseline"),
    _v("rule_based_violations", "1", "Limits broken, rule-based baseline"),
    _v("as_operated_power_chain_loss_kwh", "kW h", "Power-chain losses, as-operated baseline"),
    _v("verified", "1", "Plan re-simulated without any broken limit (1) or not (0)"),
    _v("violations", "1", "Limits broken by the released plan"),
    _v("rounds", "1", "Verify-and-resolve rounds"),
    _v("gap", "1", "Relative MIP gap of the released plan"),
    _v("sla_tier1", "1", "Tier-1 SLA attainment (share of steps at full demand)"),
    _v("sla_tier2", "1", "Tier-2 SLA attainment (share of steps within the delay limit)"),
    _v("sla_tier3", "1", "Tier-3 SLA attainment (share of job energy deliverable on time)"),
    _v("gpu_hours", "h", "Provisioned GPU-hours over the look-ahead"),
    _v("gpu_busy_hours", "h", "Utilization-weighted GPU-hours of the plan"),
    _v("contract_capacity_kw", "kW", "Contracted grid import limit"),
    _v("dr_hours", "h", "Demand-response event time inside the horizon"),
    _v("dr_max_excess_kw", "kW", "Worst import above the DR cap, plan (<= 0: met)"),
    _v(
        "as_operated_dr_max_excess_kw",
        "kW",
        "Worst import above the DR cap, as-operated (<= 0: met)",
    ),
    _v("dr_shed_kw", "kW", "Mean import reduction vs as-operated during DR events"),
    _v("solve_seconds", "s", "Planner time (linearize, build, solve, verify)"),
    _v(
        "committed_hours",
        "h",
        "Committed period of the plan",
        "The point's window: the decisions of this period are the plan's to apply.",
    ),
    _v(
        "lookahead_hours",
        "h",
        "Look-ahead of the plan",
        "Every figure of a sweep point covers the look-ahead: the committed period stretched "
        "to the deadlines of the jobs active in it, so plan and baselines do equal work.",
    ),
    _v(
        "deferred_kwh",
        "kWh",
        "Tier-3 energy left for after the look-ahead",
        "Work whose deadline lies beyond the look-ahead cap, valued at the deferred price.",
    ),
    _v("elapsed_seconds", "s", "Wall time of the whole point"),
    _v("computed_at", "1", "When the point finished (ISO 8601, UTC)"),
    _v("status", "1", "Plan status or 'error'"),
    _v(
        "plan_source",
        "1",
        "Schedule the plan returned: co_plan, rule_based (verified cheaper) or as_operated",
    ),
    _v("error", "1", "Error message of a failed point"),
    _v("worker", "1", "Host and process that computed the point"),
    _v("run_id", "1", "Identifier of the sweep run that computed the point"),
)

VARIABLES: dict[str, Variable] = {v.name: v for v in _ALL}

UNIT_SYMBOLS: dict[str, str] = {"degC": "°C", "m3 s-1": "m³/s", "L min-1": "L/min", "1": ""}
"""UDUNITS unit → the symbol messages print, where the two differ (dimensionless: nothing)."""


def unit_symbol(units: str) -> str:
    """The symbol a message prints for a UDUNITS unit.

    Parameters
    ----------
    units
        UDUNITS unit string, e.g. ``"degC"``.

    Returns
    -------
    str
        ``"°C"`` for ``"degC"``, ``"m³/s"`` for ``"m3 s-1"``, ``"L/min"`` for ``"L min-1"``,
        ``""`` for ``"1"``; other units
        as given (``"kW"``, ``"V"``, ``"A"``).
    """
    return UNIT_SYMBOLS.get(units, units)


def variable(name: str) -> Variable:
    """Look up a registered variable; raises ``KeyError`` naming the known ones."""
    try:
        return VARIABLES[name]
    except KeyError:
        raise KeyError(f"unknown variable {name!r}; registered: {sorted(VARIABLES)}") from None


def annotate(ds: xr.Dataset, names: Iterable[str] | None = None) -> xr.Dataset:
    """Set CF ``units``/``long_name`` attrs from the registry on ``ds`` variables (in place).

    Variables not in the registry are left alone unless listed in ``names`` (then ``KeyError``).
    Returns ``ds`` for chaining.
    """
    targets = list(ds.data_vars) if names is None else list(names)
    # the variables' own attrs (``ds[name]`` would build a DataArray around each: ~2 ms of a
    # 30 ms simulation of 1,000 racks, and a plan simulates ~15 times)
    variables = ds.variables
    for name in targets:
        if names is None and name not in VARIABLES:
            continue
        variables[name].attrs.update(variable(str(name)).attrs)
    return ds


def selection(names: str | Collection[str], known: Iterable[str], argument: str) -> frozenset[str]:
    """Names chosen from ``known``, checked.

    Parameters
    ----------
    names
        One name or a collection of names [-].
    known
        The names that may be chosen [-].
    argument
        Name of the caller's argument, for the error message [-].

    Returns
    -------
    frozenset of str
        The chosen names.

    Raises
    ------
    ValueError
        If a name is not in ``known``.
    """
    chosen = frozenset([names] if isinstance(names, str) else names)
    unknown = sorted(chosen.difference(known))
    if unknown:
        raise ValueError(f"{argument}: unknown names {unknown}; choose from {sorted(known)}")
    return chosen


def kept(values: dict[str, Any], names: frozenset[str] | None) -> dict[str, Any]:
    """``values`` without the per-equipment arrays that ``names`` does not name.

    Parameters
    ----------
    values
        Arrays by variable name: (T,) per step, (T, N) per equipment and step [SI units].
    names
        The per-equipment variables to keep; None keeps everything [-].

    Returns
    -------
    dict
        The arrays kept (the same objects, not copies).
    """
    if names is None:
        return values
    return {name: part for name, part in values.items() if name in names or np.ndim(part) < 2}
