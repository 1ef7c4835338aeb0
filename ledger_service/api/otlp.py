"""POST /v1/traces: the OTLP/HTTP trace receiver, so any OTel SDK or Collector can feed the ledger.

Usage span events go through the same ingest path as POST /api/usage/events (ledger_service/ingest/otlp.py);
this module is the HTTP half: content types, gzip, size limits, and answers in the OTLP/HTTP shape.
"""

from __future__ import annotations

import functools
import logging
import zlib
from typing import Any

from google.rpc.status_pb2 import Status
from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.params import RawBody
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from ledger_service.api.auth import require_ingest_key
from ledger_service.api.media import body_too_large, media_type
from ledger_service.api.openapi import OtlpOperation
from ledger_service.errors import BadRequestError, LedgerError, PayloadTooLargeError, UnsupportedMediaTypeError
from ledger_service.ingest.otlp import OtlpFormat, decode_request, encode_message, ingest_traces
from ledger_service.ingest.service import IngestService
from ledger_service.offload import sized
from ledger_service.settings import Settings

log = logging.getLogger(__name__)

_FORMATS: dict[str, OtlpFormat] = {
    "application/x-protobuf": "protobuf",
    "application/protobuf": "protobuf",
    "application/json": "json",
}
_MEDIA_TYPES: dict[OtlpFormat, str] = {"protobuf": "application/x-protobuf", "json": "application/json"}
# google.rpc.Code for each HTTP status we answer with (the Status body carries a gRPC code).
_GRPC_CODES = {400: 3, 401: 16, 408: 4, 413: 8, 415: 3, 503: 14}
_GRPC_INTERNAL = 13
# The encodings the OTel SDK exporters offer: gzip (the Collector's default) and deflate (zlib-wrapped).
_WBITS = {"gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}


def request_format(request: Request[Any, Any, Any]) -> OtlpFormat:
    found = media_type(request.headers)
    fmt = _FORMATS.get(found)
    if fmt is None:
        raise UnsupportedMediaTypeError(
            f"Content-Type must be application/x-protobuf or application/json (OTLP/HTTP), not {found!r}"
        )
    return fmt


def decompress_limited(data: bytes, limit: int, encoding: str = "gzip") -> bytes:
    """Inflate a gzip (all members) or deflate (zlib) body, refusing output past `limit` before it is held.

    Time is linear in len(data) whatever the framing. zlib hands back what follows a member's end as a
    copy (`unused_data`), so feeding it the whole rest of the body at each member would copy the body once
    per member: quadratic for a body of many tiny members. It is fed windows instead, small at each
    member's start and doubling while the member goes on, so each copy is at most about the member's size.
    """
    view = memoryview(data)
    out = bytearray()  # not a list of chunks: a million one-byte members would cost 40 bytes of overhead each
    pos = size = 0
    try:
        while pos < len(view):
            member = _Member(encoding, out, room=limit - size, limit=limit)
            pos = member.inflate(view, pos)
            size += member.size
    except LedgerError:
        out.clear()  # the traceback keeps this frame alive until the error is answered: let go of the output
        raise
    return bytes(out)


_FIRST_WINDOW = 64  # a gzip header and an empty member fit; a real member soon doubles past it
_MAX_WINDOW = 1 << 20
# Output is taken a chunk at a time, so a bomb never makes zlib build a copy of the whole limit at once.
_OUTPUT_CHUNK = 1 << 20


class _Member:
    """One gzip member (or zlib stream), inflated from a position of the body until its end, onto `out`."""

    def __init__(self, encoding: str, out: bytearray, *, room: int, limit: int) -> None:
        self._encoding = encoding
        self._out = out
        self._room = room  # output this member may still produce
        self._limit = limit
        self._inflater = zlib.decompressobj(wbits=_WBITS[encoding])
        self._held_back = False  # the last call stopped at _OUTPUT_CHUNK: zlib may hold more output
        self.size = 0

    def inflate(self, view: memoryview, pos: int) -> int:
        """Inflate from `pos` to the member's end; return the position just after it."""
        window = _FIRST_WINDOW
        while True:
            piece = view[pos : pos + window]
            if not piece and not self._held_back:
                raise BadRequestError(f"the {self._encoding} body is truncated")
            self._take(piece)
            if self._inflater.eof:  # what follows the member's end is in unused_data
                return pos + len(piece) - len(self._inflater.unused_data)
            pos += len(piece) - len(self._inflater.unconsumed_tail)
            window = min(window * 2, _MAX_WINDOW)

    def _take(self, piece: memoryview) -> None:
        cap = min(self._room - self.size + 1, _OUTPUT_CHUNK)
        try:
            # The cap bounds this call's output: a bomb stops at the limit + 1 bytes, not at its full size.
            chunk = self._inflater.decompress(piece, cap)
        except zlib.error as exc:
            raise BadRequestError(f"the {self._encoding} body is corrupt: {exc}") from None
        self._held_back = len(chunk) == cap
        if chunk:
            self.size += len(chunk)
            if self.size > self._room:
                raise PayloadTooLargeError(
                    f"the body decompresses to more than {self._limit} bytes (LEDGER_MAX_BODY_BYTES)"
                )
            self._out += chunk


def content_encoding(request: Request[Any, Any, Any]) -> str | None:
    """`gzip`, `deflate`, or None for an uncompressed body; 415 for any other encoding."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in _WBITS:
        return encoding
    raise UnsupportedMediaTypeError(
        f"Content-Encoding {encoding!r} is not supported; send gzip, deflate or no encoding"
    )


def decode_export(body: bytes, encoding: str | None, fmt: OtlpFormat, limit: int) -> ExportTraceServiceRequest:
    """Inflate (if compressed) and decode the body: CPU work, run by the handler off the event loop."""
    return decode_request(body if encoding is None else decompress_limited(body, limit, encoding), fmt)


def otlp_error_handler(request: Request[Any, Any, Any], exc: LedgerError | HTTPException) -> Response[bytes]:
    """Errors as a google.rpc.Status in the request's encoding, which OTLP/HTTP clients know how to read."""
    if isinstance(exc, LedgerError):
        code, message = exc.status, exc.message
    else:  # Litestar's own: the body over its limit, a malformed header...
        code, message = exc.status_code, body_too_large(request) if exc.status_code == 413 else str(exc.detail)
    if code >= 500:
        log.error("OTLP request failed: %s", message)
    fmt = _FORMATS.get(media_type(request.headers), "json")
    status = Status(code=_GRPC_CODES.get(code, _GRPC_INTERNAL), message=message)
    return Response(encode_message(status, fmt), status_code=code, media_type=_MEDIA_TYPES[fmt])


@post(
    "/v1/traces",
    guards=[require_ingest_key],
    status_code=200,
    exception_handlers={LedgerError: otlp_error_handler, HTTPException: otlp_error_handler},
    tags=["ingest"],
    operation_class=OtlpOperation,
    summary="OTLP/HTTP trace receiver: usage span events become ledger rows (exactly once)",
    description=(
        "An OTLP ExportTraceServiceRequest as application/x-protobuf or application/json, optionally gzip. "
        "Span events named `usage` (and spans carrying `usage.*` attributes) are stored like POST "
        "/api/usage/events; other spans are ignored. Rejected usage is reported in `partial_success`."
    ),
)
async def receive_traces(
    request: Request[Any, Any, Any],
    body: RawBody,
    ingest: NamedDependency[IngestService],
    settings: NamedDependency[Settings],
) -> Response[bytes]:
    fmt = request_format(request)
    encoding = content_encoding(request)
    limit = settings.max_body_bytes
    # A compressed body is sized by what it inflates to, so it always leaves the loop.
    size = len(body) if encoding is None else limit
    export = await sized(functools.partial(decode_export, body, encoding, fmt, limit), size)
    response = await ingest_traces(ingest, export, settings.max_batch_events)
    return Response(encode_message(response, fmt), media_type=_MEDIA_TYPES[fmt])
