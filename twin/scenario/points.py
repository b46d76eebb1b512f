"""Measurement points of a facility: ids, canonical units, physical ranges, physics mapping.

A point id names one sensor reading in the live twin, e.g. ``rack/B07/inlet_temperature``.
Every point has a canonical unit (values are stored in it) and a physically plausible range
(values outside are rejected at ingestion), and most map to one variable of
:func:`physics.simulate.simulate` so that the twin can predict them.

=======================================  ==========  ==============  ==========================
point id                                 unit        range           simulate variable
=======================================  ==========  ==============  ==========================
``rack/<rack>/inlet_temperature``        degC        −20 … 80        ``inlet_temperature``
``rack/<rack>/outlet_temperature``       degC        −20 … 120       ``outlet_temperature``
``rack/<rack>/power``                    kW          0 … 1,000       ``rack_power``
``crah/<unit>/supply_temperature``       degC        −10 … 50        ``supply_temperature``
``crah/<unit>/fan_power``                kW          0 … 500         ``crah_fan_power``
``cdu/<cdu>/supply_temperature``         degC        −10 … 80        ``cdu_supply_temperature``
``busbar/<busbar>/voltage``              V           0 … 60          ``busbar_min_voltage``
``feed/<feed>/power``                    kW          0 … 500,000     ``feed_power``
``plant/power``                          kW          0 … 500,000     ``cooling_power``
``plant/chilled_water_temperature``      degC        0 … 40          ``chilled_water_temperature``
``battery/soc``                          1           0 … 1           ``battery_soc``
``grid/power``                           kW          −500k … 500k    ``grid_power``
``site/outdoor_temperature``             degC        −60 … 60        ``outdoor_temperature``
``job/<workload>/power``                 kW          0 … 500,000     ``workload_power``
=======================================  ==========  ==============  ==========================

``<rack>`` etc. are the facility's ids.  Power variables of ``simulate`` are in W; points
carry kW (what meters show), :meth:`PointCatalogue.predict` converts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import xarray as xr

from physics.facility import Facility


@dataclass(frozen=True)
class PointKind:
    """One kind of point (e.g. every rack's inlet temperature).

    Attributes
    ----------
    prefix
        ``rack``, ``crah``, … (the first path element).
    quantity
        Last path element, e.g. ``inlet_temperature``.
    unit
        Canonical unit (pint syntax) the value is stored in.
    low, high
        Physically plausible range in ``unit``.
    variable
        The :func:`physics.simulate.simulate` variable that predicts it.
    scale
        Factor from the simulate variable's unit to ``unit`` (W → kW: 1e-3).
    dim
        The variable's equipment dimension (``rack``, ``unit``, …), None for facility-wide.
    """

    prefix: str
    quantity: str
    unit: str
    low: float
    high: float
    variable: str
    scale: float = 1.0
    dim: str | None = None


KINDS: tuple[PointKind, ...] = (
    PointKind("rack", "inlet_temperature", "degC", -20, 80, "inlet_temperature", dim="rack"),
    PointKind("rack", "outlet_temperature", "degC", -20, 120, "outlet_temperature", dim="rack"),
    PointKind("rack", "power", "kW", 0, 1_000, "rack_power", 1e-3, "rack"),
    PointKind("crah", "supply_temperature", "degC", -10, 50, "supply_temperature", dim="unit"),
    PointKind("crah", "fan_power", "kW", 0, 500, "crah_fan_power", 1e-3, "unit"),
    PointKind("cdu", "supply_temperature", "degC", -10, 80, "cdu_supply_temperature", dim="cdu"),
    PointKind("busbar", "voltage", "V", 0, 60, "busbar_min_voltage", dim="busbar"),
    PointKind("feed", "power", "kW", 0, 500_000, "feed_power", 1e-3, "feed"),
    PointKind("plant", "power", "kW", 0, 500_000, "cooling_power", 1e-3),
    PointKind("plant", "chilled_water_temperature", "degC", 0, 40, "chilled_water_temperature"),
    PointKind("battery", "soc", "1", 0, 1, "battery_soc"),
    PointKind("grid", "power", "kW", -500_000, 500_000, "grid_power", 1e-3),
    PointKind("site", "outdoor_temperature", "degC", -60, 60, "outdoor_temperature"),
    PointKind("job", "power", "kW", 0, 500_000, "workload_power", 1e-3, "workload"),
)


@dataclass(frozen=True)
class Reading:
    """One measurement in canonical units.

    Attributes
    ----------
    point
        Point id, e.g. ``rack/B07/inlet_temperature``.
    time
        Timezone-aware UTC timestamp of the measurement.
    value
        Value in the point's canonical unit (see :data:`KINDS`).
    """

    point: str
    time: datetime
    value: float


class PointCatalogue:
    """Every point of one facility.

    Parameters
    ----------
    facility
        Compiled facility; its equipment ids name the points.
    """

    def __init__(self, facility: Facility) -> None:
        ids = {
            "rack": list(facility.racks.ids),
            "unit": list(facility.units.ids),
            "cdu": list(facility.cdus.ids),
            "busbar": list(facility.busbars.ids),
            "feed": list(facility.feeds.ids),
            "workload": list(facility.workloads.ids),
        }
        self.kinds: dict[str, tuple[PointKind, int | None]] = {}
        """Point id → (kind, index along the kind's dimension)."""
        for kind in KINDS:
            if kind.dim is None:
                if kind.prefix == "battery" and facility.battery is None:
                    continue
                self.kinds[f"{kind.prefix}/{kind.quantity}"] = (kind, None)
                continue
            for i, name in enumerate(ids[kind.dim]):
                self.kinds[f"{kind.prefix}/{name}/{kind.quantity}"] = (kind, i)
        self.ids: list[str] = list(self.kinds)

    def __contains__(self, point: object) -> bool:
        return point in self.kinds

    def kind(self, point: str) -> PointKind:
        """The kind of ``point`` (KeyError if unknown)."""
        return self.kinds[point][0]

    def predict(self, result: xr.Dataset, step: int = -1) -> dict[str, float]:
        """Every point's value in a :func:`physics.simulate.simulate` result at one step.

        Parameters
        ----------
        result
            Simulation result (per-rack output kept).
        step
            Index along ``time``.

        Returns
        -------
        dict
            Point id → value in the point's canonical unit (points whose variable is not in
            ``result`` are left out).
        """
        values: dict[str, float] = {}
        cache: dict[str, np.ndarray] = {}
        for point, (kind, index) in self.kinds.items():
            if kind.variable not in result:
                continue
            if kind.variable not in cache:
                cache[kind.variable] = np.asarray(result[kind.variable].isel(time=step).values)
            data = cache[kind.variable]
            value = data if index is None else data[index]
            values[point] = float(value) * kind.scale
        return values
