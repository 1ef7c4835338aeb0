"""HTTP transport to the ledger: one POST of an already-encoded body. Knows nothing about usage events."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
from opentelemetry import context as otel_context

from otel.backoff import parse_retry_after

INGEST_PATH = "/api/usage/events"


@contextmanager
def suppress_instrumentation() -> Iterator[None]:
    """Instrumentations (httpx, requests, ...) skip work done in here, so the exporter never traces itself."""
    ctx = otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True)
    ctx = otel_context.set_value(otel_context._SUPPRESS_HTTP_INSTRUMENTATION_KEY, True, ctx)
    token = otel_context.attach(ctx)
    try:
        yield
    finally:
        otel_context.detach(token)


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    body: bytes
    retry_after: float | None


class HttpTransport:
    """Thread-safe (httpx.Client is); raises httpx.TransportError when the ledger cannot be reached."""

    def __init__(self, ledger_url: str, ingest_key: str, timeout: float = 10.0) -> None:
        self.url = ledger_url.rstrip("/") + INGEST_PATH
        self._client = httpx.Client(
            headers={"Authorization": f"Bearer {ingest_key}", "Content-Type": "application/json"},
            timeout=timeout,
        )

    def post(self, body: bytes) -> HttpAnswer:
        with suppress_instrumentation():
            response = self._client.post(self.url, content=body)
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return HttpAnswer(response.status_code, response.content, retry_after)

    def close(self) -> None:
        self._client.close()
