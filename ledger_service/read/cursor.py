"""Opaque, tamper-evident page cursors bound to the tenant they were issued to.

A cursor is base64url(JSON position) + "." + base64url(HMAC-SHA256). It is only a position: it grants
nothing, but a cursor from another tenant's listing or an edited one is refused with 400 rather than
silently reinterpreted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from uuid import UUID

import msgspec

from ledger_service.errors import BadRequestError
from ledger_service.storage.usage_read import Position

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A key of its own, derived from the secret, so a cursor MAC can never be confused with a token signature.
_KEY_LABEL = b"usage-ledger events cursor v1\x00"


class _CursorBody(msgspec.Struct, forbid_unknown_fields=True):
    t: str  # tenant
    o: int  # occurred_at, microseconds since the Unix epoch
    i: str  # event id


def _key(secret: str) -> bytes:
    return hashlib.sha256(_KEY_LABEL + secret.encode()).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_cursor(secret: str, tenant_id: str, position: Position) -> str:
    micros = (position.occurred_at - _EPOCH) // timedelta(microseconds=1)
    body = msgspec.json.encode(_CursorBody(t=tenant_id, o=micros, i=position.id.hex))
    mac = hmac.new(_key(secret), body, hashlib.sha256).digest()
    return f"{_b64(body)}.{_b64(mac)}"


def decode_cursor(secret: str, tenant_id: str, cursor: str) -> Position:
    """The position in `cursor`; 400 when it was altered or issued for another tenant."""
    invalid = BadRequestError("cursor: is not a cursor this service issued (altered or truncated)")
    try:
        body_text, mac_text = cursor.split(".")
        body, mac = _unb64(body_text), _unb64(mac_text)
    except ValueError:  # wrong number of parts, bad base64 (binascii.Error is a ValueError)
        raise invalid from None
    if not hmac.compare_digest(mac, hmac.new(_key(secret), body, hashlib.sha256).digest()):
        raise invalid
    try:
        parsed = msgspec.json.decode(body, type=_CursorBody)
        position = Position(_EPOCH + timedelta(microseconds=parsed.o), UUID(hex=parsed.i))
    except (msgspec.DecodeError, ValueError, OverflowError):
        raise invalid from None
    if not hmac.compare_digest(parsed.t.encode(), tenant_id.encode()):
        raise BadRequestError("cursor: was issued for another tenant's listing")
    return position
