"""OpenAIUsageInstrumentor through the official `OpenAI` / `AsyncOpenAI` clients against the OpenAI stand-in."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from harness.standins import OpenAIStandin, openai_error
from tests.support.postgres import SQL
from tests.test_integrations.conftest import usage_rows
from usage_ledger_client import usage_tenant
from usage_ledger_client.instrumentation import OpenAIUsageInstrumentor, usage_event_type

pytestmark = pytest.mark.usefixtures("configured", "instrumented")

MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Where is my parcel today?"},
]
MODEL = "gpt-standin-mini"


async def run_chat(client: Any, stream: bool, **kwargs: Any) -> list[Any]:
    """One chat completion as the app would make it; returns what the app received (the response, or its chunks)."""
    result = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=stream, **kwargs)
    if isinstance(client, openai.AsyncOpenAI):
        result = await result
        return [chunk async for chunk in result] if stream else [result]
    return list(result) if stream else [result]


async def run_response(client: Any, stream: bool) -> list[Any]:
    result = client.responses.create(model=MODEL, input="Summarise my voicemail", stream=stream)
    if isinstance(client, openai.AsyncOpenAI):
        result = await result
        return [event async for event in result] if stream else [result]
    return list(result) if stream else [result]


def pick(
    flavour: str, sync_client: openai.OpenAI, async_client: openai.AsyncOpenAI
) -> openai.OpenAI | openai.AsyncOpenAI:
    return async_client if flavour == "async" else sync_client


def the_row(sql: SQL) -> dict[str, Any]:
    rows = usage_rows(sql)
    assert len(rows) == 1, rows
    return rows[0]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_a_chat_completion_is_one_ai_message_row_with_the_token_breakdown(
    flavour: str,
    stream: bool,
    openai_client: openai.OpenAI,
    async_openai_client: openai.AsyncOpenAI,
    openai_api: OpenAIStandin,
    sql: SQL,
) -> None:
    with usage_tenant("t_acme"):
        received = await run_chat(pick(flavour, openai_client, async_openai_client), stream)
    usage = openai_api.usages[-1]  # what the API reported, whether or not the caller saw it
    row = await asyncio.to_thread(the_row, sql)
    assert (row["tenant_id"], row["source"], row["event_type"]) == ("t_acme", "openai", "ai_message")
    assert row["units"] == usage["total_tokens"]
    assert row["idempotency_key"] == received[0].id
    metadata = json.loads(row["metadata"])
    assert metadata["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
    assert metadata["gen_ai.usage.output_tokens"] == usage["completion_tokens"]
    assert metadata["gen_ai.usage.cache_read.input_tokens"] == usage["prompt_tokens_details"]["cached_tokens"]
    assert metadata["gen_ai.usage.cache_creation.input_tokens"] == usage["prompt_tokens_details"]["cache_write_tokens"]
    assert metadata["gen_ai.usage.reasoning.output_tokens"] == usage["completion_tokens_details"]["reasoning_tokens"]
    assert (metadata["gen_ai.request.model"], metadata["gen_ai.response.id"]) == (MODEL, received[0].id)
    assert "parcel" not in row["metadata"] and "stand-in model" not in row["metadata"]  # no prompt, no completion
    if not stream:
        assert received[0].usage.total_tokens == row["units"]


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_streaming_asks_for_usage_and_hides_the_extra_chunk_from_a_caller_who_did_not(
    flavour: str, openai_client: openai.OpenAI, async_openai_client: openai.AsyncOpenAI, openai_api: OpenAIStandin
) -> None:
    with usage_tenant("t_acme"):
        chunks = await run_chat(pick(flavour, openai_client, async_openai_client), stream=True)
    sent: Any = openai_api.requests[-1].json()
    assert sent["stream_options"] == {"include_usage": True}  # asked on the caller's behalf
    assert chunks and all(chunk.choices for chunk in chunks)  # the usage-only chunk never reached the caller
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_a_caller_who_asked_for_usage_still_gets_the_usage_chunk(openai_client: openai.OpenAI, sql: SQL) -> None:
    with usage_tenant("t_acme"):
        chunks = list(
            openai_client.chat.completions.create(
                model=MODEL,
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert the_row(sql)["units"] == chunks[-1].usage.total_tokens


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_a_responses_api_call_is_one_ai_message_row(
    flavour: str,
    stream: bool,
    openai_client: openai.OpenAI,
    async_openai_client: openai.AsyncOpenAI,
    openai_api: OpenAIStandin,
    sql: SQL,
) -> None:
    with usage_tenant("t_acme"):
        received = await run_response(pick(flavour, openai_client, async_openai_client), stream)
    usage = openai_api.usages[-1]
    response = received[-1].response if stream else received[0]
    row = await asyncio.to_thread(the_row, sql)
    assert (row["event_type"], row["units"], row["idempotency_key"]) == (
        "ai_message",
        usage["total_tokens"],
        response.id,
    )
    metadata = json.loads(row["metadata"])
    assert metadata["gen_ai.usage.input_tokens"] == usage["input_tokens"]
    assert metadata["gen_ai.usage.reasoning.output_tokens"] == usage["output_tokens_details"]["reasoning_tokens"]
    assert metadata["gen_ai.usage.cache_read.input_tokens"] == usage["input_tokens_details"]["cached_tokens"]
    assert metadata["gen_ai.usage.cache_creation.input_tokens"] == usage["input_tokens_details"]["cache_write_tokens"]


def test_a_voicemail_summary_is_recorded_as_ai_voicemail_summary(openai_client: openai.OpenAI, sql: SQL) -> None:
    with usage_tenant("t_acme"), usage_event_type("ai_voicemail_summary"):
        summary = openai_client.chat.completions.create(model=MODEL, messages=MESSAGES)
    row = the_row(sql)
    assert (row["event_type"], row["units"]) == ("ai_voicemail_summary", summary.usage.total_tokens)  # type: ignore[union-attr]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_provider_error_records_nothing_and_the_app_sees_the_sdks_exception(
    stream: bool, openai_client: openai.OpenAI, openai_api: OpenAIStandin, sql: SQL
) -> None:
    openai_api.respond_next(openai_error())
    with usage_tenant("t_acme"), pytest.raises(openai.BadRequestError) as raised:
        openai_client.chat.completions.create(model="nope", messages=MESSAGES, stream=stream)
    assert raised.value.status_code == 400 and raised.value.code == "model_not_found"
    assert usage_rows(sql) == []


def test_the_usage_event_rides_on_a_client_span_with_gen_ai_attributes(
    openai_client: openai.OpenAI, sql: SQL, spans: InMemorySpanExporter
) -> None:
    with usage_tenant("t_acme"):
        completion = openai_client.chat.completions.create(model=MODEL, messages=MESSAGES)
    row = the_row(sql)
    (span,) = [s for s in spans.get_finished_spans() if s.name == f"chat {MODEL}"]
    assert span.kind is SpanKind.CLIENT and span.attributes is not None
    assert span.attributes["gen_ai.operation.name"] == "chat"
    assert span.attributes["gen_ai.response.id"] == completion.id
    assert span.attributes["gen_ai.usage.input_tokens"] == completion.usage.prompt_tokens  # type: ignore[union-attr]
    assert [e.name for e in span.events] == ["usage"]
    assert row["span_id"] == f"{span.context.span_id:016x}"


@pytest.mark.parametrize("switch", ["argument", "environment"])
def test_content_is_kept_only_when_a_setting_turns_it_on(
    switch: str, openai_client: openai.OpenAI, sql: SQL, monkeypatch: pytest.MonkeyPatch
) -> None:
    OpenAIUsageInstrumentor().uninstrument()
    if switch == "environment":  # OpenTelemetry's own GenAI content switch
        monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
        OpenAIUsageInstrumentor().instrument()
    else:
        OpenAIUsageInstrumentor().instrument(capture_content=True)
    with usage_tenant("t_acme"):
        openai_client.chat.completions.create(model=MODEL, messages=MESSAGES)
    metadata = json.loads(the_row(sql)["metadata"])
    assert metadata["gen_ai.prompt"] == "Where is my parcel today?"
    assert metadata["gen_ai.completion"].startswith("Hello from the stand-in model")


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_with_raw_response_is_recorded_and_the_app_parses_the_same_object(
    flavour: str, openai_client: openai.OpenAI, async_openai_client: openai.AsyncOpenAI, sql: SQL
) -> None:
    with usage_tenant("t_acme"):
        if flavour == "async":
            raw: Any = await async_openai_client.chat.completions.with_raw_response.create(
                model=MODEL, messages=MESSAGES
            )
        else:
            raw = openai_client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    assert raw.http_response.status_code == 200  # the app still gets the raw response ...
    completion = raw.parse()  # ... and parses it as usual
    assert raw.parse() is completion
    row = await asyncio.to_thread(the_row, sql)
    assert (row["units"], row["idempotency_key"]) == (completion.usage.total_tokens, completion.id)


def test_the_stream_helper_is_recorded_through_create(
    openai_client: openai.OpenAI, openai_api: OpenAIStandin, sql: SQL
) -> None:
    with usage_tenant("t_acme"), openai_client.chat.completions.stream(model=MODEL, messages=MESSAGES) as stream:
        text = "".join(event.delta for event in stream if event.type == "content.delta")
    assert text.startswith("Hello from the stand-in model")
    assert the_row(sql)["units"] == openai_api.usages[-1]["total_tokens"]
