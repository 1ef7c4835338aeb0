-- Tenant reads. Every query here runs inside a transaction opened by begin_tenant_read, as the
-- ledger_reader role, and names the tenant twice: $1 (from the verified token) in its WHERE clause, and
-- the same value in ledger.tenant_id, which the row-level security policies / tenant views filter on.

-- name: begin_tenant_read
-- Transaction-local (is_local = true): nothing survives into the next use of the pooled connection.
-- Custom plans: the reads have optional filters and ranges whose best plan depends on the values; a
-- cached generic plan was measured 3-4x slower than planning each time (~0.2 ms).
SELECT set_config('role', 'ledger_reader', true), set_config('ledger.tenant_id', $1, true),
       set_config('plan_cache_mode', 'force_custom_plan', true);

-- name: usage_summary
-- Daily sums from the aggregates. Per requested local day, $4 / $7 hold the UTC instants at which it
-- starts / ends and $8 / $9 its first and last whole UTC hour boundaries: the whole hours come from the
-- hourly rollup, the quarter hours before $8 and after $9 (zones at :30 / :45) from the 15-minute one.
-- Local days are whole numbers of 15-minute buckets, so the sums are exact in every supported zone.
-- One set of index range scans per day, aggregated on the spot, keeps the rows read (and the work per
-- row) small. ($2, $3: the first start and the last end, for the raw-scan twin of this query.)
SELECT r.source, r.event_type, d.day::int AS day, r.units, r.events
FROM unnest($4::timestamptz[], $7::timestamptz[], $8::timestamptz[], $9::timestamptz[])
     WITH ORDINALITY AS d(day_start, day_end, hours_start, hours_end, day)
CROSS JOIN LATERAL (
    SELECT source, event_type, sum(units)::bigint AS units, sum(events)::bigint AS events
    FROM (
        SELECT source, event_type, units, events FROM usage_rollup_1h_tenant
        WHERE tenant_id = $1 AND bucket >= d.hours_start AND bucket < d.hours_end
        UNION ALL
        SELECT source, event_type, units, events FROM usage_rollup_tenant
        WHERE tenant_id = $1 AND bucket >= d.day_start AND bucket < d.hours_start
        UNION ALL
        SELECT source, event_type, units, events FROM usage_rollup_tenant
        WHERE tenant_id = $1 AND bucket >= d.hours_end AND bucket < d.day_end
    ) AS parts
    WHERE ($5::text IS NULL OR source = $5)
      AND ($6::text IS NULL OR event_type = $6)
    GROUP BY source, event_type
) r
WHERE $2::timestamptz <= $3::timestamptz
ORDER BY r.source, r.event_type, d.day;

-- name: usage_summary_raw_scan
-- The same answer computed from the raw rows: the reference the aggregates must equal (bench/read.py
-- times the two side by side). width_bucket() numbers each row's day 1..n from the day starts in $4.
SELECT source, event_type, width_bucket(occurred_at, $4::timestamptz[]) AS day,
       sum(units)::bigint AS units, count(*) AS events
FROM usage_ledger_tenant
WHERE tenant_id = $1
  AND occurred_at >= $2 AND occurred_at < $3
  AND ($5::text IS NULL OR source = $5)
  AND ($6::text IS NULL OR event_type = $6)
GROUP BY source, event_type, day
ORDER BY source, event_type, day;

-- name: events_page
-- Newest first, keyset pagination on (occurred_at, id) < ($7, $8): served by the index
-- (tenant_id, occurred_at DESC, id DESC) at any depth, never OFFSET. The first page starts after
-- ('infinity', max uuid). [$2, $3) is the caller's time window.
SELECT id, source, event_type, units, occurred_at, created_at, metadata::text AS metadata, trace_id
FROM usage_ledger_tenant
WHERE tenant_id = $1
  AND occurred_at >= $2 AND occurred_at < $3
  AND (occurred_at, id) < ($7::timestamptz, $8::uuid)
  AND ($4::text IS NULL OR source = $4)
  AND ($5::text IS NULL OR event_type = $5)
ORDER BY occurred_at DESC, id DESC
LIMIT $6;

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

-- name: refresh_aggregates_timescaledb_15m
-- Materialize a continuous aggregate now: the 15-minute one, then the hourly one built on it.
-- A procedure that commits on its own: each must run alone, outside any transaction block, so they
-- take no parameters (sent with the simple query protocol).
-- The window ends where the refresh policies' end_offset does, not at NULL: a NULL end materializes the
-- newest, still-filling bucket and moves the watermark past it, so events ingested into that bucket
-- afterwards would be missing from summaries (no real-time part covers it) until a policy run.
-- Everything after the window end is computed from raw rows at query time (real-time aggregation).
CALL refresh_continuous_aggregate('usage_rollup_15m', NULL, now() - INTERVAL '15 minutes');

-- name: refresh_aggregates_timescaledb_1h
CALL refresh_continuous_aggregate('usage_rollup_1h', NULL, now() - INTERVAL '1 hour');

-- name: vacuum_analyze
-- After a bulk load (COPY, restore): visibility map and planner statistics, as autovacuum would leave them.
VACUUM (ANALYZE);
