"""Database roles are the ledger database's own (issue 12, class 6), attacked with real logins on one cluster.

Deployments are set up as the README says (tests/support/deployments.py runs its SQL): a non-superuser login
owning a database of the same name, with that database's reader, writer and analyst roles. The service runs
as deployment A's login (`usage-ledger serve` processes). Then B's login, a login holding only A's reader
role, and the cluster-wide roles of a database migrated by the previous version are tried on A's ledger.
Both storage variants (make test's two passes).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from ledger_service.errors import MigrationError
from ledger_service.settings import Settings
from ledger_service.storage import migrations
from ledger_service.storage.ledger import LedgerRepository
from ledger_service.storage.roles import KINDS, ConfiguredRoles, Roles, derived
from tests.conftest import TEST_INGEST_KEY
from tests.support.deployments import Deployment, as_login, create_login, deployments, drop_login, run_as_admin
from tests.support.events import event
from tests.support.postgres import SQL, drop_roles, with_database
from tests.support.processes import LedgerProcess
from tests.support.read import ingest, token_for
from tests.support.roles import begin_tenant_read, database_roles, migrate_as_before_own_roles
from tests.support.schema import committed, describe

# What a login that is not the ledger's may try on its database; each must be refused.
READS = [
    "SELECT * FROM usage_ledger",
    "SELECT metadata FROM usage_ledger_tenant",
    "SELECT * FROM usage_rollup_tenant",
    "SELECT * FROM usage_rollup_1h_tenant",
    "SELECT * FROM usage_rollup_15m",
    "SELECT * FROM usage_rollup_1h",
    "SELECT * FROM usage_unmaterialized",
    "SELECT * FROM usage_idempotency_keys",
    "SELECT * FROM ledger_meta",
    "SELECT * FROM ledger_read_key",
    "SELECT * FROM analyst_usage_daily_utc",
    "SELECT ledger_tenant_proof('t_a')",
    "SELECT ledger_begin_tenant_read('t_a')",
]
WRITES = [
    "INSERT INTO usage_ledger (id, tenant_id, source, event_type, units, occurred_at, idempotency_key) "
    "VALUES (gen_random_uuid(), 't_a', 'twilio', 'mms', 1000, now(), 'forged')",
    "INSERT INTO usage_idempotency_keys (tenant_id, idempotency_key, event_id) VALUES ('t_a', 'x', gen_random_uuid())",
    "CREATE TEMPORARY TABLE ledger_read_key (inner_pad bytea, outer_pad bytea)",
    "CREATE TABLE public.planted (i int)",
]
TENANT_VIEWS = ["usage_ledger_tenant", "usage_rollup_tenant", "usage_rollup_1h_tenant", "usage_unmaterialized_tenant"]


@pytest.fixture
def pair(admin_dsn: str, storage: str) -> Iterator[list[Deployment]]:
    with deployments(admin_dsn, storage, 2) as made:
        yield made


@pytest.fixture
def serving(pair: list[Deployment], tmp_path: Path) -> Iterator[list[LedgerProcess]]:
    """`usage-ledger serve` for each deployment, as its own login (DATABASE_URL)."""
    processes = [LedgerProcess(d.dsn, tmp_path / f"{d.name}.log") for d in pair]
    try:
        for process in processes:
            process.start()
        yield processes
    finally:
        for process in processes:
            process.stop()


def client(process: LedgerProcess, tenant: str | None = None) -> httpx.Client:
    key = token_for(Settings(), tenant) if tenant else TEST_INGEST_KEY
    return httpx.Client(base_url=process.url, headers={"Authorization": f"Bearer {key}"}, timeout=60)


def units_of(process: LedgerProcess, tenant: str) -> list[int]:
    with client(process, tenant) as http:
        response = http.get("/api/billing/usage/events", params={"limit": 200})
    assert response.status_code == 200, response.text
    return sorted(e["units"] for e in response.json()["events"])


async def attempt(dsn: str, statement: str, *, setup: tuple[str, ...] = ()) -> Any:
    """Run `statement` (after `setup`) in one transaction on a connection of its own; its rows."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            for step in setup:
                await conn.execute(step)
            return await conn.fetch(statement)
    finally:
        await conn.close()


