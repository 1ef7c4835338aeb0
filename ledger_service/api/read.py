"""GET /api/billing/usage/*: a tenant's usage summary, events and CSV export.

Every handler's tenant comes from the `Authorization: Bearer <read token>` header, verified here; there
is no parameter that names a tenant.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Request, Router, get
from litestar.di import NamedDependency, Provide
from litestar.response import Stream

from ledger_service.api.auth import bearer_token
from ledger_service.errors import UnauthorizedError
from ledger_service.read.model import EventsPage, UsageSummary
from ledger_service.read.service import ReadService
from ledger_service.settings import Settings
from ledger_service.tokens import verify_read_token


def tenant_from_token(request: Request[Any, Any, Any], settings: NamedDependency[Settings]) -> str:
    token = bearer_token(request)
    if token is None:
        raise UnauthorizedError("missing read token: send 'Authorization: Bearer <token>'")
    return verify_read_token(settings.secret_key.get_secret_value(), token).tenant_id


def _params(request: Request[Any, Any, Any]) -> dict[str, str]:
    return dict(request.query_params.items())


@get("/summary", summary="Daily usage per (source, eventType, unit) in a time zone, zero-filled, with totals")
async def summary(
    request: Request[Any, Any, Any], tenant: NamedDependency[str], read: NamedDependency[ReadService]
) -> UsageSummary:
    return await read.summary(tenant, _params(request))


@get("/events", summary="The tenant's ledger rows, newest first, one keyset page at a time")
async def events(
    request: Request[Any, Any, Any], tenant: NamedDependency[str], read: NamedDependency[ReadService]
) -> EventsPage:
    return await read.events(tenant, _params(request))


@get("/events.csv", summary="Every ledger row matching the filters as CSV (streamed)")
async def events_csv(
    request: Request[Any, Any, Any], tenant: NamedDependency[str], read: NamedDependency[ReadService]
) -> Stream:
    rows: AsyncIterator[bytes] = read.events_csv(tenant, _params(request))
    return Stream(
        rows,
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="usage-events.csv"'},
    )


read_router = Router(
    path="/api/billing/usage",
    route_handlers=[summary, events, events_csv],
    dependencies={"tenant": Provide(tenant_from_token, sync_to_thread=False)},
    tags=["read"],
)
