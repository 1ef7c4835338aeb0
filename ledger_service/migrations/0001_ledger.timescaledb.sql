-- The global, append-only usage ledger as a TimescaleDB hypertable (1-day chunks on occurred_at).
-- Same columns and index as the plain PostgreSQL variant, so every query is shared.
CREATE EXTENSION IF NOT EXISTS timescaledb;

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
);

-- create_default_indexes => false: the default (occurred_at DESC) index would only slow ingest;
-- every read filters by tenant first.
SELECT create_hypertable(
    'usage_ledger',
    by_range('occurred_at', INTERVAL '1 day'),
    create_default_indexes => false
);

CREATE INDEX usage_ledger_tenant_time_idx ON usage_ledger (tenant_id, occurred_at DESC, id DESC);
