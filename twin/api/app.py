"""The twin's HTTP API (FastAPI) under ``/api/v1``: a thin layer over
:class:`twin.live.live_twin.LiveTwin`.

Every write needs a bearer token with its scope (:mod:`twin.api.security`); reads need ``read``.
Bodies above ``max_body_bytes`` are refused (413) before they are read.  The store being busy
(SQLite locked beyond its retry budget) is a 503 with ``Retry-After``; nothing is half-written.
"""

from __future__ import annotations

import csv
import gc
import io
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from twin.api.security import TokenRegistry
from twin.live.ingest import parse_time
from twin.live.live_twin import LiveTwin
from twin.live.whatif import compare
from twin.scenario.loader import ScenarioError
from twin.store.errors import StoreBusy

API = "/api/v1"
MAX_BODY_BYTES = 8 * 1024 * 1024
"""Largest request body accepted [bytes]."""
MAX_RAW_SPAN = timedelta(days=7)
"""Longest time range of raw (not downsampled) readings one query returns."""


class MeasurementItem(BaseModel):
    """One measurement as sent by a gateway."""

    time: str = Field(
        description="ISO 8601 timestamp with a timezone (Z or ±hh:mm), e.g. 2026-07-06T12:00:00Z"
    )
    point: str = Field(description="Point id, e.g. rack/B07/inlet_temperature")
    value: float | str | None = Field(description="Value in `unit` (a number)")
    unit: str | None = Field(
        default=None,
        description="Unit of `value` (pint syntax; °F, kW/MW, % converted); default: the "
        "point's canonical unit (degC, kW, V, 1)",
    )


class MeasurementBatch(BaseModel):
    """A batch of measurements (at most the service's batch limit, default 10,000 items)."""

    items: list[MeasurementItem]


class RejectedItem(BaseModel):
    """A refused item and why."""

    index: int = Field(description="Position in the batch (0-based)")
    point: str | None = Field(description="Point id as sent")
    reason: str = Field(description="Why it was refused")


class IngestResponse(BaseModel):
    """Outcome of a batch; accepted items are committed before this response is sent."""

    accepted: int = Field(description="Items that passed validation [count]")
    inserted: int = Field(description="Accepted items newly stored [count]")
    already_stored: int = Field(description="Accepted items already in the store [count]")
    rejected: list[RejectedItem]


class Reason(BaseModel):
    """Why an operator approves or rejects."""

    reason: str = Field(default="", max_length=2000, description="Free text for the audit log")


class WhatIf(BaseModel):
    """A modified scenario to plan and compare with the current one."""

    changes: dict[str, Any] = Field(
        description="JSON merge patch applied to the current scenario (objects merge, "
        "lists and values replace, null deletes)"
    )
    horizon_hours: float = Field(default=24.0, gt=0, le=168, description="Planning horizon [h]")


class PlanOut(BaseModel):
    """A stored plan."""

    id: str = Field(description="Plan id")
    created: datetime = Field(description="When it was proposed (UTC)")
    status: str = Field(description="proposed, approved, applied, rejected or superseded")
    payload: Any = Field(
        default=None,
        description="summary (verified figures: cost [currency], carbon_kg [kg], peak_grid_kw "
        "[kW], cooling_energy_kwh [kWh], violations), start (UTC), schedule (setpoints [°C], "
        "battery power [kW, + discharge], workload power [kW] per step)",
    )
    decided_by: str | None = Field(description="Who changed the status last")
    decided_at: datetime | None = Field(description="When (UTC)")
    reason: str | None = Field(description="Why, as given")


class AlarmOut(BaseModel):
    """An alarm (sensor fault, stale telemetry)."""

    id: int = Field(description="Alarm id")
    raised: datetime = Field(description="When it was raised (UTC)")
    cleared: datetime | None = Field(description="When it was cleared (UTC); null while active")
    kind: str = Field(description="e.g. sensor_stuck, sensor_drift, telemetry_stale")
    source: str = Field(description="Point id or `site`")
    message: str = Field(description="One sentence for the operator, with figures")


class AuditOut(BaseModel):
    """One line of the audit log."""

    id: int = Field(description="Increasing sequence number")
    time: datetime = Field(description="When (UTC)")
    actor: str = Field(
        description="Who: `token:<first 8 hex of the token's SHA-256>`, `scheduler` or `autonomy`"
    )
    action: str = Field(description="propose, approve, apply, reject, hold, replace_scenario")
    target: str | None = Field(description="Plan id or facility name")
    reason: str | None = Field(description="Why")
    detail: Any = Field(default=None, description="Extra data")


