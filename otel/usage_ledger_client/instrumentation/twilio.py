"""TwilioUsageInstrumentor: message and call creation through `twilio.rest.Client` become usage.

Patched: `MessageList.create` / `create_async` / `create_with_http_info[_async]` and the same on
`CallList`. A message without media is `sms_outbound` with units = the `num_segments` Twilio reports; one
with media (or that Twilio reports as carrying media) is `mms`, one message; a created call is `call_out`.
The idempotency key is `<sid>:<event type>`, the same key the webhook helpers and the ledger's Twilio
endpoints use, so a message or call seen from both sides counts once.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span

from usage_ledger_client.instrumentation._base import (
    UsageInstrumentor,
    capture_content,
    tracer_for,
    unwrap_ours,
    wrap_innermost,
)
from usage_ledger_client.instrumentation._common import CallScope, clip, enabled
from usage_ledger_client.instrumentation._spans import end_span, run_async, run_sync, safely

_MESSAGES = ("twilio.rest.api.v2010.account.message", "MessageList")
_CALLS = ("twilio.rest.api.v2010.account.call", "CallList")
_METHODS = ("create", "create_with_http_info")
_ASYNC_METHODS = ("create_async", "create_with_http_info_async")
_UNSET_TEXT = ("", "None", "Unset")


class TwilioUsageInstrumentor(UsageInstrumentor):
    def instrumentation_dependencies(self) -> Collection[str]:
        return ("twilio >= 9.0, < 10",)

    def _instrument(self, **kwargs: Any) -> None:
        tracer = tracer_for(__name__, kwargs)
        capture = capture_content(kwargs)
        for module, cls in (_MESSAGES, _CALLS):
            kind = _message_usage if cls == "MessageList" else _call_usage
            for method in _available(module, cls, _METHODS):
                wrap_innermost(module, f"{cls}.{method}", _sync_wrapper(tracer, cls, kind, capture))
            for method in _available(module, cls, _ASYNC_METHODS):
                wrap_innermost(module, f"{cls}.{method}", _async_wrapper(tracer, cls, kind, capture))

    def _uninstrument(self, **kwargs: Any) -> None:
        for module, cls in (_MESSAGES, _CALLS):
            for method in _available(module, cls, (*_METHODS, *_ASYNC_METHODS)):
                unwrap_ours(module, f"{cls}.{method}", __name__)


def _available(module: str, cls: str, methods: tuple[str, ...]) -> list[str]:
    import importlib

    target = getattr(importlib.import_module(module), cls)
    return [m for m in methods if hasattr(target, m)]  # create_with_http_info arrived in twilio 9.x


Usage = Callable[[CallScope, Any, Mapping[str, Any], bool, Span], None]


def _sync_wrapper(tracer: trace.Tracer, cls: str, usage: Usage, capture: bool) -> Callable[..., Any]:
    def wrapper(wrapped: Callable[..., Any], _instance: Any, args: Any, kwargs: Any) -> Any:
        if not enabled():
            return wrapped(*args, **kwargs)
        scope = CallScope.capture("twilio", _default_type(cls))
        finish = _finisher(scope, usage, kwargs, capture)
        return run_sync(tracer, _span_name(cls), _ATTRIBUTES[cls], lambda: wrapped(*args, **kwargs), finish)

    return wrapper


def _async_wrapper(tracer: trace.Tracer, cls: str, usage: Usage, capture: bool) -> Callable[..., Any]:
    async def wrapper(wrapped: Callable[..., Any], _instance: Any, args: Any, kwargs: Any) -> Any:
        if not enabled():
            return await wrapped(*args, **kwargs)
        scope = CallScope.capture("twilio", _default_type(cls))
        finish = _finisher(scope, usage, kwargs, capture)
        return await run_async(tracer, _span_name(cls), _ATTRIBUTES[cls], lambda: wrapped(*args, **kwargs), finish)

    return wrapper


_ATTRIBUTES = {
    "MessageList": {"twilio.resource": "Messages", "twilio.operation": "create", "server.address": "api.twilio.com"},
    "CallList": {"twilio.resource": "Calls", "twilio.operation": "create", "server.address": "api.twilio.com"},
}


def _span_name(cls: str) -> str:
    return "twilio Messages.create" if cls == "MessageList" else "twilio Calls.create"


def _default_type(cls: str) -> str:
    return "sms_outbound" if cls == "MessageList" else "call_out"


def _finisher(scope: CallScope, usage: Usage, kwargs: Mapping[str, Any], capture: bool) -> Callable[[Any, Span], Any]:
    def finish(result: Any, span: Span) -> Any:
        # create_with_http_info returns an ApiResponse whose .data is the instance.
        instance = result.data if type(result).__name__ == "ApiResponse" else result
        safely("twilio usage", usage, scope, instance, kwargs, capture, span)
        end_span(span)
        return result

    return finish


def _message_usage(scope: CallScope, message: Any, kwargs: Mapping[str, Any], capture: bool, span: Span) -> None:
    sid = str(message.sid)
    num_media = _int(message.num_media, 0)
    has_media = num_media > 0 or _given(kwargs.get("media_url"))
    segments = _int(message.num_segments, 1)
    metadata: dict[str, object] = {
        "message_sid": sid,
        "status": str(message.status),
        "num_segments": segments,
        "num_media": num_media,
        "to": message.to,
        "from": message.from_,
        "messaging_service_sid": message.messaging_service_sid,
    }
    if capture and isinstance(kwargs.get("body"), str):
        metadata["body"] = clip(kwargs["body"])
    span.set_attributes({"twilio.sid": sid, "twilio.num_segments": segments, "twilio.num_media": num_media})
    if has_media:
        scope.record(1, metadata, f"{sid}:mms", event_type="mms")
    else:
        scope.record(segments, metadata, f"{sid}:{scope.event_type}")


def _call_usage(scope: CallScope, call: Any, _kwargs: Mapping[str, Any], _capture: bool, span: Span) -> None:
    sid = str(call.sid)
    span.set_attribute("twilio.sid", sid)
    metadata = {"call_sid": sid, "status": str(call.status), "to": call.to, "from": call._from}
    scope.record(1, metadata, f"{sid}:{scope.event_type}")


def _int(value: object, default: int) -> int:
    # Twilio's JSON carries counts as strings ("2"); a missing count is the default, a garbled one an error.
    if value is None or str(value) in _UNSET_TEXT:
        return default
    return int(str(value))


def _given(value: object) -> bool:
    return isinstance(value, (list, tuple, str)) and len(value) > 0
