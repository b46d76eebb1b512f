"""N-1 contingency: lose one cooling unit, chiller, CDU, feed or power-shelf PSU at a time.

Each loss is applied to the compiled facility and the whole scenario window is simulated as
operated (quasi-steady, so every step is a steady state after the loss; the worst step is
reported).  How each loss is represented:

cooling unit
    Its racks are picked up by the surviving unit with the most spare airflow (room-level
    redundancy: the units share a plenum); the failed unit's fan stops.  The surviving unit
    must then carry the airflow and the coil load.  Transient: until the survivor has
    taken over, the zone of the failed unit gets no cooled air; its air and rack mass heat
    up as two coupled nodes with the capacities of the scenario (room air volume, rack mass
    and specific heat), and the inlets follow through the recirculation model
    (:func:`zone_time_to_limit`), which gives the time until the first inlet reaches the
    class limit.  (:func:`zone_heat_up_time` is the earlier one-node estimate.)
chiller
    One chiller fewer installed and one fewer held in redundancy (N+k → N+k−1).
CDU
    Its racks move to the surviving CDU with the most spare capacity (cross-tied secondary
    loops); with no other CDU the loss fails outright.
feed
    Its UPS units (and the cooling and battery connections) are transferred to the surviving
    feed with the most spare capacity (tie breaker).  Transient: the racks behind it ride on
    their battery backup units (BBU) during the transfer; the shortest BBU ride-through at the
    worst step must cover ``transfer_time``.
power shelf
    One PSU of the busbar's shelf fails (the N+k redundancy is used up).

Pass: no limit of :func:`physics.violations.find_violations` broken after the loss (other
than demand-response caps, which the planner meets with flexibility) and the transient
covers its response time.  Margins are the smallest ``limit − value`` of each kind over the
equipment and the window (kW, °C, m³/s, A, V).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from physics.airflow import server_airflow_fraction, time_to_rise
from physics.constants import AIR_VOLUMETRIC_HEAT_CAPACITY
from physics.facility import Facility
from physics.power import bbu_ride_through
from physics.schedule import as_operated_schedule
from physics.simulate import simulate
from physics.violations import LIMIT_KINDS, find_violations
from twin.studies import StudyProgress
from twin.studies.liquid_rows import sizing_rows

AIR_VOLUME_PER_RACK = 8.0
"""Room air mixed with a rack's inlet stream after a cooling loss [m³ per rack].  Engineering
assumption: ~2.5 m² of white space per rack (rack, half of each aisle) under a 3.2 m ceiling;
with aisle containment the mixed volume is smaller, so lower it for contained halls."""

RACK_HEAT_CAPACITY = 100e3
"""Effective thermal capacitance of a rack's IT equipment coupled to its air within minutes
[J/K].  Engineering assumption: ~1,000 kg of servers at ~0.5 kJ/(kg·K) (steel, aluminium,
copper) of which ~20 % (heat sinks, chassis) follows the air on that time scale.  Calibrate
against a measured CRAH-trip event when one is available."""

CRAH_RESPONSE_TIME = 60.0
"""Time surviving/standby cooling units need to take over a failed unit's zone [s]
(fan ramp and valve stroke; a standby unit start is of the same order)."""

TRANSFER_TIME = 10.0
"""Time to transfer a lost feed's load to another source [s]: NFPA 110 Level 1, Type 10
(emergency power within 10 s); a closed-transition tie breaker is faster."""

IGNORED = {"demand_response"}

BUSBAR_KINDS = {kind.name for kind in LIMIT_KINDS.values() if kind.equipment == "busbars"}
"""Limit kinds of one busbar and its shelf."""


@dataclass
class ElementResult:
    """Outcome of losing one element."""

    element: str
    kind: str
    """``cooling_unit``, ``chiller``, ``cdu``, ``feed`` or ``power_shelf``."""
    passed: bool
    max_inlet: float
    """Hottest rack inlet after the loss, worst step [°C]."""
    inlet_margin: float
    """Inlet limit minus :attr:`max_inlet` [K]."""
    margins: dict[str, float]
    """Smallest ``limit − value`` per limit kind (units: :data:`physics.violations.LIMIT_KINDS`)."""
    violations: list[str]
    worst_time: str
    """Step with the smallest relative margin, ISO 8601 UTC."""
    note: str = ""
    tightest: str = ""
    """The smallest margin relative to its limit, e.g. ``"coil_capacity CRAH-2: 12.5 kW"``."""
    transient: dict[str, float] = field(default_factory=dict)
    """``time_to_inlet_limit`` [s] (cooling units) or ``ride_through`` [s] (feeds), with the
    response time they are compared with."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (infinite times as ``null``)."""

        def clean(value: float) -> float | None:
            return None if not np.isfinite(value) else float(value)

        return {
            "element": self.element,
            "kind": self.kind,
            "passed": self.passed,
            "max_inlet_c": clean(self.max_inlet),
            "inlet_margin_k": clean(self.inlet_margin),
            "margins": {k: clean(v) for k, v in self.margins.items()},
            "violations": self.violations,
            "worst_time": self.worst_time,
            "tightest": self.tightest,
            "transient": {k: clean(v) for k, v in self.transient.items()},
            "note": self.note,
        }


