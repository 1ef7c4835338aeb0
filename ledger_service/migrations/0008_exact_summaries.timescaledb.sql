-- Exact summaries on TimescaleDB the moment an ingest is acknowledged (issue 15).
--
-- Continuous aggregates are eventually consistent: a row written into a bucket that was already
-- materialized is missing from the aggregate until a refresh covers that bucket again, and real-time
-- aggregation only reads raw rows above the watermark. So reads no longer trust the aggregates on their
-- own. Two small tables say what is trustworthy:
--   ledger_aggregate_state.materialized_until (W, a quarter hour): below W the 15-minute aggregate, and
--       below W's hour the hourly one, hold every row committed before the refresh that set W, except in
--       hours marked below;
--   usage_unmaterialized: (tenant, UTC hour) pairs into which rows were written after the refresh that
--       covered that hour had started. The ingest statement marks them in its own transaction.
-- Every read (summary, page, analyst views) = aggregates for unmarked hours below W + raw rows for marked
-- hours and for everything from W on (a quarter hour granularity keeps that raw tail short). A mark is removed only by a refresh whose snapshot saw the rows
-- behind it, so a mark that stays too long costs speed, never correctness.
--
-- Why it is exact (R = one run of ledger_refresh_aggregates_job, I = one ingest transaction):
--  1. R first moves ledger_aggregate_state.horizon to its target T while holding the horizon lock
--     exclusively (ledger_refresh_begin), and commits. Every I takes the same lock shared
--     (ledger_ingest_horizon) and reads the horizon only after it has the lock, and marks every row it
--     inserts below the horizon it read. So an I either committed before R's horizon move (R waited for
--     it) or read T and marked its rows below T. Nothing depends on clocks agreeing.
--  2. R then takes a snapshot S and force-refreshes [W, T) (the hourly aggregate over the whole hours in
--     it) and every marked range below W, 15-minute aggregate first. The refreshes
--     start after S, so they see every row committed before S. Force: the window is recomputed from the
--     raw rows whatever TimescaleDB's invalidation log says, so nothing rests on its threshold bookkeeping
--     (an insert that read the old invalidation threshold just before a refresh moved it is not logged).
--  3. R sets W = T and deletes the marks below T whose last marking transaction is visible in S, in one
--     transaction. A mark re-marked after S carries a newer transaction id and stays.
--  A reader's one snapshot then sees, for an hour below W: unmarked -> every row of that hour committed
--  before R's horizon move, all visible to R's refresh (1, 2); marked -> raw rows. From W on -> raw rows.
--  Readers use one snapshot for W, the marks and the aggregates (REPEATABLE READ, or one statement).

-- One row. horizon >= materialized_until always: marks are made below horizon, trusted below W.
CREATE TABLE ledger_aggregate_state (
    singleton          boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    horizon            timestamptz NOT NULL,
    materialized_until timestamptz NOT NULL,
    CHECK (materialized_until <= horizon)
);
-- Nothing is trusted until the first refresh has run: everything is read raw until then.
INSERT INTO ledger_aggregate_state (horizon, materialized_until) VALUES ('-infinity', '-infinity');

CREATE TABLE usage_unmaterialized (
    tenant_id text        NOT NULL,
    hour      timestamptz NOT NULL,  -- start of the UTC hour
    -- The last transaction that marked this hour: a refresh may remove the mark only if it saw that one.
    marked_by xid8        NOT NULL,
    PRIMARY KEY (tenant_id, hour)
);
CREATE INDEX usage_unmaterialized_hour_idx ON usage_unmaterialized (hour);

-- The reader sees only its own tenant's marks, like every other read (owner's rights, tenant filter).
CREATE VIEW usage_unmaterialized_tenant AS
SELECT tenant_id, hour FROM usage_unmaterialized
WHERE tenant_id = current_setting('ledger.tenant_id', true);

GRANT SELECT ON usage_unmaterialized_tenant, ledger_aggregate_state TO ledger_reader;
GRANT SELECT, INSERT, UPDATE ON usage_unmaterialized TO ledger_writer;
GRANT SELECT ON ledger_aggregate_state TO ledger_writer;

