"""The usage-ledger command and the settings it reads from the environment."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest
from pydantic import ValidationError

from bench.harness import free_port, wait_ready
from ledger_service.settings import Settings
from tests.support.postgres import SQL


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ledger_service.cli", *args],
        capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_help_explains_each_command() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("serve", "migrate", "demo"):
        assert command in result.stdout
    assert "DATABASE_URL" in result.stdout


def test_migrate_against_database_url(database_url: str, sql: SQL, storage: str) -> None:
    result = run_cli("migrate", env={"DATABASE_URL": database_url})
    assert result.returncode == 0, result.stderr
    assert f"database is migrated ({storage} storage)" in result.stdout
    assert sql.fetchval("SELECT count(*) FROM schema_migrations") >= 3


def test_serve_refuses_default_keys_on_a_public_address() -> None:
    result = run_cli("serve", "--host", "0.0.0.0", env={"LEDGER_INGEST_KEYS": "", "DATABASE_URL": "postgresql://x/y"})
    assert result.returncode != 0
    assert "set LEDGER_INGEST_KEYS" in result.stderr


def test_ingest_keys_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_INGEST_KEYS", " k1, k2 ,,")
    assert Settings().ingest_key_values() == ["k1", "k2"]


def test_dedup_retention_must_outlast_the_late_window() -> None:
    with pytest.raises(ValidationError, match="greater than late_window_days"):
        Settings(late_window_days=35, dedup_retention_days=30)


def test_serve_and_probe(database_url: str, storage: str) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with subprocess.Popen(
        [sys.executable, "-m", "ledger_service.cli", "serve", "--port", url.rsplit(":", 1)[1]],
        env={**os.environ, "DATABASE_URL": database_url}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    ) as proc:  # fmt: skip
        try:
            wait_ready(url, proc)
            assert httpx.get(f"{url}/readyz").json() == {"ready": True, "storage": storage}
            assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
            schema = httpx.get(f"{url}/schema/openapi.json").json()
            assert "/api/usage/events" in schema["paths"]
        finally:
            proc.terminate()
            proc.wait(timeout=30)
