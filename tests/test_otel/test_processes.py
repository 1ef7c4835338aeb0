"""Whole processes: kill -9 in durable mode loses nothing; a normal exit flushes without being asked."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support.postgres import SQL
from tests.support.server import RunningLedger
from tests.test_otel.conftest import child_env
from tests.test_otel.proxy import ledger_proxy

RECORD_THEN_HANG = textwrap.dedent("""
    import sys, time, usage_ledger_client
    usage_ledger_client.configure(durable=True, max_delay=0.05, backoff_initial=0.05, backoff_max=0.2)
    for n in range(int(sys.argv[1])):
        usage_ledger_client.record_usage_event("t_kill", "twilio", "call_out", 1, {"n": n})
    print("recorded", flush=True)
    time.sleep(600)
""")

FLUSH_SPOOL = textwrap.dedent("""
    import usage_ledger_client
    usage_ledger_client.configure(max_delay=0.05)
    flushed = usage_ledger_client.flush(timeout=120)
    print("flushed" if flushed else "not flushed", usage_ledger_client.metrics().sent, flush=True)
""")

RECORD_AND_EXIT = textwrap.dedent("""
    import usage_ledger_client
    usage_ledger_client.configure(max_delay=30)  # a long delay: only the exit hook can send these in time
    for n in range(500):
        usage_ledger_client.record_usage_event("t_exit", "openai", "ai_message", 10)
""")


def run(script: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True, timeout=180)


def test_sigkill_in_durable_mode_loses_nothing(ledger: RunningLedger, sql: SQL, tmp_path: Path) -> None:
    env = child_env(tmp_path / "spool")
    with ledger_proxy(ledger.url) as proxy:
        # The ledger is "down" while the first process runs, so every event is still only on its disk.
        proxy.set(mode="status", status=503)
        env["USAGE_LEDGER_URL"] = proxy.url
        child = subprocess.Popen(
            [sys.executable, "-c", RECORD_THEN_HANG, "2000"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "recorded"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL
        assert sql.fetchval("SELECT count(*) FROM usage_ledger") == 0
        assert "status" in proxy.behaviour.seen  # the child did try, and was refused

        proxy.set(mode="forward")
        second = run(FLUSH_SPOOL, env)
        assert second.returncode == 0, second.stderr
        assert second.stdout.split()[:2] == ["flushed", "2000"]
    assert sql.fetchval("SELECT count(*) FROM usage_ledger WHERE tenant_id = 't_kill'") == 2000
    assert sql.fetchval("SELECT count(DISTINCT idempotency_key) FROM usage_ledger") == 2000


def test_interpreter_exit_flushes_without_being_asked(ledger: RunningLedger, sql: SQL, tmp_path: Path) -> None:
    env = {**child_env(tmp_path / "spool"), "USAGE_LEDGER_URL": ledger.url}
    done = run(RECORD_AND_EXIT, env)
    assert done.returncode == 0, done.stderr
    assert sql.fetchval("SELECT count(*) FROM usage_ledger WHERE tenant_id = 't_exit'") == 500
    assert sql.fetchval("SELECT sum(units) FROM usage_ledger") == 5000
