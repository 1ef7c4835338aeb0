"""The usage-ledger command and the settings it reads from the environment."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest
from pydantic import ValidationError

from harness.processes import free_port, wait_ready
from ledger_service.settings import Settings
from tests.support.postgres import SQL


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ledger_service.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


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
    monkeypatch.setenv("LEDGER_INGEST_KEYS", " first-key-0123456789, second-key-0123456789 ,,")
    assert Settings().ingest_key_values() == ["first-key-0123456789", "second-key-0123456789"]


WEAK_SECRETS = {
    "empty secret": {"secret_key": ""},
    "short secret": {"secret_key": "only-twenty-chars-xx"},
    "few characters": {"secret_key": "abcabcabcabcabcabcabcabcabcabcabcabc"},
    "placeholder": {"secret_key": "change-me-a-long-random-secret-of-at-least-32-characters"},
    "short ingest key": {"ingest_keys": "a-long-enough-ingest-key,short-key"},
    "ingest key with a space": {"ingest_keys": "an ingest key with spaces"},
}


@pytest.mark.parametrize("changes", WEAK_SECRETS.values(), ids=WEAK_SECRETS.keys())
def test_weak_secrets_are_refused_naming_the_setting_not_the_value(
    changes: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ((name, value),) = changes.items()
    monkeypatch.setenv(f"LEDGER_{name.upper()}", value)
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert f"LEDGER_{name.upper()}" in str(refused.value)
    assert "short-key" not in str(refused.value) and (not value or value not in str(refused.value))


def test_the_development_defaults_are_fine_on_loopback_only() -> None:
    settings = Settings()  # nothing configured: `make run` works
    settings.check_safe_to_bind("127.0.0.1")
    with pytest.raises(ValueError, match=r"refusing to listen on 0\.0\.0\.0"):
        settings.check_safe_to_bind("0.0.0.0")


def test_dedup_retention_must_outlast_the_late_window() -> None:
    with pytest.raises(ValidationError, match="greater than late_window_days"):
        Settings(late_window_days=35, dedup_retention_days=30)


def test_serve_and_probe(database_url: str, storage: str) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with subprocess.Popen(
        [sys.executable, "-m", "ledger_service.cli", "serve", "--port", url.rsplit(":", 1)[1]],
        env={**os.environ, "DATABASE_URL": database_url},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    ) as proc:
        try:
            wait_ready(url, proc)
            assert httpx.get(f"{url}/readyz").json() == {"ready": True, "storage": storage}
            assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
            schema = httpx.get(f"{url}/schema/openapi.json").json()
            assert "/api/usage/events" in schema["paths"]
        finally:
            proc.terminate()
            proc.wait(timeout=30)
