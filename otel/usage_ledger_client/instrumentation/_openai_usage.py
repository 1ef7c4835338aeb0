"""Reading usage out of OpenAI results (chat completions, Responses API) under the OTel GenAI names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from usage_ledger_client.instrumentation._common import clip
from usage_ledger_contract import attributes as attr

INPUT = attr.GEN_AI_INPUT_TOKENS
OUTPUT = attr.GEN_AI_OUTPUT_TOKENS
CACHE_READ = attr.GEN_AI_CACHE_READ_TOKENS
CACHE_CREATION = attr.GEN_AI_CACHE_CREATION_TOKENS
REASONING = attr.GEN_AI_REASONING_TOKENS
RESPONSE_ID = attr.GEN_AI_RESPONSE_ID
RESPONSE_MODEL = attr.GEN_AI_RESPONSE_MODEL
REQUEST_MODEL = attr.GEN_AI_REQUEST_MODEL
OPERATION = attr.GEN_AI_OPERATION


@dataclass(frozen=True, slots=True)
class Usage:
    response_id: str
    model: str | None
    total: int
    breakdown: dict[str, int]


def usage_of(result: Any) -> Usage | None:
    """Usage of a ChatCompletion / chunk (prompt_/completion_tokens) or a Response (input_/output_tokens)."""
    usage = getattr(result, "usage", None)
    if usage is None:
        return None
    if hasattr(usage, "prompt_tokens"):
        breakdown = {
            INPUT: usage.prompt_tokens,
            OUTPUT: usage.completion_tokens,
            CACHE_READ: _detail(usage, "prompt_tokens_details", "cached_tokens"),
            CACHE_CREATION: _detail(usage, "prompt_tokens_details", "cache_write_tokens"),
            REASONING: _detail(usage, "completion_tokens_details", "reasoning_tokens"),
        }
    else:
        breakdown = {
            INPUT: usage.input_tokens,
            OUTPUT: usage.output_tokens,
            CACHE_READ: _detail(usage, "input_tokens_details", "cached_tokens"),
            CACHE_CREATION: _detail(usage, "input_tokens_details", "cache_write_tokens"),
            REASONING: _detail(usage, "output_tokens_details", "reasoning_tokens"),
        }
    return Usage(str(result.id), getattr(result, "model", None), int(usage.total_tokens), breakdown)


def _detail(usage: Any, group: str, name: str) -> int:
    details = getattr(usage, group, None)
    return int(getattr(details, name, None) or 0)


def metadata(usage: Usage, request_model: object, operation: str, stream: bool) -> dict[str, object]:
    return {
        OPERATION: operation,
        REQUEST_MODEL: request_model if isinstance(request_model, str) else None,
        RESPONSE_MODEL: usage.model,
        RESPONSE_ID: usage.response_id,
        "stream": stream,
        **usage.breakdown,
    }


def is_raw_response(result: Any) -> bool:
    """`with_raw_response` hands back the HTTP response with a `.parse()` instead of the parsed object."""
    return hasattr(result, "http_response") and callable(getattr(result, "parse", None))


def span_attributes(usage: Usage) -> dict[str, str | int]:
    attributes: dict[str, str | int] = {RESPONSE_ID: usage.response_id, **usage.breakdown}
    if usage.model:
        attributes[RESPONSE_MODEL] = usage.model
    return attributes


def content(result: Any, kwargs: dict[str, Any]) -> dict[str, object]:
    """Prompt and completion text, only ever called when content capture is turned on."""
    captured: dict[str, object] = {}
    messages = kwargs.get("messages")
    prompt = kwargs.get("input") if messages is None else (list(messages)[-1:] or [{}])[0].get("content")
    if isinstance(prompt, str):
        captured["gen_ai.prompt"] = clip(prompt)
    choices = getattr(result, "choices", None)
    completion = choices[0].message.content if choices else getattr(result, "output_text", None)
    if isinstance(completion, str):
        captured["gen_ai.completion"] = clip(completion)
    return captured
