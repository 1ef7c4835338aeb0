"""Schemathesis over the served OpenAPI schema: no server errors, no answer that breaks the schema.

Every operation in /schema/openapi.json is exercised (ingest, OTLP, the read API's query parameters,
webhooks, and whatever else is served) with schema-valid and schema-invalid input, a bounded number of
examples each, against the real service on a real PostgreSQL: authenticated as the schema says (the ingest
key for ingest and OTLP, a tenant read token for the read API, the admin key for corrections and conflicts),
which negative examples then break.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import TEST_ADMIN_KEY, TEST_INGEST_KEY
from tests.support.events import event
from tests.support.read import token_for
from tests.support.server import RunningLedger

EXAMPLES = 60
TENANT = "t_fuzz"
READ_PATHS = {"/api/billing/usage/summary", "/api/billing/usage/events", "/api/billing/usage/events.csv"}
# Operations whose handlers document every answer they give (see ledger_service/api/openapi.py).
ADMIN_PATHS = {"/api/usage/corrections", "/api/admin/conflicts"}
FULLY_DOCUMENTED = {"/api/usage/events", "/v1/traces", "/healthz", "/readyz", *READ_PATHS, *ADMIN_PATHS}


def seed(ledger: RunningLedger) -> None:
    """A few rows for the read endpoints to return."""
    headers = {"Authorization": f"Bearer {TEST_INGEST_KEY}"}
    body = {"events": [event(tenantId=TENANT, units=n) for n in range(5)]}
    assert httpx.post(f"{ledger.url}/api/usage/events", json=body, headers=headers).status_code == 200


def auth_for(operation: APIOperation[Any, Any, Any, Any], ledger: RunningLedger) -> dict[str, str]:
    """The credential the operation's security scheme names (none for the probes and webhooks)."""
    schemes = {name for requirement in operation.definition.raw.get("security", []) for name in requirement}
    if schemes == {"readToken"}:
        return {"Authorization": f"Bearer {token_for(ledger.settings, TENANT)}"}
    if schemes == {"ingestKey"}:
        return {"Authorization": f"Bearer {TEST_INGEST_KEY}"}
    if schemes == {"adminKey"}:
        return {"Authorization": f"Bearer {TEST_ADMIN_KEY}"}
    assert not schemes, (operation.path, schemes)
    return {}


def fuzz(operation: APIOperation[Any, Any, Any, Any], mode: GenerationMode, ledger: RunningLedger) -> Counter[int]:
    """Run the examples; return how many answers of each status they got."""
    checks = [not_a_server_error, response_schema_conformance]
    if operation.path in FULLY_DOCUMENTED:
        checks += [status_code_conformance, content_type_conformance]
    headers = auth_for(operation, ledger)
    statuses: Counter[int] = Counter()

    @given(operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case: Case[Any]) -> None:
        response = case.call_and_validate(base_url=ledger.url, headers=headers, checks=checks, timeout=30)
        statuses[response.status_code] += 1

    run()
    return statuses


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_every_served_operation_answers_within_its_schema(ledger: RunningLedger, mode: GenerationMode) -> None:
    seed(ledger)
    schema = schemathesis.openapi.from_url(f"{ledger.url}/schema/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    paths = {op.path for op in operations}
    assert {"/api/usage/events", "/v1/traces", "/api/billing/usage/summary"} <= paths, paths
    failures: dict[str, str] = {}
    answers: dict[str, Counter[int]] = {}
    for operation in operations:
        try:
            answers[operation.path] = fuzz(operation, mode, ledger)
        except Unsatisfiable:
            # Negative mode on an operation with nothing to get wrong (no parameters or body): nothing to send.
            assert mode is GenerationMode.NEGATIVE, operation.path
        except Exception as exc:  # collect every operation's failure, not only the first
            failures[f"{operation.method.upper()} {operation.path}"] = f"{type(exc).__name__}: {exc}"[:3000]
    print(mode.value, {path: dict(statuses) for path, statuses in answers.items()})
    # The schema gave the generator real work: many distinct ingest bodies reached the service, and the read
    # parameters were varied both ways: answered (the read token works) and refused with a 400.
    assert sum(answers["/api/usage/events"].values()) >= EXAMPLES // 2, answers
    for path in READ_PATHS:
        assert answers[path][200] and answers[path][400], (path, answers[path])
    for path in ADMIN_PATHS:  # the admin key works, and bad input is a 400
        assert answers[path][200] or answers[path][400], (path, answers[path])
    assert not failures, "\n\n".join(f"{name}:\n{text}" for name, text in failures.items())
