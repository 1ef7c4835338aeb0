"""Provider webhooks pointed straight at the ledger: Twilio (tenant in the signed URL) and SendGrid's Event Webhook.

Twilio: configure `https://<ledger>/webhooks/twilio/<tenant>/sms` (inbound messages),
`.../voice-status` (call status callbacks) and `.../ivr?step=<name>` (a Gather/menu action). Twilio signs the
full URL, so the tenant cannot be changed without breaking the signature. The SMS and IVR endpoints answer
with TwiML: empty, or `<Redirect>` to the `next` query parameter, so the ledger can sit in front of the
app's own handler. SendGrid: `https://<ledger>/webhooks/sendgrid/events` with Signed Event Webhook on.
A missing or wrong signature is a 403 and nothing is stored.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, post
from litestar.di import NamedDependency
from litestar.params import FromPath, RawBody
from twilio.twiml import TwiML
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from ledger_service.api.openapi import WebhookOperation
from ledger_service.ingest.webhooks import TwilioHook, TwilioRequest, WebhookResult, WebhookService
from ledger_service.settings import Settings
from usage_ledger_contract.webhooks import sendgrid as sendgrid_hooks
from usage_ledger_contract.webhooks import twilio as twilio_hooks


def _twiml(answer: MessagingResponse | VoiceResponse, next_url: str | None) -> Response[str]:
    if next_url and next_url.startswith(("https://", "http://")):
        # Safe to follow: `next` is inside the URL Twilio signed, so only the account owner can set it.
        answer.redirect(next_url, method="POST")
    return _xml(answer)


def _xml(answer: TwiML) -> Response[str]:
    return Response(str(answer), media_type="application/xml")


def _public_url(request: Request[Any, Any, Any], settings: Settings) -> str:
    if not settings.twilio_webhook_base_url:
        return str(request.url)
    query = request.url.query
    return settings.twilio_webhook_base_url.rstrip("/") + request.url.path + (f"?{query}" if query else "")


async def _twilio(
    hook: TwilioHook,
    tenant_id: str,
    request: Request[Any, Any, Any],
    body: RawBody,
    hooks: WebhookService,
    settings: Settings,
) -> None:
    twilio_request = TwilioRequest(
        tenant_id=tenant_id,
        url=_public_url(request, settings),
        body=body,
        signature=request.headers.get(twilio_hooks.SIGNATURE_HEADER),
        signature_settings=request.headers.get(twilio_hooks.SIGNATURE_SETTINGS_HEADER),
        idempotency_token=request.headers.get(twilio_hooks.IDEMPOTENCY_TOKEN_HEADER),
        step=request.query_params.get("step"),
    )
    await hooks.twilio(hook, twilio_request)


@post(
    "/twilio/{tenant_id:str}/sms",
    status_code=200,
    operation_class=WebhookOperation,
    summary="Twilio message → sms_inbound/mms",
)
async def twilio_sms(
    tenant_id: FromPath[str],
    request: Request[Any, Any, Any],
    body: RawBody,
    hooks: NamedDependency[WebhookService],
    settings: NamedDependency[Settings],
) -> Response[str]:
    await _twilio(TwilioHook.SMS, tenant_id, request, body, hooks, settings)
    return _twiml(MessagingResponse(), request.query_params.get("next"))


@post(
    "/twilio/{tenant_id:str}/voice-status",
    status_code=200,
    operation_class=WebhookOperation,
    summary="Twilio call status → call_in / call_minutes",
)
async def twilio_voice_status(
    tenant_id: FromPath[str],
    request: Request[Any, Any, Any],
    body: RawBody,
    hooks: NamedDependency[WebhookService],
    settings: NamedDependency[Settings],
) -> Response[str]:
    await _twilio(TwilioHook.VOICE_STATUS, tenant_id, request, body, hooks, settings)
    return _xml(VoiceResponse())


@post("/twilio/{tenant_id:str}/ivr", status_code=200, operation_class=WebhookOperation, summary="Twilio IVR step → ivr")
async def twilio_ivr(
    tenant_id: FromPath[str],
    request: Request[Any, Any, Any],
    body: RawBody,
    hooks: NamedDependency[WebhookService],
    settings: NamedDependency[Settings],
) -> Response[str]:
    await _twilio(TwilioHook.IVR, tenant_id, request, body, hooks, settings)
    return _twiml(VoiceResponse(), request.query_params.get("next"))


@post(
    "/sendgrid/events",
    status_code=200,
    operation_class=WebhookOperation,
    summary="SendGrid Signed Event Webhook → email_sent for sends not recorded at send time",
)
async def sendgrid_events(
    request: Request[Any, Any, Any], body: RawBody, hooks: NamedDependency[WebhookService]
) -> WebhookResult:
    signature = request.headers.get(sendgrid_hooks.SIGNATURE_HEADER)
    return await hooks.sendgrid(body, signature, request.headers.get(sendgrid_hooks.TIMESTAMP_HEADER))


webhook_router = Router(
    path="/webhooks", route_handlers=[twilio_sms, twilio_voice_status, twilio_ivr, sendgrid_events], tags=["webhooks"]
)
