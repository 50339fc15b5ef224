-- Row-level security audit.
--
-- Run it in psql against a CRM database:   psql -d crm -f sql/audit_rls.sql
-- The server runs the same query at start-up (refusing to serve on any 'error') and
-- `crm audit` prints it (exit 1 on any 'error').
--
-- "Tenant tables" are ordinary or partitioned tables outside the system schemas with a
-- tenant_id column. The table `tenants` (one row per tenant, keyed by `id`) needs the
-- same row-level security, guard and all, and is audited with them (RLS001-RLS003). "API roles" are the login roles that are members of crm_api: the
-- roles requests run as (the server narrows this to its own role by setting
-- crm.audit_role in the audit's transaction). One row per finding; no rows means clean.

WITH RECURSIVE
-- Real membership (pg_has_role would count every superuser as a member).
api_members (roleid) AS (
    SELECT oid FROM pg_roles WHERE rolname = 'crm_api'
    UNION
    SELECT m.member FROM pg_auth_members m JOIN api_members a ON m.roleid = a.roleid
),
api_roles AS (
    SELECT r.oid, r.rolname, r.rolsuper, r.rolbypassrls, r.rolcreaterole, r.rolcreatedb
    FROM pg_roles r
    WHERE r.rolcanlogin AND r.oid IN (SELECT roleid FROM api_members)
      AND coalesce(nullif(current_setting('crm.audit_role', true), ''), r.rolname) = r.rolname
),
user_tables AS (
    SELECT c.oid, c.oid::regclass::text AS name, c.relkind, c.relrowsecurity, c.relforcerowsecurity, c.relowner
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
      AND c.relname <> 'refinery_schema_history'
),
tenant_tables AS (
    SELECT t.*, a.attnum AS tenant_attnum, a.attnotnull AS tenant_not_null
    FROM user_tables t
    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
),
-- The tables whose rows each belong to one tenant, and the column that names it.
guarded_tables AS (
    SELECT t.oid, t.name, t.relrowsecurity, t.relforcerowsecurity, 'tenant_id' AS tenant_key
    FROM tenant_tables t
    UNION ALL
    SELECT t.oid, t.name, t.relrowsecurity, t.relforcerowsecurity, 'id'
    FROM user_tables t
    WHERE t.name = 'tenants'
),
policies AS (
    SELECT p.polrelid, p.polname, p.polpermissive, p.polcmd, p.polroles,
           pg_get_expr(p.polqual, p.polrelid) AS using_expr,
           pg_get_expr(p.polwithcheck, p.polrelid) AS check_expr
    FROM pg_policy p
),
-- A restrictive, all-commands guard whose USING and WITH CHECK are exactly the
-- comparison of tenant_id with the fail-closed helper (a guard with anything more, such
-- as `... OR true`, is no guard).
guarded AS (
    SELECT DISTINCT p.polrelid
    FROM policies p
    JOIN guarded_tables t ON t.oid = p.polrelid
    WHERE NOT p.polpermissive AND p.polcmd = '*'
      AND p.using_expr = format('(%s = ( SELECT app.current_tenant_id() AS current_tenant_id))', t.tenant_key)
      AND p.check_expr = format('(%s = ( SELECT app.current_tenant_id() AS current_tenant_id))', t.tenant_key)
),
allowed_definers (signature) AS (
    -- The reviewed SECURITY DEFINER functions the API may execute.
    VALUES ('app.login_candidates(text)'),
           -- The signed context (V8): enter a server-signed claim; verify the context.
           ('app.enter(text)'),
           ('app.context_fields()'),
           ('app.request_signup(text,text,text,text,text,text,text,text)'),
           ('app.confirm_signup(text)'),
           ('app.accept_invitation(text,text,text)'),
           ('app.send_invitation(uuid,text,text)'),
           -- Sessions (V12): start, rotate by the token itself, end.
           ('app.start_session(interval)'),
           ('app.rotate_refresh_token(text)'),
           ('app.end_session(uuid,text)'),
           -- (The mail outbox's claim and settlement are the worker role's since V13.)
           -- Webhooks (V20): a manager requeues or pings the context tenant's endpoints.
           ('app.redeliver_webhooks(uuid,uuid,timestamp with time zone)'),
           ('app.ping_webhook_endpoint(uuid)'),
           -- Deal history (V10): the trigger that alone writes deal_stage_changes.
           ('app.deals_record_stage_change()'),
           -- Unsubscribe links (V28): take the signed token itself, check it inside.
           ('app.unsubscribe_target(text)'),
           ('app.unsubscribe(text)'),
           -- Reviews (V29): a manager says whether a lost hand-over went out.
           ('app.resolve_notification(uuid,text,text)'),
           -- The clinic's access log (V40): append for the context's member and tenant
           -- only; verify the context tenant's chain (owners and admins).
           ('app.log_clinical_access(uuid[],text,text,text)'),
           ('app.verify_clinical_access_log()'),
           -- The clinic's erasure (V47): owners and admins of the context's tenant erase
           -- one of its patients; the only way a signed note is deleted.
           ('app.erase_patient(uuid,text,text)')
),
-- History tables: written only by their SECURITY DEFINER functions, never by the API.
history_tables (name) AS (
    VALUES ('deal_stage_changes'), ('clinic_access_log'), ('clinic_access_chain'),
           ('patient_erasures')
),
-- Built-in functions PUBLIC may execute by default that reach beyond the API roles'
-- rows, by rule. Set-up revokes them when the owner is a superuser
-- (src/platform/db/revoke_public_powers.sql).
power_kinds (rule, power) AS (
    VALUES ('PWR001', 'signal (cancel, terminate) every backend of its role, the server''s too'),
           ('PWR002', 'take advisory locks, the server''s migration lock among them'),
           ('PWR004', 'create and write large objects (storage no policy covers)'),
           ('PWR006', 'read global statistics, sizes, locks and sessions of every tenant together')
),
public_powers AS (
    SELECT kind.rule, p.oid, p.oid::regprocedure::text AS signature
    FROM pg_proc p
    JOIN (VALUES ('PWR001', 'pg_cancel_backend'),
                 ('PWR001', 'pg_terminate_backend'),
                 ('PWR002', 'pg\_%advisory\_%'),
                 ('PWR004', 'lo\_%'),
                 ('PWR004', 'loread'),
                 ('PWR004', 'lowrite'),
                 ('PWR006', 'pg\_stat\_get\_%'),
                 ('PWR006', 'pg_lock_status'),
                 ('PWR006', 'pg_relation_size'),
                 ('PWR006', 'pg_total_relation_size'),
                 ('PWR006', 'pg_table_size'),
                 ('PWR006', 'pg_indexes_size'),
                 ('PWR006', 'pg_database_size'),
                 ('PWR006', 'pg_tablespace_size')
    ) AS kind (rule, name_pattern) ON p.proname LIKE kind.name_pattern
    WHERE p.pronamespace = 'pg_catalog'::regnamespace
),
findings (rule, severity, object, finding, fix) AS (
    SELECT 'RLS001', 'error', name, 'row-level security is not enabled',
           format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY;', name)
    FROM guarded_tables WHERE NOT relrowsecurity
    UNION ALL
    SELECT 'RLS002', 'error', name, 'row-level security is not forced (the owner bypasses it)',
           format('ALTER TABLE %s FORCE ROW LEVEL SECURITY;', name)
    FROM guarded_tables WHERE NOT relforcerowsecurity
    UNION ALL
    SELECT 'RLS003', 'error', name, 'no restrictive tenant_guard policy',
           CASE t.tenant_key
               WHEN 'tenant_id' THEN format('CALL app.enable_tenant_guard(%L);', t.name)
               ELSE format('CREATE POLICY tenant_guard ON %s AS RESTRICTIVE FOR ALL TO crm_api '
                           'USING (%2$I = (SELECT app.current_tenant_id())) '
                           'WITH CHECK (%2$I = (SELECT app.current_tenant_id()));',
                           t.name, t.tenant_key)
           END
    FROM guarded_tables t WHERE NOT EXISTS (SELECT 1 FROM guarded g WHERE g.polrelid = t.oid)
    UNION ALL
    SELECT 'RLS004', 'error', t.name || ' / ' || p.polname, 'policy on a table whose RLS is disabled (it does nothing)',
           format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY;', t.name)
    FROM user_tables t JOIN policies p ON p.polrelid = t.oid WHERE NOT t.relrowsecurity
    UNION ALL
    SELECT 'RLS005', 'warning', name, 'RLS enabled but no policy: every API query sees nothing',
           'add the policies the table needs, or disable RLS if it holds no tenant data'
    FROM user_tables t WHERE relrowsecurity AND NOT EXISTS (SELECT 1 FROM policies p WHERE p.polrelid = t.oid)
    UNION ALL
    SELECT 'POL001', 'error', t.name || ' / ' || p.polname, 'policy applies TO PUBLIC',
           format('ALTER POLICY %I ON %s TO crm_api;', p.polname, t.name)
    FROM user_tables t JOIN policies p ON p.polrelid = t.oid WHERE 0::oid = ANY (p.polroles)
    UNION ALL
    SELECT 'POL002', 'error', t.name || ' / ' || p.polname, 'policy admits rows when a value is NULL (tenant unset?)',
           'remove the IS NULL branch: an unset tenant must match no row'
    FROM user_tables t JOIN policies p ON p.polrelid = t.oid
    WHERE concat_ws(' ', p.using_expr, p.check_expr) ~* '\mIS NULL\M'
    UNION ALL
    SELECT 'POL003', 'warning', t.name || ' / ' || p.polname, 'WITH CHECK differs from USING: rows may be written that cannot be read back',
           'make WITH CHECK at least as strict as USING'
    FROM user_tables t JOIN policies p ON p.polrelid = t.oid
    WHERE p.polcmd IN ('*', 'w') AND p.check_expr IS NOT NULL AND p.using_expr IS NOT NULL AND p.check_expr <> p.using_expr
    UNION ALL
    SELECT 'KEY001', 'error', name || '.tenant_id', 'tenant_id is nullable',
           format('ALTER TABLE %s ALTER COLUMN tenant_id SET NOT NULL;', name)
    FROM tenant_tables WHERE NOT tenant_not_null
    UNION ALL
    SELECT 'KEY002', 'error', t.name || ' / ' || i.indexrelid::regclass::text,
           'primary key or unique index without tenant_id (uniqueness leaks across tenants)',
           'include tenant_id as the first key column'
    FROM tenant_tables t JOIN pg_index i ON i.indrelid = t.oid
    WHERE i.indisunique AND NOT (t.tenant_attnum = ANY (i.indkey::int2[]))
    UNION ALL
    SELECT 'KEY003', 'error', t.name || ' / ' || c.conname,
           'foreign key to a tenant table without tenant_id (can reference another tenant''s row)',
           'make it (tenant_id, ...) REFERENCES target (tenant_id, ...)'
    FROM tenant_tables t
    JOIN pg_constraint c ON c.conrelid = t.oid AND c.contype = 'f'
    JOIN tenant_tables target ON target.oid = c.confrelid
    -- tenant_id must reference the target's tenant_id (not merely appear on both sides).
    WHERE NOT EXISTS (
        SELECT 1 FROM unnest(c.conkey, c.confkey) AS k (src, dst)
        WHERE k.src = t.tenant_attnum AND k.dst = target.tenant_attnum)
    UNION ALL
    SELECT 'KEY004', 'warning', t.name || '.' || a.attname, 'sequence-backed id (reveals volume, invites enumeration)',
           'use server-generated UUIDv7 ids'
    FROM tenant_tables t JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef d ON d.adrelid = t.oid AND d.adnum = a.attnum
    WHERE a.attidentity <> '' OR pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%'
    UNION ALL
    SELECT 'ROLE001', 'error', rolname, rolname || ' is a superuser (superusers bypass row-level security)',
           format('ALTER ROLE %I NOSUPERUSER;', rolname)
    FROM api_roles WHERE rolsuper
    UNION ALL
    SELECT 'ROLE002', 'error', rolname, rolname || ' has BYPASSRLS', format('ALTER ROLE %I NOBYPASSRLS;', rolname)
    FROM api_roles WHERE rolbypassrls
    UNION ALL
    SELECT 'ROLE003', 'error', rolname, rolname || ' can create roles or databases',
           format('ALTER ROLE %I NOCREATEROLE NOCREATEDB;', rolname)
    FROM api_roles WHERE rolcreaterole OR rolcreatedb
    UNION ALL
    SELECT 'ROLE004', 'error', r.rolname, r.rolname || ' owns, or is a member of the owner of, ' || t.name,
           'tables belong to the migration role; revoke the membership or change the owner'
    FROM api_roles r JOIN user_tables t ON pg_has_role(r.oid, t.relowner, 'MEMBER')
    UNION ALL
    SELECT 'ROLE005', 'error', r.rolname, r.rolname || ' has CREATE on schema ' || n.nspname,
           format('REVOKE CREATE ON SCHEMA %I FROM %I;', n.nspname, r.rolname)
    FROM api_roles r
    JOIN pg_namespace n ON n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
    WHERE has_schema_privilege(r.oid, n.oid, 'CREATE')
    UNION ALL
    SELECT 'ROLE006', 'error', r.rolname, r.rolname || ' has ' || p.privilege || ' on ' || t.name,
           format('REVOKE %s ON %s FROM %I;', p.privilege, t.name, r.rolname)
    FROM api_roles r CROSS JOIN user_tables t
    CROSS JOIN (VALUES ('TRUNCATE'), ('REFERENCES'), ('TRIGGER')) AS p (privilege)
    WHERE has_table_privilege(r.oid, t.oid, p.privilege)
    UNION ALL
    SELECT 'ROLE007', 'error', coalesce(r.rolname, 'database ' || current_database()),
           'a role or database default sets ' || split_part(setting, '=', 1),
           'ALTER ROLE ... RESET / ALTER DATABASE ... RESET that setting'
    FROM pg_db_role_setting s
    CROSS JOIN LATERAL unnest(s.setconfig) AS setting
    LEFT JOIN pg_roles r ON r.oid = s.setrole
    WHERE setting LIKE 'app.%'
      AND s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
      AND (s.setrole = 0 OR EXISTS (SELECT 1 FROM api_roles a WHERE pg_has_role(a.oid, s.setrole, 'MEMBER')))
    UNION ALL
    SELECT 'OBJ001', 'error', c.oid::regclass::text, 'view readable by ' || r.rolname || ' without security_invoker (runs with its owner''s rights)',
           format('ALTER VIEW %s SET (security_invoker = true);', c.oid::regclass)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace CROSS JOIN api_roles r
    WHERE c.relkind = 'v' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND has_table_privilege(r.oid, c.oid, 'SELECT')
      AND NOT coalesce('security_invoker=true' = ANY (c.reloptions) OR 'security_invoker=on' = ANY (c.reloptions), false)
    UNION ALL
    SELECT 'OBJ002', 'error', c.oid::regclass::text, 'materialized view readable by ' || r.rolname || ' (no RLS applies to it)',
           format('REVOKE SELECT ON %s FROM %I;', c.oid::regclass, r.rolname)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace CROSS JOIN api_roles r
    WHERE c.relkind = 'm' AND has_table_privilege(r.oid, c.oid, 'SELECT')
    UNION ALL
    SELECT 'FUN001', 'error', p.oid::regprocedure::text,
           'SECURITY DEFINER function executable by ' || r.rolname || ' is not on the reviewed allow-list',
           'review it and add it to allowed_definers in sql/audit_rls.sql, or revoke EXECUTE'
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace CROSS JOIN api_roles r
    WHERE p.prosecdef AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND has_function_privilege(r.oid, p.oid, 'EXECUTE')
      AND p.oid::regprocedure::text NOT IN (SELECT signature FROM allowed_definers)
    UNION ALL
    SELECT 'FUN002', 'error', p.oid::regprocedure::text, 'SECURITY DEFINER function with a mutable search_path (unpinned, or pg_temp not last)',
           format('ALTER FUNCTION %s SET search_path = pg_catalog, public, pg_temp;', p.oid::regprocedure)
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE p.prosecdef AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      -- pinned, and with pg_temp last (unlisted, pg_temp is searched first)
      AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) AS config WHERE config ~ '^search_path=.*pg_temp"?$')
    UNION ALL
    -- A range on an index's first column becomes the index condition and the policies
    -- filter afterwards, so EXPLAIN (ANALYZE) counts the hidden rows in any range.
    SELECT 'IDX001', 'error', i.indexrelid::regclass::text,
           'index on ' || t.name || ', readable by ' || r.rolname || ', does not lead with tenant_id (EXPLAIN ANALYZE counts other tenants'' rows in a range of its first column)',
           'lead it with tenant_id: CREATE INDEX ... ON ' || t.name || ' (tenant_id, ...)'
    FROM tenant_tables t
    JOIN pg_index i ON i.indrelid = t.oid
    CROSS JOIN api_roles r
    WHERE i.indkey[0] <> t.tenant_attnum
      AND (has_table_privilege(r.oid, t.oid, 'SELECT') OR has_any_column_privilege(r.oid, t.oid, 'SELECT'))
    UNION ALL
    SELECT 'IDN001', 'error', t.name, r.rolname || ' holds privileges on the identity table ' || t.name,
           format('REVOKE ALL ON %s FROM %I;', t.name, r.rolname)
    FROM user_tables t CROSS JOIN api_roles r
    WHERE t.name IN ('users', 'refresh_tokens', 'pending_signups', 'user_tenants', 'app.context_keys')
      AND (has_any_column_privilege(r.oid, t.oid, 'SELECT')
           OR has_any_column_privilege(r.oid, t.oid, 'INSERT')
           OR has_any_column_privilege(r.oid, t.oid, 'UPDATE')
           OR has_table_privilege(r.oid, t.oid, 'DELETE'))
    UNION ALL
    SELECT 'FUN003', 'error', p.oid::regprocedure::text, 'LEAKPROOF function outside pg_catalog (policies may leak through it)',
           format('ALTER FUNCTION %s NOT LEAKPROOF;', p.oid::regprocedure)
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE p.proleakproof AND n.nspname <> 'pg_catalog'
    UNION ALL
    -- Residual powers: what the API role's credentials reach beyond its rows. Warnings,
    -- since only a superuser can revoke built-in functions (not so on managed PostgreSQL).
    SELECT w.rule, 'warning', r.rolname,
           r.rolname || ' can ' || k.power || ': '
               || array_to_string((array_agg(w.signature ORDER BY w.signature))[1:3], ', ')
               || CASE WHEN count(*) > 3 THEN format(' and %s more', count(*) - 3) ELSE '' END,
           'as a superuser, run src/platform/db/revoke_public_powers.sql (REVOKE EXECUTE ... FROM PUBLIC)'
    FROM api_roles r
    JOIN public_powers w ON has_function_privilege(r.oid, w.oid, 'EXECUTE')
    JOIN power_kinds k ON k.rule = w.rule
    GROUP BY w.rule, k.power, r.rolname
    UNION ALL
    SELECT 'PWR003', 'warning', r.rolname, r.rolname || ' has no connection limit',
           format('ALTER ROLE %I CONNECTION LIMIT 64; -- the pools of all instances', r.rolname)
    FROM api_roles r JOIN pg_roles l ON l.oid = r.oid
    WHERE l.rolconnlimit < 0
    UNION ALL
    SELECT 'PWR003', 'warning', r.rolname,
           r.rolname || ' has no default ' || t.name || ': a session it opens itself runs unbounded',
           format('ALTER ROLE %I SET %s = %L;', r.rolname, t.name, t.example)
    FROM api_roles r
    CROSS JOIN (VALUES ('statement_timeout', '5s'), ('idle_in_transaction_session_timeout', '10s'))
        AS t (name, example)
    WHERE NOT EXISTS (
        SELECT 1
        FROM pg_db_role_setting s CROSS JOIN LATERAL unnest(s.setconfig) AS setting
        WHERE s.setrole IN (0, r.oid)
          AND s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
          AND setting ~ ('^' || t.name || '=[1-9]'))
    UNION ALL
    SELECT 'PWR005', 'error', h.name,
           r.rolname || ' may ' || string_agg(p.privilege, ', ' ORDER BY p.privilege)
               || ' rows of a history table only its trigger may write',
           format('REVOKE INSERT, UPDATE, DELETE ON %s FROM crm_api, %I;', h.name, r.rolname)
    FROM history_tables h
    CROSS JOIN api_roles r
    CROSS JOIN (VALUES ('INSERT'), ('UPDATE'), ('DELETE')) AS p (privilege)
    WHERE to_regclass(h.name) IS NOT NULL
      AND CASE p.privilege
              WHEN 'DELETE' THEN has_table_privilege(r.oid, to_regclass(h.name), p.privilege)
              ELSE has_any_column_privilege(r.oid, to_regclass(h.name), p.privilege)
          END
    GROUP BY h.name, r.rolname
)
SELECT rule, severity, object, finding, fix
FROM findings
ORDER BY severity, rule, object;
