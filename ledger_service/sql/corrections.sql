-- Corrections (issue 13): each runs in a transaction of its own, as the service's login (ledger_writer's
-- policies), serialised per corrected event by lock_corrected_event.

-- name: lock_corrected_event
-- Corrections of one event (tenant, idempotency key) wait for each other until commit: each sees the ones
-- before it, so an event is never voided twice and an amend never works from stale units. A hash collision
-- only makes two unrelated corrections wait for each other.
SELECT pg_advisory_xact_lock(hashtextextended($1 || chr(31) || $2, 1970496874));

-- name: correction_by_key
SELECT tenant_id, correction_key, row_id, corrects, idempotency_key, action, units, reason, created_at
FROM usage_corrections
WHERE tenant_id = $1 AND correction_key = $2;

-- name: event_by_claim
-- The event under a key, through its claim: the row's time and id make it one index lookup, at any age.
SELECT l.id, l.source, l.event_type, l.units, l.occurred_at
FROM usage_idempotency_keys k
JOIN usage_ledger l ON l.tenant_id = k.tenant_id AND l.occurred_at = k.occurred_at AND l.id = k.event_id
WHERE k.tenant_id = $1 AND k.idempotency_key = $2;

-- name: event_at
-- The event under a key whose claim is gone (pruned), at the time the caller gives: one index range.
SELECT id, source, event_type, units, occurred_at
FROM usage_ledger
WHERE tenant_id = $1 AND occurred_at = $3 AND idempotency_key = $2 AND corrects IS NULL
LIMIT 2;

-- name: event_by_key
-- The same without a time: every row of the tenant is looked at, so the caller bounds it (limit_statement_time).
SELECT id, source, event_type, units, occurred_at
FROM usage_ledger
WHERE tenant_id = $1 AND idempotency_key = $2 AND corrects IS NULL
LIMIT 2;

-- name: limit_statement_time
SELECT set_config('statement_timeout', $1, true);

-- name: corrections_of_event
SELECT correction_key, row_id, action, units, created_at
FROM usage_corrections
WHERE tenant_id = $1 AND corrects = $2
ORDER BY created_at, row_id;