@dataclass
class ContingencyReport:
    """Result of :func:`contingency_study`."""

    facility: str
    baseline_violations: list[str]
    elements: list[ElementResult]

    @property
    def failed(self) -> list[str]:
        """Ids of the elements whose loss fails."""
        return [e.element for e in self.elements if not e.passed]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return {
            "facility": self.facility,
            "elements": len(self.elements),
            "failed": self.failed,
            "baseline_violations": self.baseline_violations,
            "results": [e.to_dict() for e in self.elements],
        }


def zone_heat_up_time(
    initial_inlet: float,
    limit: float,
    air_heat: float,
    racks: int,
    air_volume_per_rack: float = AIR_VOLUME_PER_RACK,
    rack_heat_capacity: float = RACK_HEAT_CAPACITY,
) -> float:
    """Time until a zone that lost its cooled air reaches the inlet limit.

    Adiabatic lumped capacitance: ``C·dT/dt = Q`` with
    ``C = racks·(ρ·c_p·V_air + C_rack)``, so ``t = C·(T_lim − T_0)/Q``.  Conservative: the
    air the surviving units still deliver and the liquid loop's share are not credited
    (liquid heat is not in ``Q``: the CDUs keep running).

    Parameters
    ----------
    initial_inlet
        Hottest inlet of the zone when the unit trips [°C].
    limit
        Inlet limit [°C].
    air_heat
        Heat the zone's racks give to air [W].
    racks
        Racks in the zone [-].
    air_volume_per_rack
        Room air per rack [m³].
    rack_heat_capacity
        Effective rack thermal capacitance [J/K].

    Returns
    -------
    float
        Time to the limit [s]; 0 when already at it, ``inf`` without heat.
    """
    if initial_inlet >= limit:
        return 0.0
    if air_heat <= 0:
        return float("inf")
    capacitance = racks * (AIR_VOLUMETRIC_HEAT_CAPACITY * air_volume_per_rack + rack_heat_capacity)
    return float(capacitance * (limit - initial_inlet) / air_heat)