def refused(dsn: str, statement: str, *, setup: tuple[str, ...] = ()) -> bool:
    try:
        asyncio.run(attempt(dsn, statement, setup=setup))
    except asyncpg.InsufficientPrivilegeError:
        return True
    return False


def visible_rows(dsn: str, relation: str, *, setup: tuple[str, ...] = ()) -> int:
    """Rows `relation` shows on this connection; 0 when it may not be read at all."""
    try:
        return len(asyncio.run(attempt(dsn, f"SELECT * FROM {relation}", setup=setup)))
    except asyncpg.InsufficientPrivilegeError:
        return 0


def powers(admin_dsn: str, login: str) -> dict[str, bool]:
    row = SQL(admin_dsn).fetch(
        "SELECT rolsuper, rolcreaterole, rolcreatedb, pg_has_role($1, 'pg_read_all_settings', 'USAGE') AS settings "
        "FROM pg_roles WHERE rolname = $1",
        login,
    )[0]
    return dict(row)


def ledger_counts(admin_dsn: str) -> tuple[int, int]:
    sql = SQL(admin_dsn)
    return sql.fetchval("SELECT count(*) FROM usage_ledger"), sql.fetchval(
        "SELECT count(*) FROM usage_idempotency_keys"
    )


def test_the_service_runs_as_a_login_that_owns_only_its_database(
    pair: list[Deployment], serving: list[LedgerProcess], storage: str
) -> None:
    a, service = pair[0], serving[0]
    assert powers(a.admin_dsn, a.name) == dict.fromkeys(("rolsuper", "rolcreaterole", "rolcreatedb", "settings"), False)
    with client(service) as http:
        assert http.get("/readyz").json() == {"ready": True, "storage": storage}
        ingest(http, [event(tenantId="t_a", units=u) for u in (1, 2)] + [event(tenantId="t_b", units=40)])
    assert units_of(service, "t_a") == [1, 2]
    assert units_of(service, "t_b") == [40]
    with client(service, "t_a") as http:
        [series] = http.get("/api/billing/usage/summary", params={"days": "2"}).json()["series"]
    assert series["totals"]["units"] == 3
    if storage == "timescaledb":  # the refresh job runs as the login too (TimescaleDB runs a job as its owner)
        as_a = SQL(a.dsn)
        job = as_a.fetchval(
            "SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = 'ledger_refresh_aggregates_job'"
        )
        as_a.execute(f"CALL run_job({job})")
        assert as_a.fetchval("SELECT materialized_until > '-infinity' FROM ledger_aggregate_state")


def test_two_deployments_set_up_as_the_readme_says_stay_apart(
    admin_dsn: str, pair: list[Deployment], serving: list[LedgerProcess]
) -> None:
    (a, b), (service_a, service_b) = pair, serving
    with client(service_a) as http:
        ingest(http, [event(tenantId="t_a", units=1, metadata={"to": "+15550100"})])
    with client(service_b) as http:  # the same tenant id in the other deployment
        ingest(http, [event(tenantId="t_a", units=500)])
    assert (units_of(service_a, "t_a"), units_of(service_b, "t_a")) == ([1], [500])
    before = ledger_counts(a.admin_dsn)

    b_in_a = b.login_to(a.name)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied for database"):
        asyncio.run(attempt(b_in_a, "SELECT 1"))
    sql = SQL(admin_dsn)
    for role in a.roles.names():
        assert sql.fetchval("SELECT pg_has_role($1, $2, 'MEMBER')", b.name, role) is False, role
        assert refused(b.dsn, "SELECT 1", setup=(f"SET ROLE {role}",)), role

    # An operator's mistake lets B's login in: it still reads, writes and plants nothing.
    asyncio.run(run_as_admin(admin_dsn, [f"GRANT CONNECT ON DATABASE {a.name} TO {b.name}"]))
    part = SQL(a.admin_dsn).fetchval("SELECT tableoid::regclass::text FROM usage_ledger LIMIT 1")
    for statement in [*READS, f"SELECT * FROM {part}", *WRITES]:
        assert refused(b_in_a, statement), statement
    assert ledger_counts(a.admin_dsn) == before
    assert (units_of(service_a, "t_a"), units_of(service_b, "t_a")) == ([1], [500])


