-- Corrections and conflicts (issue 13), the same on both storage variants (plain tables).

-- One row per correction ever applied: the audit record of its ledger row (usage_ledger.corrects), and its
-- exactly-once claim: (tenant_id, correction_key) is the correction's own idempotency key. Append-only
-- like the ledger: the service never updates or deletes a row here.
CREATE TABLE usage_corrections (
    tenant_id       text        NOT NULL,
    correction_key  text        NOT NULL,
    row_id          uuid        NOT NULL UNIQUE,  -- the correction's row in usage_ledger
    corrects        uuid        NOT NULL,         -- the corrected event's row
    idempotency_key text        NOT NULL,         -- the corrected event's key
    occurred_at     timestamptz NOT NULL,         -- the corrected event's time, and so the correction row's
    source          text        NOT NULL,
    event_type      text        NOT NULL,
    action          text        NOT NULL CHECK (action IN ('void', 'amend')),
    units           bigint      NOT NULL CHECK (units >= 0),  -- the event's units once corrected (0: void)
    delta           bigint      NOT NULL,         -- the correction row's units: units once corrected - before
    reason          text        NOT NULL,
    requested_by    text        NOT NULL,         -- which admin key: a fingerprint, never the key
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, correction_key)
);
-- An event's corrections (its history, under the per-event lock; the events listing's links).
CREATE INDEX usage_corrections_event_idx ON usage_corrections (tenant_id, corrects);

-- Tenant reads see their own corrections only, as every other tenant read (migration 0005): row-level
-- security, FORCEd, for the reader; the writer's policies cover the service's corrections.
ALTER TABLE usage_corrections ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_corrections FORCE ROW LEVEL SECURITY;
CREATE POLICY usage_corrections_tenant_read ON usage_corrections FOR SELECT TO ledger_reader
    USING (tenant_id = (SELECT ledger_read_tenant()));
-- No UPDATE or DELETE policy: corrections are append-only.
CREATE POLICY usage_corrections_writer_select ON usage_corrections FOR SELECT TO ledger_writer USING (true);
CREATE POLICY usage_corrections_writer_insert ON usage_corrections FOR INSERT TO ledger_writer WITH CHECK (true);

CREATE VIEW usage_corrections_tenant WITH (security_invoker = true) AS
SELECT tenant_id, correction_key, row_id, corrects, idempotency_key, occurred_at, source, event_type, action,
       units, delta, reason, created_at
FROM usage_corrections
WHERE tenant_id = (SELECT ledger_read_tenant());

GRANT SELECT ON usage_corrections, usage_corrections_tenant TO ledger_reader;
GRANT SELECT, INSERT ON usage_corrections TO ledger_writer;

-- Events sent with a stored key and other content (DESIGN.md invariant 8): reported to the sender, changed
-- nothing, and kept here for inspection (GET /api/admin/conflicts, `usage-ledger conflicts`). One row per
-- distinct content sent with a key; a resend of the same conflicting content counts `times` up.
-- Not readable by tenants: no grant to the reader.
CREATE TABLE usage_conflicts (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       text        NOT NULL,
    idempotency_key text        NOT NULL,
    event_id        uuid,                  -- the stored event that holds the key
    fields          text[]      NOT NULL,  -- what differs, by wire name (units, eventType, occurredAt, ...)
    message         text        NOT NULL,
    sent            jsonb       NOT NULL,  -- what was sent: source, eventType, units, occurredAt, metadata
    digest          text        NOT NULL,  -- md5 of `sent` (jsonb text is canonical)
    via             text        NOT NULL,  -- api, otlp, webhook, import
    first_seen      timestamptz NOT NULL DEFAULT now(),
    last_seen       timestamptz NOT NULL DEFAULT now(),
    times           bigint      NOT NULL DEFAULT 1,
    UNIQUE (tenant_id, idempotency_key, digest)
);

GRANT SELECT, INSERT, UPDATE ON usage_conflicts TO ledger_writer;
