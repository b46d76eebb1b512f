"""Benchmark: coupled simulation throughput and peak memory.

    .venv/bin/python benchmarks/simulate_scaling.py            # the two issue cases
    .venv/bin/python benchmarks/simulate_scaling.py --quick    # small cases (smoke run)

Each case runs in its own process so its peak resident memory (ru_maxrss) is its own.
Reports rack-steps per second of ``physics.simulate`` (series generation and compilation are
timed apart), wall and CPU, and checks the time is linear in racks × steps by comparing with
a case a quarter of the size.  The lean cases keep only the per-rack inlet temperature and
power of the per-equipment series (``simulate(outputs=...)``); the ``single`` cases store the
per-rack and per-busbar series in float32 (``simulate(precision="single")``); the ``store``
cases write the per-equipment series to a NetCDF-4 file in a temporary folder as the
simulation proceeds (``simulate(store=path)``) instead of keeping them in memory (the time
counted includes writing the file; ``store_mb`` is its size).

The C allocator keeps freed memory for reuse (``physics.runtime.allocator.keep_freed_memory``, as
``dctwin simulate`` does); ``DCTWIN_DEFAULT_MALLOC=1`` measures with glibc's defaults.
CPU time is split into user (the computation) and system time (mostly the kernel's first
touch of new memory: ``page_faults_mb`` is the memory faulted in by minor page faults, which
transparent huge pages count 2 MB at a time); on virtual machines that hand freed memory back
to the host, system time grows with the memory a run keeps (docs/benchmarks.md).

Reference, in the same process after the measured run (``peak_rss_mb`` is taken before it):
the same simulation with the power chain through the vectorized NumPy models instead of the
compiled kernel (``physics.electrical.electrical_chain(compiled=False)``);
``cpu_ratio`` is its CPU time over the kernel's.  Absolute figures depend on the machine and
on what else runs on it (docs/benchmarks.md); the ratio less so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time


def run_case(
    racks: int,
    days: float,
    step: str,
    per_rack: bool,
    outputs: list[str] | None = None,
    precision: str = "double",
    store: bool = False,
) -> dict[str, float]:
    import functools
    import tempfile

    import numpy as np

    import physics.simulate
    from physics.electrical import electrical_chain
    from physics.power import busbar_load_flow
    from physics.runtime.allocator import keep_freed_memory
    from physics.schedule import as_operated_schedule
    from physics.simulate import simulate
    from twin.data.series import scenario_series
    from twin.scenario.compile import compile_facility
    from twin.scenario.loader import scenario_from_dict
    from twin.scenario.synthetic import synthetic_hall

    if os.environ.get("DCTWIN_DEFAULT_MALLOC") != "1":  # as `dctwin simulate` does
        keep_freed_memory()
    started = time.perf_counter()
    scenario = scenario_from_dict(synthetic_hall(racks, days=days, step=step))
    facility = compile_facility(scenario)
    series = scenario_series(scenario)
    schedule = as_operated_schedule(facility, series)
    # load the compiled busbar kernel (Numba's disk cache; compiled on the first run on a
    # machine) as simulate calls it, so that simulate_s is the steady cost
    loading = time.perf_counter()
    taps = np.broadcast_to(np.full((2, 3, 1), 1e3), (2, 3, 8))
    busbar_load_flow(np.full(3, 48.0), np.full((3, 8), 1e-5), taps)
    short = series.isel(time=slice(0, 2))  # the compiled chain, on two steps
    simulate(facility, as_operated_schedule(facility, short), short, per_rack=False)
    prepared = time.perf_counter()
    folder = tempfile.TemporaryDirectory(prefix="simulate_scaling_")
    path = os.path.join(folder.name, "series.nc") if store else None
    options = {"per_rack": per_rack, "outputs": outputs, "precision": precision, "store": path}
    before = resource.getrusage(resource.RUSAGE_SELF)
    cpu = time.process_time()
    ds = simulate(facility, schedule, series, **options)  # type: ignore[arg-type]
    cpu = time.process_time() - cpu
    done = time.perf_counter()
    after = resource.getrusage(resource.RUSAGE_SELF)
    user = after.ru_utime - before.ru_utime
    faults_mb = (after.ru_minflt - before.ru_minflt) * resource.getpagesize() / 2**20
    peak = after.ru_maxrss / 1024
    steps = ds.sizes["time"]
    rack_steps = facility.racks.count * steps
    max_inlet = float(ds["max_inlet_temperature"].max())
    store_mb = os.path.getsize(path) / 2**20 if path else 0.0
    ds.close()
    del ds
    # reference: the vectorized chain, same case, same process
    physics.simulate.electrical_chain = functools.partial(electrical_chain, compiled=False)  # type: ignore[assignment]
    reference_cpu = time.process_time()
    reference = simulate(facility, schedule, series, **options)  # type: ignore[arg-type]
    reference_cpu = time.process_time() - reference_cpu
    physics.simulate.electrical_chain = electrical_chain
    reference_inlet = float(reference["max_inlet_temperature"].max())
    reference.close()
    folder.cleanup()
    return {
        "racks": facility.racks.count,
        "steps": steps,
        "rack_steps": rack_steps,
        "per_rack_output": per_rack,
        "outputs": "all" if outputs is None else ",".join(outputs),
        "precision": precision,
        "store": store,
        "store_mb": round(store_mb),
        "prepare_s": round(loading - started, 2),
        "kernel_load_s": round(prepared - loading, 2),
        "simulate_s": round(done - prepared, 2),
        "simulate_cpu_s": round(cpu, 2),
        "simulate_user_s": round(user, 2),
        "simulate_system_s": round(after.ru_stime - before.ru_stime, 2),
        "page_faults_mb": round(faults_mb),
        "rack_steps_per_s": round(rack_steps / (done - prepared)),
        "rack_steps_per_cpu_s": round(rack_steps / cpu),
        "rack_steps_per_user_cpu_s": round(rack_steps / user) if user > 0 else 0,
        "peak_rss_mb": round(peak),
        "load_average_1min": round(os.getloadavg()[0], 1),
        "max_inlet_c": round(max_inlet, 2),
        "reference_cpu_s": round(reference_cpu, 2),
        "cpu_ratio": round(reference_cpu / cpu, 2),
        "max_inlet_difference_c": abs(max_inlet - reference_inlet),
    }


LEAN = ["inlet_temperature", "rack_power"]
"""Per-equipment series kept by the lean cases (``simulate(outputs=...)``): what a thermal
and power study of every rack reads; the facility series are always kept."""

CASES = {
    "full": [
        (1000, 365.0, "15 min", True),
        (1000, 365.0 / 4, "15 min", True),
        (1000, 365.0, "15 min", True, None, "single"),
        (1000, 365.0 / 4, "15 min", True, None, "single"),
        (1000, 365.0, "15 min", True, LEAN),
        (1000, 365.0 / 4, "15 min", True, LEAN),
        (10000, 1.0, "1 min", True),
        (10000, 0.25, "1 min", True),
        (10000, 1.0, "1 min", False),
        (1000, 365.0, "15 min", True, None, "double", True),
        (1000, 365.0 / 4, "15 min", True, None, "double", True),
        (1000, 365.0, "15 min", True, None, "single", True),
        (1000, 365.0 / 4, "15 min", True, None, "single", True),
        (1000, 365.0, "15 min", True, LEAN, "double", True),
        (1000, 365.0 / 4, "15 min", True, LEAN, "double", True),
    ],
    "quick": [(200, 7.0, "15 min", True), (200, 1.75, "15 min", True)],
    # one process for the three options (lean outputs, float32, streamed to a file): each case
    # is a fresh interpreter whose imports and kernel loading cost more than its simulation
    "quick_lean": [(200, 7.0, "15 min", True, LEAN, "single", True)],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(*json.loads(args.case))))
        return
    machine = platform.processor() or platform.machine()
    print(f"# machine: {machine}, {os.cpu_count()} cores, python {platform.python_version()}")
    results = []
    for case in CASES["quick"] + CASES["quick_lean"] if args.quick else CASES["full"]:
        out = subprocess.run(
            [sys.executable, __file__, "--case", json.dumps(case)],
            check=True,
            capture_output=True,
            text=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(result)
        print(json.dumps(result), flush=True)
    # linearity: CPU time per rack-step of the full case vs its quarter-size sibling
    keys = ("racks", "per_rack_output", "outputs", "precision", "store")
    for big in results:
        for small in results:
            if all(big[k] == small[k] for k in keys) and big["steps"] == 4 * small["steps"]:
                ratio = (big["simulate_cpu_s"] / big["rack_steps"]) / (
                    small["simulate_cpu_s"] / small["rack_steps"]
                )
                label = ", ".join(f"{k}={big[k]}" for k in keys)
                print(f"# {label}: time per rack-step, full vs quarter: {ratio:.2f}")


if __name__ == "__main__":
    main()
