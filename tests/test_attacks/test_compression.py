"""Issue 12, class 2: a compressed body costs time linear in its size, whatever its framing, off the event loop.

Bodies of hundreds of thousands of gzip members (empty, or a byte each), of concatenated zlib streams and
classic bombs, sent with a valid ingest key: the answers come in seconds, the health probe stays under
200 ms, and usage carried by a body of one-byte members is stored exactly once.
"""

from __future__ import annotations

import gzip
import time
import uuid
import zlib
from collections.abc import Callable

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from tests.conftest import TEST_INGEST_KEY
from tests.test_attacks.conftest import Target
from tests.test_attacks.raw import in_parallel
from usage_ledger_contract import attributes as usage

MAX_BODY = 16 * 1024 * 1024  # LEDGER_MAX_BODY_BYTES' default, which the target keeps
EMPTY_GZIP = gzip.compress(b"", mtime=0)  # 20 bytes
EMPTY_ZLIB = zlib.compress(b"")  # 8 bytes


def send(target: Target, body: bytes, encoding: str) -> Callable[[], int]:
    headers = {
        "Authorization": f"Bearer {TEST_INGEST_KEY}",
        "Content-Type": "application/x-protobuf",
        "Content-Encoding": encoding,
    }
    return lambda: httpx.post(f"{target.url}/v1/traces", content=body, headers=headers, timeout=120).status_code


def fill(member: bytes, size: int) -> bytes:
    return member * (size // len(member))


def usage_request(key: str) -> bytes:
    attributes: dict[str, str | int] = {
        usage.TENANT_ID: "t_zip",
        usage.SOURCE: "twilio",
        usage.EVENT_TYPE: "sms_outbound",
        usage.UNITS: 3,
        usage.IDEMPOTENCY_KEY: key,
    }
    values = [
        KeyValue(key=k, value=AnyValue(int_value=v) if isinstance(v, int) else AnyValue(string_value=v))
        for k, v in attributes.items()
    ]
    span = Span(
        trace_id=bytes.fromhex("cd" * 16),
        span_id=bytes.fromhex("01" * 8),
        name="send",
        end_time_unix_nano=time.time_ns(),
        events=[Span.Event(name="usage", time_unix_nano=time.time_ns(), attributes=values)],
    )
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])])
    return request.SerializeToString()


def test_a_body_of_empty_gzip_members_is_linear(target: Target) -> None:
    with target.watch("16 MiB of empty gzip members (838,860 members)") as outcome:
        outcome.saw(send(target, fill(EMPTY_GZIP, MAX_BODY), "gzip")())
    assert outcome.statuses == {"200": 1}  # an empty export: nothing to store
    assert outcome.seconds < 30
    with target.watch("4 MiB of empty gzip members, 4 parallel") as outcome:
        for status in in_parallel([send(target, fill(EMPTY_GZIP, 4 << 20), "gzip")] * 4, 4):
            outcome.saw(status)
    assert outcome.statuses == {"200": 4}


def test_a_body_of_one_byte_gzip_members_is_linear(target: Target) -> None:
    member = gzip.compress(b"x", mtime=0)
    with target.watch(f"16 MiB of one-byte gzip members ({MAX_BODY // len(member):,} members)") as outcome:
        outcome.saw(send(target, fill(member, MAX_BODY), "gzip")())
    assert outcome.statuses == {"400": 1}  # "xxx..." is no protobuf
    assert outcome.seconds < 30


def test_a_body_of_concatenated_zlib_streams_is_linear(target: Target) -> None:
    with target.watch("16 MiB of empty zlib streams, deflate (2,097,152 streams)") as outcome:
        outcome.saw(send(target, fill(EMPTY_ZLIB, MAX_BODY), "deflate")())
    assert outcome.statuses == {"200": 1}
    assert outcome.seconds < 30


def test_usage_in_one_byte_members_is_stored_once(target: Target) -> None:
    key = f"SM{uuid.uuid4().hex}:sms_outbound"
    plain = usage_request(key)
    body = b"".join(gzip.compress(plain[i : i + 1], mtime=0) for i in range(len(plain)))
    with target.watch(f"{len(plain)}-byte export as {len(plain)} one-byte gzip members, sent 3 times") as outcome:
        for _ in range(3):
            outcome.saw(send(target, body, "gzip")())
    assert outcome.statuses == {"200": 3}
    rows = target.sql.fetch("SELECT tenant_id, units FROM usage_ledger WHERE idempotency_key = $1", key)
    assert [(r["tenant_id"], r["units"]) for r in rows] == [("t_zip", 3)]


def test_bombs_stop_at_the_limit(target: Target) -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    zeros = bytes(1 << 20)
    one_gib = b"".join([*(compressor.compress(zeros) for _ in range(1024)), compressor.flush()])
    with target.watch(f"1 GiB of zeros in one gzip member ({len(one_gib) >> 10} KiB), 4 parallel") as outcome:
        for status in in_parallel([send(target, one_gib, "gzip")] * 4, 4):
            outcome.saw(status)
    assert outcome.statuses == {"413": 4}
    member = gzip.compress(zeros, mtime=0)
    many = member * 64  # 64 MiB in 64 members of 1 MiB each
    with target.watch(f"64 gzip members of 1 MiB of zeros each ({len(many) >> 10} KiB)") as outcome:
        outcome.saw(send(target, many, "gzip")())
    assert outcome.statuses == {"413": 1}


def test_broken_framing_is_a_400(target: Target) -> None:
    good = gzip.compress(usage_request("never-stored"), mtime=0)
    bodies = {
        "truncated member": good[:-5],
        "garbage after the last member": good + b"garbage!",
        "empty members then garbage": fill(EMPTY_GZIP, 1 << 20) + b"\x00" * 7,
    }
    with target.watch("truncated / trailing garbage / 1 MiB of empty members then garbage") as outcome:
        for body in bodies.values():
            outcome.saw(send(target, body, "gzip")())
    assert outcome.statuses == {"400": 3}
    assert target.sql.fetchval("SELECT count(*) FROM usage_ledger WHERE idempotency_key = 'never-stored'") == 0
