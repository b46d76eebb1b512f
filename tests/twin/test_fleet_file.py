"""The fleet file: schema, readable errors, defaults of the network, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import ROOT, dctwin_in_process
from twin.fleet.build import build_fleet
from twin.fleet.network import link_defaults
from twin.fleet.schema import FleetError, fleet_from_dict, is_fleet_file, load_fleet

FLEET = ROOT / "scenarios" / "fleet-small.yaml"


def minimal(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "fleet": "f",
        "simulation": {"start": "2026-06-01T00:00:00Z", "duration": "1 d", "step": "1 h"},
        "sites": [
            {"name": "a", "scenario": "x.yaml", "job_racks": ["A*"]},
            {"name": "b", "scenario": "x.yaml", "job_racks": ["A*"]},
        ],
        "regions": [
            {
                "name": "r",
                "demand": "10 kW",
                "latency": {"a": 3, "b": "0.02 s"},
                "latency_budget": 10,
            }
        ],
        "jobs": [{"name": "j", "energy": "10 kWh", "deadline": "20 h", "sites": ["a", "b"]}],
    }
    data.update(changes)
    return data


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(FleetError) as caught:
        fleet_from_dict(data)
    return caught.value.problems


def test_demo_fleet_loads_with_units() -> None:
    assert is_fleet_file(FLEET) and not is_fleet_file(ROOT / "scenarios" / "demo-hall.yaml")
    fleet = load_fleet(FLEET)
    assert [s.name for s in fleet.sites] == ["dallas-core", "frankfurt-core", "london-edge"]
    assert fleet.links[0].bandwidth == 10.0  # Gbit/s
    assert fleet.jobs[0].data == pytest.approx(1000.0)  # "1 TB" in GB
    region = fleet_from_dict(minimal()).regions[0]
    assert region.latency == {"a": 3.0, "b": pytest.approx(20.0)}  # ms


def test_unknown_names_and_missing_latency_are_named() -> None:
    data = minimal(
        regions=[{"name": "r", "demand": 5, "latency": {"a": 3, "c": 4}, "latency_budget": 10}],
        jobs=[{"name": "j", "energy": 10, "deadline": "20 h", "sites": ["a", "nowhere"]}],
        links=[{"between": ["a", "zz"]}],
    )
    lines = problems(data)
    text = "\n".join(lines)
    assert "regions[0] (r).latency: 'c' — no such site" in text
    assert "regions[0] (r).latency: no latency to site(s) b" in text
    assert "jobs[0] (j).sites: 'nowhere' — no such site; expected one of a, b" in text
    assert "links[0].between: 'zz' — no such site" in text


def test_job_outside_the_window_and_duplicates() -> None:
    data = minimal(
        jobs=[
            {"name": "j", "energy": 10, "deadline": "30 h", "sites": ["a"]},
            {"name": "j", "energy": 10, "deadline": "2 h", "release": "3 h", "sites": ["a"]},
        ]
    )
    text = "\n".join(problems(data))
    assert "jobs: 'j' given twice" in text
    assert "outside the fleet window" in text and "lengthen simulation.duration" in text
    assert "not after the release" in text


def test_residency_and_job_racks_are_checked() -> None:
    sites = [
        {"name": "a", "scenario": "x.yaml", "job_racks": ["A*"], "residency": ["eu"]},
        {"name": "b", "scenario": "x.yaml"},
    ]
    jobs = [
        {"name": "j", "energy": 10, "deadline": "20 h", "sites": ["a", "b"], "residency": ["eu"]}
    ]
    regions = [{"name": "r", "demand": 1, "latency": {"a": 1, "b": 1}, "latency_budget": 5}]
    text = "\n".join(problems(minimal(sites=sites, jobs=jobs, regions=regions)))
    assert "site 'b' has no job_racks" in text


def test_bad_units_are_explained() -> None:
    data = minimal()
    data["regions"][0]["latency_budget"] = "10 kW"
    (line,) = problems(data)
    assert line.startswith("regions[0].latency_budget: '10 kW'")


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_racks_used_by_a_workload_are_refused(tmp_path: Path) -> None:
    pod = str(ROOT / "scenarios" / "edge-pod.yaml")
    data = minimal(
        sites=[{"name": "a", "scenario": pod, "job_racks": ["B*"], "exclude_workloads": ["nope"]}],
        regions=[],
        jobs=[],
    )
    with pytest.raises(FleetError) as caught:
        build_fleet(write(tmp_path, data))
    assert "exclude_workloads: nope — no such workload" in str(caught.value)
    data["sites"][0]["exclude_workloads"] = []
    with pytest.raises(FleetError) as caught:
        build_fleet(write(tmp_path, data))
    text = str(caught.value)
    assert "racks B01, B02, B03, B04 also run workload 'local-services'" in text
    assert "add it to exclude_workloads" in text


def test_link_without_published_default_is_asked_for(tmp_path: Path) -> None:
    pod = str(ROOT / "scenarios" / "edge-pod.yaml")
    site = {
        "scenario": pod,
        "continent": "europe",
        "exclude_workloads": ["edge-inference", "video-analytics-batch"],
        "job_racks": ["A04"],
    }
    data = minimal(
        sites=[{"name": "a", "metro": "paris", **site}, {"name": "b", "metro": "rome", **site}],
        regions=[],
    )
    with pytest.raises(FleetError) as caught:
        build_fleet(write(tmp_path, data))
    assert "links: a – b: no latency, bandwidth, price and no published default" in str(
        caught.value
    )


def test_network_defaults_are_the_published_figures() -> None:
    us_eu = link_defaults((None, "north-america"), (None, "europe"))
    assert us_eu is not None
    assert (us_eu.latency, us_eu.bandwidth) == (70.0, 0.160)  # Persico et al. 2016, AWS
    assert (us_eu.price_forward, us_eu.price_backward) == (0.02, 0.02)  # AWS matrix
    asia = link_defaults((None, "asia-pacific"), (None, "europe"))
    assert asia is not None and asia.price_forward == 0.09 and asia.latency == 190.0
    metro = link_defaults(("london", "europe"), ("london", "europe"))
    assert metro is not None and metro.latency == 5.0
    assert link_defaults(("paris", "europe"), ("rome", "europe")) is None


def test_schema_fleet_command() -> None:
    done = dctwin_in_process("schema", "--fleet")
    assert done.returncode == 0
    schema = json.loads(done.stdout)
    assert schema["title"] == "dctwin fleet"
    region = schema["$defs"]["Region"]["properties"]
    assert region["latency_budget"]["x-unit"] == "ms"


@pytest.fixture(scope="module")
def joint_plan() -> dict[str, Any]:
    """``dctwin plan fleet-small.yaml --json``: the fleet co-planned (one real plan, shared by
    the two tests below, which are grouped on one worker so it is made once)."""
    # a generous time limit: the shared test machine can be slow, the result must not depend on it
    done = dctwin_in_process("plan", str(FLEET), "--json", "--time-limit", "600")
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


@pytest.mark.xdist_group("fleet-file-plan")  # joint_plan made once
def test_plan_detects_a_fleet_file(joint_plan: dict[str, Any]) -> None:
    data = joint_plan
    assert data["status"] == "optimal" and data["verified"]
    assert set(data["sites"]) == {"dallas-core", "frankfurt-core", "london-edge"}
    assert all(site["verified"] for site in data["sites"].values())
    assert all(job["met"] for job in data["jobs"].values())
    assert data["latency_violations"] == []
    for key in ("savings_vs_as_operated", "savings_vs_sites_alone", "transfers", "equal_work"):
        assert key in data
    assert data["equal_work"]["equal"]
    assert data["savings_vs_as_operated"]["cost"] > 0.1
    # the co-plan is never worse than the sites planned alone (it may keep their plan)
    assert data["cost"] <= data["baselines"]["sites_alone"]["cost"] * (1 + 1e-4)


@pytest.mark.xdist_group("fleet-file-plan")
def test_plan_a_fleet_site_by_site_from_the_cli(joint_plan: dict[str, Any]) -> None:
    """``--per-site``: the same fleet planned one site's model at a time, verified, equal work,
    its sites_alone baseline the joint one's (separable: same optimum, up to HiGHS's choice
    among equal vertices); refused with a scheduler and for a single-site scenario."""
    done = dctwin_in_process("fleet", "plan", str(FLEET), "--per-site", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["status"] == "optimal" and data["verified"] and data["equal_work"]["equal"]
    assert all(site["verified"] for site in data["sites"].values())
    assert all(job["met"] for job in data["jobs"].values())
    assert data["cost"] <= data["baselines"]["sites_alone"]["cost"] * (1 + 1e-4)
    alone, joint_alone = data["baselines"]["sites_alone"], joint_plan["baselines"]["sites_alone"]
    assert alone["cost"] == pytest.approx(joint_alone["cost"], rel=1e-3)
    refused = dctwin_in_process("plan", str(FLEET), "--per-site", "--scheduler", "tcp://x:1")
    assert refused.returncode == 2 and "--per-site" in refused.stderr
    single = dctwin_in_process("plan", str(ROOT / "scenarios" / "small-hall.yaml"), "--per-site")
    assert single.returncode == 2 and "fleet files only" in single.stderr


def test_fleet_plan_reports_a_bad_file(tmp_path: Path) -> None:
    path = write(tmp_path, minimal())
    done = dctwin_in_process("fleet", "plan", str(path))
    assert done.returncode == 2
    assert "x.yaml" in done.stderr and "cannot read file" in done.stderr


def test_fleet_contingency_command() -> None:
    done = dctwin_in_process("contingency", str(FLEET), "--json")
    assert done.returncode == 3  # losing a site leaves some tier 1 without a site in budget
    data = json.loads(done.stdout)
    assert set(data["sites"]) == {"dallas-core", "frankfurt-core", "london-edge"}
    lost = data["sites"]["london-edge"]
    assert not lost["regions"]["london-metro"]["passed"]  # only the pod is within 8 ms
    assert lost["regions"]["us-south"]["passed"]
    assert lost["ride_through_min"] > 0
    text = dctwin_in_process("fleet", "contingency", str(FLEET)).stdout
    assert "lose site london-edge: FAIL" in text and "overall: FAIL" in text


@pytest.mark.parametrize(
    ("name", "sites"), [("fleet.yaml", 7), ("fleet-small.yaml", 3), ("fleet-real.yaml", 7)]
)
def test_shipped_fleet_files_load(name: str, sites: int) -> None:
    fleet = load_fleet(ROOT / "scenarios" / name)
    assert len(fleet.sites) == sites and fleet.jobs


def test_plan_refuses_single_site_options_for_a_fleet_file() -> None:
    done = dctwin_in_process(
        "plan", str(FLEET), "--horizon", "24h", "--step", "1h", "--no-shadow-prices"
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "--horizon",
        "--step",
        "--shadow-prices/--no-shadow-prices",
    ]
    assert all("single-site scenario" in line for line in lines)
    done = dctwin_in_process("plan", str(FLEET), "--carbon-price", "-1", "--fine", "2h")
    assert done.returncode == 2 and done.stderr.startswith("--carbon-price:")
    done = dctwin_in_process("plan", str(ROOT / "scenarios" / "demo-hall.yaml"), "--scheduler", "x")
    assert done.returncode == 2 and "fleet files only" in done.stderr


def test_the_example_fleet_is_three_core_halls_and_four_edge_pods_on_demo_series(
    tmp_path: Path,
) -> None:
    example = ROOT / "scenarios" / "fleet.yaml"
    assert "shared" not in "".join(
        line.split("#")[0] for line in example.read_text().splitlines()
    )  # runs without ../shared: the project's own demo series only
    fleet = load_fleet(example)
    kinds = [site.scenario for site in fleet.sites]
    assert kinds.count("demo-hall.yaml") == 3 and kinds.count("edge-pod.yaml") == 4
    assert len({site.grid_zone for site in fleet.sites}) == 7
    assert len({site.metro for site in fleet.sites}) == 7
    grid = ROOT.parent / "shared" / "data" / "grid"
    if grid.is_dir():  # the zone labels are the public data set's zones
        zones = {path.name for path in grid.iterdir()}
        assert {site.grid_zone for site in fleet.sites} <= zones
    # one day of it plans and verifies (the week is measured in docs/fleet.md)
    data: dict[str, Any] = yaml.safe_load(example.read_text())
    data["simulation"].update(duration="1 d", step="1 h")
    for site in data["sites"]:
        site["scenario"] = str(ROOT / "scenarios" / site["scenario"])
    for job in data["jobs"]:
        job.update(release="0 h", deadline="20 h")
        job["energy"] = (
            "4000 kWh" if job["name"] in ("finetune-batch", "eval-sweep") else job["energy"]
        )
        if job.get("max_power"):
            job["energy"] = "150 kWh"
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    done = dctwin_in_process("plan", str(path), "--json", "--time-limit", "600")
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["verified"] and len(plan["sites"]) == 7
    assert all(job["met"] for job in plan["jobs"].values())
    assert plan["latency_violations"] == []
    # equal work is not asked of one day: the halls' own training is due days later, so the
    # as-operated baseline (full power from release) runs more of it within the day
    assert plan["equal_work"]["it_energy_kwh"]["plan"] == pytest.approx(
        plan["equal_work"]["it_energy_kwh"]["sites_alone"], rel=5e-3
    )


def test_a_fleet_window_off_the_hour_plans_across_a_credit_event(tmp_path: Path) -> None:
    """A demand-response *credit* event (not a cap) of one site: every site's periods start at
    its edges too, so the sites share one planning axis even when the window starts at :30
    and the event falls in the hourly periods (it used to raise "the sites' planning axes
    differ", so a live fleet re-plan failed three quarter-hours in four)."""
    from optimizer.fleet.plan import plan_fleet
    from optimizer.planner import PlanOptions
    from tests.fleet_live import one_day_fleet

    hall = yaml.safe_load((ROOT / "scenarios" / "demo-hall.yaml").read_text())
    hall["grid"]["demand_response"] = [
        {
            "start": "2026-07-06T10:00:00Z",
            "end": "2026-07-06T12:00:00Z",
            "credit": 0.4,
            "baseline": "2400 kW",
        }
    ]
    hall["series"] = [{"file": str(ROOT / "data" / "demo-week.csv")}]
    (tmp_path / "hall.yaml").write_text(yaml.safe_dump(hall, sort_keys=False))
    path = one_day_fleet(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["simulation"]["start"] = "2026-07-06T00:30:00Z"
    data["sites"][0]["scenario"] = str(tmp_path / "hall.yaml")
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    ready = build_fleet(path)
    result = plan_fleet(
        ready.problem,
        PlanOptions(time_limit=60, fine_hours=6),
        baseline_routing=ready.baseline_routing,
    )
    assert result.status == "optimal", result.to_json().get("explanation")
    assert result.plan is not None and result.plan.verified
