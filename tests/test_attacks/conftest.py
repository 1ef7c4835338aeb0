"""Attacks on a real `usage-ledger serve` over loopback, watched by a health probe in a process of its own.

Every attack runs inside `watch(...)`: the probe asks GET /healthz on a fresh connection every 50 ms and
samples the ledger's RSS. An attack passes when every probe got its 200 within PROBE_BUDGET and the RSS
grew less than RSS_BUDGET. Each attack's outcome (statuses, duration, worst probe, RSS growth) is logged
to test-artifacts/attacks.json and printed as a table at the end of the session.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import psutil
import pytest

from harness.standins import EventWebhookSigner
from harness.standins import twilio as twilio_standin
from tests.support.postgres import SQL, fresh_database
from tests.support.processes import ROOT, LedgerProcess

PROBE_BUDGET = 0.2  # seconds: the bound on /healthz while an attack runs
RSS_BUDGET = 96 * 1024 * 1024
# Small enough that the attacks below go past them in a few seconds; the mechanisms are the defaults'.
EDGE_ENV = {
    "LEDGER_MAX_CONNECTIONS": "64",
    "LEDGER_HEADER_TIMEOUT_SECONDS": "2",
    "LEDGER_BODY_TIMEOUT_SECONDS": "3",
}
_REPORT = ROOT / "test-artifacts" / "attacks.json"


@dataclass
class Outcome:
    attack: str
    statuses: dict[str, int] = field(default_factory=dict)  # what the attack's requests got, counted
    seconds: float = 0.0
    worst_probe: float = 0.0
    probes: int = 0
    failed_probes: int = 0
    rss_growth_mib: float = 0.0

    def saw(self, status: int | str, times: int = 1) -> None:
        key = str(status)
        self.statuses[key] = self.statuses.get(key, 0) + times


_outcomes: list[Outcome] = []


@dataclass
class Target:
    proc: LedgerProcess
    signer: EventWebhookSigner
    sql: SQL

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return self.proc.port

    @property
    def url(self) -> str:
        return self.proc.url

    @property
    def pid(self) -> int:
        assert self.proc.proc is not None
        return self.proc.proc.pid

    @contextlib.contextmanager
    def watch(self, attack: str) -> Iterator[Outcome]:
        """Run the attack in the `with` body; then check the probe and the RSS (see the module doc)."""
        outcome = Outcome(attack)
        before = psutil.Process(self.pid).memory_info().rss
        probe = subprocess.Popen(
            [sys.executable, "-m", "tests.test_attacks.probe", self.host, str(self.port), str(self.pid)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        started = time.monotonic()
        try:
            time.sleep(0.2)  # the probe's first answers come from the service at rest
            yield outcome
        finally:
            outcome.seconds = round(time.monotonic() - started - 0.2, 2)
            time.sleep(0.2)  # and the last ones from just after the attack, while it cleans up
            output, _ = probe.communicate(b"", timeout=30)
        samples = json.loads(output)
        latencies = [latency for latency, _ in samples["probes"]]
        outcome.probes = len(latencies)
        outcome.worst_probe = round(max(latencies), 4)
        outcome.failed_probes = sum(1 for _, status in samples["probes"] if status != 200)
        outcome.rss_growth_mib = round((max(samples["rss"]) - before) / 2**20, 1)
        _outcomes.append(outcome)
        assert outcome.probes >= 3, outcome
        assert outcome.failed_probes == 0, outcome
        assert outcome.worst_probe < PROBE_BUDGET, outcome
        assert outcome.rss_growth_mib * 2**20 < RSS_BUDGET, outcome


@pytest.fixture
def outcome_log() -> list[Outcome]:
    """For outcomes of attacks that have no service to watch (the CLI refusing to start)."""
    return _outcomes


@pytest.fixture(scope="session")
def signer() -> EventWebhookSigner:
    return EventWebhookSigner()


@pytest.fixture(scope="module")
def target(admin_dsn: str, signer: EventWebhookSigner, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """One ledger process (and database) per attack module, with webhook credentials and short edge limits."""
    for database_url in fresh_database(admin_dsn):
        log = tmp_path_factory.mktemp("attacks") / "ledger.log"
        proc = LedgerProcess(database_url, log)
        proc.env.update(EDGE_ENV)
        proc.env["LEDGER_TWILIO_AUTH_TOKEN"] = twilio_standin.AUTH_TOKEN
        proc.env["LEDGER_SENDGRID_WEBHOOK_PUBLIC_KEY"] = signer.public_key
        proc.start()
        try:
            yield Target(proc, signer, SQL(database_url))
        finally:
            proc.stop()
        # An attack may get a 4xx, never a 500: nothing the attacks sent made the service fail.
        text = log.read_text(errors="replace")
        assert "Traceback" not in text and "internal error" not in text, text[-5000:]


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not _outcomes:
        return
    _REPORT.parent.mkdir(exist_ok=True)
    _REPORT.write_text(json.dumps([asdict(o) for o in _outcomes], indent=1))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"\nattacks (also in {_REPORT}):")
        for o in _outcomes:
            statuses = ", ".join(f"{k} x{v}" for k, v in sorted(o.statuses.items()))
            reporter.write_line(
                f"  {o.attack:<60} {statuses:<30} {o.seconds:>6.2f} s  probe max {o.worst_probe * 1000:6.1f} ms"
                f" ({o.probes})  RSS +{o.rss_growth_mib} MiB"
            )
