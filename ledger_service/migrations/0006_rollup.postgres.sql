-- Usage rollups per (tenant, source, event_type) on plain PostgreSQL, in two widths:
--   usage_rollup_15m - 15-minute buckets. Every IANA time zone in use today is offset from UTC by a
--                      multiple of 15 minutes (+5:30, +5:45, +12:45 ...), so a local day is always a whole
--                      number of these buckets and daily sums in any zone are exact.
--   usage_rollup_1h  - the same sums per hour: a summary reads a local day's whole hours here and only
--                      the quarter hours at its edges (zones at :30 / :45) from usage_rollup_15m, four
--                      times fewer rows than 15-minute buckets alone.
-- Both are maintained by the ingest statement itself (sql/ingest.sql): only rows that statement actually
-- inserted are added, in the same transaction, so a rolled-back batch adds nothing.
CREATE TABLE usage_rollup_15m (
    tenant_id  text        NOT NULL,
    bucket     timestamptz NOT NULL,
    source     text        NOT NULL,
    event_type text        NOT NULL,
    units      bigint      NOT NULL,
    events     bigint      NOT NULL,
    -- INCLUDE makes summary reads index-only scans (no heap visits for settled pages). The price is that
    -- ingest's increments are never HOT updates; a batch touches one row per (tenant, bucket, type),
    -- far fewer than the rows it inserts.
    PRIMARY KEY (tenant_id, bucket, source, event_type) INCLUDE (units, events)
);

CREATE TABLE usage_rollup_1h (LIKE usage_rollup_15m INCLUDING ALL);

ALTER TABLE usage_rollup_15m ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_rollup_15m FORCE ROW LEVEL SECURITY;
ALTER TABLE usage_rollup_1h ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_rollup_1h FORCE ROW LEVEL SECURITY;
CREATE POLICY usage_rollup_15m_tenant_read ON usage_rollup_15m FOR SELECT TO ledger_reader
    USING (tenant_id = current_setting('ledger.tenant_id', true));
CREATE POLICY usage_rollup_1h_tenant_read ON usage_rollup_1h FOR SELECT TO ledger_reader
    USING (tenant_id = current_setting('ledger.tenant_id', true));
-- Ingest upserts (SELECT + INSERT + UPDATE); ledger_refresh_aggregates() deletes and re-inserts a range.
CREATE POLICY usage_rollup_15m_writer ON usage_rollup_15m FOR ALL TO ledger_writer USING (true) WITH CHECK (true);
CREATE POLICY usage_rollup_1h_writer ON usage_rollup_1h FOR ALL TO ledger_writer USING (true) WITH CHECK (true);

-- The read queries name these views in both storage variants. Here they run with the caller's rights
-- (security_invoker), so the policies above apply; their tenant filter is a redundant third check.
CREATE VIEW usage_rollup_tenant WITH (security_invoker = true) AS
SELECT tenant_id, bucket, source, event_type, units, events
FROM usage_rollup_15m
WHERE tenant_id = current_setting('ledger.tenant_id', true);

CREATE VIEW usage_rollup_1h_tenant WITH (security_invoker = true) AS
SELECT tenant_id, bucket, source, event_type, units, events
FROM usage_rollup_1h
WHERE tenant_id = current_setting('ledger.tenant_id', true);

GRANT SELECT ON usage_rollup_15m, usage_rollup_1h, usage_rollup_tenant, usage_rollup_1h_tenant TO ledger_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON usage_rollup_15m, usage_rollup_1h TO ledger_writer;

-- Recompute both rollups from the raw rows for the hours from the one holding from_ts up to (not
-- including) the one holding to_ts (NULL = unbounded): for rows loaded around the ingest path (COPY,
-- restores) and for repairs. The EXCLUSIVE locks wait for in-flight ingest transactions to commit and
-- hold new ones back, so no increment is lost or counted twice.
CREATE FUNCTION ledger_refresh_aggregates(from_ts timestamptz, to_ts timestamptz) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    lo timestamptz := coalesce(date_bin('1 hour', from_ts, TIMESTAMPTZ '2000-01-01 00:00:00+00'), '-infinity');
    hi timestamptz := coalesce(date_bin('1 hour', to_ts, TIMESTAMPTZ '2000-01-01 00:00:00+00'), 'infinity');
    written bigint;
BEGIN
    LOCK TABLE usage_rollup_15m, usage_rollup_1h IN EXCLUSIVE MODE;
    DELETE FROM usage_rollup_15m WHERE bucket >= lo AND bucket < hi;
    DELETE FROM usage_rollup_1h WHERE bucket >= lo AND bucket < hi;
    INSERT INTO usage_rollup_15m (tenant_id, bucket, source, event_type, units, events)
    SELECT tenant_id, date_bin('15 minutes', occurred_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
           source, event_type, sum(units), count(*)
    FROM usage_ledger
    WHERE occurred_at >= lo AND occurred_at < hi
    GROUP BY 1, 2, 3, 4;
    GET DIAGNOSTICS written = ROW_COUNT;
    INSERT INTO usage_rollup_1h (tenant_id, bucket, source, event_type, units, events)
    SELECT tenant_id, date_bin('1 hour', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
           source, event_type, sum(units), sum(events)
    FROM usage_rollup_15m
    WHERE bucket >= lo AND bucket < hi
    GROUP BY 1, 2, 3, 4;
    RETURN written;
END;
$$;

-- The same entry point as on TimescaleDB, where it installs the refresh/compression/retention policies.
-- Plain PostgreSQL has no background policies: the rollups are kept current by ingest itself.
CREATE FUNCTION ledger_apply_policies(
    refresh_window interval, refresh_every interval, compress_after interval, drop_after interval
) RETURNS text
LANGUAGE sql AS $$ SELECT 'plain PostgreSQL: the rollups are maintained by ingest; no policies'::text $$;
