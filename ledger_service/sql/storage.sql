-- name: timescaledb_status
-- Readable by any login: reading shared_preload_libraries needs pg_read_all_settings (superusers have it),
-- so for a login without it `preloaded` is NULL (unknown) and only an installed extension counts. CASE
-- evaluates its branch only when the test holds, so current_setting() is never called without the right.
SELECT
    EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') AS installed,
    EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') AS available,
    CASE WHEN pg_has_role('pg_read_all_settings', 'USAGE')
         THEN current_setting('shared_preload_libraries') LIKE '%timescaledb%'
    END AS preloaded;

-- name: ensure_partition
SELECT ledger_ensure_partition($1);

-- name: prune_idempotency_keys
-- Bounded batches keep each delete short; the caller loops until fewer than $2 rows go. Claims marked
-- `keep` stay (migration 0010): a resend of their event could not be refused by the late window.
DELETE FROM usage_idempotency_keys
WHERE ctid IN (
    SELECT ctid FROM usage_idempotency_keys
    WHERE claimed_at < now() - make_interval(days => $1) AND NOT keep
    LIMIT $2
);
