"""HTTP transport to the ledger: one POST of an already-encoded body. Knows nothing about usage events."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from opentelemetry.instrumentation.utils import suppress_http_instrumentation, suppress_instrumentation

from usage_ledger_client.backoff import parse_retry_after

INGEST_PATH = "/api/usage/events"


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
        # Instrumentations (httpx, requests, ...) skip work done in here: the exporter never traces itself.
        with suppress_instrumentation(), suppress_http_instrumentation():
            response = self._client.post(self.url, content=body)
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return HttpAnswer(response.status_code, response.content, retry_after)

    def close(self) -> None:
        self._client.close()
