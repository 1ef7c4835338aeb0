"""SendGrid v3 stand-in (POST /v3/mail/send → 202 + X-Message-Id) and an Event Webhook signer.

The official `SendGridAPIClient` reaches it through its own `host` option. The signer holds a P-256 key
pair the way SendGrid does: it signs `timestamp + payload` with ECDSA/SHA-256 and publishes the public key
as base64 DER, which is what the verification-key setting takes.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from harness.standins._http import Reply, Request, StandinServer

API_KEY = "SG.standin-key"


class SendGridStandin(StandinServer):
    def __init__(self) -> None:
        super().__init__({("POST", r"/v3/mail/send"): self._send})

    def _send(self, request: Request) -> Reply:
        body = request.json()
        if not isinstance(body, dict) or not body.get("personalizations"):
            return sendgrid_error(
                "The personalizations field is required and must have at least one personalization.", "personalizations"
            )
        # Real message ids are 22 URL-safe base64 characters.
        return Reply(202, b"", {"X-Message-Id": secrets.token_urlsafe(16)[:22]})


def sendgrid_error(
    message: str = "Does not contain a valid address.", field: str = "personalizations.0.to.0.email", status: int = 400
) -> Reply:
    """An error as the v3 API sends it; queue it with `standin.respond_next(...)`."""
    return Reply.json(status, {"errors": [{"message": message, "field": field, "help": None}]})


class EventWebhookSigner:
    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())

    @property
    def public_key(self) -> str:
        der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    def sign(self, payload: bytes, timestamp: int | None = None) -> dict[str, str]:
        """The headers SendGrid sends with `payload`."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = self._key.sign(stamp.encode() + payload, ec.ECDSA(hashes.SHA256()))
        return {
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        }


def processed_event(email: str, x_message_id: str, n: int, **custom_args: Any) -> dict[str, Any]:
    """A `processed` event as the Event Webhook posts it (custom args appear as top-level fields)."""
    return {
        "email": email,
        "timestamp": int(time.time()),
        "event": "processed",
        "sg_event_id": secrets.token_urlsafe(16),
        "sg_message_id": f"{x_message_id}.recvd-{n}-1-{secrets.token_hex(4)}-0",
        "smtp-id": f"<{x_message_id}@ismtpd-standin>",
        **custom_args,
    }


def event_batch(events: list[dict[str, Any]]) -> bytes:
    return json.dumps(events).encode()
