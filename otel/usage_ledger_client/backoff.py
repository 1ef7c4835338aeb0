"""Retry delays: exponential with jitter, honouring the ledger's Retry-After.

Hand-written rather than tenacity/backoff: the delivery loop never gives up, must wake early on shutdown
and decides per response whether to retry, so it only needs "the next delay", which is these few lines.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


class Backoff:
    def __init__(self, initial: float = 0.5, maximum: float = 30.0, max_retry_after: float = 300.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self.max_retry_after = max_retry_after
        self._attempt = 0

    def next_delay(self, retry_after: float | None = None) -> float:
        ceiling = min(self.maximum, self.initial * 2.0**self._attempt)
        self._attempt += 1
        # "Equal jitter": at least half the ceiling (never hammer a struggling ledger), randomised so a fleet
        # of clients that lost the ledger at the same moment does not come back in lockstep.
        delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not cryptography
        if retry_after is not None:
            # The server knows best, but a silly header must not park delivery for hours.
            delay = max(delay, min(retry_after, self.max_retry_after))
        return delay

    def reset(self) -> None:
        self._attempt = 0


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