def zone_time_to_limit(facility: Facility, ds: xr.Dataset, unit: int) -> np.ndarray:
    """Time from the trip of cooling unit ``unit`` until the first inlet reaches the limit,
    for each step of ``ds`` as the starting state [s].

    Two-node transient (:func:`physics.airflow.time_to_rise`): the zone air — the room air
    volume times the unit's share of the design airflow — and the rack mass of its racks
    (mass × specific heat from the scenario) coupled by their air heat-capacity flow; the
    heat is the zone racks' air heat.  The air of the zone replaces the unit's supply, so by
    the recirculation model each inlet rises by its weight on that supply (``W`` column of
    the unit) times the zone air rise; the first rack to reach the limit sets the time.
    """
    racks, units = facility.racks, facility.units
    zone = np.flatnonzero(racks.unit == unit)
    inlet = ds["inlet_temperature"].values
    fraction = server_airflow_fraction(inlet, racks.fan_knee_temperature, racks.fan_speed_slope)
    flow = racks.capacity_flow * fraction
    air_heat = ((ds["outlet_temperature"].values - inlet) * flow)[:, zone].sum(axis=1)
    weight = facility.air_path.inlet_temperature((racks.unit == unit).astype(float), 0.0)
    share = units.airflow[unit] / units.airflow.sum()
    volume = facility.room_air_volume * share
    if not np.isfinite(volume):
        volume = AIR_VOLUME_PER_RACK * zone.size
    affected = weight > 1e-9
    needed = np.min((facility.inlet_limit - inlet[:, affected]) / weight[affected], axis=1)
    return time_to_rise(
        needed,
        air_heat,
        AIR_VOLUMETRIC_HEAT_CAPACITY * volume,
        float(racks.heat_capacity[zone].sum()),
        float(racks.capacity_flow[zone].sum()),
    )


def _run(facility: Facility, series: xr.Dataset) -> xr.Dataset:
    return simulate(facility, as_operated_schedule(facility, series), series)


def _messages(facility: Facility, ds: xr.Dataset, baseline: set[str]) -> list[str]:
    return [
        v.message
        for v in find_violations(facility, ds)
        if v.kind not in IGNORED and v.message not in baseline
    ]


def _assess(
    element: str,
    kind: str,
    facility: Facility,
    ds: xr.Dataset,
    baseline: set[str],
    note: str = "",
    *,
    only_busbar: str | None = None,
    violations: list[str] | None = None,
) -> ElementResult:
    rows = sizing_rows(facility, ds)
    margins: dict[str, float] = {}
    relative = np.full(ds.sizes["time"], np.inf)
    tightest, tightest_relative = "", np.inf
    for (row_kind, equipment), row in rows.items():
        if only_busbar is not None and row_kind in BUSBAR_KINDS and equipment != only_busbar:
            continue
        margin = row.limit - row.value
        margins[row_kind] = min(margins.get(row_kind, np.inf), float(np.min(margin)))
        if not LIMIT_KINDS[row_kind].is_capacity:
            continue  # temperatures and voltages: see the inlet margin and the violations
        share = margin / np.maximum(np.abs(row.limit), 1.0)
        relative = np.minimum(relative, share)
        if float(np.min(share)) < tightest_relative:
            tightest_relative = float(np.min(share))
            tightest = f"{row_kind} {equipment}: {float(np.min(margin)):.3g} {row.unit}"
    inlet = ds["max_inlet_temperature"].values
    worst = int(np.argmin(relative))
    if violations is None:
        violations = _messages(facility, ds, baseline)
    return ElementResult(
        element=element,
        kind=kind,
        passed=not violations,
        max_inlet=float(inlet.max()),
        inlet_margin=float(facility.inlet_limit - inlet.max()),
        margins=margins,
        violations=violations,
        worst_time=str(np.datetime_as_string(ds["time"].values[worst], unit="m")) + "Z",
        note=note,
        tightest=tightest,
    )


def _spread(
    members: np.ndarray, demand: np.ndarray, others: list[int], spare: np.ndarray
) -> np.ndarray:
    """Assign each member (largest demand first) to the survivor with the most spare left."""
    left = np.asarray(spare, dtype=float).copy()
    takers = np.empty(members.size, dtype=np.int64)
    for k in np.argsort(-demand[members], kind="stable"):
        pick = int(np.argmax(left))
        takers[k] = others[pick]
        left[pick] -= demand[members[k]]
    return takers


