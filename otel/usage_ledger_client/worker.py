"""The delivery worker of a Pipeline: one thread that adopts, spills and sends, woken through a Condition.

Split from pipeline.py, which holds the caller's and the app's side; the state they share and the
worker's own are the two records below (see pipeline.py for the rules).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from usage_ledger_client import spans
from usage_ledger_client.backoff import Backoff
from usage_ledger_client.config import DeliveryConfig
from usage_ledger_client.encoding import OWN_SPAN, UsageRecord, encode_event
from usage_ledger_client.exporter import ExportResult, ExportStatus, UsageExporter
from usage_ledger_client.ownership import OwnedSpool, SpoolDirectory
from usage_ledger_client.spool import Spool
from usage_ledger_client.stats import Stats

log = logging.getLogger("usage_ledger_client.pipeline")  # one logger for the pipeline, whichever half speaks

SPOOL_ERRORS = (sqlite3.Error, ValueError, OSError)  # disk full, not writable, spool closed
# What a step of the worker found: nothing left at all, a batch still filling, or work done (go on at once).
_EMPTY, _WAITING, _BUSY = "empty", "waiting", "busy"


@dataclass(slots=True)
class _Batch:
    events: list[bytes]
    settle: Callable[[], None]  # forget the batch once the ledger has answered for it


class LimitedLog:
    """Log the first error at once with its cause, then at most once per interval, counting the rest."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.last = -float("inf")
        self.unlogged = 0

    def error(self, what: str, where: object) -> None:
        now = time.monotonic()
        if now - self.last < self.interval:
            self.unlogged += 1
            return
        self.last = now
        unlogged, self.unlogged = self.unlogged, 0
        log.error(
            "%s (spool %s; %d more spool errors since the last report; disk full or not writable?)",
            what,
            where,
            unlogged,
            exc_info=True,
        )


@dataclass(slots=True)
class SharedState:
    """What the app's threads and the worker share; read and written only under `Pipeline._cond`."""

    stopping: bool = False
    flushers: int = 0  # threads waiting in flush(): send partial batches now
    idle: bool = False  # the worker found nothing to do ...
    idle_mark: int = 0  # ... as of this many durable appends
    look_now: bool = False  # look for spools of dead processes before calling it idle (set by flush())


@dataclass(slots=True)
class WorkerState:
    """Owned by the worker thread (metrics() reads `held` and `in_hand` racily: fine for a snapshot)."""

    backoff: Backoff
    spool_log: LimitedLog
    orphan: OwnedSpool | None = None  # a dead process's spool being delivered
    next_adoption: float = 0.0
    next_spill: float = 0.0  # after a failed spill, the disk gets a moment
    spool_has_rows: bool = True  # until a peek says otherwise
    holding_back: bool = False  # the last peek left a partial batch for later
    settled_since_checkpoint: int = 0
    failing: bool = False
    last_warning: float = -float("inf")
    held: list[bytes] | None = None  # a failed memory batch the spool could not take
    in_hand: int = 0  # events taken from the inbox, not yet sent or spooled


