"""POST /api/usage/events: a batch of usage events in, a per-event report out."""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.di import NamedDependency

from ledger_service.api.auth import require_ingest_key
from ledger_service.api.openapi import IngestOperation
from ledger_service.errors import PayloadTooLargeError, UnsupportedMediaTypeError
from ledger_service.ingest.model import IngestResult
from ledger_service.ingest.service import IngestService


async def read_limited_body(request: Request[Any, Any, Any], limit: int) -> bytes:
    """The request body, refusing more than `limit` bytes before reading them all into memory."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"the body is {declared} bytes; the limit is {limit} (LEDGER_MAX_BODY_BYTES)")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"the body exceeds the limit of {limit} bytes (LEDGER_MAX_BODY_BYTES)")
        chunks.append(chunk)
    return b"".join(chunks)


@post(
    "/api/usage/events",
    guards=[require_ingest_key],
    status_code=200,
    request_max_body_size=None,
    tags=["ingest"],
    operation_class=IngestOperation,
    summary="Record a batch of usage events (exactly once per tenant and idempotency key)",
)
async def ingest_events(request: Request[Any, Any, Any], ingest: NamedDependency[IngestService]) -> IngestResult:
    content_type = request.headers.get("content-type", "application/json")
    if not content_type.startswith("application/json"):
        raise UnsupportedMediaTypeError(f"Content-Type must be application/json, not {content_type!r}")
    body = await read_limited_body(request, request.app.state.settings.max_body_bytes)
    return await ingest.ingest_json(body)
