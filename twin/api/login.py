"""The web UI behind a login: sessions from a token or a user's password, in a cookie.

:class:`LoginGate` wraps the web UI's ASGI app (mounted at ``/`` by ``dctwin serve``):

* ``GET /login`` is a small form; ``POST /login`` takes an access token, or a user name and
  password from ``DCTWIN_USERS`` (:class:`UserRegistry`, PBKDF2-SHA256 hashes made with
  :func:`hash_password`).  The principal needs the ``read`` scope (``ingest`` alone never
  opens the UI).  A good login sets the session cookie ``dctwin_session``: random, HTTP-only,
  ``SameSite=Strict`` (no other site can make the browser send it) and ``Secure`` (sent over
  HTTPS only; left off for plain HTTP to a loopback address, where browsers do not send
  ``Secure`` cookies, and refused for plain HTTP to any other host: serve behind TLS).
* ``/logout`` ends the session and clears the cookie.
* Every other request to the UI (pages, layout, every Dash callback, the what-if YAML
  download, static files) needs a live session with the ``read`` scope: pages redirect to
  ``/login``; other requests (Dash callbacks) are answered 401 in JSON.  The principal of
  the session (``token:<fingerprint>`` or ``user:<name>``) goes to the UI in the
  ``X-Dctwin-Principal`` header and its scopes in ``X-Dctwin-Scopes`` (a client's own
  header of either name, also spelt with underscores, is dropped), for the audit log and for
  actions that need more than ``read`` (approving needs ``approve``).  A request with a
  chunked body (``Transfer-Encoding: chunked``, no length) is answered ``411``: the UI's WSGI
  app would not read it (browsers always send the length).

A password is checked (PBKDF2) in a worker thread, :data:`PASSWORD_CHECKS` at a time (a login
beyond them is 429, ``Retry-After: 1``): strangers posting passwords cannot stop the service's
event loop, nor pile up work.

Sessions last :data:`SESSION_SECONDS`, at most :data:`MAX_SESSIONS` of them and
:data:`MAX_SESSIONS_PER_PRINCIPAL` of one principal's (its own oldest goes first).  With a store
(what ``dctwin serve`` gives the UI) they are kept in its ``sessions`` table
(:mod:`twin.store.sessions`: only a SHA-256 of the id, the principal, scopes and expiry), so a
restart logs nobody out; without one they live in memory.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import os
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twin.api.guard import BODY_METHODS
from twin.api.security import SCOPES, TokenError, TokenRegistry

if TYPE_CHECKING:
    from twin.store.store import Store

COOKIE = "dctwin_session"
"""Name of the session cookie."""
SESSION_SECONDS = 12 * 3600
"""Life of a session [s]."""
MAX_SESSIONS = 10_000
"""Most sessions kept; the oldest goes first beyond it."""
MAX_SESSIONS_PER_PRINCIPAL = 100
"""Most sessions of one principal (token or user); its own oldest goes first beyond it, so
that one principal logging in over and over cannot log everyone else out."""
MAX_FORM_BYTES = 8_192
"""Largest login form [bytes]."""
ITERATIONS = 200_000
"""PBKDF2 iterations of new password hashes [-]."""
PASSWORD_CHECKS = 1
"""Password checks running at once [-] (each is ~0.1 s of CPU beside the event loop); a
login with a password arriving beyond them is answered 429."""
PRINCIPAL_HEADER = b"x-dctwin-principal"
"""Header carrying the session's principal to the UI (set by the gate only)."""
SCOPES_HEADER = b"x-dctwin-scopes"
"""Header carrying the session's scopes to the UI (set by the gate only)."""
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def hash_password(password: str, *, iterations: int = ITERATIONS) -> str:
    """A PBKDF2-SHA256 hash of ``password`` for ``DCTWIN_USERS``
    (``pbkdf2_sha256$<iterations>$<salt>$<hash>``, base64).

    Parameters
    ----------
    password
        The password.
    iterations
        PBKDF2 iterations [-].
    """
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    encode = base64.urlsafe_b64encode
    return f"pbkdf2_sha256${iterations}${encode(salt).decode()}${encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (a :func:`hash_password` string), compared in
    constant time; False for a malformed hash."""
    try:
        kind, iterations, salt, digest = stored.split("$")
        rounds = int(iterations)
        if kind != "pbkdf2_sha256" or not 1_000 <= rounds <= 10_000_000:
            return False
        expected = base64.urlsafe_b64decode(digest)
        salt_bytes = base64.urlsafe_b64decode(salt)
    except ValueError:
        return False
    actual = hashlib.pbkdf2_hmac("sha256", password.encode(), salt_bytes, rounds)
    return hmac.compare_digest(actual, expected)


@dataclass(frozen=True)
class User:
    """A UI user: name, scopes and password hash."""

    name: str
    scopes: frozenset[str]
    password_hash: str


class UserRegistry:
    """Users from ``DCTWIN_USERS``: ``name:scope,scope:hash;name:…`` (hashes from
    :func:`hash_password`; ``admin`` implies every scope)."""

    def __init__(self, users: Mapping[str, User] | None = None) -> None:
        self._users = dict(users or {})

    @classmethod
    def from_spec(cls, spec: str) -> UserRegistry:
        """Parse ``name:scope,scope:hash;…``.

        Raises
        ------
        twin.api.security.TokenError
            An entry without three parts, an unknown scope or a malformed hash.
        """
        users: dict[str, User] = {}
        for number, entry in enumerate((e for e in spec.split(";") if e.strip()), start=1):
            parts = entry.strip().split(":")
            if len(parts) != 3 or not parts[0]:
                raise TokenError(f"DCTWIN_USERS entry {number}: expected name:scopes:hash")
            name, scopes, stored = parts
            wanted = frozenset(s.strip() for s in scopes.split(",") if s.strip())
            if wanted - set(SCOPES):
                raise TokenError(f"DCTWIN_USERS entry {number}: unknown scope(s)")
            if not stored.startswith("pbkdf2_sha256$") or stored.count("$") != 3:
                raise TokenError(
                    f"DCTWIN_USERS entry {number}: the password must be a hash from "
                    "twin.api.login.hash_password, never the password itself"
                )
            users[name] = User(name, frozenset(SCOPES) if "admin" in wanted else wanted, stored)
        return cls(users)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> UserRegistry:
        """Users from ``DCTWIN_USERS`` (none when unset)."""
        spec = (os.environ if environ is None else environ).get("DCTWIN_USERS", "")
        return cls.from_spec(spec) if spec.strip() else cls()

    def check(self, name: str, password: str) -> User | None:
        """The user if ``password`` is theirs (the same work for an unknown name)."""
        user = self._users.get(name)
        if user is None:
            verify_password(password, hash_password("-", iterations=ITERATIONS))
            return None
        return user if verify_password(password, user.password_hash) else None

    def __len__(self) -> int:
        return len(self._users)

    def scopes(self, name: str) -> frozenset[str]:
        """The scopes of user ``name`` now (empty: no such user any more)."""
        user = self._users.get(name)
        return user.scopes if user is not None else frozenset()


@dataclass(frozen=True)
class Session:
    """Who is logged in, with which scopes, until when [s since the epoch]."""

    principal: str
    scopes: frozenset[str]
    expires: float


class Sessions:
    """Sessions by random id: in ``store`` when given (they survive a restart; the store keeps
    only a hash of each id), else in memory; thread-safe.

    Parameters
    ----------
    store
        The service's store (:mod:`twin.store.sessions`), or None for memory only.
    """

    def __init__(self, store: Store | None = None) -> None:
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self.store = store

    def open(self, principal: str, scopes: frozenset[str]) -> str:
        """A new session's id."""
        key = secrets.token_urlsafe(32)
        if self.store is not None:
            expires = datetime.fromtimestamp(time.time() + SESSION_SECONDS, tz=UTC)
            self.store.open_session(
                key,
                principal,
                scopes,
                expires,
                limit=MAX_SESSIONS,
                per_principal=MAX_SESSIONS_PER_PRINCIPAL,
            )
            return key
        with self._lock:
            own = [k for k, s in self._sessions.items() if s.principal == principal]
            for old in own[: max(len(own) - MAX_SESSIONS_PER_PRINCIPAL + 1, 0)]:
                del self._sessions[old]  # oldest first (insertion order)
            if len(self._sessions) >= MAX_SESSIONS:
                del self._sessions[next(iter(self._sessions))]
            self._sessions[key] = Session(principal, scopes, time.time() + SESSION_SECONDS)
        return key

    def get(self, key: str | None) -> Session | None:
        """The live session of ``key`` (None: unknown or expired)."""
        if not key:
            return None
        if self.store is not None:
            stored = self.store.session(key)
            if stored is None:
                return None
            return Session(stored.principal, stored.scopes, stored.expires.timestamp())
        with self._lock:
            session = self._sessions.get(key)
            if session is not None and session.expires < time.time():
                del self._sessions[key]
                return None
        return session

    def close(self, key: str | None) -> None:
        """End the session of ``key``."""
        if self.store is not None:
            self.store.close_session(key)
            return
        with self._lock:
            self._sessions.pop(key or "", None)


