"""Shared bench plumbing: a PostgreSQL database, a ledger service process, JSON results."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from ledger_service.storage.embedded import embedded_database_url

# BENCH_RESULTS_DIR lets a smoke run (tests/test_bench) write elsewhere than the figures people read.
RESULTS_DIR = Path(os.environ.get("BENCH_RESULTS_DIR") or Path(__file__).parent / "results")
BENCH_INGEST_KEY = "bench-ingest-key"


@contextmanager
def bench_database() -> Iterator[str]:
    """A fresh database on DATABASE_URL's server, or on an embedded server in a temp dir."""
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as tmp:
        admin = os.environ.get("DATABASE_URL") or embedded_database_url(
            Path(tmp), database="postgres", delete_on_exit=True
        )
        name = f"bench_{uuid.uuid4().hex[:10]}"
        asyncio.run(_admin(admin, f'CREATE DATABASE "{name}"'))
        try:
            yield urlunsplit(urlsplit(admin)._replace(path=f"/{name}"))
        finally:
            asyncio.run(_admin(admin, f'DROP DATABASE "{name}" WITH (FORCE)'))


async def _admin(dsn: str, statement: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def ledger_process(database_url: str, port: int | None = None) -> Iterator[str]:
    """`usage-ledger serve` in its own process, as in production; yields its base URL.

    A free port unless one is given; if the process dies (say the port was taken) this raises instead of
    measuring whatever else answers there.
    """
    port = port or free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "LEDGER_INGEST_KEYS": BENCH_INGEST_KEY}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ledger_service.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def wait_ready(url: str, proc: subprocess.Popen[Any] | None = None, timeout: float = 60.0) -> None:
    """Until `url`/readyz answers 200; raises if `proc` (the ledger's process) exits first or time runs out.

    Shared with tests/support/processes.py, which starts ledgers the same way for the fault tests.
    """
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


def machine() -> dict[str, object]:
    return {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": sys.platform}


def write_results(name: str, results: dict[str, object]) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **results}, indent=2, default=str))
    return path
