-- 15-minute usage buckets per (tenant, source, event_type) as a continuous aggregate. Every IANA time
-- zone in use today is offset from UTC by a multiple of 15 minutes, so a local day is a whole number of
-- buckets. time_bucket's default origin (2000-01-03 00:00 UTC) is on a 15-minute boundary, so these are
-- the same buckets as the plain-PostgreSQL rollup's date_bin.
-- Real-time aggregation is on (materialized_only = false): buckets after the materialization watermark
-- are computed from raw rows at query time. A late event landing in an already materialized bucket is
-- picked up by the next refresh-policy run (schedule from LEDGER_AGGREGATE_REFRESH_MINUTES).
-- WITH NO DATA: materializing at creation cannot run inside the migration's transaction.
CREATE MATERIALIZED VIEW usage_rollup_15m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT tenant_id,
       time_bucket(INTERVAL '15 minutes', occurred_at) AS bucket,
       source,
       event_type,
       sum(units) AS units,
       count(*) AS events
FROM usage_ledger
GROUP BY tenant_id, time_bucket(INTERVAL '15 minutes', occurred_at), source, event_type
WITH NO DATA;

-- RLS does not apply to continuous aggregates: the service reads them only through this view, which
-- filters on the tenant set for the transaction (not a security_barrier view, for the reason given in
-- 0005; see the grants below for why the reader also needs SELECT on the aggregates themselves).
CREATE VIEW usage_rollup_tenant AS
SELECT tenant_id, bucket, source, event_type, units::bigint AS units, events
FROM usage_rollup_15m
WHERE tenant_id = current_setting('ledger.tenant_id', true);

-- Hourly sums on top of the 15-minute aggregate (a hierarchical continuous aggregate, also real-time):
-- a summary reads a local day's whole hours here and only the quarter hours at its edges (zones at
-- :30 / :45) from usage_rollup_15m, four times fewer rows than 15-minute buckets alone.
CREATE MATERIALIZED VIEW usage_rollup_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT tenant_id,
       time_bucket(INTERVAL '1 hour', bucket) AS bucket,
       source,
       event_type,
       sum(units) AS units,
       sum(events) AS events
FROM usage_rollup_15m
GROUP BY tenant_id, time_bucket(INTERVAL '1 hour', bucket), source, event_type
WITH NO DATA;

CREATE VIEW usage_rollup_1h_tenant AS
SELECT tenant_id, bucket, source, event_type, units::bigint AS units, events::bigint AS events
FROM usage_rollup_1h
WHERE tenant_id = current_setting('ledger.tenant_id', true);

GRANT SELECT ON usage_rollup_tenant, usage_rollup_1h_tenant TO ledger_reader;
-- Real-time aggregation calls _timescaledb_functions.cagg_watermark(), which checks SELECT on the
-- continuous aggregate for the *calling* role (GetUserId()), not the owner of a view on top of it: without
-- these grants every read through the tenant views (and analyst_usage_15m, 0007) fails with "permission
-- denied for materialized view". The 1h aggregate's real-time part reads usage_rollup_15m, hence both.
-- So the reader can name the aggregates directly; the service still reads only through the tenant views.
GRANT SELECT ON usage_rollup_15m, usage_rollup_1h TO ledger_reader;
GRANT SELECT ON usage_rollup_15m TO ledger_analyst;

-- The same entry point as on plain PostgreSQL. A continuous aggregate cannot be refreshed inside a
-- transaction or function, so callers CALL refresh_continuous_aggregate() on usage_rollup_15m and then
-- usage_rollup_1h instead (sql/read.sql).
CREATE FUNCTION ledger_refresh_aggregates(from_ts timestamptz, to_ts timestamptz) RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'on TimescaleDB CALL refresh_continuous_aggregate() on usage_rollup_15m, then usage_rollup_1h';
END;
$$;

-- (Re)installs the background policies from the service settings at start-up, so changing a setting
-- and restarting is all it takes. Serialised on an advisory lock: replicas start together.
--   refresh: [now - refresh_window, now - 15 min] every refresh_every; refresh_window covers the whole
--            late-event window so every accepted late event is materialized.
--   compression / retention of raw chunks: NULL turns the policy off. Retention must be older than the
--            refresh window, or a refresh would wipe buckets whose raw rows were dropped.
CREATE FUNCTION ledger_apply_policies(
    refresh_window interval, refresh_every interval, compress_after interval, drop_after interval
) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('usage_ledger_policies'));
    IF drop_after IS NOT NULL AND drop_after <= refresh_window THEN
        RAISE EXCEPTION 'raw retention (%) must be longer than the aggregate refresh window (%)',
            drop_after, refresh_window;
    END IF;
    PERFORM remove_continuous_aggregate_policy('usage_rollup_15m', if_exists => true);
    PERFORM add_continuous_aggregate_policy('usage_rollup_15m',
        start_offset => refresh_window,
        end_offset => INTERVAL '15 minutes',
        schedule_interval => refresh_every);
    -- The hourly aggregate is refreshed from the 15-minute one, over the same window.
    PERFORM remove_continuous_aggregate_policy('usage_rollup_1h', if_exists => true);
    PERFORM add_continuous_aggregate_policy('usage_rollup_1h',
        start_offset => refresh_window,
        end_offset => INTERVAL '1 hour',
        schedule_interval => refresh_every);
    PERFORM remove_compression_policy('usage_ledger', if_exists => true);
    IF compress_after IS NOT NULL THEN
        PERFORM add_compression_policy('usage_ledger', compress_after => compress_after);
    END IF;
    PERFORM remove_retention_policy('usage_ledger', if_exists => true);
    IF drop_after IS NOT NULL THEN
        PERFORM add_retention_policy('usage_ledger', drop_after => drop_after);
    END IF;
    RETURN format('refresh %s every %s; compress after %s; drop after %s',
                  refresh_window, refresh_every, coalesce(compress_after::text, 'never'),
                  coalesce(drop_after::text, 'never'));
END;
$$;
