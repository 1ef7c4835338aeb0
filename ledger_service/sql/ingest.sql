-- name: insert_batch_with_marks
-- One statement, one transaction: claim each (tenant_id, idempotency_key) and insert the row only for
-- keys this statement claimed. A key already claimed (by an earlier batch, or a concurrent one that
-- commits first) is a duplicate and adds nothing; if the insert fails, the claims roll back with it.
-- Rows are claimed in key order so concurrent batches with overlapping keys cannot deadlock.
-- Ids the client did not send are minted here (cheaper than in Python); the CTE is materialised once
-- (it calls a volatile function and is read twice), so claimed.event_id and the row's id agree.
-- The TimescaleDB storage variant (insert_batch_with_rollups is the plain-PostgreSQL twin; keep the two
-- in step). The continuous aggregates follow the hypertable only when refreshed, so the statement marks
-- the (tenant, UTC hour) of every row it inserted below the refresh horizon, in the same transaction:
-- reads take those hours from raw rows until a refresh that saw them (migration 0008 has the proof).
-- ledger_ingest_horizon() takes the shared horizon lock, held to commit, and reads the horizon. `input`
-- joins it, so it runs before the first row is produced, so before this statement waits on any row lock
-- (a batch holding no lock yet can then never queue behind a refresh waiting for this one); holding it
-- while rows go in is what makes unmarked rows safe from a concurrent refresh.
-- Marks are upserted in key order, so concurrent batches marking the same hours cannot deadlock.
WITH horizon AS MATERIALIZED (
    SELECT ledger_ingest_horizon() AS below
),
input AS (
    SELECT coalesce(t.id, gen_random_uuid()) AS id, t.tenant_id, t.idempotency_key, t.source, t.event_type,
           t.units, t.metadata, t.occurred_at, t.trace_id, t.span_id
    FROM unnest(
        $1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
        $6::bigint[], $7::jsonb[], $8::timestamptz[], $9::text[], $10::text[]
    ) AS t(id, tenant_id, idempotency_key, source, event_type, units, metadata, occurred_at, trace_id, span_id)
    CROSS JOIN horizon
),
claimed AS (
    INSERT INTO usage_idempotency_keys (tenant_id, idempotency_key, event_id)
    SELECT tenant_id, idempotency_key, id FROM input ORDER BY tenant_id, idempotency_key
    ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
    RETURNING event_id
),
inserted AS (
    INSERT INTO usage_ledger
        (id, tenant_id, source, event_type, units, metadata, occurred_at, idempotency_key, trace_id, span_id)
    SELECT i.id, i.tenant_id, i.source, i.event_type, i.units, i.metadata, i.occurred_at,
           i.idempotency_key, i.trace_id, i.span_id
    FROM input i JOIN claimed c ON c.event_id = i.id
    RETURNING tenant_id, occurred_at
),
marked AS (
    INSERT INTO usage_unmaterialized AS u (tenant_id, hour, marked_by)
    SELECT DISTINCT i.tenant_id, date_bin('1 hour', i.occurred_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
           pg_current_xact_id()
    FROM inserted i CROSS JOIN horizon h
    WHERE i.occurred_at < h.below
    ORDER BY 1, 2
    ON CONFLICT (tenant_id, hour) DO UPDATE SET marked_by = excluded.marked_by
)
SELECT count(*) FROM inserted;

-- name: insert_batch_with_rollups
-- insert_batch_with_marks for the plain-PostgreSQL storage variant (keep the two in step): the same claim + insert,
-- and in the same statement the 15-minute and hourly rollups incremented from the rows it actually
-- inserted, so duplicates add nothing and a failed batch rolls its increments back with it. Rollup rows
-- are taken in key order, 15-minute before hourly, so concurrent batches that touch the same buckets wait
-- for each other instead of deadlocking. (TimescaleDB maintains its continuous aggregates itself.)
WITH input AS (
    SELECT coalesce(t.id, gen_random_uuid()) AS id, t.tenant_id, t.idempotency_key, t.source, t.event_type,
           t.units, t.metadata, t.occurred_at, t.trace_id, t.span_id
    FROM unnest(
        $1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
        $6::bigint[], $7::jsonb[], $8::timestamptz[], $9::text[], $10::text[]
    ) AS t(id, tenant_id, idempotency_key, source, event_type, units, metadata, occurred_at, trace_id, span_id)
),
claimed AS (
    INSERT INTO usage_idempotency_keys (tenant_id, idempotency_key, event_id)
    SELECT tenant_id, idempotency_key, id FROM input ORDER BY tenant_id, idempotency_key
    ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
    RETURNING event_id
),
inserted AS (
    INSERT INTO usage_ledger
        (id, tenant_id, source, event_type, units, metadata, occurred_at, idempotency_key, trace_id, span_id)
    SELECT i.id, i.tenant_id, i.source, i.event_type, i.units, i.metadata, i.occurred_at,
           i.idempotency_key, i.trace_id, i.span_id
    FROM input i JOIN claimed c ON c.event_id = i.id
    RETURNING tenant_id, source, event_type, units, occurred_at
),
quarters AS (
    SELECT tenant_id, date_bin('15 minutes', occurred_at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
           source, event_type, sum(units) AS units, count(*) AS events
    FROM inserted
    GROUP BY 1, 2, 3, 4
),
rolled_15m AS (
    INSERT INTO usage_rollup_15m AS r (tenant_id, bucket, source, event_type, units, events)
    SELECT tenant_id, bucket, source, event_type, units, events FROM quarters
    ORDER BY tenant_id, bucket, source, event_type
    ON CONFLICT (tenant_id, bucket, source, event_type)
    DO UPDATE SET units = r.units + excluded.units, events = r.events + excluded.events
),
rolled_1h AS (
    INSERT INTO usage_rollup_1h AS r (tenant_id, bucket, source, event_type, units, events)
    SELECT tenant_id, date_bin('1 hour', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00'), source, event_type,
           sum(units), sum(events)
    FROM quarters
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (tenant_id, bucket, source, event_type)
    DO UPDATE SET units = r.units + excluded.units, events = r.events + excluded.events
)
SELECT count(*) FROM inserted;
