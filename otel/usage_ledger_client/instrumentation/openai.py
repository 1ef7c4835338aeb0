"""OpenAIUsageInstrumentor: chat completions and the Responses API (sync, async, streaming) become `ai_message`.

Patched: `create` and `parse` of `Completions`, `AsyncCompletions`, `Responses` and `AsyncResponses` (the
`stream()` helpers and `with_raw_response` call `create`). Units = total tokens; metadata has the model,
the response id and the token breakdown (input, output, cache read, cache creation, reasoning) under the
OTel GenAI names. The idempotency key is the response id. Inside
`with usage_event_type("ai_voicemail_summary"):` the same calls are recorded as voicemail summaries.

Named so it cannot be mistaken for the contrib `opentelemetry.instrumentation.openai_v2.OpenAIInstrumentor`,
which it works beside: with both on, the contrib one makes the call's CLIENT span and ours adds the usage
event to it (see _spans.py and _base.py).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span

from usage_ledger_client.instrumentation import _openai_usage as gen_ai
from usage_ledger_client.instrumentation._base import (
    UsageInstrumentor,
    capture_content,
    tracer_for,
    unwrap_ours,
    wrap_innermost,
)
from usage_ledger_client.instrumentation._common import CallScope, count_error, enabled
from usage_ledger_client.instrumentation._openai_stream import AsyncStreamProxy, StreamProxy
from usage_ledger_client.instrumentation._spans import end_span, run_async, run_sync, safely
from usage_ledger_contract import attributes as attr

_CHAT = "openai.resources.chat.completions.completions"
_RESPONSES = "openai.resources.responses.responses"
# (module, class, operation name, is async)
_TARGETS = (
    (_CHAT, "Completions", "chat", False),
    (_CHAT, "AsyncCompletions", "chat", True),
    (_RESPONSES, "Responses", "responses", False),
    (_RESPONSES, "AsyncResponses", "responses", True),
)
_METHODS = ("create", "parse")


class OpenAIUsageInstrumentor(UsageInstrumentor):
    def instrumentation_dependencies(self) -> Collection[str]:
        return ("openai >= 1.66, < 4",)

    def _instrument(self, **kwargs: Any) -> None:
        tracer = tracer_for(__name__, kwargs)
        capture = capture_content(kwargs)
        for module, cls, operation, is_async in _TARGETS:
            make = _async_wrapper if is_async else _sync_wrapper
            for method in _METHODS:
                wrap_innermost(module, f"{cls}.{method}", make(tracer, operation, capture))

    def _uninstrument(self, **kwargs: Any) -> None:
        for module, cls, _, _ in _TARGETS:
            for method in _METHODS:
                unwrap_ours(module, f"{cls}.{method}", __name__)


class _Call:
    """One intercepted call: its scope, its (possibly amended) kwargs, and how to finish it."""

    def __init__(self, operation: str, kwargs: dict[str, Any], capture: bool) -> None:
        self.operation = operation
        self.capture = capture
        self.scope = CallScope.capture("openai", "ai_message")
        self.stream = kwargs.get("stream") is True
        self.hide_usage = False
        self.kwargs = self._ask_for_usage(kwargs) if self.stream and operation == "chat" else kwargs
        model = kwargs.get("model")
        self.model = model if isinstance(model, str) else ""
        self.attributes = {
            attr.GEN_AI_OPERATION: operation,
            attr.GEN_AI_PROVIDER: "openai",
            attr.GEN_AI_REQUEST_MODEL: self.model,
        }

    def _ask_for_usage(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        options = kwargs.get("stream_options")
        options = dict(options) if isinstance(options, Mapping) else {}
        if options.get("include_usage") is True:
            return kwargs
        self.hide_usage = True  # the caller did not ask for the usage chunk, so it will not see it
        return {**kwargs, "stream_options": {**options, "include_usage": True}}

    @property
    def span_name(self) -> str:
        return f"{self.operation} {self.model}".strip()

    def finish(self, result: Any, span: Span) -> Any:
        if gen_ai.is_raw_response(result):
            return self._finish_raw(result, span)
        if self.stream:
            proxy = StreamProxy if hasattr(result, "__next__") else AsyncStreamProxy
            wrapped = safely("openai stream", proxy, result, span, self.record, self.hide_usage)
            if wrapped is None:
                end_span(span)
                return result
            return wrapped
        usage = safely("openai usage", gen_ai.usage_of, result)
        if usage is not None:
            safely("openai usage", self.record, usage, span, result)
        else:  # e.g. `with_raw_response`, whose result is not parsed yet: counted, so it is visible
            count_error("openai result without usage")
        end_span(span)
        return result

    def _finish_raw(self, raw: Any, span: Span) -> Any:
        """`with_raw_response`: the body is already read, so parsing it here costs the app nothing (the SDK
        caches the parsed object and hands the same one to the app's own `.parse()`)."""
        if self.stream:  # the stream object is the app's to read: its usage cannot be seen from here
            count_error("openai raw stream not recorded")
            end_span(span)
            return raw
        parsed = safely("openai raw response", raw.parse)
        if parsed is None:
            end_span(span)
            return raw
        self.finish(parsed, span)
        return raw

    def record(self, usage: gen_ai.Usage, span: Span, result: Any = None) -> None:
        span.set_attributes(gen_ai.span_attributes(usage))
        metadata = gen_ai.metadata(usage, self.kwargs.get("model"), self.operation, self.stream)
        if self.capture and result is not None:
            metadata.update(gen_ai.content(result, self.kwargs))
        self.scope.record(usage.total, metadata, usage.response_id)


def _sync_wrapper(tracer: trace.Tracer, operation: str, capture: bool) -> Callable[..., Any]:
    def wrapper(wrapped: Callable[..., Any], _instance: Any, args: Any, kwargs: Any) -> Any:
        if not enabled():
            return wrapped(*args, **kwargs)
        call = safely("openai call", _Call, operation, kwargs, capture)
        if call is None:
            return wrapped(*args, **kwargs)
        return run_sync(tracer, call.span_name, call.attributes, lambda: wrapped(*args, **call.kwargs), call.finish)

    return wrapper


def _async_wrapper(tracer: trace.Tracer, operation: str, capture: bool) -> Callable[..., Any]:
    async def wrapper(wrapped: Callable[..., Any], _instance: Any, args: Any, kwargs: Any) -> Any:
        if not enabled():
            return await wrapped(*args, **kwargs)
        call = safely("openai call", _Call, operation, kwargs, capture)
        if call is None:
            return await wrapped(*args, **kwargs)
        return await run_async(
            tracer, call.span_name, call.attributes, lambda: wrapped(*args, **call.kwargs), call.finish
        )

    return wrapper
