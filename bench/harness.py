"""Shared bench plumbing: a PostgreSQL database, a ledger service process, JSON results."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from harness.processes import free_port, wait_ready
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


def machine() -> dict[str, object]:
    return {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": sys.platform}


def write_results(name: str, results: dict[str, object]) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **results}, indent=2, default=str))
    return path
