"""The page's read token: a token link exchanged for an HttpOnly cookie, then read back on every request.

The host app links a signed-in tenant admin to `/settings/billing/usage?token=<read token>`. The token
is verified, stored in a cookie the page's scripts can never read (HttpOnly; there are none anyway),
and the browser is sent to the same URL without it, so the token does not stay in the address bar,
the history or a bookmark.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Request
from litestar.datastructures import Cookie

from ledger_service.errors import UnauthorizedError
from ledger_service.settings import Settings
from ledger_service.tokens import ReadGrant, verify_read_token
from web.query import PAGE_ROUTE

COOKIE_NAME = "usage_read_token"


def cookie_path(request: Request[Any, Any, Any]) -> str:
    """Only the page and its CSV download (below it) receive the cookie; the JSON API takes Bearer tokens."""
    return request.app.route_reverse(PAGE_ROUTE)


def exchange(request: Request[Any, Any, Any], settings: Settings, token: str) -> Cookie:
    """The cookie that carries `token`, after checking it (UnauthorizedError when expired or forged)."""
    grant = verify_read_token(settings.secret_key.get_secret_value(), token)
    return Cookie(
        key=COOKIE_NAME,
        value=token,
        path=cookie_path(request),
        max_age=_seconds_left(grant),
        httponly=True,
        # Secure only over https: a plain-http cookie marked Secure would never come back on loopback.
        # Behind a proxy, uvicorn sets the scheme from X-Forwarded-Proto (trusted from --forwarded-allow-ips).
        secure=request.url.scheme == "https",
        samesite="strict",
    )


def forget(request: Request[Any, Any, Any]) -> Cookie:
    """Deletes the cookie (an expired or forged token stays unusable either way; this tidies up)."""
    path = cookie_path(request)
    return Cookie(key=COOKIE_NAME, value="", path=path, max_age=0, httponly=True, samesite="strict")


def tenant_from_cookie(request: Request[Any, Any, Any], settings: Settings) -> str:
    token = request.cookies.get(COOKIE_NAME)
    if not token:
        raise UnauthorizedError("no read token: open Usage from your account's billing settings to get a fresh link")
    return verify_read_token(settings.secret_key.get_secret_value(), token).tenant_id


def _seconds_left(grant: ReadGrant) -> int:
    # The cookie should not outlive the token inside it. At least a second, so a token inside its
    # clock-skew leeway still reaches the page (which then says "expired") instead of vanishing as "no token".
    return max(1, int((grant.expires_at - datetime.now(UTC)).total_seconds()))
