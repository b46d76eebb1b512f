"""The fleet planned one site's model at a time (:mod:`optimizer.fleet.per_site`) against the
joint fleet model: the same sites_alone optimum, a co-plan never below the joint one, every
plan verified by the sites' physics."""

from __future__ import annotations

from pathlib import Path

import pytest

from optimizer.fleet.per_site import plan_fleet_per_site
from optimizer.fleet.plan import plan_fleet
from optimizer.planner import PlanOptions
from tests.optimizer.test_fleet import fleet_file, pod, regions
from twin.fleet.build import build_fleet


def both(path: Path) -> tuple[dict, dict]:
    ready = build_fleet(path)
    options = PlanOptions(time_limit=60.0, fine_hours=24.0)
    joint = plan_fleet(ready.problem, options, baseline_routing=ready.baseline_routing)
    per_site = plan_fleet_per_site(ready.problem, options, baseline_routing=ready.baseline_routing)
    return joint.to_json(), per_site.to_json()


SLOW_LINK = {
    "between": ["expensive", "cheap"],
    "latency": "10 ms",
    "bandwidth": "0.05 Gbit/s",  # the 70 GB copy takes 4 hourly periods
    "price": 0.02,
}


@pytest.mark.parametrize(
    "case",
    ["job-moves", "job-moves-and-tier-1", "job-moves-over-a-slow-link"],
)
def test_site_by_site_matches_the_joint_sites_alone_and_never_beats_the_joint_co_plan(
    tmp_path: Path, case: str
) -> None:
    sections: dict = {}
    if case == "job-moves-and-tier-1":
        sections = {
            "sites": [pod("expensive", 250.0), pod("cheap", 20.0)],
            "regions": regions("30 ms"),
        }
    if case == "job-moves-over-a-slow-link":
        sections = {"links": [SLOW_LINK]}
    joint, per_site = both(fleet_file(tmp_path, **sections))
    assert joint["verified"] and per_site["verified"], per_site["problems"]
    # every job at home and tier 1 as operated: the sites are independent LPs, so the sum of
    # their optima is the joint optimum; HiGHS may return another vertex among equal (or,
    # after relax-and-fix, near-equal) optima, which the physics then costs a little apart
    alone, alone_joint = per_site["baselines"]["sites_alone"], joint["baselines"]["sites_alone"]
    assert alone["verified"]
    assert alone["cost"] == pytest.approx(alone_joint["cost"], rel=1e-3)
    assert per_site["baselines"]["as_operated"]["cost"] == pytest.approx(
        joint["baselines"]["as_operated"]["cost"], rel=1e-9
    )
    # the co-plan with the placement's energy split fixed is a restriction of the joint one;
    # it is kept only when it beats sites_alone, as in the joint plan
    assert per_site["cost"] >= joint["cost"] * (1 - 1e-3)
    assert per_site["cost"] <= alone["cost"] * (1 + 1e-9)
    assert per_site["jobs"]["batch"]["met"]
    assert per_site["equal_work"]["equal"]
    if case == "job-moves-over-a-slow-link":
        # the copy spreads over periods at the link's bandwidth: moving still pays
        assert per_site["plan_source"] == joint["plan_source"] == "co_plan"
    if per_site["plan_source"] == "co_plan":
        # the job moved to the cheap zone site by site too, at the joint plan's price
        assert per_site["jobs"]["batch"]["by_site_kwh"]["cheap"] > 0.8 * 150.0
        assert per_site["cost"] == pytest.approx(joint["cost"], rel=1e-3)
        assert per_site["transfers"] == joint["transfers"]


def test_site_by_site_needs_the_as_operated_routing_of_shared_regions(tmp_path: Path) -> None:
    path = fleet_file(
        tmp_path, sites=[pod("expensive", 250.0), pod("cheap", 20.0)], regions=regions("30 ms")
    )
    ready = build_fleet(path)
    with pytest.raises(ValueError, match="as-operated routing"):
        plan_fleet_per_site(ready.problem, PlanOptions(time_limit=60.0, fine_hours=24.0))


def test_site_by_site_explains_an_impossible_job_before_solving_a_site(tmp_path: Path) -> None:
    jobs = [{"name": "huge", "energy": "5000 kWh", "deadline": "40 h", "sites": ["expensive"]}]
    ready = build_fleet(fleet_file(tmp_path, jobs=jobs))
    plan = plan_fleet_per_site(
        ready.problem,
        PlanOptions(time_limit=60.0, fine_hours=24.0),
        baseline_routing=ready.baseline_routing,
    )
    assert plan.status == "infeasible" and not plan.verified
    (line,) = plan.explanation
    assert "job 'huge'" in line and "at most 12 kW for 40 h" in line
    assert "sites_alone_solve_s" not in plan.timings
