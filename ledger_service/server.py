"""`usage-ledger serve`: uvicorn with the limits a service the internet reaches needs.

uvicorn on its own waits forever for a request: a client that opens a connection and sends its request head
or body a byte at a time holds that connection (and its memory) for as long as it likes, and there is no cap
on how many such connections it may hold. Here every connection has, in turn:

- a head deadline (LEDGER_HEADER_TIMEOUT_SECONDS) from the moment it opens or its previous answer is sent
  until the request line and headers are in; a head larger than MAX_HEAD_BYTES is refused (431);
- a body deadline (LEDGER_BODY_TIMEOUT_SECONDS) until the request body is in. The app answers a body that is
  late with a 408 (ledger_service.api.edge); this deadline, a little longer, cuts the connection when the app
  is not reading (say, a refused request whose client keeps sending);
- a place among at most LEDGER_MAX_CONNECTIONS: a new connection beyond the cap closes the connection that has
  waited longest for its client to finish a request. A request being processed is never cut, and a fresh
  connection (a health probe, a provider's webhook) always finds room however many slow clients there are.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

if TYPE_CHECKING:
    from ledger_service.settings import Settings

# The request line plus headers: browsers send a few KiB; every proxy we know refuses more than 64 KiB.
MAX_HEAD_BYTES = 64 * 1024
KEEP_ALIVE_SECONDS = 5.0
SWITCH_INTERVAL_SECONDS = 0.001
# The app answers a late body with its own 408 first; this much later the connection is cut regardless.
_BODY_GRACE_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class EdgeLimits:
    max_connections: int = 512
    header_timeout: float = 10.0
    body_timeout: float = 30.0

    @classmethod
    def of(cls, settings: Settings) -> EdgeLimits:
        return cls(settings.max_connections, settings.header_timeout_seconds, settings.body_timeout_seconds)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with deadlines, a head size limit and the connection cap (module doc)."""

    limits: ClassVar[EdgeLimits] = EdgeLimits()
    # This server's connections that wait for their client (for a head or a body), longest waiting first;
    # a connection the app is working for is not here. guarded_protocol() gives each server its own.
    waiting: ClassVar[dict[GuardedHttpToolsProtocol, None]] = {}
    _timer: asyncio.TimerHandle | None = None
    _in_head = False
    _head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_request()
        self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.waiting.pop(self, None)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        # Still no complete head after this many bytes: refuse before it grows further.
        if self._in_head and self._head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
            self._answer_and_close(431, f"the request head exceeds {MAX_HEAD_BYTES} bytes")

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._arm(self.limits.body_timeout + _BODY_GRACE_SECONDS)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        answered_early = self.cycle.response_complete  # e.g. a 403 or 413 sent before the body was read
        super().on_message_complete()
        if answered_early:
            self._await_request()
        else:
            self._disarm()
            self.waiting.pop(self, None)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # uvicorn arms its keep-alive timer only when the connection is now idle (nothing pipelined).
        if self.timeout_keep_alive_task is not None and not self.cycle.more_body:
            self._await_request()

    def _await_request(self) -> None:
        self.waiting.pop(self, None)
        self.waiting[self] = None  # now the newest
        self._in_head = True
        self._head_bytes = 0
        self._arm(self.limits.header_timeout)

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, self._on_deadline)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_deadline(self) -> None:
        self._timer = None
        if self._in_head:
            self._answer_and_close(408, "the request head did not arrive in time")
        else:
            self.transport.close()

    def _make_room(self) -> None:
        if len(self.connections) <= self.limits.max_connections:
            return
        oldest = next(iter(self.waiting))  # never this one, the newest, unless it is the only one waiting
        if oldest is not self:
            oldest._answer_and_close(503, "the server needed this connection for another client")
        else:  # every other connection is being served: this one waits for none of them
            self._answer_and_close(503, "the server is at its connection limit; retry shortly")

    def _answer_and_close(self, status: int, message: str) -> None:
        self._disarm()
        self.waiting.pop(self, None)  # so a burst of new connections never picks it twice
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:  # never write into an answer under way
            body = message.encode()
            head = b"content-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
            length = b"content-length: %d\r\n\r\n" % len(body)
            self.transport.write(STATUS_LINE[status] + head + length + body)
        self.transport.close()


def guarded_protocol(limits: EdgeLimits) -> type[GuardedHttpToolsProtocol]:
    """The protocol class for one server: its limits, and its own registry of waiting connections."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {"limits": limits, "waiting": {}})


def uvicorn_config(app: Any, host: str, port: int, limits: EdgeLimits, **options: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guarded_protocol(limits),
        timeout_keep_alive=int(KEEP_ALIVE_SECONDS),
        # A backstop on requests in flight (handlers still running for clients that left count here): the
        # connection cap above keeps the connection count itself below this.
        limit_concurrency=2 * limits.max_connections,
        **options,
    )


def serve(settings: Settings, host: str, port: int) -> None:
    """Serve the app on host:port until SIGINT/SIGTERM, with the edge limits from `settings`."""
    from ledger_service.app import create_app

    # Worker threads verify signatures and inflate bodies in Python (ledger_service/api/offload.py): the
    # loop waits for the GIL at most this long each time it wants it back, not CPython's default 5 ms.
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    config = uvicorn_config(
        create_app(settings), host, port, EdgeLimits.of(settings), log_level="info", access_log=False
    )
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        raise SystemExit(3)  # what uvicorn.run exits with when start-up fails
