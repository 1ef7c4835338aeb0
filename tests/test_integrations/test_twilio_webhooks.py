"""The ledger's Twilio webhook endpoints: signed with the twilio library as Twilio signs, stored once, 403 if forged."""

from __future__ import annotations

import json
from xml.etree import ElementTree

import httpx
import pytest
from twilio.request_validator import RequestValidator
from twilio.rest import Client as TwilioClient

from harness.standins import twilio as twilio_standin
from tests.support.postgres import SQL
from tests.support.server import RunningLedger
from tests.test_integrations.conftest import usage_rows
from usage_ledger_client import usage_tenant

SMS_SID = "SM" + "1" * 32
CALL_SID = "CA" + "2" * 32


def deliver(
    ledger: RunningLedger,
    path: str,
    params: dict[str, str],
    *,
    signature: str | None = "sign",
    signed_path: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST a form as Twilio does: X-Twilio-Signature over the full URL and the parameters."""
    url = f"{ledger.url}{path}"
    all_headers = dict(headers or {})
    if signature == "sign":
        signed_url = f"{ledger.url}{signed_path or path}"
        all_headers["X-Twilio-Signature"] = RequestValidator(twilio_standin.AUTH_TOKEN).compute_signature(
            signed_url, params
        )
    elif signature is not None:
        all_headers["X-Twilio-Signature"] = signature
    return httpx.post(url, data=params, headers=all_headers, timeout=30)


def inbound_sms(**overrides: str) -> dict[str, str]:
    return {
        "MessageSid": SMS_SID,
        "SmsSid": SMS_SID,
        "AccountSid": twilio_standin.ACCOUNT_SID,
        "From": "+15550100",
        "To": "+15550111",
        "Body": "Is my order shipped?",
        "NumSegments": "1",
        "NumMedia": "0",
        **overrides,
    }


def call_status(sid: str = CALL_SID, **overrides: str) -> dict[str, str]:
    return {
        "CallSid": sid,
        "AccountSid": twilio_standin.ACCOUNT_SID,
        "From": "+15550100",
        "To": "+15550111",
        "Direction": "outbound-api",
        "CallStatus": "completed",
        "CallDuration": "61",
        **overrides,
    }


def test_a_signed_inbound_sms_is_one_row_however_often_twilio_delivers_it(ledger: RunningLedger, sql: SQL) -> None:
    answers = [deliver(ledger, "/webhooks/twilio/t_acme/sms", inbound_sms(NumSegments="3")) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0].headers["content-type"].startswith("application/xml")
    answer = ElementTree.fromstring(answers[0].text)  # TwiML: an empty <Response/>, nothing for Twilio to do
    assert (answer.tag, list(answer), answer.text) == ("Response", [], None)
    rows = usage_rows(sql)
    assert [(r["tenant_id"], r["event_type"], r["units"], r["idempotency_key"]) for r in rows] == [
        ("t_acme", "sms_inbound", 3, f"{SMS_SID}:sms_inbound")
    ]
    assert "order shipped" not in rows[0]["metadata"]  # the message body is content, not usage


def test_an_inbound_message_with_media_is_mms(ledger: RunningLedger, sql: SQL) -> None:
    assert deliver(ledger, "/webhooks/twilio/t_acme/sms", inbound_sms(NumMedia="2")).status_code == 200
    assert [(r["event_type"], r["units"]) for r in usage_rows(sql)] == [("mms", 1)]


@pytest.mark.parametrize(
    ("signature", "signed_path"),
    [
        ("forged-c2lnbmF0dXJl", None),  # not Twilio's signature
        (None, None),  # no X-Twilio-Signature header at all
        ("sign", "/webhooks/twilio/t_other/sms"),  # a genuine signature for another tenant's URL
    ],
    ids=["forged", "missing", "other-tenant-url"],
)
def test_a_bad_signature_is_403_and_nothing_is_recorded(
    ledger: RunningLedger, sql: SQL, signature: str | None, signed_path: str | None
) -> None:
    answer = deliver(ledger, "/webhooks/twilio/t_acme/sms", inbound_sms(), signature=signature, signed_path=signed_path)
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "forbidden"
    assert usage_rows(sql) == []


def test_a_tampered_parameter_breaks_the_signature(ledger: RunningLedger, sql: SQL) -> None:
    params = inbound_sms()
    signature = RequestValidator(twilio_standin.AUTH_TOKEN).compute_signature(
        f"{ledger.url}/webhooks/twilio/t_acme/sms", params
    )
    tampered = {**params, "NumSegments": "9"}
    answer = deliver(ledger, "/webhooks/twilio/t_acme/sms", tampered, signature=signature)
    assert answer.status_code == 403
    assert usage_rows(sql) == []


@pytest.mark.usefixtures("configured", "instrumented")
def test_an_outbound_call_then_its_completed_callback_bills_the_call_and_its_minutes(
    twilio_client: TwilioClient, ledger: RunningLedger, sql: SQL
) -> None:
    with usage_tenant("t_acme"):
        call = twilio_client.calls.create(to="+15550100", from_="+15550111", url="https://example.com/twiml")
    for status in ("ringing", "in-progress", "completed", "completed"):  # the last one is a retry
        params = call_status(call.sid, CallStatus=status, CallDuration="61" if status == "completed" else "")
        assert deliver(ledger, "/webhooks/twilio/t_acme/voice-status", params).status_code == 200
    rows = usage_rows(sql)
    assert sorted((r["event_type"], r["units"]) for r in rows) == [("call_minutes", 2), ("call_out", 1)]
    minutes = next(r for r in rows if r["event_type"] == "call_minutes")
    metadata = json.loads(minutes["metadata"])
    assert (metadata["direction"], metadata["call_duration_seconds"]) == ("outbound-api", 61)


def test_an_inbound_call_is_call_in_plus_minutes(ledger: RunningLedger, sql: SQL) -> None:
    for status, duration in (("ringing", ""), ("completed", "120")):
        params = call_status(Direction="inbound", CallStatus=status, CallDuration=duration)
        assert deliver(ledger, "/webhooks/twilio/t_acme/voice-status", params).status_code == 200
    rows = usage_rows(sql)
    assert sorted((r["event_type"], r["units"], r["idempotency_key"]) for r in rows) == [
        ("call_in", 1, f"{CALL_SID}:call_in"),
        ("call_minutes", 2, f"{CALL_SID}:call_minutes"),
    ]


def test_an_ivr_step_is_one_row_and_a_revisit_is_another(ledger: RunningLedger, sql: SQL) -> None:
    # A revisit is told apart by what Twilio signs: the app puts its own `visit` in the action URL.
    path = "/webhooks/twilio/t_acme/ivr?step=main-menu"
    params = {"CallSid": CALL_SID, "AccountSid": twilio_standin.ACCOUNT_SID, "Digits": "2"}
    for _ in range(2):  # Twilio retrying the same request
        assert deliver(ledger, path, params).status_code == 200
    assert deliver(ledger, f"{path}&visit=2", params).status_code == 200
    rows = usage_rows(sql)
    assert [(r["event_type"], r["units"]) for r in rows] == [("ivr", 1), ("ivr", 1)]
    assert sorted(r["idempotency_key"] for r in rows) == [f"{CALL_SID}:ivr:main-menu", f"{CALL_SID}:ivr:main-menu:2"]
    assert json.loads(rows[0]["metadata"])["step"] == "main-menu"


def test_a_replay_with_another_idempotency_header_is_not_billed_again(ledger: RunningLedger, sql: SQL) -> None:
    """Twilio does not sign I-Twilio-Idempotency-Token: a captured request replayed with a new one is the
    same signed request, so the same row."""
    path = "/webhooks/twilio/t_acme/ivr?step=main-menu"
    params = {"CallSid": CALL_SID, "AccountSid": twilio_standin.ACCOUNT_SID, "Digits": "2"}
    for token in ("token-1", "token-2", "replayed-3"):
        assert deliver(ledger, path, params, headers={"I-Twilio-Idempotency-Token": token}).status_code == 200
    assert [r["idempotency_key"] for r in usage_rows(sql)] == [f"{CALL_SID}:ivr:main-menu"]


def test_the_ivr_endpoint_can_hand_the_call_on_to_the_app(ledger: RunningLedger, sql: SQL) -> None:
    path = "/webhooks/twilio/t_acme/ivr?step=billing&next=https://app.example.com/ivr/billing"
    answer = deliver(ledger, path, {"CallSid": CALL_SID, "Digits": "1"})
    assert answer.status_code == 200
    assert '<Redirect method="POST">https://app.example.com/ivr/billing</Redirect>' in answer.text
    assert len(usage_rows(sql)) == 1


def test_a_signed_webhook_without_its_sid_is_a_400(ledger: RunningLedger, sql: SQL) -> None:
    answer = deliver(ledger, "/webhooks/twilio/t_acme/voice-status", {"CallStatus": "completed"})
    assert answer.status_code == 400
    assert "CallSid" in answer.json()["error"]["message"]
    assert usage_rows(sql) == []
