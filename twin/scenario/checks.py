"""Cross-reference checks of a scenario that pydantic cannot do field by field.

Ids that must exist (a rack's cooling unit, CDU, busbar; a busbar's UPS; a UPS's feed), ids
that must be unique, positions that must be free, workload rack patterns that must match,
tier-3 windows that must be ordered and overlap the simulated window.
"""

from __future__ import annotations

import fnmatch

from twin.scenario.equipment import Rack, RackRow, RecirculationEntries
from twin.scenario.errors import known_names
from twin.scenario.fields import resolve_instant
from twin.scenario.schema import Scenario


def reference_problems(scenario: Scenario) -> list[str]:
    """Cross-reference checks pydantic cannot do field by field (ids that must exist, be unique).

    Each message names the field path in the file (``rows[2].cooling_unit``), the value and
    what was expected; a row of racks sharing one mistake gets one message.
    """
    racks = scenario.all_racks()
    # where each rack comes from: racks[i] or the row that expands to it
    origins: list[tuple[str, RackRow | None]] = [
        (f"racks[{i}]", None) for i in range(len(scenario.racks))
    ]
    for j, each in enumerate(scenario.rows):
        origins += [(f"rows[{j}]", each)] * each.count
    lines = [
        *_duplicate_ids(scenario, racks, origins),
        *_rack_references(scenario, racks, origins),
        *_power_references(scenario),
        *_workload_references(scenario, racks),
    ]
    problems = list(dict.fromkeys(lines))  # each message once, in the order first found
    problems.extend(_window_problems(scenario))
    return problems


def _duplicates(items: list[tuple[str, str]], what: str) -> list[str]:
    """Ids used twice, one message per (place, first place) pair.

    ``items`` holds (id, where it is given) pairs; ``what`` names the kind of id.
    """
    first: dict[str, str] = {}
    clashes: dict[tuple[str, str], list[str]] = {}
    for item, where in items:
        if item in first:
            clashes.setdefault((where, first[item]), []).append(item)
        else:
            first[item] = where
    lines = []
    for (where, before), clashing in clashes.items():
        shown = ", ".join(repr(i) for i in clashing[:8])
        more = f", ... ({len(clashing)} ids)" if len(clashing) > 8 else ""
        lines.append(
            f"{where}: {shown}{more} — already used by {before}; expected unique {what} ids"
        )
    return lines


def _duplicate_ids(
    scenario: Scenario, racks: list[Rack], origins: list[tuple[str, RackRow | None]]
) -> list[str]:
    """Racks, cooling units, CDUs, feeds, UPS stages, busbars and workloads given one id twice."""
    lines = _duplicates(
        [
            (rack.id, f"{where}.id" if row is None else f"{where} (the racks it expands to)")
            for rack, (where, row) in zip(racks, origins, strict=True)
        ],
        "rack",
    )
    for ids, where, what in (
        ([u.id for u in scenario.cooling.units], "cooling.units", "cooling unit"),
        ([c.id for c in scenario.cooling.cdus], "cooling.cdus", "CDU"),
        ([f.id for f in scenario.power.feeds], "power.feeds", "feed"),
        ([u.id for u in scenario.power.ups], "power.ups", "UPS"),
    ):
        lines += _duplicates([(item, f"{where}[{i}].id") for i, item in enumerate(ids)], what)
    # template busbars are named after their rack: clashes among them are rack id clashes
    generated = {
        rack_id: f"rows[{j}].busbar_template (the busbars it creates)"
        for j, row in reversed(list(enumerate(scenario.rows)))
        if row.busbar_template in scenario.power.busbar_templates
        for rack_id in row.rack_ids()
    }
    lines += _duplicates(
        [(b.id, f"power.busbars[{i}].id") for i, b in enumerate(scenario.power.busbars)]
        + list(generated.items()),
        "busbar",
    )
    lines += _duplicates(
        [(w.id, f"workloads[{i}].id") for i, w in enumerate(scenario.workloads)], "workload"
    )
    return lines


