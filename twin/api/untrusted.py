"""Scenario data from requests: data, never server paths, and never deeper than a scenario.

A scenario sent to the API (``PUT /scenario``, or the merge patch of ``POST /whatif``) may
carry its series as data — ``values``, ``constant``, ``generate: demo`` — or name a grid
``zone`` of the server's read-only data folder, checked against the list of zones found
there.  It may not name a file or a folder: a series source with ``file`` or ``data_dir``
that is not, unchanged, one of the scenario in force is refused with 422, before anything is
opened.  (A source of the scenario in force comes back as it was, so ``GET /scenario``,
edit, ``PUT /scenario`` works.)  Zone sources from a request are read from the server's data
folder, whatever the request says.

Nesting deeper than :data:`twin.scenario.loader.MAX_DEPTH` levels is refused too (the merge
and the validation recurse).  Messages name the field and never echo a file's content.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi.exceptions import RequestValidationError

from twin.data.loaders import available_zones
from twin.data.validation import SeriesError
from twin.scenario.loader import MAX_DEPTH

PATH_FIELDS = ("file", "data_dir")
"""Series-source fields that name server paths: refused from requests."""


def nesting_depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """Levels of nested mappings and lists in ``value`` (iterative; stops past ``limit``).

    Parameters
    ----------
    value
        Plain data (JSON).
    limit
        Depth [levels] beyond which counting stops (``limit + 1`` is returned).
    """
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        pending.extend((child, depth) for child in children)
    return deepest


def _invalid(where: tuple[str, ...], problems: list[tuple[tuple[Any, ...], str]]) -> Exception:
    return RequestValidationError(
        [{"loc": (*where, *loc), "msg": msg, "type": "value_error"} for loc, msg in problems]
    )


def check_depth(value: Any, where: tuple[str, ...]) -> None:
    """Refuse (422) ``value`` nested deeper than :data:`~twin.scenario.loader.MAX_DEPTH`.

    Parameters
    ----------
    value
        The request's data.
    where
        Its location for the error, e.g. ``("body", "changes")``.
    """
    if nesting_depth(value) > MAX_DEPTH:
        message = f"nested deeper than {MAX_DEPTH} levels; a scenario is a few levels deep"
        raise _invalid(where, [((), message)])


def check_text(value: Any, where: tuple[str, ...]) -> None:
    """Refuse (422) a key or a text of ``value`` holding a NUL character: the scenario is stored
    and audited, and PostgreSQL text cannot hold one (a PUT /scenario replaced the scenario,
    then failed on its audit entry).  Iterative; names the first such field.

    Parameters
    ----------
    value
        The request's data (nested no deeper than :data:`~twin.scenario.loader.MAX_DEPTH`).
    where
        Its location for the error, e.g. ``("body", "scenario")``.
    """
    pending: list[tuple[Any, tuple[Any, ...]]] = [(value, ())]
    while pending:
        item, loc = pending.pop()
        if isinstance(item, str):
            found = "\x00" in item
        elif isinstance(item, Mapping):
            found = any(isinstance(key, str) and "\x00" in key for key in item)
            pending.extend((child, (*loc, key)) for key, child in item.items())
        elif isinstance(item, list):
            found = False
            pending.extend((child, (*loc, index)) for index, child in enumerate(item))
        else:
            found = False
        if found:
            raise _invalid(where, [(loc, "a NUL character (\\u0000) is not allowed")])


def server_series(
    data: Mapping[str, Any],
    in_force: Mapping[str, Any],
    *,
    data_root: Path,
    scenario_dir: Path,
    where: tuple[str, ...],
) -> dict[str, Any]:
    """``data`` with its series checked: no server paths, zones from the server's list.

    Parameters
    ----------
    data
        The scenario the request describes (for a what-if, the patch already applied).
    in_force
        The scenario in force (its series sources may come back unchanged).
    data_root
        The server's public data folder (``grid/<ZONE>/``).
    scenario_dir
        Folder the twin resolves relative series paths against.
    where
        Location of ``data`` in the request, e.g. ``("body", "scenario")``.

    Returns
    -------
    dict
        A shallow copy of ``data`` whose zone sources read from ``data_root``.

    Raises
    ------
    fastapi.exceptions.RequestValidationError
        A series source names a file or a folder, or an unknown zone (one entry each; 422).
    """
    result = dict(data)
    sources = data.get("series")
    if not isinstance(sources, list):
        return result  # not a list: validation reports it
    known_sources = in_force.get("series")
    kept = known_sources if isinstance(known_sources, list) else []
    problems: list[tuple[tuple[Any, ...], str]] = []
    checked: list[Any] = []
    zones: list[str] | None = None
    for index, source in enumerate(sources):
        if not isinstance(source, Mapping) or source in kept:
            checked.append(source)
            continue
        source = dict(source)
        for field in PATH_FIELDS:
            if field in source:
                problems.append(
                    (
                        ("series", index, field),
                        f"a request cannot name a {'file' if field == 'file' else 'folder'} on "
                        "the server; give the series as values, a constant, generate: demo or "
                        "a zone of the server's data",
                    )
                )
        zone = source.get("zone")
        if zone is not None:
            if zones is None:
                try:
                    zones = available_zones(data_root)
                except (SeriesError, OSError):
                    zones = []
            if zone not in zones:
                listed = ", ".join(zones) if zones else "none: the server has no grid data"
                problems.append((("series", index, "zone"), f"unknown zone; known zones: {listed}"))
            source["data_dir"] = os.path.relpath(data_root.resolve(), scenario_dir.resolve())
        checked.append(source)
    if problems:
        raise _invalid(where, problems)
    result["series"] = checked
    return result


__all__ = ["PATH_FIELDS", "check_depth", "check_text", "nesting_depth", "server_series"]
