-- name: insert_batch_with_marks
-- One statement, one transaction: claim each (tenant_id, idempotency_key) and insert the row only for
-- keys this statement claimed. A key already claimed (by an earlier batch, or a concurrent one that
-- commits first) adds nothing: the caller compares its content with the stored event's (a duplicate or a
-- conflict, stored_content below); if the insert fails, the claims roll back with it.
-- Rows are claimed in key order so concurrent batches with overlapping keys cannot deadlock.
-- Row ids are always minted here, never taken from the sender, so they are unique ledger-wide and the
-- listings' keyset (occurred_at, id) never skips or repeats a row. The CTE is materialised once (it calls a
-- volatile function and is read twice), so claimed.event_id and the row's id agree.
-- $10: per event, the sender gave no time (the ledger assigned it); $11: the batch is a backfill. Either
-- keeps the claim for good (migration 0010: a resend could not be refused by the late window).
-- Answers how many rows it stored and the ordinals (1-based) of the events it did not store.
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
    SELECT gen_random_uuid() AS id, t.ord, t.tenant_id, t.idempotency_key, t.source, t.event_type,
           t.units, t.metadata, t.occurred_at, t.trace_id, t.span_id, t.time_assigned
    FROM unnest(
        $1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[],
        $6::jsonb[], $7::timestamptz[], $8::text[], $9::text[], $10::boolean[]
    ) WITH ORDINALITY
      AS t(tenant_id, idempotency_key, source, event_type, units, metadata, occurred_at, trace_id, span_id,
           time_assigned, ord)
    CROSS JOIN horizon
),
claimed AS (
    INSERT INTO usage_idempotency_keys (tenant_id, idempotency_key, event_id, occurred_at, time_assigned, keep)
    SELECT tenant_id, idempotency_key, id, occurred_at, time_assigned, time_assigned OR $11::boolean
    FROM input ORDER BY tenant_id, idempotency_key
    ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
    RETURNING event_id
),
inserted AS (
    INSERT INTO usage_ledger
        (id, tenant_id, source, event_type, units, metadata, occurred_at, idempotency_key, trace_id, span_id,
         backfilled)
    SELECT i.id, i.tenant_id, i.source, i.event_type, i.units, i.metadata, i.occurred_at,
           i.idempotency_key, i.trace_id, i.span_id, $11::boolean
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
SELECT (SELECT count(*) FROM inserted)::int AS stored,
       array(SELECT i.ord::int FROM input i WHERE NOT EXISTS (SELECT 1 FROM claimed c WHERE c.event_id = i.id)
             ORDER BY i.ord) AS not_stored;

-- name: insert_batch_with_rollups
-- insert_batch_with_marks for the plain-PostgreSQL storage variant (keep the two in step): the same claim + insert,
-- and in the same statement the 15-minute and hourly rollups incremented from the rows it actually
-- inserted, so duplicates add nothing and a failed batch rolls its increments back with it. Rollup rows
-- are taken in key order, 15-minute before hourly, so concurrent batches that touch the same buckets wait
-- for each other instead of deadlocking. (TimescaleDB maintains its continuous aggregates itself.)
WITH input AS (
    SELECT gen_random_uuid() AS id, t.ord, t.tenant_id, t.idempotency_key, t.source, t.event_type,
           t.units, t.metadata, t.occurred_at, t.trace_id, t.span_id, t.time_assigned
    FROM unnest(
        $1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[],
        $6::jsonb[], $7::timestamptz[], $8::text[], $9::text[], $10::boolean[]
    ) WITH ORDINALITY
      AS t(tenant_id, idempotency_key, source, event_type, units, metadata, occurred_at, trace_id, span_id,
           time_assigned, ord)
),
claimed AS (
    INSERT INTO usage_idempotency_keys (tenant_id, idempotency_key, event_id, occurred_at, time_assigned, keep)
    SELECT tenant_id, idempotency_key, id, occurred_at, time_assigned, time_assigned OR $11::boolean
    FROM input ORDER BY tenant_id, idempotency_key
    ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
    RETURNING event_id
),
inserted AS (
    INSERT INTO usage_ledger
        (id, tenant_id, source, event_type, units, metadata, occurred_at, idempotency_key, trace_id, span_id,
         backfilled)
    SELECT i.id, i.tenant_id, i.source, i.event_type, i.units, i.metadata, i.occurred_at,
           i.idempotency_key, i.trace_id, i.span_id, $11::boolean
    FROM input i JOIN claimed c ON c.event_id = i.id
    RETURNING tenant_id, source, event_type, units, events, occurred_at
),
quarters AS (
    SELECT tenant_id, date_bin('15 minutes', occurred_at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
           source, event_type, sum(units) AS units, sum(events) AS events, count(*) AS entries
    FROM inserted
    GROUP BY 1, 2, 3, 4
),
rolled_15m AS (
    INSERT INTO usage_rollup_15m AS r (tenant_id, bucket, source, event_type, units, events, entries)
    SELECT tenant_id, bucket, source, event_type, units, events, entries FROM quarters
    ORDER BY tenant_id, bucket, source, event_type
    ON CONFLICT (tenant_id, bucket, source, event_type)
    DO UPDATE SET units = r.units + excluded.units, events = r.events + excluded.events,
                  entries = r.entries + excluded.entries
),
rolled_1h AS (
    INSERT INTO usage_rollup_1h AS r (tenant_id, bucket, source, event_type, units, events, entries)
    SELECT tenant_id, date_bin('1 hour', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00'), source, event_type,
           sum(units), sum(events), sum(entries)
    FROM quarters
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (tenant_id, bucket, source, event_type)
    DO UPDATE SET units = r.units + excluded.units, events = r.events + excluded.events,
                  entries = r.entries + excluded.entries
)
SELECT (SELECT count(*) FROM inserted)::int AS stored,
       array(SELECT i.ord::int FROM input i WHERE NOT EXISTS (SELECT 1 FROM claimed c WHERE c.event_id = i.id)
             ORDER BY i.ord) AS not_stored;

-- name: stored_content
-- For events whose key was already claimed: the stored event's content, to tell a duplicate (same content)
-- from a conflict (DESIGN.md invariant 8). The claim finds the row through the ledger's index (tenant,
-- occurred_at, id), at any age; jsonb equality compares metadata whatever its key order or spacing.
-- One index lookup per event in each table, whatever the tables' sizes: the LIMITs keep the planner from
-- flattening the LATERAL subqueries into a hash join that reads every claim (a seq scan of millions of keys
-- per resent batch).
SELECT t.ord, k.event_id, k.time_assigned, l.source, l.event_type, l.units, l.occurred_at,
       l.metadata = t.metadata AS same_metadata
FROM unnest($1::int[], $2::text[], $3::text[], $4::jsonb[]) AS t(ord, tenant_id, idempotency_key, metadata)
CROSS JOIN LATERAL (
    SELECT event_id, occurred_at, time_assigned FROM usage_idempotency_keys
    WHERE tenant_id = t.tenant_id AND idempotency_key = t.idempotency_key
    LIMIT 1
) AS k
CROSS JOIN LATERAL (
    SELECT source, event_type, units, occurred_at, metadata FROM usage_ledger
    WHERE tenant_id = t.tenant_id AND occurred_at = k.occurred_at AND id = k.event_id
    LIMIT 1
) AS l;

-- name: record_conflicts
-- Conflicts kept for inspection: one row per (tenant, key, content sent); the same conflicting content sent
-- again counts up. Rows in key order, so concurrent batches cannot deadlock.
INSERT INTO usage_conflicts AS c (tenant_id, idempotency_key, event_id, fields, message, sent, digest, via)
SELECT t.tenant_id, t.idempotency_key, t.event_id, string_to_array(t.fields, ','), t.message, t.sent,
       md5(t.sent::text), $7
FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::jsonb[])
    AS t(tenant_id, idempotency_key, event_id, fields, message, sent)
ORDER BY t.tenant_id, t.idempotency_key, md5(t.sent::text)
ON CONFLICT (tenant_id, idempotency_key, digest)
DO UPDATE SET last_seen = now(), times = c.times + 1;
