"""The client's own counters, readable by the app as a frozen snapshot (usage_ledger_client.metrics())."""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class UsageClientMetrics:
    recorded: int = 0  # events accepted by record_usage_event in this process
    queued: int = 0  # events waiting in memory right now
    spooled: int = 0  # events waiting in the disk spool right now
    spilled: int = 0  # events ever written to the disk spool (durable mode: all of them)
    sent: int = 0  # events the ledger stored
    duplicates: int = 0  # events the ledger already had (a retry of a delivered batch)
    conflicts: int = 0  # events whose key the ledger holds with other content (logged once, never retried)
    rejected: int = 0  # events the ledger refused for good (kept in the spool's `rejected` table)
    retries: int = 0  # failed delivery attempts that will be retried
    unattributed: int = 0  # events recorded with no tenant in scope
    spool_errors: int = 0  # writes to the spool that failed (the event stayed in memory)
    dropped: int = 0  # events refused because configure() was never called and its buffer was full


_COUNTERS = tuple(f.name for f in fields(UsageClientMetrics) if f.name not in ("queued", "spooled"))


class Stats:
    """Thread-safe counters. One lock: increments are rare enough (per event at most) that it never contends long."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(_COUNTERS, 0)

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def snapshot(self, queued: int = 0, spooled: int = 0) -> UsageClientMetrics:
        with self._lock:
            return UsageClientMetrics(queued=queued, spooled=spooled, **self._counts)