class ScenarioBody(BaseModel):
    """A full scenario (same fields as the YAML file; see `dctwin schema`)."""

    scenario: dict[str, Any]


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


class ErrorOut(BaseModel):
    """An error: what went wrong, in one sentence (or a list of problems)."""

    detail: Any = Field(description="Why the request was refused")


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error status codes (all share :class:`ErrorOut`)."""
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


def _invalid(loc: tuple[str, ...], message: str) -> RequestValidationError:
    """A 422 in FastAPI's own validation-error shape (one schema for every 422)."""
    return RequestValidationError([{"loc": loc, "msg": message, "type": "value_error"}])


def _scenario_invalid(error: ScenarioError) -> RequestValidationError:
    """One 422 entry per scenario problem (``msg`` is the problem's sentence)."""
    return RequestValidationError(
        [
            {"loc": ("body", "scenario"), "msg": problem, "type": "value_error"}
            for problem in error.problems
        ]
    )


PlanStatus = Literal["proposed", "approved", "rejected", "applied", "superseded"]

_bearer = HTTPBearer(auto_error=False)


def _require(scope: str) -> Callable[..., str]:
    """Dependency: the request carries a known bearer token with ``scope``; returns who."""

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


# Module level: FastAPI resolves these (string) annotations in the module's namespace.
Read = Annotated[str, Depends(_require("read"))]
Ingest = Annotated[str, Depends(_require("ingest"))]
Approve = Annotated[str, Depends(_require("approve"))]
Admin = Annotated[str, Depends(_require("admin"))]


