"""CLIENT spans around provider calls, built so that telemetry can never change what the call does.

`run_sync` / `run_async` start the span (or, if even that fails, just make the call), make it current while
the SDK works (so the HTTP request below it joins the trace), and hand the result to `finish`, which
records usage and ends the span, or takes the span over (a stream ends it when the stream is done).
An SDK exception is recorded on the span and re-raised unchanged; nothing is recorded for it.

One CLIENT span per call: when the current span is already a CLIENT span (another instrumentation of the
same SDK call made it, e.g. the contrib OpenAI instrumentation, whose wrapper runs outside ours), the usage
event goes on that span, borrowed: we add to it, its owner ends it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any, TypeVar, cast

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from opentelemetry.util.types import AttributeValue
from wrapt import ObjectProxy

from usage_ledger_client.instrumentation._common import count_error

T = TypeVar("T")
Finish = Callable[[Any, Span], Any]


_in_call: ContextVar[bool] = ContextVar("usage_in_call", default=False)


class BorrowedSpan(ObjectProxy):  # type: ignore[type-arg]
    """Another instrumentation's CLIENT span for this call: we add attributes and the usage event to it."""

    def end(self, end_time: int | None = None) -> None:
        pass  # its owner ends it


def start_span(tracer: trace.Tracer, name: str, attributes: Mapping[str, AttributeValue]) -> Span | None:
    try:
        current = trace.get_current_span()
        if current.is_recording() and getattr(current, "kind", None) is SpanKind.CLIENT:
            return cast(Span, BorrowedSpan(current))
        return tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
    except Exception:
        count_error("start span")
        return None


@contextlib.contextmanager
def _current(span: Span) -> Iterator[None]:
    """Our span current while the SDK works (a borrowed one already is); and no nested call records again."""
    token = _in_call.set(True)
    try:
        if isinstance(span, BorrowedSpan):
            yield
        else:
            with trace.use_span(span, end_on_exit=False):
                yield
    finally:
        _in_call.reset(token)


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
    span = None if _in_call.get() else start_span(tracer, name, attributes)
    if span is None:
        return call()
    try:
        with _current(span):
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
    span = None if _in_call.get() else start_span(tracer, name, attributes)
    if span is None:
        return await call()
    try:
        with _current(span):
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
