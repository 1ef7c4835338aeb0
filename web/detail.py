"""What an event's expanded row says: what was billed and why, from its catalog entry and its metadata.

Metadata is what the recording code chose to keep (ids, counts, models, statuses). The known keys are
shown in words ("Call ID", "Duration 3 min 25 s"); any other plain value is listed under its own key for
engineers. Message bodies, email subjects, prompts and completions are never shown, even when an app
turned content capture on and they were stored: a key that names content is left out, whatever its value
(content_key), and so is any nested value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from usage_ledger_contract import attributes as attr
from web.text import count, duration_text

MAX_VALUE_CHARS = 120  # an id or a status is shorter; a longer free text is cut, never shown whole

# A key whose words include one of these carries what was said, not what was billed.
_CONTENT_WORDS = frozenset(
    {
        "body",
        "subject",
        "prompt",
        "prompts",
        "completion",
        "completions",
        "content",
        "contents",
        "text",
        "html",
        "messages",
        "instructions",
        "transcript",
        "transcription",
        "summary",
        "answer",
        "question",
        "query",
        "recording",
    }
)
_WORDS = re.compile(r"[^a-z0-9]+")


def content_key(key: str) -> bool:
    """True for a metadata key that may carry a message's or a prompt's content (e.g. body, subject,
    gen_ai.prompt, gen_ai.input.messages, gen_ai.system_instructions, llm.output_messages)."""
    return any(word in _CONTENT_WORDS for word in _WORDS.split(key.lower()))


@dataclass(frozen=True, slots=True)
class Fact:
    label: str
    value: str
    code: bool = False  # an identifier: monospaced, selected whole by one click (to copy it)
    key: str = ""  # the metadata key it came from, for engineers (a tooltip)


@dataclass(frozen=True, slots=True)
class Tokens:
    """An AI event's token breakdown, as OpenAI reports it: cached input is part of input, reasoning part of
    output."""

    rows: list[Fact]
    total: str


@dataclass(frozen=True, slots=True)
class Details:
    facts: list[Fact] = field(default_factory=list)  # in words, from the known keys
    tokens: Tokens | None = None
    other: list[Fact] = field(default_factory=list)  # any other plain value, under its own key
    hidden: int = 0  # keys left out because they may carry content (or are nested)


def parse_metadata(raw: bytes) -> dict[str, Any]:
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return {}
    return value if isinstance(value, dict) else {}


_DIRECTIONS = {
    "inbound": "Inbound",
    "outbound": "Outbound",
    "outbound-api": "Outbound (placed by your app)",
    "outbound-dial": "Outbound (forwarded by a call)",
}
_RECORDED_FROM = {"event_webhook": "SendGrid's event webhook"}
_OPERATIONS = {"chat": "Chat completion", "text_completion": "Text completion", "responses": "Response"}


def _plain(value: object) -> str:
    return str(value)[:MAX_VALUE_CHARS]


def _yes_no(value: object) -> str:
    return "Yes" if value is True else "No" if value is False else _plain(value)


def _capital(value: object) -> str:
    text = _plain(value).replace("_", " ").replace("-", " ")
    return text[:1].upper() + text[1:]


def _number(value: object) -> str:
    return count(value) if isinstance(value, int) and not isinstance(value, bool) else _plain(value)


def _seconds(value: object) -> str:
    return duration_text(value) if isinstance(value, int) and not isinstance(value, bool) else _plain(value)


# (key, label, how to write the value, an identifier?) in the order they are shown.
_KNOWN: tuple[tuple[str, str, Callable[[object], str], bool], ...] = (
    ("gen_ai.response.model", "Model", _plain, False),
    ("gen_ai.request.model", "Model asked for", _plain, False),
    ("gen_ai.operation.name", "Kind of request", lambda v: _OPERATIONS.get(str(v), _plain(v)), False),
    ("stream", "Streamed", _yes_no, False),
    ("direction", "Direction", lambda v: _DIRECTIONS.get(str(v), _capital(v)), False),
    ("call_duration_seconds", "Duration", _seconds, False),
    ("status", "Status", _capital, False),
    ("from", "From", _plain, False),
    ("to", "To", _plain, False),
    ("num_segments", "Segments", _number, False),
    ("num_media", "Media files", _number, False),
    ("step", "Phone menu step", _plain, False),
    ("visit", "Visit", _plain, False),
    ("has_digits", "Caller pressed keys", _yes_no, False),
    ("recipients", "Recipients", _number, False),
    ("template_id", "Template", _plain, True),
    ("recorded_from", "Recorded from", lambda v: _RECORDED_FROM.get(str(v), _plain(v)), False),
    ("message_sid", "Message ID", _plain, True),
    ("call_sid", "Call ID", _plain, True),
    ("messaging_service_sid", "Messaging service", _plain, True),
    ("x_message_id", "Message ID", _plain, True),
    ("sg_message_id", "SendGrid message ID", _plain, True),
    ("sg_event_id", "SendGrid event ID", _plain, True),
    ("gen_ai.response.id", "Response ID", _plain, True),
)
_TOKEN_ROWS = (
    (attr.GEN_AI_INPUT_TOKENS, "Input"),
    (attr.GEN_AI_CACHE_READ_TOKENS, "of which read from the cache"),
    (attr.GEN_AI_CACHE_CREATION_TOKENS, "of which written to the cache"),
    (attr.GEN_AI_OUTPUT_TOKENS, "Output"),
    (attr.GEN_AI_REASONING_TOKENS, "of which reasoning"),
)
# Shown with another fact, not on their own: the recipient split goes with "Recipients".
_FOLDED = frozenset({"to_count", "cc_count", "bcc_count"})


def details(metadata: Mapping[str, Any], units_text: str) -> Details:
    shown = {k for k, _, _, _ in _KNOWN} | {k for k, _ in _TOKEN_ROWS} | _FOLDED
    facts = [
        Fact(label, write(metadata[key]), is_id, key)
        for key, label, write, is_id in _KNOWN
        if _showable(key, metadata.get(key))
    ]
    facts = [_with_recipient_split(f, metadata) if f.key == "recipients" else f for f in facts]
    other = [
        Fact(key, _plain(value), key=key)
        for key, value in sorted(metadata.items())
        if key not in shown and _showable(key, value)
    ]
    hidden = sum(1 for k, v in metadata.items() if v is not None and not _showable(k, v))
    return Details(facts, _tokens(metadata, units_text), other, hidden)


def _showable(key: str, value: object) -> bool:
    return value is not None and value != "" and isinstance(value, str | int | float | bool) and not content_key(key)


def _with_recipient_split(fact: Fact, metadata: Mapping[str, Any]) -> Fact:
    split = [(f, metadata.get(f"{f}_count")) for f in ("to", "cc", "bcc")]
    parts = [f"{n} {f}" for f, n in split if isinstance(n, int) and n]
    return Fact(fact.label, f"{fact.value} ({', '.join(parts)})", key=fact.key) if parts else fact


def _tokens(metadata: Mapping[str, Any], units_text: str) -> Tokens | None:
    rows = [
        Fact(label, count(metadata[key]), key=key)
        for key, label in _TOKEN_ROWS
        if isinstance(metadata.get(key), int) and not isinstance(metadata.get(key), bool)
    ]
    return Tokens(rows, units_text) if rows else None
