"""Twilio webhooks → usage: the signature check and the mapping to sms_inbound / mms / call_in / call_minutes / ivr.

Shared by the app-side helper (usage_ledger_client.webhooks) and the ledger's own endpoints, so both derive
the same keys: `<MessageSid>:<event type>`, `<CallSid>:call_in`, `<CallSid>:call_minutes`,
`<CallSid>:ivr:<step>[:<visit>]`. `url` must be the URL exactly as Twilio requested it (scheme, host, port,
path and query; behind a proxy, the public one). The signature check needs the twilio SDK.

Keys derive only from what Twilio signs: the URL and the form fields. Twilio's I-Twilio-Idempotency-Token
header is not signed, so anyone replaying a captured request could change it; it is never part of a key.
An app that wants a step visited twice in one call billed twice says so in the signed URL: a `visit`
query parameter of its own (e.g. `...?step=menu&visit=2`, a counter or nonce it puts in the action URL).
"""

from __future__ import annotations

import binascii
import math
from base64 import b64decode
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from usage_ledger_contract.webhooks._spec import InvalidSignatureError, UsageSpec

Params = dict[str, list[str]]
SIGNATURE_HEADER = "X-Twilio-Signature"
SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
# The signature is base64 of an HMAC: 20 bytes (HMAC-SHA1, the Auth Token's) or 32 (HMAC-SHA256).
_ALGORITHMS = {"HMAC_SHA1": 20, "HMAC_SHA256": 32}
_MAX_SIGNATURE_CHARS = 64
# Counts Twilio sends (segments, media, seconds) are small; more digits than this is not a count.
_MAX_COUNT_DIGITS = 9


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


def check_request_headers(auth_token: str, signature: str | None, signature_settings: str | None = None) -> None:
    """What can be checked before the body is read: a token to check with, and a signature header of the
    right shape for its algorithm. Raises InvalidSignatureError (answer 403)."""
    if not auth_token:
        raise InvalidSignatureError("no Twilio auth token is configured, so no webhook can be verified")
    if not signature:
        raise InvalidSignatureError(f"the {SIGNATURE_HEADER} header is missing")
    size = _ALGORITHMS.get(_algorithm(signature_settings).upper())
    if size is None:
        raise InvalidSignatureError(f"the {SIGNATURE_SETTINGS_HEADER} header names an unsupported algorithm")
    if len(signature) > _MAX_SIGNATURE_CHARS or _base64_size(signature) != size:
        raise InvalidSignatureError(f"the {SIGNATURE_HEADER} header is not a signature")


def verify_signature(
    auth_token: str, url: str, params: Params, signature: str | None, signature_settings: str | None = None
) -> None:
    """Raise InvalidSignatureError unless `signature` is Twilio's signature of `url` + `params`."""
    from twilio.request_validator import RequestValidator

    check_request_headers(auth_token, signature, signature_settings)
    try:
        valid = RequestValidator(auth_token).validate(
            url, _MultiDict(params), signature, _algorithm(signature_settings)
        )
    except ValueError:  # a URL the validator cannot take apart (a port out of range...): not what Twilio signed
        valid = False
    if not valid:
        raise InvalidSignatureError(f"the {SIGNATURE_HEADER} header does not match this request")


def signed_query_param(url: str, name: str) -> str | None:
    """A parameter of the signed URL's query string (the first value), e.g. the IVR `visit`."""
    values = parse_qs(urlsplit(url).query).get(name)
    return values[0] if values else None


def _algorithm(signature_settings: str | None) -> str:
    from twilio.request_validator import get_signature_algorithm

    algorithm: str = get_signature_algorithm(signature_settings)
    return algorithm


def _base64_size(text: str) -> int:
    try:
        return len(b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        return -1


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
    # ASCII digits only: str.isdigit() also accepts superscripts and other scripts' digits, which int() refuses.
    if not (value.isascii() and value.isdigit() and len(value) <= _MAX_COUNT_DIGITS):
        raise ValueError(
            f"{name}: must be a non-negative integer of at most {_MAX_COUNT_DIGITS} digits, got {value[:32]!r}"
        )
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


def ivr_step_usage(params: Params, step: str | None = None, visit: str | None = None) -> list[UsageSpec]:
    """One IVR step. `step` and `visit` come from the signed URL; without a `visit`, a step visited twice in
    one call counts once (retries and replays of a request are always one)."""
    sid = _required(params, "CallSid")
    step_name = step or "step"
    key = f"{sid}:ivr:{step_name}" + (f":{visit}" if visit else "")
    metadata = {"call_sid": sid, "step": step_name, "has_digits": bool(_one(params, "Digits"))}
    if visit:
        metadata["visit"] = visit
    return [UsageSpec("twilio", "ivr", 1, key, metadata)]
