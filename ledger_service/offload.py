"""CPU work off the event loop: signature checks, decompression and large decodes run in worker threads.

While one request inflates a body or verifies a signature, the loop keeps answering everyone else (health
probes included). At most CPU_THREADS such jobs run at once, however many requests ask; the rest wait for
a thread without holding one.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")

# One core is left to the event loop (zlib and hashing release the GIL, so their threads take a core each);
# past 4 the GIL makes more threads no faster at the Python parts.
CPU_THREADS = max(1, min(4, (os.cpu_count() or 2) - 1))
# Below this many bytes a decode takes microseconds: a thread hop would cost more than it saves.
INLINE_BYTES = 64 * 1024

# One limiter per event loop (tests run several apps, each on a loop of its own, in one process).
_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = weakref.WeakKeyDictionary()


def _limiter() -> anyio.CapacityLimiter:
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = anyio.CapacityLimiter(CPU_THREADS)
    return limiter


async def off_loop(work: Callable[[], T]) -> T:
    """`work()` in a worker thread (bounded, see CPU_THREADS); its exceptions are raised here."""
    return await anyio.to_thread.run_sync(work, limiter=_limiter())


async def sized(work: Callable[[], T], size: int) -> T:
    """`work()` inline when it handles fewer than INLINE_BYTES, else off the loop."""
    return work() if size < INLINE_BYTES else await off_loop(work)
