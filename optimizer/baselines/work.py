"""Rule-based flexible work: tier 3 jobs spread flat, tier 2 work out of demand-response events.

The rules (see :func:`flexible_work`):

* **Tier 1** stays on its profile.
* **Tier 3** jobs, earliest deadline first, run at one flat power in the steps of their
  window ``[release, deadline)``, skipping the dearest steps (by effective price) as long as
  the energy saved pays for the higher power (which may raise the billing peak, priced at the
  demand charge above any peak already billed), never above the maximum power and never below
  the minimum power.  They pause during demand-response events unless the deadline needs
  those steps.  Energy that still fits after the horizon end at maximum power waits (rolling
  horizon); a job that cannot meet its deadline runs at maximum power from its release and
  finishes as early as it can (least lateness).  The headroom below a peak already billed
  is used only where the estimate says it pays (a job sees only the jobs before it).
* **Tier 2** work stays on its profile, unless the import estimated for a demand-response
  event breaks its cap: then the work arriving in the event waits (at most ``max_delay``) and
  catches up at full capacity right after.

The grid import these rules weigh is an estimate (:class:`LoadEstimate`): the physics run at
the scenario's setpoints without tier 3 work, plus the facility's power per workload watt.

Energies in J, powers in W, prices in currency/MWh, times in s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from physics.constants import JOULES_PER_KWH, SECONDS_PER_HOUR, WATTS_PER_KILOWATT
from physics.facility import Facility
from physics.schedule import Schedule, workload_profiles
from physics.simulate import simulate

__all__ = ["JOULES_PER_MWH", "LoadEstimate", "estimate_load", "fill_valleys", "flexible_work"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

JOULES_PER_MWH = 3.6e9
"""[J/MWh]"""

_MAX_COUNTS = 200
"""Bound on the counts of kept steps compared for one job."""

_LEVEL_BISECTIONS = 60
"""Bisection steps of a job's fill level (its range over 2^60)."""


@dataclass(frozen=True)
class LoadEstimate:
    """Grid import estimate the work rules weigh.

    Attributes
    ----------
    base
        Grid import with tier 1/2 work on their profiles, no tier 3 work, the scenario's
        setpoints and the battery idle [W], shape (T,).
    overhead
        Extra grid import per extra watt of workload power (cooling, conversion losses,
        server fans) [-].
    """

    base: FloatArray
    overhead: float


def estimate_load(facility: Facility, series: xr.Dataset, profiles: FloatArray) -> LoadEstimate:
    """Grid import without tier 3 work and its growth per workload watt, by the physics.

    Two simulations at the scenario's setpoints: the profiles alone, and every flexible
    workload (tier 2 and 3) at its capacity or maximum power; the overhead is the ratio of
    the grid import added to the workload power added.

    Parameters
    ----------
    facility
        Compiled facility.
    series
        Exogenous series.
    profiles
        Workload power of tier 1/2 on their profiles, tier 3 zero [W], shape (T, J).

    Returns
    -------
    LoadEstimate
    """
    work = facility.workloads
    steps = profiles.shape[0]

    def grid(workload_power: FloatArray) -> FloatArray:
        schedule = Schedule(
            supply_temperature=np.tile(facility.units.supply_temperature, (steps, 1)),
            chilled_water_temperature=np.full(steps, facility.chilled_water_temperature),
            battery_power=np.zeros(steps),
            workload_power=workload_power,
        )
        ds = simulate(facility, schedule, series, per_rack=False)
        return np.asarray(ds["grid_power"].values, dtype=float)

    base = grid(profiles)
    full = profiles.copy()
    for j in np.flatnonzero(work.tier >= 2):
        full[:, j] = work.max_power[j] if work.tier[j] == 3 else work.capacity[j]
    added = float(np.sum(full - profiles))
    overhead = 1.0
    if added > 0.0:
        overhead = max(float(np.sum(grid(full) - base)) / added, 1.0)
    return LoadEstimate(base=base, overhead=overhead)


