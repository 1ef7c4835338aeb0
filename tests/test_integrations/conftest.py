"""Fixtures: the real ledger (with webhook credentials), the client library configured against it, the
provider stand-ins on loopback, the official SDK clients pointed at them, and the instrumentors turned on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import SecretStr
from sendgrid import SendGridAPIClient
from twilio.rest import Client as TwilioClient

import usage_ledger_client
from harness.standins import EventWebhookSigner, OpenAIStandin, SendGridStandin, StandinHttpClient, TwilioStandin
from harness.standins import openai as openai_standin
from harness.standins import sendgrid as sendgrid_standin
from harness.standins import twilio as twilio_standin
from ledger_service.settings import Settings
from tests.conftest import TEST_INGEST_KEY
from tests.support.postgres import SQL

# The client library's own fixtures: a pipeline per test against the real ledger (`configured`, which uses
# the `spans` below) and a clean client state before and after every test (so no event leaks into another).
from tests.test_otel.conftest import _clean_client, _global_provider, configured, spool_dir  # noqa: F401
from usage_ledger_client.instrumentation import instrument_all, uninstrument_all

USAGE_COLUMNS = "tenant_id, source, event_type, units, idempotency_key, metadata::text AS metadata, trace_id, span_id"


_exporter = InMemorySpanExporter()
_attached: list[TracerProvider] = []


@pytest.fixture
def spans() -> InMemorySpanExporter:
    """Finished spans of this test. Attached to whichever SDK provider is global (an earlier test in the
    session may have installed it through usage_ledger_client.configure()), once."""
    provider = _global_provider()
    if provider not in _attached:
        provider.add_span_processor(SimpleSpanProcessor(_exporter))
        _attached.append(provider)
    _exporter.clear()
    return _exporter


@pytest.fixture(scope="session")
def signer() -> EventWebhookSigner:
    return EventWebhookSigner()


@pytest.fixture
def settings(database_url: str, tmp_path: Path, signer: EventWebhookSigner) -> Settings:
    return Settings(
        database_url=database_url,
        ingest_keys=[SecretStr(TEST_INGEST_KEY)],
        data_dir=tmp_path / "data",
        twilio_auth_token=SecretStr(twilio_standin.AUTH_TOKEN),
        sendgrid_webhook_public_key=signer.public_key,
    )


@pytest.fixture(scope="session")
def twilio_api() -> Iterator[TwilioStandin]:
    server = TwilioStandin()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sendgrid_api() -> Iterator[SendGridStandin]:
    server = SendGridStandin()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def openai_api() -> Iterator[OpenAIStandin]:
    server = OpenAIStandin()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fresh_standins(twilio_api: TwilioStandin, sendgrid_api: SendGridStandin, openai_api: OpenAIStandin) -> None:
    for server in (twilio_api, sendgrid_api, openai_api):
        server.reset()


@pytest.fixture
def instrumented() -> Iterator[None]:
    """The one line an app adds; undone after the test so the SDKs are left as they were."""
    instrument_all()
    yield
    uninstrument_all()


@pytest.fixture
def twilio_client(twilio_api: TwilioStandin) -> TwilioClient:
    return TwilioClient(
        twilio_standin.ACCOUNT_SID, twilio_standin.AUTH_TOKEN, http_client=StandinHttpClient(twilio_api.url)
    )


@pytest.fixture
def sendgrid_client(sendgrid_api: SendGridStandin) -> SendGridAPIClient:
    return SendGridAPIClient(sendgrid_standin.API_KEY, host=sendgrid_api.url)


@pytest.fixture
def openai_client(openai_api: OpenAIStandin) -> openai.OpenAI:
    return openai.OpenAI(api_key=openai_standin.API_KEY, base_url=f"{openai_api.url}/v1", max_retries=0)


@pytest.fixture
def async_openai_client(openai_api: OpenAIStandin) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key=openai_standin.API_KEY, base_url=f"{openai_api.url}/v1", max_retries=0)


def usage_rows(sql: SQL, where: str = "TRUE", *args: Any) -> list[dict[str, Any]]:
    """Every ledger row, after the client library has delivered everything recorded so far."""
    assert usage_ledger_client.flush(timeout=20), "the client library did not deliver within 20 s"
    return [
        dict(r) for r in sql.fetch(f"SELECT {USAGE_COLUMNS} FROM usage_ledger WHERE {where} ORDER BY created_at", *args)
    ]
