"""The live fleet's re-plan window: anchored on "now", on the sites' live twins.

A fleet file plans its ``simulation`` window.  A live fleet (``dctwin serve fleet.yaml``)
re-plans from the current time instead, as a single site's live re-plan does: the window
starts at the current time rounded down to the fleet's step and lasts the file's duration,
cut at the end of the shortest live window of the sites.  Each site is planned as its live
twin runs it: the twin's scenario (already moved onto the live window, its own contracts and
demand-response events with it) and the twin's series over the window (the same prices,
carbon, weather and profiles the twin is fed with).  Fleet jobs given as offsets ("release:
1 d") count from the window's start; jobs given as instants move by the same shift as the
window (the file's start to the window's start), so a fleet file describes the work to place
over the next window, whenever it is re-planned.

**Work already done is remembered** (``carried``): while an approved fleet plan is in force,
a job of it whose deadline has not passed keeps that plan's release and deadline instants and
is planned for the energy not delivered before the new window
(:func:`twin.fleet.replan.carried_jobs`): each step a site reported its job power
(``job/fleet:<name>/power``, mean of the step's readings) counts what it measured, a step
without a reading counts what the plan scheduled; a job already delivered in full is left out until
its deadline passes.  A job whose deadline has passed is placed again from the file (the file
describes recurring work).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from twin.fleet.build import FleetInput, build_from_fleet
from twin.fleet.schema import Fleet, FleetError, load_fleet, reference_problems
from twin.live.live_twin import LiveTwin
from twin.scenario.schema import Simulation

__all__ = ["Carried", "anchored_fleet", "live_fleet_input", "window_start"]


@dataclass(frozen=True)
class Carried:
    """A job of the fleet plan in force, carried into a re-plan.

    Attributes
    ----------
    release, deadline
        Its instants in that plan (UTC).
    required_kwh
        Its energy in that plan [kWh].
    delivered_kwh
        What ran of it before the new window [kWh]: the sites' measured job power where they
        reported it, that plan's schedules elsewhere.
    metered_steps, planned_steps
        Steps before the new window whose energy was taken from measurements, and from the
        plan (no reading in the step) [count, over every site running the job].
    """

    release: datetime
    deadline: datetime
    required_kwh: float
    delivered_kwh: float
    metered_steps: int = 0
    planned_steps: int = 0

    @property
    def remaining_kwh(self) -> float:
        """Energy still to deliver [kWh]."""
        return max(0.0, self.required_kwh - self.delivered_kwh)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (instants ISO 8601 UTC, energies [kWh])."""
        return {
            "release": self.release.isoformat(),
            "deadline": self.deadline.isoformat(),
            "required_kwh": round(self.required_kwh, 3),
            "delivered_kwh": round(self.delivered_kwh, 3),
            "remaining_kwh": round(self.remaining_kwh, 3),
            "metered_steps": self.metered_steps,
            "planned_steps": self.planned_steps,
        }


def window_start(now: datetime, step: timedelta) -> datetime:
    """``now`` rounded down to a whole ``step`` since 1970-01-01 UTC (timezone-aware UTC)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    whole = (now.astimezone(UTC) - epoch) // step
    return epoch + whole * step


def _shift(value: Any, offset: timedelta) -> Any:
    """An instant moved by ``offset``; an offset (timedelta) or None unchanged."""
    return value + offset if isinstance(value, datetime) else value


def _site_scenario(twin: LiveTwin) -> dict[str, Any]:
    """The twin's live scenario without the fleet's workloads (the fleet build adds them)."""
    data = dict(twin.scenario_data)
    data["workloads"] = [
        w for w in data.get("workloads") or [] if not str(w.get("id", "")).startswith("fleet:")
    ]
    return data


def anchored_fleet(
    fleet: Fleet,
    twins: dict[str, LiveTwin],
    now: datetime,
    carried: Mapping[str, Carried] | None = None,
) -> Fleet:
    """``fleet`` on the live window from ``now`` (see module docs), its sites inline.

    Parameters
    ----------
    fleet
        The validated fleet file.
    twins
        Every site's live twin, by site name.
    now
        Current time (timezone-aware).
    carried
        Jobs of the fleet plan in force, by name: their instants and the energy left [kWh]
        (see module docs).

    Raises
    ------
    FleetError
        When a site's live step differs from the fleet's, the live windows leave less than a
        step, or a job does not fit the window.
    """
    step = fleet.simulation.step
    start = window_start(now, step)
    problems: list[str] = []
    ends = []
    for name, twin in twins.items():
        if abs(twin.step_seconds - step.total_seconds()) > 1e-6:
            problems.append(
                f"sites ({name}): live step {twin.step_seconds:g} s differs from the fleet's "
                f"{step.total_seconds():g} s; expected the same step"
            )
        ends.append(twin.times[-1].to_pydatetime() + timedelta(seconds=twin.step_seconds))
    if problems:
        raise FleetError(fleet.fleet, problems)
    end = min([start + fleet.simulation.duration, *ends])
    steps = int((end - start) // step)
    if steps < 1:
        raise FleetError(fleet.fleet, [f"no live window left after {start.isoformat()}"])
    offset = start - fleet.simulation.start
    sites = [
        spec.model_copy(
            update={
                "scenario": _site_scenario(twins[spec.name]),
                "series": [],
                "exclude_workloads": [],
            }
        )
        for spec in fleet.sites
    ]
    jobs = []
    for job in fleet.jobs:
        kept = (carried or {}).get(job.name)
        if kept is None:
            update = {
                "release": _shift(job.release, offset),
                "deadline": _shift(job.deadline, offset),
            }
        elif kept.remaining_kwh <= max(1e-4 * kept.required_kwh, 0.01) or kept.deadline < (
            start + step
        ):
            continue  # delivered (or its last step begun): nothing to place until it is due
        else:
            update = {
                "release": max(kept.release, start),
                "deadline": min(kept.deadline, end),
                "energy": kept.remaining_kwh,
            }
        jobs.append(job.model_copy(update=update))
    simulation = Simulation.model_validate({"start": start, "duration": steps * step, "step": step})
    moved = fleet.model_copy(update={"simulation": simulation, "sites": sites, "jobs": jobs})
    problems = reference_problems(moved)
    if problems:
        raise FleetError(f"{fleet.fleet} (live window from {start.isoformat()})", problems)
    return moved


def _window_series(twin: LiveTwin, start: datetime, steps: int) -> xr.Dataset:
    """The twin's series over ``steps`` steps from ``start`` (a copy)."""
    first = int(twin.times.searchsorted(pd.Timestamp(start)))
    with twin.lock:
        return twin.series.isel(time=slice(first, first + steps)).copy(deep=True)


def live_fleet_input(
    path: str | Path,
    twins: dict[str, LiveTwin],
    now: datetime,
    carried: Mapping[str, Carried] | None = None,
) -> FleetInput:
    """The fleet problem of the fleet file at ``path`` on the live window from ``now``, each
    site as its live twin runs it, the work already done for ``carried`` jobs taken off (see
    module docs).

    Raises
    ------
    FleetError
        As :func:`anchored_fleet` and :func:`twin.fleet.build.build_from_fleet`.
    """
    path = Path(path)
    fleet = anchored_fleet(load_fleet(path), twins, now, carried)
    window = fleet.simulation
    steps = int(window.duration // window.step)
    series = {name: _window_series(twin, window.start, steps) for name, twin in twins.items()}
    return build_from_fleet(fleet, path.parent, str(path), series=series)
