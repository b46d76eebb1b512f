"""One sweep point: the per-point result variables and their evaluation (simulate, plan,
verify) in a worker process.  Part of :mod:`twin.studies.sweep.runner`.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr

from physics.constants import JOULES_PER_KWH
from physics.variables import variable
from twin.scenario.loader import ScenarioError, scenario_from_dict

# --------------------------------------------------------------------------------------------
# result variables

KWH = JOULES_PER_KWH

Kind = Literal["float", "text"]


@dataclass(frozen=True)
class ResultVariable:
    """One per-point result: name, CF units (``currency`` replaced), long name."""

    name: str
    units: str
    long_name: str
    kind: Kind = "float"


def _registered(name: str, kind: Kind = "float") -> ResultVariable:
    """The result variable ``name`` with units and long name from :mod:`physics.variables`."""
    known = variable(name)
    return ResultVariable(known.name, known.units, known.long_name, kind)


_PLAN_FIGURES = (
    "cost",
    "energy_cost",
    "demand_charge",
    "carbon_cost",
    "battery_wear_cost",
    "lateness_cost",
    "unserved_cost",
    "deferred_cost",
    "deferred_kwh",
    "carbon_kg",
    "peak_grid_kw",
    "grid_energy_kwh",
    "it_energy_kwh",
    "cooling_energy_kwh",
    "pue",
    "max_inlet_temperature_c",
)
"""Figures of the verified plan, as :func:`optimizer.plan.plan` reports them."""
_ENERGY_FIGURES = ("power_chain_loss_kwh", "other_energy_kwh", "facility_energy_kwh")
_BASELINE_KEYS = (
    "cost",
    "energy_cost",
    "demand_charge",
    "carbon_kg",
    "peak_grid_kw",
    "it_energy_kwh",
    "cooling_energy_kwh",
    "pue",
)
_BASELINES = {"as_operated": "as-operated baseline", "rule_based": "rule-based baseline"}
_POINT_FIGURES = (
    "as_operated_power_chain_loss_kwh",
    "verified",
    "violations",
    "rounds",
    "gap",
    "sla_tier1",
    "sla_tier2",
    "sla_tier3",
    "gpu_hours",
    "gpu_busy_hours",
    "contract_capacity_kw",
    "dr_hours",
    "dr_max_excess_kw",
    "as_operated_dr_max_excess_kw",
    "dr_shed_kw",
    "solve_seconds",
    "elapsed_seconds",
    "committed_hours",
    "lookahead_hours",
)
_POINT_TEXTS = ("computed_at", "status", "plan_source", "error", "worker", "run_id")


def result_variables() -> list[ResultVariable]:
    """Every per-point variable of a sweep result, in store order.

    Returns
    -------
    list of ResultVariable
        Name, CF units (``currency`` stands for the scenario's currency) and long name, from
        :mod:`physics.variables`; a baseline's figure ``{baseline}_{figure}`` has the figure's
        units and its long name followed by the baseline.
    """
    out = [_registered(name) for name in _PLAN_FIGURES + _ENERGY_FIGURES]
    for key, label in _BASELINES.items():
        for name in _BASELINE_KEYS:
            figure = variable(name)
            long_name = f"{figure.long_name}, {label}"
            out.append(ResultVariable(f"{key}_{name}", figure.units, long_name))
        out.append(_registered(f"{key}_violations"))
    out += [_registered(name) for name in _POINT_FIGURES]
    out += [_registered(name, "text") for name in _POINT_TEXTS]
    return out


TIMING_VARIABLES = ("solve_seconds", "elapsed_seconds", "computed_at", "worker", "run_id")
"""Variables that differ between two runs of the same point (time, place, run)."""


# --------------------------------------------------------------------------------------------
# one point


@dataclass(frozen=True)
class PointTask:
    """Everything a worker needs to evaluate one point (picklable)."""

    index: int
    scenario: dict[str, Any]
    base_dir: str
    gpus_per_rack: dict[str, int]
    time_limit: float
    mip_gap: float
    shadow_prices: bool
    run_id: str


_SINGLE_THREADED = False


def _single_threaded_highs() -> None:
    """Start HiGHS's global scheduler with one thread in this process (once)."""
    global _SINGLE_THREADED
    if _SINGLE_THREADED:
        return
    from optimizer.highs_direct import new_highs

    h = new_highs()
    h.setOptionValue("threads", 1)
    h.addVar(0.0, 1.0)
    h.changeColCost(0, 1.0)
    h.run()
    _SINGLE_THREADED = True


def evaluate_point(task: PointTask) -> dict[str, Any]:
    """Compile, simulate as operated, plan and verify one point; never raises.

    Parameters
    ----------
    task
        The point's scenario dict and options.

    Returns
    -------
    dict
        ``index`` and one value per :func:`result_variables` name (energies [kWh], powers
        [kW], costs [currency], carbon [kg], shares [-], times [s]); ``status`` is ``error``
        and ``error`` says why when the point failed.
    """
    started = time.perf_counter()
    record: dict[str, Any] = {"index": task.index}
    try:
        _single_threaded_highs()
        record.update(_evaluate(task))
        record["error"] = ""
    except ScenarioError as exc:
        record.update(status="error", error="; ".join(exc.problems))
    except Exception as exc:  # a failed point is recorded, the sweep goes on
        record.update(status="error", error=f"{type(exc).__name__}: {exc}")
    record["elapsed_seconds"] = time.perf_counter() - started
    record["computed_at"] = datetime.now(UTC).isoformat(timespec="microseconds")
    record["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    record["run_id"] = task.run_id
    return record


def _evaluate(task: PointTask) -> dict[str, Any]:
    from optimizer.plan import PlanOptions, plan
    from twin.data.series import scenario_series
    from twin.scenario.compile import compile_facility
    from twin.scenario.window import plan_window

    # the point's window is the committed period; the plan (and the figures of plan and
    # baselines) cover the look-ahead to the deadlines of the jobs active in it
    window = plan_window(scenario_from_dict(task.scenario, f"point {task.index}"))
    spec = window.scenario
    series = scenario_series(spec, Path(task.base_dir))
    facility = compile_facility(spec)
    options = PlanOptions(
        time_limit=task.time_limit,
        mip_gap=task.mip_gap,
        shadow_prices=task.shadow_prices,
        committed_hours=window.committed_hours,
    )
    planned = plan(facility, series, options)
    # the as-operated baseline, already simulated by the planner for its comparison
    operated_schedule, operated = planned.baseline_schedule, planned.baseline_result
    assert operated_schedule is not None and operated is not None
    ds = planned.result
    step = float(ds.attrs["step_seconds"])
    hours = step / 3600.0
    out: dict[str, Any] = {k: float(planned.figures[k]) for k in _PLAN_FIGURES}

    def energy(dataset: xr.Dataset, name: str) -> float:
        return float(dataset[name].sum()) * step / KWH

    out["power_chain_loss_kwh"] = energy(ds, "power_chain_loss")
    out["facility_energy_kwh"] = energy(ds, "facility_power")
    out["other_energy_kwh"] = (
        out["facility_energy_kwh"]
        - out["it_energy_kwh"]
        - out["cooling_energy_kwh"]
        - out["power_chain_loss_kwh"]
    )
    if abs(out["other_energy_kwh"]) < 1e-9 * max(out["facility_energy_kwh"], 1.0):
        out["other_energy_kwh"] = 0.0  # round-off of the energy balance
    out["as_operated_power_chain_loss_kwh"] = energy(operated, "power_chain_loss")
    for key in _BASELINES:
        for name in _BASELINE_KEYS:
            out[f"{key}_{name}"] = float(planned.baselines[key][name])
        out[f"{key}_violations"] = float(len(planned.baseline_violations[key]))
    out["verified"] = float(planned.verified)
    out["violations"] = float(len(planned.violations))
    out["rounds"] = float(planned.rounds)
    out["gap"] = float("nan") if planned.gap is None else float(planned.gap)
    out.update(
        _sla(facility, operated_schedule.workload_power, planned.schedule.workload_power, ds, step)
    )
    gpus = np.array(
        [task.gpus_per_rack.get(str(t), 0) for t in facility.racks.type_name], dtype=float
    )
    if task.gpus_per_rack:
        out["gpu_hours"] = float(gpus.sum()) * ds.sizes["time"] * hours
        utilization = ds["rack_utilization"].transpose("time", "rack").values
        out["gpu_busy_hours"] = float((utilization * gpus).sum()) * hours
    else:
        out["gpu_hours"] = out["gpu_busy_hours"] = float("nan")
    out["contract_capacity_kw"] = facility.grid.contract_capacity / 1e3
    out.update(_demand_response(ds, operated, hours))
    out["solve_seconds"] = float(sum(planned.timings.values()))
    out["committed_hours"] = window.committed_hours
    out["lookahead_hours"] = window.lookahead_hours
    out["status"] = planned.status
    out["plan_source"] = planned.source
    return out


def _sla(
    facility: Any, demand: np.ndarray, served: np.ndarray, ds: xr.Dataset, step: float
) -> dict[str, float]:
    """SLA attainment per tier [-] (NaN when the tier has no workload)."""
    work = facility.workloads
    steps = demand.shape[0]
    out: dict[str, float] = {}
    tol = 1.0  # W
    tier1 = np.flatnonzero(work.tier == 1)
    out["sla_tier1"] = (
        float(np.mean(served[:, tier1] >= demand[:, tier1] * (1 - 1e-6) - tol))
        if tier1.size
        else float("nan")
    )
    tier2 = np.flatnonzero(work.tier == 2)
    if tier2.size:
        met = []
        for j in tier2:
            delay = (
                int(np.floor(float(work.max_delay[j]) / step))
                if np.isfinite(work.max_delay[j])
                else 0
            )
            due = np.concatenate([np.zeros(delay), np.cumsum(demand[:, j])])[:steps]
            met.append(np.cumsum(served[:, j]) >= due * (1 - 1e-6) - tol)
        out["sla_tier2"] = float(np.mean(met))
    else:
        out["sla_tier2"] = float("nan")
    tier3 = np.flatnonzero(work.tier == 3)
    if tier3.size:
        time_axis = ds["time"].values
        end = time_axis + np.timedelta64(int(step * 1e9), "ns")
        required = delivered = 0.0
        for j in tier3:
            energy = served[:, j] * step
            on_time = float(energy[end <= work.deadline[j]].sum())
            after = max((work.deadline[j] - end[-1]) / np.timedelta64(1, "s"), 0.0)
            left = max(float(work.energy[j]) - float(energy.sum()), 0.0)
            required += float(work.energy[j])
            delivered += min(
                on_time + min(left, float(work.max_power[j]) * after), float(work.energy[j])
            )
        out["sla_tier3"] = delivered / required if required > 0 else float("nan")
    else:
        out["sla_tier3"] = float("nan")
    return out


def _demand_response(ds: xr.Dataset, operated: xr.Dataset, hours: float) -> dict[str, float]:
    """DR event time [h], worst excess over the cap [kW], mean import shed [kW]."""
    cap = ds["dr_import_cap"].values if "dr_import_cap" in ds else np.full(ds.sizes["time"], np.nan)
    event = np.isfinite(cap)
    if not event.any():
        nan = float("nan")
        return {
            "dr_hours": 0.0,
            "dr_max_excess_kw": nan,
            "as_operated_dr_max_excess_kw": nan,
            "dr_shed_kw": nan,
        }
    plan_grid = ds["grid_power"].values[event]
    base_grid = operated["grid_power"].values[event]
    return {
        "dr_hours": float(event.sum()) * hours,
        "dr_max_excess_kw": float(np.max(plan_grid - cap[event])) / 1e3,
        "as_operated_dr_max_excess_kw": float(np.max(base_grid - cap[event])) / 1e3,
        "dr_shed_kw": float(np.mean(base_grid - plan_grid)) / 1e3,
    }