def demand_response_steps(series: xr.Dataset) -> BoolArray:
    """Steps inside a demand-response event of any programme (a hard cap ``dr_import_cap``, a
    priced cap ``dr_soft_cap`` or a credit baseline ``dr_baseline`` finite) [bool], shape (T,)."""
    inside = np.zeros(series.sizes["time"], dtype=bool)
    for name in ("dr_import_cap", "dr_soft_cap", "dr_baseline"):
        if name in series:
            inside |= np.isfinite(np.asarray(series[name].values, dtype=float))
    return inside


def flexible_work(
    facility: Facility,
    series: xr.Dataset,
    price: FloatArray,
    step: float,
    notes: list[str],
    *,
    billed_floor: float = 0.0,
) -> FloatArray:
    """Workload power above idle [W], shape (T, J), by the rules of this module.

    Parameters
    ----------
    facility
        Compiled facility.
    series
        Exogenous series (tier 1/2 profiles, optional ``dr_import_cap`` [W]).
    price
        Effective price [currency/MWh], shape (T,).
    step
        Step length [s].
    notes
        Plain-language remarks, appended to.
    billed_floor
        Grid import already billed in every step's billing period [W]: a peak up to it
        costs no demand charge.

    Returns
    -------
    numpy.ndarray
        Workload power [W], shape (T, J).
    """
    work = facility.workloads
    power = workload_profiles(facility, series) * work.capacity[np.newaxis, :]
    if not np.any(work.tier >= 2):
        return power
    estimate = estimate_load(facility, series, power)
    inputs = (facility, series, price, estimate, step)
    power, load, job_notes = _tier3_jobs(inputs, power, 0.0)
    if billed_floor > 0.0:
        # each job sees only the jobs before it: a peak it thinks is free may not stay so,
        # so the headroom below the billed peak is used only when the estimate says it pays
        def estimated_cost(grid: FloatArray) -> float:
            energy = float(np.sum(price * grid)) * step / JOULES_PER_MWH
            excess = max(float(grid.max()) - billed_floor, 0.0)
            return energy + facility.grid.demand_charge * excess

        within = _tier3_jobs(inputs, power, billed_floor)
        if estimated_cost(within[1]) < estimated_cost(load):
            power, load, job_notes = within
    notes += job_notes
    _defer_tier2(facility, series, power, load, estimate, step, notes)
    return power


def _tier3_jobs(
    inputs: tuple[Facility, xr.Dataset, FloatArray, LoadEstimate, float],
    profiles: FloatArray,
    billed_floor: float,
) -> tuple[FloatArray, FloatArray, list[str]]:
    """Tier 3 jobs, earliest deadline first, on top of ``profiles`` [W], shape (T, J).

    ``inputs`` are the facility, series, effective price [currency/MWh], load estimate and
    step [s]; ``billed_floor`` the grid import already billed [W].  Returns the workload
    power [W], the estimated grid import [W] and the notes.
    """
    facility, series, price, estimate, step = inputs
    work = facility.workloads
    power, load = profiles.copy(), estimate.base.copy()
    notes: list[str] = []
    jobs = np.flatnonzero(work.tier == 3)
    for j in jobs[np.argsort(work.deadline[jobs], kind="stable")]:
        power[:, j] = _schedule_job(
            facility, series, int(j), price, load, estimate, step, notes, billed_floor=billed_floor
        )
        load += estimate.overhead * power[:, j]
    return power, load, notes


# --- tier 3 ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    """One tier 3 job on the horizon's steps."""

    name: str
    energy: float
    """Energy to deliver within the horizon [J]."""
    min_power: float
    max_power: float
    first: int
    """First step starting at or after the release [-]."""
    stop: int
    """One past the last step ending at or before the deadline (T beyond the horizon) [-]."""
    beyond: bool
    """The deadline lies after the horizon end."""