def _failed(element: str, kind: str, why: str) -> ElementResult:
    return ElementResult(
        element=element,
        kind=kind,
        passed=False,
        max_inlet=float("nan"),
        inlet_margin=float("nan"),
        margins={},
        violations=[why],
        worst_time="",
        note=why,
    )


def _cooling_unit_loss(
    facility: Facility,
    series: xr.Dataset,
    ds0: xr.Dataset,
    u: int,
    baseline: set[str],
    response_time: float,
) -> ElementResult:
    units, racks = facility.units, facility.racks
    name = units.ids[u]
    zone = np.flatnonzero(racks.unit == u)
    others = [i for i in range(units.count) if i != u]
    # transient: the zone heats up until the survivors take over
    times = zone_time_to_limit(facility, ds0, u)
    transient = {
        "time_to_inlet_limit_s": float(times.min()) if zone.size else float("inf"),
        "response_time_s": response_time,
    }
    if not others:
        result = _failed(name, "cooling_unit", f"no other cooling unit to take over {name}")
        result.transient = transient
        return result
    spare = units.airflow[others] - ds0["crah_airflow_demand"].values[:, others].max(axis=0)
    rack_airflow = racks.capacity_flow / AIR_VOLUMETRIC_HEAT_CAPACITY
    takers = _spread(zone, rack_airflow, others, spare)
    unit = racks.unit.copy()
    unit[zone] = takers
    failed = dataclasses.replace(
        facility,
        racks=dataclasses.replace(racks, unit=unit),
        units=dataclasses.replace(
            units, fan_power=np.where(np.arange(units.count) == u, 0.0, units.fan_power)
        ),
    )
    ds = _run(failed, series)
    result = _assess(
        name,
        "cooling_unit",
        failed,
        ds,
        baseline,
        note=f"{zone.size} racks picked up by "
        + ", ".join(f"{units.ids[i]} ({int(np.sum(takers == i))})" for i in sorted(set(takers))),
    )
    result.transient = transient
    if transient["time_to_inlet_limit_s"] < response_time:
        result.passed = False
        result.violations.append(
            f"zone of {name} reaches the {facility.inlet_limit:g} °C inlet limit "
            f"{transient['time_to_inlet_limit_s']:.0f} s after the trip, before the "
            f"{response_time:g} s takeover"
        )
    return result


def _chiller_loss(
    facility: Facility, series: xr.Dataset, index: int, baseline: set[str]
) -> ElementResult:
    plant = facility.plant
    name = f"chiller-{index + 1}"
    if plant.chiller_count <= 1:
        return _failed(name, "chiller", "the plant has a single chiller")
    reduced = dataclasses.replace(
        plant,
        chiller_count=plant.chiller_count - 1,
        redundant_chillers=max(plant.redundant_chillers - 1, 0),
    )
    failed = dataclasses.replace(facility, plant=reduced)
    note = f"{plant.chiller_count - 1} of {plant.chiller_count} chillers left"
    return _assess(name, "chiller", failed, _run(failed, series), baseline, note)


def _cdu_loss(
    facility: Facility, series: xr.Dataset, ds0: xr.Dataset, c: int, baseline: set[str]
) -> ElementResult:
    cdus, racks = facility.cdus, facility.racks
    name = cdus.ids[c]
    others = [i for i in range(cdus.count) if i != c]
    served = np.flatnonzero(racks.cdu == c)
    if not served.size:
        return _assess(name, "cdu", facility, ds0, baseline, note="serves no rack")
    if not others:
        return _failed(name, "cdu", f"no other CDU to take the {served.size} racks of {name}")
    spare = cdus.capacity[others] - ds0["cdu_load"].values[:, others].max(axis=0)
    liquid = racks.compute_design_power * racks.liquid_share
    takers = _spread(served, liquid, others, spare)
    cdu = racks.cdu.copy()
    cdu[served] = takers
    failed = dataclasses.replace(
        facility,
        racks=dataclasses.replace(racks, cdu=cdu),
        cdus=dataclasses.replace(
            cdus, pump_power=np.where(np.arange(cdus.count) == c, 0.0, cdus.pump_power)
        ),
    )
    note = f"{served.size} racks moved to " + ", ".join(
        f"{cdus.ids[i]} ({int(np.sum(takers == i))})" for i in sorted(set(takers))
    )
    return _assess(name, "cdu", failed, _run(failed, series), baseline, note)


