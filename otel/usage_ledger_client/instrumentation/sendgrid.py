"""SendGridUsageInstrumentor: every `send` (campaign, alert, admin notification) becomes `email_sent`.

Patched: `sendgrid.base_interface.BaseInterface.send`, which `SendGridAPIClient` (and the Twilio-email
client) inherit. Units = recipients across all personalizations (to + cc + bcc); the idempotency key is
`<X-Message-Id>:email_sent`. Only a 2xx answer is recorded; the SDK raises for the others.

The message gets one custom arg, `usage_recorded_at_send=1`, which SendGrid copies into every Event Webhook
event of that message: the ledger's Event Webhook endpoint skips those, so an app that uses this
instrumentor and also points the Event Webhook at the ledger is billed once (see replit.md).
Pass `mark_messages=False` to `instrument()` to send messages untouched.
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
from usage_ledger_client.instrumentation._common import CallScope, clip, count_error, enabled
from usage_ledger_client.instrumentation._spans import end_span, run_sync, safely
from usage_ledger_contract.webhooks.sendgrid import RECORDED_AT_SEND_ARG

_MODULE = "sendgrid.base_interface"
_ATTRIBUTES = {"sendgrid.operation": "mail.send", "server.address": "api.sendgrid.com"}


class SendGridUsageInstrumentor(UsageInstrumentor):
    def instrumentation_dependencies(self) -> Collection[str]:
        return ("sendgrid >= 6.9, < 7",)

    def _instrument(self, **kwargs: Any) -> None:
        tracer = tracer_for(__name__, kwargs)
        capture = capture_content(kwargs)
        mark = bool(kwargs.get("mark_messages", True))
        wrap_innermost(_MODULE, "BaseInterface.send", _wrapper(tracer, capture, mark))

    def _uninstrument(self, **kwargs: Any) -> None:
        unwrap_ours(_MODULE, "BaseInterface.send", __name__)


def _wrapper(tracer: trace.Tracer, capture: bool, mark: bool) -> Callable[..., Any]:
    def wrapper(wrapped: Callable[..., Any], _instance: Any, args: Any, kwargs: Any) -> Any:
        if not enabled() or len(args) + len(kwargs) != 1:
            return wrapped(*args, **kwargs)
        message = args[0] if args else kwargs["message"]
        body = _body(message, mark)
        if body is None:  # we could not read the message: send exactly what the app gave us
            return wrapped(*args, **kwargs)
        scope = CallScope.capture("sendgrid", "email_sent")
        finish = _finisher(scope, body, capture)
        return run_sync(tracer, "sendgrid mail.send", _ATTRIBUTES, lambda: wrapped(body), finish)

    return wrapper


def _body(message: Any, mark: bool) -> dict[str, Any] | None:
    """The request body the SDK would send (a Mail object renders to it), with our marker added."""
    try:
        body = dict(message) if isinstance(message, Mapping) else message.get()
        if not isinstance(body, dict):
            return None
        if mark:
            body["custom_args"] = {**(body.get("custom_args") or {}), RECORDED_AT_SEND_ARG: "1"}
        return body
    except Exception:
        count_error("sendgrid message body")
        return None


def _finisher(scope: CallScope, body: Mapping[str, Any], capture: bool) -> Callable[[Any, Span], Any]:
    def finish(response: Any, span: Span) -> Any:
        safely("sendgrid usage", _record, scope, body, response, capture, span)
        end_span(span)
        return response

    return finish


def _record(scope: CallScope, body: Mapping[str, Any], response: Any, capture: bool, span: Span) -> None:
    if not 200 <= int(response.status_code) < 300:
        return
    counts = recipient_counts(body)
    recipients = sum(counts.values())
    message_id = response.headers.get("X-Message-Id") if response.headers is not None else None
    metadata: dict[str, object] = {
        "x_message_id": message_id,
        "personalizations": len(body.get("personalizations") or ()),
        "recipients": recipients,
        **{f"{field}_count": n for field, n in counts.items()},
    }
    if body.get("template_id"):
        metadata["template_id"] = body["template_id"]
    if capture and isinstance(body.get("subject"), str):
        metadata["subject"] = clip(body["subject"])
    span.set_attributes({"sendgrid.recipients": recipients, "sendgrid.message_id": message_id or ""})
    scope.record(recipients, metadata, f"{message_id}:email_sent" if message_id else None)


def recipient_counts(body: Mapping[str, Any]) -> dict[str, int]:
    """Recipients per field across all personalizations (SendGrid bills each one)."""
    counts = {"to": 0, "cc": 0, "bcc": 0}
    for personalization in body.get("personalizations") or ():
        for field in counts:
            counts[field] += len(personalization.get(field) or ())
    return counts
