"""The fleet co-plan on small fleets of edge pods, solved by HiGHS and verified by each site's
physics: moving work to the cheaper zone, latency budgets, link bandwidth, impossible jobs,
Dask verification, and a real-data fleet (ERCOT, DE-LU, JP-TK, July 2023)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from optimizer.fleet.plan import plan_fleet
from optimizer.fleet.result import COST_PARTS, FleetPlan
from optimizer.fleet.solve import FleetSolver
from optimizer.planner import PlanOptions
from tests.helpers import ROOT
from twin.cli.fleet import format_fleet_plan
from twin.fleet.build import FleetInput, build_fleet

POD = str(ROOT / "scenarios" / "edge-pod.yaml")


def pod(name: str, price: float, **extra: Any) -> dict[str, Any]:
    """An edge pod whose fleet jobs run on A04 and B05–B08 (11.6 kW), tier 1 on A01–A03
    (15.5 kW), at a constant energy price [USD/MWh]."""
    site = {
        "name": name,
        "scenario": POD,
        "metro": name,
        "continent": "europe",
        "series": [{"constant": price, "variable": "price"}],
        "exclude_workloads": ["edge-inference", "video-analytics-batch"],
        "job_racks": ["A04", "B0[5-8]"],
        "inference_racks": ["A0[1-3]"],
    }
    site.update(extra)
    return site


def fleet_file(tmp_path: Path, **sections: Any) -> Path:
    data = {
        "fleet": "test fleet",
        "simulation": {"start": "2026-06-01T00:00:00Z", "duration": "2 d", "step": "1 h"},
        "sites": [pod("expensive", 250.0), pod("cheap", 20.0)],
        "links": [
            {
                "between": ["expensive", "cheap"],
                "latency": "10 ms",
                "bandwidth": "1 Gbit/s",
                "price": 0.02,
            }
        ],
        "jobs": [
            {
                "name": "batch",
                "energy": "150 kWh",
                "deadline": "40 h",
                "sites": ["expensive", "cheap"],
                "checkpoint": "20 GB",
                "data": "50 GB",
            }
        ],
    }
    data.update(sections)
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run(path: Path, **kwargs: Any) -> tuple[FleetInput, FleetPlan]:
    ready = build_fleet(path)
    options = PlanOptions(time_limit=60.0, fine_hours=24.0)
    return ready, plan_fleet(
        ready.problem, options, baseline_routing=ready.baseline_routing, **kwargs
    )


def test_moving_a_job_to_the_cheaper_zone_lowers_cost_with_equal_work(tmp_path: Path) -> None:
    _, plan = run(fleet_file(tmp_path))
    data = plan.to_json()
    assert plan.status == "optimal" and plan.verified, data["problems"]
    job = data["jobs"]["batch"]
    assert job["met"] and job["on_time_kwh"] == pytest.approx(150.0, rel=1e-4)
    # nearly all of the job runs at the cheap site (it pauses while its data is copied)
    assert job["by_site_kwh"]["cheap"] > 0.8 * 150.0
    assert data["cost"] < data["baselines"]["sites_alone"]["cost"]
    assert data["savings_vs_sites_alone"]["cost"] > 0.02
    # at least 80 % of the job's 150 kWh bought at 20 instead of 250 USD/MWh
    saved = data["baselines"]["sites_alone"]["energy_cost"] - data["energy_cost"]
    assert saved > 0.8 * 150.0 * (0.250 - 0.020)
    assert data["equal_work"]["equal"]
    # the move copied the checkpoint and the input data over the link, priced and with energy
    assert data["transfer_gb"] == pytest.approx(70.0, rel=1e-3)
    (transfer,) = data["transfers"]
    assert (transfer["from"], transfer["to"]) == ("expensive", "cheap")
    assert transfer["cost"] == pytest.approx(70.0 * 0.02, rel=1e-3)
    # sites_alone keeps the job at home, as operated runs it flat out from its release
    assert data["baselines"]["sites_alone"]["jobs"]["batch"]["by_site_kwh"]["cheap"] == 0.0
    assert data["baselines"]["sites_alone"]["transfer_gb"] == 0.0
    # why: the mean price over the job's hours where it ran, here and had it stayed home
    assert job["mean_price_per_mwh"]["cheap"] == pytest.approx(20.0)
    home = data["baselines"]["sites_alone"]["jobs"]["batch"]["mean_price_per_mwh"]
    assert home == {"expensive": pytest.approx(250.0)}
    # the parts of the cost add up to it, for the plan and each baseline, and so do the
    # report's rows (the DR credit subtracted)
    for column in (data, *data["baselines"].values()):
        credit = column["demand_response_credit"]
        parts = sum(column[k] for k in COST_PARTS if k != "demand_response_credit") - credit
        assert column["cost"] == pytest.approx(parts + column["transfer_cost"], rel=1e-9)
    report = format_fleet_plan(data).splitlines()
    first = report.index(next(line for line in report if line.startswith("cost [")))
    rows = report[first + 1 : report.index(next(r for r in report if r.startswith("emissions")))]
    shown = [float(line[26:40].replace(",", "")) for line in rows]
    signs = [-1.0 if "DR credit" in line else 1.0 for line in rows]
    total = float(report[first][26:40].replace(",", ""))
    assert abs(sum(v * s for v, s in zip(shown, signs, strict=True)) - total) <= len(rows)
    assert any(line.startswith("  network [") for line in rows)


def test_a_copy_longer_than_a_period_spreads_over_periods_within_the_bandwidth(
    tmp_path: Path,
) -> None:
    # 0.05 Gbit/s carries 22.5 GB an hour: the 70 GB of checkpoint and data take 3.1 h, so
    # the copy spans 4 hourly periods (until 2026-12-07 a copy had to fit in one period and
    # the job stayed home whatever the saving)
    links = [
        {
            "between": ["expensive", "cheap"],
            "latency": "10 ms",
            "bandwidth": "0.05 Gbit/s",
            "price": 0.02,
        }
    ]
    ready, plan = run(fleet_file(tmp_path, links=links))
    data = plan.to_json()
    assert plan.verified, data["problems"]
    job = data["jobs"]["batch"]
    assert job["met"] and job["by_site_kwh"]["cheap"] > 100.0
    (transfer,) = data["transfers"]
    assert transfer["gb"] == pytest.approx(70.0, rel=1e-3)
    (move,) = transfer["moves"]
    start, done = np.datetime64(move["start"][:19]), np.datetime64(move["copy_done"][:19])
    assert done - start == np.timedelta64(4, "h")
    # the job runs nowhere while its copy is under way, and at the cheap site only after it
    schedules = plan.plan.schedules  # type: ignore[union-attr]
    time = ready.problem.time
    for name in ("expensive", "cheap"):
        j = ready.problem.site(name).workload_index("fleet:batch")
        power = schedules[name].workload_power[:, j]
        during = (time >= start) & (time < done)
        assert np.all(power[during] <= 1e-6), name
    j = ready.problem.site("cheap").workload_index("fleet:batch")
    assert time[np.nonzero(schedules["cheap"].workload_power[:, j] > 1e-6)[0][0]] >= done


def test_a_copy_that_cannot_end_inside_the_window_keeps_the_job_home(tmp_path: Path) -> None:
    # 0.001 Gbit/s carries 0.45 GB an hour: 70 GB would take 156 h of a 48 h window
    links = [
        {
            "between": ["expensive", "cheap"],
            "latency": "10 ms",
            "bandwidth": "0.001 Gbit/s",
            "price": 0.02,
        }
    ]
    _, plan = run(fleet_file(tmp_path, links=links))
    data = plan.to_json()
    assert plan.verified
    assert data["jobs"]["batch"]["by_site_kwh"]["cheap"] == pytest.approx(0.0, abs=1e-6)
    assert data["transfers"] == []
    # with a 0.5 GB checkpoint and no input data the same link lets it move
    jobs = [
        {
            "name": "batch",
            "energy": "150 kWh",
            "deadline": "40 h",
            "sites": ["expensive", "cheap"],
            "checkpoint": "0.5 GB",
        }
    ]
    _, plan = run(fleet_file(tmp_path, links=links, jobs=jobs))
    data = plan.to_json()
    assert data["jobs"]["batch"]["by_site_kwh"]["cheap"] > 100.0
    for transfer in data["transfers"]:
        assert transfer["gb"] <= 0.45 * 48


def regions(budget: str) -> list[dict[str, Any]]:
    return [
        {
            "name": "near-expensive",
            "demand": "12 kW",
            "latency": {"expensive": "2 ms", "cheap": "25 ms"},
            "latency_budget": budget,
        }
    ]


def test_latency_budget_is_respected(tmp_path: Path) -> None:
    # the cheap site would serve the demand for less, but it is 25 ms away: never routed there
    ready, plan = run(fleet_file(tmp_path, regions=regions("10 ms")))
    data = plan.to_json()
    assert plan.verified, data["problems"]
    assert ready.problem.regions[0].eligible == ["expensive"]
    assert data["routing"]["near-expensive"] == {"expensive": 1.0}
    assert data["latency_violations"] == []
    # with a looser budget the routing moves (part of) tier 1 to the cheap site
    _, plan = run(fleet_file(tmp_path, regions=regions("30 ms")))
    data = plan.to_json()
    assert data["routing"]["near-expensive"]["cheap"] > 0.5
    assert data["savings_vs_sites_alone"]["cost"] > 0


def test_no_site_within_the_latency_budget_is_infeasible_and_explained(tmp_path: Path) -> None:
    _, plan = run(fleet_file(tmp_path, regions=regions("1 ms")))
    assert plan.status == "infeasible" and not plan.verified
    (line,) = plan.explanation
    assert "near-expensive" in line and "1 ms latency budget" in line
    assert "nearest: expensive at 2 ms" in line


def test_too_large_a_job_is_infeasible_and_explained(tmp_path: Path) -> None:
    jobs = [{"name": "huge", "energy": "5000 kWh", "deadline": "40 h", "sites": ["expensive"]}]
    _, plan = run(fleet_file(tmp_path, jobs=jobs))
    assert plan.status == "infeasible"
    (line,) = plan.explanation
    assert "job 'huge'" in line and "5,000 kWh" in line and "11.6" not in line
    assert "at most 12 kW for 40 h" in line


def test_sites_are_verified_on_a_dask_cluster(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    path = fleet_file(tmp_path)
    _, local = run(path)
    with (
        distributed.LocalCluster(n_workers=2, processes=False, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        _, remote = run(path, client=client)
    assert remote.verified
    assert remote.to_json()["cost"] == pytest.approx(local.to_json()["cost"], rel=1e-9)


def test_real_data_fleet_ercot_de_jp_july_week(shared_data: Path, tmp_path: Path) -> None:
    """Three edge pods on the real 2023 zone series (price, carbon, weather) of a July week."""
    del shared_data  # the fixture skips when ../shared/data is absent
    data_dir = str(ROOT.parent / "shared" / "data")

    def zone(name: str, zone_name: str, continent: str) -> dict[str, Any]:
        site = pod(name, 0.0, continent=continent, grid_zone=zone_name)
        site["series"] = [
            {"zone": zone_name, "data_dir": data_dir, "replay_from": "2023-07-10T00:00:00Z"}
        ]
        return site

    sites = [
        zone("dallas", "US-TEX-ERCO", "north-america"),
        zone("frankfurt", "DE-LU", "europe"),
        zone("tokyo", "JP-TK", "asia-pacific"),
    ]
    jobs = [
        {
            "name": "batch",
            "energy": "300 kWh",
            "deadline": "3 d",
            "sites": ["dallas", "frankfurt", "tokyo"],
            "checkpoint": "5 GB",
        }
    ]
    path = fleet_file(
        tmp_path,
        simulation={"start": "2026-07-06T00:00:00Z", "duration": "4 d", "step": "1 h"},
        sites=sites,
        links=[],
        jobs=jobs,
    )
    _, plan = run(path)
    data = plan.to_json()
    assert plan.verified, data["problems"]
    assert data["jobs"]["batch"]["met"]
    assert data["cost"] <= data["baselines"]["sites_alone"]["cost"] + 1e-6
    assert data["equal_work"]["equal"]
    # links came from the published defaults (no link in the file)
    assert any("Persico" in note for note in data["notes"])
    assert np.isfinite(data["carbon_kg"])


def test_contingency_reroutes_within_budgets_and_reports_what_is_lost(tmp_path: Path) -> None:
    from optimizer.fleet.contingency import fleet_contingency

    two = [
        {
            "name": "edge-users",
            "demand": "10 kW",
            "latency": {"expensive": "2 ms", "cheap": "6 ms"},
            "latency_budget": "8 ms",
        },
        {
            "name": "local-users",
            "demand": "9 kW",
            "latency": {"expensive": "2 ms", "cheap": "40 ms"},
            "latency_budget": "5 ms",
        },
    ]
    ready = build_fleet(fleet_file(tmp_path, regions=two))
    report = fleet_contingency(ready.problem)
    # losing the cheap pod: 19 kW on the expensive pod's 15.5 kW of inference racks — the
    # tighter budget (local-users) is served first, edge-users lose what does not fit
    lost = report["sites"]["cheap"]["regions"]
    assert lost["local-users"]["passed"]
    assert not lost["edge-users"]["passed"]
    assert lost["edge-users"]["unserved_peak_kw"] == pytest.approx(19.0 - 15.456, abs=1e-3)
    # losing the expensive pod: local-users has no other site within 5 ms
    lost = report["sites"]["expensive"]["regions"]
    assert lost["local-users"]["unserved_peak_kw"] == pytest.approx(9.0, abs=1e-6)
    assert lost["edge-users"]["passed"]
    # the pod's 100 kWh battery, 50 %→10 % SOC, carries its peak facility power for minutes
    assert 10.0 < report["sites"]["cheap"]["ride_through_min"] < 200.0
    assert report["links"]["expensive – cheap"]["jobs_that_cannot_move"] == ["batch"]
    assert not report["passed"]


def test_a_site_carbon_price_overrides_its_scenario(tmp_path: Path) -> None:
    sites = [pod("expensive", 250.0, carbon_price=300.0), pod("cheap", 20.0)]
    problem = build_fleet(fleet_file(tmp_path, sites=sites)).problem
    assert problem.site("expensive").facility.grid.carbon_price == pytest.approx(0.3)  # USD/kg
    assert problem.site("cheap").facility.grid.carbon_price == pytest.approx(0.05)  # the pod's


def test_carbon_price_for_every_site_overrides_scenarios_and_fleet_file(tmp_path: Path) -> None:
    sites = [pod("expensive", 250.0, carbon_price=300.0), pod("cheap", 20.0)]
    problem = build_fleet(fleet_file(tmp_path, sites=sites), carbon_price=200.0).problem
    for site in problem.sites:
        assert site.facility.grid.carbon_price == pytest.approx(0.2)  # USD/kg = 200 USD/t


def test_a_co_plan_without_a_solution_in_time_returns_sites_alone_honestly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real solver with a starved time limit for the co-plan (the second solve): no
    solution in time, so the sites_alone plan comes back with status time_limit."""
    original = FleetSolver.solve_verified
    calls: list[int] = []

    def starved_second_solve(self: FleetSolver, client: Any = None) -> Any:
        calls.append(1)
        if len(calls) == 2:  # a fresh HiGHS (no earlier solution kept) with no time at all
            self.solver.invalidate()
            self.solver.time_limit = 0.0
        return original(self, client)

    monkeypatch.setattr(FleetSolver, "solve_verified", starved_second_solve)
    _, plan = run(fleet_file(tmp_path))
    data = plan.to_json()
    assert len(calls) == 2
    assert plan.status == "time_limit" and data["plan_source"] == "sites_alone"
    assert plan.verified, data["problems"]
    alone = data["baselines"]["sites_alone"]
    assert data["cost"] == pytest.approx(alone["cost"], rel=1e-12)
    assert data["savings_vs_sites_alone"]["cost"] == pytest.approx(0.0, abs=1e-12)
    assert data["savings_vs_as_operated"]["cost"] > 0.0
    assert data["transfers"] == [] and data["jobs"]["batch"]["met"]
    assert any("time limit" in note and "sites_alone" in note for note in data["notes"])
    # an unverified baseline is not compared against
    from dataclasses import replace

    plan.baselines["sites_alone"] = replace(plan.baselines["sites_alone"], verified=False)
    saved = plan.to_json()["savings_vs_sites_alone"]
    assert saved["cost"] is None and "sites_alone is not verified" in saved["not_reported"]