def _rack_references(
    scenario: Scenario, racks: list[Rack], origins: list[tuple[str, RackRow | None]]
) -> list[str]:
    """Each rack's type, cooling unit, CDU and busbar must exist; one rack per position."""
    units = [u.id for u in scenario.cooling.units]
    cdus = [c.id for c in scenario.cooling.cdus]
    busbar_ids = {b.id for b in scenario.all_busbars()}
    lines: list[str] = []
    positions: dict[tuple[str, int], str] = {}
    for rack, (where, row) in zip(racks, origins, strict=True):
        rack_type = scenario.rack_types.get(rack.type)
        if rack_type is None:
            lines.append(
                f"{where}.type: {rack.type!r} — not in rack_types; expected one of: "
                f"{known_names(scenario.rack_types)}"
            )
        elif rack_type.liquid_share > 0 and rack.cdu is None:
            lines.append(
                f"{where}.cdu: required field is missing — rack type {rack.type!r} is "
                f"liquid-cooled (liquid_share {rack_type.liquid_share:g}); expected the id of "
                f"a CDU in cooling.cdus ({known_names(cdus)})"
            )
        if rack.cooling_unit not in units:
            lines.append(
                f"{where}.cooling_unit: {rack.cooling_unit!r} — no such cooling unit; expected "
                f"an id from cooling.units ({known_names(units)})"
            )
        if rack.cdu is not None and rack.cdu not in cdus:
            lines.append(
                f"{where}.cdu: {rack.cdu!r} — no such CDU; expected an id from cooling.cdus "
                f"({known_names(cdus)})"
            )
        from_template = row is not None and row.busbar_template is not None
        if not from_template and rack.busbar not in busbar_ids:
            lines.append(
                f"{where}.busbar: {rack.busbar!r} — no such busbar; expected an id from "
                f"power.busbars ({known_names(b.id for b in scenario.power.busbars)})"
            )
        key = (rack.row, rack.position)
        if key in positions and positions[key] != rack.id:  # same id: reported above
            lines.append(
                f"{where}: rack {rack.id!r} at row {rack.row!r} position {rack.position} — "
                f"position already taken by rack {positions[key]!r}; expected one rack per "
                "position"
            )
        positions.setdefault(key, rack.id)
    return lines


def _power_references(scenario: Scenario) -> list[str]:
    """Rows' busbar templates and UPS, busbars' UPS, UPS feeds and the cooling and battery
    feeds must exist."""
    feeds = [f.id for f in scenario.power.feeds]
    ups = [u.id for u in scenario.power.ups]
    templates = scenario.power.busbar_templates
    lines: list[str] = []
    for i, row in enumerate(scenario.rows):
        if row.busbar_template is not None and row.busbar_template not in templates:
            lines.append(
                f"rows[{i}].busbar_template: {row.busbar_template!r} — no such template; "
                f"expected a name from power.busbar_templates ({known_names(templates)})"
            )
        if row.ups is not None and row.ups not in ups:
            lines.append(
                f"rows[{i}].ups: {row.ups!r} — no such UPS; expected an id from power.ups "
                f"({known_names(ups)})"
            )
    for i, bus in enumerate(scenario.power.busbars):
        if bus.ups not in ups:
            lines.append(
                f"power.busbars[{i}].ups: {bus.ups!r} — no such UPS; expected an id from "
                f"power.ups ({known_names(ups)})"
            )
    for i, unit in enumerate(scenario.power.ups):
        if unit.feed not in feeds:
            lines.append(
                f"power.ups[{i}].feed: {unit.feed!r} — no such feed; expected an id from "
                f"power.feeds ({known_names(feeds)})"
            )
    for name, feed in (
        ("cooling.feed", scenario.cooling.feed),
        ("battery.feed", scenario.battery.feed if scenario.battery else None),
    ):
        if feed is not None and feed not in feeds:
            lines.append(
                f"{name}: {feed!r} — no such feed; expected an id from power.feeds "
                f"({known_names(feeds)})"
            )
    return lines


def _workload_references(scenario: Scenario, racks: list[Rack]) -> list[str]:
    """Workload rack patterns must match a rack; recirculation entries must name racks."""
    rack_ids = [r.id for r in racks]
    lines: list[str] = []
    for i, work in enumerate(scenario.workloads):
        for k, pattern in enumerate(work.racks):
            if not fnmatch.filter(rack_ids, pattern):
                lines.append(
                    f"workloads[{i}].racks[{k}]: {pattern!r} — matches no rack; expected a "
                    f"rack id or glob pattern such as 'A*' (racks: {known_names(rack_ids)})"
                )
    if isinstance(scenario.cooling.recirculation, RecirculationEntries):
        known = set(rack_ids)
        for i, entry in enumerate(scenario.cooling.recirculation.entries):
            for end, rack_id in (("from", entry.source), ("to", entry.target)):
                if rack_id not in known:
                    lines.append(
                        f"cooling.recirculation.entries[{i}].{end}: {rack_id!r} — no such "
                        f"rack; expected a rack id ({known_names(rack_ids)})"
                    )
    return lines


def _window_problems(scenario: Scenario) -> list[str]:
    """Tier-3 workloads must have their deadline after their release, and their release
    inside the simulated window."""
    problems = []
    start = scenario.simulation.start
    end = start + scenario.simulation.duration
    for i, work in enumerate(scenario.workloads):
        if work.tier != 3:
            continue
        release = resolve_instant(work.release, start)
        deadline = resolve_instant(work.deadline, start)
        if deadline <= release:
            problems.append(
                f"workloads[{i}].deadline: {deadline.isoformat()} — not after the release "
                f"{release.isoformat()} of workload {work.id!r}; expected a deadline after "
                "the release"
            )
        if release >= end:
            problems.append(
                f"workloads[{i}].release: {release.isoformat()} — after the simulated window "
                f"ends ({end.isoformat()}); expected a release within the window"
            )
    return problems
