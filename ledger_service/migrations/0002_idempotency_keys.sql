-- Exactly-once in effect: an event is stored only by the transaction that claims its
-- (tenant_id, idempotency_key) here, in the same transaction as the ledger insert.
-- Keys are kept for LEDGER_DEDUP_RETENTION_DAYS after the claim (longer than the late window).
CREATE TABLE usage_idempotency_keys (
    tenant_id       text        NOT NULL,
    idempotency_key text        NOT NULL,
    event_id        uuid        NOT NULL,
    claimed_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, idempotency_key)
);

-- Rows arrive in claim order, so a BRIN index makes retention pruning cheap without slowing ingest.
CREATE INDEX usage_idempotency_keys_claimed_at_brin ON usage_idempotency_keys USING brin (claimed_at);
