"""The tenant-id rule is one rule: the client, ingest and read-token minting accept and refuse the same ids."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from ledger_service.tokens import mint_read_token
from tests.support.events import event
from usage_ledger_client import UsageValidationError, record_usage_event
from usage_ledger_contract.limits import MAX_TENANT_ID_LENGTH

REFUSED = ["", "t\u00a0acme", "t_acme\n", "a\u0000b", "t\u2028x", "\ud800", "t" * (MAX_TENANT_ID_LENGTH + 1)]
ACCEPTED = ["t_acme", "Tenant 42", "t-é-ü", "t" * MAX_TENANT_ID_LENGTH]


@pytest.mark.parametrize("tenant", REFUSED, ids=repr)
def test_an_id_refused_anywhere_is_refused_everywhere(tenant: str, client: httpx.Client) -> None:
    with pytest.raises(UsageValidationError, match=r"^tenant_id: "):
        record_usage_event(tenant, "twilio", "sms_outbound", 1)
    with pytest.raises(ValueError, match="tenant id"):
        mint_read_token("s" * 32, tenant, timedelta(minutes=1))
    if "\ud800" not in tenant:  # not encodable as UTF-8 JSON at all: the lone surrogate has tests of its own
        report = client.post("/api/usage/events", json={"events": [event(tenantId=tenant)]}).json()
        assert [e["field"] for e in report["errors"]] == ["tenantId"], report


@pytest.mark.parametrize("tenant", ACCEPTED, ids=repr)
def test_an_id_accepted_anywhere_is_accepted_everywhere(tenant: str, client: httpx.Client) -> None:
    assert record_usage_event(tenant, "twilio", "sms_outbound", 1)
    assert mint_read_token("s" * 32, tenant, timedelta(minutes=1))
    report = client.post("/api/usage/events", json={"events": [event(tenantId=tenant)]}).json()
    assert report["accepted"] == 1, report
