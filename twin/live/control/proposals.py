"""Storing a new proposal so that the newest one wins.

A re-plan is computed from the state at its creation time and may take seconds; two of them
(the scheduler's and a ``POST /plans``, or two requests) can overlap and finish in either
order.  Only the *newest* proposal (by creation time) may stay ``proposed``: an older one was
computed from an older state.  :func:`store_proposal` serialises the supersede-and-store step
of one live twin under its lock: it supersedes only proposals created before the new one, and
stores the new one superseded at once when a newer proposal is already there.  A proposed
revert (``payload.revert_of``) waits for its own decision and is never superseded here.

Tester finding 6 (7 Dec): the step superseded every proposal and then stored its own, so the
older of two concurrent re-plans, finishing last, superseded the newer one.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from twin.store.store import Store

__all__ = ["store_proposal"]

PROPOSALS_SCANNED = 500
"""Proposed plans looked at when a new one is stored (newest first) [-]."""


def store_proposal(
    store: Store,
    lock: threading.Lock,
    plan_id: str,
    created: datetime,
    payload: dict[str, Any],
    actor: str,
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

    Returns
    -------
    str or None
        The id of the newer proposal that supersedes this one at once, or None when this one
        is stored proposed (and every older proposal, reverts aside, is superseded).
    """
    with lock:
        pending = [
            old
            for old in store.list_plans(limit=PROPOSALS_SCANNED, status="proposed")
            if not (old["payload"] or {}).get("revert_of")
        ]
        newer = [old for old in pending if old["created"] > created]
        store.add_plan(plan_id, created, "proposed", payload)
        if newer:  # newest first: the one that stays proposed
            store.set_plan_status(plan_id, "superseded", actor, f"superseded by {newer[0]['id']}")
            return str(newer[0]["id"])
        for old in pending:
            # an older proposal was computed from an older state: it must not be approved now
            store.set_plan_status(old["id"], "superseded", actor, f"superseded by {plan_id}")
        return None
