"""Limits checked on a simulation result, reported in physical terms.

:data:`LIMIT_KINDS` is the one table of limit kinds: for each, which result variable is held
to which facility limit, in which unit, and how a broken limit is worded.  The co-planner's
capacity rows (:mod:`optimizer.capacity`) and the contingency study take their kinds, units
and descriptions from it.

Each :class:`Violation` names the limit, the equipment, when, and by how much, e.g.
``"rack inlet temperature above 27 °C: B07; 2026-07-07 14:00–16:00 UTC (8 steps), worst
28.4 °C"``.  The co-planner uses the same list to verify plans.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from numpy.typing import ArrayLike, NDArray

from physics.constants import WATTS_PER_KILOWATT
from physics.facility import Facility
from physics.liquid.cdu import FACILITY_LOOP
from physics.variables import unit_symbol

FloatArray = NDArray[np.float64]

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


LimitSource = str | float | Callable[[Facility, xr.Dataset], ArrayLike] | None
"""Where a limit comes from: a :class:`~physics.facility.Facility` attribute path
(``"busbars.ampacity"``) or else a variable of the result (a series such as
``"dr_import_cap"``); a fixed value; a function of the facility and the result; ``None`` for
no limit on that side."""

CAPACITY_UNITS = frozenset({"kW", "A", "m3 s-1", "L min-1"})
"""Units of the capacity limits (power, current, air and coolant flow), whose margin relative
to the limit is meaningful; temperatures and voltages are not."""

LITRES_PER_MINUTE = 1.0 / 60_000.0
"""[m³/s per L/min]: the scale of coolant-flow limits, reported in L/min."""


@dataclass(frozen=True)
class LimitKind:
    """One kind of limit: which result variable is held to which facility limit, and how a
    broken one is reported.

    Values and limits are SI in the result and the facility and divided by :attr:`scale` for
    the report: ``{description} above|below {limit} {symbol}: {equipment}; {first}–{last} UTC
    ({n} steps), worst {value} {symbol}``.
    """

    name: str
    """Machine-readable kind, :attr:`Violation.kind`, e.g. ``"inlet_temperature"``."""
    description: str
    """What is limited, the subject of the sentence, e.g. ``"rack inlet temperature"``."""
    units: str
    """UDUNITS unit of the reported value and limit, e.g. ``"degC"``, ``"kW"``."""
    variable: str
    """The :func:`physics.simulate.simulate` variable compared with the limit."""
    equipment: str | tuple[str, ...]
    """The facility part whose ids label the variable's equipment dimension (``"busbars"``),
    or, for a facility-wide series, the labels it is reported under (``("grid",)``)."""
    upper: LimitSource = None
    """Upper limit (:data:`LimitSource`)."""
    lower: LimitSource = None
    """Lower limit (:data:`LimitSource`)."""
    scale: float = 1.0
    """SI units per reported unit, e.g. :data:`~physics.constants.WATTS_PER_KILOWATT`."""
    needs: str = ""
    """Checked only when this facility part has equipment (``"cdus"``) or this variable is in
    the result (``"dr_import_cap"``); empty: always."""
    sizing_description: str = ""
    """Description of the limit as capacity studies size for it
    (:func:`optimizer.capacity.limit_rows`), which may compare another quantity; empty when
    they do not size for it (operational limits)."""

    @property
    def symbol(self) -> str:
        """Unit symbol printed in messages, e.g. ``"°C"`` for ``"degC"``."""
        return unit_symbol(self.units)

    @property
    def is_capacity(self) -> bool:
        """Whether this is a capacity limit (power, current, airflow; :data:`CAPACITY_UNITS`)."""
        return self.units in CAPACITY_UNITS

    def applies(self, facility: Facility, ds: xr.Dataset) -> bool:
        """Whether the limit is checked for ``facility`` and its result ``ds`` (:attr:`needs`)."""
        if not self.needs:
            return True
        part = getattr(facility, self.needs, None)
        return bool(part.count) if part is not None else self.needs in ds


def _coil_approach_limit(facility: Facility, ds: xr.Dataset) -> ArrayLike:
    """Warmest chilled water a cooling unit's setpoint allows: setpoint − coil approach [°C]."""
    return np.asarray(_values(ds, "supply_temperature") - facility.units.coil_approach)


