"""Twilio webhooks in the app's own handlers (any framework): verify, then record.

    twilio_hooks = TwilioWebhook(os.environ["TWILIO_AUTH_TOKEN"])

    @app.post("/twilio/sms")
    def inbound_sms(request):
        twilio_hooks.record_message(request.url, request.form, request.headers.get("X-Twilio-Signature"))
        ...

Every `record_*` validates `X-Twilio-Signature` with the twilio library's RequestValidator first and raises
InvalidSignatureError (answer 403) before anything is recorded. The mapping and keys are the contract's
(usage_ledger_contract.webhooks.twilio), the same the ledger's own endpoints use: they come only from what
Twilio signs (the URL and the form), so a replayed request is never billed twice.
"""

from __future__ import annotations

import warnings
from typing import Any

from usage_ledger_client.record import record_usage_event
from usage_ledger_contract.webhooks._spec import UsageSpec
from usage_ledger_contract.webhooks.twilio import (
    Params,
    call_status_usage,
    form_params,
    inbound_call_usage,
    ivr_step_usage,
    message_usage,
    signed_query_param,
    verify_signature,
)


class TwilioWebhook:
    """App-side helpers: verify, then record. Each returns the idempotency keys it recorded."""

    def __init__(self, auth_token: str) -> None:
        self._token = auth_token

    def verify(self, url: str, params: Any, signature: str | None, signature_settings: str | None = None) -> Params:
        fields = form_params(params)
        verify_signature(self._token, url, fields, signature, signature_settings)
        return fields

    def record_message(
        self,
        url: str,
        params: Any,
        signature: str | None,
        *,
        tenant_id: str | None = None,
        signature_settings: str | None = None,
    ) -> list[str]:
        return _record(message_usage(self.verify(url, params, signature, signature_settings)), tenant_id)

    def record_inbound_call(
        self,
        url: str,
        params: Any,
        signature: str | None,
        *,
        tenant_id: str | None = None,
        signature_settings: str | None = None,
    ) -> list[str]:
        return _record(inbound_call_usage(self.verify(url, params, signature, signature_settings)), tenant_id)

    def record_call_status(
        self,
        url: str,
        params: Any,
        signature: str | None,
        *,
        tenant_id: str | None = None,
        signature_settings: str | None = None,
    ) -> list[str]:
        return _record(call_status_usage(self.verify(url, params, signature, signature_settings)), tenant_id)

    def record_ivr_step(
        self,
        url: str,
        params: Any,
        signature: str | None,
        *,
        step: str | None = None,
        idempotency_token: str | None = None,
        tenant_id: str | None = None,
        signature_settings: str | None = None,
    ) -> list[str]:
        """One `ivr` step. A step visited twice in one call is billed twice only when the action URL carries a
        distinct `visit` query parameter (`...?visit=2`): the URL is signed, unlike Twilio's
        I-Twilio-Idempotency-Token header, which `idempotency_token` used to take and which is now ignored."""
        if idempotency_token is not None:
            warnings.warn(
                "record_ivr_step(idempotency_token=...) is ignored: the header is not signed, so a replay could "
                "change it. Put a `visit` query parameter in the action URL to bill a revisit.",
                DeprecationWarning,
                stacklevel=2,
            )
        fields = self.verify(url, params, signature, signature_settings)
        return _record(ivr_step_usage(fields, step, signed_query_param(url, "visit")), tenant_id)


def _record(specs: list[UsageSpec], tenant_id: str | None) -> list[str]:
    """tenant_id=None takes the tenant from `usage_tenant(...)`, like every other recording."""
    return [
        record_usage_event(tenant_id, s.source, s.event_type, s.units, s.metadata, idempotency_key=s.idempotency_key)
        for s in specs
    ]
