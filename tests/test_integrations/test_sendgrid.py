"""SendGridUsageInstrumentor through `SendGridAPIClient`, and the ledger's Signed Event Webhook endpoint."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from python_http_client.exceptions import BadRequestsError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Bcc, Cc, Mail, Personalization, To

from harness.standins import EventWebhookSigner, SendGridStandin, sendgrid_error
from harness.standins.sendgrid import event_batch, processed_event
from tests.support.postgres import SQL
from tests.support.server import RunningLedger
from tests.test_integrations.conftest import usage_rows
from usage_ledger_client import usage_tenant


def four_recipient_mail() -> Mail:
    """Two personalizations: to + cc in one, to + bcc in the other: four recipients."""
    mail = Mail(from_email="billing@example.com", subject="Your invoice is ready", plain_text_content="Invoice #42")
    first = Personalization()
    first.add_to(To("ada@example.com"))
    first.add_cc(Cc("grace@example.com"))
    second = Personalization()
    second.add_to(To("linus@example.com"))
    second.add_bcc(Bcc("audit@example.com"))
    mail.add_personalization(first)
    mail.add_personalization(second)
    return mail


def deliver(ledger: RunningLedger, payload: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{ledger.url}/webhooks/sendgrid/events",
        content=payload,
        headers={"Content-Type": "application/json", **headers},
        timeout=30,
    )


@pytest.mark.usefixtures("configured", "instrumented")
class TestSend:
    def test_a_send_is_one_email_sent_row_with_a_unit_per_recipient(
        self, sendgrid_client: SendGridAPIClient, sendgrid_api: SendGridStandin, sql: SQL
    ) -> None:
        mail = Mail(
            from_email="alerts@example.com",
            to_emails=["a@example.com", "b@example.com", "c@example.com"],
            subject="Disk almost full",
            plain_text_content="90% used",
        )
        with usage_tenant("t_acme"):
            response = sendgrid_client.send(mail)
        assert response.status_code == 202
        message_id = response.headers["X-Message-Id"]
        rows = usage_rows(sql)
        assert [(r["tenant_id"], r["source"], r["event_type"], r["units"], r["idempotency_key"]) for r in rows] == [
            ("t_acme", "sendgrid", "email_sent", 3, f"{message_id}:email_sent")
        ]
        assert "Disk almost full" not in rows[0]["metadata"]  # the subject is content
        # The message SendGrid received carries the mark the Event Webhook endpoint looks for.
        assert sendgrid_api.requests[-1].json()["custom_args"] == {"usage_recorded_at_send": "1"}  # type: ignore[index]

    def test_recipients_are_counted_across_personalizations_and_cc_bcc(
        self, sendgrid_client: SendGridAPIClient, sql: SQL
    ) -> None:
        with usage_tenant("t_acme"):
            sendgrid_client.send(four_recipient_mail())
        (row,) = usage_rows(sql)
        assert row["units"] == 4
        metadata = json.loads(row["metadata"])
        counts = (metadata["to_count"], metadata["cc_count"], metadata["bcc_count"], metadata["personalizations"])
        assert counts == (2, 1, 1, 2)

    def test_a_dict_body_is_sent_as_given_plus_the_mark(
        self, sendgrid_client: SendGridAPIClient, sendgrid_api: SendGridStandin, sql: SQL
    ) -> None:
        body: dict[str, Any] = {
            "personalizations": [{"to": [{"email": "a@example.com"}]}],
            "from": {"email": "admin@example.com"},
            "subject": "Password reset",
            "content": [{"type": "text/plain", "value": "reset link"}],
            "custom_args": {"campaign": "reset"},
        }
        with usage_tenant("t_acme"):
            sendgrid_client.send(body)
        assert body["custom_args"] == {"campaign": "reset"}  # the app's own dict is not modified
        sent: Any = sendgrid_api.requests[-1].json()
        assert sent["custom_args"] == {"campaign": "reset", "usage_recorded_at_send": "1"}
        assert [r["units"] for r in usage_rows(sql)] == [1]

    def test_a_provider_error_records_nothing_and_the_app_sees_the_sdks_exception(
        self, sendgrid_client: SendGridAPIClient, sendgrid_api: SendGridStandin, sql: SQL
    ) -> None:
        sendgrid_api.respond_next(sendgrid_error())
        with usage_tenant("t_acme"), pytest.raises(BadRequestsError) as raised:
            sendgrid_client.send(four_recipient_mail())
        assert raised.value.status_code == 400
        assert usage_rows(sql) == []


class TestEventWebhook:
    def test_a_signed_batch_bills_processed_emails_that_were_not_recorded_at_send(
        self, ledger: RunningLedger, signer: EventWebhookSigner, sql: SQL
    ) -> None:
        events = [
            processed_event("a@example.com", "XMSG-other-service", 0, usage_tenant_id="t_acme"),
            processed_event("b@example.com", "XMSG-other-service", 1, usage_tenant_id="t_acme"),
            processed_event("c@example.com", "XMSG-instrumented", 0, usage_recorded_at_send="1"),
            {**processed_event("a@example.com", "XMSG-other-service", 0), "event": "delivered"},
        ]
        payload = event_batch(events)
        answer = deliver(ledger, payload, signer.sign(payload))
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "events": 2,
            "accepted": 2,
            "duplicates": 0,
            "recordedAtSend": 1,
            "conflicts": 0,
            "conflictDetails": [],
        }
        rows = usage_rows(sql)
        assert [(r["tenant_id"], r["event_type"], r["units"]) for r in rows] == [("t_acme", "email_sent", 1)] * 2
        assert {r["idempotency_key"] for r in rows} == {f"{e['sg_message_id']}:email_sent" for e in events[:2]}

    def test_a_redelivery_with_other_content_is_answered_as_a_conflict(
        self, ledger: RunningLedger, signer: EventWebhookSigner, sql: SQL
    ) -> None:
        first = processed_event("a@example.com", "XMSG-conflict", 0, usage_tenant_id="t_acme")
        payload = event_batch([first])
        assert deliver(ledger, payload, signer.sign(payload)).json()["accepted"] == 1
        again = event_batch([first])  # SendGrid's retry: a duplicate
        assert deliver(ledger, again, signer.sign(again)).json()["duplicates"] == 1
        moved = event_batch([{**first, "timestamp": first["timestamp"] - 3600}])  # same message, another time
        answer = deliver(ledger, moved, signer.sign(moved)).json()
        assert (answer["accepted"], answer["duplicates"], answer["conflicts"]) == (0, 0, 1), answer
        [conflict] = answer["conflictDetails"]
        assert conflict["index"] == 0 and "occurredAt" in conflict["fields"]
        assert conflict["idempotencyKey"] == f"{first['sg_message_id']}:email_sent"
        assert len(usage_rows(sql)) == 1

    def test_a_redelivered_batch_counts_once(self, ledger: RunningLedger, signer: EventWebhookSigner, sql: SQL) -> None:
        payload = event_batch([processed_event("a@example.com", "XMSG-1", 0, usage_tenant_id="t_acme")])
        deliver(ledger, payload, signer.sign(payload))
        again = deliver(ledger, payload, signer.sign(payload))  # SendGrid signs each attempt anew
        assert again.json()["duplicates"] == 1
        assert len(usage_rows(sql)) == 1

    def test_events_without_a_tenant_are_kept_as_unattributed(
        self, ledger: RunningLedger, signer: EventWebhookSigner, sql: SQL
    ) -> None:
        payload = event_batch([processed_event("a@example.com", "XMSG-2", 0)])
        assert deliver(ledger, payload, signer.sign(payload)).status_code == 200
        assert [r["tenant_id"] for r in usage_rows(sql)] == ["unattributed"]

    @pytest.mark.parametrize("forgery", ["other-key", "tampered", "stale", "missing"])
    def test_a_forged_or_stale_signature_is_403_and_nothing_is_recorded(
        self, ledger: RunningLedger, signer: EventWebhookSigner, sql: SQL, forgery: str
    ) -> None:
        payload = event_batch([processed_event("a@example.com", "XMSG-3", 0, usage_tenant_id="t_acme")])
        headers = {
            "other-key": EventWebhookSigner().sign(payload),
            "tampered": signer.sign(payload.replace(b"a@example.com", b"z@example.com")),
            "stale": signer.sign(payload, timestamp=int(time.time()) - 3600),  # outside the 300 s window
            "missing": {},
        }[forgery]
        answer = deliver(ledger, payload, headers)
        assert answer.status_code == 403, answer.text
        assert usage_rows(sql) == []
