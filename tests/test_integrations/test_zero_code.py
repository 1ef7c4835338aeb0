"""Zero-code: an app started with `opentelemetry-instrument` records usage with no change but naming the tenant.

The app below never calls configure() nor instruments anything: the distro's auto-instrumentation loads our
instrumentors from their entry points (beside the contrib OpenAI one, also installed here) and our
post-instrument hook starts delivery from the USAGE_LEDGER_* environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from harness.standins import OpenAIStandin
from harness.standins import openai as openai_standin
from tests.conftest import TEST_INGEST_KEY
from tests.support.postgres import SQL
from tests.support.server import RunningLedger

APP = textwrap.dedent("""
    import sys
    import openai
    from usage_ledger_client import usage_tenant

    client = openai.OpenAI(api_key="{key}", base_url="{url}/v1", max_retries=0)
    with usage_tenant("t_zero"):  # the one line the app adds: whose usage this is
        completion = client.chat.completions.create(model="m", messages=[{{"role": "user", "content": "hi"}}])
    print(completion.id, completion.usage.total_tokens)
""")


def test_an_app_started_with_opentelemetry_instrument_records_usage(
    ledger: RunningLedger, openai_api: OpenAIStandin, sql: SQL, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "USAGE_LEDGER_URL": ledger.url,
        "USAGE_LEDGER_INGEST_KEY": TEST_INGEST_KEY,
        "USAGE_LEDGER_SPOOL_DIR": str(tmp_path / "spool"),
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
    }
    instrument = str(Path(sys.executable).parent / "opentelemetry-instrument")
    app = APP.format(key=openai_standin.API_KEY, url=openai_api.url)
    done = subprocess.run(
        [instrument, sys.executable, "-c", app], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    response_id, total = done.stdout.split()
    rows = sql.fetch("SELECT tenant_id, event_type, units, idempotency_key FROM usage_ledger")
    assert [dict(r) for r in rows] == [
        {"tenant_id": "t_zero", "event_type": "ai_message", "units": int(total), "idempotency_key": response_id}
    ]
