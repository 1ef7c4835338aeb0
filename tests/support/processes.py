"""Whole processes for fault tests: the ledger as `usage-ledger serve` (so it can be SIGKILLed) and client children."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from harness.processes import free_port, wait_ready
from tests.conftest import TEST_ADMIN_KEY, TEST_INGEST_KEY

ROOT = Path(__file__).resolve().parents[2]
# Short delays keep the fault tests quick; they are still real timers, never asserted on.
FAST = {"max_delay": 0.05, "backoff_initial": 0.05, "backoff_max": 0.5, "http_timeout": 5.0, "exit_timeout": 10.0}


def child_env(spool_dir: Path) -> dict[str, str]:
    """Environment for a child Python process that uses the client library from this checkout."""
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "USAGE_LEDGER_SPOOL_DIR": str(spool_dir),
        "USAGE_LEDGER_INGEST_KEY": TEST_INGEST_KEY,
    }


class LedgerProcess:
    """`python -m ledger_service.cli serve` on a fixed loopback port, killable and restartable on that port."""

    def __init__(self, database_url: str, log_path: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": database_url,
            "LEDGER_INGEST_KEYS": TEST_INGEST_KEY,
            "LEDGER_ADMIN_KEYS": TEST_ADMIN_KEY,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, wait: bool = True) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ledger_service.cli", "serve", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1
        if wait:
            wait_ready(self.url, proc=self.proc)

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, open transactions and half-written answers are simply cut."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
