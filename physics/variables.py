"""The one registry of named quantities: name, CF/UDUNITS unit, long name, description.

It feeds the CF attributes of every xarray variable dctwin writes, the API schema and the UI
axis labels, so a quantity is named and united in exactly one place.  Names are full words
from one glossary (``supply_temperature``), never unit-suffixed.

``resample`` says how a series is brought to a finer or coarser simulation step:
``"hold"`` (piecewise constant over its interval: prices, carbon intensity, event flags),
``"interpolate"`` (linear in time: weather), ``"mean"`` (interval averages: loads).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

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
    # --- cooling ------------------------------------------------------------------------------
    _v("supply_temperature", "degC", "Supply air temperature", "Cooling-unit supply setpoint."),
    _v("chilled_water_temperature", "degC", "Chilled water supply temperature"),
    _v("crah_airflow", "m3 s-1", "Cooling-unit airflow"),
    _v("crah_fan_power", "W", "Cooling-unit fan power"),
    _v("crah_cooling_load", "W", "Cooling-unit coil load"),
    _v("cdu_load", "W", "CDU heat load"),
    _v("cdu_supply_temperature", "degC", "CDU coolant supply temperature"),
    _v("cdu_return_temperature", "degC", "CDU coolant return temperature"),
    _v("cdu_pump_power", "W", "CDU pump power"),
    _v("plant_load", "W", "Chiller plant load"),
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
    _v("rectifier_loss", "W", "Rectifier loss", "Power shelf (AC->48 V) loss."),
    _v("rectifiers_active", "1", "Rectifiers active"),
    _v("ups_loss", "W", "Transformer/UPS loss"),
    _v("power_chain_loss", "W", "Power chain loss", "All conversion and distribution losses."),
    _v("feed_power", "W", "Utility feed power"),
    _v("facility_power", "W", "Facility power", "IT + cooling + losses before the battery/PV."),
    _v("pv_power", "W", "PV power"),
    _v("battery_power", "W", "Battery power", "Positive when charging, negative discharging."),
    _v("battery_soc", "1", "Battery state of charge", "Stored energy / usable capacity, 0..1."),
    _v("grid_power", "W", "Grid import"),
    _v("pue", "1", "Power usage effectiveness"),
    _v("workload_power", "W", "Workload power", "IT power given to a workload above idle."),
)

VARIABLES: dict[str, Variable] = {v.name: v for v in _ALL}


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
    for name in targets:
        if names is None and name not in VARIABLES:
            continue
        ds[name].attrs.update(variable(str(name)).attrs)
    return ds