def test_placement_costs_follow_each_site_price_and_the_placement_moves_the_job(
    tmp_path: Path,
) -> None:
    """The decomposition's first step on its own: per-kWh costs from each site's physics and
    prices, and a placement model that moves the job to the cheap pod before its release."""
    from optimizer.fleet.placement import placement_costs, solve_placement

    ready = build_fleet(fleet_file(tmp_path))
    solver = FleetSolver(ready.problem, PlanOptions(time_limit=60.0, fine_hours=24.0))
    costs = placement_costs(ready.problem, solver.sites)
    assert costs.shape == (2, solver.axis.periods)
    # grid import per IT energy (cooling, losses, less PV) × price and carbon: the expensive
    # pod's hours cost more than the cheap pod's, and on average more than its price
    assert np.all(costs[0] > costs[1]) and np.all(costs[1] > 0.0)
    assert costs[0].mean() > float(np.mean(solver.sites[0].lin.price))
    model, timings, _ = solve_placement(ready.problem, solver.sites, 60.0, 1e-4)
    assert model is not None and timings["placement_solve_s"] >= 0.0
    moves = model.jobs.move.items()
    moved = sum(float(v.value or 0.0) for k, v in moves if k[1:3] == ("expensive", "cheap"))
    assert moved == pytest.approx(1.0, abs=1e-6)
    at_cheap = sum(
        float(v.value or 0.0) * float(model.step_hours[t])
        for (j, t), v in model.site_1.workloads.power.items()
        if j == ready.problem.sites[1].workload_index("fleet:batch")
    )
    assert at_cheap == pytest.approx(150.0, rel=1e-6)


