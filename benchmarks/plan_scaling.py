"""Benchmark: co-planner time and peak memory against the floor (the same LP in HiGHS alone).

    .venv/bin/python benchmarks/plan_scaling.py            # 100, 1,000 and 10,000 racks
    .venv/bin/python benchmarks/plan_scaling.py --quick    # 100 racks only (smoke run)
    .venv/bin/python benchmarks/plan_scaling.py --profile 1000   # cProfile of the build
    .venv/bin/python benchmarks/plan_scaling.py --stages 1000    # CPU per stage of one plan

Cases: synthetic halls (:func:`twin.scenario.synthetic.synthetic_hall`) over one day at 15 min
(96 steps), with real decisions added: the GPU rows run one tier-3 training job (energy half
of what fits in the day at its maximum power, 90 % of the rows' dynamic power; minimum power
30 % of that; released at the start, due at the end), the air-cooled rows run the tier-1
inference profile, and a facility battery of 20 % of the IT design power for 2 h; a demand
charge and a carbon price as in the demo hall.  The cooling plant gets its own mechanical
feed (the synthetic hall puts it on feed F0, which it overloads beyond ~1,200 racks).
``plan`` runs with default options and shadow prices off.

Each case runs in its own process so its peak resident memory (ru_maxrss) is its own; the
plan's peak is read before the floor is measured.  Reported per case: the planner's timings
(``linearize_s``, ``baselines_s``, ``build_s``, ``solve_s`` = hand-over + HiGHS over all
solves, ``verify_s``), the split of ``solve_s`` (``handover_s``: compile to sparse arrays,
pass and sync bounds; ``highs_run_s``: HiGHS ``run``), rounds and LP solves, model size, and
the floor: the last
round's LP (tier-3 on/off variables relaxed to [0, 1], as the first solve of each
relax-and-fix round sees it) written by Pyomo's MPS writer, read by ``highspy`` and timed
over ``run()`` only.  ``ratio`` = (build + solve) / floor; ``end_to_end_ratio`` = the
whole plan's wall time / floor and ``end_to_end_cpu_ratio`` the same in CPU seconds of this
process (``plan_cpu_s`` / ``floor_cpu_s``: fairer on a shared machine); the issue's target
is ≤ 2 end to end.  ``compiles``: standard-form compilations of the model in the plan.

The floor is one LP, but a plan solves ``lp_solves`` of them (two per relax-and-fix round:
the relaxed LP cold, the fixed one warm).  ``highs_run_cpu_s`` is the CPU time of this
process inside HiGHS ``run()`` over all the plan's own solves, and
``overhead_cpu_ratio`` = ``plan_cpu_s`` / ``highs_run_cpu_s``: the whole plan over the
solver's own time in it (1 = nothing but HiGHS).  Both ratios are printed with the number
of LP solves after each case's JSON line; neither redefines the target.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import gc
import io
import json
import os
import platform
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def scenario_dict(racks: int, days: float = 1.0) -> dict[str, Any]:
    """The synthetic hall with a tier-3 job on the GPU rows, inference elsewhere, a battery,
    over ``days`` days (the job due at the end)."""
    from twin.scenario.synthetic import synthetic_hall

    data = synthetic_hall(racks, days=days, step="15 min")
    gpu_rows = [row for row in data["rows"] if row["type"] == "gpu-120"]
    air_rows = [row for row in data["rows"] if row["type"] != "gpu-120"]
    # dynamic power of a GPU rack: compute design power × (1 − idle fraction)
    gpu = data["rack_types"]["gpu-120"]
    dynamic_kw = gpu["design_power"] * (1 - gpu["fan_fraction"]) * (1 - gpu["idle_fraction"])
    job_max_kw = 0.9 * dynamic_kw * sum(row["count"] for row in gpu_rows)
    it_kw = sum(
        row["count"] * data["rack_types"][row["type"]]["design_power"] for row in data["rows"]
    )
    workloads: list[dict[str, Any]] = []
    if air_rows:
        workloads.append(
            {
                "id": "inference",
                "tier": 1,
                "racks": [f"{row['row']}??" for row in air_rows],
                "profile": "cpu_load",
            }
        )
    if gpu_rows:
        workloads.append(
            {
                "id": "training",
                "tier": 3,
                "racks": [f"{row['row']}??" for row in gpu_rows],
                "max_power": round(job_max_kw, 1),
                "energy": round(0.5 * job_max_kw * 24.0 * days, 1),
                "min_power": round(0.3 * job_max_kw, 1),
                "release": "0 h",
                "deadline": f"{24 * days:g} h",
            }
        )
    data["workloads"] = workloads
    # the synthetic hall puts the cooling plant on feed F0, sized for one UPS: beyond ~1,200
    # racks the plant alone overloads it; give the plant its own mechanical feed
    data["power"]["feeds"].append({"id": "MECH", "capacity": round(0.5 * it_kw, 1)})
    data["cooling"]["feed"] = "MECH"
    data["battery"] = {"energy": round(0.4 * it_kw, 1), "power": round(0.2 * it_kw, 1)}
    data["grid"]["demand_charge"] = 3.5
    data["grid"]["carbon_price"] = 50.0
    return data


def _model_size(model: Any) -> dict[str, int]:
    import pyomo.environ as pyo

    variables = list(model.component_data_objects(pyo.Var, descend_into=True))
    return {
        "variables": len(variables),
        "free_variables": sum(1 for v in variables if not v.fixed),
        "active_constraints": sum(
            1 for _ in model.component_data_objects(pyo.Constraint, active=True, descend_into=True)
        ),
    }


def _floor(model: Any) -> dict[str, Any]:
    """Write the model's LP relaxation to MPS, solve it with highspy alone, time ``run()``."""
    import highspy
    import pyomo.environ as pyo

    running = model.workloads.running
    for var in running.values():
        var.unfix()
        var.domain = pyo.UnitInterval
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "plan.mps")
        started = time.perf_counter()
        model.write(path, io_options={"symbolic_solver_labels": False})
        written = time.perf_counter() - started
        out: dict[str, Any] = {"write_mps_s": round(written, 2)}
        for solver in ("choose", "ipm"):
            h = highspy.Highs()
            h.setOptionValue("output_flag", False)
            h.setOptionValue("solver", solver)
            h.readModel(path)
            lp = h.getLp()
            started, cpu = time.perf_counter(), time.process_time()
            h.run()
            elapsed = time.perf_counter() - started
            key = "floor_s" if solver == "choose" else "floor_ipm_s"
            out[key] = round(elapsed, 3)
            if solver == "choose":
                out["floor_cpu_s"] = round(time.process_time() - cpu, 3)
            out[f"{key[:-2]}_status"] = h.modelStatusToString(h.getModelStatus())
            out["lp_columns"] = int(lp.num_col_)
            out["lp_rows"] = int(lp.num_row_)
            out["lp_nonzeros"] = len(lp.a_matrix_.value_)
            del h
    return out


