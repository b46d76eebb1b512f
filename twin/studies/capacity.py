"""Capacity study: how many racks of a catalogue type fit, what limits them, what the next costs.

Candidate positions
    Scenarios list racks, not floor slots, so *free positions* are defined from the rows that
    exist: in every row, the positions between its first and last rack that no rack occupies,
    plus ``extend`` positions past its last rack (default 4).  ``positions`` (``"A:9,B:12"``)
    gives them explicitly instead; each must be in an existing row and unoccupied.  A rack
    added at a position inherits the infrastructure of the nearest rack of its row: its
    cooling unit, its CDU (a liquid-cooled type needs one: rows without a CDU are skipped for
    it), and its busbar — a new busbar with the same electrical design and UPS when the
    neighbour has a busbar of its own (Open Rack V3 style), the shared row busbar otherwise.

Design condition
    The racks already there run as operated (:func:`physics.schedule.as_operated_schedule`)
    over the whole scenario window; the added racks run at full design power at every step.
    Every step of the window is a design condition, so the worst hour of each limit counts.

Method
    :mod:`optimizer.capacity`: one simulation as is and one per candidate give the linear
    rows; a HiGHS MIP maximizes the count; the answer is simulated and rows the linear model
    got wrong are tightened until the simulation of the chosen racks breaks no limit.  The next
    step (one rack more) is an elastic MIP whose slacks name the binding limits and the
    capacity to add; that set is simulated too, to show what actually breaks.

Also here: :func:`battery_sizing` (battery sizes co-planned with the facility by
:func:`optimizer.plan.plan`, savings and payback) and :func:`growth_headroom` (how much IT can
grow with the grid peak held at today's).  See ``docs/capacity.md``.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from optimizer.capacity import (
    CapacityModel,
    LimitRow,
    Relief,
    limit_rows,
    maximize_racks,
    next_step,
)
from optimizer.plan import PlanOptions
from optimizer.plan import plan as make_plan
from physics import facility as fac
from physics.constants import JOULES_PER_KWH
from physics.facility import Facility
from physics.schedule import as_operated_schedule
from physics.simulate import simulate
from physics.violations import LIMIT_KINDS, find_violations
from twin.scenario.compile import compile_facility
from twin.scenario.equipment import Busbar, Rack
from twin.scenario.schema import Scenario, Workload

ADDED_WORKLOAD = "capacity-added-racks"
"""Id of the tier-1 workload that runs the added racks at full design power."""

DEFAULT_EXTEND = 4
"""Positions past the last rack of each row offered as candidates [-]."""

KWH = JOULES_PER_KWH

ENERGY_TOLERANCE = 1e-3
"""Relative shortfall of grown IT energy accepted by the growth headroom (rounding) [-]."""

IGNORED_VIOLATIONS = {"demand_response"}
"""Violation kinds a sizing study does not size for: demand-response caps are met by the
planner's flexibility (see the growth headroom), not by refusing racks."""


class CapacityError(ValueError):
    """The capacity question cannot be asked as given (unknown rack type, bad positions)."""


@dataclass(frozen=True)
class Candidate:
    """A free position where a rack may be added, and the infrastructure it would use."""

    rack_id: str
    row: str
    position: int
    cooling_unit: str
    cdu: str | None
    busbar: str
    """Id of the busbar feeding it (its own new busbar when ``own_busbar``)."""
    own_busbar: Busbar | None
    """The new busbar created for it (copy of the neighbour's design), or None when shared."""


def parse_positions(text: str) -> list[tuple[str, int]]:
    """Parse ``"A:9,A:10,B:3"`` into ``[("A", 9), ("A", 10), ("B", 3)]``.

    Raises
    ------
    CapacityError
        On an item that is not ``ROW:POSITION`` with a non-negative integer position.
    """
    out = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        row, sep, pos = item.rpartition(":")
        if not sep or not row or not pos.strip().isdigit():
            raise CapacityError(f"position {item!r}: expected ROW:POSITION, e.g. A:9")
        out.append((row.strip(), int(pos)))
    if not out:
        raise CapacityError("no positions given; expected e.g. A:9,A:10")
    return out


