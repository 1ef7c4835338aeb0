"""The disk spool: a SQLite file in WAL mode holding encoded events until the ledger has them.

Rows leave `pending` only after the ledger answered for them; events the ledger refused for good move to
`rejected` with its reason (kept for inspection, never silently dropped). AUTOINCREMENT ids never get
reused, so "the lowest ids first" is the order events were written, and a range delete never hits a row
written after the batch was read. One connection behind a lock: callers in durable mode, the spiller and
the sender all use it, each for a short statement.

A full or failing disk can refuse the DELETE of a batch the ledger already has: `delivered_through`
remembers (in memory) the highest id delivered, so those rows are neither sent again nor counted as
pending, and they are deleted by the next removal that succeeds (or re-sent after a restart, which the
ledger answers "duplicate").

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


class Spool:
    def __init__(self, path: Path, *, fsync: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        # isolation_level=None: we issue BEGIN/COMMIT ourselves; a lone INSERT is its own transaction.
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
        for statement in _SCHEMA:
            self._db.execute(statement)
        self.appended = 0
        self.delivered_through = 0  # rows with id <= this are delivered, even if their DELETE failed
        self.undeleted = False  # a removal failed: delivered rows are still in the file

    def append_one(self, event: bytes) -> int:
        """Write one event (committed when this returns); returns how many this process has appended."""
        with self._lock:
            self._db.execute("INSERT INTO pending (event) VALUES (?)", (event,))
            self.appended += 1
            return self.appended

    def append(self, events: Sequence[bytes]) -> None:
        with self._lock:
            self._in_transaction("INSERT INTO pending (event) VALUES (?)", [(e,) for e in events])
            self.appended += len(events)

    def peek(self, limit: int) -> tuple[int, int, list[bytes]] | None:
        """The oldest `limit` events as (first id, last id, events), or None when the spool is empty."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, event FROM pending WHERE id > ? ORDER BY id LIMIT ?", (self.delivered_through, limit)
            ).fetchall()
        if not rows:
            return None
        return rows[0][0], rows[-1][0], [bytes(r[1]) for r in rows]

    def remove(self, first_id: int, last_id: int) -> None:
        """Forget a delivered batch; raises sqlite3.Error when the disk refuses, but never re-offers the batch."""
        with self._lock:
            if self.undeleted:  # batches settle oldest first: rows an earlier failed DELETE left go too
                first_id = 1
            self.delivered_through = max(self.delivered_through, last_id)
            self.undeleted = True
            self._db.execute("DELETE FROM pending WHERE id BETWEEN ? AND ?", (first_id, last_id))
            self.undeleted = False

    def retry_removal(self) -> None:
        """Try again to delete delivered rows a failed removal left behind (no-op when there are none)."""
        if self.undeleted:
            self.remove(1, self.delivered_through)

    def reject(self, events: Sequence[bytes], reason: str) -> None:
        now = time.time()
        with self._lock:
            self._in_transaction(
                "INSERT INTO rejected (event, reason, rejected_at) VALUES (?, ?, ?)", [(e, reason, now) for e in events]
            )

    def pending_count(self) -> int:
        with self._lock:
            return int(
                self._db.execute("SELECT count(*) FROM pending WHERE id > ?", (self.delivered_through,)).fetchone()[0]
            )

    def is_empty(self) -> bool:
        with self._lock:
            return (
                self._db.execute("SELECT 1 FROM pending WHERE id > ? LIMIT 1", (self.delivered_through,)).fetchone()
                is None
            )

    def rejected_events(self) -> list[tuple[bytes, str]]:
        with self._lock:
            rows = self._db.execute("SELECT event, reason FROM rejected ORDER BY id").fetchall()
        return [(bytes(r[0]), str(r[1])) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _in_transaction(self, statement: str, rows: list[tuple[object, ...]]) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(statement, rows)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
