"""One spool file: a SQLite database in WAL mode holding encoded events until the ledger has them.

Rows leave `pending` only after the ledger answered for them; events the ledger refused for good move to
`rejected` with its reason (kept for inspection, never silently dropped). AUTOINCREMENT ids are never
reused, so "the lowest ids first" is the order events were written, and a range delete never hits a row
written after the batch was read.

Two connections, so the caller never waits behind the delivery worker's reads: `_writer` (appends, and the
worker's deletes, serialised by `_write_lock` so SQLite itself never sees two writers and never sleeps in
its busy handler) and `_reader` (the worker's reads; WAL readers do not block writers). Neither connection
checkpoints on commit (a checkpoint fsyncs, and would land on whichever caller happened to commit): the
worker calls `checkpoint()` outside both locks.

Durable appends are group-committed: each caller queues its event; whoever finds no commit running writes
everything queued in one transaction while later callers wait for it, so N threads recording at once cost
one commit, not N, and a lone caller pays one INSERT.

A full or failing disk can refuse the DELETE of a batch the ledger already has: `delivered_through`
remembers (in memory) the highest id delivered, so those rows are neither sent again nor counted as
pending, and they are deleted by the next removal that succeeds (or re-sent by whoever adopts the spool,
which the ledger answers "duplicate").

synchronous=NORMAL in WAL mode: a committed row survives the process being killed (it is in the OS page
cache); surviving power loss as well needs synchronous=FULL (`fsync=True`), at several times the cost.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS pending (id INTEGER PRIMARY KEY AUTOINCREMENT, event BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS rejected (id INTEGER PRIMARY KEY AUTOINCREMENT, event BLOB NOT NULL, "
    "reason TEXT NOT NULL, rejected_at REAL NOT NULL)",
)
_INSERT = "INSERT INTO pending (event) VALUES (?)"
_DELETE_CHUNK = 200  # rows per DELETE: a caller waiting for the write lock waits for one chunk at most


def _connect(path: Path, fsync: bool) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves; a lone INSERT is its own transaction.
    db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
    db.execute("PRAGMA wal_autocheckpoint=0")
    return db


class _GroupCommit:
    """Callers queue events; one of them (the leader) commits all that are queued while the others wait."""

    def __init__(self) -> None:
        self.cond = threading.Condition(threading.Lock())
        self.queue: list[bytes] = []
        self.queued = 0  # sequence number of the last event queued
        self.committed = 0  # every event up to this one is committed (or failed, see `failed`)
        self.leading = False
        self.failed: dict[int, BaseException] = {}  # sequence number -> why its commit failed


class Spool:
    def __init__(self, path: Path, *, fsync: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._writer = _connect(path, fsync)
        for statement in _SCHEMA:
            self._writer.execute(statement)
        self._reader = _connect(path, fsync)
        self._group = _GroupCommit()
        self.appended = 0  # events this object has committed to the file (read by the pipeline to see new work)
        self.delivered_through = 0  # rows with id <= this are delivered, even if their DELETE failed
        self.undeleted = False  # a removal failed: delivered rows are still in the file

    # -- writes ---------------------------------------------------------------------------------------

    def append_one(self, event: bytes) -> int:
        """Commit one event (it is in the file when this returns); returns `appended` after it.

        Raises sqlite3.Error (or ValueError when closed) if the commit that carried it failed.
        """
        group = self._group
        with group.cond:
            group.queue.append(event)
            group.queued += 1
            mine = group.queued
            while group.committed < mine:
                if group.leading:
                    group.cond.wait()
                else:
                    self._lead(group)
            error = group.failed.pop(mine, None)
            appended = self.appended
        if error is not None:
            raise error
        return appended

    def _lead(self, group: _GroupCommit) -> None:
        """Commit everything queued, without holding the condition during the I/O. Called holding it."""
        group.leading = True
        batch, group.queue = group.queue, []
        last, first = group.queued, group.queued - len(batch) + 1
        group.cond.release()
        error: BaseException | None = None
        try:
            self._insert(batch)
        except BaseException as exc:  # each waiter re-raises it in its own thread
            error = exc
        finally:
            group.cond.acquire()
        if error is None:
            self.appended += len(batch)
        else:
            group.failed.update(dict.fromkeys(range(first, last + 1), error))
        group.committed = last
        group.leading = False
        group.cond.notify_all()

    def append(self, events: Sequence[bytes]) -> None:
        self._insert(events)
        with self._group.cond:
            self.appended += len(events)

    def _insert(self, events: Sequence[bytes]) -> None:
        with self._write_lock:
            if len(events) == 1:
                self._writer.execute(_INSERT, (events[0],))
            else:
                self._in_transaction(_INSERT, [(e,) for e in events])

    def remove(self, first_id: int, last_id: int) -> None:
        """Forget a delivered batch; raises sqlite3.Error when the disk refuses, but never re-offers the batch."""
        if self.undeleted:  # batches settle oldest first: rows an earlier failed DELETE left go too
            first_id = 1
        self.delivered_through = max(self.delivered_through, last_id)
        self.undeleted = True
        for start in range(first_id, last_id + 1, _DELETE_CHUNK):
            with self._write_lock:
                end = min(start + _DELETE_CHUNK - 1, last_id)
                self._writer.execute("DELETE FROM pending WHERE id BETWEEN ? AND ?", (start, end))
        self.undeleted = False

    def retry_removal(self) -> None:
        """Try again to delete delivered rows a failed removal left behind (no-op when there are none)."""
        if self.undeleted:
            self.remove(1, self.delivered_through)

    def reject(self, events: Sequence[bytes], reason: str) -> None:
        now = time.time()
        with self._write_lock:
            self._in_transaction(
                "INSERT INTO rejected (event, reason, rejected_at) VALUES (?, ?, ?)", [(e, reason, now) for e in events]
            )

    def take_rejected_from(self, other: Spool) -> None:
        """Copy another spool's refused events here (an adopted spool's file is about to be deleted)."""
        rows = other.rejected_rows()
        if rows:
            with self._write_lock:
                self._in_transaction("INSERT INTO rejected (event, reason, rejected_at) VALUES (?, ?, ?)", rows)

    def checkpoint(self) -> None:
        """Copy the WAL into the database file so the WAL can restart (PASSIVE: never blocks the writers)."""
        with self._read_lock:
            self._reader.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    # -- reads ----------------------------------------------------------------------------------------

    def peek(self, limit: int) -> tuple[int, int, list[bytes]] | None:
        """The oldest `limit` events as (first id, last id, events), or None when the spool is empty."""
        with self._read_lock:
            rows = self._reader.execute(
                "SELECT id, event FROM pending WHERE id > ? ORDER BY id LIMIT ?", (self.delivered_through, limit)
            ).fetchall()
        if not rows:
            return None
        return rows[0][0], rows[-1][0], [r[1] for r in rows]  # BLOBs come back as bytes

    def pending_count(self) -> int:
        with self._read_lock:
            row = self._reader.execute("SELECT count(*) FROM pending WHERE id > ?", (self.delivered_through,))
            return int(row.fetchone()[0])

    def rejected_rows(self) -> list[tuple[bytes, str, float]]:
        with self._read_lock:
            rows = self._reader.execute("SELECT event, reason, rejected_at FROM rejected ORDER BY id").fetchall()
        return [(bytes(r[0]), str(r[1]), float(r[2])) for r in rows]

    def rejected_events(self) -> list[tuple[bytes, str]]:
        return [(event, reason) for event, reason, _ in self.rejected_rows()]

    def close(self) -> None:
        with self._write_lock, self._read_lock:
            self._reader.close()
            self._writer.close()

    def hold_for_fork(self) -> None:
        """Before fork(): no thread of ours may be inside SQLite while the process is copied."""
        self._write_lock.acquire()
        self._read_lock.acquire()

    def release_after_fork(self) -> None:
        self._read_lock.release()
        self._write_lock.release()

    def _in_transaction(self, statement: str, rows: Sequence[tuple[object, ...]]) -> None:
        self._writer.execute("BEGIN IMMEDIATE")
        try:
            self._writer.executemany(statement, rows)
        except BaseException:
            self._writer.execute("ROLLBACK")
            raise
        self._writer.execute("COMMIT")
