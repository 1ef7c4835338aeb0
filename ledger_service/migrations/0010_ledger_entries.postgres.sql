-- Corrections, conflicts and backfill (issue 13) on plain PostgreSQL. Its TimescaleDB twin makes the same
-- change to the hypertable and rebuilds the continuous aggregates; keep the two in step.
--
-- A correction is a new ledger row (append-only, DESIGN.md invariant 6), so every read that sums rows sums
-- the net effect. Three columns say what a row is:
--   events     - what the row adds to the count of billable events: 1 for a usage event, -1 for a void (the
--                event no longer counts), 0 for an amend (only its units change). Sums of `events` are net
--                events; count(*) stays the number of rows (what the events listing shows).
--   corrects   - for a correction, the id of the row it corrects. A correction carries the tenant, type,
--                idempotency key and occurred_at of that row, so it falls in the same bucket and day.
--   backfilled - stored by `usage-ledger import --backfill` (older than the late window).
-- A correction's units are the change it makes: minus the event's units for a void, new - old for an amend.
ALTER TABLE usage_ledger
    ADD COLUMN events smallint NOT NULL DEFAULT 1,
    ADD COLUMN corrects uuid,
    ADD COLUMN backfilled boolean NOT NULL DEFAULT false;
ALTER TABLE usage_ledger DROP CONSTRAINT usage_ledger_units_check;
ALTER TABLE usage_ledger ADD CONSTRAINT usage_ledger_entry_check CHECK (
    CASE WHEN corrects IS NULL THEN units >= 0 AND events = 1 ELSE events IN (-1, 0) END
);

CREATE OR REPLACE VIEW usage_ledger_tenant WITH (security_invoker = true) AS
SELECT id, tenant_id, source, event_type, units, metadata, occurred_at, created_at, trace_id, span_id,
       idempotency_key, events, corrects, backfilled
FROM usage_ledger
WHERE tenant_id = (SELECT ledger_read_tenant());

-- The rollups count rows (`entries`) beside net events: the summary's totalEvents is the number of rows the
-- events listing shows, corrections included. The rollups are not the ledger: updating them is fine. The
-- owner bypasses row-level security while FORCE is off, whatever role memberships say.
ALTER TABLE usage_rollup_15m ADD COLUMN entries bigint NOT NULL DEFAULT 0;
ALTER TABLE usage_rollup_1h ADD COLUMN entries bigint NOT NULL DEFAULT 0;
ALTER TABLE usage_rollup_15m NO FORCE ROW LEVEL SECURITY;
ALTER TABLE usage_rollup_1h NO FORCE ROW LEVEL SECURITY;
UPDATE usage_rollup_15m SET entries = events;
UPDATE usage_rollup_1h SET entries = events;
ALTER TABLE usage_rollup_15m FORCE ROW LEVEL SECURITY;
ALTER TABLE usage_rollup_1h FORCE ROW LEVEL SECURITY;
-- Summary reads stay index-only scans.
ALTER TABLE usage_rollup_15m DROP CONSTRAINT usage_rollup_15m_pkey,
    ADD PRIMARY KEY (tenant_id, bucket, source, event_type) INCLUDE (units, events, entries);
ALTER TABLE usage_rollup_1h DROP CONSTRAINT usage_rollup_1h_pkey,
    ADD PRIMARY KEY (tenant_id, bucket, source, event_type) INCLUDE (units, events, entries);

CREATE OR REPLACE VIEW usage_rollup_tenant WITH (security_invoker = true) AS
SELECT tenant_id, bucket, source, event_type, units, events, entries
FROM usage_rollup_15m
WHERE tenant_id = (SELECT ledger_read_tenant());

CREATE OR REPLACE VIEW usage_rollup_1h_tenant WITH (security_invoker = true) AS
SELECT tenant_id, bucket, source, event_type, units, events, entries
FROM usage_rollup_1h
WHERE tenant_id = (SELECT ledger_read_tenant());

-- As in 0006, with net events and rows.
CREATE OR REPLACE FUNCTION ledger_refresh_aggregates(from_ts timestamptz, to_ts timestamptz) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    lo timestamptz := coalesce(date_bin('1 hour', from_ts, TIMESTAMPTZ '2000-01-01 00:00:00+00'), '-infinity');
    hi timestamptz := coalesce(date_bin('1 hour', to_ts, TIMESTAMPTZ '2000-01-01 00:00:00+00'), 'infinity');
    written bigint;
BEGIN
    LOCK TABLE usage_rollup_15m, usage_rollup_1h IN EXCLUSIVE MODE;
    DELETE FROM usage_rollup_15m WHERE bucket >= lo AND bucket < hi;
    DELETE FROM usage_rollup_1h WHERE bucket >= lo AND bucket < hi;
    INSERT INTO usage_rollup_15m (tenant_id, bucket, source, event_type, units, events, entries)
    SELECT tenant_id, date_bin('15 minutes', occurred_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
           source, event_type, sum(units), sum(events), count(*)
    FROM usage_ledger
    WHERE occurred_at >= lo AND occurred_at < hi
    GROUP BY 1, 2, 3, 4;
    GET DIAGNOSTICS written = ROW_COUNT;
    INSERT INTO usage_rollup_1h (tenant_id, bucket, source, event_type, units, events, entries)
    SELECT tenant_id, date_bin('1 hour', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
           source, event_type, sum(units), sum(events), sum(entries)
    FROM usage_rollup_15m
    WHERE bucket >= lo AND bucket < hi
    GROUP BY 1, 2, 3, 4;
    RETURN written;
END;
$$;

-- Claims learn where their row is and whether they may ever be forgotten:
--   occurred_at   - the row's time: with event_id it finds the row through the ledger's index, to compare a
--                   resend's content with it (a conflict) or to correct it.
--   time_assigned - the sender gave no time and the ledger assigned it: a resend is compared without time.
--   keep          - never pruned. A resend of an event that carries its own time is refused by the late
--                   window once its claim may be pruned (retention > late window); an event whose time the
--                   ledger assigned (Twilio webhooks: no timestamp in the request) or a backfilled one would
--                   be stored again, so their claims are kept for good (one row each).
ALTER TABLE usage_idempotency_keys
    ADD COLUMN occurred_at timestamptz,
    ADD COLUMN time_assigned boolean NOT NULL DEFAULT false,
    ADD COLUMN keep boolean NOT NULL DEFAULT false;
-- Claims made before this migration: the row's time, and the Twilio webhook types kept (whether the ledger
-- assigned their time is not recorded; keeping one too many costs a row, forgetting one a double bill).
ALTER TABLE usage_ledger NO FORCE ROW LEVEL SECURITY;
UPDATE usage_idempotency_keys k
SET occurred_at = l.occurred_at,
    keep = l.source = 'twilio' AND l.event_type IN ('sms_inbound', 'mms', 'call_in', 'call_minutes', 'ivr')
FROM usage_ledger l
WHERE l.tenant_id = k.tenant_id AND l.id = k.event_id AND l.idempotency_key = k.idempotency_key;
ALTER TABLE usage_ledger FORCE ROW LEVEL SECURITY;
