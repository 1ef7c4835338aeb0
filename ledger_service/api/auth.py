"""Ingest-key authentication (Authorization: Bearer <key>, keys from LEDGER_INGEST_KEYS)."""

from __future__ import annotations

import hmac
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from ledger_service.errors import UnauthorizedError
from ledger_service.settings import Settings


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def app_settings(connection: ASGIConnection[Any, Any, Any, Any]) -> Settings:
    """For guards, which cannot take dependencies; handlers get `settings` injected."""
    settings: Settings = connection.app.state.settings
    return settings


async def require_ingest_key(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    # A coroutine: Litestar runs a plain-function guard in a worker thread, a hop every request would pay.
    settings = app_settings(connection)
    token = bearer_token(connection)
    if token is None:
        raise UnauthorizedError("missing ingest key: send 'Authorization: Bearer <key>'")
    # Compare against every key in constant time so timing reveals nothing about which key is close.
    matches = [hmac.compare_digest(token.encode(), key.encode()) for key in settings.ingest_key_values()]
    if not any(matches):
        raise UnauthorizedError("the ingest key is not valid")
