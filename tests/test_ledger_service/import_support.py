"""Files to import and the `usage-ledger import` command as a real process, for the import tests."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.conftest import TEST_ADMIN_KEY
from tests.support.postgres import SQL

_TYPES = (("twilio", "sms_outbound"), ("sendgrid", "email_sent"), ("openai", "ai_message"), ("twilio", "call_minutes"))
_COUNT = re.compile(r"(accepted|duplicates|conflicts|rejected) ([\d,]+)")
CSV_COLUMNS = ("tenantId", "source", "eventType", "units", "idempotencyKey", "occurredAt", "metadata", "traceId")


def events(count: int, prefix: str = "imp", age: timedelta = timedelta(0)) -> list[dict[str, Any]]:
    """`count` distinct events over 5 tenants and 4 types, spread over the last day (less `age`)."""
    now = datetime.now(UTC) - age
    made = []
    for n in range(count):
        source, event_type = _TYPES[n % len(_TYPES)]
        event: dict[str, Any] = {
            "tenantId": f"tenant_{n % 5}",
            "source": source,
            "eventType": event_type,
            "units": 1 + n % 9,
            "idempotencyKey": f"{prefix}-{n}",
            "occurredAt": (now - timedelta(seconds=17 * n % 86_000)).isoformat(),
            "metadata": {"n": n, "note": 'a, "quoted" value'} if n % 3 else {},
        }
        if n % 4 == 0:
            event["traceId"] = f"{n:032x}"
        made.append(event)
    return made


def write_jsonl(path: Path, items: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in items))
    return path


def write_csv(path: Path, items: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for e in items:
            cells = {**e, "metadata": json.dumps(e["metadata"]) if e.get("metadata") else ""}
            writer.writerow([cells.get(name, "") for name in CSV_COLUMNS])
    return path


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str


def cli_env(database_url: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": database_url, "LEDGER_ADMIN_KEYS": TEST_ADMIN_KEY, **extra}


def import_command(path: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "ledger_service.cli", "import", str(path), *args]


def run_import(database_url: str, path: Path, *args: str, **env: str) -> Run:
    done = subprocess.run(
        import_command(path, *args), capture_output=True, text=True, timeout=300, env=cli_env(database_url, **env)
    )
    return Run(done.returncode, done.stdout, done.stderr)


def summary_counts(run: Run) -> dict[str, int]:
    """accepted/duplicates/conflicts/rejected from the summary the command prints."""
    line = next(x for x in run.stdout.splitlines() if x.strip().startswith("accepted"))
    return {name: int(value.replace(",", "")) for name, value in _COUNT.findall(line)}


def stored(sql: SQL) -> dict[tuple[str, str], dict[str, Any]]:
    """The ledger's rows by (tenant, key), in the events' (wire) terms."""
    rows = sql.fetch(
        "SELECT tenant_id, idempotency_key, source, event_type, units, occurred_at, metadata, trace_id"
        " FROM usage_ledger"
    )
    return {
        (r["tenant_id"], r["idempotency_key"]): {
            "tenantId": r["tenant_id"],
            "source": r["source"],
            "eventType": r["event_type"],
            "units": r["units"],
            "idempotencyKey": r["idempotency_key"],
            "occurredAt": r["occurred_at"],
            "metadata": json.loads(r["metadata"]),
            **({"traceId": r["trace_id"]} if r["trace_id"] else {}),
        }
        for r in rows
    }


def expected(items: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (e["tenantId"], e["idempotencyKey"]): {**e, "occurredAt": datetime.fromisoformat(e["occurredAt"])}
        for e in items
    }


def rejected_lines(path: Path) -> list[dict[str, Any]]:
    rejects = path.with_name(path.name + ".rejected.jsonl")
    return [json.loads(line) for line in rejects.read_text().splitlines()] if rejects.exists() else []
