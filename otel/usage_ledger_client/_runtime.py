"""Process-wide state shared by record_usage_event and configure(): where events go, counters, the tracer.

Before configure() (or after shutdown()) events wait in `pending`, so a library that records usage at
import time loses nothing; configure() hands them to the pipeline.
"""

from __future__ import annotations

import threading
from collections import deque

from opentelemetry import trace

from usage_ledger_client.encoding import UsageRecord
from usage_ledger_client.pipeline import Pipeline
from usage_ledger_client.stats import Stats
from usage_ledger_contract.limits import DEFAULT_MAX_METADATA_BYTES

TRACER_NAME = "usage_ledger_client"

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
