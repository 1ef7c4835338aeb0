"""The read API's query parameters as Litestar declares them, and what happens when one is wrong.

Each parameter carries its type, its bounds (from the settings), its allowed values (from the catalog), a
description and an example, so Litestar converts it and /schema/openapi.json documents it. The `grant`
dependency runs before the values are converted: first the read token (the tenant comes only from it; 401),
then the parameter names (one a handler does not declare is a 400, so no parameter can ever select another
tenant's data). A value Litestar refuses gets the message every other 400 of the API gives: the
parameter's name first, then what is wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from weakref import WeakKeyDictionary

from litestar import Request, Response
from litestar.di import NamedDependency
from litestar.enums import ParamType
from litestar.exceptions import ValidationException
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.spec import Example
from litestar.params import ParameterKwarg, QueryParameter
from litestar.typing import FieldDefinition

from ledger_service.api.auth import bearer_token
from ledger_service.api.openapi import ErrorBody, ErrorDetail
from ledger_service.errors import BadRequestError, UnauthorizedError
from ledger_service.read.params import DEFAULT_DAYS, DEFAULT_PAGE, check_known, invalid_value
from ledger_service.settings import Settings
from ledger_service.tokens import ReadGrant, verify_read_token
from usage_ledger_contract.catalog import SOURCE_NAMES

# Each handler's query parameter names, worked out from its signature on its first request.
_DECLARED: WeakKeyDictionary[BaseRouteHandler, frozenset[str]] = WeakKeyDictionary()
_INSTANT = "RFC 3339 instant with its UTC offset (e.g. 2026-11-01T00:00:00Z or +05:30), {}"


@dataclass(frozen=True, slots=True)
class ReadParameters:
    """Every read parameter's declaration, for the handlers' annotations: `days: Annotated[int | None, p.days]`."""

    days: QueryParameter
    first_day: QueryParameter
    last_day: QueryParameter
    tz: QueryParameter
    limit: QueryParameter
    default_limit: int
    cursor: QueryParameter
    start: QueryParameter
    end: QueryParameter
    source: QueryParameter
    event_type: QueryParameter


def read_parameters(settings: Settings) -> ReadParameters:
    types = sorted({t.name for t in settings.catalog})
    page_max = settings.events_page_max
    return ReadParameters(
        days=QueryParameter(
            ge=1,
            le=settings.summary_max_days,
            description=f"The last N local days, today included (default {DEFAULT_DAYS}); not with from/to",
            examples=[Example(value=7)],
        ),
        first_day=QueryParameter(
            name="from",
            description=f"The first local day in tz, inclusive (default: {DEFAULT_DAYS} days up to to)",
            examples=[Example(value="2026-11-01")],
        ),
        last_day=QueryParameter(
            description="The last local day in tz, inclusive (default: today in tz)",
            examples=[Example(value="2026-11-30")],
        ),
        tz=QueryParameter(
            description="The IANA time zone whose calendar days are summed",
            examples=[Example(value="Asia/Kolkata")],
        ),
        limit=QueryParameter(ge=1, le=page_max, description="Rows per page"),
        default_limit=min(DEFAULT_PAGE, page_max),
        cursor=QueryParameter(description="The previous page's nextCursor (opaque, bound to the tenant)"),
        start=QueryParameter(name="from", description=_INSTANT.format("inclusive")),
        end=QueryParameter(description=_INSTANT.format("exclusive")),
        source=QueryParameter(
            description="Only this source",
            schema_extra={"enum": list(SOURCE_NAMES)},
            examples=[Example(value=SOURCE_NAMES[0])],
        ),
        event_type=QueryParameter(
            name="eventType",
            description="Only this event type (with `source`, one of that source's types)",
            schema_extra={"enum": types},
            examples=[Example(value=types[0])],
        ),
    )


def read_grant(request: Request[Any, Any, Any], settings: NamedDependency[Settings]) -> ReadGrant:
    """The caller's verified read token, for a request that uses only the parameters its handler declares.

    A dependency rather than guards: it takes the settings by injection, and Litestar hands each guard a
    copy of the route handler (and runs a plain-function guard in a worker thread), which costs more than
    both checks together.
    """
    token = bearer_token(request)
    if token is None:
        raise UnauthorizedError("missing read token: send 'Authorization: Bearer <token>'")
    grant = verify_read_token(settings.secret_key.get_secret_value(), token)
    check_known(request.query_params.keys(), _declared(request.route_handler))
    return grant


def bad_parameter(request: Request[Any, Any, Any], exc: ValidationException) -> Response[ErrorBody]:
    """Litestar's refusal of a declared parameter, worded as every other 400 of the API."""
    problems = exc.extra if isinstance(exc.extra, list) else []
    keys = {str(p.get("key")) for p in problems if isinstance(p, dict)}
    wrong = [(name, f) for name, f in _query_fields(request.route_handler) if name in keys or f.name in keys]
    message = str(exc.detail)
    if wrong:
        name, field = wrong[0]
        message = invalid_value(name, _kind(field), _given(request, name), *_bounds(field))
    return Response(ErrorBody(ErrorDetail(BadRequestError.code, message)), status_code=400)


def _declared(handler: BaseRouteHandler) -> frozenset[str]:
    names = _DECLARED.get(handler)
    if names is None:
        names = _DECLARED[handler] = frozenset(name for name, _ in _query_fields(handler))
    return names


def _query_fields(handler: BaseRouteHandler) -> Iterator[tuple[str, FieldDefinition]]:
    """(query name, field) of each query parameter the handler declares (with a QueryParameter)."""
    for field_name, field in handler.parsed_fn_signature.parameters.items():
        kwarg = field.kwarg_definition
        if isinstance(kwarg, ParameterKwarg) and kwarg.param_type is ParamType.QUERY:
            yield kwarg.name or field_name, field


def _kind(field: FieldDefinition) -> type:
    kinds = (datetime, date, int)  # datetime first: it is a date too
    return next((t for t in kinds if field.is_subclass_of(t) or field.has_inner_subclass_of(t)), str)


def _bounds(field: FieldDefinition) -> tuple[int | None, int | None]:
    kwarg = field.kwarg_definition
    if not isinstance(kwarg, ParameterKwarg):
        return None, None
    return _int_or_none(kwarg.ge), _int_or_none(kwarg.le)


def _int_or_none(value: float | None) -> int | None:
    return None if value is None else int(value)


def _given(request: Request[Any, Any, Any], name: str) -> str:
    values = request.query_params.getall(name, [])
    return str(values[-1]) if values else ""