def _chilled_water_class_limit(facility: Facility, ds: xr.Dataset) -> ArrayLike:
    """The liquid-class limit where a CDU takes chilled water, else none (inf) [°C]."""
    on_chilled = np.asarray(facility.cdus.loop) != FACILITY_LOOP
    return facility.facility_water_limit if on_chilled.any() else np.inf


def _limit(*kinds: LimitKind) -> dict[str, LimitKind]:
    return {kind.name: kind for kind in kinds}


LIMIT_KINDS: dict[str, LimitKind] = _limit(
    # --- racks ----------------------------------------------------------------------------------
    LimitKind(
        "inlet_temperature",
        "rack inlet temperature",
        "degC",
        "inlet_temperature",
        "racks",
        upper="inlet_limit",
        lower="inlet_lower_limit",
        sizing_description="rack inlet temperature",
    ),
    # --- busbars and power shelves --------------------------------------------------------------
    LimitKind(
        "undervoltage",
        "busbar voltage",
        "V",
        "busbar_min_voltage",
        "busbars",
        lower="busbars.undervoltage_limit",
        sizing_description="busbar tap voltage drop below the undervoltage limit",
    ),
    LimitKind(
        "voltage_collapse", "busbar voltage collapse", "1", "busbar_collapsed", "busbars", upper=0.5
    ),
    LimitKind(
        "busbar_current",
        "busbar current",
        "A",
        "busbar_current",
        "busbars",
        upper="busbars.ampacity",
        sizing_description="busbar current",
    ),
    LimitKind(
        "shelf_capacity",
        "power shelf output (N+k capacity)",
        "kW",
        "shelf_output",
        "busbars",
        upper="busbars.shelf_capacity",
        scale=WATTS_PER_KILOWATT,
        sizing_description="power shelf output (N+k capacity)",
    ),
    # --- UPS, feeds and grid --------------------------------------------------------------------
    LimitKind(
        "ups_rating",
        "UPS output",
        "kW",
        "ups_output",
        "ups",
        upper="ups.rating",
        scale=WATTS_PER_KILOWATT,
        sizing_description="UPS output",
    ),
    LimitKind(
        "feed_capacity",
        "feed power",
        "kW",
        "feed_power",
        "feeds",
        upper="feeds.capacity",
        scale=WATTS_PER_KILOWATT,
        sizing_description="feed power",
    ),
    LimitKind(
        "contract_capacity",
        "grid import (contract)",
        "kW",
        "grid_power",
        ("grid",),
        upper="grid.contract_capacity",
        scale=WATTS_PER_KILOWATT,
        sizing_description="grid import (contract)",
    ),
    LimitKind(
        "demand_response",
        "grid import during demand response",
        "kW",
        "grid_power",
        ("grid",),
        upper="dr_import_cap",
        scale=WATTS_PER_KILOWATT,
        needs="dr_import_cap",
    ),
    # --- cooling units --------------------------------------------------------------------------
    LimitKind(
        "airflow",
        "cooling-unit airflow demand",
        "m3 s-1",
        "crah_airflow_demand",
        "units",
        upper="units.airflow",
        sizing_description="cooling-unit airflow demand",
    ),
    LimitKind(
        "coil_capacity",
        "cooling-unit coil load",
        "kW",
        "crah_cooling_load",
        "units",
        upper="units.capacity",
        scale=WATTS_PER_KILOWATT,
        sizing_description="cooling-unit coil load",
    ),
    LimitKind(
        "coil_approach",
        "chilled water supply too warm for the air setpoint (limit = setpoint − approach)",
        "degC",
        "chilled_water_temperature",
        "units",
        upper=_coil_approach_limit,
    ),
    LimitKind(
        "setpoint_bounds",
        "supply air setpoint",
        "degC",
        "supply_temperature",
        "units",
        upper="units.supply_temperature_max",
        lower="units.supply_temperature_min",
    ),
    # --- liquid cooling (CDUs) ------------------------------------------------------------------
    LimitKind(
        "cdu_capacity",
        "CDU load",
        "kW",
        "cdu_load",
        "cdus",
        upper="cdus.capacity",
        scale=WATTS_PER_KILOWATT,
        needs="cdus",
        sizing_description="CDU load",
    ),
    LimitKind(
        "coolant_supply",
        "CDU coolant supply temperature",
        "degC",
        "cdu_supply_temperature",
        "cdus",
        upper="cdus.max_supply_temperature",
        needs="cdus",
        sizing_description="CDU coolant supply temperature",
    ),
    LimitKind(
        "cdu_flow",
        "CDU coolant flow demanded by its racks",
        "L min-1",
        "cdu_flow_demand",
        "cdus",
        upper="cdus.max_flow",
        scale=LITRES_PER_MINUTE,
        needs="cdus",
        sizing_description="CDU coolant flow",
    ),
    LimitKind(
        "case_temperature",
        "cold-plate case temperature",
        "degC",
        "case_temperature",
        "racks",
        upper="racks.max_case_temperature",
        needs="min_case_margin",
        sizing_description="cold-plate case temperature",
    ),
    LimitKind(
        "facility_water",
        "facility water supply (liquid class)",
        "degC",
        "chilled_water_temperature",
        ("plant",),
        upper=_chilled_water_class_limit,
        needs="cdus",
    ),
    LimitKind(
        "facility_loop_supply",
        "facility loop supply (liquid class)",
        "degC",
        "facility_loop_supply_temperature",
        ("facility loop",),
        upper="facility_water_limit",
        needs="facility_loop_supply_temperature",
        sizing_description="facility loop supply (liquid class)",
    ),
    # --- chiller plant and workloads ------------------------------------------------------------
    LimitKind(
        "plant_capacity",
        "chiller plant unmet load",
        "kW",
        "plant_unmet_load",
        ("plant",),
        upper=0.0,
        scale=WATTS_PER_KILOWATT,
        sizing_description="chiller plant load (firm N+k capacity)",
    ),
    LimitKind(
        "overcommit",
        "rack utilization requested beyond capacity (excess fraction)",
        "1",
        "rack_overcommit",
        ("racks",),
        upper=0.0,
    ),
)
"""Every limit :func:`find_violations` checks, by kind, in the order it reports them."""


