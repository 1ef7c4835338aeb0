"""Run by test_run_servers.py in pytests of their own (not collected here: no test_ prefix). In the dead-server
case the first test kills the run's PostgreSQL, as a crash or another run deleting its directory would."""

from __future__ import annotations

import os
import signal

from tests.support import clusters


def test_the_server_dies(database_url: str) -> None:
    assert clusters.current is not None and clusters.current.data_dir is not None
    postmaster = int((clusters.current.data_dir / "postmaster.pid").read_text().split()[0])
    os.kill(postmaster, signal.SIGKILL)


def test_next(database_url: str) -> None:
    raise AssertionError("never reached: the run stops when the next database cannot be created")


def test_after_that(database_url: str) -> None:
    raise AssertionError("never reached")