def candidate_positions(
    scenario: Scenario,
    rack_type: str,
    positions: list[tuple[str, int]] | None = None,
    extend: int = DEFAULT_EXTEND,
) -> tuple[list[Candidate], list[str]]:
    """Free positions for ``rack_type`` (see the module docstring for the definition).

    Parameters
    ----------
    scenario
        Validated scenario.
    rack_type
        Name from the scenario's rack catalogue.
    positions
        Explicit ``(row, position)`` list; default: gaps in every row plus ``extend`` past its
        end.
    extend
        Positions past the last rack of each row [-].

    Returns
    -------
    (list of Candidate, list of str)
        The candidates and one line per position skipped (and why).

    Raises
    ------
    CapacityError
        Unknown rack type, unknown row, occupied position, or no candidate at all.
    """
    if rack_type not in scenario.rack_types:
        known = ", ".join(sorted(scenario.rack_types))
        raise CapacityError(f"unknown rack type {rack_type!r}; the catalogue has: {known}")
    liquid = scenario.rack_types[rack_type].liquid_share > 0
    racks = scenario.all_racks()
    busbars = {b.id: b for b in scenario.all_busbars()}
    users: dict[str, int] = {}
    for rack in racks:
        users[rack.busbar] = users.get(rack.busbar, 0) + 1
    by_row: dict[str, list[Rack]] = {}
    for rack in racks:
        by_row.setdefault(rack.row, []).append(rack)
    taken_ids = {r.id for r in racks} | set(busbars)
    if positions is None:
        wanted = []
        for row, members in by_row.items():
            occupied = {r.position for r in members}
            lo, hi = min(occupied), max(occupied)
            wanted += [(row, p) for p in range(lo, hi + extend + 1) if p not in occupied]
    else:
        wanted = list(dict.fromkeys(positions))
        for row, pos in wanted:
            if row not in by_row:
                raise CapacityError(
                    f"position {row}:{pos}: no row {row!r} (rows: {', '.join(sorted(by_row))})"
                )
            if any(r.position == pos for r in by_row[row]):
                raise CapacityError(f"position {row}:{pos} is occupied")
    candidates: list[Candidate] = []
    skipped: list[str] = []
    for row, pos in wanted:
        members = by_row[row]
        near = min(members, key=lambda r: (abs(r.position - pos), r.position))
        rack_id = f"{row}{pos:02d}"
        if rack_id in taken_ids:
            rack_id = f"{row}-new-{pos:02d}"
        if rack_id in taken_ids:
            skipped.append(f"{row}:{pos}: id {rack_id} already used")
            continue
        cdu = None
        if liquid:
            cdu = near.cdu or next((r.cdu for r in members if r.cdu), None)
            if cdu is None:
                skipped.append(f"{row}:{pos}: row {row} has no CDU for liquid-cooled {rack_type}")
                continue
        own = None
        busbar = near.busbar
        if users.get(near.busbar, 0) == 1 and near.busbar in busbars:
            own = busbars[near.busbar].model_copy(update={"id": rack_id})
            busbar = rack_id
        candidates.append(Candidate(rack_id, row, pos, near.cooling_unit, cdu, busbar, own))
    if not candidates:
        why = "; ".join(skipped) if skipped else "every position is occupied"
        raise CapacityError(f"no free position for {rack_type}: {why}")
    return candidates, skipped


def with_racks(scenario: Scenario, rack_type: str, candidates: list[Candidate]) -> Scenario:
    """The scenario with racks of ``rack_type`` added at ``candidates``.

    Existing workloads keep exactly their racks (their patterns are replaced by the ids they
    matched, so ``A*`` does not catch a new ``A09``); the new racks run a tier-1 workload
    :data:`ADDED_WORKLOAD` at utilization 1 (full design power).

    Parameters
    ----------
    scenario
        Validated scenario.
    rack_type
        Rack type name.
    candidates
        Positions to fill.

    Returns
    -------
    twin.scenario.Scenario
    """
    ids = [r.id for r in scenario.all_racks()]
    workloads = [
        w.model_copy(
            update={
                "racks": sorted(
                    {i for pattern in w.racks for i in ids if fnmatch.fnmatchcase(i, pattern)}
                )
            }
        )
        for w in scenario.workloads
    ]
    if candidates:
        workloads.append(
            Workload(
                id=ADDED_WORKLOAD, tier=1, racks=[c.rack_id for c in candidates], utilization=1.0
            )
        )
    new_racks = [
        Rack(
            id=c.rack_id,
            row=c.row,
            position=c.position,
            type=rack_type,
            cooling_unit=c.cooling_unit,
            cdu=c.cdu,
            busbar=c.busbar,
        )
        for c in candidates
    ]
    new_busbars = [c.own_busbar for c in candidates if c.own_busbar is not None]
    power = scenario.power.model_copy(update={"busbars": [*scenario.power.busbars, *new_busbars]})
    return scenario.model_copy(
        update={
            "racks": [*scenario.racks, *new_racks],
            "power": power,
            "workloads": workloads,
        }
    )


