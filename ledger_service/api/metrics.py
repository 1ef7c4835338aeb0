"""GET /metrics: the ledger's counters in Prometheus' text format (ledger_service/ingest/metrics.py).

No credential, like the probes: it carries counts only (no tenant, key or content). Route it to your
Prometheus only: the webhook endpoints beside it face the internet, this one need not.
"""

from __future__ import annotations

from litestar import Response, get
from litestar.di import NamedDependency

from ledger_service.ingest.service import IngestService

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@get(
    "/metrics", tags=["health"], summary="Counters in Prometheus' text format (ingest outcomes, conflicts, corrections)"
)
async def metrics(ingest: NamedDependency[IngestService]) -> Response[str]:
    return Response(ingest.counters.exposition(), media_type=PROMETHEUS_TEXT)
