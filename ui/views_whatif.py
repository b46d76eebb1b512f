"""Read models of the What-if page: the form's edits applied to the scenario, and the run.

* :data:`WHATIF_FIELDS` — the form's fields.
* :func:`modified_scenario` — the twin's scenario with the form's edits applied.
* :func:`whatif_run` — plan the modified and the current scenario and compare them.

Conventions as in :mod:`ui.views`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from twin.data.loaders import same_week_in_data

if TYPE_CHECKING:
    from twin.live.live_twin import LiveTwin


WHATIF_FIELDS = (
    "add_racks_type",
    "add_racks_count",
    "supply_min_c",
    "supply_max_c",
    "chilled_water_c",
    "battery_energy_kwh",
    "battery_power_kw",
    "fail_cooling_unit",
    "fail_feed",
    "dr_start_hours",
    "dr_duration_hours",
    "dr_import_cap_kw",
    "grid_zone",
)
"""Keys :func:`modified_scenario` understands (all optional)."""


def modified_scenario(twin: LiveTwin, edits: dict[str, Any]) -> dict[str, Any]:
    """The twin's scenario (as written) with the what-if form's edits applied.

    Parameters
    ----------
    twin
        The live twin (its base scenario and clock).
    edits
        Optional keys: ``add_racks_type`` and ``add_racks_count`` [-] (a new row of that
        rack type, wired like the first row of the same type); ``supply_min_c`` and
        ``supply_max_c`` (bounds of every cooling unit's supply setpoint [°C]);
        ``chilled_water_c`` (the plant's chilled water supply setpoint as operated [°C]);
        ``battery_energy_kwh`` [kWh] and ``battery_power_kw`` [kW]; ``fail_cooling_unit``
        (the unit is removed and its rows served by the next unit); ``fail_feed`` (the feed
        is removed and its UPS moved to the next feed); ``dr_start_hours`` [h from now],
        ``dr_duration_hours`` [h] and ``dr_import_cap_kw`` [kW] (a demand-response event);
        ``grid_zone`` (price and carbon from that zone of the public data, the same week of
        the data's year: :func:`twin.data.loaders.same_week_in_data`).

    Returns
    -------
    dict
        The modified scenario, validated by :func:`twin.scenario.schema.scenario_from_dict` later.

    Raises
    ------
    ValueError
        An edit that cannot apply (unknown rack type, unit or feed; the last unit or feed).
    """
    import copy

    data: dict[str, Any] = copy.deepcopy(dict(twin.base_data))
    edits = {k: v for k, v in edits.items() if v not in (None, "", [])}
    unknown = set(edits) - set(WHATIF_FIELDS)
    if unknown:
        raise ValueError(f"unknown what-if field(s): {', '.join(sorted(unknown))}")
    count = _whole_number(edits.get("add_racks_count") or 0, "Number of racks to add")
    for key, title in (
        ("battery_energy_kwh", "Battery energy"),
        ("battery_power_kw", "Battery power"),
        ("dr_duration_hours", "Demand response duration"),
        ("dr_import_cap_kw", "Demand response import cap"),
    ):
        if key in edits and not float(edits[key]) > 0:
            raise ValueError(f"{title}: expected a positive value, got {float(edits[key]):g}")
    if count > 0:
        kind = str(edits.get("add_racks_type") or "")
        if kind not in (data.get("rack_types") or {}):
            raise ValueError(f"unknown rack type {kind!r}; known: {', '.join(data['rack_types'])}")
        rows = data.setdefault("rows", [])
        like = next((r for r in rows if r.get("type") == kind), rows[0] if rows else None)
        if like is None:
            raise ValueError("the scenario has no rows to copy the wiring from")
        taken = {str(r.get("row")) for r in rows}
        name = next(f"N{i}" for i in range(1, 10_000) if f"N{i}" not in taken)
        rows.append({**like, "row": name, "type": kind, "count": count})
    units = (data.get("cooling") or {}).get("units") or []
    for unit in units:  # values written with their unit, as a user would write them
        if "supply_min_c" in edits:
            unit["supply_temperature_min"] = f"{float(edits['supply_min_c']):g} °C"
        if "supply_max_c" in edits:
            unit["supply_temperature_max"] = f"{float(edits['supply_max_c']):g} °C"
    if "chilled_water_c" in edits:
        plant = (data.get("cooling") or {}).get("plant") or {}
        plant["chilled_water_temperature"] = f"{float(edits['chilled_water_c']):g} °C"
    if "battery_energy_kwh" in edits or "battery_power_kw" in edits:
        battery = data.get("battery") or {"energy": "1 kWh", "power": "1 kW"}
        if "battery_energy_kwh" in edits:
            battery["energy"] = f"{float(edits['battery_energy_kwh']):g} kWh"
        if "battery_power_kw" in edits:
            battery["power"] = f"{float(edits['battery_power_kw']):g} kW"
        data["battery"] = battery
    if "fail_cooling_unit" in edits:
        failed = str(edits["fail_cooling_unit"])
        ids = [str(u["id"]) for u in units]
        if failed not in ids:
            raise ValueError(f"unknown cooling unit {failed!r}; known: {', '.join(ids)}")
        if len(ids) < 2:
            raise ValueError("cannot fail the only cooling unit")
        backup = ids[(ids.index(failed) + 1) % len(ids)]
        data["cooling"]["units"] = [u for u in units if str(u["id"]) != failed]
        for group in ("rows", "racks"):
            for item in data.get(group) or []:
                if item.get("cooling_unit") == failed:
                    item["cooling_unit"] = backup
    if "fail_feed" in edits:
        failed = str(edits["fail_feed"])
        power = data.get("power") or {}
        feeds = [str(f["id"]) for f in power.get("feeds") or []]
        if failed not in feeds:
            raise ValueError(f"unknown feed {failed!r}; known: {', '.join(feeds)}")
        if len(feeds) < 2:
            raise ValueError("cannot fail the only feed")
        backup = feeds[(feeds.index(failed) + 1) % len(feeds)]
        power["feeds"] = [f for f in power["feeds"] if str(f["id"]) != failed]
        for item in [*(power.get("ups") or []), data.get("battery") or {}]:
            if item.get("feed") == failed:
                item["feed"] = backup
    _grid_edits(twin, data, edits)
    return data


def _grid_edits(twin: LiveTwin, data: dict[str, Any], edits: dict[str, Any]) -> None:
    """The grid edits of :func:`modified_scenario` applied to ``data`` in place: a
    demand-response event (``dr_start_hours`` [h from now], ``dr_duration_hours`` [h],
    ``dr_import_cap_kw`` [kW]) and a grid zone (``grid_zone``)."""
    if "dr_start_hours" in edits or "dr_import_cap_kw" in edits:
        now = twin.clock()
        start = now + timedelta(hours=float(edits.get("dr_start_hours") or 0.0))
        end = start + timedelta(hours=float(edits.get("dr_duration_hours") or 2.0))
        # events are written in the scenario's own window; the live twin shifts them by
        # (live window start − scenario start), so shift back here
        original = (data.get("simulation") or {}).get("start")
        offset = timedelta(0)
        if original is not None:
            live_start = pd.Timestamp(twin.times[0]).to_pydatetime()
            offset = live_start - pd.Timestamp(str(original)).to_pydatetime()
        grid = data.setdefault("grid", {})
        grid.setdefault("demand_response", []).append(
            {
                "start": (start - offset).isoformat(),
                "end": (end - offset).isoformat(),
                "import_cap": f"{float(edits.get('dr_import_cap_kw') or 0.0):g} kW",
            }
        )
    if "grid_zone" in edits:
        # the zone files hold one past year: replay the same week of it (the live twin
        # replays the scenario's series from its written start, so this aligns with it)
        written = (data.get("simulation") or {}).get("start") or twin.times[0]
        replay = same_week_in_data(str(written))
        data.setdefault("series", []).append(
            {"zone": str(edits["grid_zone"]), "replay_from": replay.isoformat()}
        )


def _whole_number(value: Any, title: str) -> int:
    """A count of 0 or more from a form field; one clear message otherwise."""
    number = float(value)
    if number < 0 or number != int(number):
        raise ValueError(f"{title}: expected a whole number of 0 or more, got {number:g}")
    return int(number)


def current_values(twin: LiveTwin) -> dict[str, Any]:
    """The form's fields as the facility is now, to pre-fill the What-if page.

    Returns
    -------
    dict
        ``add_racks_count`` 0; ``supply_min_c``, ``supply_max_c`` [°C] when every cooling unit
        has the same bounds (else None); ``chilled_water_c`` [°C] (the plant's setpoint as
        operated); ``battery_energy_kwh`` [kWh] and ``battery_power_kw`` [kW] (None without a
        battery); the other fields None (no change).
    """
    scenario = twin.scenario
    units = scenario.cooling.units
    lows = {u.supply_temperature_min for u in units}
    highs = {u.supply_temperature_max for u in units}
    values: dict[str, Any] = dict.fromkeys(WHATIF_FIELDS)
    values.update(
        add_racks_count=0,
        supply_min_c=lows.pop() if len(lows) == 1 else None,
        supply_max_c=highs.pop() if len(highs) == 1 else None,
        chilled_water_c=scenario.cooling.plant.chilled_water_temperature,
    )
    if scenario.battery is not None:
        values.update(
            battery_energy_kwh=scenario.battery.energy, battery_power_kw=scenario.battery.power
        )
    return values


def portable_scenario(twin: LiveTwin, data: dict[str, Any]) -> str:
    """``data`` as a YAML file that runs anywhere, on the twin's live window.

    The window is the live one (from 00:00 UTC the day before the anchor), file and zone
    series replay the original data from where it starts (``replay_from``) and are read by
    absolute path, demand-response events and job times are at their real instants, and
    quantities keep their units.

    Parameters
    ----------
    twin
        The live twin (its anchor and the folder its scenario file is in).
    data
        A scenario mapping as :func:`modified_scenario` returns it.

    Returns
    -------
    str
        YAML text with a header comment saying where it came from.
    """
    from pathlib import Path

    import yaml

    from twin.live.live_twin import live_scenario_dict

    portable = live_scenario_dict(data, twin.anchor)
    folder = Path(twin.scenario_dir).resolve()
    for source in portable.get("series") or []:
        if "file" in source:
            source["file"] = str((folder / str(source["file"])).resolve())
        if "zone" in source:
            data_dir = str(source.get("data_dir", "../../shared/data"))
            source["data_dir"] = str((folder / data_dir).resolve())
    header = (
        "# dctwin what-if scenario from the live twin, its window from "
        f"{portable['simulation']['start']}"
        "\n# (series by absolute path; run it with: dctwin plan this-file.yaml)\n"
    )
    return header + yaml.safe_dump(portable, sort_keys=False, allow_unicode=True)


def whatif_run(
    twin: LiveTwin,
    data: dict[str, Any],
    horizon_hours: float,
    progress: Any = None,
) -> dict[str, Any]:
    """Plan ``data`` and the current scenario over the same window; compare them.

    :func:`twin.live.whatif.compare` (both plans verified by the physics) with progress, and the
    grid import of both plans per step for the chart.

    Parameters
    ----------
    twin
        The live twin.
    data
        The modified scenario (a full mapping).
    horizon_hours
        Planning horizon [h].
    progress
        ``progress(fraction [-], message)`` callback (a :class:`ui.jobs.JobRunner` job's).

    Returns
    -------
    dict
        ``current``, ``modified``, ``difference`` (as :func:`twin.live.whatif.compare`), ``time``
        (ISO UTC) and ``grid_import_kw`` (``current``, ``modified`` [kW]).
    """
    from twin.live.whatif import compare

    return compare(twin, data, horizon_hours=horizon_hours, progress=progress)


__all__ = [
    "WHATIF_FIELDS",
    "current_values",
    "modified_scenario",
    "portable_scenario",
    "whatif_run",
]