def test_a_co_plan_that_does_not_verify_gives_way_to_the_verified_sites_alone_plan(
    tmp_path: Path,
) -> None:
    """The cheap pod's UPS is rated for its own load (27 kW as operated) but not for the job
    moved in (11.6 kW more): the planning model holds no UPS rating, so the co-plan moves the
    job there and breaks it.  The verified sites_alone plan (job at home) is returned, with
    the co-plan's broken limit in the notes; it used to return the unverified co-plan."""
    pod_file = yaml.safe_load(Path(POD).read_text())
    pod_file["power"]["ups"][0]["rating"] = "32 kW"
    sites = [pod("expensive", 250.0), pod("cheap", 20.0, scenario=pod_file)]
    _, plan = run(fleet_file(tmp_path, sites=sites))
    data = plan.to_json()
    alone = data["baselines"]["sites_alone"]
    assert alone["verified"] and alone["problems"] == []
    assert plan.verified and data["verified"], data["problems"]
    assert data["plan_source"] == "sites_alone" and data["transfers"] == []
    assert data["cost"] == pytest.approx(alone["cost"], rel=1e-12)
    assert data["jobs"]["batch"]["by_site_kwh"]["cheap"] == 0.0 and data["jobs"]["batch"]["met"]
    note = next(n for n in data["notes"] if "did not verify" in n)
    assert "cheap: UPS output above 32 kW" in note and "sites_alone" in note
    # without the UPS limit the same fleet moves the job and verifies (the test is not vacuous)
    _, free = run(fleet_file(tmp_path))
    assert free.verified and free.to_json()["plan_source"] == "co_plan"
    assert free.to_json()["jobs"]["batch"]["by_site_kwh"]["cheap"] > 100.0