def create_app(
    twin: LiveTwin,
    tokens: TokenRegistry,
    *,
    cors_origins: list[str] | None = None,
    start_background: bool = True,
    max_body_bytes: int = MAX_BODY_BYTES,
    root_redirect: bool = True,
) -> FastAPI:
    """The API app for ``twin``.

    Parameters
    ----------
    twin
        The live twin to serve.
    tokens
        Known bearer tokens and their scopes.
    cors_origins
        Origins allowed by CORS (none by default: CORS closed).
    start_background
        Start the twin's worker threads with the app (tests drive them by hand).
    max_body_bytes
        Largest request body [bytes].
    root_redirect
        Redirect ``/`` to the API documentation; False when a web UI is mounted at ``/``
        (``dctwin serve`` with a ``dctwin.web`` plugin).
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # The model, series and solver objects built at start-up live as long as the process:
        # out of the collector's sight, a full collection no longer walks them (it did, for
        # ~130 ms, in one request of fifty: benchmarks/ingest.py).
        gc.collect()
        gc.freeze()
        if start_background:
            twin.start()
        try:
            yield
        finally:
            if start_background:
                twin.stop()

    app = FastAPI(
        title="dctwin",
        version="0.1.0",
        description="Live digital twin of an AI data center. Units are given in every field "
        "description; times are ISO 8601 UTC.",
        lifespan=lifespan,
        responses=_errors(400, 401, 403, 413, 503),
    )
    app.state.tokens = tokens
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=cors_origins,
            allow_methods=["GET", "POST", "PUT"],
            allow_headers=["Authorization", "Content-Type"],
        )

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Callable[[Request], Any]) -> Any:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_body_bytes:
            return JSONResponse(
                {"detail": f"request body larger than {max_body_bytes} bytes"}, status_code=413
            )
        return await call_next(request)

    @app.exception_handler(StoreBusy)
    async def busy(_: Request, exc: StoreBusy) -> JSONResponse:
        return JSONResponse(
            {"detail": f"store busy, nothing was written: {exc}"},
            status_code=503,
            headers={"Retry-After": "1"},
        )

    if root_redirect:

        @app.get("/", include_in_schema=False)
        def root() -> RedirectResponse:
            """Without a web UI: the interactive API documentation."""
            return RedirectResponse("/docs")

    @app.get(f"{API}/health")
    def health() -> dict[str, Any]:
        """Liveness: the twin answers, the store answers, when the last reading came."""
        state = twin.estimator.state(twin.clock())
        return {
            "status": "ok",
            "facility": twin.facility.name,
            "stale": bool(state.stale),
            "readings_processed": twin.processed,
        }

    def _ingest(items: list[dict[str, Any]]) -> IngestResponse:
        if len(items) > twin.settings.max_batch_items:
            raise HTTPException(
                413,
                f"batch of {len(items)} items; the limit is {twin.settings.max_batch_items}",
            )
        result = twin.ingest(items)
        return IngestResponse(
            accepted=result.accepted,
            inserted=result.inserted,
            already_stored=result.already_stored,
            rejected=[
                RejectedItem(index=r.index, point=r.point, reason=r.reason) for r in result.rejected
            ],
        )

    @app.post(f"{API}/measurements", response_model=IngestResponse)
    def post_measurements(batch: MeasurementBatch, _: Ingest) -> IngestResponse:
        """Ingest a JSON batch; rejected items come back with reasons."""
        return _ingest([item.model_dump() for item in batch.items])

    @app.post(
        f"{API}/measurements/csv",
        response_model=IngestResponse,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "text/csv": {
                        "schema": {
                            "type": "string",
                            "pattern": r"^time,point,value(,unit)?\r?\n",
                            "description": "CSV with a header row time,point,value[,unit]",
                        }
                    }
                },
            }
        },
    )
    async def post_measurements_csv(request: Request, _: Ingest) -> IngestResponse:
        """Ingest CSV text (``text/csv`` body) with a header ``time,point,value[,unit]``."""
        body = await request.body()
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise HTTPException(400, "CSV body is not UTF-8") from exc
        reader = csv.DictReader(io.StringIO(text, newline=""))
        try:
            missing = {"time", "point", "value"} - set(reader.fieldnames or [])
            if missing:
                columns = ", ".join(sorted(missing))
                raise HTTPException(400, f"CSV header lacks column(s): {columns}")
            rows = [dict(row) for row in reader]
        except csv.Error as exc:
            raise HTTPException(400, f"CSV line {reader.line_num}: {exc}") from exc
        return _ingest(rows)

    @app.get(f"{API}/measurements", responses=_errors(404))
    def get_measurements(
        _: Read,
        point: Annotated[str, Query(description="Point id")],
        start: Annotated[str, Query(description="ISO 8601 start (inclusive), with timezone")],
        end: Annotated[str, Query(description="ISO 8601 end (exclusive), with timezone")],
        bucket_s: Annotated[
            float | None, Query(ge=1, le=86400 * 31, description="Downsampling bucket [s]")
        ] = None,
    ) -> dict[str, Any]:
        """Stored readings of one point (canonical unit), optionally averaged per bucket."""
        try:
            t0, t1 = parse_time(start), parse_time(end)
        except ValueError as exc:
            raise _invalid(("query", "start/end"), str(exc)) from exc
        if t1 <= t0:
            raise _invalid(("query", "end"), "end must be after start")
        if not bucket_s and t1 - t0 > MAX_RAW_SPAN:
            raise _invalid(
                ("query", "end"),
                f"raw readings span at most {MAX_RAW_SPAN.days} days; give bucket_s",
            )
        if point not in twin.catalogue:
            raise HTTPException(404, f"unknown point {point!r}")
        unit = twin.catalogue.kind(point).unit
        if bucket_s:
            times, values = twin.store.downsample(point, t0, t1, timedelta(seconds=bucket_s))
            return {
                "point": point,
                "unit": unit,
                "time": [t.isoformat() for t in times],
                "value": values,
            }
        rows = twin.store.query([point], t0, t1)
        return {
            "point": point,
            "unit": unit,
            "time": [r.time.isoformat() for r in rows],
            "value": [r.value for r in rows],
        }

    @app.get(f"{API}/points")
    def get_points(_: Read) -> list[dict[str, Any]]:
        """Every point of the facility with its canonical unit and physical range."""
        out = []
        for point in twin.catalogue.ids:
            kind = twin.catalogue.kind(point)
            out.append({"point": point, "unit": kind.unit, "low": kind.low, "high": kind.high})
        return out

    @app.get(f"{API}/state")
    def get_state(_: Read) -> dict[str, Any]:
        """Current estimated state: per-rack inlet (°C, std K, measured or virtual, margin K),
        battery SOC (-), job energy (kWh), power chain, KPIs (kW, USD/MWh, g/kWh)."""
        return twin.state()

    @app.get(f"{API}/state/racks/{{rack}}", responses=_errors(404))
    def get_rack(rack: str, _: Read) -> dict[str, Any]:
        """One rack's estimated state."""
        try:
            return twin.estimator.state(twin.clock()).rack(rack)
        except KeyError as exc:
            raise HTTPException(404, f"unknown rack {rack!r}") from exc

    @app.get(f"{API}/plans")
    def list_plans(
        _: Read,
        limit: Annotated[int, Query(ge=1, le=500)] = 20,
        plan_status: Annotated[PlanStatus | None, Query(alias="status")] = None,
    ) -> list[dict[str, Any]]:
        """Plans, newest first (without their schedules)."""
        plans = twin.store.list_plans(limit=limit, status=plan_status)
        return [{k: v for k, v in p.items() if k != "payload"} for p in plans]

    @app.get(f"{API}/plans/{{plan_id}}", responses=_errors(404))
    def get_plan(plan_id: str, _: Read) -> PlanOut:
        """One plan with its verified figures and schedule."""
        record = twin.store.get_plan(plan_id)
        if record is None:
            raise HTTPException(404, f"unknown plan {plan_id!r}")
        return PlanOut(**record)

    @app.post(f"{API}/plans")
    def propose_plan(who: Approve, body: Reason | None = None) -> PlanOut:
        """Re-plan now from the estimated state (the result is proposed, not applied)."""
        reason = body.reason if body and body.reason else "requested"
        return PlanOut(**twin.replan(actor=who, reason=reason))

    def _decide(plan_id: str, who: str, body: Reason | None, approve: bool) -> PlanOut:
        reason = body.reason if body else ""
        try:
            if approve:
                return PlanOut(**twin.approve(plan_id, actor=who, reason=reason))
            return PlanOut(**twin.reject(plan_id, actor=who, reason=reason))
        except KeyError as exc:
            raise HTTPException(404, f"unknown plan {plan_id!r}") from exc
        except ValueError as exc:  # not proposed any more
            raise HTTPException(409, str(exc)) from exc

    @app.post(f"{API}/plans/{{plan_id}}/approve", responses=_errors(404, 409))
    def approve_plan(plan_id: str, who: Approve, body: Reason | None = None) -> PlanOut:
        """Approve and apply a proposed plan (audited)."""
        return _decide(plan_id, who, body, True)

    @app.post(f"{API}/plans/{{plan_id}}/reject", responses=_errors(404, 409))
    def reject_plan(plan_id: str, who: Approve, body: Reason | None = None) -> PlanOut:
        """Reject a proposed plan (audited)."""
        return _decide(plan_id, who, body, False)

    @app.post(f"{API}/whatif")
    def whatif(body: WhatIf, _: Read) -> dict[str, Any]:
        """Plan a modified scenario and compare it with the current one (both verified)."""
        data = merge_patch(twin.base_data, body.changes)
        try:
            return compare(twin, data, horizon_hours=body.horizon_hours)
        except ScenarioError as exc:
            raise _scenario_invalid(exc) from exc

    @app.get(f"{API}/scenario")
    def get_scenario(_: Read) -> dict[str, Any]:
        """The scenario in force (as written, before re-anchoring on today)."""
        return twin.base_data

    @app.put(f"{API}/scenario")
    def put_scenario(body: ScenarioBody, who: Admin) -> dict[str, Any]:
        """Replace the scenario after validation (422 with one line per problem)."""
        try:
            twin.replace_scenario(body.scenario, actor=who)
        except ScenarioError as exc:
            raise _scenario_invalid(exc) from exc
        return {"status": "replaced", "facility": twin.facility.name}

    @app.get(f"{API}/calibration")
    def calibration(_: Read) -> dict[str, Any]:
        """Calibrated parameters with uncertainty and their history."""
        return {
            "status": twin.calibrator.status(),
            "history": [dict(v) for v in twin.store.parameter_history(limit=500)],
        }

    @app.get(f"{API}/alarms")
    def alarms(_: Read, active: bool = True) -> list[AlarmOut]:
        """Alarms (sensor faults, stale telemetry), newest first."""
        return [AlarmOut(**a) for a in twin.store.alarms(active_only=active, limit=1000)]

    @app.get(f"{API}/audit")
    def audit(_: Read, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[AuditOut]:
        """The audit log: who approved, rejected or applied what, when and why."""
        return [AuditOut(**e) for e in twin.store.audit_log(limit=limit)]

    return app
