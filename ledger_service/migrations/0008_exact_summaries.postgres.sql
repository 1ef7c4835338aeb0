-- The twin of 0008_exact_summaries.timescaledb.sql (issue 15), so that the summary query is the same on
-- both storage variants. Here the rollups are maintained by the ingest statement in its own transaction
-- (0006), exact at commit: everything counts as materialized (materialized_until = infinity) and no hour
-- is ever marked, so the summary never reads raw rows.

CREATE TABLE ledger_aggregate_state (
    singleton          boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    horizon            timestamptz NOT NULL,
    materialized_until timestamptz NOT NULL,
    CHECK (materialized_until <= horizon)
);
INSERT INTO ledger_aggregate_state (horizon, materialized_until) VALUES ('infinity', 'infinity');

-- Always empty on this variant (see the TimescaleDB twin for what a mark means).
CREATE TABLE usage_unmaterialized (
    tenant_id text        NOT NULL,
    hour      timestamptz NOT NULL,
    marked_by xid8        NOT NULL,
    PRIMARY KEY (tenant_id, hour)
);
CREATE INDEX usage_unmaterialized_hour_idx ON usage_unmaterialized (hour);

CREATE VIEW usage_unmaterialized_tenant AS
SELECT tenant_id, hour FROM usage_unmaterialized
WHERE tenant_id = current_setting('ledger.tenant_id', true);

GRANT SELECT ON usage_unmaterialized_tenant, ledger_aggregate_state TO ledger_reader;
GRANT SELECT, INSERT, UPDATE ON usage_unmaterialized TO ledger_writer;
GRANT SELECT ON ledger_aggregate_state TO ledger_writer;
