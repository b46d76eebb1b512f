"""A fleet approval and the sites' critical alarms: the fleet preview lists, per site, the
active critical alarms on what that site's share moves, and approval refuses by default while
one of them is active and not shelved, as a single site does
(:mod:`twin.live.control.approval`).

Before 2026-12-07 a fleet approval made every site approve its share with ``force`` and the
fleet's reason: a critical alarm on a rack a share moves was overridden without the approver
seeing it.  Now each site's share is previewed as the site plan it would become
(:meth:`twin.fleet.replan.FleetPlanner.proposal_check`: :func:`twin.fleet.adopt.check_share`,
then the site's own preview)
and its alarms are the site's :func:`twin.live.control.approval.plan_alarms` on that preview;
:func:`check_fleet_alarms` applies :func:`twin.live.control.approval.check_alarms` to every
site's share and refuses the whole approval (one 409 naming every site, alarm and rack)
unless the approver overrides with ``force`` and a reason.  The fleet has no autonomy: a
fleet plan is only ever approved by an operator.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from twin.live.control.approval import check_alarms, plan_alarms, sentence
from twin.live.live_twin import LiveTwin
from twin.store.errors import Conflict

__all__ = [
    "check_fleet_alarms",
    "flat_alarms",
    "fleet_sentences",
    "share_alarms",
]

SiteAlarms = dict[str, list[dict[str, Any]]]
"""Per site name: its active critical alarms on what its share moves
(:func:`twin.live.control.approval.plan_alarms`)."""


def share_alarms(twin: LiveTwin, preview: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The site's active critical alarms on what a share previewed as ``preview`` moves
    (:func:`twin.live.control.approval.plan_alarms` on the site's facility, points and
    store), JSON-ready."""
    active = twin.store.alarms(active_only=True)
    return plan_alarms(preview, twin.facility, twin.catalogue, active)


def flat_alarms(alarms: Mapping[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Every site's alarms in one list, each with its ``site`` (sites in the order given)."""
    return [{"site": site, **alarm} for site, listed in alarms.items() for alarm in listed]


def fleet_sentences(alarms: Mapping[str, list[dict[str, Any]]]) -> list[str]:
    """One line per site with alarms: the site and the single-site preview's sentence
    (:func:`twin.live.control.approval.sentence`)."""
    return [f"{site}: {sentence(listed)}" for site, listed in alarms.items() if listed]


def check_fleet_alarms(
    plan_id: str,
    alarms: Mapping[str, list[dict[str, Any]]],
    *,
    force: bool,
    reason: str,
    seen: Mapping[str, Collection[int]] | None = None,
) -> SiteAlarms:
    """Refuse to approve fleet plan ``plan_id`` while a site's unshelved critical alarm is on
    what its share moves, unless overridden; returns the alarms overridden per site (to audit
    at each site and in the fleet's log).

    Each site's share is judged by :func:`twin.live.control.approval.check_alarms` (shelved
    alarms do not block; ``force`` needs a non-empty ``reason``); the refusal names every
    site that refuses.  ``seen``: per site, the ids of the alarms the approver was shown;
    a blocking alarm not among them (raised since) is not overridden (None: every one is).

    Raises
    ------
    Conflict
        A site's unshelved alarm and no ``force``, or ``force`` without a reason (409 over the
        API): nothing is adopted anywhere.
    """
    overridden: SiteAlarms = {}
    refusals: list[str] = []
    for site, listed in alarms.items():
        label = f"{plan_id} (site {site}'s share)"
        try:
            shown = None if seen is None else seen.get(site, ())
            blocking = check_alarms(label, {}, listed, force=force, reason=reason, seen=shown)
        except Conflict as exc:
            refusals.append(f"site {site}: {exc}")
            continue
        if blocking:
            overridden[site] = blocking
    if refusals:
        raise Conflict(
            f"fleet plan {plan_id} not approved, no site adopted anything: " + "; ".join(refusals)
        )
    return overridden
