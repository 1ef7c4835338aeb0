"""usage_ledger_client.webhooks: the helpers an app calls from its own handlers (any framework), through to the
real ledger."""

from __future__ import annotations

import httpx
import pytest
from twilio.request_validator import RequestValidator

import usage_ledger_client
from harness.standins import EventWebhookSigner
from harness.standins import twilio as twilio_standin
from harness.standins.sendgrid import event_batch, processed_event
from tests.support.postgres import SQL
from tests.support.server import RunningLedger
from tests.test_integrations.conftest import usage_rows
from usage_ledger_client import usage_tenant
from usage_ledger_client.webhooks import InvalidSignatureError, SendGridEventWebhook, TwilioWebhook

pytestmark = pytest.mark.usefixtures("configured")

APP_URL = "https://app.example.com/twilio/sms?source=main"
SID = "SM" + "3" * 32
CALL = "CA" + "4" * 32


def sign(url: str, params: dict[str, str]) -> str:
    return str(RequestValidator(twilio_standin.AUTH_TOKEN).compute_signature(url, params))


class FormLike:
    """What a framework hands a handler: a multi-dict with getlist (Flask, Django, Starlette all have one)."""

    def __init__(self, data: dict[str, list[str]]) -> None:
        self._data = data

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._data)

    def getlist(self, name: str) -> list[str]:
        return self._data[name]


hooks = TwilioWebhook(twilio_standin.AUTH_TOKEN)


def test_an_app_handler_records_an_inbound_sms_once_and_refuses_a_forgery(sql: SQL) -> None:
    params = {"MessageSid": SID, "NumSegments": "2", "NumMedia": "0", "Body": "hello"}
    form = FormLike({k: [v] for k, v in params.items()})
    with usage_tenant("t_acme"):
        for _ in range(2):  # a retried delivery
            assert hooks.record_message(APP_URL, form, sign(APP_URL, params)) == [f"{SID}:sms_inbound"]
        recorded = usage_ledger_client.metrics().recorded
        with pytest.raises(InvalidSignatureError):
            hooks.record_message(APP_URL, {**params, "NumSegments": "20"}, sign(APP_URL, params))
        assert usage_ledger_client.metrics().recorded == recorded  # refused before anything was recorded
    rows = usage_rows(sql)
    assert [(r["tenant_id"], r["event_type"], r["units"]) for r in rows] == [("t_acme", "sms_inbound", 2)]


def test_the_app_and_the_ledger_endpoint_seeing_the_same_webhook_count_it_once(ledger: RunningLedger, sql: SQL) -> None:
    params = {"MessageSid": SID, "NumSegments": "1", "NumMedia": "0"}
    ledger_url = f"{ledger.url}/webhooks/twilio/t_acme/sms"
    httpx.post(ledger_url, data=params, headers={"X-Twilio-Signature": sign(ledger_url, params)}, timeout=30)
    hooks.record_message(APP_URL, params, sign(APP_URL, params), tenant_id="t_acme")
    assert len(usage_rows(sql)) == 1


def test_call_helpers_record_call_in_minutes_and_ivr_steps(sql: SQL) -> None:
    inbound = {"CallSid": CALL, "Direction": "inbound", "CallStatus": "ringing", "From": "+1555", "To": "+1666"}
    completed = {**inbound, "CallStatus": "completed", "CallDuration": "61"}
    gather = {"CallSid": CALL, "Digits": "1"}
    with usage_tenant("t_acme"):
        hooks.record_inbound_call(APP_URL, inbound, sign(APP_URL, inbound))
        hooks.record_call_status(APP_URL, completed, sign(APP_URL, completed))
        hooks.record_ivr_step(APP_URL, gather, sign(APP_URL, gather), step="language", idempotency_token="tok-1")
    rows = usage_rows(sql)
    assert sorted((r["event_type"], r["units"]) for r in rows) == [("call_in", 1), ("call_minutes", 2), ("ivr", 1)]


def test_the_sendgrid_helper_verifies_then_records(signer: EventWebhookSigner, sql: SQL) -> None:
    helper = SendGridEventWebhook(signer.public_key)
    payload = event_batch([processed_event("a@example.com", "XMSG-9", 0)])
    headers = signer.sign(payload)
    signature, timestamp = (
        headers["X-Twilio-Email-Event-Webhook-Signature"],
        headers["X-Twilio-Email-Event-Webhook-Timestamp"],
    )
    with pytest.raises(InvalidSignatureError):
        helper.record(payload + b" ", signature, timestamp, tenant_id="t_acme")
    assert len(helper.record(payload, signature, timestamp, tenant_id="t_acme")) == 1
    assert [(r["tenant_id"], r["event_type"], r["units"]) for r in usage_rows(sql)] == [("t_acme", "email_sent", 1)]
