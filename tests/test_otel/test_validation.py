"""Bad calls raise at the call site, naming the field, and record nothing; good calls mint a UUID key."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

import usage_ledger_client
from usage_ledger_client import UsageValidationError, _runtime, record_usage_event, usage_tenant

GOOD: dict[str, Any] = {"tenant_id": "t_1", "source": "twilio", "event_type": "sms_outbound", "units": 1}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"source": "twillio"}, "source"),
        ({"event_type": "fax"}, "event_type"),
        ({"units": -1}, "units"),
        ({"units": 1.5}, "units"),
        ({"units": True}, "units"),
        ({"units": "3"}, "units"),
        ({"units": 2**63}, "units"),
        ({"tenant_id": ""}, "tenant_id"),
        ({"tenant_id": 42}, "tenant_id"),
        ({"tenant_id": "t" * 129}, "tenant_id"),
        ({"tenant_id": "t\n1"}, "tenant_id"),
        ({"metadata": ["not", "an", "object"]}, "metadata"),
        ({"metadata": {"when": object()}}, "metadata"),
        ({"metadata": {"big": "x" * 9000}}, "metadata"),
        ({"metadata": {"nul": "a\x00b"}}, "metadata"),
        ({"occurred_at": datetime(2025, 1, 1)}, "occurred_at"),
        ({"occurred_at": "2025-01-01T00:00:00Z"}, "occurred_at"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"idempotency_key": "k" * 257}, "idempotency_key"),
    ],
)
def test_bad_call_raises_a_value_error_naming_the_field(changes: dict[str, Any], field: str) -> None:
    before = usage_ledger_client.metrics().recorded
    with pytest.raises(ValueError, match=rf"^{field}: "):
        record_usage_event(**{**GOOD, **changes})
    assert usage_ledger_client.metrics().recorded == before


def test_usage_tenant_refuses_a_bad_tenant() -> None:
    with pytest.raises(UsageValidationError, match=r"^tenant_id: ") as raised, usage_tenant(""):
        pass
    assert raised.value.field == "tenant_id"


def test_good_call_returns_a_fresh_uuid4_key_or_the_given_one() -> None:
    first = record_usage_event(**GOOD, metadata={"status": "queued"}, occurred_at=datetime.now(UTC))
    second = record_usage_event(**GOOD)
    assert uuid.UUID(first).version == 4 and str(uuid.UUID(first)) == first
    assert first != second
    assert record_usage_event(**GOOD, idempotency_key="SM123:sms_outbound") == "SM123:sms_outbound"
    assert usage_ledger_client.metrics().queued == 3  # not configured yet: held in memory until configure()


def test_configure_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("USAGE_LEDGER_URL", raising=False)
    with pytest.raises(ValueError, match=r"^ledger_url: .*USAGE_LEDGER_URL"):
        usage_ledger_client.configure(ingest_key="k")
    monkeypatch.delenv("USAGE_LEDGER_INGEST_KEY", raising=False)
    with pytest.raises(ValueError, match=r"^ingest_key: .*USAGE_LEDGER_INGEST_KEY"):
        usage_ledger_client.configure("http://127.0.0.1:1")


def test_before_configure_the_buffer_is_bounded_and_refusals_are_counted_and_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(_runtime.pending, "limit", 3)
    monkeypatch.setattr(_runtime.pending, "_last_warning", -1e9)  # a fresh interval, whatever earlier tests did
    before = usage_ledger_client.metrics()
    with caplog.at_level(logging.ERROR, logger="usage_ledger_client"):
        keys = [record_usage_event(**GOOD) for _ in range(5)]
    after = usage_ledger_client.metrics()
    assert len(set(keys)) == 5  # the call still succeeds: it never raises after validation
    assert (after.queued, after.dropped - before.dropped) == (3, 2)
    (error,) = [r for r in caplog.records if r.levelno == logging.ERROR]  # loud, but once per interval
    assert "configure() has not been called" in error.getMessage() and "USAGE_LEDGER_MAX_PENDING" in error.getMessage()
