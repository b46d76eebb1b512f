"""The SQL text and parameters of one :meth:`twin.store.store.Store.insert`: SQLite
``INSERT ... SELECT FROM (VALUES ...)`` statements of a few fixed sizes (the prepared-statement
cache of each pooled connection stays small) and ``latest`` upserts; PostgreSQL array literals
for ``unnest`` (joined in C, not quoted element by element in Python) and its one statement
(:data:`PG_INSERT`)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from twin.store.schema import LATEST, MEASUREMENTS, STAGING

__all__ = [
    "PG_INSERT",
    "PG_INSERT_NEW",
    "ROWS_PER_STATEMENT",
    "pg_arrays",
    "pg_insert_args",
    "sqlite_statements",
    "statement_sizes",
]

ROWS_PER_STATEMENT = 1_024
"""Most rows of one SQLite insert statement (3 or 4 parameters each: well under 32,766)."""


def statement_sizes(rows: int) -> list[int]:
    """Rows of each SQLite statement for ``rows`` rows: full statements of
    :data:`ROWS_PER_STATEMENT`, then the rest as a multiple of 128, of 16 and the last few.

    Few sizes ever occur (at most 30), so the prepared statements each pooled connection
    caches stay few and small (about 0.45 kB per row of a statement's text and program);
    a size per batch length would let them grow past 200 MB per connection."""
    sizes = [ROWS_PER_STATEMENT] * (rows // ROWS_PER_STATEMENT)
    rest = rows % ROWS_PER_STATEMENT
    for grain in (128, 16, 1):
        if rest >= grain:
            sizes.append(rest - rest % grain)
            rest %= grain
    return sizes


@lru_cache(maxsize=64)
def sqlite_rows_sql(rows: int, staging: bool) -> str:
    """``INSERT … SELECT`` of ``rows`` (point, time, value) rows given as ``VALUES`` and one
    ``received`` parameter (first), into the staging table (rows already in
    ``measurements`` left out) or into ``measurements``; duplicates are left alone."""
    values = ", ".join(["(?, ?, ?)"] * rows)
    target, keep = (
        (STAGING.name, f"NOT EXISTS (SELECT 1 FROM {MEASUREMENTS.name} AS m "
         "WHERE m.point = b.column1 AND m.time = b.column2)")
        if staging
        else (MEASUREMENTS.name, "true")
    )  # fmt: skip
    return (
        f"INSERT INTO {target} (point, time, value, received) "
        f"SELECT b.column1, b.column2, b.column3, ? FROM (VALUES {values}) AS b "
        f"WHERE {keep} ON CONFLICT DO NOTHING"
    )


@lru_cache(maxsize=64)
def sqlite_latest_sql(rows: int) -> str:
    """Upsert of ``rows`` (point, time, value, received) rows into ``latest``: a point's row
    is replaced only by a newer time."""
    values = ", ".join(["(?, ?, ?, ?)"] * rows)
    return (
        f"INSERT INTO {LATEST.name} (point, time, value, received) VALUES {values} "
        "ON CONFLICT (point) DO UPDATE SET time = excluded.time, value = excluded.value, "
        f"received = excluded.received WHERE excluded.time > {LATEST.name}.time"
    )


def sqlite_statements(
    rows: list[tuple[str, int, float]],
    newest: list[tuple[str, int, float, int]],
    recv: int,
    staging: bool,
) -> tuple[list[tuple[str, tuple[Any, ...]]], list[tuple[str, tuple[Any, ...]]]]:
    """The SQLite statements of one insert, of :func:`statement_sizes` rows each:
    those inserting ``rows`` (sorted by point and time; of two rows with one point and time
    the first is kept), and the ``latest`` upserts of ``newest`` (one row per point).

    Returns
    -------
    tuple
        The inserts' and the upserts' ``(sql, parameters)`` pairs (the inserts' row counts add
        up to the rows newly stored).
    """
    flat: list[Any] = []
    previous: tuple[str, int] | None = None
    for point, time, value in rows:
        if previous is None or previous[0] != point or previous[1] != time:
            flat += (point, time, value)
            previous = (point, time)
    inserts = []
    start = 0
    for size in statement_sizes(len(flat) // 3):
        inserts.append((sqlite_rows_sql(size, staging), (recv, *flat[start : start + 3 * size])))
        start += 3 * size
    upserts = []
    start = 0
    for size in statement_sizes(len(newest)):
        part = newest[start : start + size]
        upserts.append((sqlite_latest_sql(size), tuple(x for row in part for x in row)))
        start += size
    return inserts, upserts


def pg_arrays(rows: Sequence[tuple[Any, ...]]) -> dict[str, str]:
    """The point, time and value columns of ``rows`` as PostgreSQL array literals (``p``:
    ``text[]``, every element quoted; ``t``: ``bigint[]``; ``v``: ``double precision[]``
    from ``repr``, the shortest text that reads back as the same double)."""
    if not rows:
        return {"p": "{}", "t": "{}", "v": "{}"}
    points = [row[0] for row in rows]
    every = "".join(points)
    if "\\" in every or '"' in every:  # escaped inside the quotes
        points = [p.replace("\\", "\\\\").replace('"', '\\"') for p in points]
    joined = '","'.join(points)
    return {
        "p": '{"' + joined + '"}',
        "t": "{" + ",".join([str(row[1]) for row in rows]) + "}",
        "v": "{" + ",".join([repr(row[2]) for row in rows]) + "}",
    }


def _pg_rows(tag: str) -> str:
    """``SELECT`` of the rows of the array parameters ``p<tag>``, ``t<tag>``, ``v<tag>`` with
    the arrival time ``r``."""
    return (
        f"SELECT b.point, b.time, b.value, CAST(:r AS bigint) FROM unnest("
        f"CAST(:p{tag} AS text[]), CAST(:t{tag} AS bigint[]), "
        f"CAST(:v{tag} AS double precision[])) AS b(point, time, value)"
    )


def _pg_insert(conflict: str) -> Any:
    return sa.text(
        f"WITH stored AS (INSERT INTO {MEASUREMENTS.name} (point, time, value, received) "
        f"{_pg_rows('')}{conflict} RETURNING 1), "
        f"up AS (INSERT INTO {LATEST.name} (point, time, value, received) {_pg_rows('l')} "
        "ON CONFLICT (point) DO UPDATE SET time = excluded.time, value = excluded.value, "
        f"received = excluded.received WHERE excluded.time > {LATEST.name}.time) "
        "SELECT count(*) FROM stored"
    )


PG_INSERT = _pg_insert(" ON CONFLICT DO NOTHING")
"""PostgreSQL's whole insert in one statement, run in autocommit: the rows into
``measurements`` (those stored already left out) and each point's newest row into ``latest``
(only where newer); its result is the count of rows newly stored.

One round trip (4 with ``BEGIN``, two statements and ``COMMIT``: under load each waits for
the server's turn on a core: paced at 50,000 readings/s, ``benchmarks/ingest.py``'s batch p99
was 58–168 ms that way, 40–70 ms this way; docs/store.md).  The rows go in sorted by (point,
time), so two writers take their row locks in one order and never deadlock.  Parameters:
array literals (:func:`pg_arrays`) ``p``, ``t``, ``v`` (the rows) and ``pl``, ``tl``, ``vl``
(the newest row of each point), and ``r``, the arrival time [µs since 1970 UTC]."""

PG_INSERT_NEW = _pg_insert("")
""":data:`PG_INSERT` for rows known to be new: without the conflict check, which costs the
server about a third of its time a row; a row stored already fails the whole statement."""


def pg_insert_args(
    rows: Sequence[tuple[Any, ...]], newest: Sequence[tuple[Any, ...]], recv: int
) -> dict[str, Any]:
    """The parameters of :data:`PG_INSERT` and :data:`PG_INSERT_NEW`: ``rows`` (point, time,
    value) sorted by point and time, ``newest`` the newest row of each point, ``recv`` the
    arrival time [µs since 1970 UTC].  The arrays are PostgreSQL array literals joined in C
    (psycopg's list dumper quotes element by element in Python); the server parses them."""
    args: dict[str, Any] = {"r": recv, **pg_arrays(rows)}
    args.update({name + "l": text for name, text in pg_arrays(newest).items()})
    return args