class DeliveryWorker:
    """The worker thread's half of Pipeline (which sets these attributes and starts `_run`)."""

    config: DeliveryConfig
    _stats: Stats
    _directory: SpoolDirectory
    _own: OwnedSpool
    _spool: Spool
    _exporter: UsageExporter
    _inbox: deque[UsageRecord]
    _cond: threading.Condition
    _shared: SharedState
    _w: WorkerState

    def spool_error(self, what: str) -> None:
        self._stats.add("spool_errors")
        self._w.spool_log.error(what, self._spool.path)

    def _drained(self) -> bool:
        return self._shared.idle and not self._inbox and self._spool.appended == self._shared.idle_mark

    # -- worker thread ------------------------------------------------------------------------------------

    def _run(self) -> None:
        partial = False
        while True:
            with self._cond:
                if self._shared.stopping:
                    return
                partial = partial or self._shared.flushers > 0
                mark = self._spool.appended
                self._shared.idle = False
                if self._shared.look_now:
                    self._shared.look_now, self._w.next_adoption = False, 0.0
            try:
                state = self._step(partial)
            except Exception:  # the thread must survive anything, or delivery stops for good
                log.exception("usage delivery failed; continuing")
                state = _BUSY
                self._wait_until(time.monotonic() + 1.0)
            partial = self._rest(state, mark)

    def _rest(self, state: str, mark: int) -> bool:
        """Between steps: say so when idle, wait for work; True when the next step may send a partial batch."""
        with self._cond:
            if state == _BUSY or self._shared.stopping:
                return self._shared.flushers > 0
            if state == _EMPTY and not self._inbox:
                self._shared.idle, self._shared.idle_mark = True, mark
                self._cond.notify_all()
            if self._shared.flushers > 0 and not self._drained():
                return True
            waited = self._cond.wait(self._wait_time())
            return not waited or self._shared.flushers > 0

    def _wait_time(self) -> float:
        until_adoption = self._w.next_adoption - time.monotonic()
        return max(0.001, min(self.config.max_delay, until_adoption))

    def _step(self, partial: bool) -> str:
        """One round: adopt, spill, send one batch. _EMPTY when nothing is left, _WAITING for a batch to fill."""
        self._adopt_if_due()
        if self._should_spill():
            self._spill(everything=False)
        self._w.holding_back = False
        batch = self._next_batch(partial)
        if batch is None:
            if self._w.holding_back or self._w.orphan is not None or self._w.next_adoption <= time.monotonic():
                return _WAITING  # a partial batch waits for max_delay; a finished adoption, for the next look
            return _EMPTY
        result = self._exporter.export(batch.events)
        if result.status is ExportStatus.SUCCESS:
            self._settled(batch)
            return _BUSY
        self._failed(batch, result)
        self._wait_until(time.monotonic() + self._w.backoff.next_delay(result.retry_after))
        return _BUSY

    def _wait_until(self, when: float) -> None:
        """Back off until `when` (or stop); spill what arrives meanwhile, since the ledger is failing."""
        while True:
            with self._cond:
                remaining = when - time.monotonic()
                if self._shared.stopping or remaining <= 0:
                    return
                self._cond.wait(remaining)
            if self._inbox:
                self._spill(everything=False)

    def _next_batch(self, partial: bool) -> _Batch | None:
        if self._w.held is not None:
            held = self._w.held
            return _Batch(held, self._forget_held)
        for owned in (self._w.orphan, self._own):
            if owned is None:
                continue
            peeked = owned.spool.peek(self.config.batch_size)
            if peeked is not None:
                first, last, events = peeked
                if owned is self._own and len(events) < self.config.batch_size and not partial:
                    self._w.holding_back = True  # fewer requests, and fewer moments the caller's appends wait
                    return None
                return _Batch(events, functools.partial(owned.spool.remove, first, last))
            if owned is self._w.orphan:
                self._finish_adoption()
            else:
                self._w.spool_has_rows = False
                self._checkpoint()
        if not self._inbox or (len(self._inbox) < self.config.batch_size and not partial):
            return None
        records = self._take(self.config.batch_size)
        self._w.in_hand = len(records)
        return _Batch([encode_record(r) for r in records], self._spool.retry_removal)

    def _forget_held(self) -> None:
        self._w.held = None

    def _settled(self, batch: _Batch) -> None:
        try:
            batch.settle()
        except SPOOL_ERRORS:
            # Delivered all the same: the spool no longer offers these rows; they are deleted when the disk allows.
            self.spool_error("could not remove delivered usage events from the spool")
        self._w.in_hand = 0
        self._w.backoff.reset()
        if self._w.failing:
            self._w.failing = False
            log.warning("the usage ledger accepts events again; replaying the spool")
        self._w.settled_since_checkpoint += 1
        if self._w.settled_since_checkpoint >= 16:
            self._checkpoint()

    def _checkpoint(self) -> None:
        """Let the WAL restart: when the spool has drained, and every 16 batches during a long replay."""
        if self._w.settled_since_checkpoint:
            self._w.settled_since_checkpoint = 0
            with contextlib.suppress(*SPOOL_ERRORS):  # the WAL grows until a checkpoint succeeds; nothing is lost
                self._spool.checkpoint()

    def _failed(self, batch: _Batch, result: ExportResult) -> None:
        self._w.failing = True
        self._stats.add("retries")
        if self._w.in_hand:  # a batch from memory: onto disk before waiting, to outlive the process
            try:
                self._spool.append(batch.events)
                self._stats.add("spilled", len(batch.events))
                self._w.spool_has_rows = True
            except SPOOL_ERRORS:
                self.spool_error("could not spool a failed usage batch; holding it in memory")
                self._w.held = batch.events
            self._w.in_hand = 0
        now = time.monotonic()
        if result.status is ExportStatus.UNAUTHORIZED or now - self._w.last_warning >= self.config.warn_interval:
            self._w.last_warning = now
            log.warning(
                "usage delivery failed (%s); %d events kept, retrying with backoff",
                result.reason,
                self._spool.pending_count(),
            )

    # -- spilling and adoption (worker thread) ------------------------------------------------------------

    def _should_spill(self) -> bool:
        if not self._inbox or time.monotonic() < self._w.next_spill:
            return False
        return (
            self.config.durable or self._w.failing or self._w.spool_has_rows or len(self._inbox) > self.config.max_queue
        )

    def _spill(self, everything: bool) -> None:
        while records := self._take(5000):
            self._w.in_hand = len(records)
            try:
                self._spool.append([encode_record(r) for r in records])
            except SPOOL_ERRORS:
                self._inbox.extendleft(reversed(records))  # a broken disk must not lose what it could not hold
                self.spool_error("could not spill usage events to the spool; they stay in memory")
                self._w.next_spill = time.monotonic() + 1.0  # the disk will not be better in a moment
                return
            finally:
                self._w.in_hand = 0
            self._stats.add("spilled", len(records))
            self._w.spool_has_rows = True
            if not everything and not self._inbox:
                return

    def _take(self, limit: int) -> list[UsageRecord]:
        inbox = self._inbox
        return [inbox.popleft() for _ in range(min(limit, len(inbox)))]

    def _adopt_if_due(self) -> None:
        if self._w.orphan is not None or time.monotonic() < self._w.next_adoption:
            return
        found = self._directory.orphans(exclude=self._own.path)
        try:
            self._w.orphan = next(found, None)
        finally:
            found.close()
        if self._w.orphan is None:
            self._w.next_adoption = time.monotonic() + self.config.adopt_interval
        else:
            log.info("delivering the usage spool %s left by a process that is gone", self._w.orphan.path)

    def _finish_adoption(self) -> None:
        orphan, self._w.orphan = self._w.orphan, None
        if orphan is None:
            return
        self._spool.take_rejected_from(orphan.spool)
        self._release(orphan, delete=True)
        self._w.next_adoption = 0.0  # look for the next one at once

    def _release(self, owned: OwnedSpool | None, delete: bool) -> None:
        if owned is None:
            return
        try:
            owned.release(delete=delete)
        except SPOOL_ERRORS:
            self.spool_error(f"could not release the spool {owned.path}")


def encode_record(record: UsageRecord) -> bytes:
    if record.trace_id == OWN_SPAN:
        try:
            record = spans.with_own_span(record)
        except Exception:  # the span is telemetry; the usage goes out without trace ids
            log.debug("could not make the usage event's own span", exc_info=True)
            record = record._replace(trace_id=0, span_id=0)
    return encode_event(record)
