"""Property tests of the events-page cursor: it round-trips exactly, and no edit of it yields another position."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger_service.errors import BadRequestError
from ledger_service.read.cursor import decode_cursor, encode_cursor
from ledger_service.storage.usage_read import Position

SECRET = "fuzz-secret-0123456789abcdef0123456789"
tenants = st.text(st.characters(categories=["L", "N", "P", "S"]), min_size=1, max_size=64)
offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
instants = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 31), timezones=offsets
)  # the stored range of occurred_at, any offset
positions = st.builds(Position, instants, st.uuids())
alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.="


@settings(max_examples=300)
@given(tenant=tenants, position=positions)
def test_a_cursor_decodes_to_exactly_its_position(tenant: str, position: Position) -> None:
    decoded = decode_cursor(SECRET, tenant, encode_cursor(SECRET, tenant, position))
    assert decoded == position
    assert decoded.occurred_at.utcoffset() is not None


@st.composite
def edits(draw: st.DrawFn, cursor: str) -> str:
    kind = draw(st.sampled_from(["replace", "insert", "delete", "truncate", "swap halves"]))
    i = draw(st.integers(0, len(cursor) - 1))
    if kind == "replace":
        return cursor[:i] + draw(st.sampled_from(alphabet)) + cursor[i + 1 :]
    if kind == "insert":
        return cursor[:i] + draw(st.text(alphabet, min_size=1, max_size=4)) + cursor[i:]
    if kind == "delete":
        return cursor[:i] + cursor[i + 1 :]
    if kind == "truncate":
        return cursor[:i]
    body, _, mac = cursor.partition(".")
    return f"{mac}.{body}"


@settings(max_examples=500)
@given(data=st.data(), tenant=tenants, position=positions)
def test_an_edited_cursor_is_refused_or_means_the_same_position(
    data: st.DataObject, tenant: str, position: Position
) -> None:
    cursor = encode_cursor(SECRET, tenant, position)
    edited = data.draw(edits(cursor))
    try:
        decoded = decode_cursor(SECRET, tenant, edited)
    except BadRequestError as exc:
        assert exc.status == 400 and exc.message.startswith("cursor: ")
        return
    # Only a no-op edit (or a non-canonical base64 spelling of the same bytes) may decode, and then to the same place.
    assert decoded == position


@settings(max_examples=200)
@given(tenant=tenants, other=tenants, position=positions)
def test_a_cursor_is_refused_for_another_tenant_or_under_another_secret(
    tenant: str, other: str, position: Position
) -> None:
    cursor = encode_cursor(SECRET, tenant, position)
    with pytest.raises(BadRequestError):
        decode_cursor(SECRET + "x", tenant, cursor)
    if other != tenant:
        with pytest.raises(BadRequestError, match="another tenant"):
            decode_cursor(SECRET, other, cursor)


@settings(max_examples=300)
@given(junk=st.text(max_size=200) | st.text(alphabet, max_size=200))
def test_junk_is_a_400_never_a_crash(junk: str) -> None:
    try:
        decode_cursor(SECRET, "t_acme", junk)
    except BadRequestError:
        return
    raise AssertionError(f"{junk!r} decoded")  # forging a valid MAC by chance is not a thing


def test_the_epoch_edge_round_trips() -> None:
    position = Position(datetime(1970, 1, 1, tzinfo=UTC), uuid.UUID(int=0))
    assert decode_cursor(SECRET, "t", encode_cursor(SECRET, "t", position)) == position
