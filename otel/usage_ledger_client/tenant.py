"""Tenant context: `with usage_tenant("t_123"):` attributes every usage event recorded inside it.

The tenant lives in a contextvar (so asyncio tasks and threads started with a copied context inherit it)
and in OTel baggage under `tenant.id` (so it crosses process boundaries with the trace context when the
app propagates baggage). The contextvar wins; baggage is the fallback for a context that came from afar.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from opentelemetry import baggage
from opentelemetry import context as otel_context

from usage_ledger_client.errors import UsageValidationError
from usage_ledger_contract.attributes import BAGGAGE_TENANT
from usage_ledger_contract.rules import tenant_id_problem

_tenant: ContextVar[str | None] = ContextVar("usage_tenant", default=None)


def check_tenant(value: object, field: str = "tenant_id") -> str:
    problem = tenant_id_problem(value)
    if problem is not None:
        raise UsageValidationError(field, problem)
    return str(value)


@contextmanager
def usage_tenant(tenant_id: str) -> Iterator[str]:
    """Attribute usage recorded in this block (sync or async, and tasks/threads copying the context) to tenant_id."""
    check_tenant(tenant_id)
    token = _tenant.set(tenant_id)
    otel_token = otel_context.attach(baggage.set_baggage(BAGGAGE_TENANT, tenant_id))
    try:
        yield tenant_id
    finally:
        otel_context.detach(otel_token)
        _tenant.reset(token)


def current_tenant() -> str | None:
    """The tenant in scope, or None. A malformed baggage value (it may come from another process) counts as none."""
    tenant = _tenant.get()
    if tenant is not None:
        return tenant
    value = baggage.get_baggage(BAGGAGE_TENANT)
    if isinstance(value, str) and tenant_id_problem(value) is None:
        return value
    return None
