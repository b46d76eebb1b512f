"""Candidate positions for added racks, and the scenario with racks added there.

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
    over the whole scenario window; the added racks run at full design power at every step
    (:func:`with_racks`, :func:`simulate_scenario`).

Used by the capacity study (:mod:`twin.studies.capacity`).  See ``docs/capacity.md``.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

import xarray as xr

from physics.facility import Facility
from physics.schedule import as_operated_schedule
from physics.simulate import simulate
from twin.scenario.compile import compile_facility
from twin.scenario.equipment import Busbar, Rack
from twin.scenario.schema import Scenario, Workload

ADDED_WORKLOAD = "capacity-added-racks"
"""Id of the tier-1 workload that runs the added racks at full design power."""

DEFAULT_EXTEND = 4
"""Positions past the last rack of each row offered as candidates [-]."""


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