-- Reads take the aggregates below W only, so real-time aggregation is off: the aggregates are plain
-- (materialized) tables to the planner, and the reader needs no privilege on them any more (real-time
-- aggregation checked it for the calling role, migration 0006). Tenant reads go through the tenant views.
ALTER MATERIALIZED VIEW usage_rollup_15m SET (timescaledb.materialized_only = true);
ALTER MATERIALIZED VIEW usage_rollup_1h SET (timescaledb.materialized_only = true);
REVOKE SELECT ON usage_rollup_15m, usage_rollup_1h FROM ledger_reader;
REVOKE SELECT ON usage_rollup_15m FROM ledger_analyst;

-- The tenant views again, without the per-row casts of 0006: a continuous aggregate's sums are numeric, and
-- casting each of a month's ~7,000 hourly rows to bigint cost more than the summary's sums themselves (it
-- casts each sum once). Same names and columns; the types differ from plain PostgreSQL's bigint.
DROP VIEW usage_rollup_tenant, usage_rollup_1h_tenant;
CREATE VIEW usage_rollup_tenant AS
SELECT tenant_id, bucket, source, event_type, units, events
FROM usage_rollup_15m
WHERE tenant_id = current_setting('ledger.tenant_id', true);
CREATE VIEW usage_rollup_1h_tenant AS
SELECT tenant_id, bucket, source, event_type, units, events
FROM usage_rollup_1h
WHERE tenant_id = current_setting('ledger.tenant_id', true);
GRANT SELECT ON usage_rollup_tenant, usage_rollup_1h_tenant TO ledger_reader;

-- A month's summary then touches one or two chunks of each aggregate instead of four (the default chunk is
-- ten times the hypertable's day): fewer index descents and less planning per read. Existing chunks keep
-- their size.
SELECT set_chunk_time_interval('usage_rollup_15m', INTERVAL '90 days');
SELECT set_chunk_time_interval('usage_rollup_1h', INTERVAL '90 days');

-- Summary reads are index-only range scans per tenant, as on plain PostgreSQL's rollup tables.
CREATE INDEX usage_rollup_15m_tenant_read_idx ON usage_rollup_15m (tenant_id, bucket)
    INCLUDE (source, event_type, units, events);
CREATE INDEX usage_rollup_1h_tenant_read_idx ON usage_rollup_1h (tenant_id, bucket)
    INCLUDE (source, event_type, units, events);

-- Called once by every ingest statement that inserts rows: the horizon below which it must mark, read
-- after the shared horizon lock is held (step 1 above). VOLATILE, so the SELECT takes a fresh snapshot
-- after the lock wait. Under REPEATABLE READ or SERIALIZABLE the transaction snapshot may predate a
-- horizon move it waited for, so every row is marked (as TimescaleDB itself logs every invalidation then).
-- Lock keys: any fixed numbers, the same in every process (next to the migration lock, 1970496871).
CREATE FUNCTION ledger_ingest_horizon() RETURNS timestamptz
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(1970496872);
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RETURN 'infinity';
    END IF;
    RETURN (SELECT horizon FROM ledger_aggregate_state);
END;
$$;

-- Refresh step 1: move the horizon to the quarter hour `lag` before now (never back). The exclusive
-- lock waits for the ingest transactions in flight and holds new ones back until the caller commits:
-- a pause of one ingest statement's length. Returns W (where the last refresh ended) and the target.
CREATE FUNCTION ledger_refresh_begin(lag interval)
RETURNS TABLE (previous timestamptz, target timestamptz)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(1970496872);
    RETURN QUERY
    UPDATE ledger_aggregate_state
    SET horizon = greatest(horizon, date_bin('15 minutes', now() - lag, TIMESTAMPTZ '2000-01-01 00:00:00+00'))
    RETURNING materialized_until, horizon;
END;
$$;