def _feed_loss(
    facility: Facility,
    series: xr.Dataset,
    ds0: xr.Dataset,
    f: int,
    baseline: set[str],
    transfer_time: float,
) -> ElementResult:
    feeds, racks = facility.feeds, facility.racks
    name = f"feed {feeds.ids[f]}"
    rack_feed = facility.ups.feed[facility.busbars.ups[racks.busbar]]
    behind = np.flatnonzero(rack_feed == f)
    rack_power = ds0["rack_power"].values[:, behind]
    ride = bbu_ride_through(racks.bbu_energy[behind], racks.bbu_power[behind], rack_power)
    shortest = float(ride.min()) if behind.size else float("inf")
    transient = {"ride_through_s": shortest, "transfer_time_s": transfer_time}
    others = [i for i in range(len(feeds.ids)) if i != f]
    if not others:
        result = _failed(name, "feed", "no other feed: the site runs on backup only")
        result.transient = transient
        return result
    spare = feeds.capacity[others] - ds0["feed_power"].values[:, others].max(axis=0)
    taker = others[int(np.argmax(spare))]
    ups_feed = np.where(facility.ups.feed == f, taker, facility.ups.feed)
    battery = facility.battery
    if battery is not None and battery.feed == f:
        battery = dataclasses.replace(battery, feed=taker)
    failed = dataclasses.replace(
        facility,
        ups=dataclasses.replace(facility.ups, feed=ups_feed),
        cooling_feed=taker if facility.cooling_feed == f else facility.cooling_feed,
        battery=battery,
    )
    result = _assess(
        name,
        "feed",
        failed,
        _run(failed, series),
        baseline,
        note=f"{behind.size} racks transferred to feed {feeds.ids[taker]}",
    )
    result.transient = transient
    if shortest < transfer_time:
        result.passed = False
        result.violations.append(
            f"rack BBU ride-through {shortest:.1f} s is shorter than the {transfer_time:g} s "
            f"transfer to feed {feeds.ids[taker]}"
        )
    return result


def _shelf_loss(
    facility: Facility, series: xr.Dataset, b: int, baseline: set[str]
) -> ElementResult:
    bus = facility.busbars
    name = f"shelf {bus.ids[b]}"
    if bus.psu_count[b] <= 1:
        return _failed(name, "power_shelf", f"shelf of {bus.ids[b]} has a single PSU")
    count = bus.psu_count.copy()
    count[b] -= 1
    redundancy = bus.redundancy.copy()
    redundancy[b] = max(int(redundancy[b]) - 1, 0)
    failed = dataclasses.replace(
        facility, busbars=dataclasses.replace(bus, psu_count=count, redundancy=redundancy)
    )
    note = f"{count[b]} of {bus.psu_count[b]} PSUs left"
    return _assess(name, "power_shelf", failed, _run(failed, series), baseline, note)


