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
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twin.api.security import TokenRegistry

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
"""Methods whose requests carry a body the guard checks credentials for first."""


def api_routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
    """Every :class:`fastapi.routing.APIRoute` among ``routes``, including those of included
    routers (FastAPI 0.16x keeps an included router as one entry holding the router's routes;
    the twin's routers carry their full prefix, so their paths are the served paths).

    Parameters
    ----------
    routes
        An app's or router's routes.
    """
    pending = list(routes)
    while pending:
        route = pending.pop(0)
        if isinstance(route, APIRoute):
            yield route
            continue
        included = getattr(route, "original_router", None)
        if included is not None:
            pending[:0] = list(included.routes)


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


def query_names(route: APIRoute) -> frozenset[str]:
    """Names of the query parameters a route reads (its dependencies' included).

    Parameters
    ----------
    route
        A FastAPI route.
    """
    names: set[str] = set()
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        names.update(param.alias for param in dependant.query_params)
        pending.extend(dependant.dependencies)
    return frozenset(names)


async def _send_json(send: Send, status: int, detail: Any, headers: dict[str, str]) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    # The unread rest of the body makes the connection unusable: close it.
    raw.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def _refuse_nul(scope: Scope, send: Send) -> bool:
    """Answer 422 for a NUL character in the path or a query parameter (no id, point or
    status holds one, and PostgreSQL cannot compare text with it); True if answered."""
    raw_query = bytes(scope.get("query_string", b""))
    if "\x00" not in scope["path"] and b"%00" not in raw_query and b"\x00" not in raw_query:
        return False  # every request passes here: no parsing unless a NUL may be there
    query = parse_qsl(raw_query.decode("latin-1"), True)
    where = "path" if "\x00" in scope["path"] else None
    if where is None and any("\x00" in name + value for name, value in query):
        where = "query"
    if where is None:
        return False
    detail = [
        {"loc": [where], "msg": "a NUL character (\\u0000) is not allowed", "type": "value_error"}
    ]
    await _send_json(send, 422, detail, {})
    return True


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
        self._scoped: list[tuple[APIRoute, str, frozenset[str]]] | None = None

    def _route_of(self, scope: Scope) -> tuple[str, frozenset[str]] | None:
        """The scope needed by the route a request goes to and the query parameters it
        reads (None: no scoped route)."""
        if self._scoped is None:
            self._scoped = [
                (route, needed, query_names(route))
                for route in api_routes(self._routes())
                if (needed := required_scope(route)) is not None
            ]
        for route, needed, names in self._scoped:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return needed, names
        return None

    async def _refuse(self, scope: Scope, send: Send) -> bool:
        """Answer 401/403 for a guarded request whose token cannot do it, 422 for a query
        parameter the route does not read; True if answered."""
        route = self._route_of(scope)
        if route is None:
            return False
        needed, names = route
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
        query = parse_qsl(bytes(scope.get("query_string", b"")).decode("latin-1"), True)
        unknown = sorted({name for name, _ in query} - names)
        if unknown:
            listed = ", ".join(repr(name[:40]) for name in unknown[:5])
            known = ", ".join(sorted(names)) or "none"
            detail = [
                {
                    "loc": ["query"],
                    "msg": f"unknown query parameter(s) {listed}; this route reads: {known}",
                    "type": "value_error",
                }
            ]
            await _send_json(send, 422, detail, {})
            return True
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if await _refuse_nul(scope, send) or await self._refuse(scope, send):
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


__all__ = ["BODY_METHODS", "RequestGuard", "api_routes", "query_names", "required_scope"]
