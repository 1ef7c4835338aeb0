-- This ledger's roles are its own, and the reader cannot choose its tenant (issue 12).
--
-- Roles are cluster-wide, and ledgers of several deployments often share a cluster. The roles used to be
-- the same three for every ledger on it, so any deployment's service login (a member of them) could read
-- every tenant of every other ledger and insert rows into it, and any login holding ledger_reader could
-- pick a tenant by setting ledger.tenant_id itself. Now:
--  1. Each database has roles of its own. The migration runner writes this database's role names wherever
--     a migration names ledger_reader, ledger_writer or ledger_analyst (storage/roles.py), so a database
--     migrated by this version granted to its own roles from the start. A database migrated before has
--     every privilege and policy of the old cluster-wide roles handed to its own roles here, and nothing
--     of the old roles is left in it.
--  2. No CONNECT or TEMPORARY for PUBLIC on this database: its owner (the service's login) connects, and
--     the analyst role's members; nobody else, whatever roles they hold elsewhere on the cluster.
--  3. The tenant of a read is trusted only with a proof that the service's login makes for it, per
--     transaction: an HMAC under a key only that login can read (ledger_read_key). The policies and
--     tenant views call ledger_read_tenant() once per statement; it returns the tenant when the proof
--     holds and NULL (nothing is visible) otherwise. Setting ledger.tenant_id, or anything else, gets a
--     login that merely holds the reader role nothing.

-- 1. The old names are written in two pieces so that the runner, which writes this database's names for
-- the canonical ones, leaves them as they are. Where the two are the same (LEDGER_*_ROLE set to an old
-- name) there is nothing to move.
DO $$
DECLARE
    moves     constant text[] := ARRAY[
        ARRAY['ledger' || '_reader', 'ledger_reader'],
        ARRAY['ledger' || '_writer', 'ledger_writer'],
        ARRAY['ledger' || '_analyst', 'ledger_analyst']
    ];
    this_db   constant oid := (SELECT oid FROM pg_database WHERE datname = current_database());
    move      text[];
    old_role  oid;
    new_role  oid;
    item      record;
    remaining text;
BEGIN
    FOREACH move SLICE 1 IN ARRAY moves LOOP
        old_role := (SELECT oid FROM pg_roles WHERE rolname = move[1]);
        new_role := (SELECT oid FROM pg_roles WHERE rolname = move[2]);
        CONTINUE WHEN old_role IS NULL OR old_role = new_role;
        -- The same policies, for this database's role.
        FOR item IN
            SELECT p.polname, p.polrelid::regclass AS rel,
                   (SELECT string_agg(CASE WHEN r = 0 THEN 'public' ELSE r::regrole::text END, ', ')
                    FROM unnest(array_replace(p.polroles, old_role, new_role)) AS r) AS targets
            FROM pg_policy p
            WHERE old_role = ANY (p.polroles)
        LOOP
            EXECUTE format('ALTER POLICY %I ON %s TO %s', item.polname, item.rel, item.targets);
        END LOOP;
        -- The same privileges: on relations (tables, views, and on TimescaleDB chunks and aggregates'
        -- internals), routines, schemas and this database.
        FOR item IN
            SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE ' ELSE 'TABLE ' END || c.oid::regclass::text AS target,
                   a.privilege_type, a.is_grantable
            FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a WHERE a.grantee = old_role
            UNION ALL
            SELECT 'ROUTINE ' || p.oid::regprocedure::text, a.privilege_type, a.is_grantable
            FROM pg_proc p CROSS JOIN LATERAL aclexplode(p.proacl) a WHERE a.grantee = old_role
            UNION ALL
            SELECT 'SCHEMA ' || quote_ident(n.nspname), a.privilege_type, a.is_grantable
            FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) a WHERE a.grantee = old_role
            UNION ALL
            SELECT 'DATABASE ' || quote_ident(d.datname), a.privilege_type, a.is_grantable
            FROM pg_database d CROSS JOIN LATERAL aclexplode(d.datacl) a WHERE d.oid = this_db AND a.grantee = old_role
        LOOP
            EXECUTE format('GRANT %s ON %s TO %I%s', item.privilege_type, item.target, move[2],
                           CASE WHEN item.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
            EXECUTE format('REVOKE %s ON %s FROM %I CASCADE', item.privilege_type, item.target, move[1]);
        END LOOP;
        -- Anything of the old role still here (an object it owns, a grant made by another role) would keep
        -- this ledger open to the other deployments: refuse, and say what it is.
        SELECT string_agg(pg_describe_object(s.classid, s.objid, s.objsubid), '; ') INTO remaining
        FROM pg_shdepend s
        WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = old_role
          AND (s.dbid = this_db OR (s.classid = 'pg_database'::regclass AND s.objid = this_db));
        IF remaining IS NOT NULL THEN
            RAISE EXCEPTION 'the cluster-wide role % still owns or holds here: %', move[1], remaining
                USING HINT = format('a superuser revokes or reassigns these from %I in this database, then the ledger starts again', move[1]);
        END IF;
    END LOOP;
END;
$$;

-- 2. Only the database's owner may change who connects. Another login (it would have to be a superuser or
-- a member of the owner to run this) is told what to run rather than stopped.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = current_database() AND pg_has_role(datdba, 'MEMBER')) THEN
        RAISE WARNING 'this login does not own database %: PUBLIC keeps CONNECT and TEMPORARY on it', current_database()
            USING HINT = format('its owner runs: REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC; '
                                'GRANT CONNECT ON DATABASE %I TO ledger_analyst;', current_database(), current_database());
        RETURN;
    END IF;
    EXECUTE format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO ledger_analyst', current_database());
