-- With the tenant unset, empty, malformed or an injection attempt, the application
-- role sees no row of any tenant table and can write none; a bad value is no error
-- (it must not poison the pooled connection).
\set ON_ERROR_STOP 1
\set QUIET 1
BEGIN;
\ir fixtures/two_tenants.sql
SELECT plan(3 + 5 * 31 + 1 + 12);
\ir fixtures/act_as_app_role.sql

-- Rows of each tenant table visible to the current role.
\set visible 'SELECT t, n FROM (SELECT ''tenants'' AS t, count(*) AS n FROM tenants UNION ALL SELECT ''users'', count(*) FROM users UNION ALL SELECT ''memberships'', count(*) FROM memberships UNION ALL SELECT ''refresh_tokens'', count(*) FROM refresh_tokens UNION ALL SELECT ''companies'', count(*) FROM companies UNION ALL SELECT ''contacts'', count(*) FROM contacts UNION ALL SELECT ''deals'', count(*) FROM deals UNION ALL SELECT ''deal_stage_changes'', count(*) FROM deal_stage_changes UNION ALL SELECT ''tenant_modules'', count(*) FROM tenant_modules UNION ALL SELECT ''properties'', count(*) FROM properties UNION ALL SELECT ''viewings'', count(*) FROM viewings UNION ALL SELECT ''buyer_requirements'', count(*) FROM buyer_requirements) AS visible'

-- An owner of tenant A, except for the tenant itself.
SELECT set_config('app.user_id', '00000000-0000-0000-0000-0000000000a1', true),
       set_config('app.role', 'owner', true) \g /dev/null

-- Each case: 12 counts, 1 helper check, 8 refused inserts, 10 empty updates/deletes = 31.
\set setting 'never set'
\ir fixtures/nothing_without_a_tenant.sql

\set setting ''
SELECT set_config('app.tenant_id', :'setting', true) \g /dev/null
\ir fixtures/nothing_without_a_tenant.sql

\set setting 'not-a-uuid'
SELECT set_config('app.tenant_id', :'setting', true) \g /dev/null
\ir fixtures/nothing_without_a_tenant.sql

\set setting '\' OR true --'
SELECT set_config('app.tenant_id', :'setting', true) \g /dev/null
\ir fixtures/nothing_without_a_tenant.sql

\set setting '00000000-0000-0000-0000-00000000000a,00000000-0000-0000-0000-00000000000b'
SELECT set_config('app.tenant_id', :'setting', true) \g /dev/null
\ir fixtures/nothing_without_a_tenant.sql

SELECT lives_ok('SELECT 1', 'the session is still healthy: no cast error was raised');

-- Ground truth, as superuser: nothing was written, changed or deleted.
RESET ROLE;
SELECT is(n, CASE WHEN t IN ('contacts', 'deals', 'deal_stage_changes', 'properties') THEN 3 ELSE 2 END::bigint,
          t || ' still holds exactly the fixture rows')
FROM (:visible) AS truth;

SELECT * FROM finish();
ROLLBACK;
