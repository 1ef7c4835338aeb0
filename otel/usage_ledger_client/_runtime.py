"""Process-wide state shared by record_usage_event and configure(): where events go, the counters.

Before configure() (or after shutdown()) events wait in `pending`, so a library that records usage at
import time loses nothing; configure() hands them to the pipeline. That buffer is bounded (see
PendingBuffer) so an app that never configures cannot grow without limit.

Fork: the child of a configured process gets a delivery pipeline of its own (its own worker thread and
spool) from the at-fork hook, fresh counters and locks. The parent's queued events stay the parent's; the
pending buffer is kept by both (its events carry their keys, so the ledger stores each once whichever
process delivers it).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque

from usage_ledger_client.encoding import UsageRecord
from usage_ledger_client.pipeline import Pipeline
from usage_ledger_client.stats import Stats
from usage_ledger_contract.limits import DEFAULT_MAX_METADATA_BYTES

log = logging.getLogger("usage_ledger_client")

ENV_MAX_PENDING = "USAGE_LEDGER_MAX_PENDING"
DEFAULT_MAX_PENDING = 100_000
DROP_WARN_INTERVAL = 60.0


class PendingBuffer:
    """Events recorded while no pipeline runs, at most `limit` of them.

    Policy when full: the events already held are kept (they are delivered by configure()), each further
    one is refused and never silently: it is counted in metrics().dropped, and an ERROR is logged at the
    first refusal and then once a minute with the running count. USAGE_LEDGER_MAX_PENDING sets the limit.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.events: deque[UsageRecord] = deque()
        self._last_warning = -DROP_WARN_INTERVAL

    def add(self, record: UsageRecord) -> None:
        if len(self.events) < self.limit:
            self.events.append(record)
            return
        stats.add("dropped")
        now = time.monotonic()
        if now - self._last_warning >= DROP_WARN_INTERVAL:
            self._last_warning = now
            log.error(
                "usage_ledger_client.configure() has not been called and %d events already wait for it "
                "(USAGE_LEDGER_MAX_PENDING): usage event %s/%s for %s is dropped; %d dropped so far",
                self.limit,
                record.source,
                record.event_type,
                record.tenant_id,
                stats.snapshot().dropped,
            )

    def __len__(self) -> int:
        return len(self.events)


def _limit_from_env() -> int:
    try:
        return max(1, int(os.environ.get(ENV_MAX_PENDING, DEFAULT_MAX_PENDING)))
    except ValueError:
        return DEFAULT_MAX_PENDING


stats = Stats()
pending = PendingBuffer(_limit_from_env())
pipeline: Pipeline | None = None
max_metadata_bytes = DEFAULT_MAX_METADATA_BYTES
lock = threading.Lock()  # serialises configure() / shutdown()
_abandoned: list[object] = []  # the parent's pipelines, kept referenced in a child (see Pipeline.abandon_in_child)


def submit(record: UsageRecord) -> None:
    target = pipeline
    if target is None:
        pending.add(record)
    else:
        target.submit(record)


def own_span_now() -> bool:
    """Durable mode encodes the event on the caller's thread, so its own span (if any) is made there too."""
    target = pipeline
    return target is not None and target.config.durable


def _before_fork() -> None:
    if pipeline is not None:
        pipeline.before_fork()


def _after_fork_in_parent() -> None:
    if pipeline is not None:
        pipeline.after_fork_in_parent()


def _after_fork_in_child() -> None:
    global lock, stats, pipeline
    lock = threading.Lock()  # another thread may have held it when the process was copied
    stats = Stats()
    parent, pipeline = pipeline, None
    if parent is None:
        return
    _abandoned.extend(parent.abandon_in_child())
    try:
        pipeline = Pipeline(parent.config, stats)
    except Exception:  # the child keeps recording into `pending`; its configure() can try again
        log.exception("could not start usage delivery in the child process %d", os.getpid())


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)
