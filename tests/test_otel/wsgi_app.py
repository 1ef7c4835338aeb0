"""A tiny WSGI app for the gunicorn test: each request records one usage event, keyed by its query string.

It configures the client at import time, so under `gunicorn --preload` that happens once in the master
before the workers are forked: the case where each worker needs delivery of its own.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

import usage_ledger_client

usage_ledger_client.configure(max_delay=0.05, backoff_initial=0.05, backoff_max=0.5, adopt_interval=0.5)

StartResponse = Callable[[str, list[tuple[str, str]]], object]


def app(environ: dict[str, object], start_response: StartResponse) -> Iterable[bytes]:
    key = str(environ.get("QUERY_STRING") or "")
    if not key:  # the readiness probe
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(os.getpid()).encode()]
    with usage_ledger_client.usage_tenant("t_gunicorn"):
        usage_ledger_client.record_usage_event(None, "twilio", "sms_outbound", 1, idempotency_key=key)
    body = f"{os.getpid()} {key}".encode()  # answered: in durable mode, the event is on disk by now
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
