"""Issue 12, class 7: safe defaults.

Weak or empty secrets stop the service at start (with a message naming the setting, never the value); read
tokens living past the documented 31 days or issued in the future are a 401; every API answer says
`Cache-Control: no-store` (the page and its assets keep their own); media types are matched exactly and
case-insensitively on every endpoint; `demo` on a public address with the development keys writes and
prints nothing.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx
import jwt
import pytest

from ledger_service.settings import DEV_SECRET_KEY
from ledger_service.tokens import AUDIENCE, ISSUER, mint_read_token
from tests.conftest import TEST_INGEST_KEY
from tests.support.events import event
from tests.support.postgres import SQL
from tests.support.processes import ROOT
from tests.test_attacks.conftest import Outcome, Target
from tests.test_attacks.raw import twilio_signature

INGEST = {"Authorization": f"Bearer {TEST_INGEST_KEY}"}
PROTOBUF = {"Content-Type": "application/x-protobuf"}


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ledger_service.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
    )


WEAK = {
    "empty secret key": ("LEDGER_SECRET_KEY", ""),
    "short secret key": ("LEDGER_SECRET_KEY", "s3cr3t-but-short"),
    "repetitive secret key": ("LEDGER_SECRET_KEY", "ab" * 32),
    ".env.example's secret key": ("LEDGER_SECRET_KEY", "change-me-a-long-random-secret-of-at-least-32-characters"),
    "short ingest key": ("LEDGER_INGEST_KEYS", "ok-key-0123456789abcdef,abc123"),
    ".env.example's ingest key": ("LEDGER_INGEST_KEYS", "change-me-ingest-key"),
    "ingest key with a space": ("LEDGER_INGEST_KEYS", "an ingest key 0123456789"),
}


@pytest.mark.parametrize(("variable", "value"), WEAK.values(), ids=WEAK.keys())
def test_weak_secrets_stop_the_service_at_start(variable: str, value: str, outcome_log: list[Outcome]) -> None:
    result = cli("serve", "--port", "1", env={variable: value, "DATABASE_URL": "postgresql://nowhere/none"})
    outcome = Outcome(f"usage-ledger serve with {variable}={value[:24]!r}")
    outcome.saw(f"exit {result.returncode}")
    outcome_log.append(outcome)
    assert result.returncode != 0
    assert variable in result.stderr
    assert not value or value not in result.stderr + result.stdout  # the message never shows the secret


def token(secret: str, issued: datetime, lifetime: timedelta) -> str:
    claims = {"sub": "t_tok", "iss": ISSUER, "aud": AUDIENCE, "iat": issued, "exp": issued + lifetime}
    return jwt.encode(claims, secret, algorithm="HS256")


def test_read_tokens_beyond_the_maximum_lifetime_are_401(target: Target) -> None:
    now = datetime.now(UTC)
    tokens = {
        "a year long": token(DEV_SECRET_KEY, now, timedelta(days=365)),
        "32 days": token(DEV_SECRET_KEY, now - timedelta(days=1), timedelta(days=32)),
        "issued tomorrow": token(DEV_SECRET_KEY, now + timedelta(days=1), timedelta(hours=1)),
        "another deployment's key": token("another-deployments-secret-0123456789", now, timedelta(hours=1)),
    }
    with target.watch("read tokens: 365 days, 32 days, issued tomorrow, another key") as outcome:
        for value in tokens.values():
            answer = httpx.get(f"{target.url}/api/billing/usage/summary", headers={"Authorization": f"Bearer {value}"})
            outcome.saw(answer.status_code)
    assert outcome.statuses == {"401": 4}
    good = mint_read_token(DEV_SECRET_KEY, "t_tok", timedelta(days=31))
    answer = httpx.get(f"{target.url}/api/billing/usage/summary", headers={"Authorization": f"Bearer {good}"})
    assert answer.status_code == 200


def test_every_api_answer_is_no_store(target: Target) -> None:
    read = {"Authorization": f"Bearer {mint_read_token(DEV_SECRET_KEY, 't_cc', timedelta(minutes=5))}"}
    batch = {"events": [event(tenantId="t_cc")]}
    big = b"x" * (16 * 1024 * 1024 + 1)
    calls: dict[str, Callable[[httpx.Client], httpx.Response]] = {
        "health": lambda http: http.get("/healthz"),
        "readiness": lambda http: http.get("/readyz"),
        "summary": lambda http: http.get("/api/billing/usage/summary", headers=read),
        "events": lambda http: http.get("/api/billing/usage/events", headers=read),
        "CSV": lambda http: http.get("/api/billing/usage/events.csv", headers=read),
        "no token": lambda http: http.get("/api/billing/usage/summary"),
        "bad parameter": lambda http: http.get("/api/billing/usage/summary?tz=Mars/Base", headers=read),
        "ingest": lambda http: http.post("/api/usage/events", json=batch, headers=INGEST),
        "ingest 400": lambda http: http.post("/api/usage/events", content=b"{", headers=INGEST),
        "ingest 413": lambda http: http.post("/api/usage/events", content=big, headers=INGEST),
        "OTLP": lambda http: http.post("/v1/traces", content=b"", headers={**INGEST, **PROTOBUF}),
        "webhook 403": lambda http: http.post("/webhooks/sendgrid/events", content=b"[]"),
        "not found": lambda http: http.get("/nothing/here"),
        "schema": lambda http: http.get("/schema/openapi.json"),
    }
    with (
        target.watch("14 API answers (200/400/401/403/404/413), Cache-Control") as outcome,
        httpx.Client(base_url=target.url, timeout=30) as http,
    ):
        answers = {name: call(http) for name, call in calls.items()}
        for answer in answers.values():
            outcome.saw(answer.status_code)
    assert {name: a.headers.get("cache-control") for name, a in answers.items()} == dict.fromkeys(calls, "no-store")
    static = httpx.get(f"{target.url}/static/usage/usage.css")
    assert static.status_code == 200 and static.headers["cache-control"] == "max-age=3600"


MEDIA = [
    # (endpoint, Content-Type, accepted?)
    ("ingest", "Application/JSON; Charset=UTF-8", True),
    ("ingest", "application/jsonx", False),
    ("ingest", "application/json-patch+json", False),
    ("ingest", "text/json", False),
    ("otlp", "Application/X-Protobuf", True),
    ("otlp", "application/x-protobuffer", False),
    ("twilio", "APPLICATION/X-WWW-FORM-URLENCODED; charset=UTF-8", True),
    ("twilio", "application/x-www-form-urlencodedx", False),
    ("twilio", "multipart/form-data; boundary=x", False),
    ("twilio", None, False),
    ("sendgrid", "Application/Json", True),
    ("sendgrid", "application/json5", False),
    ("sendgrid", "text/plain", False),
]


def media_request(target: Target, endpoint: str, content_type: str | None) -> httpx.Response:
    headers = {} if content_type is None else {"Content-Type": content_type}
    if endpoint == "ingest":
        body = httpx.Request("POST", "/", json={"events": [event(tenantId="t_media")]}).content
        return httpx.post(f"{target.url}/api/usage/events", content=body, headers={**INGEST, **headers})
    if endpoint == "otlp":
        gz = {"Content-Encoding": "gzip"}
        return httpx.post(f"{target.url}/v1/traces", content=gzip.compress(b""), headers={**INGEST, **headers, **gz})
    if endpoint == "twilio":
        path = "/webhooks/twilio/t_media/sms"
        params = {"MessageSid": "SM" + os.urandom(8).hex(), "NumSegments": "1"}
        signed = {**headers, "X-Twilio-Signature": twilio_signature(target.url + path, params)}
        return httpx.post(target.url + path, content=urlencode(params).encode(), headers=signed)
    payload = b"[]"
    signed = {**headers, **target.signer.sign(payload)}
    return httpx.post(f"{target.url}/webhooks/sendgrid/events", content=payload, headers=signed)


def test_media_types_are_exact_and_case_insensitive_everywhere(target: Target) -> None:
    with target.watch("13 Content-Types on ingest, OTLP, Twilio, SendGrid") as outcome:
        answers = [(endpoint, kind, ok, media_request(target, endpoint, kind)) for endpoint, kind, ok in MEDIA]
        for *_, answer in answers:
            outcome.saw(answer.status_code)
    for endpoint, kind, ok, answer in answers:
        expected = 200 if ok else 415
        assert answer.status_code == expected, (endpoint, kind, answer.text)


def test_demo_on_a_public_address_with_development_keys_writes_and_prints_nothing(
    database_url: str, sql: SQL, outcome_log: list[Outcome]
) -> None:
    outcome = Outcome("usage-ledger demo --host 0.0.0.0 with the development keys")
    started = datetime.now(UTC)
    result = cli("demo", "--host", "0.0.0.0", env={"DATABASE_URL": database_url})
    outcome.seconds = round((datetime.now(UTC) - started).total_seconds(), 2)
    outcome.saw(f"exit {result.returncode}")
    outcome_log.append(outcome)
    assert result.returncode != 0
    assert "refusing to listen on 0.0.0.0" in result.stderr
    assert result.stdout == ""  # no sign-in link, no ingest key
    assert sql.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0  # not even migrated
