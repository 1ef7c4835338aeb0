"""Request media types, compared the way HTTP defines them: by type/subtype, case-insensitively."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar import Request

from ledger_service.errors import UnsupportedMediaTypeError


def media_type(headers: Mapping[str, str], default: str = "") -> str:
    """`application/json` from `Application/JSON; charset=utf-8`; `default` when there is no header."""
    value = headers.get("content-type")
    return default if value is None else value.partition(";")[0].strip().lower()


def require_json(headers: Mapping[str, str]) -> None:
    """Ingest: JSON, which is also what a request without a Content-Type is taken to be."""
    require_media(headers, "application/json", default="application/json")


def require_media(headers: Mapping[str, str], expected: str, default: str = "") -> None:
    """415 unless the request's media type is exactly `expected` (case aside; parameters such as charset
    are allowed). Never a prefix: `application/jsonx` is not JSON."""
    found = media_type(headers, default)
    if found != expected:
        raise UnsupportedMediaTypeError(f"Content-Type must be {expected}, not {found!r}")


def body_too_large(request: Request[Any, Any, Any]) -> str:
    """The 413 message Litestar's own body limit leads to, naming the limit that applies."""
    limit = request.route_handler.resolve_request_max_body_size()
    return (
        f"the body exceeds this endpoint's limit of {limit} bytes "
        "(LEDGER_MAX_BODY_BYTES for ingest and OTLP; the webhooks' limits are in README.md)"
    )
