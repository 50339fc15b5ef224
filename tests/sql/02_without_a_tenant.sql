-- With the context unset, empty, malformed, made by hand, or validly signed but expired,
-- the application role sees no row of any tenant table and can write none; and the
-- settings the policies trusted before migration V8 (app.tenant_id, app.user_id,
-- app.role), set by hand to tenant A's real owner, reach nothing. A bad value is no
-- error (it must not poison the pooled connection).
\set ON_ERROR_STOP 1
\set QUIET 1
BEGIN;
\ir fixtures/two_tenants.sql
SELECT plan(3 + 6 * 29 + 1 + 1 + 10);

-- Signed with the real key (the superuser can read it), for A's owner: once expired,
-- once not (the control below shows the expired one fails for its expiry alone).
SELECT c.expired || '.' || encode(hmac(convert_to('context.' || c.expired, 'UTF8'), k.secret, 'sha256'), 'hex')
           AS expired_context,
       c.live || '.' || encode(hmac(convert_to('context.' || c.live, 'UTF8'), k.secret, 'sha256'), 'hex')
           AS live_context
FROM (SELECT id, secret FROM app.context_keys ORDER BY id DESC LIMIT 1) AS k,
     LATERAL (SELECT concat_ws('.', k.id, '00000000-0000-0000-0000-00000000000a',
                               '00000000-0000-0000-0000-0000000000a1', 'owner', 1) AS expired,
                     concat_ws('.', k.id, '00000000-0000-0000-0000-00000000000a',
                               '00000000-0000-0000-0000-0000000000a1', 'owner', 99999999999) AS live) AS c \gset
\ir fixtures/act_as_app_role.sql
-- Rows of each tenant table visible to the current role.
\set visible 'SELECT t, n FROM (SELECT ''tenants'' AS t, count(*) AS n FROM tenants UNION ALL SELECT ''memberships'', count(*) FROM memberships UNION ALL SELECT ''companies'', count(*) FROM companies UNION ALL SELECT ''contacts'', count(*) FROM contacts UNION ALL SELECT ''deals'', count(*) FROM deals UNION ALL SELECT ''deal_stage_changes'', count(*) FROM deal_stage_changes UNION ALL SELECT ''tenant_modules'', count(*) FROM tenant_modules UNION ALL SELECT ''properties'', count(*) FROM properties UNION ALL SELECT ''viewings'', count(*) FROM viewings UNION ALL SELECT ''buyer_requirements'', count(*) FROM buyer_requirements) AS visible'

-- Each case: 10 counts, 1 helper check, 8 refused inserts, 10 empty updates/deletes = 29.
-- (users and refresh_tokens are not readable at all: 01_privileges.sql.)
\set setting 'never set'
\ir fixtures/nothing_without_a_tenant.sql

\set setting 'A''s ids set by hand'
SELECT set_config('app.tenant_id', '00000000-0000-0000-0000-00000000000a', true),
       set_config('app.user_id', '00000000-0000-0000-0000-0000000000a1', true),
       set_config('app.role', 'owner', true) \g /dev/null
\ir fixtures/nothing_without_a_tenant.sql

\set setting 'an empty context'
SELECT set_config('app.context', '', true) \g /dev/null
\ir fixtures/nothing_without_a_tenant.sql

\set setting '\' OR true --'
SELECT set_config('app.context', :'setting', true) \g /dev/null
\ir fixtures/nothing_without_a_tenant.sql

\set setting 'a hand-made context'
SELECT set_config('app.context', concat_ws('.', '1', '00000000-0000-0000-0000-00000000000a',
                  '00000000-0000-0000-0000-0000000000a1', 'owner', '99999999999', repeat('0', 64)),
                  true) \g /dev/null
\ir fixtures/nothing_without_a_tenant.sql

\set setting 'an expired signed context'
SELECT set_config('app.context', :'expired_context', true) \g /dev/null
\ir fixtures/nothing_without_a_tenant.sql

SELECT set_config('app.context', :'live_context', true) \g /dev/null
SELECT is(app.current_tenant_id(), '00000000-0000-0000-0000-00000000000a',
          'control: the same context, not expired, is tenant A''s');
SELECT set_config('app.context', '', true) \g /dev/null

SELECT lives_ok('SELECT 1', 'the session is still healthy: no cast error was raised');

-- Ground truth, as superuser: nothing was written, changed or deleted.
RESET ROLE;
SELECT is(n, CASE WHEN t IN ('contacts', 'deals', 'deal_stage_changes', 'properties') THEN 3 ELSE 2 END::bigint,
          t || ' still holds exactly the fixture rows')
FROM (:visible) AS truth;

SELECT * FROM finish();
ROLLBACK;
