"""A small real HTTP server on loopback for the provider stand-ins: routes, a request log, replies on demand."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    chunks: Iterator[bytes] | None = None  # streamed (SSE) instead of `body` when set

    @classmethod
    def json(cls, status: int, document: object, **headers: str) -> Reply:
        return cls(status, json.dumps(document).encode(), {"Content-Type": "application/json", **headers})


Route = Callable[[Request], Reply]


class StandinServer:
    """Serves `routes` ({(method, path regex): handler}) on 127.0.0.1 until stop()."""

    def __init__(self, routes: dict[tuple[str, str], Route]) -> None:
        self.routes = routes
        self.requests: list[Request] = []
        self._queued: list[Reply] = []
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="standin", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def respond_next(self, reply: Reply) -> None:
        """The next request gets `reply` (a provider error, an odd answer) instead of the normal one."""
        with self._lock:
            self._queued.append(reply)

    def reset(self) -> None:
        with self._lock:
            self._queued.clear()
            self.requests.clear()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def answer(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self._queued:
                return self._queued.pop(0)
        path = request.path.split("?", 1)[0]
        for (method, pattern), route in self.routes.items():
            if request.method == method and re.fullmatch(pattern, path):
                return route(request)
        return Reply.json(404, {"error": f"no stand-in route for {request.method} {path}"})


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # A client closing a kept-alive connection is normal; anything else would show up as a failed call.
        return


def _handler_for(server: StandinServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle + delayed ACK add ~40 ms.
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            self._send(server.answer(request))

        do_GET = do_POST = do_DELETE = _serve

        def _send(self, reply: Reply) -> None:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.chunks is None:
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
                return
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in reply.chunks:
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")

        def log_message(self, format: str, *args: object) -> None:  # quiet: pytest shows failures, not traffic
            return

    return Handler
