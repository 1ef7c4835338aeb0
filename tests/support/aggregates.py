"""The aggregate machinery from a test's side: the refresh job, compression, and what is trusted (W, marks).

On TimescaleDB the refresh policy is the job ledger_refresh_aggregates_job (migration 0008); on plain
PostgreSQL the ingest statement keeps the rollups exact and there is no job to run.
"""

from __future__ import annotations

from datetime import datetime

from tests.support.postgres import SQL

_JOB = "SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = 'ledger_refresh_aggregates_job'"


def is_timescaledb(sql: SQL) -> bool:
    return bool(sql.fetchval("SELECT value = 'timescaledb' FROM ledger_meta WHERE key = 'storage_variant'"))


def refresh_job(sql: SQL) -> int:
    job: int | None = sql.fetchval(_JOB)
    assert job is not None, "the service schedules the refresh job at start-up"
    return job


def run_refresh_policy(sql: SQL) -> None:
    """Run the refresh job now, in the foreground, as the scheduler would (nothing to run on plain PostgreSQL)."""
    if is_timescaledb(sql):
        # run_job commits (a procedure): simple query protocol, so the job id is a literal.
        sql.execute(f"CALL run_job({refresh_job(sql)})")


def pause_refresh_job(sql: SQL) -> None:
    """The scheduler will not start the job again: as if no background worker were free."""
    sql.fetchval("SELECT alter_job($1, scheduled => false)", refresh_job(sql))


def materialized_until(sql: SQL) -> datetime:
    value: datetime = sql.fetchval("SELECT materialized_until FROM ledger_aggregate_state")
    return value


def marked_hours(sql: SQL, tenant: str) -> list[datetime]:
    rows = sql.fetch("SELECT hour FROM usage_unmaterialized WHERE tenant_id = $1 ORDER BY 1", tenant)
    return [r["hour"] for r in rows]


def compress_chunks_holding(sql: SQL, instants: list[datetime]) -> list[str]:
    """Compress the hypertable chunks that hold these instants; their names."""
    names = sorted(
        {
            r["chunk"]
            for r in sql.fetch(
                "SELECT format('%I.%I', chunk_schema, chunk_name) AS chunk FROM timescaledb_information.chunks "
                "WHERE hypertable_name = 'usage_ledger' AND range_start <= ANY($1) AND range_end > ANY($1)",
                instants,
            )
        }
    )
    for name in names:
        sql.fetchval("SELECT compress_chunk($1::regclass)", name)
    return names


def compressed(sql: SQL, chunks: list[str]) -> list[bool]:
    chunk_named = (
        "SELECT is_compressed FROM timescaledb_information.chunks WHERE format('%I.%I', chunk_schema, chunk_name) = $1"
    )
    return [sql.fetchval(chunk_named, chunk) for chunk in chunks]


def materialized_totals(sql: SQL, tenant: str) -> tuple[int, int]:
    """What the hourly aggregate alone holds for the tenant (units, events): the part a read trusts less."""
    row = sql.fetch(
        "SELECT coalesce(sum(units), 0)::bigint AS units, coalesce(sum(events), 0)::bigint AS events "
        "FROM usage_rollup_1h WHERE tenant_id = $1",
        tenant,
    )[0]
    return row["units"], row["events"]


def raw_totals(sql: SQL, tenant: str) -> tuple[int, int]:
    row = sql.fetch(
        "SELECT coalesce(sum(units), 0)::bigint AS units, count(*) AS events FROM usage_ledger WHERE tenant_id = $1",
        tenant,
    )[0]
    return row["units"], row["events"]