def simulate_scenario(scenario: Scenario, series: xr.Dataset) -> tuple[Facility, xr.Dataset]:
    """Compile and simulate ``scenario`` as operated (added racks at full power).

    Parameters
    ----------
    scenario
        Validated scenario.
    series
        Its exogenous series.

    Returns
    -------
    (Facility, xarray.Dataset)
    """
    facility = compile_facility(scenario)
    return facility, simulate(facility, as_operated_schedule(facility, series), series)


def _violated(row: LimitRow) -> NDArray[np.bool_]:
    """Steps where ``row`` breaks its limit (the tolerance of ``physics.violations``)."""
    tolerance = 1e-6 * np.maximum(np.abs(row.limit), 1.0)
    return np.asarray(row.value > row.limit + tolerance)


@dataclass
class _Rows:
    """Full-window linear rows: (kind, equipment) → base (T,), coefficients (T, N), limit."""

    base: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    coefficients: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    limit: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    owner: dict[tuple[str, str], int] = field(default_factory=dict)
    unit: dict[tuple[str, str], str] = field(default_factory=dict)

    def predicted(self, key: tuple[str, str], chosen: np.ndarray) -> np.ndarray:
        value: np.ndarray = self.base[key] + self.coefficients[key] @ chosen.astype(float)
        return value


