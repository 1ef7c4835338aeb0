"""The instrumentors' contract with the app: undone by uninstrument(), never breaking a call, joining traces."""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

import httpx
import openai
import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sendgrid.base_interface import BaseInterface
from twilio.rest import Client as TwilioClient
from twilio.rest.api.v2010.account.call import CallList
from twilio.rest.api.v2010.account.message import MessageList

import usage_ledger_client
from harness.standins import TwilioStandin
from harness.standins import openai as openai_standin
from harness.standins._http import Reply
from tests.support.postgres import SQL
from tests.test_integrations.conftest import usage_rows
from usage_ledger_client import usage_tenant
from usage_ledger_client.instrumentation import (
    TwilioUsageInstrumentor,
    instrument_all,
    telemetry_errors,
    uninstrument_all,
    usage_metadata,
)
from usage_ledger_client.version import __version__
from usage_ledger_contract import attributes as attr

pytestmark = pytest.mark.usefixtures("configured")


def patched_functions() -> list[object]:
    from openai.resources.chat.completions.completions import AsyncCompletions, Completions
    from openai.resources.responses.responses import AsyncResponses, Responses

    return [
        MessageList.create,
        MessageList.create_async,
        CallList.create,
        BaseInterface.send,
        Completions.create,
        AsyncCompletions.create,
        Responses.create,
        AsyncResponses.parse,
    ]


def test_uninstrument_restores_every_patched_sdk_function(twilio_client: TwilioClient, sql: SQL) -> None:
    originals = patched_functions()
    instrument_all()
    try:
        assert all(hasattr(f, "__wrapped__") for f in patched_functions())
    finally:
        uninstrument_all()
    assert all(now is before for now, before in zip(patched_functions(), originals, strict=True))
    recorded = usage_ledger_client.metrics().recorded
    with usage_tenant("t_acme"):
        twilio_client.messages.create(to="+15550100", from_="+15550111", body="not instrumented any more")
    assert usage_ledger_client.metrics().recorded == recorded
    assert usage_rows(sql) == []


@pytest.mark.usefixtures("instrumented")
def test_a_response_we_cannot_read_still_reaches_the_app(
    twilio_client: TwilioClient, twilio_api: TwilioStandin, sql: SQL
) -> None:
    odd = {"sid": "SM" + "9" * 32, "status": "queued", "num_segments": "several", "num_media": "0"}
    twilio_api.respond_next(Reply.json(201, odd))
    errors = telemetry_errors()
    with usage_tenant("t_acme"):
        message = twilio_client.messages.create(to="+15550100", from_="+15550111", body="hi")
    assert (message.sid, message.num_segments) == (odd["sid"], "several")  # the app got Twilio's answer as is
    assert telemetry_errors() == errors + 1  # our failure was swallowed and counted
    assert usage_rows(sql) == []


@pytest.mark.usefixtures("instrumented")
def test_a_usage_event_the_library_refuses_does_not_break_the_call(twilio_client: TwilioClient, sql: SQL) -> None:
    errors = telemetry_errors()
    # An app-supplied metadata value that is not JSON: record_usage_event raises, the instrumentor swallows it.
    with usage_tenant("t_acme"), usage_metadata(**{"note": object()}):  # type: ignore[arg-type]
        call = twilio_client.calls.create(to="+15550100", from_="+15550111", url="https://example.com/twiml")
    assert call.sid.startswith("CA")
    assert telemetry_errors() == errors + 1
    assert usage_rows(sql) == []


@pytest.mark.usefixtures("instrumented")
def test_calls_made_with_instrumentation_suppressed_are_not_recorded(twilio_client: TwilioClient, sql: SQL) -> None:
    with usage_tenant("t_acme"), suppress_instrumentation():
        twilio_client.messages.create(to="+15550100", from_="+15550111", body="internal")
    assert usage_rows(sql) == []


