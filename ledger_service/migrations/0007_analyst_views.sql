-- Analysts: SQL views over the 15-minute aggregates (the rollup table on plain PostgreSQL, the
-- continuous aggregate on TimescaleDB; both are named usage_rollup_15m), readable by ledger_analyst.
-- The role gets nothing on usage_ledger: no raw rows, no metadata. Views run with their owner's rights,
-- so analysts see every tenant's totals, as an internal analyst should. Documented in replit.md.

-- The unit of each event type, synced from the registry (otel/event_types.py) when the service starts,
-- so an analyst never has to guess which sums may be added together (never unlike units).
CREATE TABLE usage_event_types (
    source      text NOT NULL,
    event_type  text NOT NULL,
    unit        text NOT NULL,
    description text NOT NULL DEFAULT '',
    PRIMARY KEY (source, event_type)
);

CREATE VIEW analyst_usage_15m AS
SELECT r.tenant_id, r.bucket, r.source, r.event_type, t.unit, r.units::bigint AS units, r.events
FROM usage_rollup_15m r
LEFT JOIN usage_event_types t ON t.source = r.source AND t.event_type = r.event_type;

-- Days in UTC. For another zone, group analyst_usage_15m by (bucket AT TIME ZONE 'Zone')::date: every
-- zone's day is a whole number of 15-minute buckets.
CREATE VIEW analyst_usage_daily_utc AS
SELECT tenant_id, (bucket AT TIME ZONE 'UTC')::date AS day, source, event_type, unit,
       sum(units)::bigint AS units, sum(events)::bigint AS events
FROM analyst_usage_15m
GROUP BY tenant_id, (bucket AT TIME ZONE 'UTC')::date, source, event_type, unit;

GRANT SELECT ON usage_event_types, analyst_usage_15m, analyst_usage_daily_utc TO ledger_analyst;