def _job(facility: Facility, time: NDArray[np.datetime64], j: int, step: float) -> _Job:
    work = facility.workloads
    step_end = time + np.timedelta64(round(step * 1e9), "ns")
    after = float((work.deadline[j] - step_end[-1]) / np.timedelta64(1, "s"))
    energy, max_power = float(work.energy[j]), float(work.max_power[j])
    if after > 0.0:  # rolling horizon: what fits after the horizon end at full power waits
        energy = max(energy - max_power * after, 0.0)
    return _Job(
        name=work.ids[j],
        energy=energy,
        min_power=float(work.min_power[j]),
        max_power=max_power,
        first=int(np.searchsorted(time, work.release[j], side="left")),
        stop=int(np.searchsorted(step_end, work.deadline[j], side="right")),
        beyond=after > 0.0,
    )


def _schedule_job(
    facility: Facility,
    series: xr.Dataset,
    j: int,
    price: FloatArray,
    load: FloatArray,
    estimate: LoadEstimate,
    step: float,
    notes: list[str],
    *,
    billed_floor: float = 0.0,
) -> FloatArray:
    """Power of tier 3 job ``j`` [W], shape (T,); ``billed_floor``: the grid import already
    billed [W]."""
    time = series["time"].values
    steps = time.size
    job = _job(facility, time, j, step)
    power = np.zeros(steps)
    kwh = float(facility.workloads.energy[j]) / JOULES_PER_KWH
    if not job.energy > 0.0:
        if job.beyond and kwh > 0.0:
            notes.append(
                f"{job.name}: its {kwh:.0f} kWh fit after the horizon end at full power "
                "before its deadline; it waits (rolling horizon)"
            )
        return power
    if not job.max_power > 0.0:
        notes.append(f"{job.name}: maximum power is zero, the job cannot run")
        return power
    if job.first >= steps:
        notes.append(f"{job.name}: released after the horizon, not run")
        return power
    window = np.arange(job.first, job.stop)
    if job.energy > job.max_power * window.size * step * (1.0 + 1e-9):
        return _least_lateness(job, steps, step, kwh, notes)
    event = demand_response_steps(series)
    candidates = window[~event[window]]
    needed = job.energy - job.max_power * candidates.size * step
    if needed > 1e-9 * job.energy:  # the deadline needs steps of an event: the cheapest
        in_event = window[event[window]]
        extra = in_event[np.argsort(price[in_event], kind="stable")]
        count = math.ceil(needed / (job.max_power * step) - 1e-9)
        candidates = np.sort(np.concatenate([candidates, extra[:count]]))
        notes.append(
            f"{job.name}: runs in {count} step(s) of a demand-response event, without them it "
            "would miss its deadline"
        )
    power[candidates] = fill_valleys(
        job.energy,
        price[candidates],
        load,
        candidates,
        estimate.overhead,
        (job.min_power, job.max_power),
        step,
        facility.grid.demand_charge,
        billed_floor=billed_floor,
    )
    return power


