"""Moving a scenario's window without moving its contracts, and the look-ahead of a plan.

A scenario states job releases and deadlines either as instants or as offsets from its
window's start ("deadline: 4 d"), and replays history from an instant (``replay_from``) onto
that start.  A plan that starts elsewhere (``dctwin plan --start``, the live twin's re-plans)
must keep both where the scenario put them: :func:`anchored` turns offsets into instants
against the scenario's own start, and :func:`windowed` moves the window while shifting each
replay by the same amount, so Wednesday's plan sees Wednesday's prices.

:func:`plan_window` then stretches a committed window to the look-ahead a plan needs
(every deadline of a job active in it, at most a cap; :func:`optimizer.horizon.lookahead_end`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from optimizer.horizon import DEFAULT_LOOKAHEAD_CAP_HOURS, lookahead_end
from optimizer.state import PlanState
from twin.scenario.compile import compile_facility
from twin.scenario.fields import resolve_instant
from twin.scenario.schema import Scenario, Simulation


def anchored(scenario: Scenario) -> Scenario:
    """The scenario with every workload release and deadline as an absolute instant,
    resolved against its own window start."""
    start = scenario.simulation.start
    workloads = [
        w.model_copy(
            update={
                "release": resolve_instant(w.release, start),
                "deadline": resolve_instant(w.deadline, start),
            }
        )
        if w.tier == 3
        else w
        for w in scenario.workloads
    ]
    return scenario.model_copy(update={"workloads": workloads})


def windowed(
    scenario: Scenario,
    *,
    start: datetime | None = None,
    duration: timedelta | None = None,
    step: timedelta | None = None,
) -> Scenario:
    """The scenario over another window, contracts and replayed history kept in place.

    Parameters
    ----------
    scenario
        A validated scenario.
    start
        New first instant (timezone-aware); default: the scenario's.
    duration
        New length, rounded up to a whole number of steps; default: the scenario's.
    step
        New time step; default: the scenario's.

    Returns
    -------
    Scenario
        Anchored (:func:`anchored`), with the new window; every ``replay_from`` moved by the
        same shift as the start (a CPU trace's ``first_row_at`` places its row 0 and stays).

    Raises
    ------
    pydantic.ValidationError
        If the new window is not valid (e.g. a step that does not divide it).
    """
    fixed = anchored(scenario)
    window = fixed.simulation
    new_start = start or window.start
    new_step = step or window.step
    length = duration or window.duration
    steps = max(math.ceil(length / new_step - 1e-9), 1)
    simulation = Simulation.model_validate(
        {"start": new_start, "duration": new_step * steps, "step": new_step}
    )
    shift = new_start - window.start
    series = [
        source.model_copy(update={"replay_from": source.replay_from + shift})
        if source.replay_from is not None and shift
        else source
        for source in fixed.series
    ]
    return fixed.model_copy(update={"simulation": simulation, "series": series})


@dataclass(frozen=True)
class PlanWindow:
    """A plan's windows: the committed period and the look-ahead around it.

    Attributes
    ----------
    scenario
        The scenario over the look-ahead (load its series for the plan).
    committed_hours
        Length of the committed period [h].
    lookahead_hours
        Length of the look-ahead [h] (≥ committed, unless capped).
    extended
        Whether the look-ahead was stretched past the committed period for a deadline.
    """

    scenario: Scenario
    committed_hours: float
    lookahead_hours: float
    extended: bool


def plan_window(
    scenario: Scenario,
    *,
    start: datetime | None = None,
    horizon: timedelta | None = None,
    cap_hours: float = DEFAULT_LOOKAHEAD_CAP_HOURS,
    state: PlanState | None = None,
) -> PlanWindow:
    """The committed window and the look-ahead that contains the deadlines planned for.

    Parameters
    ----------
    scenario
        A validated scenario.
    start
        First instant of the plan; default: the state's time, else the scenario's start.
    horizon
        The committed period; default: the scenario's duration.
    cap_hours
        Longest look-ahead [h].
    state
        The state the plan starts from (jobs already finished do not stretch the look-ahead).
    """
    if start is None and state is not None and state.time is not None:
        start = state.time
    first = windowed(scenario, start=start, duration=horizon)
    begin = first.simulation.start
    committed = first.simulation.duration
    facility = compile_facility(first)
    end = lookahead_end(
        facility,
        _utc64(begin),
        _utc64(begin + committed),
        cap_hours,
        state.job_energy_done if state is not None else None,
    )
    ahead = pd.Timestamp(end).tz_localize(UTC).to_pydatetime() - begin
    ahead = max(ahead, committed)
    full = windowed(first, duration=ahead) if ahead > committed else first
    hours = full.simulation.duration.total_seconds() / 3600.0
    return PlanWindow(
        scenario=full,
        committed_hours=committed.total_seconds() / 3600.0,
        lookahead_hours=hours,
        extended=ahead > committed,
    )


def _utc64(moment: datetime) -> np.datetime64:
    return np.datetime64(moment.astimezone(UTC).replace(tzinfo=None), "ns")
