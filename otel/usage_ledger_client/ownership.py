"""Who owns which spool: one spool per live process, and the spools of dead processes adopted exactly once.

Each process (and each child after fork) writes its own spool, `spool-<ledger>-<pid>-<start>.sqlite3`, and
holds an exclusive flock on its `.lock` file for as long as it lives. The kernel drops the lock when the
process dies however it dies (kill -9 included), so "the lock is free" means "the owner is gone". Any
process configured for the same ledger and directory scans for such spools (when it starts, then every
`adopt_interval` seconds), takes the lock, delivers the rows, moves refused events into its own spool and
deletes the files. The lock makes the adoption exclusive; a process killed while adopting leaves the
lock free again, and the next adopter resends at most the batch in flight, which the ledger answers
"duplicate": every event lands once.

The lock is taken before the database file exists, so no scanner can see a new spool without its lock.
`<ledger>` is a digest of the ledger URL: events spooled for one ledger are never replayed to another.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

from usage_ledger_client.spool import Spool

_SIDE_FILES = ("-wal", "-shm", "-journal")


def ledger_digest(url: str) -> str:
    return hashlib.sha256(url.rstrip("/").encode()).hexdigest()[:12]


@dataclass(eq=False)
class OwnedSpool:
    """A spool and the flock that makes it ours (released when we close it, or when the process dies)."""

    spool: Spool
    lock_fd: int

    @property
    def path(self) -> Path:
        return self.spool.path

    def release(self, *, delete: bool) -> None:
        """Close; with `delete`, remove the files first (only for a spool whose rows are all delivered)."""
        self.spool.close()
        if delete:
            for name in (self.path, *(self.path.with_name(self.path.name + s) for s in _SIDE_FILES)):
                with contextlib.suppress(FileNotFoundError):
                    name.unlink()
            with contextlib.suppress(FileNotFoundError):
                _lock_path(self.path).unlink()
        os.close(self.lock_fd)

    def forget_in_child(self) -> None:
        """After fork, in the child: drop our copy of the parent's lock without touching the parent's spool."""
        with contextlib.suppress(OSError):
            os.close(self.lock_fd)


class SpoolDirectory:
    def __init__(self, directory: Path, ledger_url: str, *, fsync: bool) -> None:
        self.directory = directory
        self.prefix = f"spool-{ledger_digest(ledger_url)}"
        self.fsync = fsync

    def create_own(self) -> OwnedSpool:
        """A fresh spool for this process, locked before its database file exists."""
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{self.prefix}-{os.getpid()}-{secrets.token_hex(4)}"
        path = self.directory / f"{name}.sqlite3"
        fd = _try_lock(_lock_path(path))
        if fd is None:  # a fresh random name is never locked by anyone else
            raise OSError(f"could not lock the new spool {path}")
        try:
            return OwnedSpool(Spool(path, fsync=self.fsync), fd)
        except BaseException:
            os.close(fd)
            raise

    def orphans(self, exclude: Path) -> Generator[OwnedSpool]:
        """Spools of this ledger whose owner is gone, each locked for us; the caller releases them."""
        try:
            candidates = sorted(self.directory.glob(f"{self.prefix}*.sqlite3"), key=_mtime)
        except OSError:
            return
        for path in candidates:
            if path == exclude:
                continue
            fd = _try_lock(_lock_path(path))
            if fd is None:
                continue  # its owner is alive (or another process is adopting it)
            if not path.exists():  # adopted and deleted between our listing and our lock
                os.close(fd)
                continue
            try:
                yield OwnedSpool(Spool(path, fsync=self.fsync), fd)
            except Exception:
                os.close(fd)
                raise


def _lock_path(spool: Path) -> Path:
    return spool.with_suffix(".lock")


def _try_lock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
