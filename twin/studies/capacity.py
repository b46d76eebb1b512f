"""Capacity study: how many racks of a catalogue type fit, what limits them, what the next costs.

Candidate positions
    The free positions of the rows that exist, or positions given explicitly; an added rack
    inherits the infrastructure of the nearest rack of its row (:mod:`twin.studies.positions`).

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

See also :func:`twin.studies.battery.battery_sizing` (battery sizes co-planned with the
facility by :func:`optimizer.plan.plan`, savings and payback) and
:func:`twin.studies.growth.growth_headroom` (how much IT can grow with the grid peak held at
today's).  See ``docs/capacity.md``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from optimizer.capacity import (
    CapacityModel,
    LimitRow,
    Relief,
    maximize_racks,
    next_step,
)
from optimizer.progress import Progress, tracker
from physics.facility import Facility
from physics.violations import LIMIT_KINDS, find_violations
from twin.scenario.compile import compile_facility
from twin.scenario.schema import Scenario
from twin.studies.liquid_rows import sizing_rows
from twin.studies.positions import (
    DEFAULT_EXTEND,
    Candidate,
    candidate_positions,
    simulate_scenario,
    with_racks,
)

IGNORED_VIOLATIONS = {"demand_response"}
"""Violation kinds a sizing study does not size for: demand-response caps are met by the
planner's flexibility (see the growth headroom), not by refusing racks."""


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


@dataclass
class _Question:
    """What the study asks: which racks of ``rack_type`` fit at ``candidates``."""

    scenario: Scenario
    series: xr.Dataset
    rack_type: str
    candidates: list[Candidate]


def _as_is_rows(
    base_rows: dict[tuple[str, str], LimitRow],
    pre_existing: set[tuple[str, str]],
    steps: int,
    n: int,
) -> _Rows:
    """The rows of the hall as is, with no candidate coefficient yet."""
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
    return rows


def _add_candidates(
    question: _Question, rows: _Rows, base_rows: dict[tuple[str, str], LimitRow]
) -> tuple[dict[str, str], np.ndarray]:
    """Simulate each candidate alone and add its coefficients (and its own new rows) to
    ``rows``.

    Returns
    -------
    (dict of str to str, numpy.ndarray)
        Candidates that break a limit of their own even alone (id → why), and the heat each
        candidate's air carries, (T, N) [W].
    """
    scenario, series, rack_type = question.scenario, question.series, question.rack_type
    candidates = question.candidates
    steps, n = series.sizes["time"], len(candidates)
    excluded: dict[str, str] = {}
    air_heat = np.zeros((steps, n))
    for i, cand in enumerate(candidates):
        facility_i, ds_i = simulate_scenario(with_racks(scenario, rack_type, [cand]), series)
        rows_i = sizing_rows(facility_i, ds_i)
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
    return excluded, air_heat


def _add_recirculation(question: _Question, rows: _Rows, air_heat: np.ndarray) -> None:
    """Add the recirculation between new racks to their inlet rows (``air_heat`` (T, N) [W])."""
    scenario, rack_type, candidates = question.scenario, question.rack_type, question.candidates
    n = len(candidates)
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


def _worst_steps(rows: _Rows, allowed: np.ndarray) -> set[tuple[str, str, int]]:
    """Rows kept: per limit, the worst step as is and with every allowed candidate added."""
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
    return keep


@dataclass
class _Verifier:
    """The MIP's rows (the steps kept, tightened where the linear model was wrong) and the
    simulation that checks its answers."""

    question: _Question
    rows: _Rows
    allowed: np.ndarray
    keep: set[tuple[str, str, int]]
    tightening: dict[tuple[str, str, int], float] = field(default_factory=dict)

    def simulate(self, chosen: np.ndarray) -> tuple[Facility, xr.Dataset]:
        """Simulate the hall with the ``chosen`` candidates added."""
        question = self.question
        picked = [c for c, on in zip(question.candidates, chosen, strict=True) if on]
        scenario, rack_type, series = question.scenario, question.rack_type, question.series
        return simulate_scenario(with_racks(scenario, rack_type, picked), series)

    def model(self) -> CapacityModel:
        """The capacity MIP's rows as they stand."""
        rows, tightening, n = self.rows, self.tightening, len(self.question.candidates)
        keys = sorted(self.keep)
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
            allowed=self.allowed,
            units=[rows.unit[(k, e)] for k, e, _ in keys],
        )

    def check(self, chosen: np.ndarray) -> tuple[Facility, xr.Dataset, bool]:
        """Simulate the chosen set; add/tighten the rows it breaks; True when clean."""
        rows, keep, tightening = self.rows, self.keep, self.tightening
        facility_s, ds_s = self.simulate(chosen)
        clean = True
        for key, row in sizing_rows(facility_s, ds_s).items():
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


