"""A loopback TCP proxy that injects network faults between the client library and the ledger.

Below HTTP: it sees bytes, not requests. For each chunk the client sends it may (seeded RNG):
- drop: reset both connections before forwarding it (the ledger never sees the request, or only part);
- cut: forward it, then pass on only the first bytes of the ledger's answer and reset (the ledger
  committed; the client saw a broken response);
- stall: forward it and swallow the answer (the ledger committed; the client times out);
- delay: hold it for a while, then forward it.
Faults stop when `calm()` is called, so the test can finish; `counts` says what was injected.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

FAULTS = ("drop", "cut", "stall", "delay")


@dataclass
class _Conn:
    client: socket.socket
    upstream: socket.socket
    cut: bool = False
    stall: bool = False
    closed: threading.Event = field(default_factory=threading.Event)

    def reset(self) -> None:
        """Close both ends with RST (SO_LINGER 0), as a crashed middlebox or a cut cable would."""
        if self.closed.is_set():
            return
        self.closed.set()
        for sock in (self.client, self.upstream):
            with suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()


class FaultyTcpProxy:
    def __init__(self, target_port: int, *, seed: int, rates: dict[str, float]) -> None:
        self.target_port = target_port
        self.rates = rates
        self.counts: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._faulty = True
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._spawn(self._accept_loop)

    def calm(self) -> None:
        """From now on every byte is forwarded untouched."""
        with self._lock:
            self._faulty = False

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _roll(self) -> str | None:
        with self._lock:
            if not self._faulty:
                return None
            draw = self._rng.random()
            for fault in FAULTS:
                draw -= self.rates.get(fault, 0.0)
                if draw < 0:
                    self.counts[fault] += 1
                    return fault
            return None

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):
                sock.settimeout(0.5)
            conn = _Conn(client, upstream)
            self._spawn(self._client_to_upstream, conn)
            self._spawn(self._upstream_to_client, conn)

    def _recv(self, conn: _Conn, sock: socket.socket) -> bytes | None:
        """The next chunk; b"" at EOF or on error; None when nothing arrived yet."""
        try:
            return sock.recv(65536)
        except TimeoutError:
            return None if not (self._stop.is_set() or conn.closed.is_set()) else b""
        except OSError:
            return b""

    def _client_to_upstream(self, conn: _Conn) -> None:
        while (chunk := self._recv(conn, conn.client)) != b"":
            if chunk is None:
                continue
            fault = self._roll()
            if fault == "drop":
                conn.reset()
                return
            if fault == "delay":
                time.sleep(self._rng.uniform(0.05, 0.5))
            conn.cut, conn.stall = fault == "cut", fault == "stall"
            try:
                conn.upstream.sendall(chunk)
            except OSError:
                break
        conn.reset()

    def _upstream_to_client(self, conn: _Conn) -> None:
        while (chunk := self._recv(conn, conn.upstream)) != b"":
            if chunk is None:
                continue
            if conn.stall:
                continue  # swallowed: the client waits for an answer that never comes, and times out
            try:
                if conn.cut:
                    conn.client.sendall(chunk[: max(1, min(len(chunk) // 2, 40))])  # part of the status line
                    break
                conn.client.sendall(chunk)
            except OSError:
                break
        conn.reset()


@contextmanager
def faulty_proxy(target_url: str, *, seed: int, rates: dict[str, float]) -> Iterator[FaultyTcpProxy]:
    proxy = FaultyTcpProxy(int(target_url.rsplit(":", 1)[1]), seed=seed, rates=rates)
    try:
        yield proxy
    finally:
        proxy.close()
