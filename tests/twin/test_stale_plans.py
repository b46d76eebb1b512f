"""Stale proposals are not approvable (tester finding 3, 7 Dec): a plan proposed before a
``PUT /scenario`` is refused with 409, and a plan proposed before a watch trip is superseded
by the revert, when it is proposed and again when it is approved.

Real parts: the demo hall's live twin with its virtual plant, a SQLite store, HiGHS re-plans,
the FastAPI service through TestClient.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path

import pytest

from tests.helpers import START, Clock, api_client, change_hidden_truth, demo_hall_due_today
from tests.helpers import feed as run
from tests.twin.test_live import make_twin
from twin.live.control.proposals import store_proposal
from twin.live.live_twin import LiveTwin

APPROVE = "approve-token-0000000001"


def _status(twin: LiveTwin, plan_id: str) -> str:
    record = twin.store.get_plan(plan_id)
    assert record is not None
    return str(record["status"])


def test_a_plan_proposed_before_a_scenario_change_is_refused_with_409(tmp_path: Path) -> None:
    clock = Clock(START)
    twin = make_twin(tmp_path, clock, scenario=demo_hall_due_today())
    run(twin, clock, 4)
    stale = twin.replan()
    data = copy.deepcopy(twin.base_data)
    data["site"] = {**data["site"], "inlet_limit": "allowable"}
    twin.replace_scenario(data, actor="admin")
    assert twin.facility.inlet_limit > 27.0
    with api_client(twin, {APPROVE: "read,approve"}) as client:
        answer = client.post(
            f"/api/v1/plans/{stale['id']}/approve",
            headers={"Authorization": f"Bearer {APPROVE}"},
            json={"reason": "plan made before scenario change"},
        )
    assert answer.status_code == 409, answer.status_code
    assert "another scenario" in answer.json()["detail"]
    assert _status(twin, stale["id"]) == "superseded"
    assert twin.applied_plans == []
    entry = next(e for e in twin.store.audit_log(limit=10) if e["action"] == "replace_scenario")
    assert entry["detail"]["superseded"] == [stale["id"]]
    # a plan made on the new scenario is approved as usual
    run(twin, clock, 2)
    fresh = twin.replan()
    assert twin.approve(fresh["id"], actor="operator", reason="ok")["status"] == "applied"


def _trip_watch(twin: LiveTwin, clock: Clock) -> str:
    """The plant recirculates three times the modelled hot air: the watch trips (a critical
    limit alarm) and proposes the revert; its id."""
    change_hidden_truth(twin, recirculation_scale=3.0)
    run(twin, clock, 3)
    watch = twin.supervisor.watch
    assert watch is not None and watch.trip is not None
    (entry,) = [e for e in twin.store.audit_log(limit=50) if e["action"] == "propose_revert"]
    return str(entry["target"])


def test_a_revert_supersedes_the_proposals_made_before_it(tmp_path: Path) -> None:
    clock = Clock(START)
    twin = make_twin(tmp_path, clock, faults=[], scenario=demo_hall_due_today())
    run(twin, clock, 4)
    plan = twin.replan()
    twin.approve(plan["id"], actor="operator", reason="night shift test")
    run(twin, clock, 1)
    before = twin.replan(actor="scheduler")  # periodic, while the plan is in force
    assert _status(twin, before["id"]) == "proposed"

    revert = _trip_watch(twin, clock)
    assert _status(twin, revert) == "proposed"
    assert _status(twin, before["id"]) == "superseded"
    superseded = twin.store.get_plan(before["id"])
    assert superseded is not None and superseded["decided_by"] == "system"
    assert superseded["reason"] == f"superseded by {revert} (a revert proposed by watch)"
    with pytest.raises(ValueError, match="superseded"):
        twin.approve(before["id"], actor="operator", reason="plan made before the trip")
    entry = next(e for e in twin.store.audit_log(limit=50) if e["action"] == "propose_revert")
    assert entry["detail"]["superseded"] == [before["id"]]

    # a re-plan computed before the revert that finishes after it is stored superseded
    late = store_proposal(
        twin.store,
        twin.supervisor.proposal_lock,
        "late-replan1",
        clock.now - timedelta(minutes=5),
        {"reason": "periodic"},
        "scheduler",
        twin.supervisor.barrier,
    )
    assert late == revert and _status(twin, "late-replan1") == "superseded"

    # a re-plan after the trip waits beside the revert; approving the revert supersedes it
    clock.now += timedelta(seconds=30)
    after = twin.replan(actor="scheduler")
    assert _status(twin, after["id"]) == "proposed" and _status(twin, revert) == "proposed"
    clock.now += timedelta(seconds=30)
    twin.approve(revert, actor="operator", reason="revert")
    assert _status(twin, plan["id"]) == "reverted"
    assert _status(twin, after["id"]) == "superseded"
    superseded = twin.store.get_plan(after["id"])
    assert superseded is not None and superseded["decided_by"] == "system"
    assert superseded["reason"] == (
        f"superseded by {revert} (the revert of {plan['id']}, approved by operator)"
    )
    with pytest.raises(ValueError, match="superseded"):
        twin.approve(after["id"], actor="operator", reason="made while the tripped plan ran")
    entry = next(e for e in twin.store.audit_log(limit=50) if e["action"] == "revert")
    assert entry["detail"]["superseded"] == [after["id"]]
    # the next re-plan, after the revert, is a normal proposal again
    clock.now += timedelta(seconds=30)
    again = twin.replan(actor="scheduler")
    assert _status(twin, again["id"]) == "proposed"


def test_a_scenario_is_not_replaced_between_a_plans_check_and_its_adoption(
    tmp_path: Path,
) -> None:
    """A hostile pass (7 Dec) raced a fleet approval and a ``PUT`` of a site's scenario, 0.15 s
    apart: both answered 200 and the share checked on the old scenario was adopted on the new
    one.  Approvals (a fleet's holds every site's) and replacements share the twin's
    ``scenario_lock``: a replacement waits for an adoption in progress."""
    import threading

    clock = Clock(START)
    twin = make_twin(tmp_path, clock, scenario=demo_hall_due_today())
    data = copy.deepcopy(twin.base_data)
    data["site"] = {**data["site"], "inlet_limit": "allowable"}
    replaced = threading.Event()

    def replace() -> None:
        twin.replace_scenario(data, actor="admin")
        replaced.set()

    with twin.scenario_lock:  # as an approval holds it from the check to the adoption
        worker = threading.Thread(target=replace)
        worker.start()
        assert not replaced.wait(0.5)
        assert twin.facility.inlet_limit == 27.0
    worker.join(timeout=60)
    assert replaced.is_set() and twin.facility.inlet_limit > 27.0
