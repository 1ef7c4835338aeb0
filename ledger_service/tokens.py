"""Tenant read tokens: short-lived JWTs naming exactly one tenant, signed with LEDGER_SECRET_KEY.

The host app mints one for a signed-in tenant admin (`mint_read_token`, or `usage-ledger token`) and the
read API takes the tenant from the verified token only, never from a request parameter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from ledger_service.errors import UnauthorizedError
from usage_ledger_contract.rules import tenant_id_problem

ALGORITHM = "HS256"
ISSUER = "usage-ledger"
# A token minted for reading usage is useless anywhere else that happens to share the key.
AUDIENCE = "usage-ledger:read"
MAX_TTL = timedelta(days=31)
# Tokens signed a moment "in the future" by a host whose clock runs slightly ahead are still fine.
_CLOCK_SKEW_SECONDS = 30
_TTL = re.compile(r"^(\d+)([smhd]?)$")
_TTL_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}


@dataclass(frozen=True, slots=True)
class ReadGrant:
    """What a verified read token allows: reading one tenant's usage until it expires."""

    tenant_id: str
    expires_at: datetime


def mint_read_token(secret: str, tenant_id: str, ttl: timedelta, *, now: datetime | None = None) -> str:
    """A signed token that lets its bearer read `tenant_id`'s usage until `ttl` from now."""
    problem = tenant_id_problem(tenant_id)
    if problem is not None:
        raise ValueError(f"tenant id {problem}")
    if not timedelta(seconds=1) <= ttl <= MAX_TTL:
        raise ValueError(f"ttl must be between 1 second and {MAX_TTL.days} days")
    issued = now or datetime.now(UTC)
    claims = {"sub": tenant_id, "iss": ISSUER, "aud": AUDIENCE, "iat": issued, "exp": issued + ttl}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_read_token(secret: str, token: str, *, now: datetime | None = None) -> ReadGrant:
    """The tenant the token was minted for and when it expires; UnauthorizedError when expired, forged,
    malformed, issued in the future or for longer than MAX_TTL (whoever holds the key mints only tokens
    this module allows, so a longer one was not minted here)."""
    if not secret:  # HMAC with an empty key verifies anything signed with an empty key
        raise UnauthorizedError("read tokens cannot be verified: the service has no secret key")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],  # never the algorithm the token claims for itself ("none", RS/HS confusion)
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=_CLOCK_SKEW_SECONDS,
            options={"require": ["sub", "exp", "iat", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise UnauthorizedError("the read token has expired: ask the host app for a new one") from None
    except jwt.PyJWTError:  # every other way a token fails, including a key PyJWT refuses
        raise UnauthorizedError("the read token is not valid") from None
    tenant = claims.get("sub")
    if tenant_id_problem(tenant) is not None:
        raise UnauthorizedError("the read token does not name a tenant")
    return ReadGrant(str(tenant), _lifetime_checked(claims, now or datetime.now(UTC)))


def _lifetime_checked(claims: dict[str, object], now: datetime) -> datetime:
    """The expiry, once the token's lifetime is within MAX_TTL and it was not issued in the future."""
    issued, expires = claims["iat"], claims["exp"]
    if not isinstance(issued, int | float) or not isinstance(expires, int | float):  # PyJWT checked; for mypy
        raise UnauthorizedError("the read token is not valid")
    if issued > now.timestamp() + _CLOCK_SKEW_SECONDS:
        raise UnauthorizedError("the read token is not valid: it was issued in the future")
    if expires - issued > MAX_TTL.total_seconds():
        raise UnauthorizedError(f"the read token is not valid: it lives longer than {MAX_TTL.days} days")
    return datetime.fromtimestamp(expires, UTC)


def parse_ttl(text: str) -> timedelta:
    """'900', '900s', '15m', '2h' or '7d' as a timedelta."""
    match = _TTL.match(text.strip().lower())
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 900, 15m, 2h or 7d")
    return timedelta(seconds=int(match.group(1)) * _TTL_UNITS[match.group(2)])
