-- The global, append-only usage ledger on plain PostgreSQL: native range partitions by month (UTC).
-- Partitions are created ahead of time and on demand by ledger_ensure_partition() (migration 0003).
-- Unique indexes on a partitioned table must contain the partition key, so deduplication lives in
-- usage_idempotency_keys (0002), not here.
CREATE TABLE usage_ledger (
    id              uuid        NOT NULL,
    tenant_id       text        NOT NULL,
    source          text        NOT NULL,
    event_type      text        NOT NULL,
    units           bigint      NOT NULL CHECK (units >= 0),
    metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    occurred_at     timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    idempotency_key text        NOT NULL,
    trace_id        text,
    span_id         text,
    CONSTRAINT usage_ledger_source_check CHECK (source IN ('twilio', 'openai', 'sendgrid', 'system'))
) PARTITION BY RANGE (occurred_at);

-- Serves the tenant's newest-first event pages and time-window scans (backward scans are not needed).
CREATE INDEX usage_ledger_tenant_time_idx ON usage_ledger (tenant_id, occurred_at DESC, id DESC);
