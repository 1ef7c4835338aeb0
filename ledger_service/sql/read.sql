-- Tenant reads. Every query here runs inside a transaction opened by begin_tenant_read, as this
-- database's reader role, and names the tenant twice: $1 (from the verified token) in its WHERE clause,
-- and the same value in ledger.tenant_id, which the row-level security policies / tenant views filter on
-- through ledger_read_tenant(): only with the proof the service's login made for it (migration 0009).

-- name: begin_tenant_read
-- ledger_begin_tenant_read() runs as the service's login, which alone can make the proof: it sets the
-- tenant and its proof, then switches to the reader role. Transaction-local (is_local = true): nothing
-- survives into the next use of the pooled connection.
-- Custom plans: the reads have optional filters and ranges whose best plan depends on the values; a
-- cached generic plan was measured 3-4x slower than planning each time (~0.2 ms).
SELECT ledger_begin_tenant_read($1), set_config('plan_cache_mode', 'force_custom_plan', true);

-- name: summary_state
-- What the aggregates can be trusted with, read in the summary's REPEATABLE READ transaction so that the
-- summary below sees the same snapshot: W (materialized_until), clamped into the window [$2, $3), and the
-- tenant's marked hours that overlap the window below W (migration 0008). Plain PostgreSQL: W = infinity,
-- no marks.
SELECT greatest(least(s.materialized_until, $3::timestamptz), $2::timestamptz) AS materialized_until,
       array(
           SELECT u.hour FROM usage_unmaterialized_tenant u
           WHERE u.tenant_id = $1 AND u.hour > $2::timestamptz - INTERVAL '1 hour'
             AND u.hour < least(s.materialized_until, $3::timestamptz)
           ORDER BY u.hour
       ) AS marked_hours
FROM ledger_aggregate_state s;

