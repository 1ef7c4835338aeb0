"""Process-wide state shared by record_usage_event and configure(): where events go, counters, the tracer.

Before configure() (or after shutdown()) events wait in `pending`, so a library that records usage at
import time loses nothing; configure() hands them to the pipeline.
"""

from __future__ import annotations

import threading
from collections import deque

from opentelemetry import trace

from otel.encoding import UsageRecord
from otel.pipeline import Pipeline
from otel.stats import Stats

TRACER_NAME = "usage-ledger.otel"
DEFAULT_MAX_METADATA_BYTES = 8 * 1024  # the ledger's default LEDGER_MAX_METADATA_BYTES

stats = Stats()
pending: deque[UsageRecord] = deque()
pipeline: Pipeline | None = None
tracer: trace.Tracer = trace.get_tracer(TRACER_NAME)  # a proxy until configure() picks a provider
max_metadata_bytes = DEFAULT_MAX_METADATA_BYTES
lock = threading.Lock()  # serialises configure() / shutdown()


def submit(record: UsageRecord) -> None:
    target = pipeline
    if target is None:
        pending.append(record)
    else:
        target.submit(record)
