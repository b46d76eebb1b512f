"""Schemathesis fuzzing of the OpenAPI: no 5xx, every response matches its schema.

Generated requests carry an admin token (so they reach the handlers, not only the 401 path).
The two operations that run a full co-planning solve per request (``POST /plans`` and
``POST /whatif``) are left out: each example costs seconds; their behaviour is covered in
``test_service.py``.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers import api_app, live_twin

ADMIN = "fuzz-admin-token-000001"


def _app() -> FastAPI:
    """The service on the demo hall, its store in a temporary folder (built at collection:
    ``schemathesis.pytest.from_fixture`` is broken under pytest 9, it reads a removed
    ``Function._nodeid``)."""
    folder = Path(tempfile.mkdtemp(prefix="dctwin-fuzz-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    twin = live_twin(folder, lambda: datetime(2026, 11, 18, 12, tzinfo=UTC))
    return api_app(twin, {ADMIN: "admin"})


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@schema.exclude(path_regex=r"^/api/v1/(plans|whatif)$", method="POST").parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_never_fails_and_matches_its_schema(case: schemathesis.Case) -> None:
    # The checks the service promises: no 5xx; status codes, content types, headers and bodies
    # as documented.  Left out: the negative-data checks (a measurement batch is schema-loose
    # on purpose: bad items are refused one by one with a reason, not as a 422 for the whole
    # batch) and the Allow header of 405 answers (Starlette lists the matched route's methods).
    case.call_and_validate(
        headers={"Authorization": f"Bearer {ADMIN}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_headers_conformance,
            response_schema_conformance,
        ],
    )