def fill_valleys(
    energy: float,
    price: FloatArray,
    load: FloatArray,
    candidates: IntArray,
    overhead: float,
    power_range: tuple[float, float],
    step: float,
    demand_charge: float,
    *,
    billed_floor: float = 0.0,
) -> FloatArray:
    """Job power filling the cheapest candidate steps up to one load level, dearest skipped [W].

    For a count k of steps kept (the k cheapest), the job's power in each is what lifts the
    estimated import to one common level (flat power where the rest of the load is flat),
    within ``power_range``, the level chosen to deliver ``energy``.  The count chosen
    minimizes the estimated energy cost of the job plus the demand charge on the estimated
    peak import: without a demand charge the fewest steps the maximum power allows; with one
    the job stays flatter where the peak would rise.  Ties keep more steps.

    Parameters
    ----------
    energy
        Energy to deliver [J]; at most ``max_power × candidates × step``.
    price
        Effective price of the candidate steps [currency/MWh], shape (N,).
    load
        Estimated grid import of every step of the horizon without this job [W], shape (T,).
    candidates
        Steps the job may run in (increasing) [-], shape (N,).
    overhead
        Grid import per workload watt [-].
    power_range
        Minimum and maximum power of the job [W].
    step
        Step length [s].
    demand_charge
        [currency/W] on the horizon's peak import.
    billed_floor
        Peak import already billed [W]: the demand charge is on the peak above it.

    Returns
    -------
    numpy.ndarray
        Power in each candidate step [W], shape (N,).
    """
    low, high = power_range
    count = candidates.size
    order = np.argsort(price, kind="stable")
    fewest = max(math.ceil(energy / (high * step) - 1e-9), 1)
    most = count if low <= 0.0 else min(count, math.floor(energy / (low * step) + 1e-9))
    out = np.zeros(count)
    if most < fewest:  # too little energy for whole steps at the minimum: full, last partial
        full = energy / (high * step)
        whole = math.floor(full + 1e-9)
        out[order[:whole]] = high
        if whole < count and full - whole > 1e-9:
            out[order[whole]] = (full - whole) * high
        return out
    counts = np.linspace(fewest, most, min(most - fewest + 1, _MAX_COUNTS)).round()
    kept: IntArray = np.unique(counts).astype(np.int64)
    sorted_load = load[candidates[order]]
    power = _levels(energy, sorted_load / overhead, kept, (low, high), step)  # (K, N)
    energy_cost = power @ price[order] * step / JOULES_PER_MWH * overhead
    kept_steps = np.arange(count)[np.newaxis, :] < kept[:, np.newaxis]
    inside = np.max(np.where(kept_steps, sorted_load + overhead * power, -np.inf), axis=1)
    outside_candidates = np.delete(load, candidates)
    rest = float(outside_candidates.max()) if outside_candidates.size else -np.inf
    tail = np.append(np.maximum.accumulate(sorted_load[::-1])[::-1], -np.inf)[kept]
    peak = np.maximum(np.maximum(inside, np.maximum(tail, rest)), billed_floor)
    total = energy_cost + demand_charge * peak
    best = kept.size - 1 - int(np.argmin(total[::-1]))  # ties: the most steps kept
    out[order] = power[best]
    return out


def _levels(
    energy: float,
    sorted_load: FloatArray,
    kept: IntArray,
    power_range: tuple[float, float],
    step: float,
) -> FloatArray:
    """Power filling the first ``k`` steps up to one level, for each k of ``kept`` [W].

    ``sorted_load`` is the rest of the load in workload watts, in the candidates' price
    order; the level of each row is found by bisection so the row delivers ``energy``.
    Returns shape (K, N), zero beyond each row's k.
    """
    low, high = power_range
    mask = np.arange(sorted_load.size)[np.newaxis, :] < kept[:, np.newaxis]
    bottom = np.full(kept.size, float(sorted_load.min()) + low)
    top = np.full(kept.size, float(sorted_load.max()) + high)

    def fill(level: FloatArray) -> FloatArray:
        return np.where(mask, np.clip(level[:, np.newaxis] - sorted_load, low, high), 0.0)

    for _ in range(_LEVEL_BISECTIONS):
        middle = 0.5 * (bottom + top)
        short = fill(middle).sum(axis=1) * step < energy
        bottom = np.where(short, middle, bottom)
        top = np.where(short, top, middle)
    power = fill(top)
    return power * (energy / (power.sum(axis=1, keepdims=True) * step))