def _values(ds: xr.Dataset, name: str) -> np.ndarray:
    """The array of variable or coordinate ``name`` of ``ds``: what ``ds[name].values`` gives,
    without building a DataArray (its coordinates filtered: ~0.1 ms a read, dozens a check)."""
    return ds.variables[name].values


def _iso(value: np.datetime64) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")


def _check(
    kind: LimitKind,
    time: NDArray[np.datetime64],
    names: Sequence[str],
    values: NDArray[np.float64],
    limit: ArrayLike,
    above: bool = True,
    description: str = "",
) -> Violation | None:
    """Flag ``values`` (T, N) beyond ``limit`` (broadcast together), both in the kind's unit."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, np.newaxis]
    values, lim = np.broadcast_arrays(values, np.asarray(limit, dtype=float))
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
    unit = kind.symbol
    message = (
        f"{description or kind.description} {'above' if above else 'below'} "
        f"{worst_limit:.4g} {unit}: {who}; "
        f"{_iso(first)}–{_iso(last)} UTC ({_step_count(bad)}), worst {worst:.4g} {unit}"
    )
    return Violation(
        kind=kind.name,
        equipment=[names[i] for i in which],
        first=_iso(first),
        last=_iso(last),
        steps=int(bad.sum()),
        worst=worst,
        limit=worst_limit,
        unit=unit,
        message=message,
    )


def _step_count(bad: np.ndarray) -> str:
    """'672 steps' (time steps with a violation), with the equipment-steps when several."""
    steps, pairs = int(bad.any(axis=1).sum()), int(bad.sum())
    return f"{steps} steps" if pairs == steps else f"{steps} steps, {pairs} equipment-steps"


def limit_values(source: LimitSource, facility: Facility, ds: xr.Dataset) -> FloatArray | None:
    """The SI values of a limit (:data:`LimitSource`) for ``facility`` and its result ``ds``.

    Parameters
    ----------
    source
        Where the limit comes from.
    facility
        The facility simulated.
    ds
        The simulation result.

    Returns
    -------
    numpy.ndarray or None
        A fixed value (0-d), values per equipment (N,) or per step and equipment (T, N), a
        result series as (T, 1); ``None`` for no limit.
    """
    if source is None:
        return None
    if isinstance(source, int | float):
        return np.asarray(source, dtype=float)
    if callable(source):
        return np.asarray(source(facility, ds), dtype=float)
    value: object = facility
    for part in source.split("."):
        value = getattr(value, part, None)
    if value is None:
        return np.asarray(_values(ds, source), dtype=float)[:, np.newaxis]
    return np.asarray(value, dtype=float)


def check_limit(kind: LimitKind, facility: Facility, ds: xr.Dataset) -> list[Violation]:
    """Violations of one limit kind: its upper limit first, then its lower limit.

    Parameters
    ----------
    kind
        The limit kind (:data:`LIMIT_KINDS`).
    facility
        The facility simulated.
    ds
        The simulation result; it must hold ``kind.variable``.

    Returns
    -------
    list of Violation
        Zero, one or two violations.
    """
    values = _values(ds, kind.variable) / kind.scale
    if isinstance(kind.equipment, str):
        names: Sequence[str] = getattr(facility, kind.equipment).ids
    else:
        names = kind.equipment
    found = []
    time = _values(ds, "time")
    for source, above in ((kind.upper, True), (kind.lower, False)):
        limit = limit_values(source, facility, ds)
        if limit is not None:
            found.append(_check(kind, time, names, values, limit / kind.scale, above))
    return [v for v in found if v is not None]


def _hottest_inlet(kind: LimitKind, facility: Facility, ds: xr.Dataset) -> list[Violation]:
    """The rack inlet limit checked on the hottest inlet of each step."""
    hottest = _check(
        kind,
        _values(ds, "time"),
        ["(hottest rack)"],
        _values(ds, "max_inlet_temperature"),
        facility.inlet_limit,
        description=f"hottest {kind.description}",
    )
    return [hottest] if hottest is not None else []


def _hottest_case(kind: LimitKind, facility: Facility, ds: xr.Dataset) -> list[Violation]:
    """The case temperature limit checked on the smallest margin of each step (no per-rack
    series): a negative margin is a broken limit."""
    tightest = _check(
        kind,
        _values(ds, "time"),
        ["(hottest cold plate)"],
        _values(ds, "min_case_margin"),
        0.0,
        above=False,
        description="smallest cold-plate case temperature margin (limit − case, K)",
    )
    return [tightest] if tightest is not None else []


def find_violations(facility: Facility, ds: xr.Dataset) -> list[Violation]:
    """Every limit broken in a :func:`physics.simulate.simulate` result.

    Checked, in this order, every kind of :data:`LIMIT_KINDS`: rack inlet temperature (class
    limit), busbar tap undervoltage and voltage collapse, busbar ampacity, power shelf N+k
    capacity, UPS rating, feed capacity, grid contract, demand-response caps, cooling-unit
    airflow and coil capacity, coil approach (chilled water too warm for the supply
    setpoint), setpoint bounds, CDU capacity and coolant supply limit, CDU coolant flow,
    cold-plate case temperatures, chilled water and facility loop supply vs the liquid class,
    chiller plant unmet load, rack overcommitment.  Without per-rack series
    (``per_rack=False``) the hottest inlet and the smallest case margin stand for the racks.

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
    found: list[Violation] = []
    for kind in LIMIT_KINDS.values():
        if not kind.applies(facility, ds):
            continue
        if kind.name == "inlet_temperature" and kind.variable not in ds:
            found += _hottest_inlet(kind, facility, ds)  # a result without per-rack series
        elif kind.name == "case_temperature" and kind.variable not in ds:
            found += _hottest_case(kind, facility, ds)
        else:
            found += check_limit(kind, facility, ds)
    return found