def _page(message: str = "", status: int = 200) -> tuple[int, bytes]:
    note = f'<p class="warn">{html.escape(message)}</p>' if message else ""
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>dctwin: log in</title>
<style>body{{font-family:system-ui,sans-serif;background:#f6f7f9;margin:60px auto;width:340px}}
form{{background:#fff;padding:16px;border-radius:6px;box-shadow:0 1px 2px rgba(0,0,0,.1)}}
input{{width:100%;margin:4px 0 10px;padding:6px;box-sizing:border-box}}.warn{{color:#a61b1b}}
</style></head><body><h2>dctwin</h2>{note}
<form method="post" action="/login"><label>Access token<input name="token" type="password"
 autocomplete="off"></label><p>or</p><label>User<input name="user" autocomplete="username">
</label><label>Password<input name="password" type="password"
 autocomplete="current-password"></label><button type="submit" id="login">Log in</button>
</form></body></html>"""
    return status, body.encode()


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return ""


def _cookie(scope: Scope) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(_header(scope, b"cookie"))
    except Exception:  # a malformed Cookie header: no session
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None else None


async def _answer(
    send: Send, status: int, body: bytes, kind: str, headers: list[tuple[bytes, bytes]]
) -> None:
    raw = [
        (b"content-type", kind.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        *headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def _read_form(receive: Receive) -> dict[str, str] | None:
    """The login form's fields (None: larger than :data:`MAX_FORM_BYTES`)."""
    body = b""
    while True:
        message: Message = await receive()
        if message["type"] != "http.request":
            return {}
        body += message.get("body", b"")
        if len(body) > MAX_FORM_BYTES:
            return None
        if not message.get("more_body"):
            break
    fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
    return {key: values[0] for key, values in fields.items()}


class LoginGate:
    """ASGI middleware putting a web UI behind a login (see the module docstring).

    Parameters
    ----------
    app
        The UI's ASGI app.
    tokens
        The service's tokens (a token logs in with its scopes).
    users
        Users with passwords (``DCTWIN_USERS``).
    sessions
        Where sessions are kept (default: in memory).
    """

    def __init__(
        self,
        app: ASGIApp,
        tokens: TokenRegistry,
        users: UserRegistry,
        sessions: Sessions | None = None,
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.users = users
        self.sessions = sessions if sessions is not None else Sessions()
        self._checks = threading.BoundedSemaphore(PASSWORD_CHECKS)

    async def _user(self, name: str, password: str) -> User | bool | None:
        """The user whose ``password`` this is (None: unknown name or wrong password), or
        False when :data:`PASSWORD_CHECKS` are already running.  The PBKDF2 work runs in a
        worker thread: on the event loop it stopped every request of the service meanwhile.
        Without ``DCTWIN_USERS`` no work is done (there is nobody to tell apart)."""
        if not len(self.users):
            return None
        if not self._checks.acquire(blocking=False):
            return False
        try:
            return await anyio.to_thread.run_sync(self.users.check, name, password)
        finally:
            self._checks.release()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path == "/login":
            await self._login(scope, receive, send)
            return
        if path == "/logout":
            self.sessions.close(_cookie(scope))
            expired = f"{COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict"
            await _answer(
                send,
                303,
                b"",
                "text/plain",
                [(b"location", b"/login"), (b"set-cookie", expired.encode())],
            )
            return
        key = _cookie(scope)
        session = self._current(self.sessions.get(key))
        if session is None or "read" not in session.scopes:
            if scope["method"] == "GET" and not path.startswith("/_dash"):
                await _answer(send, 303, b"", "text/plain", [(b"location", b"/login")])
            else:
                body = b'{"detail": "log in to the UI first (/login)"}'
                await _answer(send, 401, body, "application/json", [])
            return
        chunked = "chunked" in _header(scope, b"transfer-encoding").lower()
        if scope["method"] in BODY_METHODS and chunked:
            # WSGI reads a body by its length: a chunked one would reach the UI as empty
            body = (
                b'{"detail": "the web UI reads a request body only with a Content-Length '
                b'(a chunked body is not read)"}'
            )
            await _answer(send, 411, body, "application/json", [])
            return
        # a WSGI UI reads ``x_dctwin_scopes`` as ``X-Dctwin-Scopes`` too (both become
        # HTTP_X_DCTWIN_SCOPES, joined with a comma): a client's header of either spelling goes
        headers = [
            (key, value)
            for key, value in scope["headers"]
            if key.lower().replace(b"_", b"-") not in (PRINCIPAL_HEADER, SCOPES_HEADER)
        ]
        headers.append((PRINCIPAL_HEADER, session.principal.encode()))
        headers.append((SCOPES_HEADER, ",".join(sorted(session.scopes)).encode()))
        await self.app({**scope, "headers": headers}, receive, send)

    def _current(self, session: Session | None) -> Session | None:
        """``session`` with no more scopes than its principal has now: a session kept across
        a restart loses what the token file or ``DCTWIN_USERS`` no longer grants."""
        if session is None:
            return None
        kind, _, name = session.principal.partition(":")
        if kind == "token":
            now = self.tokens.scopes_of_fingerprint(name)
        elif kind == "user":
            now = self.users.scopes(name)
        else:
            now = frozenset()
        if session.scopes <= now:
            return session
        return Session(session.principal, session.scopes & now, session.expires)

    def _secure(self, scope: Scope) -> bool | None:
        """Secure cookie (True), plain on loopback HTTP (False), refused (None)."""
        if scope.get("scheme") == "https":
            return True
        host = _header(scope, b"host").rsplit(":", 1)[0] if _header(scope, b"host") else ""
        client = (scope.get("client") or ("",))[0]
        return False if host in LOOPBACK and client in (*LOOPBACK, "testclient") else None

    async def _login(self, scope: Scope, receive: Receive, send: Send) -> None:
        secure = self._secure(scope)
        if scope["method"] != "POST":
            message = (
                ""
                if secure is not None
                else "Logging in over plain HTTP is allowed from this machine only: serve "
                "the UI behind HTTPS (a TLS proxy) to use it from elsewhere."
            )
            status, body = _page(message)
            await _answer(send, status, body, "text/html; charset=utf-8", [])
            return
        form = await _read_form(receive)
        principal, scopes, problem = None, frozenset[str](), ""
        if form is None:
            problem = "The form is too large."
        elif secure is None:
            problem = "Log in over HTTPS (this address is not this machine)."
        elif form.get("token"):
            token = form["token"].strip()
            found = self.tokens.scopes(token)
            if found is not None:
                principal = f"token:{self.tokens.fingerprint(token)}"
                scopes = found
        elif form.get("user"):
            user = await self._user(form["user"], form.get("password", ""))
            if user is False:
                status, body = _page("Too many logins at once; try again in a second.", 429)
                kind = "text/html; charset=utf-8"
                await _answer(send, status, body, kind, [(b"retry-after", b"1")])
                return
            if isinstance(user, User):
                principal, scopes = f"user:{user.name}", user.scopes
        if principal is None:
            problem = problem or "Unknown token, or wrong user or password."
        elif "read" not in scopes:
            problem = "This login cannot see the UI: it needs the 'read' scope."
        if problem:
            status, body = _page(problem, 401)
            await _answer(send, status, body, "text/html; charset=utf-8", [])
            return
        assert principal is not None
        key = self.sessions.open(principal, scopes)
        cookie = f"{COOKIE}={key}; Max-Age={SESSION_SECONDS}; Path=/; HttpOnly; SameSite=Strict"
        if secure:
            cookie += "; Secure"
        await _answer(
            send,
            303,
            b"",
            "text/plain",
            [(b"location", b"/"), (b"set-cookie", cookie.encode())],
        )


__all__ = [
    "COOKIE",
    "LoginGate",
    "Session",
    "Sessions",
    "User",
    "UserRegistry",
    "hash_password",
    "verify_password",
]
