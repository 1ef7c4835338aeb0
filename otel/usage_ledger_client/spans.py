"""Usage on OpenTelemetry spans: the `usage` span event, on the current span or on a span of its own.

Inside a recording span (an instrumentor's CLIENT span, another instrumentation's, the app's own) the event
goes on that span and the row keeps its ids. With no span at all, the event needs a span of its own so the
row can still point at a trace. Starting one on the caller's thread costs as much as the rest of
record_usage_event together, so in memory mode the record is queued with OWN_SPAN and the delivery worker
makes that span before encoding the event: same name, same attributes, the event's own timestamps, a root
of its own trace. (Durable mode writes the encoded event before returning, so there the caller makes it.)
"""

from __future__ import annotations

from types import MappingProxyType

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.trace import Span

from usage_ledger_client.encoding import OWN_SPAN, UsageRecord
from usage_ledger_client.version import __version__
from usage_ledger_contract import attributes as attr
from usage_ledger_contract import fields

TRACER_NAME = "usage_ledger_client"

_tracer: trace.Tracer = trace.get_tracer(TRACER_NAME, __version__, schema_url=attr.SCHEMA_URL)
_ROOT = Context()  # no parent: a span of our own starts its own trace


def use_tracer_provider(provider: trace.TracerProvider) -> None:
    global _tracer
    _tracer = provider.get_tracer(TRACER_NAME, __version__, schema_url=attr.SCHEMA_URL)


def event_attributes(record: UsageRecord, occurred_at: str | None) -> dict[str, str | int]:
    attributes: dict[str, str | int] = {
        fields.TENANT_ID.attribute: record.tenant_id,
        fields.SOURCE.attribute: record.source,
        fields.EVENT_TYPE.attribute: record.event_type,
        fields.UNITS.attribute: record.units,
        fields.IDEMPOTENCY_KEY.attribute: record.idempotency_key,
    }
    if record.metadata != b"{}":
        attributes[fields.METADATA.attribute] = record.metadata.decode()
    if occurred_at is not None:
        attributes[fields.OCCURRED_AT.attribute] = occurred_at
    return attributes


def mark_current(record: UsageRecord, occurred_at: str | None, own_span_now: bool) -> tuple[int, int]:
    """Put the usage event on the current span; returns the ids the row keeps.

    With no span in scope: (OWN_SPAN, 0) for the worker to fill in, or, with `own_span_now`, a span of our
    own made here. A valid span that is not recording (sampled out) still gives its ids to the row.
    """
    span = trace.get_current_span()
    if span.is_recording():
        _add_event(span, event_attributes(record, occurred_at), _event_time(record, occurred_at))
        _set_marker(span)
    else:
        context = span.get_span_context()
        if context.is_valid:
            return context.trace_id, context.span_id
        if not own_span_now:
            return OWN_SPAN, 0
        return _own_span(record, occurred_at)
    context = span.get_span_context()
    return (context.trace_id, context.span_id) if context.is_valid else (0, 0)


def with_own_span(record: UsageRecord) -> UsageRecord:
    """On the delivery worker: make the span a record queued with OWN_SPAN asked for; the record with its ids."""
    trace_id, span_id = _own_span(record, None)
    return record._replace(trace_id=trace_id, span_id=span_id)


def _own_span(record: UsageRecord, occurred_at: str | None) -> tuple[int, int]:
    at = record.occurred_at_ns
    span = _tracer.start_span(f"usage {record.source}.{record.event_type}", context=_ROOT, start_time=at)
    span.add_event(attr.USAGE_EVENT_NAME, event_attributes(record, occurred_at), at)
    span.set_attribute(attr.SPAN_MARKER, True)
    span.end(end_time=at)
    context = span.get_span_context()
    return (context.trace_id, context.span_id) if context.is_valid else (0, 0)


def _add_event(span: Span, attributes: dict[str, str | int], timestamp: int | None) -> None:
    """The usage span event. On an SDK span with no attribute-length limit set, the event goes in without
    the SDK's per-attribute cleaning, which is half the cost of record_usage_event: every value here is a
    str or int we built from checked input. (`_add_event` still applies the span's event-count limit and
    refuses an ended span.) Any other span, or a configured limit, takes the public `add_event`."""
    limits = getattr(span, "_limits", None)
    if (
        isinstance(span, SdkSpan)
        and limits is not None
        and limits.max_attribute_length is None
        and (limits.max_event_attributes or 0) >= len(attributes)
        and hasattr(span, "_add_event")
    ):
        span._add_event(Event(attr.USAGE_EVENT_NAME, MappingProxyType(attributes), timestamp))
    else:
        span.add_event(attr.USAGE_EVENT_NAME, attributes, timestamp)


def _event_time(record: UsageRecord, occurred_at: str | None) -> int | None:
    # An explicit occurred_at (a webhook's time, say) is carried as an attribute; the event itself happens now.
    return None if occurred_at is not None else record.occurred_at_ns


def _set_marker(span: Span) -> None:
    attributes = getattr(span, "attributes", None)
    if attributes is None or attributes.get(attr.SPAN_MARKER) is not True:
        span.set_attribute(attr.SPAN_MARKER, True)
