"""HTTP/1.1 by hand over sockets: attacks need to send what no well-behaved client library would (a head or a
body that never ends, lengths that lie, a byte a second), and to see exactly what the server does about it."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from twilio.request_validator import RequestValidator

from harness.standins import twilio as twilio_standin

T = TypeVar("T")
CLOSED = "closed"  # the server closed the connection without an answer (what a cut connection looks like)
TIMEOUT = "no answer"


def head(method: str, path: str, headers: Mapping[str, str], port: int) -> bytes:
    """A request head; Host names the port as a client would (Twilio signs the URL, port included)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def status_of(sock: socket.socket, timeout: float) -> int | str:
    """The status of the answer on `sock` (read to its end), CLOSED or TIMEOUT."""
    sock.settimeout(timeout)
    answer = b""
    try:
        while chunk := sock.recv(65536):
            answer += chunk
            if b"\r\n\r\n" in answer and _complete(answer):
                break
    except TimeoutError:
        return TIMEOUT if not answer else int(answer[9:12])
    except ConnectionError:
        pass
    return int(answer[9:12]) if answer.startswith(b"HTTP/1.1 ") else CLOSED


def _complete(answer: bytes) -> bool:
    head_part, _, body = answer.partition(b"\r\n\r\n")
    for line in head_part.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return False


def request(port: int, raw: bytes, timeout: float = 30.0) -> int | str:
    """Send `raw` (head and body) on a new connection, return the answer's status."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(ConnectionError):  # the server answered early and closed as we sent
            sock.sendall(raw)
        return status_of(sock, timeout)


def post(port: int, path: str, headers: Mapping[str, str], body: bytes, timeout: float = 30.0) -> int | str:
    return request(port, head("POST", path, {**headers, "Content-Length": str(len(body))}, port) + body, timeout)


def in_parallel(calls: Iterable[Callable[[], T]], workers: int) -> list[T]:
    """Run each zero-argument callable on a pool of `workers` threads; their results in order."""
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda call: call(), calls))


def twilio_signature(url: str, params: Mapping[str, str]) -> str:
    signature: str = RequestValidator(twilio_standin.AUTH_TOKEN).compute_signature(url, dict(params))
    return signature


class SlowClients:
    """`count` connections that each send `prefix`, then one byte every `interval` seconds, never finishing."""

    def __init__(self, port: int, count: int, prefix: bytes, interval: float = 0.5) -> None:
        self.port = port
        self.count = count
        self.prefix = prefix
        self.interval = interval
        self.opened = 0
        self.cut: list[float] = []  # seconds each connection lived before the server closed it

    def run(self, seconds: float, trickle: bytes = b"a") -> None:
        socks: dict[socket.socket, float] = {}
        for _ in range(self.count):
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            sock.setblocking(False)
            if self.prefix:
                sock.send(self.prefix)
            socks[sock] = time.monotonic()
            self.opened += 1
        deadline = time.monotonic() + seconds
        while socks and time.monotonic() < deadline:
            for sock, opened in list(socks.items()):
                if self._closed_by_server(sock, trickle):
                    self.cut.append(time.monotonic() - opened)
                    del socks[sock]
                    sock.close()
            time.sleep(self.interval)
        for sock in socks:
            sock.close()

    @staticmethod
    def _closed_by_server(sock: socket.socket, trickle: bytes) -> bool:
        try:
            if sock.recv(65536) == b"":
                return True
        except BlockingIOError:
            pass
        except OSError:
            return True
        try:
            sock.send(trickle)
        except BlockingIOError:
            pass
        except OSError:
            return True
        return False
