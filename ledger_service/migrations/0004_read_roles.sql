-- Roles for the read side (issue 5). Roles are cluster-wide while migrations run per database, and many
-- databases (tests, benches, several deployments) can share one cluster: create each role only when it
-- is missing, and treat "someone else just created it" as success.
--   ledger_reader  - the service switches to it (SET LOCAL ROLE) for every tenant read; subject to RLS.
--   ledger_writer  - ingest's policies target it, so FORCE ROW LEVEL SECURITY never blocks ingest.
--   ledger_analyst - read-only access to the aggregate views only (no raw rows, no metadata).
-- All are NOLOGIN: a login role is granted one of them by an administrator.
DO $$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['ledger_reader', 'ledger_writer', 'ledger_analyst'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- another database on this cluster created it at the same moment
            END;
        END IF;
    END LOOP;
    -- The migrating login owns the tables and is the service's login: it must be able to SET ROLE
    -- ledger_reader and be covered by the writer policies. Superusers are members of every role already.
    FOREACH role_name IN ARRAY ARRAY['ledger_reader', 'ledger_writer'] LOOP
        IF NOT pg_has_role(current_user, role_name, 'MEMBER') THEN
            BEGIN
                EXECUTE format('GRANT %I TO %I', role_name, current_user);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        END IF;
    END LOOP;
END;
$$;
