-- A third level of continuous aggregate, 6-hour buckets (UTC 00:00, 06:00, 12:00, 18:00), computed from the
-- hourly one (issue 15: summary p95 at 10M rows). A month's summary read ~7,000 hourly rows per tenant;
-- a local day's whole 6-hour buckets now answer for 4 (UTC) or 2-3 (other offsets) of its ~24 hours with one
-- row each, so a UTC month is ~1,200 rows. storage/summary_ranges.py reads a 6-hour bucket only when all six
-- of its hours would have been read from the hourly level (below W's hour, none marked) and no local midnight
-- cuts it. Its sums are bigint from the start (the other two levels hold numeric sums; see usage_summary).

-- The refresh job's lock (0008), held until this migration commits: a run in progress finishes first, and
-- the next one starts after the reset of W at the end, so no run that began before it can set W again.
SELECT pg_advisory_xact_lock(1970496873);

CREATE MATERIALIZED VIEW usage_rollup_6h
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT tenant_id,
       time_bucket(INTERVAL '6 hours', bucket) AS bucket,
       source,
       event_type,
       sum(units)::bigint AS units,
       sum(events)::bigint AS events,
       sum(entries)::bigint AS entries
FROM usage_rollup_1h
GROUP BY tenant_id, time_bucket(INTERVAL '6 hours', bucket), source, event_type
WITH NO DATA;

SELECT set_chunk_time_interval('usage_rollup_6h', INTERVAL '90 days');
CREATE INDEX usage_rollup_6h_tenant_read_idx ON usage_rollup_6h (tenant_id, bucket)
    INCLUDE (source, event_type, units, events, entries);

CREATE VIEW usage_rollup_6h_tenant AS
SELECT tenant_id, bucket, source, event_type, units, events, entries
FROM usage_rollup_6h
WHERE tenant_id = (SELECT ledger_read_tenant());
GRANT SELECT ON usage_rollup_6h_tenant TO ledger_reader;

-- Refresh step 2 for one range (migration 0008) with the third level: after the hourly aggregate, the 6-hour
-- buckets the range touches, the last one included although the range may end inside it. Why that is exact:
-- a marked hour's bucket must be recomputed in the run that removes the mark, wherever in the bucket the
-- hour lies. A bucket recomputed while some of its hours are not yet final in the hourly level (the bucket
-- of W) is never read: reads take a bucket only when it ends at or below W's hour, and the run that moves W
-- past its end refreshes it again, as the range [old W, new W) starts inside or before it.
-- While nothing is trusted (W = -infinity: the first run after this migration or a rebuild) the 6-hour level
-- is recomputed from the beginning of time, not from the range's start: ranges start no earlier than the
-- oldest raw chunk (0008), and with raw retention on the hourly level keeps the hours of dropped chunks, which
-- the new level must sum too.
CREATE OR REPLACE PROCEDURE ledger_refresh_range(range_start timestamptz, range_end timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    origin     constant timestamptz := '2000-01-01 00:00:00+00';
    untrusted  constant boolean := (SELECT materialized_until = '-infinity' FROM ledger_aggregate_state);
    hours_from timestamptz := CASE WHEN range_start > '-infinity' THEN date_bin('1 hour', range_start, origin) END;
    hours_to   timestamptz := date_bin('1 hour', range_end, origin);
    six_from   timestamptz := CASE WHEN range_start > '-infinity' AND NOT untrusted
                                   THEN date_bin('6 hours', range_start, origin) END;
    six_to     timestamptz := date_bin('6 hours', range_end - INTERVAL '1 microsecond', origin) + INTERVAL '6 hours';
BEGIN
    CALL refresh_continuous_aggregate('usage_rollup_15m', nullif(range_start, '-infinity'), range_end, force => true);
    IF hours_from IS NULL OR hours_from < hours_to THEN
        CALL refresh_continuous_aggregate('usage_rollup_1h', hours_from, hours_to, force => true);
    END IF;
    CALL refresh_continuous_aggregate('usage_rollup_6h', six_from, six_to, force => true);
END;
$$;

-- Nothing in the new aggregate is trusted yet: reads go raw (exact, slower) until the refresh job's next
-- run recomputes the 15-minute and hourly levels from the oldest raw chunk on, as after migration 0010, and
-- the 6-hour level over all of history.
UPDATE ledger_aggregate_state SET materialized_until = '-infinity';
