-- The application role's residual powers: what its credentials (an SQL injection, a
-- leaked password) reach beyond its own rows. It cannot signal the server's backends,
-- take advisory locks (the migration lock), store large objects, write deal history
-- other than through its trigger, or read global counters, sizes and sessions; and
-- the role carries its own timeouts and connection limit.
\set ON_ERROR_STOP 1
\set QUIET 1
BEGIN;
\ir fixtures/two_tenants.sql
SELECT plan(37);
\ir fixtures/claims.sql
\ir fixtures/act_as_app_role.sql

\set B '00000000-0000-0000-0000-00000000000b'

-- Signalling: refused before any backend is looked up (any pid will do).
SELECT throws_ok(format('SELECT %s(2147483646)', f), '42501', NULL, f || ' is not executable')
FROM unnest(ARRAY['pg_cancel_backend', 'pg_terminate_backend']) AS f;

-- Advisory locks, the server's migration lock ("crm_migr") first.
SELECT throws_ok(format('SELECT %s(7165910213724825458)', f), '42501', NULL, f || ' is not executable')
FROM unnest(ARRAY['pg_advisory_lock', 'pg_try_advisory_lock', 'pg_advisory_lock_shared',
                  'pg_advisory_xact_lock', 'pg_try_advisory_xact_lock']) AS f;

-- Role-level bounds, for sessions the server does not open itself.
SELECT ok(rolconnlimit >= 0, 'crm_app has a connection limit') FROM pg_roles WHERE rolname = 'crm_app';
SELECT ok(EXISTS (SELECT 1 FROM unnest(rolconfig) AS c WHERE c ~ ('^' || name || '=[1-9]')),
          'crm_app has a role-level ' || name)
FROM pg_roles
CROSS JOIN unnest(ARRAY['statement_timeout', 'idle_in_transaction_session_timeout']) AS name
WHERE rolname = 'crm_app';

-- Large objects: storage that no policy covers.
SELECT throws_ok(stmt, '42501', NULL, stmt || ' is refused')
FROM unnest(ARRAY[
    $$ SELECT lo_from_bytea(0, '\x00'::bytea) $$,
    $$ SELECT lo_create(0) $$,
    $$ SELECT lo_creat(-1) $$,
    $$ SELECT lo_put(1, 0, '\x00'::bytea) $$,
    $$ SELECT lo_open(1, 131072) $$,
    $$ SELECT lowrite(0, '\x00'::bytea) $$,
    $$ SELECT lo_unlink(1) $$]) AS stmt;

-- Deal history is written only by its trigger, even for B's own deal.
SELECT role FROM app.enter(:'claim_b') \g /dev/null
SELECT throws_ok(stmt, '42501', 'permission denied for table deal_stage_changes', name)
FROM (VALUES
    ('B cannot insert a forged stage change',
     $$ INSERT INTO deal_stage_changes (deal_id, from_stage, to_stage, changed_by, changed_at)
        VALUES ('00000000-0000-0000-0000-0000000000b1', 'NEGOTIATION', 'CLOSED_WON',
                '00000000-0000-0000-0000-0000000000b1', '2001-01-01') $$),
    ('B cannot rewrite a stage change', $$ UPDATE deal_stage_changes SET changed_at = '2001-01-01' $$),
    ('B cannot delete a stage change', $$ DELETE FROM deal_stage_changes $$)
) AS attempts (name, stmt);
SELECT lives_ok($$ UPDATE deals SET stage = 'NEGOTIATION' WHERE id = '00000000-0000-0000-0000-0000000000b1' $$,
                'B moves its deal');
RESET ROLE;
SELECT results_eq($$ SELECT tenant_id, changed_by, to_stage::text FROM deal_stage_changes
                     WHERE deal_id = '00000000-0000-0000-0000-0000000000b1' AND from_stage = 'NEW' $$,
                  $$ VALUES ('00000000-0000-0000-0000-00000000000b'::uuid, '00000000-0000-0000-0000-0000000000b1'::uuid, 'NEGOTIATION') $$,
                  'the trigger recorded the move under B, by B''s user');
SET ROLE crm_app;

-- Global counters, sizes and sessions.
SELECT throws_ok(stmt, '42501', NULL, stmt || ' is refused')
FROM unnest(ARRAY[
    $$ SELECT n_live_tup FROM pg_stat_user_tables $$,
    $$ SELECT n_tup_ins FROM pg_stat_all_tables $$,
    $$ SELECT heap_blks_read FROM pg_statio_user_tables $$,
    $$ SELECT idx_blks_read FROM pg_statio_user_indexes $$,
    $$ SELECT idx_scan FROM pg_stat_user_indexes $$,
    $$ SELECT pg_stat_get_live_tuples('contacts'::regclass) $$,
    $$ SELECT pg_relation_size('contacts') $$,
    $$ SELECT pg_total_relation_size('contacts') $$,
    $$ SELECT pg_table_size('contacts') $$,
    $$ SELECT pg_indexes_size('contacts') $$,
    $$ SELECT pg_database_size(current_database()) $$,
    $$ SELECT query FROM pg_stat_activity $$]) AS stmt;

SELECT * FROM finish();
ROLLBACK;
