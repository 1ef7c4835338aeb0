"""A loopback HTTP proxy in front of the real ledger that can misbehave on purpose.

Modes, per request: forward; answer a status itself without forwarding (503, 429 + Retry-After); or
forward, let the ledger commit, then close the connection before the client reads the answer (the
"timeout after commit" that makes a client resend a delivered batch).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx


@dataclass
class Behaviour:
    mode: str = "forward"  # forward | status | cut_after_commit
    status: int = 503
    retry_after: str | None = None
    times: int | None = None  # None: every request; n: the next n requests, then forward
    seen: list[str] = field(default_factory=list)  # mode applied to each request, in order


class LedgerProxy:
    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.behaviour = Behaviour()
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=30)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="ledger-proxy", daemon=True)
        self._thread.start()

    def set(self, **changes: object) -> None:
        with self._lock:
            self.behaviour = Behaviour(**changes)  # type: ignore[arg-type]

    def _next_mode(self) -> Behaviour:
        with self._lock:
            b = self.behaviour
            mode = b.mode
            if b.times is not None:
                if b.times <= 0:
                    mode = "forward"
                b.times -= 1
            b.seen.append(mode)
            return Behaviour(mode, b.status, b.retry_after)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._http.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                behaviour = proxy._next_mode()
                if behaviour.mode == "status":
                    self._answer(behaviour.status, b'{"detail": "proxy says no"}', behaviour.retry_after)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")}
                try:
                    answer = proxy._http.post(proxy.target + self.path, content=body, headers=headers)
                except httpx.HTTPError:
                    self._answer(502, b"{}", None)
                    return
                if behaviour.mode == "cut_after_commit":
                    # The ledger has answered, so it committed; the client never hears about it.
                    self.close_connection = True
                    return
                self._answer(answer.status_code, answer.content, answer.headers.get("retry-after"))

            def _answer(self, status: int, body: bytes, retry_after: str | None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.end_headers()
                self.wfile.write(body)

        return Handler


@contextmanager
def ledger_proxy(target: str) -> Iterator[LedgerProxy]:
    proxy = LedgerProxy(target)
    try:
        yield proxy
    finally:
        proxy.close()
