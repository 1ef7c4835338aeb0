"""The never-drop delivery pipeline: memory queue -> (disk spool) -> exporter, on two background threads.

Memory mode: callers append to an unbounded deque (an append never blocks and never fails); the spiller
thread moves it to the disk spool when it holds more than `max_queue` events, when the ledger is failing,
or when older events already wait on disk (so the newer ones queue behind them). The sender thread sends
from the spool first, oldest first, else straight from memory. A batch that fails is written to the spool
before the sender backs off, so at any moment an unsent event is in memory, in the spool, or in the one
request in flight, and shutdown spools what is left in memory.

Durable mode: the caller writes each event to the spool before record_usage_event returns; the sender
works from the spool only.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass

from usage_ledger_client.backoff import Backoff
from usage_ledger_client.encoding import UsageRecord, encode_event
from usage_ledger_client.exporter import ExportResult, ExportStatus, UsageExporter
from usage_ledger_client.spool import Spool
from usage_ledger_client.stats import Stats, UsageClientMetrics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PipelineOptions:
    batch_size: int = 1000
    max_delay: float = 1.0  # seconds an event may wait for its batch to fill
    max_queue: int = 10_000  # events held in memory before spilling to disk
    durable: bool = False
    spill_interval: float = 0.1
    warn_interval: float = 60.0


@dataclass(slots=True)
class _Batch:
    events: list[bytes]
    spool_range: tuple[int, int] | None  # ids in the spool, None when taken from memory


class Pipeline:
    def __init__(
        self, exporter: UsageExporter, spool: Spool, stats: Stats, backoff: Backoff, options: PipelineOptions
    ) -> None:
        self._exporter = exporter
        self._spool = spool
        self._stats = stats
        self._backoff = backoff
        self._opts = options
        self._inbox: deque[UsageRecord] = deque()
        self._send_wake = threading.Event()
        self._spill_wake = threading.Event()
        self._stop = threading.Event()
        self._take_lock = threading.Lock()  # the spiller and the sender each take whole runs from the inbox
        self._busy = False  # the sender holds a batch that is not settled yet
        self._spilling = False  # the spiller holds events between the inbox and the spool
        self._in_hand = 0  # how many (for metrics: they are still queued in memory)
        self._held: list[bytes] | None = None  # a failed memory batch the spool could not take (disk trouble)
        self._failing = False
        self._flushing = 0
        self._closed = False
        self._last_warning = 0.0
        self._last_spool_error = -float("inf")
        self._spool_errors_unlogged = 0
        self._threads = [threading.Thread(target=self._run_sender, name="usage-sender", daemon=True)]
        if not options.durable:
            self._threads.append(threading.Thread(target=self._run_spiller, name="usage-spiller", daemon=True))
        for thread in self._threads:
            thread.start()

    # -- caller side: must stay cheap and must not raise -------------------------------------------------

    def submit(self, record: UsageRecord) -> None:
        if self._opts.durable and self._submit_durable(record):
            return
        inbox = self._inbox
        inbox.append(record)
        size = len(inbox)
        if size >= self._opts.batch_size and not self._send_wake.is_set():
            self._send_wake.set()
        if size > self._opts.max_queue and not self._spill_wake.is_set():
            self._spill_wake.set()

    def _submit_durable(self, record: UsageRecord) -> bool:
        try:
            written = self._spool.append_one(encode_event(record))
        except (sqlite3.Error, ValueError):
            # Disk full, spool closed...: keep the event in memory rather than lose it or raise.
            self._spool_error("could not write a usage event to the spool; it is kept in memory")
            return False
        self._stats.add("spilled")
        if written % self._opts.batch_size == 0:
            self._send_wake.set()
        return True

    # -- app side -----------------------------------------------------------------------------------------

    def flush(self, timeout: float) -> bool:
        """Wait until everything recorded so far is settled with the ledger; False when `timeout` ran out."""
        deadline = time.monotonic() + timeout
        with self._take_lock:  # several app threads may flush at once
            self._flushing += 1
        try:
            while not self._drained():
                if time.monotonic() >= deadline or self._stop.is_set():
                    return self._drained()
                self._send_wake.set()
                time.sleep(min(0.01, max(0.0, deadline - time.monotonic())))
            return True
        finally:
            with self._take_lock:
                self._flushing -= 1

    def shutdown(self, timeout: float, join_timeout: float) -> bool:
        """Flush for up to `timeout`, stop the threads, spool what is left. Idempotent."""
        if self._closed:
            return True
        self._closed = True
        delivered = self.flush(timeout)
        self._stop.set()
        self._send_wake.set()
        self._spill_wake.set()
        for thread in self._threads:
            thread.join(join_timeout)
        self._spill(everything=True)
        if self._held is not None:
            log.error("%d usage events could not be delivered nor spooled before exit", len(self._held))
        left = self.metrics().spooled if not delivered else 0
        if left:
            log.warning(
                "%d usage events are still in the spool %s; they are sent on the next start", left, self._spool.path
            )
        self._exporter.shutdown()
        self._spool.close()
        return delivered

    def metrics(self) -> UsageClientMetrics:
        try:
            spooled = self._spool.pending_count()
        except (sqlite3.Error, ValueError):  # closed
            spooled = 0
        held = self._held  # a failed batch the spool could not take is waiting in memory too
        queued = len(self._inbox) + len(held or ()) + self._in_hand
        return self._stats.snapshot(queued=queued, spooled=spooled)

    def _drained(self) -> bool:
        # Order matters: each worker raises its flag before it takes from the inbox.
        idle = not self._inbox and not self._spilling and not self._busy and self._held is None
        return idle and self._spool.is_empty()

    # -- sender thread ------------------------------------------------------------------------------------

    def _run_sender(self) -> None:
        while not self._stop.is_set():
            by_timer = not self._send_wake.wait(self._opts.max_delay)
            self._send_wake.clear()
            try:
                self._send_available(partial=by_timer)
            except Exception:  # the thread must survive anything, or delivery stops for good
                log.exception("usage sender failed; continuing")
                self._busy = False
                self._stop.wait(1.0)

    def _send_available(self, partial: bool) -> None:
        while not self._stop.is_set():
            self._busy = True
            batch = self._next_batch(partial or self._flushing > 0)
            if batch is None:
                self._busy = False
                return
            result = self._exporter.export(batch.events)
            if result.status is ExportStatus.SUCCESS:
                self._settled(batch)
                continue
            self._failed(batch, result)
            self._busy = False
            self._stop.wait(self._backoff.next_delay(result.retry_after))

    def _next_batch(self, partial: bool) -> _Batch | None:
        if self._held is not None:
            held, self._held = self._held, None
            return _Batch(held, None)
        peeked = self._spool.peek(self._opts.batch_size)
        if peeked is not None:
            first, last, events = peeked
            return _Batch(events, (first, last))
        if not self._inbox or (len(self._inbox) < self._opts.batch_size and not partial):
            return None
        records = self._take(self._opts.batch_size)
        return _Batch([encode_event(r) for r in records], None) if records else None

    def _settled(self, batch: _Batch) -> None:
        try:
            if batch.spool_range is not None:
                self._spool.remove(*batch.spool_range)
            else:
                self._spool.retry_removal()
        except (sqlite3.Error, ValueError):
            # Delivered all the same: the spool no longer offers these rows; they are deleted when the disk allows.
            self._spool_error("could not remove delivered usage events from the spool")
        self._backoff.reset()
        if self._failing:
            self._failing = False
            log.warning("the usage ledger accepts events again; replaying the spool")

    def _failed(self, batch: _Batch, result: ExportResult) -> None:
        self._failing = True
        self._stats.add("retries")
        if batch.spool_range is None:
            # Onto disk before waiting: this batch must outlive the process if the ledger stays away.
            try:
                self._spool.append(batch.events)
                self._stats.add("spilled", len(batch.events))
            except (sqlite3.Error, ValueError):
                self._spool_error("could not spool a failed usage batch; holding it in memory")
                self._held = batch.events
        self._spill_wake.set()
        now = time.monotonic()
        if result.status is ExportStatus.UNAUTHORIZED or now - self._last_warning >= self._opts.warn_interval:
            self._last_warning = now
            log.warning(
                "usage delivery failed (%s); %d events kept, retrying with backoff",
                result.reason,
                self.metrics().spooled,
            )

    def _spool_error(self, what: str) -> None:
        """Count every spool failure; log the first at once with its cause, then at most once per warn_interval."""
        self._stats.add("spool_errors")
        now = time.monotonic()
        if now - self._last_spool_error < self._opts.warn_interval:
            self._spool_errors_unlogged += 1
            return
        self._last_spool_error = now
        unlogged, self._spool_errors_unlogged = self._spool_errors_unlogged, 0
        log.error(
            "%s (spool %s; %d more spool errors since the last report; disk full or not writable?)",
            what,
            self._spool.path,
            unlogged,
            exc_info=True,
        )

    # -- spiller thread -----------------------------------------------------------------------------------

    def _run_spiller(self) -> None:
        while not self._stop.is_set():
            self._spill_wake.wait(self._opts.spill_interval)
            self._spill_wake.clear()
            try:
                self._spill(everything=False)
            except Exception:
                log.exception("usage spiller failed; continuing")
                self._stop.wait(1.0)

    def _spill(self, everything: bool) -> None:
        if not self._inbox:
            return
        if not (everything or self._failing or len(self._inbox) > self._opts.max_queue or not self._spool.is_empty()):
            return
        self._spilling = True
        try:
            while records := self._take(5000):
                self._in_hand = len(records)
                try:
                    self._spool.append([encode_event(r) for r in records])
                except (sqlite3.Error, ValueError):
                    self._in_hand = 0
                    self._give_back(records)  # a broken disk must not lose what it could not hold
                    self._spool_error("could not spill usage events to the spool; they stay in memory")
                    self._stop.wait(1.0)  # the disk will not be better in 0.1 s
                    return
                except BaseException:
                    self._in_hand = 0
                    self._give_back(records)
                    raise
                self._in_hand = 0
                self._stats.add("spilled", len(records))
        finally:
            self._spilling = False

    def _give_back(self, records: list[UsageRecord]) -> None:
        with self._take_lock:
            self._inbox.extendleft(reversed(records))

    def _take(self, limit: int) -> list[UsageRecord]:
        inbox = self._inbox
        with self._take_lock:
            return [inbox.popleft() for _ in range(min(limit, len(inbox)))]

    def leftovers(self) -> list[UsageRecord]:
        """After shutdown: events a racing caller queued after the final spill."""
        return self._take(len(self._inbox))