END;
$$;

-- 3. The key of the tenant proofs, stored as HMAC's inner and outer pads (RFC 2104: the 64-byte key XOR
-- 0x36.. and XOR 0x5c..). Nobody but the owner (and superusers) may read it: no grant on it, ever. 64
-- random bytes from four version-4 UUIDs (pg_strong_random), 488 bits of them random.
CREATE TABLE ledger_read_key (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    inner_pad bytea   NOT NULL CHECK (length(inner_pad) = 64),
    outer_pad bytea   NOT NULL CHECK (length(outer_pad) = 64)
);

DO $$
DECLARE
    secret constant bytea := decode(replace(gen_random_uuid()::text || gen_random_uuid()::text
                                          || gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex');
    ipad   bytea := secret;
    opad   bytea := secret;
BEGIN
    FOR i IN 0 .. 63 LOOP
        ipad := set_byte(ipad, i, get_byte(secret, i) # 54);
        opad := set_byte(opad, i, get_byte(secret, i) # 92);
    END LOOP;
    INSERT INTO ledger_read_key (inner_pad, outer_pad) VALUES (ipad, opad);
END;
$$;

-- HMAC-SHA256 of this backend, the start of its current transaction and the tenant: a proof that is good
-- in this transaction only (a proof seen somewhere is worth nothing in another session or transaction).
-- Only the owner may call it.
CREATE FUNCTION ledger_tenant_proof(tenant text) RETURNS text
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
    SELECT encode(sha256(k.outer_pad || sha256(k.inner_pad || convert_to(
               concat_ws(':', pg_backend_pid(), extract(epoch FROM now()), tenant), 'UTF8'))), 'hex')
    FROM ledger_read_key AS k
$$;

-- The tenant of this transaction's reads when its proof holds, else NULL. Owner's rights (to read the key),
-- so its search_path is fixed below, temporary schema last: nothing a caller creates can stand in for the
-- key. The hashes of the two proofs are compared, not the proofs: how long a comparison takes then says
-- nothing about the proof. PARALLEL RESTRICTED: pg_backend_pid() is the leader's only there.
CREATE FUNCTION ledger_read_tenant() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL RESTRICTED AS $$
    SELECT s.tenant
    FROM (SELECT current_setting('ledger.tenant_id', true) AS tenant,
                 current_setting('ledger.tenant_proof', true) AS proof) AS s
    WHERE sha256(convert_to(s.proof, 'UTF8')) = sha256(convert_to(ledger_tenant_proof(s.tenant), 'UTF8'))
$$;

DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION ledger_read_tenant() SET search_path = %I, pg_temp', current_schema());
END;
$$;

-- The service's start of every tenant read (sql/read.sql begin_tenant_read), run by its own login: the
-- tenant, its proof, then the reader role, all transaction-local. Only the owner may call it.
CREATE FUNCTION ledger_begin_tenant_read(tenant text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF tenant IS NULL OR tenant = '' THEN
        RAISE EXCEPTION 'a tenant read needs a tenant';
    END IF;
    PERFORM set_config('ledger.tenant_id', tenant, true);
    PERFORM set_config('ledger.tenant_proof', ledger_tenant_proof(tenant), true);
    PERFORM set_config('role', 'ledger_reader', true);
END;
$$;

REVOKE EXECUTE ON FUNCTION ledger_tenant_proof(text), ledger_read_tenant(), ledger_begin_tenant_read(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_read_tenant() TO ledger_reader;

-- 4. TimescaleDB: the tenant views (the reader's only way to the rows, migrations 0005 and 0008) check the
-- proof, once per statement (an uncorrelated sub-select is evaluated once). Same columns as before. Still
-- not security_barrier views (see 0005: a barrier turns the events page's ordered index scan into a sort of
-- all the tenant's rows, measured again for this migration); the proof check is the cheapest condition on
-- the rows, so it is evaluated before any other a caller adds.
CREATE OR REPLACE VIEW usage_ledger_tenant AS
SELECT id, tenant_id, source, event_type, units, metadata, occurred_at, created_at, trace_id, span_id
FROM usage_ledger
WHERE tenant_id = (SELECT ledger_read_tenant());

CREATE OR REPLACE VIEW usage_rollup_tenant AS
SELECT tenant_id, bucket, source, event_type, units, events
FROM usage_rollup_15m
WHERE tenant_id = (SELECT ledger_read_tenant());

CREATE OR REPLACE VIEW usage_rollup_1h_tenant AS
SELECT tenant_id, bucket, source, event_type, units, events
FROM usage_rollup_1h
WHERE tenant_id = (SELECT ledger_read_tenant());

CREATE OR REPLACE VIEW usage_unmaterialized_tenant AS
SELECT tenant_id, hour FROM usage_unmaterialized
WHERE tenant_id = (SELECT ledger_read_tenant());
