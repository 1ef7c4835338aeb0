-- Corrections, conflicts and backfill (issue 13) on TimescaleDB: the twin of 0010_ledger_entries.postgres.sql
-- (read its header for the columns). Keep the two in step.
ALTER TABLE usage_ledger
    ADD COLUMN events smallint NOT NULL DEFAULT 1,
    ADD COLUMN corrects uuid,
    ADD COLUMN backfilled boolean NOT NULL DEFAULT false;
ALTER TABLE usage_ledger DROP CONSTRAINT usage_ledger_units_check;
ALTER TABLE usage_ledger ADD CONSTRAINT usage_ledger_entry_check CHECK (
    CASE WHEN corrects IS NULL THEN units >= 0 AND events = 1 ELSE events IN (-1, 0) END
);

CREATE OR REPLACE VIEW usage_ledger_tenant AS
SELECT id, tenant_id, source, event_type, units, metadata, occurred_at, created_at, trace_id, span_id,
       idempotency_key, events, corrects, backfilled
FROM usage_ledger
WHERE tenant_id = (SELECT ledger_read_tenant());

-- A continuous aggregate's query cannot be changed: the two aggregates are made again, summing `events`
-- (net events) and counting rows (`entries`), with the views on them. Until the refresh job has run once,
-- reads take every hour from raw rows (W = -infinity below), exact and slower; the job's first run then
-- recomputes everything from the oldest raw chunk on (migration 0008, ledger_refresh_ranges).
DROP MATERIALIZED VIEW usage_rollup_1h CASCADE;
DROP MATERIALIZED VIEW usage_rollup_15m CASCADE;

CREATE MATERIALIZED VIEW usage_rollup_15m
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT tenant_id,
       time_bucket(INTERVAL '15 minutes', occurred_at) AS bucket,
       source,
       event_type,
       sum(units) AS units,
       sum(events) AS events,
       count(*) AS entries
FROM usage_ledger
GROUP BY tenant_id, time_bucket(INTERVAL '15 minutes', occurred_at), source, event_type
WITH NO DATA;

CREATE MATERIALIZED VIEW usage_rollup_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT tenant_id,
       time_bucket(INTERVAL '1 hour', bucket) AS bucket,
       source,
       event_type,
       sum(units) AS units,
       sum(events) AS events,
       sum(entries) AS entries
FROM usage_rollup_15m
GROUP BY tenant_id, time_bucket(INTERVAL '1 hour', bucket), source, event_type
WITH NO DATA;

SELECT set_chunk_time_interval('usage_rollup_15m', INTERVAL '90 days');
SELECT set_chunk_time_interval('usage_rollup_1h', INTERVAL '90 days');
CREATE INDEX usage_rollup_15m_tenant_read_idx ON usage_rollup_15m (tenant_id, bucket)
    INCLUDE (source, event_type, units, events, entries);
CREATE INDEX usage_rollup_1h_tenant_read_idx ON usage_rollup_1h (tenant_id, bucket)
    INCLUDE (source, event_type, units, events, entries);

CREATE VIEW usage_rollup_tenant AS
SELECT tenant_id, bucket, source, event_type, units, events, entries
FROM usage_rollup_15m
WHERE tenant_id = (SELECT ledger_read_tenant());
CREATE VIEW usage_rollup_1h_tenant AS
SELECT tenant_id, bucket, source, event_type, units, events, entries
FROM usage_rollup_1h
WHERE tenant_id = (SELECT ledger_read_tenant());
GRANT SELECT ON usage_rollup_tenant, usage_rollup_1h_tenant TO ledger_reader;

-- Nothing in the new aggregates is trusted yet.
UPDATE ledger_aggregate_state SET materialized_until = '-infinity';

-- The analyst views of 0007/0008 again (dropped with the aggregates), net events from raw rows too.
CREATE VIEW analyst_usage_15m AS
WITH state AS (SELECT materialized_until AS w FROM ledger_aggregate_state),
exact AS (
    SELECT r.tenant_id, r.bucket, r.source, r.event_type, r.units::bigint AS units, r.events::bigint AS events
    FROM usage_rollup_15m r, state
    WHERE r.bucket < state.w
      AND NOT EXISTS (
          SELECT 1 FROM usage_unmaterialized u
          WHERE u.tenant_id = r.tenant_id AND u.hour = time_bucket(INTERVAL '1 hour', r.bucket)
      )
    UNION ALL
    SELECT l.tenant_id, time_bucket(INTERVAL '15 minutes', l.occurred_at), l.source, l.event_type,
           sum(l.units)::bigint, sum(l.events)::bigint
    FROM usage_ledger l, state
    WHERE l.occurred_at >= state.w
    GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT l.tenant_id, time_bucket(INTERVAL '15 minutes', l.occurred_at), l.source, l.event_type,
           sum(l.units)::bigint, sum(l.events)::bigint
    FROM usage_unmaterialized u
    JOIN usage_ledger l ON l.tenant_id = u.tenant_id
                       AND l.occurred_at >= u.hour AND l.occurred_at < u.hour + INTERVAL '1 hour'
    CROSS JOIN state
    WHERE u.hour < state.w AND l.occurred_at < state.w  -- W's own hour: the part from W on is above
    GROUP BY 1, 2, 3, 4
)
SELECT e.tenant_id, e.bucket, e.source, e.event_type, t.unit, e.units, e.events
FROM exact e
LEFT JOIN usage_event_types t ON t.source = e.source AND t.event_type = e.event_type;

CREATE VIEW analyst_usage_daily_utc AS
SELECT tenant_id, (bucket AT TIME ZONE 'UTC')::date AS day, source, event_type, unit,
       sum(units)::bigint AS units, sum(events)::bigint AS events
FROM analyst_usage_15m
GROUP BY tenant_id, (bucket AT TIME ZONE 'UTC')::date, source, event_type, unit;

GRANT SELECT ON analyst_usage_15m, analyst_usage_daily_utc TO ledger_analyst;

-- Claims: see the plain-PostgreSQL twin.
ALTER TABLE usage_idempotency_keys
    ADD COLUMN occurred_at timestamptz,
    ADD COLUMN time_assigned boolean NOT NULL DEFAULT false,
    ADD COLUMN keep boolean NOT NULL DEFAULT false;
UPDATE usage_idempotency_keys k
SET occurred_at = l.occurred_at,
    keep = l.source = 'twilio' AND l.event_type IN ('sms_inbound', 'mms', 'call_in', 'call_minutes', 'ivr')
FROM usage_ledger l
WHERE l.tenant_id = k.tenant_id AND l.id = k.event_id AND l.idempotency_key = k.idempotency_key;
