"""Client processes for the fault tests: each records a known stream of events with its own idempotency keys.

Every event's key is `<name>-<n>` and its units `1 + n % 7`, so the test knows exactly which keys and how
many units the ledger must hold, whatever happened on the way.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.postgres import SQL
from tests.support.processes import child_env

# argv: name, first n, count, events per second, durable (0/1), flush timeout in seconds.
STREAM = textwrap.dedent("""
    import json, sys, time, usage_ledger_client
    name, first, count, rate, durable, flush_timeout = sys.argv[1:7]
    first, count, rate = int(first), int(count), float(rate)
    usage_ledger_client.configure(durable=durable == "1", batch_size=200, max_delay=0.05, backoff_initial=0.05,
                   backoff_max=0.5, http_timeout=3.0, exit_timeout=1.0)
    start = time.monotonic()
    for i in range(count):
        n = first + i
        usage_ledger_client.record_usage_event(f"t_{name}", "twilio", "sms_outbound", 1 + n % 7, {"n": n},
                                idempotency_key=f"{name}-{n}")
        # In durable mode the event is on disk once record_usage_event returns: this line is the receipt.
        print(f"recorded {n}", flush=True)
        pause = start + (i + 1) / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    flushed = usage_ledger_client.flush(timeout=float(flush_timeout))
    m = usage_ledger_client.metrics()
    print("RESULT " + json.dumps({"flushed": flushed, "sent": m.sent, "duplicates": m.duplicates,
                                  "retries": m.retries, "rejected": m.rejected, "spooled": m.spooled}), flush=True)
""")


def units_of(n: int) -> int:
    return 1 + n % 7


@dataclass
class Client:
    name: str
    proc: subprocess.Popen[str]

    def result(self, timeout: float = 180.0) -> dict[str, Any]:
        out, err = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, f"client {self.name} failed:\n{err[-3000:]}"
        lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
        assert lines, f"client {self.name} printed no result:\n{err[-3000:]}"
        result: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
        return result


def start_client(
    name: str,
    url: str,
    spool_dir: Path,
    count: int,
    *,
    first: int = 0,
    rate: float = 400.0,
    durable: bool = False,
    flush_timeout: float = 120.0,
) -> Client:
    env = {**child_env(spool_dir), "USAGE_LEDGER_URL": url}
    args = [name, str(first), str(count), str(rate), "1" if durable else "0", str(flush_timeout)]
    proc = subprocess.Popen(
        [sys.executable, "-c", STREAM, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return Client(name, proc)


def expected(streams: dict[str, range]) -> tuple[set[str], int]:
    keys = {f"{name}-{n}" for name, ns in streams.items() for n in ns}
    units = sum(units_of(n) for ns in streams.values() for n in ns)
    return keys, units


def assert_exactly(sql: SQL, keys: set[str], units: int) -> None:
    """The ledger holds exactly these keys, each once, and exactly these units."""
    rows = sql.fetch("SELECT idempotency_key, units FROM usage_ledger")
    stored = [r["idempotency_key"] for r in rows]
    assert len(stored) == len(set(stored)), "some event is stored twice"
    missing, extra = keys - set(stored), set(stored) - keys
    assert not missing, f"{len(missing)} events lost, e.g. {sorted(missing)[:5]}"
    assert not extra, f"{len(extra)} unexpected events, e.g. {sorted(extra)[:5]}"
    assert sum(r["units"] for r in rows) == units
