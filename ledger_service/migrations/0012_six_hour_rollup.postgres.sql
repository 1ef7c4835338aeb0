-- The twin of 0012_six_hour_rollup.timescaledb.sql, so that both variants offer the same relations to the
-- summary query. Here the 6-hour level is computed from the hourly rollup when read: plain PostgreSQL's
-- summaries read the hourly rows (storage/summary_ranges.py plans no 6-hour ranges on this variant), so the
-- ingest statement keeps maintaining two rollups, not three. Correct if read all the same (a test reads it).
-- Both views run with the reader's rights, so the rollup's row-level security applies (migration 0009).
CREATE VIEW usage_rollup_6h WITH (security_invoker = true) AS
SELECT tenant_id,
       date_bin(INTERVAL '6 hours', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
       source,
       event_type,
       sum(units)::bigint AS units,
       sum(events)::bigint AS events,
       sum(entries)::bigint AS entries
FROM usage_rollup_1h
GROUP BY tenant_id, date_bin(INTERVAL '6 hours', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00'), source, event_type;

CREATE VIEW usage_rollup_6h_tenant WITH (security_invoker = true) AS
SELECT tenant_id, bucket, source, event_type, units, events, entries
FROM usage_rollup_6h
WHERE tenant_id = (SELECT ledger_read_tenant());
GRANT SELECT ON usage_rollup_6h, usage_rollup_6h_tenant TO ledger_reader;
