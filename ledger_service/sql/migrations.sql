-- name: bootstrap_migrations
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS ledger_meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- name: applied_migrations
SELECT version, name, checksum FROM schema_migrations ORDER BY version;

-- name: record_migration
INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3);

-- name: get_meta
SELECT value FROM ledger_meta WHERE key = $1;

-- name: set_meta
INSERT INTO ledger_meta (key, value) VALUES ($1, $2);

-- name: role_status
-- For each role name in $1: whether it exists, whether the current login may SET ROLE to it (member), and
-- whether it holds its privileges (usage: policies that name the role apply to the login).
SELECT n.name, r.oid IS NOT NULL AS present,
       coalesce(pg_has_role(r.oid, 'MEMBER'), false) AS member,
       coalesce(pg_has_role(r.oid, 'USAGE'), false) AS usage
FROM unnest($1::text[]) AS n(name)
LEFT JOIN pg_roles r ON r.rolname = n.name;

-- name: login_powers
SELECT current_user AS login, rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user;

-- name: create_role_statement
SELECT format('CREATE ROLE %I NOLOGIN', $1::text);

-- name: grant_role_statement
SELECT format('GRANT %I TO %I', $1::text, current_user);