@dataclass
class _OneMore:
    """The elastic next step (one rack more): what binds, and what its simulation breaks."""

    feasible: bool
    binding: list[Relief]
    next_added: list[str]
    violations_next: list[str]


def _one_more(
    verifier: _Verifier, count: int, time_limit: float, ignore: set[tuple[str, str]]
) -> _OneMore:
    """Ask the elastic MIP for ``count`` racks and simulate its answer."""
    candidates = verifier.question.candidates
    step = next_step(verifier.model(), count, time_limit=time_limit)
    violations_next: list[str] = []
    next_added: list[str] = []
    binding = list(step.reliefs)
    if step.feasible:
        next_added = [c.rack_id for c, on in zip(candidates, step.chosen, strict=True) if on]
        facility_n, ds_n = verifier.simulate(step.chosen)
        violations_next = _messages(facility_n, ds_n, ignore)
        rows_n = sizing_rows(facility_n, ds_n)
        binding = [_simulated_relief(relief, rows_n) for relief in step.reliefs]
    return _OneMore(step.feasible, binding, next_added, violations_next)


def capacity_study(
    scenario: Scenario,
    series: xr.Dataset,
    rack_type: str,
    positions: list[tuple[str, int]] | None = None,
    *,
    extend: int = DEFAULT_EXTEND,
    max_iterations: int = 10,
    time_limit: float = 60.0,
    progress: Progress | None = None,
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
        Explicit ``(row, position)`` candidates (default: see
        :func:`twin.studies.positions.candidate_positions`).
    extend
        Positions past each row's end offered by default [-].
    max_iterations
        Bound on the solve–simulate–tighten loop [-].
    time_limit
        HiGHS time limit per solve [s].
    progress
        ``progress(stage, fraction)`` callback (:mod:`optimizer.progress`): fractions [-] from
        0 to 1, never decreasing.

    Returns
    -------
    CapacityReport

    Raises
    ------
    CapacityError
        Bad rack type or positions.
    """
    candidates, skipped = candidate_positions(scenario, rack_type, positions, extend)
    question = _Question(scenario, series, rack_type, candidates)
    n = len(candidates)
    track = tracker(progress)
    track("simulate the hall as it is", 0.0)
    facility0, ds0 = simulate_scenario(scenario, series)
    track("limit rows of every candidate", 0.15)
    base_rows = sizing_rows(facility0, ds0)
    pre_existing = {key for key, row in base_rows.items() if _violated(row).any()}
    steps = series.sizes["time"]

    rows = _as_is_rows(base_rows, pre_existing, steps, n)
    excluded, air_heat = _add_candidates(question, rows, base_rows)
    _add_recirculation(question, rows, air_heat)
    allowed = np.array([c.rack_id not in excluded for c in candidates])
    verifier = _Verifier(question, rows, allowed, keep=_worst_steps(rows, allowed))

    chosen = np.zeros(n, dtype=bool)
    verified = False
    iterations = 0
    facility_s, ds_s = facility0, ds0
    while iterations < max_iterations and not verified:
        iterations += 1
        track(f"solve and simulate (round {iterations})", 0.35 + 0.45 * iterations / max_iterations)
        chosen = maximize_racks(verifier.model(), time_limit=time_limit).chosen
        facility_s, ds_s, verified = verifier.check(chosen)
    ignore = set(pre_existing)
    violations_at = [] if verified else _messages(facility_s, ds_s, ignore)
    count = int(chosen.sum())

    track("one rack more: what binds", 0.8)
    one_more = _one_more(verifier, count + 1, time_limit, ignore)
    track.done()
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
        binding=one_more.binding,
        next_added=one_more.next_added,
        violations_next=one_more.violations_next,
        no_position_left=not one_more.feasible,
        iterations=iterations,
        pre_existing=[f"{LIMIT_KINDS[k].sizing_description}: {e}" for k, e in sorted(pre_existing)],
        steps=steps,
    )
