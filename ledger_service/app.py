"""create_app(): the Litestar application, wired by one init plugin from one Settings object."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from litestar import Litestar, Request, Response
from litestar.config.app import AppConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.plugins import InitPluginProtocol
from litestar.types import ControllerRouterHandler

from ledger_service.api.admin import correct_events, list_conflicts
from ledger_service.api.docs import docs_assets_router, openapi_config
from ledger_service.api.edge import EdgeMiddleware, no_store_by_default
from ledger_service.api.health import healthz, readyz
from ledger_service.api.ingest import ingest_events
from ledger_service.api.media import body_too_large
from ledger_service.api.metrics import metrics
from ledger_service.api.openapi import ErrorBody, ErrorDetail
from ledger_service.api.otlp import receive_traces
from ledger_service.api.read import read_router
from ledger_service.api.webhooks import webhook_router
from ledger_service.errors import LedgerError
from ledger_service.ingest.conflicts import ConflictService
from ledger_service.ingest.corrections import CorrectionService
from ledger_service.ingest.service import IngestService
from ledger_service.ingest.webhooks import WebhookService
from ledger_service.read.service import ReadService
from ledger_service.settings import Settings
from ledger_service.storage.corrections import CorrectionsRepository
from ledger_service.storage.database import open_database
from ledger_service.storage.ledger import LedgerRepository
from web.routes import page_router, static_router, template_config

log = logging.getLogger(__name__)

_UPKEEP_INTERVAL_SECONDS = 3600


def _error_body(code: str, message: str) -> ErrorBody:
    return ErrorBody(ErrorDetail(code, message))


def ledger_error_handler(_: Request[Any, Any, Any], exc: LedgerError) -> Response[ErrorBody]:
    if exc.status >= 500:
        log.error("request failed: %s", exc.message)
    return Response(_error_body(exc.code, exc.message), status_code=exc.status)


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[ErrorBody]:
    """Litestar's own 4xx (404, 405, validation, body too large) in the same envelope as ours."""
    code = "not_found" if exc.status_code == 404 else "http_error"
    message = body_too_large(request) if exc.status_code == 413 else str(exc.detail)
    return Response(_error_body(code, message), status_code=exc.status_code)


def unexpected_error_handler(_: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    log.exception("unhandled error", exc_info=exc)
    return Response(_error_body("internal_error", "internal error; see the service log"), status_code=500)


class LedgerPlugin(InitPluginProtocol):
    """Owns the service's resources for the app's lifetime: database pool, repository, services."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Litestar) -> AsyncIterator[None]:
        database = await open_database(self.settings)
        repository = LedgerRepository(database.pool, database.variant)
        app.state.database = database
        app.state.repository = repository
        app.state.ingest = IngestService(repository, self.settings)
        app.state.hooks = WebhookService(app.state.ingest, self.settings)
        corrections = CorrectionsRepository(database.pool, database.variant)
        app.state.corrections = CorrectionService(corrections, self.settings, app.state.ingest.counters)
        app.state.conflicts = ConflictService(corrections)
        app.state.read = await ReadService.start(database, self.settings)
        await repository.prepare_partitions(self.settings.late_window_days, self.settings.partitions_ahead_months)
        upkeep = asyncio.create_task(self._upkeep_forever(repository))
        try:
            yield
        finally:
            upkeep.cancel()
            await database.close()

    async def _upkeep_forever(self, repository: LedgerRepository) -> None:
        """Hourly: partitions for the coming months, and idempotency keys past their retention."""
        settings = self.settings
        while True:
            await asyncio.sleep(_UPKEEP_INTERVAL_SECONDS)
            try:
                await repository.prepare_partitions(settings.late_window_days, settings.partitions_ahead_months)
                removed = await repository.prune_idempotency_keys(settings.dedup_retention_days)
                if removed:
                    log.info("pruned %d idempotency keys past retention", removed)
            except Exception:
                log.exception("partition upkeep or key pruning failed; will retry")

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        # Guards and exception handlers cannot take dependencies: they find the settings here (app_settings).
        app_config.state = State({"settings": self.settings})
        app_config.lifespan = [*app_config.lifespan, self.lifespan]
        routes: list[ControllerRouterHandler] = [healthz, readyz, metrics, ingest_events, receive_traces]
        routes += [correct_events, list_conflicts]
        routes += [read_router(self.settings), webhook_router, page_router, static_router, docs_assets_router()]
        app_config.route_handlers = [*app_config.route_handlers, *routes]
        # Every route's body limit unless it sets a smaller one of its own (the webhooks do).
        app_config.request_max_body_size = self.settings.max_body_bytes
        app_config.middleware = [*app_config.middleware, EdgeMiddleware(self.settings.body_timeout_seconds)]
        app_config.before_send = [*app_config.before_send, no_store_by_default]
        app_config.template_config = template_config()  # the usage page (web/)
        app_config.dependencies.update(
            {
                "settings": Provide(_constant(self.settings), sync_to_thread=False),
                "database": Provide(_state_getter("database"), sync_to_thread=False),
                "ingest": Provide(_state_getter("ingest"), sync_to_thread=False),
                "read": Provide(_state_getter("read"), sync_to_thread=False),
                "hooks": Provide(_state_getter("hooks"), sync_to_thread=False),
                # Not "corrections"/"conflicts": Litestar takes a body error at a key named like a dependency
                # for the dependency's failure (a 500), and the corrections body has a "corrections" key.
                "correction_service": Provide(_state_getter("corrections"), sync_to_thread=False),
                "conflict_service": Provide(_state_getter("conflicts"), sync_to_thread=False),
            }
        )
        app_config.exception_handlers.update(
            {
                LedgerError: ledger_error_handler,
                HTTPException: http_error_handler,
                Exception: unexpected_error_handler,
            }
        )
        return app_config


def _constant(value: object) -> Callable[[], object]:
    def get() -> object:
        return value

    return get


def _state_getter(name: str) -> Callable[[State], object]:
    def get(state: State) -> object:
        return state[name]

    return get


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings()
    return Litestar(
        plugins=[LedgerPlugin(settings)],
        # Litestar 2.25 takes the app's own limit from this argument only, not from an init plugin's AppConfig
        # (litestar#4296); without it every route fell back to Litestar's 10 MB default.
        request_max_body_size=settings.max_body_bytes,
        openapi_config=openapi_config(),
        debug=False,
    )
