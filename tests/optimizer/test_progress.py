"""Progress callbacks (``optimizer.progress``): stages in order, fractions 0 → 1, never down,
through a real plan (HiGHS, physics verification) and a real capacity study."""

from __future__ import annotations

import itertools

import pytest

from optimizer.plan import PlanOptions, plan
from optimizer.progress import Tracker
from tests.helpers import ROOT
from tests.optimizer.test_plan import BATTERY, load, small_hall
from twin.data.series import scenario_series
from twin.scenario.loader import load_scenario
from twin.studies.capacity import capacity_study


def _fractions_rise_from_0_to_1(calls: list[tuple[str, float]]) -> None:
    fractions = [f for _, f in calls]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert all(b >= a for a, b in itertools.pairwise(fractions))
    assert all(0.0 <= f <= 1.0 for f in fractions)


def _first(calls: list[tuple[str, float]], prefix: str) -> int:
    return next(k for k, (stage, _) in enumerate(calls) if stage.startswith(prefix))


def test_tracker_clips_keeps_order_and_scales_parts() -> None:
    calls: list[tuple[str, float]] = []
    track = Tracker(lambda stage, fraction: calls.append((stage, fraction)))
    track("a", -0.5)
    track("b", 0.5)
    track("c", 0.2)  # going back is held at the highest so far
    part = track.part(0.5, 0.9)
    part("d", 0.5)
    part("e", 2.0)
    track.done()
    assert calls == [
        ("a", 0.0),
        ("b", 0.5),
        ("c", 0.5),
        ("d", pytest.approx(0.7)),
        ("e", pytest.approx(0.9)),
        ("done", 1.0),
    ]
    Tracker(None)("nothing to report to", 0.3)  # no callback: a no-op
    assert Tracker(None).part(0.0, 1.0).callback is None


def test_a_plan_reports_its_stages_in_order() -> None:
    facility, series = load(small_hall(battery=BATTERY))
    calls: list[tuple[str, float]] = []
    result = plan(
        facility,
        series,
        PlanOptions(shadow_prices=True),
        progress=lambda stage, fraction: calls.append((stage, fraction)),
    )
    assert result.verified, result.notes
    _fractions_rise_from_0_to_1(calls)
    assert calls[-1] == ("done", 1.0)
    order = [
        _first(calls, prefix)
        for prefix in (
            "baseline:",
            "linearize",
            "build the model",
            "baselines:",
            "solve (round 1)",
            "verify with the physics (round 1)",
            "verified",
            "shadow prices",
            "done",
        )
    ]
    assert order == sorted(order)
    assert dict(calls)["baselines: as operated and rule based"] == pytest.approx(0.3)


def test_a_capacity_study_reports_fractions_to_the_end() -> None:
    path = ROOT / "scenarios" / "small-hall.yaml"
    scenario = load_scenario(path)
    calls: list[tuple[str, float]] = []
    report = capacity_study(
        scenario,
        scenario_series(scenario, path.parent),
        "gpu-120",
        progress=lambda stage, fraction: calls.append((stage, fraction)),
    )
    assert report.verified
    _fractions_rise_from_0_to_1(calls)
    stages = [stage for stage, _ in calls]
    assert stages[0] == "simulate the hall as it is" and stages[-1] == "done"
    assert "solve and simulate (round 1)" in stages and "one rack more: what binds" in stages
