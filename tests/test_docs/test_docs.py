"""The docs cannot drift: every command block in them is run here, run by CI, or covered by a named test."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from ledger_service.apidocs import with_reference
from ledger_service.settings import DEV_ADMIN_KEY, DEV_INGEST_KEY, Settings
from tests.support.postgres import SQL
from tests.support.server import RunningLedger, start_ledger
from tests.test_docs.markdown import COMMAND_LANGUAGES, ROOT, Block, blocks

ALL = blocks()
RUN = [b for b in ALL if b.kind == "run"]
DOC_URL = re.compile(r"http://(?:127\.0\.0\.1|localhost):8000")


def test_every_command_block_says_how_it_is_exercised() -> None:
    for block in ALL:
        assert block.kind in {"run", "ci", "test", "example"}, f"{block.id}: unmarked ```{block.lang} block"
        if block.kind == "example":
            assert block.lang not in COMMAND_LANGUAGES, f"{block.id}: a {block.lang} block must be run or tested"
        if block.kind == "test":
            path, _, name = block.mark.split()[1].partition("::")
            assert re.search(rf"^def {name}\(", (ROOT / path).read_text(), re.M), f"{block.id}: no {path}::{name}"
        if block.kind == "ci":
            assert block.body.strip() in (ROOT / ".ci/run").read_text(), f"{block.id}: .ci/run does not run it"


@pytest.fixture
def doc_ledger(settings: Settings) -> Iterator[RunningLedger]:
    """The service as the docs describe it (`make run`): the development ingest key, admin key and secret."""
    development = {"ingest_keys": [SecretStr(DEV_INGEST_KEY)], "admin_keys": [SecretStr(DEV_ADMIN_KEY)]}
    running = start_ledger(settings.model_copy(update=development))
    try:
        yield running
    finally:
        running.stop()


def _env(ledger: RunningLedger, tmp_path: Path) -> dict[str, str]:
    # PATH as a fresh shell has it: without the virtualenv's bin, which `make run` does not activate.
    bin_dir = str(Path(sys.executable).parent)
    path = ":".join(p for p in os.environ["PATH"].split(":") if p and Path(p) != Path(bin_dir))
    return {
        **os.environ,
        "PATH": path,
        "DATABASE_URL": ledger.settings.database_url or "",
        "LEDGER_PORT": ledger.url.rsplit(":", 1)[1],
        "USAGE_LEDGER_URL": ledger.url,
        "USAGE_LEDGER_INGEST_KEY": DEV_INGEST_KEY,
        "USAGE_LEDGER_SPOOL_DIR": str(tmp_path / "spool"),
    }


@pytest.mark.parametrize("block", [b for b in RUN if b.lang in ("sh", "bash")], ids=lambda b: b.id)
def test_shell_block_runs(block: Block, doc_ledger: RunningLedger, tmp_path: Path) -> None:
    script = DOC_URL.sub(doc_ledger.url, block.body)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        env=_env(doc_ledger, tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"{block.id}:\n{script}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


@pytest.mark.parametrize("block", [b for b in RUN if b.lang == "python"], ids=lambda b: b.id)
def test_python_block_runs(block: Block, doc_ledger: RunningLedger, tmp_path: Path) -> None:
    code = DOC_URL.sub(doc_ledger.url, block.body)
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=_env(doc_ledger, tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"{block.id}:\n{code}\n--- stderr\n{result.stderr}"


@pytest.mark.parametrize("block", [b for b in RUN if b.lang == "sql"], ids=lambda b: b.id)
def test_sql_block_runs(block: Block, doc_ledger: RunningLedger, sql: SQL) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(sql.dsn)
        try:
            await conn.execute(block.body)
        finally:
            await conn.close()

    asyncio.run(run())


def test_the_api_reference_in_replit_md_is_current() -> None:
    text = (ROOT / "replit.md").read_text()
    assert with_reference(text) == text, "run: python -m ledger_service.apidocs replit.md"


def test_the_settings_table_lists_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `((?:LEDGER|DATABASE)_\w+)`", readme, re.M))
    documented |= set(re.findall(r"^\| `LEDGER_\w+`, `(LEDGER_\w+)`", readme, re.M))
    expected = {"DATABASE_URL"} | {f"LEDGER_{name.upper()}" for name in Settings.model_fields if name != "database_url"}
    assert documented == expected


def test_make_run_serves_the_demo_on_an_embedded_database(tmp_path: Path) -> None:
    """`make run` from the README, as a newcomer runs it: no DATABASE_URL, nothing installed by hand."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {"LEDGER_PORT": "18741", "LEDGER_DATA_DIR": str(tmp_path / "data")}
    log = tmp_path / "make-run.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["make", "--no-print-directory", "run"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        output = _wait_for(log, proc, "Uvicorn running", timeout=240)
        page = re.search(r"t_acme\s+(http://\S+)", output)
        assert page is not None, output
        _a_second_make_run_fails_at_once(env)
        with httpx.Client(timeout=30, follow_redirects=True) as http:
            assert http.get("http://127.0.0.1:18741/readyz").json()["ready"] is True
            http.get(page.group(1))
            usage = http.get("http://127.0.0.1:18741/settings/billing/usage")
        assert usage.status_code == 200 and "t_acme" in usage.text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    # Stopping the service stops the PostgreSQL it started: nothing is left running, and a stop that was
    # asked for is not reported as an error.
    _wait_gone(tmp_path / "data" / "pg" / "postmaster.pid", timeout=30)
    assert "Error" not in log.read_text().split("Uvicorn running", 1)[1], log.read_text()[-2000:]


def _a_second_make_run_fails_at_once(env: dict[str, str]) -> None:
    second = subprocess.run(
        ["make", "--no-print-directory", "run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert second.returncode != 0
    assert "already running" in second.stderr, second.stderr
    assert "demo data" not in second.stdout and "token=" not in second.stdout  # nothing seeded, no links


def _wait_gone(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while path.exists():
        assert time.monotonic() < deadline, f"{path} still there: the embedded server was left running"
        time.sleep(0.2)


def _wait_for(log: Path, proc: subprocess.Popen[bytes], needle: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while needle not in (seen := log.read_text()):
        if time.monotonic() > deadline or proc.poll() is not None:
            raise AssertionError(f"{needle!r} never printed:\n{seen}")
        time.sleep(0.2)
    return seen
