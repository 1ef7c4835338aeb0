"""Issue 12, class 1: nobody can freeze the service without a key.

Unauthenticated webhook requests (huge, many, parallel, lying about their length), slow heads and bodies,
idle connections past the connection cap and an oversized head: the health probe keeps getting its 200
within 200 ms, the RSS stays bounded, and genuine webhooks sent during the attack are stored exactly once.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from harness.standins.sendgrid import event_batch, processed_event
from tests.test_attacks.conftest import Outcome, Target
from tests.test_attacks.raw import SlowClients, head, in_parallel, post, request, twilio_signature

FORM = "application/x-www-form-urlencoded"
SMS_PATH = "/webhooks/twilio/t_edge/sms"
SENDGRID_PATH = "/webhooks/sendgrid/events"


def forged_twilio(target: Target, body: bytes) -> Callable[[], int | str]:
    """A Twilio-shaped request whose signature has the right form but signs something else."""
    signature = twilio_signature(target.url + SMS_PATH, {"Body": "not this one"})
    headers = {"Content-Type": FORM, "X-Twilio-Signature": signature}
    return lambda: post(target.port, SMS_PATH, headers, body)


def forged_sendgrid(target: Target, body: bytes) -> Callable[[], int | str]:
    """A fresh timestamp and a real signature, of another payload."""
    headers = {"Content-Type": "application/json", **target.signer.sign(b"[]")}
    return lambda: post(target.port, SENDGRID_PATH, headers, body)


class Genuine:
    """Signed webhooks sent every 100 ms while an attack runs, retried (as providers do) until answered 200."""

    def __init__(self, target: Target, name: str) -> None:
        self.target = target
        self.name = name
        self.answers: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"genuine-{name}")

    def __enter__(self) -> Genuine:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            for send in (self._sms, self._email):
                while (status := self._try(send, n)) != 200:  # 503 (busy) or a cut connection: retry
                    time.sleep(0.05)
                self.answers.append(status)
            time.sleep(0.1)

    def _try(self, send: Callable[[int], httpx.Response], n: int) -> int:
        try:
            return send(n).status_code
        except httpx.TransportError:
            return 0

    def _sms(self, n: int) -> httpx.Response:
        params = {"MessageSid": f"SM{self.name}{n:06d}", "NumSegments": "2", "NumMedia": "0"}
        signature = twilio_signature(self.target.url + SMS_PATH, params)
        return httpx.post(self.target.url + SMS_PATH, data=params, headers={"X-Twilio-Signature": signature})

    def _email(self, n: int) -> httpx.Response:
        payload = event_batch([processed_event("a@example.com", f"X{self.name}{n:06d}", n, usage_tenant_id="t_edge")])
        headers = {"Content-Type": "application/json", **self.target.signer.sign(payload)}
        return httpx.post(self.target.url + SENDGRID_PATH, content=payload, headers=headers)

    def assert_stored_once(self) -> None:
        sent = len(self.answers) // 2
        assert sent >= 1
        rows = self.target.sql.fetch(
            "SELECT event_type, count(*) AS n, sum(units) AS units FROM usage_ledger "
            "WHERE idempotency_key LIKE $1 OR idempotency_key LIKE $2 GROUP BY event_type ORDER BY event_type",
            f"SM{self.name}%",
            f"X{self.name}%",
        )
        assert [(r["event_type"], r["n"], r["units"]) for r in rows] == [
            ("email_sent", sent, sent),
            ("sms_inbound", sent, 2 * sent),
        ]


@pytest.fixture
def genuine(target: Target) -> Iterator[Genuine]:
    with Genuine(target, uuid.uuid4().hex[:8]) as sender:
        yield sender
    sender.assert_stored_once()


def record(outcome: Outcome, statuses: list[int | str]) -> None:
    for status in statuses:
        outcome.saw(status)


def test_bodies_past_a_webhooks_limit_are_refused_before_they_are_read(target: Target, genuine: Genuine) -> None:
    with target.watch("16 MiB forged Twilio form (Content-Length), 4 parallel") as outcome:
        record(outcome, in_parallel([forged_twilio(target, b"a=b&" * (4 << 20))] * 4, 4))
    assert outcome.statuses == {"413": 4}
    with target.watch("16 MiB forged SendGrid batch (Content-Length), 4 parallel") as outcome:
        record(outcome, in_parallel([forged_sendgrid(target, b"[" + b"1," * (8 << 20) + b"1]")] * 4, 4))
    assert outcome.statuses == {"413": 4}


def test_a_chunked_body_is_cut_at_the_limit(target: Target) -> None:
    signature = twilio_signature(target.url + SMS_PATH, {})
    start = head(
        "POST",
        SMS_PATH,
        {"Content-Type": FORM, "X-Twilio-Signature": signature, "Transfer-Encoding": "chunked"},
        target.port,
    )
    chunk = b"a" * 65536
    chunks = (b"%x\r\n%s\r\n" % (len(chunk), chunk)) * 256 + b"0\r\n\r\n"  # 16 MiB, no length announced
    with target.watch("16 MiB chunked forged Twilio form") as outcome:
        outcome.saw(request(target.port, start + chunks))
    assert outcome.statuses == {"413": 1}


def test_many_forged_webhooks_at_their_limits_in_parallel(target: Target, genuine: Genuine) -> None:
    form = b"&".join(b"f%d=%s" % (i, b"x" * 60) for i in range(900))[: 64 * 1024]
    with target.watch("300 forged Twilio forms of 64 KiB, 16 parallel") as outcome:
        record(outcome, in_parallel([forged_twilio(target, form)] * 300, 16))
    assert outcome.statuses == {"403": 300}
    events = [processed_event(f"r{i}@example.com", f"XF{i}", i) for i in range(2500)]
    batch = event_batch(events)[: 1024 * 1024 - 2] + b"]"
    with target.watch("100 forged SendGrid batches of 1 MiB, 16 parallel") as outcome:
        record(outcome, in_parallel([forged_sendgrid(target, batch)] * 100, 16))
    assert set(outcome.statuses) <= {"403", "503"} and outcome.statuses.get("403", 0) > 0


def test_requests_without_a_signature_cost_nothing(target: Target) -> None:
    body = b"a=b&" * 16000
    headers = {"Content-Type": FORM}
    with target.watch("1000 unsigned Twilio forms of 64 KiB, 16 parallel") as outcome:
        record(outcome, in_parallel([lambda: post(target.port, SMS_PATH, headers, body)] * 1000, 16))
    assert outcome.statuses == {"403": 1000}


def test_slow_heads_are_cut_at_the_head_deadline(target: Target, genuine: Genuine) -> None:
    slow = SlowClients(target.port, 200, b"POST " + SMS_PATH.encode() + b" HTTP/1.1\r\nHost: x\r\nX-Slow: ", 0.2)
    with target.watch("200 slow heads (a byte / 200 ms), past the 64-connection cap") as outcome:
        slow.run(seconds=6, trickle=b"z")
    outcome.saw("cut", len(slow.cut))
    assert len(slow.cut) == 200 and max(slow.cut) < 2 + 1.5  # LEDGER_HEADER_TIMEOUT_SECONDS=2, or evicted


def test_slow_bodies_are_answered_408_or_cut(target: Target, genuine: Genuine) -> None:
    signature = twilio_signature(target.url + SMS_PATH, {})
    start = head(
        "POST",
        SMS_PATH,
        {"Content-Type": FORM, "X-Twilio-Signature": signature, "Content-Length": "60000"},
        target.port,
    )
    slow = SlowClients(target.port, 100, start, 0.2)
    with target.watch("100 slow Twilio bodies (a byte / 200 ms)") as outcome:
        slow.run(seconds=8, trickle=b"a")
    outcome.saw("cut", len(slow.cut))
    assert len(slow.cut) == 100 and max(slow.cut) < 3 + 2 + 1.5  # LEDGER_BODY_TIMEOUT_SECONDS=3 (+ grace)


def test_idle_connections_past_the_cap_make_room(target: Target, genuine: Genuine) -> None:
    idle = SlowClients(target.port, 400, b"", 0.2)
    with target.watch("400 idle connections (cap 64)") as outcome:
        idle.run(seconds=4, trickle=b"")
    outcome.saw("cut", len(idle.cut))
    assert len(idle.cut) == 400


def test_a_head_past_its_limit_is_431(target: Target) -> None:
    huge = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (8 << 20) + b"\r\n\r\n"
    with target.watch("8 MiB request head, 4 parallel") as outcome:
        record(outcome, in_parallel([lambda: request(target.port, huge)] * 4, 4))
    assert outcome.statuses == {"431": 4}


def test_a_late_body_gets_a_408_that_says_why(target: Target) -> None:
    signature = twilio_signature(target.url + SMS_PATH, {})
    start = head(
        "POST", SMS_PATH, {"Content-Type": FORM, "X-Twilio-Signature": signature, "Content-Length": "100"}, target.port
    )
    with (
        target.watch("one body that stops half-way") as outcome,
        socket.create_connection(("127.0.0.1", target.port), timeout=10) as sock,
    ):
        sock.sendall(start + b"a=b")
        answer = b""
        while chunk := sock.recv(65536):  # to the end: the server closes after a 408
            answer += chunk
    outcome.saw(int(answer[9:12]))
    assert answer.startswith(b"HTTP/1.1 408")
    assert b"connection: close" in answer.lower()
    assert "LEDGER_BODY_TIMEOUT_SECONDS" in json.loads(answer.partition(b"\r\n\r\n")[2])["error"]["message"]