def run_case(racks: int, days: float = 1.0) -> dict[str, Any]:
    from optimizer.plan import Planner, PlanOptions
    from twin.data.series import scenario_series
    from twin.scenario.compile import compile_facility
    from twin.scenario.loader import scenario_from_dict

    started = time.perf_counter()
    scenario = scenario_from_dict(scenario_dict(racks, days))
    facility = compile_facility(scenario)
    series = scenario_series(scenario)
    prepare = time.perf_counter() - started

    plan_started, plan_cpu_started = time.perf_counter(), time.process_time()
    planner = Planner(facility, series, PlanOptions(shadow_prices=False))
    result = planner.run()
    plan_wall = time.perf_counter() - plan_started
    plan_cpu = time.process_time() - plan_cpu_started
    plan_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = result.timings
    calls = planner.solver.solves
    out: dict[str, Any] = {
        "racks": facility.racks.count,
        "steps": series.sizes["time"],
        "status": result.status,
        "verified": result.verified,
        "rounds": result.rounds,
        "lp_solves": calls,
        "compiles": planner.solver.compiles,
        "prepare_s": round(prepare, 2),
        "linearize_s": round(t.get("linearize_s", 0.0), 2),
        "baselines_s": round(t.get("baselines_s", 0.0), 2),
        "build_s": round(t.get("build_s", 0.0), 2),
        "solve_s": round(t.get("solve_s", 0.0), 2),
        "handover_s": round(planner.solver.timings.get("handover_s", 0.0), 2),
        "highs_run_s": round(planner.solver.timings.get("highs_s", 0.0), 2),
        "highs_run_cpu_s": round(planner.solver.timings.get("highs_cpu_s", 0.0), 3),
        "verify_s": round(t.get("verify_s", 0.0), 2),
        "refine_s": round(t.get("refine_s", 0.0), 2),
        "tighten_s": round(t.get("tighten_s", 0.0), 2),
        "plan_wall_s": round(plan_wall, 2),
        "plan_cpu_s": round(plan_cpu, 2),
        "untimed_s": round(plan_wall - sum(t.values()), 2),
        "peak_rss_mb": round(plan_rss),
        **_model_size(planner.model),
        "verified_cost": round(float(result.figures["cost"]), 3),
        "savings_vs_as_operated": {
            k: None if v is None else round(v, 4) for k, v in result.savings("as_operated").items()
        },
    }
    out.update(_floor(planner.model))
    total = out["build_s"] + out["solve_s"]
    out["total_s"] = round(total, 2)
    out["ratio"] = round(total / out["floor_s"], 2) if out["floor_s"] > 0 else None
    out["ratio_per_lp_solve"] = (
        round(total / (calls * out["floor_s"]), 2) if out["floor_s"] > 0 and calls else None
    )
    # end to end: the whole plan (linearize, baselines, build, solves, verification, refinements)
    out["end_to_end_ratio"] = round(plan_wall / out["floor_s"], 2) if out["floor_s"] > 0 else None
    out["end_to_end_cpu_ratio"] = (
        round(plan_cpu / out["floor_cpu_s"], 2) if out["floor_cpu_s"] > 0 else None
    )
    # the same plan over the solver's own CPU time in it, all its LP solves
    highs_cpu = planner.solver.timings.get("highs_cpu_s", 0.0)
    out["overhead_cpu_ratio"] = round(plan_cpu / highs_cpu, 2) if highs_cpu > 0 else None
    out["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    out["peak_rss_with_floor_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


def profile_build(racks: int, top: int = 30) -> str:
    """cProfile of :func:`optimizer.model.build_model` on one case (cumulative and own time)."""
    from optimizer.baselines import as_operated
    from optimizer.linearize import linearize
    from optimizer.model import build_model
    from physics.simulate import simulate
    from twin.data.series import scenario_series
    from twin.scenario.compile import compile_facility
    from twin.scenario.loader import scenario_from_dict

    scenario = scenario_from_dict(scenario_dict(racks))
    facility = compile_facility(scenario)
    series = scenario_series(scenario)
    schedule = as_operated(facility, series)
    lin = linearize(facility, series, schedule, simulate(facility, schedule, series))
    profiler = cProfile.Profile()
    profiler.enable()
    build_model(facility, lin)
    profiler.disable()
    buffer = io.StringIO()
    stats = pstats.Stats(profiler, stream=buffer)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return buffer.getvalue()


STAGES = {
    "optimizer.planner": {
        "as_operated": "as-operated schedule",
        "simulate": "simulation: as operated (the process's first: Numba loads)",
        "linearize": "linearize (own)",
        "build_model": "Pyomo build",
    },
    "optimizer.linearize": {"simulate": "simulation: linearize's bumped point"},
    "optimizer.verify": {
        "rule_based": "rule-based baseline (own)",
        "simulate": "simulation: verification",
        "find_violations": "find violations",
        "schedule_from_model": "schedule from model",
        "tighten": "tighten",
        "_model_figures": "model figures (Pyomo expressions)",
        "_judge": "judge: verified figures and contracts",
        "plan_curve_range": "curve range",
    },
    "optimizer.baselines.policy": {
        "flexible_work": "rule-based work (own)",
        "battery_dispatch": "rule-based battery",
        "simulate": "simulation: rule-based limit check",
    },
    "optimizer.baselines.work": {"simulate": "simulation: rule-based load estimate"},
    "optimizer.baselines.cooling": {
        "hottest_inlet": "simulation: rule-based setpoint bisection (hottest inlet)",
        "simulate": "simulation: rule-based chilled water",
    },
}
"""Module-level names timed by :func:`stage_breakdown` (as the planner's modules see them)."""

METHODS = {
    "DirectHighs": {
        "_compile": "standard-form compile and highspy pass",
        "_sync_columns": "column bound syncs",
        "load_values": "solution read-back",
        "refresh_rows": "row refresh (corrections)",
    },
    "PlanSolver": {"correct": "corrections (own)", "_relax_and_fix": "relax-and-fix (own)"},
}
"""Methods timed by :func:`stage_breakdown` (class name in :mod:`optimizer.highs_direct` or
:mod:`optimizer.planner` → method → label)."""


def stage_breakdown(racks: int, days: float = 1.0) -> dict[str, Any]:
    """CPU seconds of each stage of one plan, the CPU of each LP solve, and the cyclic garbage
    collector's own CPU time (``gc.callbacks``).

    Each stage is timed with ``process_time`` around its calls, *exclusive* of the stages
    called inside it (the baseline's own work excludes its simulations, the solves' HiGHS
    ``run()`` is a stage of its own), so the stages add up to the plan; ``stage_calls``
    counts the calls and ``unattributed_cpu_s`` is what no stage covers (the loops' own
    glue).  The collector's time falls inside whichever stage triggered it.
    """
    import importlib

    import highspy

    from optimizer import highs_direct, planner
    from optimizer.plan import Planner, PlanOptions
    from twin.data.series import scenario_series
    from twin.scenario.compile import compile_facility
    from twin.scenario.loader import scenario_from_dict

    scenario = scenario_from_dict(scenario_dict(racks, days))
    facility, series = compile_facility(scenario), scenario_series(scenario)
    spent: dict[str, float] = {}
    calls: dict[str, int] = {}
    inner: list[float] = []  # CPU of the timed stages running inside each open stage

    def timed(function: Any, label: str) -> Any:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            inner.append(0.0)
            started = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = time.process_time() - started
                spent[label] = spent.get(label, 0.0) + elapsed - inner.pop()
                calls[label] = calls.get(label, 0) + 1
                if inner:
                    inner[-1] += elapsed

        return wrapper

    for module_name, names in STAGES.items():
        module = importlib.import_module(module_name)
        for name, label in names.items():
            setattr(module, name, timed(getattr(module, name), label))
    for class_name, methods in METHODS.items():
        cls = getattr(highs_direct if class_name == "DirectHighs" else planner, class_name)
        for name, label in methods.items():
            setattr(cls, name, timed(getattr(cls, name), label))
    highspy.Highs.run = timed(highspy.Highs.run, "HiGHS run()")  # type: ignore[method-assign]
    runs: list[float] = []
    collector = {"started": 0.0, "spent": 0.0}

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            collector["started"] = time.process_time()
        else:
            collector["spent"] += time.process_time() - collector["started"]

    gc.collect()
    gc.callbacks.append(on_gc)
    started = time.process_time()
    planner_ = Planner(facility, series, PlanOptions(shadow_prices=False))
    solve = planner_.solver.solve

    def counted(model: Any) -> Any:  # one LP solve: sync, HiGHS run (the first: compile)
        cpu = time.process_time()
        result = solve(model)
        runs.append(time.process_time() - cpu)
        return result

    planner_.solver.solve = counted  # type: ignore[method-assign]
    result = planner_.run()
    plan_cpu = time.process_time() - started
    collected = time.process_time()
    gc.collect()
    final_collect = time.process_time() - collected
    gc.callbacks.remove(on_gc)
    order = sorted(spent, key=lambda label: -spent[label])
    return {
        "racks": racks,
        "plan_cpu_s": round(plan_cpu, 3),
        "stages_cpu_s": {label: round(spent[label], 3) for label in order},
        "stage_calls": {label: calls[label] for label in order},
        "unattributed_cpu_s": round(plan_cpu - sum(spent.values()), 3),
        "solve_calls_cpu_s": [round(x, 3) for x in runs],
        "highs_run_cpu_s": round(planner_.solver.timings.get("highs_cpu_s", 0.0), 3),
        "gc_cpu_s": round(collector["spent"] - final_collect, 3),
        "final_collect_cpu_s": round(final_collect, 3),
        "verified_cost": result.figures["cost"],
        "rounds": result.rounds,
        "loadavg": open("/proc/loadavg").read().split()[:3],
    }


def _ratios_line(case: dict[str, Any]) -> str:
    """Both CPU ratios of a case in words, with the number of LP solves they cover."""
    return (
        f"# {case['racks']:,} racks: plan {case['plan_cpu_s']} CPU-s, {case['lp_solves']} LP "
        f"solves; end to end / one-LP floor {case['end_to_end_cpu_ratio']}x "
        f"(floor {case['floor_cpu_s']} CPU-s); end to end / HiGHS run over the plan's "
        f"{case['lp_solves']} solves {case['overhead_cpu_ratio']}x "
        f"(HiGHS {case['highs_run_cpu_s']} CPU-s)"
    )


CASES = {"full": [100, 1000, 10000], "quick": [100]}
LIMIT_S = 15 * 60.0
"""A case taking longer is stopped and reported as such."""


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 racks only")
    parser.add_argument("--profile", type=int, metavar="RACKS", help="profile the build")
    parser.add_argument("--stages", type=int, metavar="RACKS", help="CPU per stage of a plan")
    parser.add_argument("--days", type=float, default=1.0, help="look-ahead [days], default 1")
    parser.add_argument("--racks", type=int, nargs="*", help="rack counts (default: the cases)")
    parser.add_argument("--case", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.days)))
        return
    if args.profile:
        print(profile_build(args.profile))
        return
    if args.stages:
        print(json.dumps(stage_breakdown(args.stages, args.days)))
        return
    machine = platform.processor() or platform.machine()
    print(f"# machine: {machine}, {os.cpu_count()} cores, python {platform.python_version()}")
    for racks in args.racks or CASES["quick" if args.quick else "full"]:
        try:
            out = subprocess.run(
                [sys.executable, __file__, "--case", str(racks), "--days", str(args.days)],
                check=True,
                capture_output=True,
                text=True,
                timeout=LIMIT_S,
            )
        except subprocess.TimeoutExpired:
            print(json.dumps({"racks": racks, "stopped_after_s": LIMIT_S}), flush=True)
            continue
        except subprocess.CalledProcessError as exc:
            tail = (exc.stderr or "").strip().splitlines()[-3:]
            print(json.dumps({"racks": racks, "error": tail}), flush=True)
            continue
        result = json.loads(out.stdout.strip().splitlines()[-1])
        print(json.dumps(result), flush=True)
        print(_ratios_line(result), flush=True)


if __name__ == "__main__":
    main()
