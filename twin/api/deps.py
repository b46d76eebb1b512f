"""What every route of the twin's API shares: the URL prefix, the twin being served, bearer
scopes, the request guard (credentials before bodies, the body-size limit), the error shapes,
JSON answers for unknown API paths and the store-busy handler.

The twin and the token registry live on the app (``app.state.twin``, ``app.state.tokens``,
set by :func:`twin.api.app.create_app`); routes reach them through the :data:`CurrentTwin`
and scope (:data:`Read`, :data:`Ingest`, :data:`Approve`, :data:`Admin`) dependencies.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from twin.api.guard import RequestGuard, api_routes
from twin.api.security import TokenRegistry
from twin.live.live_twin import LiveTwin
from twin.scenario.loader import ScenarioError
from twin.store.errors import StoreBusy, StoreRefused, StoreUnavailable

API = "/api/v1"
"""Prefix of every API route."""

MAX_BODY_BYTES = 8 * 1024 * 1024
"""Largest request body accepted [bytes]."""

NO_NUL = r"^[^\x00]*$"
"""Pattern of request text the store keeps (PostgreSQL text cannot hold a NUL character)."""


class ErrorOut(BaseModel):
    """An error: what went wrong, in one sentence (or a list of problems)."""

    detail: Any = Field(description="Why the request was refused")


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error status codes (all share :class:`ErrorOut`).

    Parameters
    ----------
    codes
        HTTP status codes among 400, 401, 403, 404, 409, 413, 429 and 503.
    """
    text = {
        400: "Malformed body (not JSON, not UTF-8, CSV header incomplete)",
        401: "Missing or unknown bearer token (answered before the body is read)",
        403: "The token lacks the scope (answered before the body is read)",
        404: "Not found",
        409: "The plan is no longer proposed",
        413: "Body or batch too large (a chunked body is cut off at the limit)",
        429: "Too many what-ifs at once: one running per token, a small queue; retry after "
        "the Retry-After header",
        503: "Store busy; nothing written; retry after the Retry-After header",
    }
    return {code: {"model": ErrorOut, "description": text[code]} for code in codes}


def invalid(loc: tuple[str, ...], message: str) -> RequestValidationError:
    """A 422 in FastAPI's own validation-error shape (one schema for every 422).

    Parameters
    ----------
    loc
        Where the problem is, e.g. ``("query", "end")``.
    message
        The problem, in one sentence.
    """
    return RequestValidationError([{"loc": loc, "msg": message, "type": "value_error"}])


def scenario_invalid(
    error: ScenarioError, where: tuple[str, ...] = ("body", "scenario")
) -> RequestValidationError:
    """One 422 entry per scenario problem (``msg`` is the problem's sentence).

    Parameters
    ----------
    error
        The refused scenario's problems.
    where
        Location of the scenario in the request.
    """
    return RequestValidationError(
        [{"loc": where, "msg": problem, "type": "value_error"} for problem in error.problems]
    )


async def current_twin(request: Request) -> LiveTwin:
    """Dependency: the live twin the app serves (``app.state.twin``), or under
    ``/api/v1/sites/{site}/`` of a fleet (:mod:`twin.api.fleet`) that site's twin
    (``app.state.site_twins``; 404 for an unknown site).

    Async, so that it is resolved on the event loop (no thread hop per request).
    """
    site = request.path_params.get("site")
    if site is not None:
        sites: dict[str, LiveTwin] = getattr(request.app.state, "site_twins", {})
        if site not in sites:
            raise HTTPException(404, f"unknown site {site!r} (sites: {', '.join(sites)})")
        return sites[site]
    twin: LiveTwin = request.app.state.twin
    return twin


_bearer = HTTPBearer(auto_error=False)


def require(scope: str) -> Callable[..., Coroutine[Any, Any, str]]:
    """Dependency: the request carries a known bearer token with ``scope``; returns who.

    Parameters
    ----------
    scope
        One of :data:`twin.api.security.SCOPES`.

    Returns
    -------
    callable
        The dependency; it answers 401 for a missing or unknown token, 403 for a token
        without ``scope``, and otherwise returns the actor for the audit log
        (``token:<fingerprint>``).
    """

    async def check(  # async: resolved on the event loop (a digest, no thread hop)
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> str:  # the request guard answers first for bodies: twin.api.guard
        tokens: TokenRegistry = request.app.state.tokens
        token = credentials.credentials if credentials else None
        scopes = tokens.scopes(token)
        if token is None or scopes is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing or unknown bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if scope not in scopes:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"token lacks the {scope!r} scope")
        return f"token:{tokens.fingerprint(token)}"  # who, for the audit log

    setattr(check, "required_scope", scope)  # noqa: B010  (read by twin.api.guard)
    return check


