"""The health probe, run as a process of its own so the attack threads of the test cannot slow it down.

    python -m tests.test_attacks.probe HOST PORT PID

Every INTERVAL seconds it opens a new connection, sends `GET /healthz` and reads the whole answer, timing
that; it also samples the ledger process's RSS. When its stdin closes it prints one JSON line: the probes'
(latency, status) pairs and the RSS samples.
"""

from __future__ import annotations

import json
import select
import socket
import sys
import time

import psutil

INTERVAL = 0.05
TIMEOUT = 5.0
_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n"


def probe_once(host: str, port: int) -> tuple[float, int]:
    """(seconds from connect to the end of the answer, HTTP status or 0 when there was none)."""
    started = time.perf_counter()
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
            sock.sendall(_REQUEST)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
    except OSError:
        return time.perf_counter() - started, 0
    status = int(answer[9:12]) if answer.startswith(b"HTTP/1.1 ") else 0
    return time.perf_counter() - started, status


def main() -> None:
    host, port, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    ledger = psutil.Process(pid)
    probes: list[tuple[float, int]] = []
    rss: list[int] = []
    while not select.select([sys.stdin], [], [], 0)[0]:  # until the test closes our stdin
        probes.append(probe_once(host, port))
        rss.append(ledger.memory_info().rss)
        time.sleep(INTERVAL)
    print(json.dumps({"probes": probes, "rss": rss}))


if __name__ == "__main__":
    main()
