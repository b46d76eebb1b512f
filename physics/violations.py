"""Limits checked on a simulation result, reported in physical terms.

Each :class:`Violation` names the limit, the equipment, when, and by how much, e.g.
``"inlet temperature above 27 °C limit: rack B07, 2026-07-07 14:00–16:00 UTC (8 steps), worst
28.4 °C"``.  The co-planner uses the same list to verify plans.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from numpy.typing import NDArray

from physics.facility import Facility

MAX_NAMED = 5
"""Equipment named one by one in a message before the rest are counted."""


@dataclass(frozen=True)
class Violation:
    """One limit broken by some equipment over some steps."""

    kind: str
    """Short machine-readable name, e.g. ``"inlet_temperature"``."""
    equipment: list[str]
    """Ids of the equipment concerned."""
    first: str
    """First step concerned, ISO 8601 UTC."""
    last: str
    """Last step concerned, ISO 8601 UTC."""
    steps: int
    """Equipment-steps in violation [-]."""
    worst: float
    """Worst value reached (in ``unit``)."""
    limit: float
    """Limit (in ``unit``)."""
    unit: str
    message: str


def _iso(value: np.datetime64) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")


def _check(
    kind: str,
    description: str,
    time: NDArray[np.datetime64],
    names: Sequence[str],
    values: NDArray[np.float64],
    limit: NDArray[np.float64] | float,
    unit: str,
    above: bool = True,
) -> Violation | None:
    """Flag ``values`` (T, N) beyond ``limit`` (broadcast to (T, N))."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, np.newaxis]
    lim = np.broadcast_to(np.asarray(limit, dtype=float), values.shape)
    tolerance = 1e-6 * np.maximum(np.abs(lim), 1.0)
    with np.errstate(invalid="ignore"):
        bad = values > lim + tolerance if above else values < lim - tolerance
    bad &= np.isfinite(lim)
    if not bad.any():
        return None
    rows, cols = np.nonzero(bad)
    which = sorted({int(c) for c in cols})
    excess = np.where(bad, (values - lim) if above else (lim - values), -np.inf)
    worst_index = np.unravel_index(int(np.argmax(excess)), excess.shape)
    worst = float(values[worst_index])
    worst_limit = float(lim[worst_index])
    listed = [names[i] for i in which[:MAX_NAMED]]
    who = ", ".join(listed)
    if len(which) > MAX_NAMED:
        who += f" and {len(which) - MAX_NAMED} more"
    first, last = time[rows.min()], time[rows.max()]
    message = (
        f"{description} {'above' if above else 'below'} {worst_limit:.4g} {unit}: {who}; "
        f"{_iso(first)}–{_iso(last)} UTC ({int(bad.sum())} steps), worst {worst:.4g} {unit}"
    )
    return Violation(
        kind=kind,
        equipment=[names[i] for i in which],
        first=_iso(first),
        last=_iso(last),
        steps=int(bad.sum()),
        worst=worst,
        limit=worst_limit,
        unit=unit,
        message=message,
    )