def test_a_login_holding_only_the_reader_role_sees_no_tenant(
    admin_dsn: str, pair: list[Deployment], serving: list[LedgerProcess], storage: str
) -> None:
    a, service = pair[0], serving[0]
    day_ago = (datetime.now(UTC) - timedelta(days=1)).isoformat()  # a late row: a marked hour on TimescaleDB
    with client(service) as http:
        ingest(http, [event(tenantId=t, units=u, metadata={"to": "+15550100"}) for t, u in (("t_a", 1), ("t_b", 2))])
        ingest(http, [event(tenantId="t_a", units=3, occurredAt=day_ago)])
    # Granted the reader role and CONNECT by an operator (neither is ever needed: the service's login
    # switches to the role), so the second layer is what is left.
    login, password = create_login(admin_dsn, [f"GRANT {a.roles.reader}", f"GRANT CONNECT ON DATABASE {a.name}"])
    snoop = as_login(admin_dsn, login, password, a.name)
    try:
        # A proof the service's login made, for t_a, in a transaction of its own.
        proof, seen = asyncio.run(proof_in_service_session(a.dsn, "t_a"))
        assert seen > 0
        choices = [
            (),
            ("SELECT set_config('ledger.tenant_id', 't_a', false)",),
            (f"SET ROLE {a.roles.reader}", "SELECT set_config('ledger.tenant_id', 't_a', true)"),
            (
                f"SET ROLE {a.roles.reader}",
                "SELECT set_config('ledger.tenant_id', 't_a', true)",
                f"SELECT set_config('ledger.tenant_proof', '{proof}', true)",  # replayed elsewhere: worthless
            ),
        ]
        for setup in choices:
            for relation in [*TENANT_VIEWS, "usage_ledger", "usage_rollup_15m", "usage_rollup_1h"]:
                assert visible_rows(snoop, relation, setup=setup) == 0, (relation, setup)
            assert asyncio.run(attempt(snoop, "SELECT ledger_read_tenant() AS t", setup=setup))[0]["t"] is None
        for statement in [*READS[-4:], *WRITES]:
            assert refused(snoop, statement), statement
        # No error message carries another tenant's values either: the tenant check runs before any
        # condition of the caller's, even with the indexes that would skip other tenants' rows turned off.
        no_index = ("SET LOCAL enable_indexscan = off", "SET LOCAL enable_bitmapscan = off")
        for relation in ("usage_ledger_tenant", "usage_ledger"):
            for leaky in ("tenant_id::int = 0", "(metadata ->> 'to')::int = 0", "1 / (units - units) = 0"):
                statement = f"SELECT * FROM {relation} WHERE {leaky}"
                try:
                    assert asyncio.run(attempt(snoop, statement, setup=no_index)) == []
                except asyncpg.InsufficientPrivilegeError:
                    assert storage == "timescaledb" and relation == "usage_ledger"  # no grant on the hypertable
    finally:
        drop_login(admin_dsn, login)
    assert units_of(service, "t_a") == [1, 3]  # and the service reads on as before


async def proof_in_service_session(dsn: str, tenant: str) -> tuple[str, int]:
    """The proof the service's login makes for `tenant`, and the rows it shows in that transaction."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await begin_tenant_read(conn, tenant)
            proof = await conn.fetchval("SELECT current_setting('ledger.tenant_proof')")
            return proof, len(await conn.fetch("SELECT * FROM usage_ledger_tenant"))
    finally:
        await conn.close()


LEGACY = ["ledger_reader", "ledger_writer", "ledger_analyst"]  # the cluster-wide roles before 0009


@pytest.fixture
def legacy_database(admin_dsn: str, storage: str) -> Iterator[tuple[str, Roles]]:
    """A database migrated by the previous version (0001-0008 as written: the cluster-wide roles) as the
    superuser it ran as, holding t_a's rows; yields its superuser DSN and the roles it will have."""
    name = f"legacy_{uuid.uuid4().hex[:10]}"
    existing = {
        r["rolname"] for r in SQL(admin_dsn).fetch("SELECT rolname FROM pg_roles WHERE rolname = ANY($1)", LEGACY)
    }
    asyncio.run(run_as_admin(admin_dsn, [f"CREATE DATABASE {name}"]))
    dsn = with_database(admin_dsn, name)
    try:
        asyncio.run(legacy_migrate_and_ingest(dsn, storage))
        yield dsn, derived(name)
    finally:
        asyncio.run(run_as_admin(admin_dsn, [f"DROP DATABASE {name} WITH (FORCE)"]))
        asyncio.run(drop_roles(admin_dsn, [*derived(name).names(), *(r for r in LEGACY if r not in existing)]))