@pytest.mark.usefixtures("instrumented")
def test_the_http_request_joins_the_usage_span_when_the_app_gives_openai_an_httpx_client(
    openai_api: openai_standin.OpenAIStandin, spans: InMemorySpanExporter, sql: SQL
) -> None:
    # openai 3.x talks through httpx2 by default, which opentelemetry-instrumentation-httpx does not patch;
    # an httpx.Client handed to the SDK is instrumented, so its request is a child of the usage span.
    with httpx.Client() as http:
        client = openai.OpenAI(api_key=openai_standin.API_KEY, base_url=f"{openai_api.url}/v1", http_client=http)  # type: ignore[arg-type]
        with usage_tenant("t_acme"):
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    finished = spans.get_finished_spans()
    (usage_span,) = [s for s in finished if s.name == "chat m"]
    (http_span,) = [s for s in finished if s.name == "POST"]
    assert http_span.parent is not None and http_span.parent.span_id == usage_span.context.span_id
    assert http_span.context.trace_id == usage_span.context.trace_id
    assert len(usage_rows(sql)) == 1


def test_the_instrumentors_are_entry_points_with_version_ranges_and_distinct_names() -> None:
    found = {
        ep.name: ep for ep in entry_points(group="opentelemetry_instrumentor") if ep.name.startswith("usage_ledger")
    }
    assert sorted(found) == ["usage_ledger_openai", "usage_ledger_sendgrid", "usage_ledger_twilio"]
    for ep in found.values():
        instrumentor = ep.load()
        assert instrumentor.__name__.endswith("UsageInstrumentor")  # never another OpenAIInstrumentor
        (requirement,) = instrumentor().instrumentation_dependencies()
        assert ">=" in requirement and "<" in requirement.replace("<=", ""), requirement


@pytest.mark.usefixtures("instrumented")
def test_our_client_spans_name_the_library_version_and_schema(
    twilio_client: TwilioClient, spans: InMemorySpanExporter, sql: SQL
) -> None:
    with usage_tenant("t_acme"):
        twilio_client.messages.create(to="+15550100", from_="+15550111", body="hi")
    (span,) = [s for s in spans.get_finished_spans() if s.name == "twilio Messages.create"]
    scope = span.instrumentation_scope
    assert scope is not None
    assert (scope.name, scope.version, scope.schema_url) == (
        "usage_ledger_client.instrumentation.twilio",
        __version__,
        attr.SCHEMA_URL,
    )
    assert len(usage_rows(sql)) == 1


def test_an_sdk_outside_the_supported_range_is_left_alone(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(TwilioUsageInstrumentor, "instrumentation_dependencies", lambda self: ("twilio >= 99",))
    original = MessageList.create
    with caplog.at_level(logging.WARNING, logger="usage_ledger_client.instrumentation"):
        TwilioUsageInstrumentor().instrument(skip_dep_check=True)  # what opentelemetry-instrument passes
    assert MessageList.create is original and not TwilioUsageInstrumentor().is_instrumented_by_opentelemetry
    assert any("twilio >= 99" in r.getMessage() for r in caplog.records)


@pytest.mark.usefixtures("instrumented")
def test_a_client_span_already_made_for_the_call_carries_the_usage_event_instead_of_a_second_one(
    twilio_client: TwilioClient, spans: InMemorySpanExporter, sql: SQL
) -> None:
    """Whoever made it (another instrumentation, or the app itself), the call gets one CLIENT span."""
    tracer = trace.get_tracer("another-instrumentation")
    with tracer.start_as_current_span("POST api.twilio.com", kind=SpanKind.CLIENT), usage_tenant("t_acme"):
        twilio_client.messages.create(to="+15550100", from_="+15550111", body="hi")
    (client_span,) = [s for s in spans.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert client_span.name == "POST api.twilio.com" and client_span.context is not None
    assert [e.name for e in client_span.events] == [attr.USAGE_EVENT_NAME]
    assert str((client_span.attributes or {}).get("twilio.sid")).startswith("SM")
    (row,) = usage_rows(sql)
    assert row["span_id"] == f"{client_span.context.span_id:016x}"