-- Refresh step 2's windows: [W, target) (never refreshed since the horizon passed it), and the marked
-- hours below W merged into runs of consecutive hours (the hour of W too: its first quarters are below W). The first window starts no earlier than the oldest
-- raw chunk: with raw retention on, a refresh over dropped chunks would erase their buckets.
CREATE FUNCTION ledger_refresh_ranges(previous timestamptz, target timestamptz)
RETURNS TABLE (range_start timestamptz, range_end timestamptz)
LANGUAGE sql STABLE AS $$
    WITH marked AS (
        SELECT DISTINCT hour FROM usage_unmaterialized WHERE hour < least(previous, target)
    ),
    runs AS (
        SELECT hour, hour - INTERVAL '1 hour' * row_number() OVER (ORDER BY hour) AS run FROM marked
    ),
    oldest AS (
        SELECT min(range_start) AS chunk_start FROM timescaledb_information.chunks
        WHERE hypertable_schema = current_schema() AND hypertable_name = 'usage_ledger'
    )
    SELECT min(hour), max(hour) + INTERVAL '1 hour' FROM runs GROUP BY run
    UNION ALL
    SELECT greatest(previous, oldest.chunk_start), target FROM oldest
    WHERE greatest(previous, oldest.chunk_start) < target
    ORDER BY 1
$$;

-- Refresh step 3: trust the aggregates up to target, and drop the marks below it that the refresh saw
-- (their last marking transaction is visible in the snapshot taken before step 2). Returns marks removed.
CREATE FUNCTION ledger_refresh_finish(target timestamptz, seen pg_snapshot) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    removed bigint;
BEGIN
    UPDATE ledger_aggregate_state SET materialized_until = greatest(materialized_until, target);
    DELETE FROM usage_unmaterialized WHERE hour < target AND pg_visible_in_snapshot(marked_by, seen);
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END;
$$;

