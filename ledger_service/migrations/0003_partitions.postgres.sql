-- Creates the monthly (UTC) partition holding `at` if it does not exist yet. Concurrent callers
-- serialise on an advisory lock so two ingest requests never race to create the same partition.
CREATE FUNCTION ledger_ensure_partition(ts timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    month_start timestamp := date_trunc('month', ts AT TIME ZONE 'UTC');
    part_name   text := 'usage_ledger_p' || to_char(month_start, 'YYYY_MM');
BEGIN
    IF to_regclass(part_name) IS NULL THEN
        PERFORM pg_advisory_xact_lock(hashtext('usage_ledger_partitions'));
        IF to_regclass(part_name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF usage_ledger FOR VALUES FROM (%L) TO (%L)',
                part_name,
                month_start AT TIME ZONE 'UTC',
                (month_start + INTERVAL '1 month') AT TIME ZONE 'UTC'
            );
        END IF;
    END IF;
    RETURN part_name;
END;
$$;