# Module level: FastAPI resolves the routes' (string) annotations in their module's namespace,
# so every route module imports these names.
CurrentTwin = Annotated[LiveTwin, Depends(current_twin)]
"""The live twin served (a dependency)."""
Read = Annotated[str, Depends(require("read"))]
"""Who, holding the ``read`` scope (a dependency)."""
Ingest = Annotated[str, Depends(require("ingest"))]
"""Who, holding the ``ingest`` scope (a dependency)."""
Approve = Annotated[str, Depends(require("approve"))]
"""Who, holding the ``approve`` scope (a dependency)."""
Admin = Annotated[str, Depends(require("admin"))]
"""Who, holding the ``admin`` scope (a dependency)."""


def guard_requests(app: FastAPI, max_body_bytes: int) -> None:
    """Install :class:`twin.api.guard.RequestGuard` on ``app``: 401/403 before a body is
    read, 413 for a body (declared or streamed) larger than ``max_body_bytes``.

    Parameters
    ----------
    app
        The API app (its routes and ``app.state.tokens`` are read at the first request).
    max_body_bytes
        Largest request body [bytes].
    """

    def tokens() -> TokenRegistry:
        registry: TokenRegistry = app.state.tokens
        return registry

    app.add_middleware(
        RequestGuard,
        max_body_bytes=max_body_bytes,
        routes=lambda: list(app.routes),
        tokens=tokens,
    )


ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
"""Methods the catch-all of :func:`answer_unknown_api_paths` answers."""


def answer_unknown_api_paths(app: FastAPI, prefix: str = "/api") -> None:
    """Answer every unknown path under ``prefix`` in JSON: 404, or 405 with an ``Allow``
    header listing every method of the path when only the method is wrong.

    Added after the API routes and before a web UI mounted at ``/``, so ``/api/...`` never
    reaches the UI (which would answer 200 with its HTML page).
    """

    async def unknown(request: Request) -> JSONResponse:
        path = request.url.path
        allowed = sorted(
            {
                method
                for route in api_routes(app.routes)
                if route.include_in_schema  # not this catch-all
                and route.path_regex.match(path)
                for method in route.methods or ()
            }
        )
        if allowed:
            return JSONResponse(
                {"detail": f"method {request.method} not allowed on {path}"},
                status_code=405,
                headers={"Allow": ", ".join(allowed)},
            )
        return JSONResponse({"detail": f"no API route {path}"}, status_code=404)

    for path in (prefix, prefix + "/{rest:path}"):
        app.add_api_route(path, unknown, methods=ANY_METHOD, include_in_schema=False)


async def store_busy(_: Request, exc: Exception) -> JSONResponse:
    """Exception handler: the store stayed locked beyond its retry budget (503, nothing
    written, ``Retry-After: 1``), or its server could not be reached (503; a write may or may
    not have been stored: the message says so)."""
    unavailable = isinstance(exc, StoreUnavailable)
    what = "store unavailable" if unavailable else "store busy, nothing was written"
    return JSONResponse(
        {"detail": f"{what}: {exc}"},
        status_code=503,
        headers={"Retry-After": "1"},
    )


def handle_store_busy(app: FastAPI) -> None:
    """Answer :class:`twin.store.store.StoreBusy` with :func:`store_busy` on ``app``, and
    every 422 with :func:`validation_error`."""
    app.add_exception_handler(StoreBusy, store_busy)
    app.add_exception_handler(StoreRefused, store_refused)
    app.add_exception_handler(RequestValidationError, validation_error)


async def store_refused(_: Request, exc: Exception) -> JSONResponse:
    """Exception handler: the database refused a value of the request (PostgreSQL text with a
    NUL character that a check before it missed): 422, that transaction rolled back."""
    return JSONResponse({"detail": str(exc)}, status_code=422)


def finite_json(value: Any) -> Any:
    """``value`` (plain JSON data) with every NaN or infinite number as its text (``"nan"``,
    ``"inf"``, ``"-inf"``): JSON has no such numbers.  Iterative (an input may be nested as
    deep as the JSON reader goes); containers are copied, ``value`` is left as it was."""
    root = [value]
    pending: list[tuple[Any, Any]] = [(root, 0)]
    while pending:
        container, key = pending.pop()
        item = container[key]
        if isinstance(item, float) and not math.isfinite(item):
            container[key] = str(item)
        elif isinstance(item, dict):
            container[key] = mapping = dict(item)
            pending.extend((mapping, name) for name in mapping)
        elif isinstance(item, list):
            container[key] = items = list(item)
            pending.extend((items, index) for index in range(len(items)))
    return root[0]


async def validation_error(_: Request, exc: Exception) -> JSONResponse:
    """Exception handler: FastAPI's 422 (``detail``: one entry per problem, with the ``input``
    refused), whose ``input`` may be ``NaN`` or ``Infinity`` (Python's JSON reader takes them):
    written as text, where FastAPI's own handler failed to render it (a 500)."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return JSONResponse({"detail": finite_json(jsonable_encoder(errors))}, status_code=422)
