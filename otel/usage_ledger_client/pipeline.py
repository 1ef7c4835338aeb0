"""The never-drop delivery pipeline of one process: memory queue -> (disk spool) -> exporter, one worker thread.

Memory mode: callers append to an unbounded deque (an append never blocks and never fails). The worker
sends full batches as they fill (partial ones after `max_delay`, or at once while someone flushes). Before
each send it moves the queue to the disk spool when it holds more than `max_queue` events, when the ledger
is failing, or when older events already wait on disk (so newer ones queue behind them). A batch that
fails is written to the spool before the worker backs off, so at any moment an unsent event is in memory,
in the spool, or in the one request in flight, and shutdown spools what is left in memory.

Durable mode: the caller commits each event to the spool (group commit, see spool.py) before
record_usage_event returns; the worker sends from the spool only.

Either way the worker also delivers spools of dead processes (ownership.py) before its own.

State shared with other threads is the inbox (appended to without a lock: deque appends are atomic) and
`SharedState`, which `_cond` guards; the worker wakes on that Condition (a full batch, a flush, shutdown, or
`max_delay`), and flush() waits on it for the worker to report itself idle: nobody polls. Everything else
is `WorkerState`, the worker thread's own.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque

from usage_ledger_client.backoff import Backoff
from usage_ledger_client.config import DeliveryConfig
from usage_ledger_client.encoding import UsageRecord
from usage_ledger_client.exporter import UsageExporter
from usage_ledger_client.ownership import SpoolDirectory
from usage_ledger_client.stats import Stats, UsageClientMetrics
from usage_ledger_client.transport import HttpTransport
from usage_ledger_client.worker import (
    SPOOL_ERRORS,
    DeliveryWorker,
    LimitedLog,
    SharedState,
    WorkerState,
    encode_record,
    log,
)


class Pipeline(DeliveryWorker):
    def __init__(self, config: DeliveryConfig, stats: Stats) -> None:
        self.config = config
        self._stats = stats
        self._directory = SpoolDirectory(config.spool_dir, config.ledger_url, fsync=config.fsync)
        self._own = self._directory.create_own()
        self._spool = self._own.spool
        transport = HttpTransport(config.ledger_url, config.ingest_key, timeout=config.http_timeout)
        self._exporter = UsageExporter(transport, stats, self._spool.reject)
        self._inbox: deque[UsageRecord] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._shared = SharedState()
        self._closed = False  # shutdown() ran
        self._w = WorkerState(Backoff(config.backoff_initial, config.backoff_max), LimitedLog(config.warn_interval))
        self._thread = threading.Thread(target=self._run, name="usage-delivery", daemon=True)
        self._thread.start()

    # -- caller side: must stay cheap and must not raise -------------------------------------------------

    def submit(self, record: UsageRecord) -> None:
        batch_size = self.config.batch_size
        if self.config.durable:
            try:
                appended = self._spool.append_one(encode_record(record))
            except SPOOL_ERRORS:
                # Disk full, spool closed...: keep the event in memory rather than lose it or raise.
                self.spool_error("could not write a usage event to the spool; it is kept in memory")
            else:
                self._stats.add("spilled")
                if appended % batch_size == 0:
                    self._wake()
                return
        inbox = self._inbox
        inbox.append(record)
        if len(inbox) % batch_size == 0:
            self._wake()

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    # -- app side -----------------------------------------------------------------------------------------

    def flush(self, timeout: float) -> bool:
        """Wait until everything recorded so far is settled with the ledger; False when `timeout` ran out."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._shared.flushers += 1
            # ... and spools of processes that died since the last look go too: the worker looks first.
            self._shared.look_now, self._shared.idle = True, False
            self._cond.notify_all()  # partial batches go now
            try:
                while not self._drained():
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self._shared.stopping:
                        return False
                    self._cond.wait(remaining)
                return True
            finally:
                self._shared.flushers -= 1

    def shutdown(self, timeout: float, join_timeout: float) -> bool:
        """Flush for up to `timeout`, stop the worker, spool what is left, release the spools. Idempotent."""
        if self._closed:
            return True
        self._closed = True
        delivered = self.flush(timeout)
        with self._cond:
            self._shared.stopping = True
            self._cond.notify_all()
        self._thread.join(join_timeout)
        if self._thread.is_alive():
            log.error("the usage delivery worker did not stop within %.0fs (a request hung?)", join_timeout)
        self._spill(everything=True)
        if self._w.held is not None:
            log.error("%d usage events could not be delivered nor spooled before exit", len(self._w.held))
        left = self.metrics().spooled
        if left:
            log.warning(
                "%d usage events are still in the spool %s; the next process to start delivers them",
                left,
                self._spool.path,
            )
        self._exporter.shutdown()
        self._release(self._w.orphan, delete=False)
        self._w.orphan = None
        self._release(self._own, delete=left == 0 and self._w.held is None and not self._spool.rejected_rows())
        return delivered

    def metrics(self) -> UsageClientMetrics:
        spooled = 0
        for owned in (self._own, self._w.orphan):
            with contextlib.suppress(*SPOOL_ERRORS):  # closed, or the disk is failing
                spooled += owned.spool.pending_count() if owned is not None else 0
        queued = len(self._inbox) + len(self._w.held or ()) + self._w.in_hand
        return self._stats.snapshot(queued=queued, spooled=spooled)

    def leftovers(self) -> list[UsageRecord]:
        """After shutdown: events a racing caller queued after the final spill."""
        return [self._inbox.popleft() for _ in range(len(self._inbox))]

    # -- fork ---------------------------------------------------------------------------------------------

    def before_fork(self) -> None:
        for owned in (self._own, self._w.orphan):
            if owned is not None:
                owned.spool.hold_for_fork()

    def after_fork_in_parent(self) -> None:
        for owned in (self._own, self._w.orphan):
            if owned is not None:
                owned.spool.release_after_fork()

    def abandon_in_child(self) -> list[object]:
        """In the child: let go of the parent's spools and locks without touching their files.

        Returns what must stay referenced for the child's lifetime: closing the parent's SQLite
        connections from the child (which a garbage-collected connection would do) could disturb them.
        """
        for owned in (self._own, self._w.orphan):
            if owned is not None:
                owned.forget_in_child()
        self._closed = True
        return [self._own, self._w.orphan, self._exporter]
