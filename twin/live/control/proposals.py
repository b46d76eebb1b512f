"""Storing a new proposal so that the newest one wins, and reverts supersede what came before.

A re-plan is computed from the state at its creation time and may take seconds; two of them
(the scheduler's and a ``POST /plans``, or two requests) can overlap and finish in either
order.  Only the *newest* proposal (by creation time) may stay ``proposed``: an older one was
computed from an older state.  :func:`store_proposal` serialises the supersede-and-store step
of one live twin under its lock: it supersedes only proposals created before the new one, and
stores the new one superseded at once when a newer proposal is already there.  A proposed
revert (``payload.revert_of``) waits for its own decision and is never superseded by a
re-plan.

A watch trip changes what an older proposal was computed from: it was made while the plan
that misbehaved was in force, from a model the plant has just contradicted.  Proposing the
revert (:func:`store_revert`) and approving it (:func:`revert_applied`) therefore supersede
every proposal created before that instant, and move the :class:`RevertBarrier`: a re-plan
created before it that finishes later is stored superseded at once.

A plan made on another scenario (its ``scenario_digest`` is not the twin's) is refused at
approval (:func:`check_scenario`, a 409 as the fleet does), and ``PUT /scenario`` supersedes
every proposal waiting (:func:`supersede_all`).

Tester finding 6 (7 Dec): the step superseded every proposal and then stored its own, so the
older of two concurrent re-plans, finishing last, superseded the newer one.  Tester finding
3 (7 Dec): a plan made before ``PUT /scenario`` was approved and applied; a periodic proposal
made before a watch trip stayed ``proposed`` after the revert and was approved, putting a plan
computed before the trip back in force.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from twin.store.errors import Conflict
from twin.store.records import PlanRecord
from twin.store.store import Store

__all__ = [
    "SYSTEM",
    "RevertBarrier",
    "check_scenario",
    "revert_applied",
    "store_proposal",
    "store_revert",
    "supersede_all",
    "supersede_older",
]

SYSTEM = "system"
"""Who a superseded plan names as its decider: nobody decided on it (tester tryout3 finding
8, 7 Dec: a superseded plan named the approver of another plan); the reason says which plan
superseded it and who proposed or approved that one."""

PROPOSALS_SCANNED = 500
"""Proposed plans looked at when a new one is stored (newest first) [-]."""


@dataclass
class RevertBarrier:
    """The newest revert of one live twin: proposals created before :attr:`time` are
    superseded by :attr:`plan_id` (read and moved under the twin's proposal lock).

    Attributes
    ----------
    time
        When the newest revert was proposed or approved (timezone-aware), or None.
    plan_id
        That revert's plan id.
    """

    time: datetime | None = None
    plan_id: str = ""


def check_scenario(record: PlanRecord, digest: str) -> None:
    """Refuse to approve a plan made on another scenario than the twin's (``digest``,
    :attr:`twin.live.live_twin.LiveTwin.scenario_digest`): a ``PUT /scenario`` since it was
    proposed, or a restart that serves the file again.  A plan stored without a digest (before
    digests) is let through.

    Raises
    ------
    Conflict
        The plan's ``scenario_digest`` differs (a ``ValueError``: 409 over the API).
    """
    made_on = (record["payload"] or {}).get("scenario_digest")
    if made_on is not None and made_on != digest:
        raise Conflict(
            f"plan {record['id']} was made on another scenario: the scenario was replaced "
            "after it was proposed; propose a new plan"
        )


def _pending(store: Store) -> list[PlanRecord]:
    return store.list_plans(limit=PROPOSALS_SCANNED, status="proposed")


def store_proposal(
    store: Store,
    lock: threading.Lock,
    plan_id: str,
    created: datetime,
    payload: dict[str, Any],
    actor: str,
    barrier: RevertBarrier | None = None,
) -> str | None:
    """Store plan ``plan_id`` as proposed unless a newer proposal exists; supersede the older.

    Parameters
    ----------
    store
        The twin's store.
    lock
        The twin's proposal lock (one per live twin; the store of a twin has one planning
        process).
    plan_id
        The new plan's id.
    created
        Its creation time: the instant its state was taken (timezone-aware).
    payload
        Its payload.
    actor
        Who proposes (recorded as who superseded).
    barrier
        The twin's newest revert: a plan created before it is stored superseded by it.

    Returns
    -------
    str or None
        The id of the newer proposal (or revert) that supersedes this one at once, or None
        when this one is stored proposed (and every older proposal, reverts aside, is
        superseded).
    """
    with lock:
        pending = [old for old in _pending(store) if not (old["payload"] or {}).get("revert_of")]
        newer = [str(old["id"]) for old in pending if old["created"] > created]
        if barrier is not None and barrier.time is not None and created < barrier.time:
            newer.insert(0, barrier.plan_id)
        store.add_plan(plan_id, created, "proposed", payload)
        if newer:  # newest first: the one that stays proposed
            why = f"superseded by {newer[0]} (a newer proposal; this one was proposed by {actor})"
            store.set_plan_status(plan_id, "superseded", SYSTEM, why)
            return newer[0]
        for old in pending:
            # an older proposal was computed from an older state: it must not be approved now
            why = f"superseded by {plan_id} (proposed by {actor})"
            store.set_plan_status(old["id"], "superseded", SYSTEM, why)
        return None


def store_revert(
    store: Store,
    lock: threading.Lock,
    barrier: RevertBarrier,
    plan_id: str,
    created: datetime,
    payload: dict[str, Any],
    actor: str,
) -> list[str]:
    """Store the revert ``plan_id`` as proposed and supersede every other proposal created
    before it (other reverts aside: each waits for its own decision).

    Parameters
    ----------
    store, lock
        The twin's store and proposal lock.
    barrier
        The twin's newest revert, moved to this one.
    plan_id
        The revert's id (``payload["revert_of"]`` names the plan it reverts).
    created
        When it is proposed (timezone-aware).
    payload
        Its payload.
    actor
        Who proposes it (recorded as who superseded).

    Returns
    -------
    list of str
        The ids of the proposals superseded.
    """
    with lock:
        store.add_plan(plan_id, created, "proposed", payload)
        barrier.time, barrier.plan_id = created, plan_id
        how = f"a revert proposed by {actor}"
        return _supersede_before(store, created, plan_id, how, reverting=None)


def revert_applied(
    store: Store,
    lock: threading.Lock,
    barrier: RevertBarrier,
    plan_id: str,
    reverted: str,
    when: datetime,
    actor: str,
) -> list[str]:
    """After the revert ``plan_id`` of plan ``reverted`` was approved at ``when``: supersede
    every proposal created before then (they were computed while the reverted plan was in
    force), other reverts of the same plan included.

    Returns
    -------
    list of str
        The ids of the proposals superseded.
    """
    with lock:
        barrier.time, barrier.plan_id = when, plan_id
        how = f"the revert of {reverted}, approved by {actor}"
        return _supersede_before(store, when, plan_id, how, reverting=reverted)


def supersede_all(store: Store, lock: threading.Lock, actor: str, reason: str) -> list[str]:
    """Supersede every proposal, reverts included (after ``PUT /scenario``: each was made on
    the scenario replaced, and approving it is refused anyway); their ids."""
    with lock:
        done = []
        for old in _pending(store):
            store.set_plan_status(old["id"], "superseded", SYSTEM, f"{reason} (by {actor})")
            done.append(str(old["id"]))
        return done


def supersede_older(
    store: Store, lock: threading.Lock, plan_id: str, before: datetime, how: str
) -> list[str]:
    """Supersede the proposals (reverts excepted) created before ``before`` by ``plan_id``,
    a plan adopted from elsewhere (a fleet plan's share): they were computed without it, and
    approving one would put the site back on a schedule without the fleet's work; their
    ids."""
    with lock:
        return _supersede_before(store, before, plan_id, how, None)


def _supersede_before(
    store: Store, before: datetime, by: str, how: str, reverting: str | None
) -> list[str]:
    """Supersede the proposals created before ``before`` (not ``by``; reverts only when they
    revert ``reverting``), decided by :data:`SYSTEM` with ``how`` ``by`` came in the reason;
    their ids.  Called under the proposal lock."""
    done: list[str] = []
    for old in _pending(store):
        revert_of = (old["payload"] or {}).get("revert_of")
        if old["id"] == by or old["created"] > before:
            continue
        if revert_of and revert_of != reverting:
            continue
        store.set_plan_status(old["id"], "superseded", SYSTEM, f"superseded by {by} ({how})")
        done.append(str(old["id"]))
    return done
