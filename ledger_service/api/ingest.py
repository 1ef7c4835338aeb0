"""POST /api/usage/events: a batch of usage events in, a per-event report out."""

from __future__ import annotations

import functools
from typing import Any

from litestar import Request, post
from litestar.di import NamedDependency
from litestar.params import RawBody

from ledger_service.api.auth import require_ingest_key
from ledger_service.api.media import require_json
from ledger_service.api.openapi import IngestOperation
from ledger_service.ingest.json_batch import decode_events, report
from ledger_service.ingest.service import IngestService
from ledger_service.offload import sized
from usage_ledger_contract.wire import IngestReport


@post(
    "/api/usage/events",
    guards=[require_ingest_key],
    status_code=200,
    tags=["ingest"],
    operation_class=IngestOperation,
    summary="Record a batch of usage events (exactly once per tenant and idempotency key)",
)
async def ingest_events(
    request: Request[Any, Any, Any], body: RawBody, ingest: NamedDependency[IngestService]
) -> IngestReport:
    # The body is read here (within the app's LEDGER_MAX_BODY_BYTES) and decoded event by event, so one bad
    # event rejects only itself; hence `body`, not a typed `data`, and an OpenAPI description of our own.
    require_json(request.headers)
    events = await sized(functools.partial(decode_events, body), len(body))  # a large body decodes off the loop
    return report(await ingest.ingest(events))
