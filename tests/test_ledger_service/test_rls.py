"""Row-level security, the second isolation layer: even an unfiltered query run as the service's read
role returns only the tenant the service started the read for. Plain PostgreSQL (the variant RLS applies to).
The roles are this database's own (migration 0009); test_roles.py attacks them from other logins."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from ledger_service.storage.ledger import NewEvents
from ledger_service.storage.sql import query
from tests.support.events import event
from tests.support.postgres import SQL
from tests.support.read import ingest
from tests.support.roles import begin_tenant_read, fetch_roles, set_local_role

# Row-level security is the plain-PostgreSQL layer; TimescaleDB uses tenant views (test_read_timescaledb.py).
pytestmark = pytest.mark.storage("postgres")


@pytest.fixture
def rows(client: httpx.Client, sql: SQL) -> None:
    ingest(client, [event(tenantId=t, units=u) for t, u in (("t_a", 1), ("t_a", 2), ("t_b", 40))])


async def as_role(dsn: str, role: str, tenant: str | None, statement: str, *args: Any) -> Any:
    """Run `statement` in a transaction as this database's `role` ("reader", "writer", "analyst"); a reader
    with a tenant starts its read as the service does (the tenant and its proof, then the role)."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            if role == "reader" and tenant is not None:
                await begin_tenant_read(conn, tenant)
            else:
                await set_local_role(conn, (await fetch_roles(conn)).name(role))
            return await conn.fetch(statement, *args)
    finally:
        await conn.close()


def run(sql: SQL, role: str, tenant: str | None, statement: str) -> Any:
    return asyncio.run(as_role(sql.dsn, role, tenant, statement))


def test_an_unfiltered_query_as_the_reader_sees_one_tenant(rows: None, sql: SQL) -> None:
    unfiltered = "SELECT tenant_id, units FROM usage_ledger ORDER BY units"
    assert [tuple(r) for r in run(sql, "reader", "t_a", unfiltered)] == [("t_a", 1), ("t_a", 2)]
    assert [tuple(r) for r in run(sql, "reader", "t_b", unfiltered)] == [("t_b", 40)]
    # No tenant set (a code path that forgot it): nothing at all, not everything.
    assert run(sql, "reader", None, unfiltered) == []
    for table in ("usage_rollup_15m", "usage_rollup_1h"):
        rollup = f"SELECT tenant_id, sum(units)::int FROM {table} GROUP BY tenant_id"
        assert [tuple(r) for r in run(sql, "reader", "t_b", rollup)] == [("t_b", 40)]
        assert run(sql, "reader", None, rollup) == []


def test_the_reader_cannot_go_around_the_policies(rows: None, sql: SQL) -> None:
    partition = sql.fetchval("SELECT tableoid::regclass::text FROM usage_ledger LIMIT 1")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        run(sql, "reader", "t_a", f"SELECT * FROM {partition}")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        run(sql, "reader", "t_a", "SELECT * FROM usage_idempotency_keys")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):  # and it cannot write
        run(sql, "reader", "t_a", "DELETE FROM usage_ledger")
    for table in ("usage_ledger", "usage_rollup_15m", "usage_rollup_1h"):
        assert sql.fetchval("SELECT relforcerowsecurity FROM pg_class WHERE relname = $1", table) is True


def test_forced_rls_lets_a_non_superuser_writer_ingest_but_not_rewrite(rows: None, sql: SQL) -> None:
    """The service's own login is a superuser here (so RLS would not bind it): run the real ingest
    statement as the writer role, a plain role that FORCE ROW LEVEL SECURITY does bind."""
    now = datetime.now(UTC)
    batch = NewEvents()
    for tenant in ("t_c", "t_d"):
        batch.tenant_ids.append(tenant)
        batch.idempotency_keys.append("k1")
        batch.sources.append("twilio")
        batch.event_types.append("mms")
        batch.units.append(3)
        batch.metadata.append("{}")
        batch.occurred_at.append(now)
        batch.trace_ids.append(None)
        batch.span_ids.append(None)
        batch.time_assigned.append(False)
    stored = asyncio.run(as_role(sql.dsn, "writer", None, query("insert_batch_with_rollups"), *batch.columns()))
    assert stored[0][0] == 2
    rolled = sql.fetch("SELECT tenant_id, units, events FROM usage_rollup_1h WHERE tenant_id IN ('t_c', 't_d')")
    assert sorted(tuple(r) for r in rolled) == [("t_c", 3, 1), ("t_d", 3, 1)]
    with pytest.raises(asyncpg.InsufficientPrivilegeError):  # append-only
        run(sql, "writer", None, "UPDATE usage_ledger SET units = 0")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        run(sql, "writer", None, "DELETE FROM usage_ledger")


def test_analysts_read_aggregates_but_no_raw_rows(rows: None, sql: SQL) -> None:
    daily = run(sql, "analyst", None, "SELECT * FROM analyst_usage_daily_utc ORDER BY tenant_id")
    assert [(r["tenant_id"], r["source"], r["event_type"], r["unit"], r["units"], r["events"]) for r in daily] == [
        ("t_a", "twilio", "sms_outbound", "segment", 3, 2),
        ("t_b", "twilio", "sms_outbound", "segment", 40, 1),
    ]
    columns = {
        r["column_name"]
        for r in sql.fetch("SELECT column_name FROM information_schema.columns WHERE table_name LIKE 'analyst_usage%'")
    }
    assert "metadata" not in columns and {"tenant_id", "bucket", "unit", "units", "events"} <= columns
    for table in ("usage_ledger", "usage_rollup_15m", "usage_ledger_tenant"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            run(sql, "analyst", None, f"SELECT * FROM {table}")
