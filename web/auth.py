"""The page's read token: a token link exchanged for an HttpOnly cookie, then read back on every request.

The host app links a signed-in tenant admin to `/settings/billing/usage?token=<read token>`. The token
is verified, stored in a cookie the page's scripts can never read (HttpOnly; there are none anyway),
and the browser is sent to the same URL without it, so the token does not stay in the address bar,
the history or a bookmark.
"""

from __future__ import annotations

from dataclasses import dataclass
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
        raise UnauthorizedError(NOT_SIGNED_IN)
    return verify_read_token(settings.secret_key.get_secret_value(), token).tenant_id


def signed_in_tenant(request: Request[Any, Any, Any], settings: Settings) -> str | None:
    """The tenant of a valid cookie, or None: a bad link then does not end a session that still holds."""
    try:
        return tenant_from_cookie(request, settings)
    except UnauthorizedError:
        return None


NOT_SIGNED_IN = "not signed in: the request has no usage link and no session"
# What to do, in words that hold for any host app: this service cannot know where the app keeps the link.
_GET_A_LINK = "Go back to the app where you manage your account and open your usage from there; it signs you in."


@dataclass(frozen=True, slots=True)
class SignInProblem:
    """What a 401 page says: what happened, what to do, and the reason as the service logged it."""

    heading: str
    advice: str
    reason: str
    signed_in_as: str | None = None  # a bad link, with a session that still holds: it stays
    continue_url: str | None = None


def sign_in_problem(error: UnauthorizedError, *, via_link: bool) -> SignInProblem:
    reason = error.message
    if reason == NOT_SIGNED_IN:
        return SignInProblem("Sign in to see your usage", f"This page opens from a sign-in link. {_GET_A_LINK}", reason)
    if "expired" in reason and via_link:
        return SignInProblem("This usage link has expired", f"Links work for a limited time. {_GET_A_LINK}", reason)
    if "expired" in reason:
        advice = f"A session lasts as long as the link that began it. {_GET_A_LINK}"
        return SignInProblem("Your session has ended", advice, reason)
    if via_link:
        return SignInProblem(
            "This usage link does not work",
            f"It may have been cut short when it was copied, or changed. {_GET_A_LINK}",
            reason,
        )
    return SignInProblem("Please sign in again", f"Your session could not be confirmed. {_GET_A_LINK}", reason)


def _seconds_left(grant: ReadGrant) -> int:
    # The cookie should not outlive the token inside it. At least a second, so a token inside its
    # clock-skew leeway still reaches the page (which then says "expired") instead of vanishing as "no token".
    return max(1, int((grant.expires_at - datetime.now(UTC)).total_seconds()))