@dataclass
class CapacityReport:
    """Answer of :func:`capacity_study` (JSON-ready through :meth:`to_dict`)."""

    rack_type: str
    rack_design_power: float
    """[kW]"""
    candidates: list[str]
    skipped: list[str]
    excluded: dict[str, str]
    """Candidate id → why it cannot be added even alone."""
    count: int
    added: list[str]
    verified: bool
    violations_at_count: list[str]
    binding: list[Relief]
    next_added: list[str]
    violations_next: list[str]
    no_position_left: bool
    iterations: int
    pre_existing: list[str]
    steps: int

    @property
    def added_power(self) -> float:
        """Design IT power added [kW]."""
        return self.count * self.rack_design_power

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (powers in kW)."""
        return {
            "rack_type": self.rack_type,
            "rack_design_power_kw": self.rack_design_power,
            "count": self.count,
            "added_design_power_kw": self.added_power,
            "added": self.added,
            "verified": self.verified,
            "violations_at_count": self.violations_at_count,
            "binding": [
                {
                    "kind": r.kind,
                    "equipment": r.equipment,
                    "step": r.step,
                    "extra": r.extra,
                    "limit": r.limit,
                    "unit": r.unit,
                    "remedy": r.remedy,
                    "simulated": r.simulated,
                    "text": relief_text(r),
                }
                for r in self.binding
            ],
            "next_added": self.next_added,
            "violations_next": self.violations_next,
            "no_position_left": self.no_position_left,
            "candidates": self.candidates,
            "skipped": self.skipped,
            "excluded": self.excluded,
            "pre_existing_violations": self.pre_existing,
            "iterations": self.iterations,
            "design_steps": self.steps,
        }


def relief_text(relief: Relief) -> str:
    """One line: ``"+12.3 kW of cooling-unit coil capacity on CRAH-1"`` (the relief's unit)."""
    return f"+{relief.extra:.3g} {relief.unit} of {relief.remedy} on {relief.equipment}"


def _simulated_relief(relief: Relief, rows: dict[tuple[str, str], LimitRow]) -> Relief:
    """``relief`` with the excess the simulation of the n+1 racks shows, when it shows one."""
    row = rows.get((relief.kind, relief.equipment))
    if row is None:
        return relief
    excess = float(np.max(row.value - row.limit))
    if not np.isfinite(excess) or excess <= 0:
        return relief
    return dataclasses.replace(relief, extra=excess, simulated=True)


def _messages(facility: Facility, ds: xr.Dataset, ignore: set[tuple[str, str]]) -> list[str]:
    out = []
    for v in find_violations(facility, ds):
        if v.kind in IGNORED_VIOLATIONS:
            continue
        if all((v.kind, e) in ignore for e in v.equipment):
            continue
        out.append(v.message)
    return out


def capacity_study(
    scenario: Scenario,
    series: xr.Dataset,
    rack_type: str,
    positions: list[tuple[str, int]] | None = None,
    *,
    extend: int = DEFAULT_EXTEND,
    max_iterations: int = 10,
    time_limit: float = 60.0,
) -> CapacityReport:
    """The most ``rack_type`` racks that fit in the free positions, verified by simulation.

    Parameters
    ----------
    scenario
        Validated scenario.
    series
        Its exogenous series (:func:`twin.data.series.scenario_series`).
    rack_type
        Rack type name from the catalogue.
    positions
        Explicit ``(row, position)`` candidates (default: see :func:`candidate_positions`).
    extend
        Positions past each row's end offered by default [-].
    max_iterations
        Bound on the solve–simulate–tighten loop [-].
    time_limit
        HiGHS time limit per solve [s].

    Returns
    -------
    CapacityReport

    Raises
    ------
    CapacityError
        Bad rack type or positions.
    """
    candidates, skipped = candidate_positions(scenario, rack_type, positions, extend)
    n = len(candidates)
    facility0, ds0 = simulate_scenario(scenario, series)
    base_rows = limit_rows(facility0, ds0)
    pre_existing = {key for key, row in base_rows.items() if _violated(row).any()}
    steps = series.sizes["time"]

    rows = _Rows()
    for key, row in base_rows.items():
        rows.base[key] = row.value
        rows.coefficients[key] = np.zeros((steps, n))
        # a limit already broken today may not get worse (the racks must not add to it)
        rows.limit[key] = (
            np.where(np.isfinite(row.value), np.maximum(row.limit, row.value), np.inf)
            if key in pre_existing
            else row.limit
        )
        rows.owner[key] = -1
        rows.unit[key] = row.unit
    excluded: dict[str, str] = {}
    air_heat = np.zeros((steps, n))
    for i, cand in enumerate(candidates):
        facility_i, ds_i = simulate_scenario(with_racks(scenario, rack_type, [cand]), series)
        rows_i = limit_rows(facility_i, ds_i)
        for key, row in rows_i.items():
            if key in base_rows:
                rows.coefficients[key][:, i] = row.value - base_rows[key].value
                continue
            if _violated(row).any():
                worst = float(np.max(row.sign * row.value))
                excluded[cand.rack_id] = (
                    f"{LIMIT_KINDS[key[0]].sizing_description} of {key[1]} alone: "
                    f"worst {worst:.4g} {row.unit}, "
                    f"limit {float(row.sign * row.limit[0]):.4g} {row.unit}"
                )
            rows.base[key] = np.zeros(steps)
            rows.coefficients[key] = np.zeros((steps, n))
            rows.coefficients[key][:, i] = row.value
            rows.limit[key] = row.limit
            rows.owner[key] = i
            rows.unit[key] = row.unit
        r = facility_i.racks.ids.index(cand.rack_id)
        inlet = ds_i["inlet_temperature"].values[:, r]
        outlet = ds_i["outlet_temperature"].values[:, r]
        air_heat[:, i] = (outlet - inlet) * facility_i.racks.capacity_flow[r]
    # recirculation between new racks: the own inlet row of candidate i gains D[i, k]·Q_k
    if n > 1:
        facility_all = compile_facility(with_racks(scenario, rack_type, candidates))
        index = [facility_all.racks.ids.index(c.rack_id) for c in candidates]
        air_path = facility_all.air_path
        # columns of D = M⁻¹·Aᵀ for the new racks only: one sparse solve, no dense R×R
        influence = air_path.influence_columns(index)[index]
        for i, cand in enumerate(candidates):
            key = ("inlet_temperature", cand.rack_id)
            cross = air_heat * influence[i][np.newaxis, :]
            cross[:, i] = 0.0
            rows.coefficients[key] = rows.coefficients[key] + cross
    allowed = np.array([c.rack_id not in excluded for c in candidates])

    # rows kept: per limit, the worst step as is and with every allowed candidate added
    keep: set[tuple[str, str, int]] = set()
    for key in rows.base:
        usable = np.isfinite(rows.limit[key]) & np.isfinite(rows.base[key])
        if not usable.any():
            continue
        margin_all = np.where(usable, rows.predicted(key, allowed) - rows.limit[key], -np.inf)
        margin_base = np.where(usable, rows.base[key] - rows.limit[key], -np.inf)
        keep.add((*key, int(np.argmax(margin_all))))
        if rows.owner[key] < 0:
            keep.add((*key, int(np.argmax(margin_base))))
    tightening: dict[tuple[str, str, int], float] = {}

    def build() -> CapacityModel:
        keys = sorted(keep)
        return CapacityModel(
            keys=keys,
            base=np.array([rows.base[(k, e)][t] for k, e, t in keys]),
            coefficients=np.array([rows.coefficients[(k, e)][t] for k, e, t in keys]).reshape(
                len(keys), n
            ),
            limit=np.array(
                [rows.limit[(k, e)][t] - tightening.get((k, e, t), 0.0) for k, e, t in keys]
            ),
            owner=np.array([rows.owner[(k, e)] for k, e, _ in keys], dtype=np.int64),
            allowed=allowed,
            units=[rows.unit[(k, e)] for k, e, _ in keys],
        )

    def check(chosen: np.ndarray) -> tuple[Facility, xr.Dataset, bool]:
        """Simulate the chosen set; add/tighten the rows it breaks; True when clean."""
        picked = [c for c, on in zip(candidates, chosen, strict=True) if on]
        facility_s, ds_s = simulate_scenario(with_racks(scenario, rack_type, picked), series)
        clean = True
        for key, row in limit_rows(facility_s, ds_s).items():
            if key not in rows.base:
                continue
            limit = rows.limit[key]
            tolerance = 1e-6 * np.maximum(np.abs(limit), 1.0)
            with np.errstate(invalid="ignore"):
                bad = (row.value > limit + tolerance) & np.isfinite(limit)
            if not bad.any():
                continue
            clean = False
            predicted = rows.predicted(key, chosen)
            for t in np.flatnonzero(bad):
                step_key = (*key, int(t))
                keep.add(step_key)
                error = float(row.value[t] - predicted[t])
                if not np.isfinite(error):
                    error = 1e9  # the chosen set collapses this busbar: rule the set out
                needed = max(error, 0.0) + float(tolerance[t])
                tightening[step_key] = tightening.get(step_key, 0.0) + needed
        return facility_s, ds_s, clean

    chosen = np.zeros(n, dtype=bool)
    verified = False
    iterations = 0
    facility_s, ds_s = facility0, ds0
    while iterations < max_iterations and not verified:
        iterations += 1
        chosen = maximize_racks(build(), time_limit=time_limit).chosen
        facility_s, ds_s, verified = check(chosen)
    ignore = set(pre_existing)
    violations_at = [] if verified else _messages(facility_s, ds_s, ignore)
    count = int(chosen.sum())

    step = next_step(build(), count + 1, time_limit=time_limit)
    violations_next: list[str] = []
    next_added: list[str] = []
    binding = list(step.reliefs)
    if step.feasible:
        next_added = [c.rack_id for c, on in zip(candidates, step.chosen, strict=True) if on]
        picked = [c for c, on in zip(candidates, step.chosen, strict=True) if on]
        facility_n, ds_n = simulate_scenario(with_racks(scenario, rack_type, picked), series)
        violations_next = _messages(facility_n, ds_n, ignore)
        rows_n = limit_rows(facility_n, ds_n)
        binding = [_simulated_relief(relief, rows_n) for relief in step.reliefs]
    return CapacityReport(
        rack_type=rack_type,
        rack_design_power=scenario.rack_types[rack_type].design_power,
        candidates=[c.rack_id for c in candidates],
        skipped=skipped,
        excluded=excluded,
        count=count,
        added=[c.rack_id for c, on in zip(candidates, chosen, strict=True) if on],
        verified=verified,
        violations_at_count=violations_at,
        binding=binding,
        next_added=next_added,
        violations_next=violations_next,
        no_position_left=not step.feasible,
        iterations=iterations,
        pre_existing=[f"{LIMIT_KINDS[k].sizing_description}: {e}" for k, e in sorted(pre_existing)],
        steps=steps,
    )


# --------------------------------------------------------------------------------------------
# battery sizing


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


def _window_days(series: xr.Dataset) -> float:
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

    Returns
    -------
    BatterySizing
    """
    costs = costs or BatteryCosts()
    options = dataclasses.replace(options or PlanOptions(), shadow_prices=False)
    days = _window_days(series)
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


# --------------------------------------------------------------------------------------------
# growth headroom


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

    Returns
    -------
    GrowthHeadroom
    """
    options = dataclasses.replace(options or PlanOptions(), shadow_prices=False)
    today = compile_facility(scenario)
    ds_today = simulate(today, as_operated_schedule(today, series), series)
    peak = float(ds_today["grid_power"].max()) / 1e3
    step_hours = _window_days(series) * 24.0 / series.sizes["time"]
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
        return ok

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
