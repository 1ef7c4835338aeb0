"""Many producers, real ledger, real PostgreSQL: every event arrives exactly once."""

from __future__ import annotations

import asyncio
import threading

import usage_ledger_client
from tests.support.postgres import SQL
from tests.support.server import RunningLedger
from usage_ledger_client import record_usage_event, usage_tenant

THREADS = 8
PER_THREAD = 1000
TASKS = 20
PER_TASK = 100


def test_ten_thousand_events_from_threads_and_tasks_arrive_exactly_once(configured: RunningLedger, sql: SQL) -> None:
    before = usage_ledger_client.metrics()
    barrier = threading.Barrier(THREADS)

    def produce(worker: int) -> None:
        barrier.wait(timeout=30)
        with usage_tenant(f"t_thread_{worker}"):
            for n in range(PER_THREAD):
                record_usage_event(None, "twilio", "sms_outbound", 1 + n % 3, {"n": n})

    threads = [threading.Thread(target=produce, args=(w,)) for w in range(THREADS)]
    for thread in threads:
        thread.start()

    async def task(worker: int) -> None:
        with usage_tenant(f"t_task_{worker}"):
            for n in range(PER_TASK):
                record_usage_event(None, "openai", "ai_message", 100 + n)
                if n % 10 == 0:
                    await asyncio.sleep(0)  # interleave the tasks so each must keep its own tenant

    async def tasks() -> None:
        await asyncio.gather(*(task(w) for w in range(TASKS)))

    asyncio.run(tasks())
    for thread in threads:
        thread.join(timeout=60)

    assert usage_ledger_client.flush(timeout=120)
    thread_units = THREADS * sum(1 + n % 3 for n in range(PER_THREAD))
    task_units = TASKS * sum(100 + n for n in range(PER_TASK))
    total = THREADS * PER_THREAD + TASKS * PER_TASK
    assert total == 10_000
    assert sql.fetchval("SELECT count(*) FROM usage_ledger") == total
    assert sql.fetchval("SELECT count(DISTINCT idempotency_key) FROM usage_ledger") == total
    assert sql.fetchval("SELECT sum(units) FROM usage_ledger WHERE source = 'twilio'") == thread_units
    assert sql.fetchval("SELECT sum(units) FROM usage_ledger WHERE source = 'openai'") == task_units
    rows = sql.fetch("SELECT tenant_id, count(*) FROM usage_ledger GROUP BY tenant_id")
    per_tenant = {r["tenant_id"]: r["count"] for r in rows}
    assert per_tenant == {
        **{f"t_thread_{w}": PER_THREAD for w in range(THREADS)},
        **{f"t_task_{w}": PER_TASK for w in range(TASKS)},
    }
    after = usage_ledger_client.metrics()
    assert after.recorded - before.recorded == total
    assert after.sent - before.sent == total
    assert (after.queued, after.spooled, after.rejected - before.rejected) == (0, 0, 0)
