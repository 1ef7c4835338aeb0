"""Forked workers, one of them killed -9 mid-stream: gunicorn --preload, a multiprocessing pool, a prefork parent.

The client is configured in the parent before the fork (the case that used to leave children with no
delivery at all). Durable mode: every call that returned lands exactly once, the killed worker's included
(its spool is adopted by a later process on the host). Memory mode: every event of the workers that exit
normally lands exactly once (the killed one's may be lost: that is what memory mode means).

Each test prints its counts (`pytest -s tests/test_otel/test_fork.py`): calls that returned, rows stored.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from harness.processes import free_port
from tests.support.postgres import SQL
from tests.support.processes import ROOT
from tests.support.server import RunningLedger
from tests.test_otel.conftest import child_env

pytestmark = pytest.mark.slow
MODES = pytest.mark.parametrize("durable", [True, False], ids=["durable", "memory"])


@dataclass
class Stream:
    """What the workers acknowledged (key -> pid), what was tried, and which pid was killed."""

    answered: dict[str, int] = field(default_factory=dict)
    attempted: set[str] = field(default_factory=set)
    victim: int = 0

    def read(self, line: str) -> None:
        words = line.split()
        if words[:1] == ["answered"]:
            self.answered[words[2]] = int(words[1])
        elif words[:1] == ["attempted"]:
            self.attempted.add(words[1])
        elif words[:1] == ["victim"]:
            self.victim = int(words[1])


def check(name: str, durable: bool, stream: Stream, sql: SQL) -> None:
    stored = [r["idempotency_key"] for r in sql.fetch("SELECT idempotency_key FROM usage_ledger")]
    distinct = set(stored)
    must = {k for k, pid in stream.answered.items() if durable or pid != stream.victim}
    print(
        f"\n{name} ({'durable' if durable else 'memory'}): {len(stream.answered)} calls returned "
        f"({len(must)} must land), {len(stored)} rows stored ({len(distinct)} distinct), "
        f"missing {len(must - distinct)}, killed pid {stream.victim}"
    )
    assert stream.victim and any(pid == stream.victim for pid in stream.answered.values()), "nobody was killed"
    assert len(stored) == len(distinct), "an event was stored twice"
    assert not must - distinct, f"{len(must - distinct)} acknowledged events lost, e.g. {sorted(must - distinct)[:5]}"
    assert distinct <= stream.attempted | set(stream.answered), "rows nobody recorded"


def wait_for_rows(sql: SQL, keys: set[str], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stored = {r["idempotency_key"] for r in sql.fetch("SELECT idempotency_key FROM usage_ledger")}
        if keys <= stored:
            return
        time.sleep(0.2)


# --- gunicorn -------------------------------------------------------------------------------------


def _drive(url: str, stream: Stream, stop: threading.Event, worker: int) -> None:
    n = 0
    with httpx.Client(timeout=10) as http:
        while not stop.is_set():
            key = f"g{worker}-{n}"
            n += 1
            stream.attempted.add(key)
            try:
                answer = http.get(f"{url}/?{key}")
            except httpx.HTTPError:
                continue  # the killed worker's request: not acknowledged
            if answer.status_code == 200:
                pid, _ = answer.text.split()
                stream.answered[key] = int(pid)


def _wait_serving(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("gunicorn did not start")


@MODES
def test_gunicorn_preload_with_four_workers_one_killed(
    durable: bool, ledger: RunningLedger, sql: SQL, tmp_path: Path
) -> None:
    env = {**child_env(tmp_path / "spool"), "USAGE_LEDGER_URL": ledger.url, "USAGE_LEDGER_DURABLE": str(int(durable))}
    url = f"http://127.0.0.1:{free_port()}"
    args = ["--preload", "--workers", "4", "--bind", url.removeprefix("http://"), "--graceful-timeout", "30"]
    with (tmp_path / "gunicorn.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", *args, "tests.test_otel.wsgi_app:app"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    stream, stop = Stream(), threading.Event()
    try:
        _wait_serving(url, proc)
        drivers = [threading.Thread(target=_drive, args=(url, stream, stop, w)) for w in range(4)]
        for driver in drivers:
            driver.start()
        _until(lambda: len(stream.answered) >= 400)
        stream.victim = next(pid for pid in stream.answered.values() if pid != proc.pid)
        os.kill(stream.victim, signal.SIGKILL)
        seen = len(stream.answered)
        _until(lambda: len(stream.answered) >= seen + 800)  # the stream goes on; the master forks a new worker
        stop.set()
        for driver in drivers:
            driver.join(timeout=30)
        if durable:  # the killed worker's spool is delivered by a process still running
            wait_for_rows(sql, set(stream.answered))
    finally:
        proc.send_signal(signal.SIGTERM)  # graceful: the workers exit normally, flushing as they go
        proc.wait(timeout=60)
    check("gunicorn --preload -w 4", durable, stream, sql)


def _until(condition: object, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the stream stalled"
        time.sleep(0.02)


# --- multiprocessing pool and plain fork: scripts run as their own process ------------------------

POOL = textwrap.dedent("""
    import multiprocessing, os, signal, sys, usage_ledger_client
    usage_ledger_client.configure(max_delay=0.05, backoff_initial=0.05, backoff_max=0.5, adopt_interval=0.5)
    KILL_AT = 150

    def say(*words):  # one write per line: several processes share this pipe
        os.write(1, (" ".join(map(str, words)) + "\\n").encode())

    def task(n):
        key = f"pool-{n}"
        usage_ledger_client.record_usage_event("t_pool", "openai", "ai_message", 1, idempotency_key=key)
        if n == KILL_AT:
            say("victim", os.getpid())
            os.kill(os.getpid(), signal.SIGKILL)  # after its event was recorded, before its answer
        return os.getpid(), key

    if __name__ == "__main__":
        pool = multiprocessing.get_context("fork").Pool(4)
        results = [(n, pool.apply_async(task, (n,))) for n in range(600)]
        for n, result in results:
            say("attempted", f"pool-{n}")
            if n == KILL_AT:
                continue
            pid, key = result.get(timeout=60)
            say("answered", pid, key)
        # multiprocessing.Pool never settles the task of a killed worker, so close()/join() would wait for
        # it forever; an app marks it failed (billiard does this for Celery) and the pool can wind down.
        results[KILL_AT][1]._set(0, (False, RuntimeError("worker killed")))
        pool.close()
        pool.join()  # the other workers end normally: multiprocessing's exit hooks flush them
        assert usage_ledger_client.flush(timeout=90)  # and the parent adopts the killed worker's spool
