"""Loopback ports and readiness: how tests and benchmarks start a ledger process and wait for it."""

from __future__ import annotations

import socket
import subprocess
import time
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_ready(url: str, proc: subprocess.Popen[Any] | None = None, timeout: float = 60.0) -> None:
    """Until `url`/readyz answers 200; raises if `proc` (the ledger's process) exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the ledger for {url} exited with {proc.returncode} before it was ready")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the ledger at {url} did not become ready in {timeout} s")
