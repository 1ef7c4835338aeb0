"""The events of a `{"events": [...]}` body found by its structure alone, for when the body does not decode.

msgspec refuses a whole document for one bad string anywhere in it (a lone UTF-16 surrogate escape such as
"\\ud800", a byte that is not UTF-8), so one bad event would make the whole batch a 400. This scanner only
follows brackets, commas and string boundaries, so it finds each event's bytes without judging them; each
is then decoded on its own and only the bad one is rejected. It is the slow path (Python-level, linear in
the body): the JSON adapter takes it only after the fast decode failed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_STRUCTURE = re.compile(rb'["{}\[\],:]')
# The rest of a string after its opening quote, escapes included: [^"\\]* runs, each \x pair taken whole.
_STRING_REST = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_WHITESPACE = frozenset(b" \t\r\n")
_OPENERS = frozenset(b"{[")
_CLOSERS = frozenset(b"}]")


class _NotABatch(Exception):
    pass


def split_events(body: bytes) -> list[bytes] | None:
    """Each element of the top-level "events" array as its raw bytes, or None when the body's shape is not
    `{"events": [...]}` (the caller then refuses the body as a whole)."""
    tokens = _Tokens(body)
    try:
        tokens.expect(b"{")
        key_start, key_end = tokens.expect(b'"')
        if body[key_start:key_end] != b'"events"':
            return None
        tokens.expect(b":")
        tokens.expect(b"[")
        events = _elements(body, tokens)
        tokens.expect(b"}")
        tokens.expect_end()
    except _NotABatch:
        return None
    return events


def _elements(body: bytes, tokens: _Tokens) -> list[bytes]:
    """The array's elements, from just after its `[` to its `]` (consumed)."""
    events: list[bytes] = []
    depth = 0
    start = tokens.pos
    for kind, at, end in tokens:
        if kind in _OPENERS:
            depth += 1
        elif kind in _CLOSERS:
            if depth == 0:
                if kind != ord("]"):
                    raise _NotABatch
                last = body[start:at].strip()
                if last or events:  # `[]` has no element; `[x,]` has an empty one
                    events.append(_element(last))
                return events
            depth -= 1
        elif kind == ord(",") and depth == 0:
            events.append(_element(body[start:at].strip()))
            start = end
    raise _NotABatch  # no closing bracket


def _element(raw: bytes) -> bytes:
    if not raw:
        raise _NotABatch
    return raw


class _Tokens:
    """Structural characters outside strings (a string is one token, `"`), with their positions."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.pos = 0

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        return self

    def __next__(self) -> tuple[int, int, int]:
        found = _STRUCTURE.search(self.body, self.pos)
        if found is None:
            raise StopIteration
        at = found.start()
        kind = self.body[at]
        if kind == ord('"'):
            rest = _STRING_REST.match(self.body, at + 1)
            if rest is None:
                raise _NotABatch  # a string that never ends
            self.pos = rest.end()
        else:
            self.pos = at + 1
        return kind, at, self.pos

    def expect(self, kind: bytes) -> tuple[int, int]:
        """The next token, which must be `kind` with nothing but whitespace before it."""
        before = self.pos
        token = next(self, None)
        if token is None or token[0] != kind[0]:
            raise _NotABatch
        if not _blank(self.body[before : token[1]]):
            raise _NotABatch
        return token[1], token[2]

    def expect_end(self) -> None:
        if not _blank(self.body[self.pos :]):
            raise _NotABatch


def _blank(gap: bytes) -> bool:
    return all(byte in _WHITESPACE for byte in gap)
