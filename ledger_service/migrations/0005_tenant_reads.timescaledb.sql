-- Tenant isolation, second layer, on TimescaleDB. Row-level security cannot be used here: TimescaleDB
-- refuses RLS on a hypertable with compression ("compression cannot be used on table with row security",
-- timescale/timescaledb#6827), and a hypertable's policies are not copied to its chunks, which inherit its
-- grants (#7830). So the reader gets no privilege on usage_ledger (hence none on any chunk) and reads
-- through this view, which runs with the owner's rights and returns only the rows of the tenant in the
-- transaction-local setting ledger.tenant_id (nothing when it is unset).
-- Not a security_barrier view: a barrier keeps the planner from flattening the view, which turns the
-- events page's ordered index scan + LIMIT into scan-everything-and-sort. A barrier only matters to a
-- role that can run SQL of its own with leaky functions; ledger_reader runs the service's fixed queries.
CREATE VIEW usage_ledger_tenant AS
SELECT id, tenant_id, source, event_type, units, metadata, occurred_at, created_at, trace_id, span_id
FROM usage_ledger
WHERE tenant_id = current_setting('ledger.tenant_id', true);

GRANT SELECT ON usage_ledger_tenant TO ledger_reader;
GRANT SELECT, INSERT ON usage_ledger TO ledger_writer;
GRANT SELECT, INSERT, DELETE ON usage_idempotency_keys TO ledger_writer;

-- Raw chunks are compressed once they are past the late-event window (the policy's age comes from
-- LEDGER_COMPRESS_AFTER_DAYS at start-up, see ledger_apply_policies in 0006). Segmenting by tenant keeps
-- a tenant's rows together, ordered as the events page reads them.
ALTER TABLE usage_ledger SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'tenant_id',
    timescaledb.compress_orderby = 'occurred_at DESC, id DESC'
);
