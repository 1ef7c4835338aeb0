"""Provider webhooks into the ledger: verify the provider's signature, map to usage, store exactly once.

The mapping (which parameters become which event, and the idempotency keys) is the contract's
(`usage_ledger_contract.webhooks`), so the ledger's endpoints and an app's own handlers agree on keys: a
webhook seen by both, or retried by the provider, is one row. Nothing is stored unless the signature
checks out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from enum import Enum
from urllib.parse import parse_qs

import msgspec

from ledger_service.errors import BadRequestError, ForbiddenError
from ledger_service.ingest.json_batch import conflict_details
from ledger_service.ingest.model import NOTHING, IngestItem, IngestOptions, IngestResult, rejected_by_msgspec, wire_name
from ledger_service.ingest.service import IngestService
from ledger_service.settings import Settings
from usage_ledger_contract import fields
from usage_ledger_contract.attributes import UNATTRIBUTED_TENANT
from usage_ledger_contract.webhooks import InvalidSignatureError, UsageSpec
from usage_ledger_contract.webhooks import sendgrid as sendgrid_hooks
from usage_ledger_contract.webhooks import twilio as twilio_hooks
from usage_ledger_contract.webhooks.sendgrid import EventProblem, EventUsage
from usage_ledger_contract.wire import EventConflict, build_event

log = logging.getLogger(__name__)
_VIA = IngestOptions(via="webhook")


class TwilioHook(Enum):
    SMS = "sms"
    VOICE_STATUS = "voice-status"
    IVR = "ivr"


class WebhookResult(msgspec.Struct, frozen=True, rename="camel"):
    events: int  # usage events the webhook carried
    accepted: int  # stored now
    duplicates: int  # already stored (a retried delivery)
    recorded_at_send: int = 0  # SendGrid: events of messages the instrumentor already billed
    # Events whose key holds a stored event with other content: nothing changed (DESIGN.md invariant 8).
    conflicts: int = 0
    conflict_details: list[EventConflict] = []


class TwilioRequest(msgspec.Struct, frozen=True):
    tenant_id: str
    url: str  # as Twilio requested it
    body: bytes  # application/x-www-form-urlencoded
    signature: str | None
    signature_settings: str | None = None
    step: str | None = None  # IVR only, from the signed URL
    visit: str | None = None  # IVR only, from the signed URL


class WebhookService:
    """Checks (cheap header checks, then the signature), maps to usage, stores. The signature checks and the
    mapping are plain functions (`*_usage`), so the HTTP layer can run them off the event loop."""

    def __init__(self, ingest: IngestService, settings: Settings) -> None:
        self._ingest = ingest
        token = settings.twilio_auth_token
        self._twilio_token = token.get_secret_value() if token is not None else ""
        self._sendgrid_key = settings.sendgrid_webhook_public_key or ""
        self._sendgrid_max_age = settings.sendgrid_webhook_max_age_seconds

    def check_twilio_headers(self, signature: str | None, signature_settings: str | None) -> None:
        _verified(twilio_hooks.check_request_headers, self._twilio_token, signature, signature_settings)

    def check_sendgrid_headers(self, signature: str | None, timestamp: str | None) -> None:
        max_age = self._sendgrid_max_age
        _verified(
            sendgrid_hooks.check_request_headers, self._sendgrid_key, signature, timestamp, max_age_seconds=max_age
        )

    def twilio_usage(self, hook: TwilioHook, request: TwilioRequest) -> list[UsageSpec]:
        """Verify the request, then map it to usage (CPU only: parsing, HMAC)."""
        params = _form(request.body)
        signed = (request.url, params, request.signature, request.signature_settings)
        _verified(twilio_hooks.verify_signature, self._twilio_token, *signed)
        try:
            if hook is TwilioHook.SMS:
                return twilio_hooks.message_usage(params)
            if hook is TwilioHook.VOICE_STATUS:
                return twilio_hooks.call_status_usage(params)
            return twilio_hooks.ivr_step_usage(params, request.step, request.visit)
        except ValueError as exc:
            raise BadRequestError(str(exc)) from None

    def sendgrid_usage(self, body: bytes, signature: str | None, timestamp: str | None) -> EventUsage:
        """Verify the batch, then map it to usage (CPU only: ECDSA, JSON)."""
        max_age = self._sendgrid_max_age
        _verified(
            sendgrid_hooks.verify_signature, self._sendgrid_key, body, signature, timestamp, max_age_seconds=max_age
        )
        try:
            return sendgrid_hooks.event_usage(sendgrid_hooks.parse_events(body))
        except ValueError as exc:
            raise BadRequestError(str(exc)) from None

    async def store_twilio(self, specs: list[UsageSpec], tenant_id: str) -> WebhookResult:
        return await self._store(specs, tenant_id)

    async def store_sendgrid(self, usage: EventUsage) -> WebhookResult:
        result = await self._store(usage.specs, UNATTRIBUTED_TENANT, usage.problems)
        return msgspec.structs.replace(result, recorded_at_send=usage.recorded_at_send)

    async def _store(
        self, specs: list[UsageSpec], tenant_id: str, problems: Sequence[EventProblem] = ()
    ) -> WebhookResult:
        events = [_event(spec, spec.tenant_id or tenant_id) for spec in specs]
        result: IngestResult = await self._ingest.ingest(events, _VIA) if events else NOTHING
        for conflict in result.conflicts:
            # Twilio reads only the TwiML answer: the log (and GET /api/admin/conflicts) is where this shows.
            log.warning("webhook for tenant %s: %s", conflict.tenant_id, conflict.text(wire_name))
        reasons = [f"event {p.index}: {p.reason}" for p in problems]
        reasons += [r.reason.text(wire_name) for r in result.rejections]
        if reasons:
            # The provider sees a 4xx (and its console shows why); the valid events of the batch are stored.
            rejected, total = result.rejected + len(problems), len(events) + len(problems)
            raise BadRequestError(f"{rejected} of {total} usage events were rejected: {'; '.join(reasons[:5])}")
        details = conflict_details(result.conflicts)
        return WebhookResult(
            len(events), result.accepted, result.duplicates, conflicts=len(details), conflict_details=details
        )


def _verified(verify: Callable[..., None], *args: object, **kwargs: object) -> None:
    try:
        verify(*args, **kwargs)
    except InvalidSignatureError as exc:
        raise ForbiddenError(str(exc)) from None


# Twilio sends a few dozen fields (more with media); thousands would only cost time before the signature check.
_MAX_FORM_FIELDS = 1000


def _form(body: bytes) -> twilio_hooks.Params:
    try:
        return parse_qs(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=_MAX_FORM_FIELDS
        )
    except UnicodeDecodeError:
        raise BadRequestError("the form body is not UTF-8") from None
    except ValueError:
        raise BadRequestError(f"the form has more than {_MAX_FORM_FIELDS} fields") from None


def _event(spec: UsageSpec, tenant_id: str) -> IngestItem:
    # No time from the provider (Twilio sends none): the ledger assigns it, and compares a redelivery without
    # it, so a retry or a replay is a duplicate at any moment; its claim is kept for good (migration 0010).
    try:
        return build_event(
            tenant_id=tenant_id,
            source=spec.source,
            event_type=spec.event_type,
            units=spec.units,
            idempotency_key=spec.idempotency_key,
            metadata=msgspec.Raw(msgspec.json.encode(spec.metadata)),
            occurred_at=spec.occurred_at,
        )
    except msgspec.ValidationError as exc:
        return rejected_by_msgspec(exc, fields.BY_NAME)