-- Refresh step 2 for one range: recompute it from the raw rows, the 15-minute aggregate first, then the
-- whole hours of the range in the hourly aggregate, which is computed from it (none while the range lies
-- within one hour: that hour is completed by a later run). -infinity: from the beginning of time.
CREATE PROCEDURE ledger_refresh_range(range_start timestamptz, range_end timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    origin     constant timestamptz := '2000-01-01 00:00:00+00';
    hours_from timestamptz := CASE WHEN range_start > '-infinity' THEN date_bin('1 hour', range_start, origin) END;
    hours_to   timestamptz := date_bin('1 hour', range_end, origin);
BEGIN
    CALL refresh_continuous_aggregate('usage_rollup_15m', nullif(range_start, '-infinity'), range_end, force => true);
    IF hours_from IS NULL OR hours_from < hours_to THEN
        CALL refresh_continuous_aggregate('usage_rollup_1h', hours_from, hours_to, force => true);
    END IF;
END;
$$;

-- The refresh policy: a TimescaleDB job (ledger_apply_policies schedules it), also callable by hand with
-- CALL ledger_refresh_aggregates_job(0, NULL). The TimescaleDB refresh policies are not used: they would
-- materialize without moving the horizon first. One run at a time (session lock, released when the
-- session ends should a run fail). It must be called outside a transaction block: it commits.
CREATE PROCEDURE ledger_refresh_aggregates_job(job_id integer, config jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    -- A few minutes of slack for events that arrive just after their quarter hour ended.
    lag      interval := coalesce((config ->> 'lag')::interval, INTERVAL '5 minutes');
    previous timestamptz;
    target   timestamptz;
    seen     pg_snapshot;
    starts   timestamptz[];
    ends     timestamptz[];
BEGIN
    PERFORM pg_advisory_lock(1970496873);
    SELECT b.previous, b.target INTO previous, target FROM ledger_refresh_begin(lag) AS b;
    COMMIT;
    seen := pg_current_snapshot();
    SELECT coalesce(array_agg(r.range_start), '{}'), coalesce(array_agg(r.range_end), '{}') INTO starts, ends
    FROM ledger_refresh_ranges(previous, target) AS r;
    COMMIT;
    FOR i IN 1 .. cardinality(starts) LOOP
        CALL ledger_refresh_range(starts[i], ends[i]);
    END LOOP;
    PERFORM ledger_refresh_finish(target, seen);
    COMMIT;
    PERFORM pg_advisory_unlock(1970496873);
END;
$$;

-- After rows were loaded around ingest (COPY, a restore): nothing below W is trusted any more, and one
-- refresh recomputes everything from the raw rows. Reads stay exact meanwhile (they go raw).
CREATE PROCEDURE ledger_rebuild_aggregates()
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_lock(1970496873);
    UPDATE ledger_aggregate_state SET materialized_until = '-infinity';
    COMMIT;
    PERFORM pg_advisory_unlock(1970496873);
    CALL ledger_refresh_aggregates_job(0, NULL);
END;
$$;

-- Only the owner (the service's login, which the job runs as) refreshes; ingest's role marks.
REVOKE EXECUTE ON FUNCTION ledger_ingest_horizon(), ledger_refresh_begin(interval),
    ledger_refresh_ranges(timestamptz, timestamptz), ledger_refresh_finish(timestamptz, pg_snapshot) FROM PUBLIC;
REVOKE EXECUTE ON PROCEDURE ledger_refresh_range(timestamptz, timestamptz), ledger_refresh_aggregates_job(integer, jsonb),
    ledger_rebuild_aggregates() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_ingest_horizon() TO ledger_writer;

-- (Re)installs the background work from the service settings at start-up (same signature as 0006):
-- the refresh job above instead of TimescaleDB's refresh policies, compression and retention as before.
-- refresh_window is the late window + 1 day: raw rows must outlive it, as before.
CREATE OR REPLACE FUNCTION ledger_apply_policies(
    refresh_window interval, refresh_every interval, compress_after interval, drop_after interval
) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    job integer;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('usage_ledger_policies'));
    IF drop_after IS NOT NULL AND drop_after <= refresh_window THEN
        RAISE EXCEPTION 'raw retention (%) must be longer than the late window + 1 day (%)',
            drop_after, refresh_window;
    END IF;
    PERFORM remove_continuous_aggregate_policy('usage_rollup_15m', if_exists => true);
    PERFORM remove_continuous_aggregate_policy('usage_rollup_1h', if_exists => true);
    SELECT j.job_id INTO job FROM timescaledb_information.jobs j
    WHERE j.proc_schema = current_schema() AND j.proc_name = 'ledger_refresh_aggregates_job';
    IF job IS NULL THEN
        PERFORM add_job('ledger_refresh_aggregates_job', refresh_every);
    ELSE
        PERFORM alter_job(job, schedule_interval => refresh_every);
    END IF;
    PERFORM remove_compression_policy('usage_ledger', if_exists => true);
    IF compress_after IS NOT NULL THEN
        PERFORM add_compression_policy('usage_ledger', compress_after => compress_after);
    END IF;
    PERFORM remove_retention_policy('usage_ledger', if_exists => true);
    IF drop_after IS NOT NULL THEN
        PERFORM add_retention_policy('usage_ledger', drop_after => drop_after);
    END IF;
    RETURN format('refresh every %s; compress after %s; drop after %s',
                  refresh_every, coalesce(compress_after::text, 'never'), coalesce(drop_after::text, 'never'));
END;
$$;

-- The analyst view, exact like every other read: materialized 15-minute buckets of unmarked hours below
-- W, and buckets computed from raw rows for marked hours and from W on. One statement, one snapshot.
CREATE OR REPLACE VIEW analyst_usage_15m AS
WITH state AS (SELECT materialized_until AS w FROM ledger_aggregate_state),
exact AS (
    SELECT r.tenant_id, r.bucket, r.source, r.event_type, r.units::bigint AS units, r.events
    FROM usage_rollup_15m r, state
    WHERE r.bucket < state.w
      AND NOT EXISTS (
          SELECT 1 FROM usage_unmaterialized u
          WHERE u.tenant_id = r.tenant_id AND u.hour = time_bucket(INTERVAL '1 hour', r.bucket)
      )
    UNION ALL
    SELECT l.tenant_id, time_bucket(INTERVAL '15 minutes', l.occurred_at), l.source, l.event_type,
           sum(l.units)::bigint, count(*)
    FROM usage_ledger l, state
    WHERE l.occurred_at >= state.w
    GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT l.tenant_id, time_bucket(INTERVAL '15 minutes', l.occurred_at), l.source, l.event_type,
           sum(l.units)::bigint, count(*)
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
