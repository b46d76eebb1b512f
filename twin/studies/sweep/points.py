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


def _rv(name: str, units: str, long_name: str, kind: Kind = "float") -> ResultVariable:
    return ResultVariable(name, units, long_name, kind)


_PLAN_FIGURES: tuple[ResultVariable, ...] = (
    _rv("cost", "currency", "Total cost of the verified plan"),
    _rv("energy_cost", "currency", "Energy cost"),
    _rv("demand_charge", "currency", "Demand charge on the peak import"),
    _rv("carbon_cost", "currency", "Carbon price times emissions"),
    _rv("battery_wear_cost", "currency", "Battery wear cost"),
    _rv("lateness_cost", "currency", "Tier-3 lateness penalty"),
    _rv("unserved_cost", "currency", "Tier-3 unserved-energy penalty"),
    _rv("deferred_cost", "currency", "Value of tier-3 energy deferred past the horizon"),
    _rv("carbon_kg", "kg", "Emissions (CO2e)"),
    _rv("peak_grid_kw", "kW", "Peak grid import"),
    _rv("grid_energy_kwh", "kW h", "Grid energy imported"),
    _rv("it_energy_kwh", "kW h", "IT energy"),
    _rv("cooling_energy_kwh", "kW h", "Cooling energy"),
    _rv("pue", "1", "Power usage effectiveness"),
    _rv("max_inlet_temperature_c", "degC", "Hottest rack inlet temperature"),
)
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


def result_variables() -> list[ResultVariable]:
    """Every per-point variable of a sweep result, in store order.

    Returns
    -------
    list of ResultVariable
        Name, CF units (``currency`` stands for the scenario's currency) and long name.
    """
    figures = {v.name: v for v in _PLAN_FIGURES}
    out = list(_PLAN_FIGURES)
    out += [
        _rv("power_chain_loss_kwh", "kW h", "Power-chain losses (UPS, rectifiers, busbar, IBC)"),
        _rv("other_energy_kwh", "kW h", "Facility energy neither IT, cooling nor power chain"),
        _rv("facility_energy_kwh", "kW h", "Facility energy"),
    ]
    for key, label in _BASELINES.items():
        out += [
            _rv(f"{key}_{name}", figures[name].units, f"{figures[name].long_name}, {label}")
            for name in _BASELINE_KEYS
        ]
        out.append(_rv(f"{key}_violations", "1", f"Limits broken, {label}"))
    out += [
        _rv("as_operated_power_chain_loss_kwh", "kW h", "Power-chain losses, as-operated baseline"),
        _rv("verified", "1", "Plan re-simulated without any broken limit (1) or not (0)"),
        _rv("violations", "1", "Limits broken by the released plan"),
        _rv("rounds", "1", "Verify-and-resolve rounds"),
        _rv("gap", "1", "Relative MIP gap of the released plan"),
        _rv("sla_tier1", "1", "Tier-1 SLA attainment (share of steps at full demand)"),
        _rv("sla_tier2", "1", "Tier-2 SLA attainment (share of steps within the delay limit)"),
        _rv("sla_tier3", "1", "Tier-3 SLA attainment (share of job energy deliverable on time)"),
        _rv("gpu_hours", "h", "Provisioned GPU-hours over the horizon"),
        _rv("gpu_busy_hours", "h", "Utilization-weighted GPU-hours of the plan"),
        _rv("contract_capacity_kw", "kW", "Contracted grid import limit"),
        _rv("dr_hours", "h", "Demand-response event time inside the horizon"),
        _rv("dr_max_excess_kw", "kW", "Worst import above the DR cap, plan (<= 0: met)"),
        _rv(
            "as_operated_dr_max_excess_kw",
            "kW",
            "Worst import above the DR cap, as-operated (<= 0: met)",
        ),
        _rv("dr_shed_kw", "kW", "Mean import reduction vs as-operated during DR events"),
        _rv("solve_seconds", "s", "Planner time (linearize, build, solve, verify)"),
        _rv("elapsed_seconds", "s", "Wall time of the whole point"),
        _rv("computed_at", "1", "When the point finished (ISO 8601, UTC)", "text"),
        _rv("status", "1", "Plan status or 'error'", "text"),
        _rv("error", "1", "Error message of a failed point", "text"),
        _rv("worker", "1", "Host and process that computed the point", "text"),
        _rv("run_id", "1", "Identifier of the sweep run that computed the point", "text"),
    ]
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

    spec = scenario_from_dict(task.scenario, f"point {task.index}")
    series = scenario_series(spec, Path(task.base_dir))
    facility = compile_facility(spec)
    options = PlanOptions(
        time_limit=task.time_limit, mip_gap=task.mip_gap, shadow_prices=task.shadow_prices
    )
    planned = plan(facility, series, options)
    # the as-operated baseline, already simulated by the planner for its comparison
    operated_schedule, operated = planned.baseline_schedule, planned.baseline_result
    assert operated_schedule is not None and operated is not None
    ds = planned.result
    step = float(ds.attrs["step_seconds"])
    hours = step / 3600.0
    out: dict[str, Any] = {k: float(planned.figures[k]) for k in (v.name for v in _PLAN_FIGURES)}

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
    out["status"] = planned.status
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
