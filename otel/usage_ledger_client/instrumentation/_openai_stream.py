"""Stream proxies: the app reads its OpenAI stream as usual; usage is taken from the chunk/event carrying it.

Chat completions report usage in a last chunk with no choices, sent only when the request asked for it
(`stream_options={"include_usage": True}`); the instrumentor asks on the caller's behalf and then keeps
that extra chunk away from a caller who did not ask. The Responses API carries usage on its
`response.completed` (or `.incomplete`) event. Usage is recorded, and the span ended, when the stream is
exhausted or closed; a stream abandoned before its usage arrived records nothing (its usage is unknown).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span
from wrapt import ObjectProxy

from usage_ledger_client.instrumentation._openai_usage import Usage, usage_of
from usage_ledger_client.instrumentation._spans import end_span, safely

_FINAL_EVENTS = ("response.completed", "response.incomplete")

Recorder = Callable[[Usage, Span], None]


def _observe(item: Any) -> Usage | None:
    if getattr(item, "type", None) in _FINAL_EVENTS:
        return usage_of(item.response)
    if getattr(item, "object", None) == "chat.completion.chunk" and getattr(item, "usage", None) is not None:
        return usage_of(item)
    return None


def _is_usage_only(item: Any) -> bool:
    return getattr(item, "object", None) == "chat.completion.chunk" and not item.choices and item.usage is not None


class _Tracking:
    """State shared by the sync and async proxies (kept on the proxy as _self_* attributes by wrapt's rules)."""

    _self_span: Span
    _self_record: Recorder
    _self_hide_usage: bool
    _self_usage: Usage | None
    _self_open: bool

    def _self_init(self, span: Span, record: Recorder, hide_usage: bool) -> None:
        self._self_span = span
        self._self_record = record
        self._self_hide_usage = hide_usage
        self._self_usage = None
        self._self_open = True

    def _self_see(self, item: Any) -> bool:
        """Note usage in `item`; True when the item is to be passed on to the caller."""
        found = safely("openai stream chunk", _observe, item)
        if found is not None:
            self._self_usage = found
        return not (self._self_hide_usage and bool(safely("openai stream chunk", _is_usage_only, item)))

    def _self_finish(self) -> None:
        # Usage arrives last, so having it means the response finished, even if the caller then stopped reading.
        if not self._self_open:
            return
        self._self_open = False
        usage = self._self_usage
        if usage is not None:
            with trace.use_span(self._self_span, end_on_exit=False):
                safely("openai stream usage", self._self_record, usage, self._self_span)
        end_span(self._self_span)


class StreamProxy(_Tracking, ObjectProxy[Any]):
    def __init__(self, stream: Any, span: Span, record: Recorder, hide_usage: bool) -> None:
        super().__init__(stream)
        self._self_init(span, record, hide_usage)

    def __iter__(self) -> StreamProxy:
        return self

    def __next__(self) -> Any:
        while True:
            try:
                item = self.__wrapped__.__next__()
            except StopIteration:
                self._self_finish()
                raise
            except BaseException:
                self._self_finish()
                raise
            if self._self_see(item):
                return item

    def __enter__(self) -> StreamProxy:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(*exc)
        finally:
            self._self_finish()

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_finish()


class AsyncStreamProxy(_Tracking, ObjectProxy[Any]):
    def __init__(self, stream: Any, span: Span, record: Recorder, hide_usage: bool) -> None:
        super().__init__(stream)
        self._self_init(span, record, hide_usage)

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        while True:
            try:
                item = await self.__wrapped__.__anext__()
            except StopAsyncIteration:
                self._self_finish()
                raise
            except BaseException:
                self._self_finish()
                raise
            if self._self_see(item):
                return item

    async def __aenter__(self) -> AsyncStreamProxy:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(*exc)
        finally:
            self._self_finish()

    async def close(self) -> None:
        try:
            await self.__wrapped__.close()
        finally:
            self._self_finish()