def _least_lateness(job: _Job, steps: int, step: float, kwh: float, notes: list[str]) -> FloatArray:
    """Full power from release until the energy is delivered (or the horizon ends)."""
    power = np.zeros(steps)
    full_steps = job.energy / (job.max_power * step)
    length = math.ceil(full_steps - 1e-9)
    run = min(length, steps - job.first)
    power[job.first : job.first + run] = job.max_power
    if run == length:
        power[job.first + run - 1] = (full_steps - (length - 1)) * job.max_power
    delivered = float(power.sum()) * step / JOULES_PER_KWH
    on_time = float(power[: job.stop].sum()) * step / JOULES_PER_KWH
    maximum = f"{job.max_power / WATTS_PER_KILOWATT:.0f} kW"
    missing = job.energy / JOULES_PER_KWH - delivered
    if job.beyond:
        notes.append(
            f"{job.name}: its {kwh:.0f} kWh do not fit between release and the horizon end at "
            f"{maximum} (deadline after the horizon); it runs from release at full power and "
            f"delivers {delivered:.0f} kWh here, {missing:.0f} kWh short of what cannot wait"
        )
        return power
    outcome = f"delivers {on_time:.0f} kWh on time"
    if delivered - on_time > 1e-6:
        outcome += f" and {delivered - on_time:.0f} kWh late (least lateness)"
    if missing > 1e-6:
        outcome += f"; {missing:.0f} kWh are left for after the horizon end"
    notes.append(
        f"{job.name}: its {kwh:.0f} kWh do not fit before its deadline at {maximum}; it runs "
        f"from release at full power and {outcome}"
    )
    return power


# --- tier 2 ------------------------------------------------------------------------------------


def _defer_tier2(
    facility: Facility,
    series: xr.Dataset,
    power: FloatArray,
    load: FloatArray,
    estimate: LoadEstimate,
    step: float,
    notes: list[str],
) -> None:
    """Tier 2 work out of demand-response events whose estimated import breaks the cap.

    ``power`` (tier 2 columns) and ``load`` are updated in place.
    """
    work = facility.workloads
    tier2 = [int(j) for j in np.flatnonzero(work.tier == 2)]
    if not tier2:
        return
    event = demand_response_steps(series)
    has_cap = event.any() and "dr_import_cap" in series
    cap = np.asarray(series["dr_import_cap"].values, dtype=float) if has_cap else None
    at_risk = cap is not None and bool(np.any(load[event] > cap[event]))
    kept: list[str] = []
    for j in tier2:
        delay = round(float(work.max_delay[j]) / step) if np.isfinite(work.max_delay[j]) else 0
        shifted = (
            shift_out_of_events(power[:, j], float(work.capacity[j]), delay, event)
            if at_risk and delay > 0
            else None
        )
        if shifted is None or np.allclose(shifted, power[:, j]):
            kept.append(work.ids[j])
            continue
        load += estimate.overhead * (shifted - power[:, j])
        power[:, j] = shifted
        hours = float(work.max_delay[j]) / SECONDS_PER_HOUR
        notes.append(
            f"{work.ids[j]}: its work arriving during demand-response events waits (at most "
            f"its {hours:g} h max delay) and catches up at full capacity after, to help meet "
            "the import cap"
        )
    if kept:
        notes.append(f"tier 2 workloads stay on their profiles: {', '.join(kept)}")


def shift_out_of_events(
    arrivals: FloatArray, capacity: float, delay: int, event: BoolArray
) -> FloatArray | None:
    """Tier 2 power that waits during events and catches up after [W], or None.

    Work arriving at step t must have run by step ``t + delay - 1`` (the planner's backlog
    bound: the backlog is at most the last ``delay`` steps of arrivals).  In an event the
    work runs only what the bound forces; outside, as much of the backlog as the capacity
    allows.  None when the backlog cannot be cleared by the horizon end.

    Parameters
    ----------
    arrivals
        Power of the work on its profile [W], shape (T,).
    capacity
        Largest power of the workload [W].
    delay
        Maximum delay [steps].
    event
        Steps inside a demand-response event [bool], shape (T,).

    Returns
    -------
    numpy.ndarray or None
        Power [W], shape (T,).
    """
    window = np.convolve(arrivals, np.ones(delay), mode="full")[: arrivals.size]
    out = np.zeros(arrivals.size)
    backlog = 0.0
    for t, arriving in enumerate(arrivals):
        waiting = backlog + float(arriving)
        # in an event only what the delay bound forces, else as much as the capacity allows
        run = max(waiting - float(window[t]), 0.0) if event[t] else min(capacity, waiting)
        out[t] = run
        backlog = waiting - run
    if backlog > 1e-9 * max(capacity, 1.0):
        return None
    return out
