"""What-if: plan a modified scenario (a JSON merge patch of the current one) and compare.

Bounded work: the modified scenario's series are data or server zones, never server paths
(:mod:`twin.api.untrusted`); racks, horizon, steps and solver time are bounded by
:class:`twin.live.whatif.WhatIfLimits` (422 beyond, one line per limit); and one what-if
runs at a time per token with a small queue behind it (:class:`WhatIfQueue`; 429 beyond,
with ``Retry-After``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from twin.api.deps import API, CurrentTwin, Read, error_responses, invalid, scenario_invalid
from twin.api.untrusted import check_depth, check_text, server_series
from twin.data.validation import SeriesError
from twin.live.whatif import WhatIfLimits, compare, raw_limit_problems
from twin.scenario.loader import ScenarioError, scenario_from_dict

router = APIRouter(prefix=API)
"""The what-if route."""

LIMITS = WhatIfLimits()
"""Bounds on one what-if requested through the API."""


class WhatIf(BaseModel):
    """A modified scenario to plan and compare with the current one."""

    changes: dict[str, Any] = Field(
        description="JSON merge patch applied to the current scenario (objects merge, "
        "lists and values replace, null deletes). Series are given as data (values, "
        "constant, generate) or a zone of the server's data; file and data_dir are refused "
        "unless they repeat a series source of the scenario in force unchanged."
    )
    horizon_hours: float = Field(
        default=24.0,
        ge=1,
        le=LIMITS.max_horizon_hours,
        description=f"Planning horizon [h] (at most {LIMITS.max_steps} steps)",
    )


class WhatIfQueue:
    """One running what-if per principal, and at most ``waiting`` more queued in all.

    Parameters
    ----------
    running
        What-ifs solved at once [-].
    waiting
        What-ifs waiting for a free slot [-].
    """

    def __init__(self, running: int = 1, waiting: int = 2) -> None:
        self._slots = threading.Semaphore(running)
        self._admitted: set[str] = set()
        self._capacity = running + waiting
        self._lock = threading.Lock()

    @contextmanager
    def admit(self, who: str) -> Iterator[None]:
        """Hold a slot for ``who`` while the block runs (waits in the queue first).

        Raises
        ------
        fastapi.HTTPException
            429 when ``who`` already has a what-if running or queued, or the queue is full.
        """
        with self._lock:
            if who in self._admitted:
                raise HTTPException(
                    429,
                    "a what-if of this token is already running or queued; wait for its answer",
                    headers={"Retry-After": "10"},
                )
            if len(self._admitted) >= self._capacity:
                raise HTTPException(
                    429,
                    f"{len(self._admitted)} what-ifs running or queued; try again later",
                    headers={"Retry-After": "10"},
                )
            self._admitted.add(who)
        try:
            with self._slots:
                yield
        finally:
            with self._lock:
                self._admitted.discard(who)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


@router.post("/whatif", responses=error_responses(429))
def whatif(body: WhatIf, who: Read, twin: CurrentTwin, request: Request) -> dict[str, Any]:
    """Plan a modified scenario and compare it with the current one (both verified).

    422: the modified scenario is invalid or crosses a limit (at most
    2,000 racks, 672 steps, a 5 min step, 10,000 inline values per series, 30 s per solve);
    429: this token's previous what-if is still running, or the queue is full.
    """
    check_depth(body.changes, ("body", "changes"))
    check_text(body.changes, ("body", "changes"))
    data = merge_patch(twin.base_data, body.changes)
    data = server_series(
        data,
        twin.base_data,
        data_root=request.app.state.data_root,
        scenario_dir=twin.scenario_dir,
        where=("body", "changes"),
    )  # 422 for a server path or an unknown zone, before anything is opened
    where = ("body", "changes")
    problems = raw_limit_problems(data, LIMITS)
    try:
        if problems:
            raise ScenarioError("what-if", problems)
        scenario_from_dict(data)  # as written, before the live window is set on it
    except ScenarioError as exc:
        raise scenario_invalid(exc, where) from exc
    queue: WhatIfQueue = request.app.state.whatif_queue
    with queue.admit(who):
        try:
            return compare(twin, data, horizon_hours=body.horizon_hours, limits=LIMITS)
        except ScenarioError as exc:
            raise scenario_invalid(exc, where) from exc
        except SeriesError as exc:
            raise invalid((*where, "series"), str(exc)) from exc
