"""The real Litestar app served by uvicorn on a loopback port in a background thread."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import uvicorn

from ledger_service.app import create_app
from ledger_service.settings import Settings


@dataclass
class RunningLedger:
    url: str
    settings: Settings
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def start_ledger(settings: Settings, port: int = 0) -> RunningLedger:
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="ledger-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the ledger service did not start; see the log above")
        time.sleep(0.02)
    bound_port = server.servers[0].sockets[0].getsockname()[1]
    return RunningLedger(f"http://127.0.0.1:{bound_port}", settings, server, thread)
