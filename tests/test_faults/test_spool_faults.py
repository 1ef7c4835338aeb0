"""The client's disk spool full or unwritable: the client says so (log + metric) and keeps what it can.

A child process limits its own file size (RLIMIT_FSIZE, the kernel's EFBIG is what a full disk looks like
to SQLite: "disk I/O error" / "database or disk is full") after the spool exists, while the ledger is
unreachable, so every event must be written somewhere and the spool cannot take them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

import usage_ledger_client
from tests.conftest import TEST_INGEST_KEY
from tests.support.postgres import SQL
from tests.support.processes import child_env
from tests.support.server import RunningLedger
from tests.test_faults.clients import assert_exactly, units_of
from tests.test_otel.proxy import ledger_proxy

EVENTS = 2000

DISK_FULL = textwrap.dedent("""
    import json, logging, resource, signal, sys, time, usage_ledger_client
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    usage_ledger_client.configure(durable=sys.argv[1] == "1", batch_size=100, max_queue=200, max_delay=0.05,
                   backoff_initial=0.05, backoff_max=0.3, http_timeout=2.0)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
    for n in range(int(sys.argv[2])):
        usage_ledger_client.record_usage_event(
            "t_full", "twilio", "call_out", 1 + n % 7, {"n": n}, idempotency_key=f"full-{n}"
        )
    deadline = time.monotonic() + 20
    while usage_ledger_client.metrics().spool_errors < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    def dump(tag, **extra):
        m = usage_ledger_client.metrics()
        print(tag, json.dumps({"queued": m.queued, "spooled": m.spooled, "spool_errors": m.spool_errors,
                               "sent": m.sent, "duplicates": m.duplicates, **extra}), flush=True)
    dump("BEFORE")
    sys.stdin.readline()  # the test brings the ledger back
    dump("AFTER", flushed=usage_ledger_client.flush(timeout=60))
""")


def parse(line: str, tag: str) -> dict[str, Any]:
    assert line.startswith(tag + " "), line
    result: dict[str, Any] = json.loads(line.removeprefix(tag + " "))
    return result


@pytest.mark.parametrize("durable", [True, False], ids=["durable", "memory"])
def test_a_full_disk_is_reported_and_the_events_are_kept_until_the_ledger_has_them(
    ledger: RunningLedger, sql: SQL, tmp_path: Path, durable: bool
) -> None:
    with ledger_proxy(ledger.url) as proxy:
        proxy.set(mode="status", status=503)
        env = {**child_env(tmp_path / "spool"), "USAGE_LEDGER_URL": proxy.url}
        args = [sys.executable, "-c", DISK_FULL, "1" if durable else "0", str(EVENTS)]
        pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
        child = subprocess.Popen(args, env=env, text=True, **pipes)  # type: ignore[call-overload]
        try:
            assert child.stdout is not None and child.stdin is not None
            before = parse(child.stdout.readline(), "BEFORE")
            # Loud: counted in metrics() ...
            assert before["spool_errors"] > 0, before
            # ... and every event is still somewhere: in memory, or in the part of the spool that fit.
            assert before["queued"] + before["spooled"] == EVENTS, before
            proxy.set(mode="forward")
            child.stdin.write("go\n")
            child.stdin.flush()
            after = parse(child.stdout.readline(), "AFTER")
            child.wait(timeout=60)
        finally:
            child.kill()
            _, err = child.communicate(timeout=30)
    assert after["flushed"], after
    # ... and logged, as an error naming the spool, not as a traceback per event.
    assert "ERROR usage_ledger_client.pipeline" in err and "spool" in err, err[-2000:]
    assert err.count("Traceback") <= 5, err[-3000:]
    assert_exactly(sql, {f"full-{n}" for n in range(EVENTS)}, sum(units_of(n) for n in range(EVENTS)))


def test_a_spool_directory_that_cannot_be_created_fails_configure_clearly_and_keeps_the_events(
    ledger: RunningLedger, sql: SQL, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the spool directory should be")
    for n in range(3):  # recorded before delivery is configured: held in memory
        usage_ledger_client.record_usage_event("t_dir", "sendgrid", "email_sent", 1, idempotency_key=f"dir-{n}")
    with pytest.raises(OSError, match="not-a-directory"):
        usage_ledger_client.configure(
            ledger.url, TEST_INGEST_KEY, spool_dir=blocker / "spool", tracer_provider=TracerProvider()
        )
    assert usage_ledger_client.metrics().queued == 3
    usage_ledger_client.configure(
        ledger.url, TEST_INGEST_KEY, spool_dir=tmp_path / "spool", max_delay=0.05, tracer_provider=TracerProvider()
    )
    assert usage_ledger_client.flush(timeout=60)
    assert_exactly(sql, {f"dir-{n}" for n in range(3)}, 3)
