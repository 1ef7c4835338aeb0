"""Provider webhooks pointed straight at the ledger: Twilio (tenant in the signed URL) and SendGrid's Event Webhook.

Twilio: configure `https://<ledger>/webhooks/twilio/<tenant>/sms` (inbound messages),
`.../voice-status` (call status callbacks) and `.../ivr?step=<name>` (a Gather/menu action). Twilio signs the
full URL, so the tenant cannot be changed without breaking the signature. The SMS and IVR endpoints answer
with TwiML: empty, or `<Redirect>` to the `next` query parameter, so the ledger can sit in front of the
app's own handler. SendGrid: `https://<ledger>/webhooks/sendgrid/events` with Signed Event Webhook on.
A missing or wrong signature is a 403 and nothing is stored.

Anyone can call these endpoints, so a request costs little until its signature checks out: the headers are
checked before the body is read (no key configured, no signature, a signature of the wrong shape, a stale
SendGrid timestamp: 403 at once); the body is bounded per endpoint and, all requests together, by a memory
budget; the signature check and the parsing run in a worker thread, never on the event loop.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from litestar import Request, Response, Router, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath
from twilio.twiml import TwiML
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from ledger_service.api.media import require_media
from ledger_service.api.openapi import SendGridWebhookOperation, TwilioWebhookOperation
from ledger_service.api.unverified import BodyBudget
from ledger_service.ingest.webhooks import TwilioHook, TwilioRequest, WebhookResult, WebhookService
from ledger_service.offload import off_loop
from ledger_service.settings import Settings
from usage_ledger_contract.webhooks import sendgrid as sendgrid_hooks
from usage_ledger_contract.webhooks import twilio as twilio_hooks

# What each provider sends, with room (README.md, "Webhooks"): Twilio posts small forms (a 1,600-character
# Body, up to 10 media URLs, Add-on results); SendGrid posts a batch once it reaches 768 KB (or every 30 s),
# so a batch is 768 KB plus the event that crossed the line.
TWILIO_MAX_BODY_BYTES = 64 * 1024
SENDGRID_MAX_BODY_BYTES = 1024 * 1024
# Unverified bodies held at once, all requests together (ledger_service/api/unverified.py).
TWILIO_BODIES = BodyBudget("Twilio webhooks", 8 * 1024 * 1024)
SENDGRID_BODIES = BodyBudget("SendGrid Event Webhook", 32 * 1024 * 1024)
_FORM = "application/x-www-form-urlencoded"


def _hooks(connection: ASGIConnection[Any, Any, Any, Any]) -> WebhookService:
    hooks: WebhookService = connection.app.state.hooks
    return hooks


def twilio_headers(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Before the body is read: a signature header of the right shape (403), a form (415)."""
    headers = connection.headers
    signature = headers.get(twilio_hooks.SIGNATURE_HEADER)
    _hooks(connection).check_twilio_headers(signature, headers.get(twilio_hooks.SIGNATURE_SETTINGS_HEADER))
    require_media(headers, _FORM)


def sendgrid_headers(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Before the body is read: a fresh timestamp and a signature of the right shape (403), JSON (415)."""
    headers = connection.headers
    signature = headers.get(sendgrid_hooks.SIGNATURE_HEADER)
    _hooks(connection).check_sendgrid_headers(signature, headers.get(sendgrid_hooks.TIMESTAMP_HEADER))
    require_media(headers, "application/json")


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
    hook: TwilioHook, tenant_id: str, request: Request[Any, Any, Any], hooks: WebhookService, settings: Settings
) -> None:
    async with TWILIO_BODIES.body(request) as body:
        twilio_request = TwilioRequest(
            tenant_id=tenant_id,
            url=_public_url(request, settings),
            body=body,
            signature=request.headers.get(twilio_hooks.SIGNATURE_HEADER),
            signature_settings=request.headers.get(twilio_hooks.SIGNATURE_SETTINGS_HEADER),
            step=request.query_params.get("step"),
            visit=request.query_params.get("visit"),
        )
        specs = await off_loop(functools.partial(hooks.twilio_usage, hook, twilio_request))
    await hooks.store_twilio(specs, tenant_id)


def _twilio_endpoint(
    hook: TwilioHook, summary: str, answer: Callable[[Request[Any, Any, Any]], Response[str]]
) -> HTTPRouteHandler:
    """One Twilio endpoint: they differ only in the hook (what is billed) and the TwiML answer."""

    async def handler(
        tenant_id: FromPath[str],
        request: Request[Any, Any, Any],
        hooks: NamedDependency[WebhookService],
        settings: NamedDependency[Settings],
    ) -> Response[str]:
        await _twilio(hook, tenant_id, request, hooks, settings)
        return answer(request)

    handler.__name__ = handler.__qualname__ = f"twilio_{hook.value.replace('-', '_')}"
    return post(
        f"/twilio/{{tenant_id:str}}/{hook.value}",
        name=handler.__name__,
        status_code=200,
        guards=[twilio_headers],
        request_max_body_size=TWILIO_MAX_BODY_BYTES,
        operation_class=TwilioWebhookOperation,
        summary=summary,
    )(handler)


twilio_sms = _twilio_endpoint(
    TwilioHook.SMS,
    "Twilio message → sms_inbound/mms",
    lambda request: _twiml(MessagingResponse(), request.query_params.get("next")),
)
twilio_voice_status = _twilio_endpoint(
    TwilioHook.VOICE_STATUS, "Twilio call status → call_in / call_minutes", lambda _: _xml(VoiceResponse())
)
twilio_ivr = _twilio_endpoint(
    TwilioHook.IVR,
    "Twilio IVR step → ivr",
    lambda request: _twiml(VoiceResponse(), request.query_params.get("next")),
)


@post(
    "/sendgrid/events",
    status_code=200,
    guards=[sendgrid_headers],
    request_max_body_size=SENDGRID_MAX_BODY_BYTES,
    operation_class=SendGridWebhookOperation,
    summary="SendGrid Signed Event Webhook → email_sent for sends not recorded at send time",
)
async def sendgrid_events(request: Request[Any, Any, Any], hooks: NamedDependency[WebhookService]) -> WebhookResult:
    signature = request.headers.get(sendgrid_hooks.SIGNATURE_HEADER)
    timestamp = request.headers.get(sendgrid_hooks.TIMESTAMP_HEADER)
    async with SENDGRID_BODIES.body(request) as body:
        usage = await off_loop(functools.partial(hooks.sendgrid_usage, body, signature, timestamp))
    return await hooks.store_sendgrid(usage)


webhook_router = Router(
    path="/webhooks", route_handlers=[twilio_sms, twilio_voice_status, twilio_ivr, sendgrid_events], tags=["webhooks"]
)
