"""What every request and answer passes through: a Host check, a deadline on the body, answers never cached.

- A Host header that is not `host[:port]` (a port out of range, a broken IPv6 literal) is a 400 here, before
  any handler builds the request's URL from it (which would raise).
- The server (ledger_service/server.py) cuts connections that stall; here, inside the app, a body that is
  still arriving LEDGER_BODY_TIMEOUT_SECONDS after the request started is answered with a 408 that says
  so, and the connection is closed after it.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

import anyio
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from litestar.types.asgi_types import ReceiveMessage


class EdgeMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(self, body_timeout_seconds: float) -> None:
        self.timeout = body_timeout_seconds

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        problem = _host_problem(scope["headers"])
        if problem is not None:
            raise HTTPException(status_code=400, detail=problem)
        deadline = anyio.current_time() + self.timeout
        state = {"complete": False, "late": False}

        async def timed_receive() -> ReceiveMessage:
            if state["complete"]:  # after the body, receive() only waits for a disconnect: no deadline
                return await receive()
            try:
                with anyio.fail_after(max(0.0, deadline - anyio.current_time())):
                    message = await receive()
            except TimeoutError:
                state["late"] = True
                raise HTTPException(
                    status_code=408,
                    detail=f"the request body did not arrive within {self.timeout:g} s (LEDGER_BODY_TIMEOUT_SECONDS)",
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                state["complete"] = True
            return message

        async def closing_send(message: Message) -> None:
            if state["late"] and message["type"] == "http.response.start":
                # The rest of that body is not wanted: close rather than read it to find the next request.
                MutableScopeHeaders.from_message(message)["Connection"] = "close"
            await send(message)

        await next_app(scope, timed_receive, closing_send)


def _host_problem(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"host":
            try:
                urlsplit("//" + value.decode("latin-1")).port  # noqa: B018 - raises for a bad port or IPv6 literal
            except ValueError as exc:
                return f"the Host header is not a host[:port]: {exc}"
    return None


async def no_store_by_default(message: Message, _: Scope) -> None:
    """`Cache-Control: no-store` on every answer that does not set its own (the page and its assets do): a
    tenant's usage, an error or a probe's answer is never for a browser's or a proxy's cache."""
    if message["type"] == "http.response.start":
        headers = MutableScopeHeaders.from_message(message)
        if "cache-control" not in headers:
            headers["Cache-Control"] = "no-store"