async def legacy_migrate_and_ingest(dsn: str, storage: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await migrate_as_before_own_roles(conn, storage)
        repository = LedgerRepository(conn_pool := await asyncpg.create_pool(dsn, min_size=1, max_size=1), storage)
        try:
            await repository.ensure_partitions([datetime.now(UTC) - timedelta(minutes=5)])
        finally:
            await conn_pool.close()
        # As the previous version stored rows (today's ingest statement needs the columns of migration 0010).
        await conn.execute(LEGACY_INSERT, "t_a", [1, 2])
        if storage == "postgres":
            await conn.execute("SELECT ledger_refresh_aggregates(NULL, NULL)")
    finally:
        await conn.close()


LEGACY_INSERT = """
WITH input AS (SELECT gen_random_uuid() AS id, u AS units FROM unnest($2::bigint[]) AS u),
claimed AS (
    INSERT INTO usage_idempotency_keys (tenant_id, idempotency_key, event_id)
    SELECT $1, 'legacy-' || id, id FROM input
    RETURNING event_id
)
INSERT INTO usage_ledger (id, tenant_id, source, event_type, units, metadata, occurred_at, idempotency_key)
SELECT i.id, $1, 'twilio', 'mms', i.units, '{"to": "+15550100"}', now() - interval '5 minutes', 'legacy-' || i.id
FROM input i JOIN claimed c ON c.event_id = i.id
"""


def test_a_database_migrated_with_the_cluster_wide_roles_moves_to_its_own(
    admin_dsn: str, legacy_database: tuple[str, Roles], storage: str, tmp_path: Path
) -> None:
    dsn, own = legacy_database
    database = urlsplit(dsn).path.lstrip("/")
    # Another deployment's service login, made a member of the cluster-wide roles by its own ledger's 0004.
    other, password = create_login(admin_dsn, ["GRANT ledger_reader, ledger_writer"])
    other_in_legacy = as_login(admin_dsn, other, password, database)
    as_old_reader = ("SET ROLE ledger_reader", "SELECT set_config('ledger.tenant_id', 't_a', true)")
    try:
        # Before: the other deployment reads this ledger's tenant (the hole this migration closes).
        assert visible_rows(other_in_legacy, "usage_ledger_tenant", setup=as_old_reader) == 2

        process = LedgerProcess(dsn, tmp_path / "legacy.log")  # the new version, as the same superuser
        process.start()
        try:
            assert units_of(process, "t_a") == [1, 2]  # keeps working: the rows from before are read
            with client(process) as http:
                ingest(http, [event(tenantId="t_a", units=3)])
            assert units_of(process, "t_a") == [1, 2, 3]
        finally:
            process.stop()

        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied for database"):
            asyncio.run(attempt(other_in_legacy, "SELECT 1"))
        asyncio.run(run_as_admin(admin_dsn, [f"GRANT CONNECT ON DATABASE {database} TO {other}"]))
        for relation in [*TENANT_VIEWS, "usage_ledger", "usage_rollup_15m", "usage_rollup_1h", "analyst_usage_15m"]:
            for setup in (as_old_reader, ("SET ROLE ledger_writer",), ("SET ROLE ledger_analyst",)):
                assert visible_rows(other_in_legacy, relation, setup=setup) == 0, (relation, setup)
        assert refused(other_in_legacy, WRITES[0], setup=("SET ROLE ledger_writer",))
        legacy = SQL(dsn)
        left = (
            "SELECT count(*) FROM pg_shdepend s JOIN pg_roles r ON r.oid = s.refobjid WHERE r.rolname = ANY($1)"
            " AND s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        assert legacy.fetchval(left, LEGACY) == 0
        assert database_roles(legacy) == own
    finally:
        drop_login(admin_dsn, other)
    # The moved database is the one a fresh migration makes (when this server made the committed description).
    moved, expected = asyncio.run(describe(dsn)), committed(storage).read_text()
    if moved.splitlines()[0] == expected.splitlines()[0]:
        assert moved == expected


def test_a_login_that_may_not_create_roles_is_told_what_to_run(admin_dsn: str, storage: str) -> None:
    """The operator skipped the roles: the first start stops before any migration, naming the statements."""
    login, password = create_login(admin_dsn, [])
    asyncio.run(run_as_admin(admin_dsn, [f"CREATE DATABASE {login} OWNER {login}"]))
    try:
        with pytest.raises(MigrationError) as refusal:
            asyncio.run(migrate_as(as_login(admin_dsn, login, password, login), storage))
        roles = derived(login)
        assert f"CREATE ROLE {roles.reader} NOLOGIN;" in refusal.value.message
        assert f"GRANT {roles.writer} TO {login};" in refusal.value.message
        assert SQL(with_database(admin_dsn, login)).fetchval("SELECT count(*) FROM schema_migrations") == 0
    finally:
        asyncio.run(run_as_admin(admin_dsn, [f"DROP DATABASE {login} WITH (FORCE)"]))
        drop_login(admin_dsn, login)


async def migrate_as(dsn: str, storage: str, configured: ConfiguredRoles | None = None) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return await migrations.migrate(conn, storage, configured)
    finally:
        await conn.close()


def test_configured_role_names_are_used_and_then_kept(
    admin_dsn: str, database_url: str, sql: SQL, storage: str
) -> None:
    names = Roles(*(f"r12_{uuid.uuid4().hex[:8]}_{kind}" for kind in KINDS))
    try:
        asyncio.run(migrate_as(database_url, storage, ConfiguredRoles(names.reader, names.writer, names.analyst)))
        assert database_roles(sql) == names
        granted = "SELECT count(*) FROM pg_class c, aclexplode(c.relacl) a WHERE a.grantee = $1::regrole"
        assert all(sql.fetchval(granted, name) > 0 for name in names.names())
        asyncio.run(migrate_as(database_url, storage))  # no setting: the recorded names
        with pytest.raises(
            MigrationError, match="LEDGER_WRITER_ROLE is 'someone_else' but this database's writer role"
        ):
            asyncio.run(migrate_as(database_url, storage, ConfiguredRoles(writer="someone_else")))
    finally:
        asyncio.run(run_as_admin(database_url, [f"DROP OWNED BY {', '.join(names.names())}"]))
        asyncio.run(drop_roles(admin_dsn, names.names()))


def test_the_tenant_proof_is_an_hmac_good_for_one_transaction(ledger: Any, sql: SQL) -> None:
    async def check() -> None:
        conn = await asyncpg.connect(sql.dsn)
        try:
            async with conn.transaction():
                await begin_tenant_read(conn, "t_a")
                proof = await conn.fetchval("SELECT current_setting('ledger.tenant_proof')")
                message = await conn.fetchval(
                    "SELECT concat_ws(':', pg_backend_pid(), extract(epoch FROM now()), 't_a')"
                )
                assert await conn.fetchval("SELECT ledger_read_tenant()") == "t_a"
            inner = await conn.fetchval("SELECT inner_pad FROM ledger_read_key")
            key = bytes(b ^ 0x36 for b in inner)
            assert proof == hmac.new(key, message.encode(), hashlib.sha256).hexdigest()
            async with conn.transaction():  # the same session, the next transaction: the proof is spent
                await conn.execute(
                    "SELECT set_config('ledger.tenant_id', 't_a', true), set_config('ledger.tenant_proof', $1, true)",
                    proof,
                )
                assert await conn.fetchval("SELECT ledger_read_tenant()") is None
        finally:
            await conn.close()

    asyncio.run(check())