-- name: insert_correction_with_marks
-- One correction: claim its key (usage_corrections) and append its ledger row in the corrected event's
-- tenant, type, key and time, so it lands in the same bucket and day; nothing if the key was claimed. The
-- TimescaleDB variant: the row goes through insert_batch_with_marks' discipline (sql/ingest.sql, migration
-- 0008), whatever its age and in a compressed chunk too: the horizon lock first, and a mark on its (tenant,
-- UTC hour) below the horizon, so reads take that hour raw until a refresh saw the row. Keep in step with
-- insert_correction_with_rollups. $9: the event's units once corrected; $10: the change (the row's units).
WITH horizon AS MATERIALIZED (
    SELECT ledger_ingest_horizon() AS below
),
input AS (
    SELECT gen_random_uuid() AS id, $1::text AS tenant_id, $2::text AS correction_key, $3::uuid AS corrects,
           $4::text AS idempotency_key, $5::timestamptz AS occurred_at, $6::text AS source,
           $7::text AS event_type, $8::text AS action, $9::bigint AS units, $10::bigint AS delta,
           $11::text AS reason, $12::text AS requested_by
    FROM horizon
),
claimed AS (
    INSERT INTO usage_corrections (tenant_id, correction_key, row_id, corrects, idempotency_key, occurred_at, source,
                                   event_type, action, units, delta, reason, requested_by)
    SELECT tenant_id, correction_key, id, corrects, idempotency_key, occurred_at, source, event_type, action, units,
           delta, reason, requested_by
    FROM input
    ON CONFLICT (tenant_id, correction_key) DO NOTHING
    RETURNING row_id
),
inserted AS (
    INSERT INTO usage_ledger (id, tenant_id, source, event_type, units, occurred_at, idempotency_key, events, corrects)
    SELECT i.id, i.tenant_id, i.source, i.event_type, i.delta, i.occurred_at, i.idempotency_key,
           CASE i.action WHEN 'void' THEN -1 ELSE 0 END, i.corrects
    FROM input i JOIN claimed c ON c.row_id = i.id
    RETURNING id, tenant_id, occurred_at
),
marked AS (
    INSERT INTO usage_unmaterialized AS u (tenant_id, hour, marked_by)
    SELECT i.tenant_id, date_bin('1 hour', i.occurred_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'), pg_current_xact_id()
    FROM inserted i CROSS JOIN horizon h
    WHERE i.occurred_at < h.below
    ON CONFLICT (tenant_id, hour) DO UPDATE SET marked_by = excluded.marked_by
)
SELECT id FROM inserted;

-- name: insert_correction_with_rollups
-- insert_correction_with_marks for plain PostgreSQL (keep the two in step): the rollups take the row's change
-- in the same statement, as insert_batch_with_rollups does: units by the change, events by -1 (void) or 0
-- (amend), entries by the one row.
WITH input AS (
    SELECT gen_random_uuid() AS id, $1::text AS tenant_id, $2::text AS correction_key, $3::uuid AS corrects,
           $4::text AS idempotency_key, $5::timestamptz AS occurred_at, $6::text AS source,
           $7::text AS event_type, $8::text AS action, $9::bigint AS units, $10::bigint AS delta,
           $11::text AS reason, $12::text AS requested_by
),
claimed AS (
    INSERT INTO usage_corrections (tenant_id, correction_key, row_id, corrects, idempotency_key, occurred_at, source,
                                   event_type, action, units, delta, reason, requested_by)
    SELECT tenant_id, correction_key, id, corrects, idempotency_key, occurred_at, source, event_type, action, units,
           delta, reason, requested_by
    FROM input
    ON CONFLICT (tenant_id, correction_key) DO NOTHING
    RETURNING row_id
),
inserted AS (
    INSERT INTO usage_ledger (id, tenant_id, source, event_type, units, occurred_at, idempotency_key, events, corrects)
    SELECT i.id, i.tenant_id, i.source, i.event_type, i.delta, i.occurred_at, i.idempotency_key,
           CASE i.action WHEN 'void' THEN -1 ELSE 0 END, i.corrects
    FROM input i JOIN claimed c ON c.row_id = i.id
    RETURNING id, tenant_id, source, event_type, units, events, occurred_at
),
rolled_15m AS (
    INSERT INTO usage_rollup_15m AS r (tenant_id, bucket, source, event_type, units, events, entries)
    SELECT tenant_id, date_bin('15 minutes', occurred_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'), source, event_type,
           units, events, 1
    FROM inserted
    ON CONFLICT (tenant_id, bucket, source, event_type)
    DO UPDATE SET units = r.units + excluded.units, events = r.events + excluded.events,
                  entries = r.entries + excluded.entries
),
rolled_1h AS (
    INSERT INTO usage_rollup_1h AS r (tenant_id, bucket, source, event_type, units, events, entries)
    SELECT tenant_id, date_bin('1 hour', occurred_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'), source, event_type,
           units, events, 1
    FROM inserted
    ON CONFLICT (tenant_id, bucket, source, event_type)
    DO UPDATE SET units = r.units + excluded.units, events = r.events + excluded.events,
                  entries = r.entries + excluded.entries
)
SELECT id FROM inserted;

-- name: conflicts_page
-- Conflicts kept for inspection, newest first, after id $3 (keyset on the identity), of one tenant or all.
SELECT id, tenant_id, idempotency_key, event_id, fields, message, sent::text AS sent, via, first_seen, last_seen,
       times
FROM usage_conflicts
WHERE ($1::text IS NULL OR tenant_id = $1) AND id < $3
ORDER BY id DESC
LIMIT $2;
