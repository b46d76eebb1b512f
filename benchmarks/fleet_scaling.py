"""Benchmark: the fleet co-plan (and its per-site verification) as the fleet grows.

    .venv/bin/python benchmarks/fleet_scaling.py --quick            # 2 edge pods, 1 day hourly
    .venv/bin/python benchmarks/fleet_scaling.py example            # scenarios/fleet-real.yaml
    .venv/bin/python benchmarks/fleet_scaling.py fifty              # 3 cores + 47 edge pods
    .venv/bin/python benchmarks/fleet_scaling.py racks [--sites 10 --racks 1000] [--verify-only]

Cases (7 days unless ``--quick``):

``example``
    ``scenarios/fleet-real.yaml`` (3 core halls, 4 edge pods, real 2023 zone data; the demo
    fleet ``scenarios/fleet.yaml`` when ``../shared/data`` is absent), at its 15 min step.
``fifty``
    50 sites, hourly: 3 core halls (the demo hall) and 47 edge pods (the edge-pod design),
    each on one of the seven real zones in turn (constant prices without the data), one metro
    region per site (8 ms budget: its own site), each pod's video batch free to move to the
    next pod over a 1 Gbit/s link.
``racks``
    ``--sites`` synthetic halls of ``--racks`` racks (default 10 x 10,000 = 100,000), hourly:
    the full co-plan (placement, per-site LPs, verification, baselines).  GPU rows (``G*``)
    host one training job per hall free to move to the next hall; inference rows (``I*``)
    serve a metro region within 20 ms of its hall and the next.  ``--verify-only``: every
    site's as-operated schedule simulated, in this process and (``--dask``) on a
    ``LocalCluster`` of 2 worker processes — the work of one verification round.

Printed: one JSON line per case with wall-clock stages [s] and the peak resident memory of
this process [GB] (ru_maxrss; run one case per process for its own peak).  Times on a shared
machine vary by 2–4× with the load; no timing is asserted anywhere.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data"
ZONES = ("US-TEX-ERCO", "DE-LU", "JP-TK", "US-CAL-CISO", "US-MIDA-PJM", "US-NY-NYIS", "SG")
POD = str(ROOT / "scenarios" / "edge-pod.yaml")
HALL = str(ROOT / "scenarios" / "demo-hall.yaml")


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _series(index: int) -> list[dict[str, Any]]:
    """Zone series of site ``index``: a real zone when the data is there, else a constant
    price [USD/MWh] that differs per site."""
    if DATA.is_dir():
        zone = ZONES[index % len(ZONES)]
        return [{"zone": zone, "data_dir": str(DATA), "replay_from": "2023-07-10T00:00:00Z"}]
    return [{"constant": 40.0 + 7.0 * (index % 11), "variable": "price"}]


def _site(name: str, index: int, core: bool) -> dict[str, Any]:
    return {
        "name": name,
        "scenario": HALL if core else POD,
        "metro": name,
        "continent": "north-america",
        "series": _series(index),
        "exclude_workloads": (
            ["chat-inference", "finetune-batch"]
            if core
            else ["edge-inference", "video-analytics-batch"]
        ),
        "job_racks": ["B*"] if core else ["A04", "B0[5-8]"],
        "inference_racks": ["C*"] if core else ["A0[1-3]"],
    }


def fleet_dict(sites: int, cores: int, days: float, step: str) -> dict[str, Any]:
    """A fleet of ``cores`` demo halls and ``sites - cores`` edge pods (see module docs)."""
    names = [f"core-{i}" if i < cores else f"pod-{i}" for i in range(sites)]
    specs = [_site(name, i, i < cores) for i, name in enumerate(names)]
    regions = [
        {
            "name": f"metro-{name}",
            "demand": "150 kW" if i < cores else "10 kW",
            "profile": "cpu_load",
            "profile_site": name,
            "latency_budget": "8 ms",
            "latency": {other: ("2 ms" if other == name else "40 ms") for other in names},
        }
        for i, name in enumerate(names)
    ]
    pods = names[cores:]
    links, jobs = [], []
    for i, name in enumerate(pods):
        neighbour = pods[(i + 1) % len(pods)]
        if neighbour != name and not (len(pods) == 2 and i == 1):  # one link per pair
            links.append(
                {"between": [name, neighbour], "latency": "20 ms", "bandwidth": "1 Gbit/s"}
            )
            links[-1]["price"] = 0.02
        jobs.append(
            {
                "name": f"video-{name}",
                "energy": "150 kWh",
                "deadline": f"{min(days * 24 - 4, 48):g} h",
                "max_power": "12.8 kW",
                "sites": [name, neighbour] if neighbour != name else [name],
                "data": "50 GB",
                "checkpoint": "5 GB",
            }
        )
    return {
        "fleet": f"benchmark fleet ({sites} sites)",
        "simulation": {"start": "2026-07-06T00:00:00Z", "duration": f"{days:g} d", "step": step},
        "sites": specs,
        "regions": regions,
        "links": links,
        "jobs": jobs,
    }


def _synthetic_site(index: int, racks: int, days: float) -> dict[str, Any]:
    """Site ``index``: a synthetic hall of ``racks`` racks (see module docs) whose GPU rows
    (named ``G…``) host fleet jobs and whose inference rows (``I…``) serve tier 1."""
    from twin.scenario.synthetic import synthetic_hall

    hall = synthetic_hall(racks, days=days, step="1 h")
    for row in hall["rows"]:
        row["row"] = ("G" if row["type"] == "gpu-120" else "I") + row["row"][1:]
    hall["series"] = [{"generate": "demo", "seed": index + 1}]
    name = f"hall-{index}"
    return {
        "name": name,
        "scenario": hall,
        "metro": name,
        "continent": "north-america",
        "series": _series(index),
        "exclude_workloads": ["inference"],
        "job_racks": ["G*"],
        "inference_racks": ["I*"],
    }


def racks_fleet_dict(sites: int, racks: int, days: float) -> dict[str, Any]:
    """``sites`` synthetic halls of ``racks`` racks each, hourly (see module docs)."""
    names = [f"hall-{i}" for i in range(sites)]
    gpu_racks = sum(min(20, racks - 20 * r) for r in range(round(math.ceil(racks / 20) / 2)))
    job_kw = gpu_racks * 120.0 * 0.75  # the GPU racks' dynamic power [kW]
    serve_kw = (racks - gpu_racks) * 40.0 * 0.65  # the inference racks' dynamic power [kW]
    regions, links, jobs = [], [], []
    for i, name in enumerate(names):
        neighbour = names[(i + 1) % sites]
        regions.append(
            {
                "name": f"metro-{name}",
                "demand": f"{0.5 * serve_kw:g} kW",
                "profile": "cpu_load",
                "profile_site": name,
                "latency_budget": "20 ms",
                "latency": {
                    other: ("2 ms" if other == name else "15 ms" if other == neighbour else "60 ms")
                    for other in names
                },
            }
        )
        if sites > 2 or i == 0:
            links.append(
                {
                    "between": [name, neighbour],
                    "latency": "15 ms",
                    "bandwidth": "100 Gbit/s",
                    "price": 0.01,
                }
            )
        jobs.append(
            {
                "name": f"train-{name}",
                "energy": f"{0.5 * job_kw * 48:g} kWh",  # 48 h at half the job racks
                "release": "12 h",
                "deadline": f"{days * 24 - 12:g} h",
                "sites": [name, neighbour],
                "data": "2000 GB",
                "checkpoint": "500 GB",
            }
        )
    return {
        "fleet": f"benchmark fleet ({sites} halls x {racks} racks)",
        "simulation": {"start": "2026-07-06T00:00:00Z", "duration": f"{days:g} d", "step": "1 h"},
        "sites": [_synthetic_site(i, racks, days) for i in range(sites)],
        "regions": regions,
        "links": links,
        "jobs": jobs,
    }


def plan_case(
    path: Path, time_limit: float, client: Any = None, per_site: bool = False
) -> dict[str, Any]:
    """Build and plan the fleet in ``path``; stages [s], figures, verified.  ``per_site``:
    :func:`optimizer.fleet.per_site.plan_fleet_per_site` (one site's model at a time)."""
    from optimizer.fleet.per_site import plan_fleet_per_site
    from optimizer.fleet.plan import plan_fleet
    from optimizer.planner import PlanOptions
    from twin.fleet.build import build_fleet

    started = time.perf_counter()
    ready = build_fleet(path)
    built = time.perf_counter() - started
    options = PlanOptions(time_limit=time_limit, fine_hours=24.0)
    if per_site:
        plan = plan_fleet_per_site(ready.problem, options, baseline_routing=ready.baseline_routing)
    else:
        plan = plan_fleet(
            ready.problem, options, baseline_routing=ready.baseline_routing, client=client
        )
    data = plan.to_json()
    racks = sum(site.facility.racks.count for site in ready.problem.sites)
    return {
        "sites": len(ready.problem.sites),
        "racks": racks,
        "per_site": per_site,
        "steps": int(ready.problem.time.size),
        "status": data["status"],
        "plan_source": data["plan_source"],
        "verified": data["verified"],
        "equal_work": data.get("equal_work", {}).get("equal"),
        "savings_vs_sites_alone": data.get("savings_vs_sites_alone"),
        "savings_vs_as_operated": data.get("savings_vs_as_operated"),
        "read_s": round(built, 2),
        **{k: round(v, 2) for k, v in data["timings"].items()},
        "wall_s": round(time.perf_counter() - started, 2),
    }


def verify_only(sites: int, racks_per_site: int, days: float, dask: bool) -> dict[str, Any]:
    """Simulate every site's as-operated schedule: serially, then on a LocalCluster."""
    from optimizer.baselines.policy import as_operated
    from physics.simulate import simulate
    from twin.data.series import scenario_series
    from twin.scenario.compile import compile_facility
    from twin.scenario.loader import scenario_from_dict
    from twin.scenario.synthetic import synthetic_hall

    started = time.perf_counter()
    work = []
    for index in range(sites):
        data = synthetic_hall(racks_per_site, days=days, step="1 h")
        data["series"] = [{"generate": "demo", "seed": index + 1}]
        spec = scenario_from_dict(data, f"site {index}")
        facility = compile_facility(spec)
        series = scenario_series(spec)
        work.append((facility, as_operated(facility, series), series))
    out: dict[str, Any] = {
        "sites": sites,
        "racks": sites * racks_per_site,
        "steps": int(work[0][2].sizes["time"]),
        "build_s": round(time.perf_counter() - started, 2),
    }
    started = time.perf_counter()
    for facility, schedule, series in work:
        simulate(facility, schedule, series)
    out["serial_s"] = round(time.perf_counter() - started, 2)
    out["peak_gb_serial"] = round(_peak_gb(), 3)
    if dask:
        from distributed import Client, LocalCluster

        with (
            LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
            Client(cluster) as client,
        ):
            started = time.perf_counter()
            futures = [client.submit(simulate, *item, pure=False) for item in work]
            client.gather(futures)
            out["dask_2_workers_s"] = round(time.perf_counter() - started, 2)
        out["speedup"] = round(out["serial_s"] / out["dask_2_workers_s"], 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("case", nargs="?", default="example", choices=["example", "fifty", "racks"])
    parser.add_argument("--quick", action="store_true", help="2 edge pods, 1 day hourly")
    parser.add_argument("--dask", action="store_true", help="verify on a 2-worker LocalCluster")
    parser.add_argument("--verify-only", action="store_true", help="simulate the sites only")
    parser.add_argument(
        "--per-site", action="store_true", help="plan one site's model at a time (big fleets)"
    )
    parser.add_argument("--sites", type=int, default=10, help="racks: number of halls")
    parser.add_argument("--racks", type=int, default=10_000, help="racks: racks per hall")
    parser.add_argument("--time-limit", type=float, default=600.0, help="per solve [s]")
    args = parser.parse_args()
    client, cluster = None, None
    workers_gb: dict[str, float] = {}
    if args.dask and not args.verify_only:
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None)
        client = Client(cluster)
    try:
        if args.quick:
            result = {"case": "quick"}
            if args.verify_only:
                result.update(verify_only(2, 40, 1.0, args.dask))
            else:
                result.update(
                    _plan_dict(fleet_dict(2, 0, 1.0, "1 h"), args.time_limit, client, args.per_site)
                )
        elif args.case == "racks" and args.verify_only:
            result = {"case": "racks", **verify_only(args.sites, args.racks, 7.0, args.dask)}
        elif args.case == "racks":
            data = racks_fleet_dict(args.sites, args.racks, 7.0)
            result = {"case": "racks", **_plan_dict(data, args.time_limit, client, args.per_site)}
        elif args.case == "fifty":
            data = fleet_dict(50, 3, 7.0, "1 h")
            result = {"case": "fifty", **_plan_dict(data, args.time_limit, client, args.per_site)}
        else:
            path = ROOT / "scenarios" / ("fleet-real.yaml" if DATA.is_dir() else "fleet.yaml")
            result = {
                "case": "example",
                "file": path.name,
                **plan_case(path, args.time_limit, client, args.per_site),
            }
    finally:
        if client is not None:
            workers_gb = client.run(_peak_gb)
            client.close()
            cluster.close()
    result["peak_gb"] = round(_peak_gb(), 3)
    if workers_gb:
        result["peak_gb_workers"] = [round(v, 3) for v in workers_gb.values()]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 1)
    print(json.dumps(result))


def _plan_dict(
    data: dict[str, Any], time_limit: float, client: Any, per_site: bool = False
) -> dict[str, Any]:
    import yaml

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fleet.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return plan_case(path, time_limit, client, per_site)


if __name__ == "__main__":
    main()