def _shelf_losses(
    facility: Facility, series: xr.Dataset, baseline: set[str]
) -> list[ElementResult]:
    """Every shelf one PSU down in one simulation; failing ones re-simulated alone."""
    bus = facility.busbars
    several = bus.psu_count > 1
    down = dataclasses.replace(
        facility,
        busbars=dataclasses.replace(
            bus,
            psu_count=np.where(several, bus.psu_count - 1, bus.psu_count),
            redundancy=np.where(several, np.maximum(bus.redundancy - 1, 0), bus.redundancy),
        ),
    )
    ds = _run(down, series)
    found = [
        v for v in find_violations(down, ds) if v.kind not in IGNORED and v.message not in baseline
    ]
    shared = [v for v in found if v.kind not in BUSBAR_KINDS]
    broken = {e for v in found if v.kind in BUSBAR_KINDS for e in v.equipment}
    results = []
    for b, name in enumerate(bus.ids):
        if shared or name in broken or not several[b]:
            results.append(_shelf_loss(facility, series, b, baseline))
            continue
        results.append(
            _assess(
                f"shelf {name}",
                "power_shelf",
                down,
                ds,
                baseline,
                note=f"{bus.psu_count[b] - 1} of {bus.psu_count[b]} PSUs left (shared "
                "margins with every shelf one PSU down: conservative)",
                only_busbar=name,
                violations=[],
            )
        )
    return results


def contingency_study(
    facility: Facility,
    series: xr.Dataset,
    *,
    crah_response_time: float = CRAH_RESPONSE_TIME,
    transfer_time: float = TRANSFER_TIME,
    kinds: tuple[str, ...] = ("cooling_unit", "chiller", "cdu", "feed", "power_shelf"),
    exact_shelves: bool = False,
    progress: StudyProgress | None = None,
) -> ContingencyReport:
    """Lose each element in turn; steady state over the window and the transient.

    Parameters
    ----------
    facility
        Compiled facility.
    series
        Exogenous series of its window.
    crah_response_time
        Takeover time after a cooling-unit trip the zone must ride through [s].
    transfer_time
        Transfer time after a feed loss the rack BBUs must ride through [s].
    kinds
        Element kinds studied.
    exact_shelves
        Simulate each PSU loss on its own.  Default: one simulation with every shelf one PSU
        down at once; a shelf's own limits are then exact (busbars are independent below
        their UPS) and the shared ones (UPS, feed, plant) conservative; shelves whose loss
        breaks something, or all of them when a shared limit breaks, are re-simulated alone.
    progress
        Called after each kind of element studied with (what was done, how many done, how many in
        all or an upper bound) [-], e.g. to drive a progress bar.

    Returns
    -------
    ContingencyReport
        One :class:`ElementResult` per element, in the order cooling units, chillers, CDUs,
        feeds, power shelves.
    """
    ds0 = _run(facility, series)
    baseline = {v.message for v in find_violations(facility, ds0) if v.kind not in IGNORED}
    results: list[ElementResult] = []
    total = len(kinds) + 1

    def done(what: str) -> None:
        if progress is not None:
            progress(what, len(done_kinds) + 1, total)
        done_kinds.append(what)

    done_kinds: list[str] = []
    done("no loss")
    if "cooling_unit" in kinds:
        for u in range(facility.units.count):
            results.append(
                _cooling_unit_loss(facility, series, ds0, u, baseline, crah_response_time)
            )
        done("cooling units")
    if "chiller" in kinds and facility.plant.chiller_count:
        # the chillers are identical: simulate one loss, report it for each
        loss = _chiller_loss(facility, series, 0, baseline)
        results += [
            dataclasses.replace(loss, element=f"chiller-{index + 1}")
            for index in range(facility.plant.chiller_count)
        ]
        done("chillers")
    if "cdu" in kinds:
        for c in range(facility.cdus.count):
            results.append(_cdu_loss(facility, series, ds0, c, baseline))
        done("CDUs")
    if "feed" in kinds:
        for f in range(len(facility.feeds.ids)):
            results.append(_feed_loss(facility, series, ds0, f, baseline, transfer_time))
        done("feeds")
    if "power_shelf" in kinds:
        if exact_shelves:
            results += [
                _shelf_loss(facility, series, b, baseline) for b in range(facility.busbars.count)
            ]
        else:
            results += _shelf_losses(facility, series, baseline)
        done("power shelves")
    return ContingencyReport(
        facility=facility.name, baseline_violations=sorted(baseline), elements=results
    )
