"""OpenAI API stand-in: chat completions (JSON and SSE streaming with the final usage chunk) and Responses.

The official `OpenAI` / `AsyncOpenAI` clients reach it through their own `base_url` option. Token counts
are derived from the request so they differ per call: input = words of the prompt + 3 per message,
output = words of the reply + `reasoning_tokens`, with `cached_tokens` of the input read from cache and
`cache_write_tokens` written to it.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

from harness.standins._http import Reply, Request, StandinServer

API_KEY = "sk-standin"
REPLY = "Hello from the stand-in model, how can I help you today"


class OpenAIStandin(StandinServer):
    def __init__(self, cached_tokens: int = 2, reasoning_tokens: int = 3, cache_write_tokens: int = 1) -> None:
        self.cached_tokens = cached_tokens
        self.cache_write_tokens = cache_write_tokens
        self.reasoning_tokens = reasoning_tokens
        self.usages: list[dict[str, Any]] = []  # the usage of every answer, in order, whether the caller saw it or not
        super().__init__(
            {
                ("POST", r"/v1/chat/completions"): self._chat,
                ("POST", r"/v1/responses"): self._responses,
            }
        )

    # --- chat completions --------------------------------------------------------------------------

    def _chat(self, request: Request) -> Reply:
        body: Any = request.json()
        prompt = sum(len(str(m.get("content", "")).split()) + 3 for m in body["messages"])
        usage = self._chat_usage(prompt)
        self.usages.append(usage)
        cid, model = "chatcmpl-" + secrets.token_hex(12), body["model"]
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": REPLY, "refusal": None, "annotations": []}
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
            return Reply.json(
                200,
                {
                    **_chunk_head(cid, model, "chat.completion"),
                    "choices": [choice],
                    "usage": usage,
                    "service_tier": "default",
                    "system_fingerprint": "fp_standin",
                },
            )
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return _sse(_chat_chunks(cid, model, usage, include_usage))

    def _chat_usage(self, prompt: int) -> dict[str, Any]:
        completion = len(REPLY.split()) + self.reasoning_tokens
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {
                "cached_tokens": self.cached_tokens,
                "cache_write_tokens": self.cache_write_tokens,
                "audio_tokens": 0,
            },
            "completion_tokens_details": {
                "reasoning_tokens": self.reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    # --- Responses API -----------------------------------------------------------------------------

    def _responses(self, request: Request) -> Reply:
        body: Any = request.json()
        text = body["input"] if isinstance(body["input"], str) else json.dumps(body["input"])
        prompt = len(text.split()) + 3
        completion = len(REPLY.split()) + self.reasoning_tokens
        usage = {
            "input_tokens": prompt,
            "input_tokens_details": {
                "cached_tokens": self.cached_tokens,
                "cache_write_tokens": self.cache_write_tokens,
            },
            "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
            "total_tokens": prompt + completion,
        }
        self.usages.append(usage)
        response = _response(body["model"], usage)
        if not body.get("stream"):
            return Reply.json(200, response)
        return _sse(_response_events(response), done=False)


def _chunk_head(cid: str, model: str, kind: str) -> dict[str, Any]:
    return {"id": cid, "object": kind, "created": int(time.time()), "model": model}


def _chat_chunks(cid: str, model: str, usage: dict[str, Any], include_usage: bool) -> Iterator[tuple[str, Any]]:
    head = _chunk_head(cid, model, "chat.completion.chunk")
    extra = {"usage": None} if include_usage else {}  # with include_usage every chunk carries usage: null
    deltas = [{"role": "assistant", "content": ""}, *({"content": f"{w} "} for w in REPLY.split())]
    for delta in deltas:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
        yield "", {**head, "choices": [choice], **extra}
    yield "", {**head, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}], **extra}
    if include_usage:
        yield "", {**head, "choices": [], "usage": usage}


def _response(model: str, usage: dict[str, Any]) -> dict[str, Any]:
    rid = "resp_" + secrets.token_hex(16)
    content = {"type": "output_text", "text": REPLY, "annotations": [], "logprobs": []}
    item = {
        "type": "message",
        "id": "msg_" + secrets.token_hex(8),
        "status": "completed",
        "role": "assistant",
        "content": [content],
    }
    return {
        "id": rid,
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": model,
        "output": [item],
        "usage": usage,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "metadata": {},
        "parallel_tool_calls": True,
        "temperature": 1.0,
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "text": {"format": {"type": "text"}},
    }


def _response_events(final: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    started = {**final, "status": "in_progress", "output": [], "usage": None}
    item_id = final["output"][0]["id"]
    yield "response.created", {"type": "response.created", "sequence_number": 0, "response": started}
    for n, word in enumerate(REPLY.split(), start=1):
        yield (
            "response.output_text.delta",
            {
                "type": "response.output_text.delta",
                "sequence_number": n,
                "item_id": item_id,
                "output_index": 0,
                "content_index": 0,
                "delta": f"{word} ",
                "logprobs": [],
            },
        )
    yield "response.completed", {"type": "response.completed", "sequence_number": 99, "response": final}


def _sse(events: Iterator[tuple[str, Any]], done: bool = True) -> Reply:
    def frames() -> Iterator[bytes]:
        for name, data in events:
            prefix = f"event: {name}\n" if name else ""
            yield f"{prefix}data: {json.dumps(data)}\n\n".encode()
        if done:  # chat completions end with [DONE]; the Responses API just ends after response.completed
            yield b"data: [DONE]\n\n"

    return Reply(200, headers={"Content-Type": "text/event-stream"}, chunks=frames())


def openai_error(
    message: str = "The model `nope` does not exist or you do not have access to it.", status: int = 400
) -> Reply:
    """An error as the API sends it; queue it with `standin.respond_next(...)`."""
    error = {"message": message, "type": "invalid_request_error", "param": "model", "code": "model_not_found"}
    return Reply.json(status, {"error": error})
