"""CLIENT spans around provider calls, built so that telemetry can never change what the call does.

`run_sync` / `run_async` start the span (or, if even that fails, just make the call), make it current while
the SDK works (so the HTTP request below it joins the trace), and hand the result to `finish`, which
records usage and ends the span, or takes the span over (a stream ends it when the stream is done).
An SDK exception is recorded on the span and re-raised unchanged; nothing is recorded for it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from opentelemetry.util.types import AttributeValue

from usage_ledger_client.instrumentation._common import count_error

T = TypeVar("T")
Finish = Callable[[Any, Span], Any]


def start_span(tracer: trace.Tracer, name: str, attributes: Mapping[str, AttributeValue]) -> Span | None:
    try:
        return tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
    except Exception:
        count_error("start span")
        return None


def safely(what: str, fn: Callable[..., T], *args: Any) -> T | None:
    """Run telemetry code; on any error count it and return None."""
    try:
        return fn(*args)
    except Exception:
        count_error(what)
        return None


def end_span(span: Span) -> None:
    safely("end span", span.end)


def run_sync(
    tracer: trace.Tracer, name: str, attributes: Mapping[str, AttributeValue], call: Callable[[], T], finish: Finish
) -> T:
    span = start_span(tracer, name, attributes)
    if span is None:
        return call()
    try:
        with trace.use_span(span, end_on_exit=False):
            result = call()
            return _finish(finish, result, span)  # type: ignore[no-any-return]
    except BaseException:
        end_span(span)
        raise


async def run_async(
    tracer: trace.Tracer,
    name: str,
    attributes: Mapping[str, AttributeValue],
    call: Callable[[], Awaitable[T]],
    finish: Finish,
) -> T:
    span = start_span(tracer, name, attributes)
    if span is None:
        return await call()
    try:
        with trace.use_span(span, end_on_exit=False):
            result = await call()
            return _finish(finish, result, span)  # type: ignore[no-any-return]
    except BaseException:
        end_span(span)
        raise


def _finish(finish: Finish, result: Any, span: Span) -> Any:
    try:
        return finish(result, span)
    except Exception:
        # `finish` swallows its own errors; this is the last line of defence: the app still gets its result.
        count_error("finish")
        end_span(span)
        return result
