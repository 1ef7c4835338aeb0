"""A memory budget for request bodies held before their signature checks out (the provider webhooks).

Anyone can send a webhook request, so what the ledger holds for them before the signature is checked must
stay bounded however many arrive at once. Each endpoint's body limit bounds one request; this bounds them
all together: the bytes actually received are counted as they arrive, and a request that would go past the
budget is answered 503 at once (providers retry) instead of being held. Slow senders hold only what they
sent, and the server's read deadlines cut them off.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator
from typing import Any

from litestar import Request

from ledger_service.errors import ServiceBusyError


class BodyBudget:
    def __init__(self, name: str, capacity: int) -> None:
        self.name = name
        self.capacity = capacity
        self._free = capacity
        self._lock = threading.Lock()  # tests serve several apps, each on a thread of its own

    @property
    def in_use(self) -> int:
        return self.capacity - self._free

    @contextlib.asynccontextmanager
    async def body(self, request: Request[Any, Any, Any]) -> AsyncIterator[bytes]:
        """The request's body (within the endpoint's own limit), counted against the budget while held."""
        held = 0
        try:
            chunks: list[bytes] = []
            async for chunk in request.stream():
                self._take(len(chunk))
                held += len(chunk)
                chunks.append(chunk)
            body = b"".join(chunks)
            del chunks
            yield body
        finally:
            self._give(held)

    def _take(self, size: int) -> None:
        with self._lock:
            if size > self._free:
                raise ServiceBusyError(
                    f"{self.name}: too many unverified requests are being received at once; retry shortly"
                )
            self._free -= size

    def _give(self, size: int) -> None:
        with self._lock:
            self._free += size
