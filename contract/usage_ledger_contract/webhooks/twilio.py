"""Twilio webhooks → usage: the signature check and the mapping to sms_inbound / mms / call_in / call_minutes / ivr.

Shared by the app-side helper (usage_ledger_client.webhooks) and the ledger's own endpoints, so both derive
the same keys: `<MessageSid>:<event type>`, `<CallSid>:call_in`, `<CallSid>:call_minutes`,
`<CallSid>:ivr:<step>[:<token>]`. `url` must be the URL exactly as Twilio requested it (scheme, host, port,
path and query; behind a proxy, the public one). The signature check needs the twilio SDK.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from usage_ledger_contract.webhooks._spec import InvalidSignatureError, UsageSpec

Params = dict[str, list[str]]
SIGNATURE_HEADER = "X-Twilio-Signature"
SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
# Twilio repeats this header on every retry of one webhook request, and sends a new one for a new request.
IDEMPOTENCY_TOKEN_HEADER = "I-Twilio-Idempotency-Token"  # noqa: S105 - a header name


class _MultiDict:
    """What RequestValidator reads repeated form fields through (it calls getlist)."""

    def __init__(self, params: Params) -> None:
        self._params = params

    def __iter__(self) -> Any:
        return iter(self._params)

    def getlist(self, name: str) -> list[str]:
        return self._params[name]


def form_params(params: Any) -> Params:
    """Form fields from a Flask/Django/Starlette multi-dict or a plain mapping, every value as a list."""
    if isinstance(params, dict) and all(isinstance(v, list) for v in params.values()):
        return params
    for getter in ("getlist", "getall"):
        if hasattr(params, getter):
            return {str(k): [str(v) for v in getattr(params, getter)(k)] for k in params}
    if isinstance(params, Mapping):
        return {str(k): [str(x) for x in v] if isinstance(v, (list, tuple)) else [str(v)] for k, v in params.items()}
    raise TypeError(f"params must be a mapping of form fields, not {type(params).__name__}")


def verify_signature(
    auth_token: str, url: str, params: Params, signature: str | None, signature_settings: str | None = None
) -> None:
    """Raise InvalidSignatureError unless `signature` is Twilio's signature of `url` + `params`."""
    from twilio.request_validator import RequestValidator, get_signature_algorithm

    if not auth_token:
        raise InvalidSignatureError("no Twilio auth token is configured, so no webhook can be verified")
    if not signature:
        raise InvalidSignatureError(f"the {SIGNATURE_HEADER} header is missing")
    algorithm = get_signature_algorithm(signature_settings)
    if not RequestValidator(auth_token).validate(url, _MultiDict(params), signature, algorithm):
        raise InvalidSignatureError(f"the {SIGNATURE_HEADER} header does not match this request")


def _one(params: Params, name: str, default: str | None = None) -> str | None:
    values = params.get(name)
    return values[0] if values else default


def _required(params: Params, *names: str) -> str:
    for name in names:
        value = _one(params, name)
        if value:
            return value
    raise ValueError(f"{names[0]}: the webhook has no {names[0]} parameter")


def _count(params: Params, name: str, default: int) -> int:
    value = _one(params, name)
    if value is None or value == "":
        return default
    if not value.isdigit():
        raise ValueError(f"{name}: must be a non-negative integer, got {value!r}")
    return int(value)


def message_usage(params: Params) -> list[UsageSpec]:
    """An inbound message: `mms` (one message) when it carries media, else `sms_inbound` (NumSegments)."""
    sid = _required(params, "MessageSid", "SmsSid")
    segments, media = _count(params, "NumSegments", 1), _count(params, "NumMedia", 0)
    metadata: dict[str, object] = {
        "message_sid": sid,
        "num_segments": segments,
        "num_media": media,
        "direction": "inbound",
        "from": _one(params, "From"),
        "to": _one(params, "To"),
    }
    if media > 0:
        return [UsageSpec("twilio", "mms", 1, f"{sid}:mms", metadata)]
    return [UsageSpec("twilio", "sms_inbound", segments, f"{sid}:sms_inbound", metadata)]


def inbound_call_usage(params: Params) -> list[UsageSpec]:
    sid = _required(params, "CallSid")
    metadata: dict[str, object] = {
        "call_sid": sid,
        "direction": "inbound",
        "from": _one(params, "From"),
        "to": _one(params, "To"),
    }
    return [UsageSpec("twilio", "call_in", 1, f"{sid}:call_in", metadata)]


def call_status_usage(params: Params) -> list[UsageSpec]:
    """A voice status callback: `call_in` for an inbound call; `call_minutes` once it reports `completed`."""
    sid = _required(params, "CallSid")
    direction = _one(params, "Direction", "") or ""
    specs = inbound_call_usage(params) if direction == "inbound" else []
    if _one(params, "CallStatus") == "completed":
        seconds = _count(params, "CallDuration", 0)
        metadata = {
            "call_sid": sid,
            "direction": direction,
            "call_duration_seconds": seconds,
            "from": _one(params, "From"),
            "to": _one(params, "To"),
        }
        specs.append(UsageSpec("twilio", "call_minutes", math.ceil(seconds / 60), f"{sid}:call_minutes", metadata))
    return specs


def ivr_step_usage(params: Params, step: str | None = None, idempotency_token: str | None = None) -> list[UsageSpec]:
    """One IVR step. Without Twilio's idempotency token, a step visited twice in one call counts once."""
    sid = _required(params, "CallSid")
    step_name = step or "step"
    key = f"{sid}:ivr:{step_name}" + (f":{idempotency_token}" if idempotency_token else "")
    metadata = {"call_sid": sid, "step": step_name, "has_digits": bool(_one(params, "Digits"))}
    return [UsageSpec("twilio", "ivr", 1, key, metadata)]