""")

PREFORK = textwrap.dedent("""
    import os, signal, sys, time, usage_ledger_client
    usage_ledger_client.configure(max_delay=0.05, backoff_initial=0.05, backoff_max=0.5, adopt_interval=0.5)

    def say(*words):  # one write per line: several processes share this pipe
        os.write(1, (" ".join(map(str, words)) + "\\n").encode())

    def child(worker):
        for n in range(400):
            key = f"fork{worker}-{n}"
            say("attempted", key)
            usage_ledger_client.record_usage_event("t_fork", "twilio", "call_out", 1, idempotency_key=key)
            say("answered", os.getpid(), key)
            if worker == 0 and n == 150:
                say("victim", os.getpid())
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(0.002)
        sys.exit(0)  # a normal exit: the interpreter's exit hooks flush

    children = []
    for worker in range(4):
        pid = os.fork()
        if pid == 0:
            child(worker)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    assert usage_ledger_client.flush(timeout=90)  # the parent adopts the killed child's spool
""")


@pytest.mark.parametrize("script", [POOL, PREFORK], ids=["multiprocessing_pool", "prefork"])
@MODES
def test_forked_workers_one_killed(script: str, durable: bool, ledger: RunningLedger, sql: SQL, tmp_path: Path) -> None:
    env = {**child_env(tmp_path / "spool"), "USAGE_LEDGER_URL": ledger.url, "USAGE_LEDGER_DURABLE": str(int(durable))}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    stream = Stream()
    for line in done.stdout.splitlines():
        stream.read(line)
    check("multiprocessing pool" if script is POOL else "prefork (os.fork)", durable, stream, sql)
