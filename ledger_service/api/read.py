"""GET /api/billing/usage/*: a tenant's usage summary, events and CSV export.

The tenant comes only from the read token (`Authorization: Bearer <read token>`), verified by the `grant`
dependency, which also refuses a parameter the handler does not declare (read_params.py). Handlers
declare their parameters typed, build the read service's typed request from them and return typed models,
so /schema/openapi.json describes every parameter and answer from the code itself.

No `from __future__ import annotations` here: the parameters' declarations are built from the settings and
sit in the handlers' annotations, which must therefore be evaluated where each handler is defined.
"""

from datetime import date, datetime
from typing import Annotated

from litestar import Router, get
from litestar.di import NamedDependency, Provide
from litestar.exceptions import ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.response import Stream

from ledger_service.api.openapi import READ_SECURITY, read_errors
from ledger_service.api.read_params import ReadParameters, bad_parameter, read_grant, read_parameters
from ledger_service.read.model import EventsPage, UsageSummary
from ledger_service.read.params import EventsRequest, SummaryParams, selection, summary_request
from ledger_service.read.service import CSV_COLUMNS, ReadService
from ledger_service.settings import Settings
from ledger_service.tokens import ReadGrant


def _summary(p: ReadParameters) -> HTTPRouteHandler:
    @get(
        "/summary",
        summary="Daily usage per (source, eventType, unit) in a time zone, zero-filled, with totals",
        responses=read_errors(),
    )
    async def summary(
        grant: NamedDependency[ReadGrant],
        read: NamedDependency[ReadService],
        days: Annotated[int | None, p.days] = None,
        from_: Annotated[date | None, p.first_day] = None,
        to: Annotated[date | None, p.last_day] = None,
        tz: Annotated[str, p.tz] = "UTC",
        source: Annotated[str | None, p.source] = None,
        event_type: Annotated[str | None, p.event_type] = None,
    ) -> UsageSummary:
        request = summary_request(SummaryParams(days, from_, to, tz, source, event_type), read.catalog)
        return await read.summary(grant.tenant_id, request)

    return summary


def _events(p: ReadParameters) -> HTTPRouteHandler:
    @get(
        "/events",
        summary="The tenant's ledger rows, newest first, one keyset page at a time",
        responses=read_errors(),
    )
    async def events(
        grant: NamedDependency[ReadGrant],
        read: NamedDependency[ReadService],
        limit: Annotated[int, p.limit] = p.default_limit,
        cursor: Annotated[str | None, p.cursor] = None,
        from_: Annotated[datetime | None, p.start] = None,
        to: Annotated[datetime | None, p.end] = None,
        source: Annotated[str | None, p.source] = None,
        event_type: Annotated[str | None, p.event_type] = None,
    ) -> EventsPage:
        rows = selection(read.catalog, from_, to, source, event_type)
        return await read.events(grant.tenant_id, EventsRequest(rows, limit, cursor or None))

    return events


def _events_csv(p: ReadParameters) -> HTTPRouteHandler:
    csv = ResponseSpec(
        str,
        media_type="text/csv",
        generate_examples=False,
        description=f"A header line ({','.join(CSV_COLUMNS)}), then one line per row, newest first",
    )

    @get(
        "/events.csv",
        summary="Every ledger row matching the filters as CSV (streamed)",
        media_type="text/csv",
        responses={200: csv, **read_errors()},
    )
    async def events_csv(
        grant: NamedDependency[ReadGrant],
        read: NamedDependency[ReadService],
        from_: Annotated[datetime | None, p.start] = None,
        to: Annotated[datetime | None, p.end] = None,
        source: Annotated[str | None, p.source] = None,
        event_type: Annotated[str | None, p.event_type] = None,
    ) -> Stream:
        rows = selection(read.catalog, from_, to, source, event_type)
        return Stream(
            read.events_csv(grant.tenant_id, rows),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="usage-events.csv"'},
        )

    return events_csv


def read_router(settings: Settings) -> Router:
    """The read API, its parameters bounded by `settings` and its filters' values from its catalog."""
    parameters = read_parameters(settings)
    return Router(
        path="/api/billing/usage",
        route_handlers=[_summary(parameters), _events(parameters), _events_csv(parameters)],
        dependencies={"grant": Provide(read_grant, sync_to_thread=False)},
        exception_handlers={ValidationException: bad_parameter},
        security=READ_SECURITY,
        tags=["read"],
    )
