-- TimescaleDB creates chunks on insert by itself; this keeps the function the service calls identical
-- across storage variants (it names the chunk's hypertable instead of a partition).
CREATE FUNCTION ledger_ensure_partition(ts timestamptz) RETURNS text
LANGUAGE sql AS $$ SELECT 'usage_ledger'::text $$;
