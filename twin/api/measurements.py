"""Measurements in (JSON or CSV batches) and out (raw or downsampled), and the point list."""

from __future__ import annotations

import csv
import email.message
import io
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from twin.api.deps import API, CurrentTwin, Ingest, Read, error_responses, invalid
from twin.live.ingest import BatchInvalid, batch_items, check_batch_size, parse_time
from twin.live.live_twin import IngestResult, LiveTwin

MAX_RAW_SPAN = timedelta(days=7)
"""Longest time range of raw (not downsampled) readings one query returns."""

router = APIRouter(prefix=API)
"""The measurement and point routes."""


class MeasurementItem(BaseModel):
    """One measurement as sent by a gateway (the shape an item should have).

    A batch is not refused for a bad item: each item that does not have this shape, or whose
    time, point, value or unit is wrong, is refused on its own with its reason
    (:mod:`twin.live.ingest`), so the batch's schema takes any JSON value per item.
    """

    time: str = Field(
        description="ISO 8601 timestamp with a timezone (Z or ±hh:mm), e.g. 2026-07-06T12:00:00Z"
    )
    point: str = Field(description="Point id, e.g. rack/B07/inlet_temperature")
    value: float | str = Field(description="Value in `unit` (a number; decimal text accepted)")
    unit: str | None = Field(
        default=None,
        description="Unit of `value` (pint syntax; °F, kW/MW, % converted); default: the "
        "point's canonical unit (degC, kW, V, 1)",
    )


class MeasurementBatch(BaseModel):
    """A batch of measurements (at most the service's batch limit, default 10,000 items)."""

    items: list[Any] = Field(
        description="Measurements, each an object {time, point, value, unit?} (see "
        "MeasurementItem). Items are checked one by one: a bad item (not an object, a missing "
        "or unreadable field, an unknown point or unit, a value out of range) is refused with "
        "its reason in `rejected`, and the valid items are stored."
    )


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


def _check_batch_size(twin: LiveTwin, items: int) -> None:
    try:
        check_batch_size(items, twin.settings.max_batch_items)
    except BatchInvalid as exc:
        raise _refused(exc) from None


def _ingest(twin: LiveTwin, items: list[Any]) -> IngestResponse:
    _check_batch_size(twin, len(items))
    return _response(twin.ingest(items))


def _response(result: IngestResult) -> IngestResponse:
    return IngestResponse(
        accepted=result.accepted,
        inserted=result.inserted,
        already_stored=result.already_stored,
        rejected=[
            RejectedItem(index=r.index, point=r.point, reason=r.reason) for r in result.rejected
        ],
    )


_VALIDATION_ERROR = {
    "description": "Validation Error",
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
    },
}


def _json_content(content_type: str | None) -> bool:
    """``application/json`` or ``application/*+json`` (what FastAPI reads a JSON body from)."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def _refused(exc: BatchInvalid) -> Exception:
    """The API's answer to a batch refused whole."""
    if exc.status == 422:
        return RequestValidationError(exc.detail)
    return HTTPException(exc.status, exc.detail)


@router.post(
    "/measurements",
    response_model=IngestResponse,
    responses={422: _VALIDATION_ERROR},  # FastAPI adds it only for a body it parses itself
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": MeasurementBatch.model_json_schema()}},
        }
    },
)
async def post_measurements(request: Request, _: Ingest, twin: CurrentTwin) -> IngestResponse:
    """Ingest a JSON batch; rejected items come back with reasons.

    The body is read here and parsed where it is committed (the ingest child, with
    ``--ingest-process``), with FastAPI's own checks and errors for a body model
    (:func:`twin.live.ingest.parse_batch`).
    """
    body = await request.body()
    if not body:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    try:
        if not _json_content(request.headers.get("content-type")):  # FastAPI: bytes, a 422
            batch_items(body, twin.settings.max_batch_items)
        result = await run_in_threadpool(twin.ingest_body, body)
    except BatchInvalid as exc:
        raise _refused(exc) from None
    return _response(result)


@router.post(
    "/measurements/csv",
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
async def post_measurements_csv(request: Request, _: Ingest, twin: CurrentTwin) -> IngestResponse:
    """Ingest CSV text (``text/csv`` body) with a header ``time,point,value[,unit]``."""
    body = await request.body()
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HTTPException(400, "CSV body is not UTF-8") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = reader.fieldnames or []
        doubled = sorted({name for name in header if header.count(name) > 1})
        if doubled:
            raise HTTPException(400, f"CSV header repeats column(s): {', '.join(doubled)}")
        missing = {"time", "point", "value"} - set(header)
        if missing:
            columns = ", ".join(sorted(missing))
            raise HTTPException(400, f"CSV header lacks column(s): {columns}")
        rows, lines = [], []
        for row in reader:
            rows.append(dict(row))
            lines.append(reader.line_num)
    except csv.Error as exc:
        # the underlying reader's count: the physical line that failed, header = line 1
        # (DictReader.line_num still holds the last row read whole)
        raise HTTPException(400, f"CSV line {reader.reader.line_num}: {exc}") from exc
    _check_batch_size(twin, len(rows))
    # a row with more fields than the header (DictReader keeps them under None) is refused on
    # its own: which field is the value is not known
    whole = [i for i, row in enumerate(rows) if None not in row]
    response = _ingest(twin, [rows[i] for i in whole])
    refused = [r.model_copy(update={"index": whole[r.index]}) for r in response.rejected]
    refused += [
        RejectedItem(
            index=i,
            point=row.get("point") if isinstance(row.get("point"), str) else None,
            reason=f"CSV line {lines[i]}: {len(row[None])} more field(s) than the header",
        )
        for i, row in enumerate(rows)
        if None in row
    ]
    return response.model_copy(update={"rejected": sorted(refused, key=lambda r: r.index)})


@router.get("/measurements", responses=error_responses(404))
def get_measurements(
    _: Read,
    point: Annotated[str, Query(min_length=1, max_length=200, description="Point id")],
    start: Annotated[
        str,
        Query(
            min_length=1,
            max_length=64,
            json_schema_extra={"format": "date-time"},
            description="ISO 8601 start (inclusive), with timezone",
        ),
    ],
    end: Annotated[
        str,
        Query(
            min_length=1,
            max_length=64,
            json_schema_extra={"format": "date-time"},
            description="ISO 8601 end (exclusive), with timezone",
        ),
    ],
    twin: CurrentTwin,
    bucket_s: Annotated[
        float | None, Query(ge=1, le=86400 * 31, description="Downsampling bucket [s]")
    ] = None,
) -> dict[str, Any]:
    """Stored readings of one point (canonical unit), optionally averaged per bucket."""
    try:
        t0, t1 = parse_time(start), parse_time(end)
    except ValueError as exc:
        raise invalid(("query", "start/end"), str(exc)) from exc
    if t1 <= t0:
        raise invalid(("query", "end"), "end must be after start")
    if not bucket_s and t1 - t0 > MAX_RAW_SPAN:
        raise invalid(
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


@router.get("/points")
def get_points(_: Read, twin: CurrentTwin) -> list[dict[str, Any]]:
    """Every point of the facility with its canonical unit and physical range."""
    out = []
    for point in twin.catalogue.ids:
        kind = twin.catalogue.kind(point)
        out.append({"point": point, "unit": kind.unit, "low": kind.low, "high": kind.high})
    return out
