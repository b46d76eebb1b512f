"""The gate in front of the API's routes: credentials before bodies, bodies within a limit.

:class:`RequestGuard` is a plain ASGI middleware (no per-request task or copy of the body):

* **Authentication before parsing.**  A request with a body (``POST``, ``PUT``, ``PATCH``,
  ``DELETE``) to an API route that needs a scope is answered ``401`` (no or unknown bearer
  token) or ``403`` (token without the scope) *before a byte of its body is read*, so a
  stranger's 87 MB upload costs nothing.  The route's scope is the one its
  :func:`twin.api.deps.require` dependency names, found once per route.
* **A byte limit that holds.**  A declared ``Content-Length`` above the limit is answered
  ``413`` unread; a body without one (``Transfer-Encoding: chunked``) is counted as it
  arrives and answered ``413`` the moment it crosses the limit, after which the route sees
  the client as gone and nothing more is read.

The routes' own dependencies still check the token and scope (the guard only answers
earlier); requests without a body, and everything outside the API routes (the web UI,
``/docs``), pass through unchanged apart from the byte limit.
"""

from __future__ import annotations

import json
from collections.abc import Callable, MutableMapping
from typing import Any

from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twin.api.security import TokenRegistry

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
"""Methods whose requests carry a body the guard checks credentials for first."""


def required_scope(route: APIRoute) -> str | None:
    """The scope a route's :func:`twin.api.deps.require` dependency asks for (None: none).

    Parameters
    ----------
    route
        A FastAPI route.
    """
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        scope = getattr(dependency.call, "required_scope", None)
        if isinstance(scope, str):
            return scope
        pending.extend(dependency.dependencies)
    return None


async def _send_json(send: Send, status: int, detail: str, headers: dict[str, str]) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    # The unread rest of the body makes the connection unusable: close it.
    raw.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class RequestGuard:
    """ASGI middleware: credentials before bodies, and a streaming body-size limit.

    Parameters
    ----------
    app
        The wrapped ASGI app (the FastAPI app's inner stack).
    max_body_bytes
        Largest request body [bytes].
    routes
        Called once, at the first request, for the API routes to guard (the app's routes).
    tokens
        Called for the token registry (``app.state.tokens``).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        routes: Callable[[], list[Any]],
        tokens: Callable[[], TokenRegistry],
    ) -> None:
        self.app = app
        self.max_body_bytes = int(max_body_bytes)
        self._routes = routes
        self._tokens = tokens
        self._scoped: list[tuple[APIRoute, str]] | None = None

    def _scope_of(self, scope: Scope) -> str | None:
        """The scope needed by the route a request goes to (None: no scoped route)."""
        if self._scoped is None:
            self._scoped = [
                (route, needed)
                for route in self._routes()
                if isinstance(route, APIRoute) and (needed := required_scope(route)) is not None
            ]
        for route, needed in self._scoped:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return needed
        return None

    async def _refuse_credentials(self, scope: Scope, send: Send) -> bool:
        """Answer 401/403 for a guarded request whose token cannot do it; True if answered."""
        needed = self._scope_of(scope)
        if needed is None:
            return False
        authorization = _header(scope, b"authorization") or ""
        kind, _, token = authorization.partition(" ")
        scopes = self._tokens().scopes(token.strip()) if kind.lower() == "bearer" else None
        if scopes is None:
            await _send_json(
                send, 401, "missing or unknown bearer token", {"WWW-Authenticate": "Bearer"}
            )
            return True
        if needed not in scopes:
            await _send_json(send, 403, f"token lacks the {needed!r} scope", {})
            return True
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] in BODY_METHODS and await self._refuse_credentials(scope, send):
            return
        limit = self.max_body_bytes
        too_large = f"request body larger than {limit} bytes"
        length = _header(scope, b"content-length")
        if length is not None and length.strip().isdigit() and int(length) > limit:
            await _send_json(send, 413, too_large, {})
            return
        state: MutableMapping[str, Any] = {"received": 0, "refused": False, "started": False}

        async def counted_receive() -> Message:
            if state["refused"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    state["refused"] = True
                    if not state["started"]:
                        await _send_json(send, 413, too_large, {})
                        state["started"] = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if state["refused"]:
                return  # the 413 is the answer; whatever the route says after it is dropped
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not state["refused"]:
                raise
            # The route failed on the cut-off body (client gone): the 413 has been sent.


__all__ = ["BODY_METHODS", "RequestGuard", "required_scope"]
