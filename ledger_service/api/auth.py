"""Bearer keys: ingest keys (LEDGER_INGEST_KEYS) for sending usage, admin keys (LEDGER_ADMIN_KEYS) for
corrections and conflicts. Tenant read tokens are checked by the read API (read_params.py)."""

from __future__ import annotations

import hmac
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from ledger_service.errors import ForbiddenError, UnauthorizedError
from ledger_service.settings import Settings
from ledger_service.tokens import verify_read_token


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
    if not _matches(token, settings.ingest_key_values()):
        raise UnauthorizedError("the ingest key is not valid")


def _matches(token: str, keys: list[str]) -> bool:
    # Every key compared, each in constant time, so timing reveals nothing about which key is close.
    return any([hmac.compare_digest(token.encode(), key.encode()) for key in keys])


async def require_admin_key(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """An admin key (LEDGER_ADMIN_KEYS), checked before the body is read. A credential of another kind (an
    ingest key, a tenant read token) is a 403 saying so; no credential or an unknown one, a 401."""
    settings = app_settings(connection)
    token = bearer_token(connection)
    if token is None:
        raise UnauthorizedError("missing admin key: send 'Authorization: Bearer <admin key>' (LEDGER_ADMIN_KEYS)")
    if _matches(token, settings.admin_key_values()):
        return
    if _matches(token, settings.ingest_key_values()):
        raise ForbiddenError("an ingest key only sends usage: corrections and conflicts take an admin key")
    if _is_read_token(settings, token):
        raise ForbiddenError("a tenant read token only reads its tenant's usage: this takes an admin key")
    if not settings.admin_keys:
        raise ForbiddenError("the admin API is off: set LEDGER_ADMIN_KEYS to turn it on")
    raise UnauthorizedError("the admin key is not valid")


def admin_key(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The admin key a request was let in with (require_admin_key checked it)."""
    token = bearer_token(connection)
    assert token is not None  # require_admin_key let the request in
    return token


def _is_read_token(settings: Settings, token: str) -> bool:
    try:
        verify_read_token(settings.secret_key.get_secret_value(), token)
    except UnauthorizedError:
        return False
    return True
