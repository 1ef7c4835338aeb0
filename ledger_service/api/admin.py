"""The admin API: corrections (POST /api/usage/corrections) and kept conflicts (GET /api/admin/conflicts).

Both take an admin key (LEDGER_ADMIN_KEYS), never an ingest key or a tenant read token (require_admin_key,
before the body is read). The body and the answers are typed, so /schema/openapi.json documents them.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.params import JSONBody, QueryParameter

from ledger_service.api.auth import admin_key, require_admin_key
from ledger_service.api.openapi import ADMIN_SECURITY, ErrorBody, ErrorDetail, admin_errors
from ledger_service.errors import BadRequestError
from ledger_service.ingest.conflicts import ConflictList, ConflictService
from ledger_service.ingest.corrections import CorrectionService, admin_identity
from usage_ledger_contract.rules import tenant_id_problem
from usage_ledger_contract.wire import CorrectionBatch, CorrectionReport


def bad_body(_: Request[Any, Any, Any], exc: ValidationException) -> Response[ErrorBody]:
    """Litestar's refusal of a typed body or parameter, with msgspec's words for what is wrong and where."""
    problems = exc.extra if isinstance(exc.extra, list) else []
    said = [str(p.get("message")) for p in problems if isinstance(p, dict) and p.get("message")]
    keys = [str(p.get("key")) for p in problems if isinstance(p, dict) and p.get("key")]
    where = keys[0] if keys else "body"  # the parameter or body field, as Litestar names it
    message = f"{where}: {said[0] if said else exc.detail}"
    return Response(ErrorBody(ErrorDetail(BadRequestError.code, message)), status_code=400)


@post(
    "/api/usage/corrections",
    guards=[require_admin_key],
    status_code=200,
    tags=["admin"],
    security=ADMIN_SECURITY,
    responses=admin_errors(),
    exception_handlers={ValidationException: bad_body},
    summary="Void or amend stored events (new ledger rows; exactly once per correctionKey)",
)
async def correct_events(
    request: Request[Any, Any, Any],
    data: JSONBody[CorrectionBatch],
    correction_service: NamedDependency[CorrectionService],
) -> CorrectionReport:
    return await correction_service.correct(data.corrections, admin_identity(admin_key(request)))


class ConflictsPage(msgspec.Struct, frozen=True, rename="camel"):
    conflicts: list[ConflictList]
    next_cursor: int | None  # pass back as `cursor`; null on the last page


@get(
    "/api/admin/conflicts",
    guards=[require_admin_key],
    tags=["admin"],
    security=ADMIN_SECURITY,
    responses=admin_errors(),
    exception_handlers={ValidationException: bad_body},
    summary="Events sent with a stored key and other content, newest first (they changed nothing)",
)
async def list_conflicts(
    conflict_service: NamedDependency[ConflictService],
    tenant_id: Annotated[
        str | None, QueryParameter(name="tenantId", min_length=1, max_length=128, description="Only this tenant's")
    ] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=500, description="Conflicts per page")] = 50,
    cursor: Annotated[
        int | None, QueryParameter(ge=1, le=2**63 - 1, description="The previous page's nextCursor")
    ] = None,
) -> ConflictsPage:
    problem = tenant_id_problem(tenant_id) if tenant_id is not None else None
    if problem:
        raise BadRequestError(f"tenantId: {problem}")
    found = await conflict_service.page(tenant_id, limit + 1, cursor)
    more = len(found) > limit
    return ConflictsPage(found[:limit], found[limit - 1].id if more else None)
