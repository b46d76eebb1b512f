"""The web UI's login sessions in the store, so that a restart does not log everyone out.

A session is opened by :class:`twin.api.login.LoginGate` with a random id (the cookie's value,
256 bits); the store keeps only the **SHA-256 of that id** (``sessions.id_hash``), the
principal, its scopes and the expiry, so a copy of the database does not hand out live
cookies.  Looking a session up hashes the cookie's value and compares in the database by the
primary key.  Expired sessions are deleted when met and, at every opening, all at once; beyond
``limit`` live sessions the oldest go first.

Methods of :class:`twin.store.store.Store` (mixed in by :class:`SessionsMixin`):

``open_session(session_id, principal, scopes, expires, *, now=None, limit=10_000)``,
``session(session_id, *, now=None) -> StoredSession | None``, ``close_session(session_id)``,
``session_count(*, now=None) -> int``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from twin.store.engine import Database, from_microseconds, to_microseconds
from twin.store.schema import SESSIONS

__all__ = ["SessionsMixin", "StoredSession", "session_hash"]


def session_hash(session_id: str) -> str:
    """The SHA-256 of a session id, hexadecimal (what the store keeps instead of the id)."""
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StoredSession:
    """A live session: who, with which scopes, since and until when (UTC)."""

    principal: str
    scopes: frozenset[str]
    created: datetime
    expires: datetime


def _scopes_text(scopes: Iterable[str]) -> str:
    names = sorted(set(scopes))
    if any("," in name or not name for name in names):
        raise ValueError(f"scope names must be non-empty and without commas, got {names}")
    return ",".join(names)


class SessionsMixin:
    """Login sessions: the methods of :class:`twin.store.store.Store` on the ``sessions``
    table (see the module docstring)."""

    _database: Database
    """The database; set by the class that mixes this in."""

    def open_session(
        self,
        session_id: str,
        principal: str,
        scopes: Iterable[str],
        expires: datetime,
        *,
        now: datetime | None = None,
        limit: int = 10_000,
        per_principal: int | None = None,
    ) -> None:
        """Store a new session (its id hashed); expired sessions are removed, then the
        principal's own oldest beyond ``per_principal``, then the oldest of all beyond
        ``limit``.

        Parameters
        ----------
        session_id
            The random id sent to the browser (at least 16 characters; stored hashed).
        principal
            Who logged in, e.g. ``user:alice`` or ``token:<fingerprint>``.
        scopes
            The principal's scopes (names without commas).
        expires
            End of the session (timezone-aware).
        now
            Current time (timezone-aware; default: the wall clock).
        limit
            Most live sessions kept [count].
        per_principal
            Most live sessions of one principal [count] (None: no such limit), so that one
            principal logging in over and over cannot push everyone else's sessions out.

        Raises
        ------
        ValueError
            A short id, a naive time, an expiry not after ``now``, a scope with a comma, a
            ``limit`` or ``per_principal`` below 1.
        """
        if len(session_id) < 16:
            raise ValueError("a session id must be at least 16 characters (a random token)")
        if limit < 1 or (per_principal is not None and per_principal < 1):
            raise ValueError(f"limits must be at least 1, got {limit} and {per_principal}")
        moment = to_microseconds(now or datetime.now(UTC), "now")
        until = to_microseconds(expires, "expires")
        if until <= moment:
            raise ValueError("a session must expire after it is opened")
        row = {
            "id_hash": session_hash(session_id),
            "principal": principal,
            "scopes": _scopes_text(scopes),
            "created": moment,
            "expires": until,
        }

        def work(conn: Connection) -> None:
            conn.execute(sa.delete(SESSIONS).where(SESSIONS.c.expires <= moment))
            conn.execute(sa.insert(SESSIONS).values(**row))
            if per_principal is not None:
                _keep_newest(conn, per_principal, SESSIONS.c.principal == principal)
            _keep_newest(conn, limit)

        self._database.write(work)

    def session(
        self, session_id: str | None, *, now: datetime | None = None
    ) -> StoredSession | None:
        """The live session of ``session_id`` (None: unknown, empty or expired; an expired
        one is deleted).

        Parameters
        ----------
        session_id
            The cookie's value.
        now
            Current time (timezone-aware; default: the wall clock).
        """
        if not session_id:
            return None
        key = session_hash(session_id)
        moment = to_microseconds(now or datetime.now(UTC), "now")
        query = sa.select(SESSIONS).where(SESSIONS.c.id_hash == key)
        row = self._database.read(lambda conn: conn.execute(query).mappings().first())
        if row is None:
            return None
        if row["expires"] <= moment:
            self.close_session(session_id)
            return None
        return StoredSession(
            principal=str(row["principal"]),
            scopes=frozenset(s for s in str(row["scopes"]).split(",") if s),
            created=from_microseconds(int(row["created"])),
            expires=from_microseconds(int(row["expires"])),
        )

    def close_session(self, session_id: str | None) -> bool:
        """End the session of ``session_id``; whether there was one."""
        if not session_id:
            return False
        key = session_hash(session_id)

        def work(conn: Connection) -> bool:
            result = conn.execute(sa.delete(SESSIONS).where(SESSIONS.c.id_hash == key))
            return bool(result.rowcount)

        return self._database.write(work)

    def session_count(self, *, now: datetime | None = None) -> int:
        """Live sessions stored [count]."""
        moment = to_microseconds(now or datetime.now(UTC), "now")
        query = sa.select(sa.func.count()).select_from(SESSIONS).where(SESSIONS.c.expires > moment)
        return int(self._database.read(lambda conn: conn.execute(query).scalar_one()))


def _keep_newest(conn: Connection, limit: int, *where: sa.ColumnElement[bool]) -> None:
    """Delete the oldest sessions (of those matching ``where``) beyond ``limit`` [count]."""
    count = conn.execute(sa.select(sa.func.count()).select_from(SESSIONS).where(*where))
    excess = int(count.scalar_one()) - limit
    if excess > 0:
        oldest = (
            sa.select(SESSIONS.c.id_hash)
            .where(*where)
            .order_by(SESSIONS.c.created, SESSIONS.c.id_hash)
            .limit(excess)
        )
        conn.execute(sa.delete(SESSIONS).where(SESSIONS.c.id_hash.in_(oldest)))
