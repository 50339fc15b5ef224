-- Ways the application role ($1) could see or change rows outside its tenant.
-- One row per problem; no rows means the role is safe to serve requests with.
WITH app AS (
    SELECT oid, rolname, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb
    FROM pg_roles WHERE rolname = $1
)
SELECT 'role ' || $1 || ' does not exist' AS problem
WHERE NOT EXISTS (SELECT 1 FROM app)
UNION ALL
SELECT rolname || ' is a superuser (superusers bypass row-level security)' FROM app WHERE rolsuper
UNION ALL
SELECT rolname || ' has BYPASSRLS' FROM app WHERE rolbypassrls
UNION ALL
SELECT rolname || ' can create roles or databases' FROM app WHERE rolcreaterole OR rolcreatedb
UNION ALL
SELECT app.rolname || ' owns, or is a member of the owner of, ' || c.oid::regclass::text
FROM app
JOIN pg_class c ON c.relkind IN ('r', 'p', 'v', 'm', 'f')
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname NOT IN ('pg_catalog', 'information_schema')
WHERE pg_has_role(app.oid, c.relowner, 'MEMBER')
UNION ALL
SELECT app.rolname || ' has CREATE on schema ' || n.nspname
FROM app
JOIN pg_namespace n ON n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
WHERE has_schema_privilege(app.oid, n.oid, 'CREATE')
UNION ALL
SELECT app.rolname || ' has ' || p.privilege || ' on ' || c.oid::regclass::text
FROM app
JOIN pg_class c ON c.relkind IN ('r', 'p')
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname NOT IN ('pg_catalog', 'information_schema')
CROSS JOIN (VALUES ('TRUNCATE'), ('REFERENCES'), ('TRIGGER')) AS p (privilege)
WHERE has_table_privilege(app.oid, c.oid, p.privilege)
UNION ALL
SELECT 'a role or database default sets ' || split_part(setting, '=', 1)
FROM pg_db_role_setting s
CROSS JOIN LATERAL unnest(s.setconfig) AS setting
WHERE setting LIKE 'app.%'
  AND s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
  AND (s.setrole = 0 OR pg_has_role((SELECT oid FROM app), s.setrole, 'MEMBER'))
