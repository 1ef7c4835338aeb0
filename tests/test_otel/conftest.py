"""Fixtures for the client library: a configured pipeline against the real ledger, captured spans."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel
from otel import _runtime
from tests.conftest import TEST_INGEST_KEY
from tests.support.server import RunningLedger

# Short delays keep the fault tests quick; they are still real timers, never asserted on.
FAST = {"max_delay": 0.05, "backoff_initial": 0.05, "backoff_max": 0.5, "http_timeout": 5.0, "exit_timeout": 10.0}

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
    """Every test starts and ends with no pipeline and nothing pending, so no event leaks into another test."""
    otel.shutdown(timeout=0)
    _runtime.pending.clear()
    yield
    otel.shutdown(timeout=0)
    _runtime.pending.clear()


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
    otel.configure(ledger.url, TEST_INGEST_KEY, spool_dir=spool_dir, **FAST)  # type: ignore[arg-type]
    yield ledger
    otel.shutdown(timeout=10)


def child_env(spool_dir: Path) -> dict[str, str]:
    """Environment for a child Python process that uses the client library from this checkout."""
    root = Path(__file__).resolve().parents[2]
    return {**os.environ, "PYTHONPATH": str(root), "USAGE_LEDGER_SPOOL_DIR": str(spool_dir),
            "USAGE_LEDGER_INGEST_KEY": TEST_INGEST_KEY}  # fmt: skip
