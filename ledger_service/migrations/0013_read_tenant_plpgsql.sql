-- ledger_read_tenant() (migration 0009) again, same contract, in PL/pgSQL. Every tenant view and row-level
-- security policy evaluates it once per statement and per reference: a summary's query four times. A SQL
-- function that cannot be inlined (owner's rights, a fixed search_path) plans its body again at each of
-- those call sites, ~0.08 ms each; PL/pgSQL keeps its plans for the session, ~0.01 ms a call (measured on
-- TimescaleDB 2.28.3 / PostgreSQL 15: a summary statement 0.3 ms faster). Owner's rights and the fixed
-- search_path, temporary schema last, as before; the hashes of the two proofs are compared, not the proofs.
CREATE OR REPLACE FUNCTION ledger_read_tenant() RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL RESTRICTED AS $$
DECLARE
    tenant constant text := current_setting('ledger.tenant_id', true);
    proof  constant text := current_setting('ledger.tenant_proof', true);
BEGIN
    IF sha256(convert_to(proof, 'UTF8')) = sha256(convert_to(ledger_tenant_proof(tenant), 'UTF8')) THEN
        RETURN tenant;
    END IF;
    RETURN NULL;  -- no proof, or one made for another tenant, backend or transaction: nothing is visible
END;
$$;

-- CREATE OR REPLACE drops the function's SET clauses: fix the search_path again (0009).
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION ledger_read_tenant() SET search_path = %I, pg_temp', current_schema());
END;
$$;