def find_violations(facility: Facility, ds: xr.Dataset) -> list[Violation]:
    """Every limit broken in a :func:`physics.simulate.simulate` result.

    Checked: rack inlet temperature (class limit), busbar tap undervoltage and voltage
    collapse, busbar ampacity, power shelf N+k capacity, UPS rating, feed capacity, grid
    contract, demand-response caps, cooling-unit airflow and coil capacity, coil approach
    (chilled water too warm for the supply setpoint), setpoint bounds, CDU capacity and coolant
    supply limit, facility water vs liquid class, chiller plant unmet load, rack
    overcommitment.

    Parameters
    ----------
    facility
        The facility simulated.
    ds
        The simulation result.

    Returns
    -------
    list of Violation
        Empty when every limit holds.
    """
    time = ds["time"].values
    units, cdus, bus = facility.units, facility.cdus, facility.busbars
    found: list[Violation | None] = []
    if "inlet_temperature" in ds:
        found.append(
            _check(
                "inlet_temperature",
                "rack inlet temperature",
                time,
                facility.racks.ids,
                ds["inlet_temperature"].values,
                facility.inlet_limit,
                "°C",
            )
        )
    else:
        found.append(
            _check(
                "inlet_temperature",
                "hottest rack inlet temperature",
                time,
                ["(hottest rack)"],
                ds["max_inlet_temperature"].values,
                facility.inlet_limit,
                "°C",
            )
        )
    found.append(
        _check(
            "undervoltage",
            "busbar voltage",
            time,
            bus.ids,
            ds["busbar_min_voltage"].values,
            bus.undervoltage_limit,
            "V",
            above=False,
        )
    )
    collapsed = ds["busbar_collapsed"].values.astype(float)
    found.append(
        _check("voltage_collapse", "busbar voltage collapse", time, bus.ids, collapsed, 0.5, "")
    )
    found.append(
        _check(
            "busbar_current",
            "busbar current",
            time,
            bus.ids,
            ds["busbar_current"].values,
            bus.ampacity,
            "A",
        )
    )
    found.append(
        _check(
            "shelf_capacity",
            "power shelf output (N+k capacity)",
            time,
            bus.ids,
            ds["shelf_output"].values / 1e3,
            bus.shelf_capacity / 1e3,
            "kW",
        )
    )
    found.append(
        _check(
            "ups_rating",
            "UPS output",
            time,
            facility.ups.ids,
            ds["ups_output"].values / 1e3,
            facility.ups.rating / 1e3,
            "kW",
        )
    )
    found.append(
        _check(
            "feed_capacity",
            "feed power",
            time,
            facility.feeds.ids,
            ds["feed_power"].values / 1e3,
            facility.feeds.capacity / 1e3,
            "kW",
        )
    )
    grid_kw = ds["grid_power"].values / 1e3
    found.append(
        _check(
            "contract_capacity",
            "grid import (contract)",
            time,
            ["grid"],
            grid_kw,
            facility.grid.contract_capacity / 1e3,
            "kW",
        )
    )
    if "dr_import_cap" in ds:
        found.append(
            _check(
                "demand_response",
                "grid import during demand response",
                time,
                ["grid"],
                grid_kw,
                ds["dr_import_cap"].values[:, np.newaxis] / 1e3,
                "kW",
            )
        )
    found.append(
        _check(
            "airflow",
            "cooling-unit airflow demand",
            time,
            units.ids,
            ds["crah_airflow_demand"].values,
            units.airflow,
            "m³/s",
        )
    )
    found.append(
        _check(
            "coil_capacity",
            "cooling-unit coil load",
            time,
            units.ids,
            ds["crah_cooling_load"].values / 1e3,
            units.capacity / 1e3,
            "kW",
        )
    )
    supply = ds["supply_temperature"].values
    chilled = ds["chilled_water_temperature"].values[:, np.newaxis]
    found.append(
        _check(
            "coil_approach",
            "chilled water supply too warm for the air setpoint (limit = setpoint − approach)",
            time,
            units.ids,
            np.broadcast_to(chilled, supply.shape),
            supply - units.coil_approach,
            "°C",
        )
    )
    found.append(
        _check(
            "setpoint_bounds",
            "supply air setpoint",
            time,
            units.ids,
            supply,
            units.supply_temperature_max,
            "°C",
        )
    )
    found.append(
        _check(
            "setpoint_bounds",
            "supply air setpoint",
            time,
            units.ids,
            supply,
            units.supply_temperature_min,
            "°C",
            above=False,
        )
    )
    if cdus.count:
        found.append(
            _check(
                "cdu_capacity",
                "CDU load",
                time,
                cdus.ids,
                ds["cdu_load"].values / 1e3,
                cdus.capacity / 1e3,
                "kW",
            )
        )
        found.append(
            _check(
                "coolant_supply",
                "CDU coolant supply temperature",
                time,
                cdus.ids,
                ds["cdu_supply_temperature"].values,
                cdus.max_supply_temperature,
                "°C",
            )
        )
        found.append(
            _check(
                "facility_water",
                "facility water supply (liquid class)",
                time,
                ["plant"],
                ds["chilled_water_temperature"].values,
                facility.facility_water_limit,
                "°C",
            )
        )
    found.append(
        _check(
            "plant_capacity",
            "chiller plant unmet load",
            time,
            ["plant"],
            ds["plant_unmet_load"].values / 1e3,
            0.0,
            "kW",
        )
    )
    found.append(
        _check(
            "overcommit",
            "rack utilization requested beyond capacity (excess fraction)",
            time,
            ["racks"],
            ds["rack_overcommit"].values,
            0.0,
            "",
        )
    )
    return [v for v in found if v is not None]
