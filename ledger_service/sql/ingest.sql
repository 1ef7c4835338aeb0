-- name: insert_batch
-- One statement, one transaction: claim each (tenant_id, idempotency_key) and insert the row only for
-- keys this statement claimed. A key already claimed (by an earlier batch, or a concurrent one that
-- commits first) is a duplicate and adds nothing; if the insert fails, the claims roll back with it.
-- Rows are claimed in key order so concurrent batches with overlapping keys cannot deadlock.
-- Ids the client did not send are minted here (cheaper than in Python); the CTE is materialised once
-- (it calls a volatile function and is read twice), so claimed.event_id and the row's id agree.
WITH input AS (
    SELECT coalesce(t.id, gen_random_uuid()) AS id, t.tenant_id, t.idempotency_key, t.source, t.event_type,
           t.units, t.metadata, t.occurred_at, t.trace_id, t.span_id
    FROM unnest(
        $1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
        $6::bigint[], $7::jsonb[], $8::timestamptz[], $9::text[], $10::text[]
    ) AS t(id, tenant_id, idempotency_key, source, event_type, units, metadata, occurred_at, trace_id, span_id)
),
claimed AS (
    INSERT INTO usage_idempotency_keys (tenant_id, idempotency_key, event_id)
    SELECT tenant_id, idempotency_key, id FROM input ORDER BY tenant_id, idempotency_key
    ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
    RETURNING event_id
),
inserted AS (
    INSERT INTO usage_ledger
        (id, tenant_id, source, event_type, units, metadata, occurred_at, idempotency_key, trace_id, span_id)
    SELECT i.id, i.tenant_id, i.source, i.event_type, i.units, i.metadata, i.occurred_at,
           i.idempotency_key, i.trace_id, i.span_id
    FROM input i JOIN claimed c ON c.event_id = i.id
    RETURNING id
)
SELECT count(*) FROM inserted;
