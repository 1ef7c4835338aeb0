"""Beside the contrib OpenAI instrumentation (opentelemetry-instrumentation-openai-v2): one CLIENT span per
call (theirs, carrying our usage event) and one ledger row per call, whichever was turned on first."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as ContribOpenAIInstrumentor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tests.support.postgres import SQL
from tests.test_integrations.conftest import usage_rows
from usage_ledger_client import usage_tenant
from usage_ledger_client.instrumentation import OpenAIUsageInstrumentor
from usage_ledger_contract import attributes as attr

pytestmark = pytest.mark.usefixtures("configured")

MESSAGES: Any = [{"role": "user", "content": "Where is my parcel?"}]


@pytest.fixture(params=["ours_first", "contrib_first"])
def both(request: pytest.FixtureRequest) -> Iterator[None]:
    from openai.resources.chat.completions.completions import Completions

    original = Completions.create
    ours: Any = OpenAIUsageInstrumentor()
    contrib: Any = ContribOpenAIInstrumentor()  # type: ignore[no-untyped-call]
    order = [ours, contrib] if request.param == "ours_first" else [contrib, ours]
    for instrumentor in order:
        instrumentor.instrument()
    yield
    for instrumentor in order:  # in the same order: ours must come out from under theirs too
        instrumentor.uninstrument()
    assert Completions.create is original


@pytest.mark.usefixtures("both")
def test_one_client_span_and_one_row_per_call(
    openai_client: openai.OpenAI, spans: InMemorySpanExporter, sql: SQL
) -> None:
    with usage_tenant("t_acme"):
        completion = openai_client.chat.completions.create(model="m", messages=MESSAGES)
        chunks = list(openai_client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
        response = openai_client.responses.create(model="m", input="Summarise my voicemail")
    rows = usage_rows(sql)
    assert sorted(r["idempotency_key"] for r in rows) == sorted([completion.id, chunks[0].id, response.id])
    client_spans = [s for s in spans.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert len(client_spans) == 3, [(s.name, s.instrumentation_scope) for s in client_spans]
    by_id = {f"{s.context.span_id:016x}": s for s in client_spans if s.context is not None}
    for row in rows:
        span = by_id[row["span_id"]]  # each row points at the one CLIENT span of its call ...
        assert [e.name for e in span.events].count(attr.USAGE_EVENT_NAME) == 1  # ... which carries its event
    chat_scopes = {s.instrumentation_scope.name for s in client_spans if s.name == "chat m" and s.instrumentation_scope}
    assert not any(scope.startswith("usage_ledger_client") for scope in chat_scopes)  # the contrib one made them
