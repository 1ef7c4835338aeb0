-- Tenant isolation, second layer, on plain PostgreSQL: row-level security, FORCEd so it binds the table
-- owner too. The service reads as ledger_reader with the tenant of the verified token in the
-- transaction-local setting ledger.tenant_id; with the setting unset a reader sees nothing.
ALTER TABLE usage_ledger ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_ledger FORCE ROW LEVEL SECURITY;

CREATE POLICY usage_ledger_tenant_read ON usage_ledger FOR SELECT TO ledger_reader
    USING (tenant_id = current_setting('ledger.tenant_id', true));
-- Ingest inserts rows for many tenants in one statement (INSERT ... RETURNING needs SELECT too).
-- No UPDATE or DELETE policy: the ledger is append-only.
CREATE POLICY usage_ledger_writer_select ON usage_ledger FOR SELECT TO ledger_writer USING (true);
CREATE POLICY usage_ledger_writer_insert ON usage_ledger FOR INSERT TO ledger_writer WITH CHECK (true);

-- The read queries name this view in both storage variants. Here it runs with the caller's rights
-- (security_invoker), so the policies above apply; the tenant filter in it is a third, redundant check.
CREATE VIEW usage_ledger_tenant WITH (security_invoker = true) AS
SELECT id, tenant_id, source, event_type, units, metadata, occurred_at, created_at, trace_id, span_id
FROM usage_ledger
WHERE tenant_id = current_setting('ledger.tenant_id', true);

-- Privileges on the partitioned parent only: partitions are never granted, so a reader cannot
-- side-step the parent's policies by naming a partition.
GRANT SELECT ON usage_ledger, usage_ledger_tenant TO ledger_reader;
GRANT SELECT, INSERT ON usage_ledger TO ledger_writer;
GRANT SELECT, INSERT, DELETE ON usage_idempotency_keys TO ledger_writer;
