"""Fixtures for the client library: a configured pipeline against the real ledger, captured spans."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import usage_ledger_client
from tests.conftest import TEST_INGEST_KEY

# FAST and child_env live in tests/support/processes.py (the fault tests use them too); imported here as before.
from tests.support.processes import FAST as FAST
from tests.support.processes import child_env as child_env
from tests.support.server import RunningLedger
from usage_ledger_client import _runtime
from usage_ledger_client.stats import Stats

_exporter = InMemorySpanExporter()


def _global_provider() -> TracerProvider:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        trace.set_tracer_provider(TracerProvider())
        provider = trace.get_tracer_provider()
        assert isinstance(provider, TracerProvider)
        provider.add_span_processor(SimpleSpanProcessor(_exporter))
    return provider


@pytest.fixture(autouse=True)
def _clean_client() -> Iterator[None]:
    """Every test starts and ends with no pipeline, nothing pending and fresh counters, so no event (and no
    count a test asserts on) leaks into another test."""
    usage_ledger_client.shutdown(timeout=0)
    _runtime.pending.events.clear()
    _runtime.stats = Stats()  # safe: no pipeline holds the old one any more
    yield
    usage_ledger_client.shutdown(timeout=0)
    _runtime.pending.events.clear()


@pytest.fixture
def spans() -> InMemorySpanExporter:
    _global_provider()
    _exporter.clear()
    return _exporter


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture
def configured(ledger: RunningLedger, spool_dir: Path, spans: InMemorySpanExporter) -> Iterator[RunningLedger]:
    usage_ledger_client.configure(ledger.url, TEST_INGEST_KEY, spool_dir=spool_dir, **FAST)  # type: ignore[arg-type]
    yield ledger
    usage_ledger_client.shutdown(timeout=10)
