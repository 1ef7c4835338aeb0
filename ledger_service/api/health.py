"""Liveness and readiness probes."""

from __future__ import annotations

from litestar import Response, get
from litestar.di import NamedDependency

from ledger_service.storage.database import Database
from ledger_service.storage.health import readiness


@get("/healthz", tags=["health"], summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", tags=["health"], summary="The database is reachable and every migration is applied")
async def readyz(database: NamedDependency[Database]) -> Response[dict[str, object]]:
    report = await readiness(database)
    return Response(report, status_code=200 if report["ready"] else 503)
