"""TwilioUsageInstrumentor through `twilio.rest.Client` against the Twilio stand-in, into the real ledger."""

from __future__ import annotations

import asyncio
import json

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client as TwilioClient

from harness.standins import AsyncStandinHttpClient, TwilioStandin, twilio_error
from harness.standins import twilio as twilio_standin
from tests.support.postgres import SQL
from tests.test_integrations.conftest import usage_rows
from usage_ledger_client import usage_tenant
from usage_ledger_client.instrumentation import usage_metadata

pytestmark = pytest.mark.usefixtures("configured", "instrumented")

LONG_SMS = "Your appointment is confirmed for Tuesday at 10:30. Reply C to cancel or R to reschedule. " * 2


def test_an_sms_is_one_sms_outbound_row_with_the_segments_twilio_reported(
    twilio_client: TwilioClient, sql: SQL
) -> None:
    with usage_tenant("t_acme"):
        message = twilio_client.messages.create(to="+15550100", from_="+15550111", body=LONG_SMS)
    rows = usage_rows(sql)
    assert int(message.num_segments) == 2  # the stand-in counted 180 GSM-7 characters as two segments
    assert [(r["tenant_id"], r["source"], r["event_type"], r["units"]) for r in rows] == [
        ("t_acme", "twilio", "sms_outbound", 2)
    ]
    assert rows[0]["idempotency_key"] == f"{message.sid}:sms_outbound"
    metadata = json.loads(rows[0]["metadata"])
    assert metadata["message_sid"] == message.sid and metadata["num_segments"] == 2
    assert "body" not in metadata and "appointment" not in rows[0]["metadata"]  # content stays out


def test_a_message_with_media_is_one_mms_row(twilio_client: TwilioClient, sql: SQL) -> None:
    with usage_tenant("t_acme"):
        message = twilio_client.messages.create(
            to="+15550100", from_="+15550111", body="photo", media_url=["https://example.com/a.png"]
        )
    rows = usage_rows(sql)
    assert [(r["event_type"], r["units"], r["idempotency_key"]) for r in rows] == [("mms", 1, f"{message.sid}:mms")]


def test_creating_a_call_is_one_call_out_row(twilio_client: TwilioClient, sql: SQL) -> None:
    with usage_tenant("t_acme"), usage_metadata(placed_by="ai_agent"):
        call = twilio_client.calls.create(to="+15550100", from_="+15550111", url="https://example.com/twiml")
    rows = usage_rows(sql)
    assert [(r["tenant_id"], r["event_type"], r["units"]) for r in rows] == [("t_acme", "call_out", 1)]
    assert rows[0]["idempotency_key"] == f"{call.sid}:call_out"
    assert json.loads(rows[0]["metadata"])["placed_by"] == "ai_agent"


def test_create_with_http_info_is_recorded_too(twilio_client: TwilioClient, sql: SQL) -> None:
    with usage_tenant("t_acme"):
        response = twilio_client.messages.create_with_http_info(to="+15550100", from_="+15550111", body="hi")
    assert [r["idempotency_key"] for r in usage_rows(sql)] == [f"{response.data.sid}:sms_outbound"]


# Twilio's aiohttp client still uses aiohttp's deprecated BasicAuth; not ours to change.
@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated", "ignore:The 'auth' parameter is deprecated")
async def test_create_async_is_recorded(twilio_api: TwilioStandin, sql: SQL) -> None:
    client = TwilioClient(
        twilio_standin.ACCOUNT_SID, twilio_standin.AUTH_TOKEN, http_client=AsyncStandinHttpClient(twilio_api.url)
    )
    with usage_tenant("t_async"):
        message = await client.messages.create_async(to="+15550100", from_="+15550111", body="hello")
    rows = await asyncio.to_thread(usage_rows, sql)  # the SQL helper runs its own event loop
    assert [(r["tenant_id"], r["event_type"], r["idempotency_key"]) for r in rows] == [
        ("t_async", "sms_outbound", f"{message.sid}:sms_outbound")
    ]


def test_a_provider_error_records_nothing_and_the_app_sees_twilios_exception(
    twilio_client: TwilioClient, twilio_api: TwilioStandin, sql: SQL, spans: InMemorySpanExporter
) -> None:
    twilio_api.respond_next(twilio_error(21211))
    with usage_tenant("t_acme"), pytest.raises(TwilioRestException) as raised:
        twilio_client.messages.create(to="+1555", from_="+15550111", body="hi")
    assert (raised.value.status, raised.value.code) == (400, 21211)
    assert usage_rows(sql) == []
    (span,) = [s for s in spans.get_finished_spans() if s.name == "twilio Messages.create"]
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]


def test_the_usage_event_rides_on_a_client_span_whose_ids_the_row_keeps(
    twilio_client: TwilioClient, sql: SQL, spans: InMemorySpanExporter
) -> None:
    with usage_tenant("t_acme"):
        message = twilio_client.messages.create(to="+15550100", from_="+15550111", body="hi")
    (row,) = usage_rows(sql)
    (span,) = [s for s in spans.get_finished_spans() if s.name == "twilio Messages.create"]
    assert span.kind is SpanKind.CLIENT
    assert span.attributes is not None and span.attributes["twilio.sid"] == message.sid
    (event,) = [e for e in span.events if e.name == "usage"]
    assert event.attributes is not None and event.attributes["usage.event_type"] == "sms_outbound"
    assert (row["trace_id"], row["span_id"]) == (f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}")


def test_unicode_text_is_billed_by_ucs2_segments(twilio_client: TwilioClient, sql: SQL) -> None:
    with usage_tenant("t_acme"):
        twilio_client.messages.create(to="+15550100", from_="+15550111", body="Grüße 👋 " * 10)
    assert [r["units"] for r in usage_rows(sql)] == [2]  # 90 UTF-16 units > 70, so 67 per segment