-- name: usage_summary
-- Daily sums per (source, event_type). Four levels, each with three arrays: the starts, ends and day
-- numbers of its ranges (storage/summary_ranges.py): $2-$4 the 6-hour aggregate, $5-$7 the hourly one,
-- $8-$10 the 15-minute one, $11-$13 raw rows. The ranges cover the window exactly once, each lies in one
-- local day and says which, so a row is added to its range's day. Each range is one index range scan.
-- $16..$23 bound each level's ranges as plain values, so TimescaleDB leaves the chunks outside them out of
-- the plan (the range arrays alone are only known per row); a level with no ranges has NULL bounds and
-- reads nothing. Sums are bigint in every branch (TimescaleDB's hourly and 15-minute aggregates hold
-- numeric sums): adding bigints is cheaper than adding numerics.
-- units and events are net of corrections (a correction is a row in its event's bucket: migration 0010);
-- entries counts rows, corrections included: what the events listing shows.
SELECT source, event_type, day, sum(units)::bigint AS units, sum(events)::bigint AS events,
       sum(entries)::bigint AS entries
FROM (
    SELECT s.source, s.event_type, r.day, s.units, s.events, s.entries
    FROM unnest($2::timestamptz[], $3::timestamptz[], $4::int[]) AS r(lo, hi, day)
    CROSS JOIN LATERAL (
        SELECT source, event_type, units, events, entries FROM usage_rollup_6h_tenant
        WHERE tenant_id = $1 AND bucket >= r.lo AND bucket < r.hi
          AND bucket >= $16::timestamptz AND bucket < $17::timestamptz
    ) AS s
    UNION ALL
    SELECT h.source, h.event_type, r.day, h.units::bigint, h.events::bigint, h.entries::bigint
    FROM unnest($5::timestamptz[], $6::timestamptz[], $7::int[]) AS r(lo, hi, day)
    CROSS JOIN LATERAL (
        SELECT source, event_type, units, events, entries FROM usage_rollup_1h_tenant
        WHERE tenant_id = $1 AND bucket >= r.lo AND bucket < r.hi
          AND bucket >= $18::timestamptz AND bucket < $19::timestamptz
    ) AS h
    UNION ALL
    SELECT q.source, q.event_type, r.day, q.units::bigint, q.events::bigint, q.entries::bigint
    FROM unnest($8::timestamptz[], $9::timestamptz[], $10::int[]) AS r(lo, hi, day)
    CROSS JOIN LATERAL (
        SELECT source, event_type, units, events, entries FROM usage_rollup_tenant
        WHERE tenant_id = $1 AND bucket >= r.lo AND bucket < r.hi
          AND bucket >= $20::timestamptz AND bucket < $21::timestamptz
    ) AS q
    UNION ALL
    SELECT e.source, e.event_type, r.day, e.units, e.events::bigint, 1::bigint
    FROM unnest($11::timestamptz[], $12::timestamptz[], $13::int[]) AS r(lo, hi, day)
    CROSS JOIN LATERAL (
        SELECT source, event_type, units, events FROM usage_ledger_tenant
        WHERE tenant_id = $1 AND occurred_at >= r.lo AND occurred_at < r.hi
          AND occurred_at >= $22::timestamptz AND occurred_at < $23::timestamptz
    ) AS e
) AS parts
WHERE ($14::text IS NULL OR source = $14)
  AND ($15::text IS NULL OR event_type = $15)
GROUP BY source, event_type, day
ORDER BY source, event_type, day;

-- name: usage_summary_raw_scan
-- The same answer computed from the raw rows: the reference the aggregates must equal (bench/read.py
-- times the two side by side). width_bucket() numbers each row's day 1..n from the day starts in $4.
SELECT source, event_type, width_bucket(occurred_at, $4::timestamptz[])::int AS day,
       sum(units)::bigint AS units, sum(events)::bigint AS events, count(*) AS entries
FROM usage_ledger_tenant
WHERE tenant_id = $1
  AND occurred_at >= $2 AND occurred_at < $3
  AND ($5::text IS NULL OR source = $5)
  AND ($6::text IS NULL OR event_type = $6)
GROUP BY source, event_type, day
ORDER BY source, event_type, day;

-- name: events_page
-- Newest first, keyset pagination on (occurred_at, id) < ($7, $8): served by the index
-- (tenant_id, occurred_at DESC, id DESC) at any depth, never OFFSET. Row ids are unique ledger-wide (the
-- ledger mints them), so the keyset never skips or repeats a row. The first page starts after
-- ('infinity', max uuid). [$2, $3) is the caller's time window.
SELECT id, source, event_type, units, occurred_at, created_at, metadata::text AS metadata, trace_id,
       idempotency_key, events, corrects, backfilled
FROM usage_ledger_tenant
WHERE tenant_id = $1
  AND occurred_at >= $2 AND occurred_at < $3
  AND (occurred_at, id) < ($7::timestamptz, $8::uuid)
  AND ($4::text IS NULL OR source = $4)
  AND ($5::text IS NULL OR event_type = $5)
ORDER BY occurred_at DESC, id DESC
LIMIT $6;

-- name: corrections_of_rows
-- The corrections that link to rows of a page, either way: the corrections of its events (wherever they
-- are listed) and the records of its correction rows. Oldest first: an event's history in order.
SELECT row_id, corrects, action, units, delta, reason, correction_key, created_at
FROM usage_corrections_tenant
WHERE tenant_id = $1 AND (corrects = ANY($2::uuid[]) OR row_id = ANY($2::uuid[]))
ORDER BY created_at, row_id;

-- name: sync_event_type
-- The registry (otel/event_types.py) copied into the database for the analyst views' unit column.
INSERT INTO usage_event_types (source, event_type, unit, description)
VALUES ($1, $2, $3, $4)
ON CONFLICT (source, event_type) DO UPDATE
SET unit = excluded.unit, description = excluded.description
WHERE (usage_event_types.unit, usage_event_types.description) IS DISTINCT FROM (excluded.unit, excluded.description);

-- name: apply_policies
-- TimescaleDB: (re)install refresh / compression / retention policies; plain PostgreSQL: a no-op.
SELECT ledger_apply_policies($1::interval, $2::interval, $3::interval, $4::interval);

-- name: refresh_aggregates_postgres
-- Rebuild rollup buckets from raw rows (after a COPY load or a restore); NULL bounds = everything.
SELECT ledger_refresh_aggregates($1::timestamptz, $2::timestamptz);

-- name: refresh_aggregates_timescaledb
-- TimescaleDB: recompute the continuous aggregates from every raw row (after a COPY load or a restore;
-- migration 0008). A procedure that commits on its own: it must run outside any transaction block.
CALL ledger_rebuild_aggregates();

-- name: vacuum_analyze
-- After a bulk load (COPY, restore): visibility map and planner statistics, as autovacuum would leave them.
VACUUM (ANALYZE);
