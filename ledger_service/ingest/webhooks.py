"""Provider webhooks into the ledger: verify the provider's signature, map to usage, store exactly once.

The mapping (which parameters become which event, and the idempotency keys) is the contract's
(`usage_ledger_contract.webhooks`), so the ledger's endpoints and an app's own handlers agree on keys: a
webhook seen by both, or retried by the provider, is one row. Nothing is stored unless the signature
checks out.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from urllib.parse import parse_qs

import msgspec

from ledger_service.errors import BadRequestError, ForbiddenError
from ledger_service.ingest.model import NOTHING, IngestItem, IngestResult, rejected_by_msgspec, wire_name
from ledger_service.ingest.service import IngestService
from ledger_service.settings import Settings
from usage_ledger_contract import fields
from usage_ledger_contract.attributes import UNATTRIBUTED_TENANT
from usage_ledger_contract.webhooks import InvalidSignatureError, UsageSpec
from usage_ledger_contract.webhooks import sendgrid as sendgrid_hooks
from usage_ledger_contract.webhooks import twilio as twilio_hooks
from usage_ledger_contract.wire import build_event


class TwilioHook(Enum):
    SMS = "sms"
    VOICE_STATUS = "voice-status"
    IVR = "ivr"


class WebhookResult(msgspec.Struct, frozen=True, rename="camel"):
    events: int  # usage events the webhook carried
    accepted: int  # stored now
    duplicates: int  # already stored (a retried delivery)
    recorded_at_send: int = 0  # SendGrid: events of messages the instrumentor already billed


class TwilioRequest(msgspec.Struct, frozen=True):
    tenant_id: str
    url: str  # as Twilio requested it
    body: bytes  # application/x-www-form-urlencoded
    signature: str | None
    signature_settings: str | None = None
    idempotency_token: str | None = None
    step: str | None = None  # IVR only


class WebhookService:
    def __init__(self, ingest: IngestService, settings: Settings) -> None:
        self._ingest = ingest
        token = settings.twilio_auth_token
        self._twilio_token = token.get_secret_value() if token is not None else ""
        self._sendgrid_key = settings.sendgrid_webhook_public_key or ""
        self._sendgrid_max_age = settings.sendgrid_webhook_max_age_seconds

    async def twilio(self, hook: TwilioHook, request: TwilioRequest) -> WebhookResult:
        params = _form(request.body)
        signed = (request.url, params, request.signature, request.signature_settings)
        _verified(twilio_hooks.verify_signature, self._twilio_token, *signed)
        try:
            if hook is TwilioHook.SMS:
                specs = twilio_hooks.message_usage(params)
            elif hook is TwilioHook.VOICE_STATUS:
                specs = twilio_hooks.call_status_usage(params)
            else:
                specs = twilio_hooks.ivr_step_usage(params, request.step, request.idempotency_token)
        except ValueError as exc:
            raise BadRequestError(str(exc)) from None
        return await self._store(specs, request.tenant_id)

    async def sendgrid(self, body: bytes, signature: str | None, timestamp: str | None) -> WebhookResult:
        max_age = self._sendgrid_max_age
        _verified(
            sendgrid_hooks.verify_signature, self._sendgrid_key, body, signature, timestamp, max_age_seconds=max_age
        )
        try:
            specs, recorded_at_send = sendgrid_hooks.event_usage(sendgrid_hooks.parse_events(body))
        except ValueError as exc:
            raise BadRequestError(str(exc)) from None
        result = await self._store(specs, UNATTRIBUTED_TENANT)
        return WebhookResult(result.events, result.accepted, result.duplicates, recorded_at_send)

    async def _store(self, specs: list[UsageSpec], tenant_id: str) -> WebhookResult:
        now = datetime.now(UTC)
        events = [_event(spec, spec.tenant_id or tenant_id, now) for spec in specs]
        result: IngestResult = await self._ingest.ingest(events) if events else NOTHING
        if result.rejected:
            # The provider sees a 4xx (and its console shows why); the valid events of the batch are stored.
            reasons = "; ".join(r.reason.text(wire_name) for r in result.rejections[:5])
            raise BadRequestError(f"{result.rejected} of {len(events)} usage events were rejected: {reasons}")
        return WebhookResult(len(events), result.accepted, result.duplicates)


def _verified(verify: Callable[..., None], *args: object, **kwargs: object) -> None:
    try:
        verify(*args, **kwargs)
    except InvalidSignatureError as exc:
        raise ForbiddenError(str(exc)) from None


def _form(body: bytes) -> twilio_hooks.Params:
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise BadRequestError("the form body is not UTF-8") from None


def _event(spec: UsageSpec, tenant_id: str, now: datetime) -> IngestItem:
    try:
        return build_event(
            tenant_id=tenant_id,
            source=spec.source,
            event_type=spec.event_type,
            units=spec.units,
            idempotency_key=spec.idempotency_key,
            metadata=msgspec.Raw(msgspec.json.encode(spec.metadata)),
            occurred_at=spec.occurred_at or now,
        )
    except msgspec.ValidationError as exc:
        return rejected_by_msgspec(exc, fields.BY_NAME)
