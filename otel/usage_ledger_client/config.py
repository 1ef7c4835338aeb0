"""What configure() decided, frozen: enough to build the delivery pipeline again in a child after fork."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    ledger_url: str
    ingest_key: str
    spool_dir: Path
    durable: bool = False
    fsync: bool = False
    batch_size: int = 1000
    max_delay: float = 1.0  # seconds an event may wait for its batch to fill
    max_queue: int = 10_000  # events held in memory (between requests) before spilling to disk
    http_timeout: float = 10.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    adopt_interval: float = 30.0  # how often to look for spools left by dead processes
    warn_interval: float = 60.0
