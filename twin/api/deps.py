"""What every route of the twin's API shares: the URL prefix, the twin being served, bearer
scopes, the body-size limit, the error shapes and the store-busy handler.

The twin and the token registry live on the app (``app.state.twin``, ``app.state.tokens``,
set by :func:`twin.api.app.create_app`); routes reach them through the :data:`CurrentTwin`
and scope (:data:`Read`, :data:`Ingest`, :data:`Approve`, :data:`Admin`) dependencies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from twin.api.security import TokenRegistry
from twin.live.live_twin import LiveTwin
from twin.scenario.loader import ScenarioError
from twin.store.errors import StoreBusy

API = "/api/v1"
"""Prefix of every API route."""

MAX_BODY_BYTES = 8 * 1024 * 1024
"""Largest request body accepted [bytes]."""


class ErrorOut(BaseModel):
    """An error: what went wrong, in one sentence (or a list of problems)."""

    detail: Any = Field(description="Why the request was refused")


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error status codes (all share :class:`ErrorOut`).

    Parameters
    ----------
    codes
        HTTP status codes among 400, 401, 403, 404, 409, 413 and 503.
    """
    text = {
        400: "Malformed body (not JSON, not UTF-8, CSV header incomplete)",
        401: "Missing or unknown bearer token",
        403: "The token lacks the scope",
        404: "Not found",
        409: "The plan is no longer proposed",
        413: "Body or batch too large",
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


def scenario_invalid(error: ScenarioError) -> RequestValidationError:
    """One 422 entry per scenario problem (``msg`` is the problem's sentence).

    Parameters
    ----------
    error
        The refused scenario's problems.
    """
    return RequestValidationError(
        [
            {"loc": ("body", "scenario"), "msg": problem, "type": "value_error"}
            for problem in error.problems
        ]
    )


async def current_twin(request: Request) -> LiveTwin:
    """Dependency: the live twin the app serves (``app.state.twin``).

    Async, so that it is resolved on the event loop (no thread hop per request).
    """
    twin: LiveTwin = request.app.state.twin
    return twin


_bearer = HTTPBearer(auto_error=False)


def require(scope: str) -> Callable[..., str]:
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

    def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> str:
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


def limit_body_size(app: FastAPI, max_body_bytes: int) -> None:
    """Refuse requests whose declared body is larger than ``max_body_bytes`` (413), unread.

    Parameters
    ----------
    app
        The API app.
    max_body_bytes
        Largest request body [bytes].
    """

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Callable[[Request], Any]) -> Any:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_body_bytes:
            return JSONResponse(
                {"detail": f"request body larger than {max_body_bytes} bytes"}, status_code=413
            )
        return await call_next(request)


async def store_busy(_: Request, exc: Exception) -> JSONResponse:
    """Exception handler: the store stayed locked beyond its retry budget (503, nothing
    written, ``Retry-After: 1``)."""
    return JSONResponse(
        {"detail": f"store busy, nothing was written: {exc}"},
        status_code=503,
        headers={"Retry-After": "1"},
    )


def handle_store_busy(app: FastAPI) -> None:
    """Answer :class:`twin.store.store.StoreBusy` with :func:`store_busy` on ``app``."""
    app.add_exception_handler(StoreBusy, store_busy)
