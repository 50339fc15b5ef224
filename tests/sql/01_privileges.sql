-- The application role cannot change the rules, read around them, or bulk-load data.
-- Every statement below must be refused with insufficient_privilege (42501).
\set ON_ERROR_STOP 1
\set QUIET 1
BEGIN;
\ir fixtures/two_tenants.sql
SELECT plan(221);
\ir fixtures/act_as_app_role.sql

-- The suite covers every table that has row-level security (a new tenant table must
-- be added to the lists below).
SELECT is(
    (SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class c
     JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relrowsecurity AND n.nspname = 'public'),
    ARRAY['appointment_types', 'appointments', 'buyer_requirements', 'clinic_access_chain',
          'clinic_access_log', 'clinic_locations', 'clinic_rooms', 'clinic_settings',
          'companies', 'company_tags', 'contact_consents', 'contact_tags', 'contacts',
          'deal_stage_changes', 'deal_tags', 'deals', 'invitations', 'lost_reasons', 'mail_outbox',
          'memberships',
          'notification_messages', 'notification_queue', 'notification_rules',
          'notification_settings', 'notification_templates', 'patient_consents',
          'patient_erasures', 'patient_guardians', 'patient_identifiers', 'patients',
          'pipeline_moves', 'pipeline_stages', 'pipelines', 'practitioner_hours', 'practitioner_time_off', 'practitioners', 'properties',
          'refresh_tokens', 'tags',
          'tenant_modules', 'tenants', 'treatment_notes', 'user_tenants', 'users', 'viewings',
          'webhook_attempts', 'webhook_endpoints', 'webhook_messages', 'webhook_secrets'],
    'the tables under row-level security are the ones this suite covers');

-- TRUNCATE ignores row-level security, so no tenant table may be truncated.
SELECT throws_ok(format('TRUNCATE %I', t), '42501', NULL, 'TRUNCATE ' || t || ' is refused')
FROM unnest(ARRAY['tenants', 'users', 'memberships', 'refresh_tokens',
                  'companies', 'contacts', 'deals', 'deal_stage_changes',
                  'tenant_modules', 'properties', 'viewings', 'buyer_requirements',
                  'mail_outbox', 'invitations',
                  'webhook_endpoints', 'webhook_secrets', 'webhook_messages', 'webhook_attempts',
                  'notification_templates', 'notification_messages', 'notification_queue',
                  'contact_consents', 'notification_rules', 'notification_settings',
                  'clinic_locations', 'patients', 'patient_identifiers', 'practitioners',
                  'practitioner_hours', 'practitioner_time_off', 'appointment_types',
                  'appointments', 'treatment_notes', 'clinic_access_log',
                  'clinic_access_chain', 'clinic_rooms', 'patient_guardians',
                  'patient_consents', 'clinic_settings', 'patient_erasures',
                  'tags', 'contact_tags', 'company_tags', 'deal_tags',
                  'pipelines', 'pipeline_stages', 'pipeline_moves', 'lost_reasons']) AS t;

-- COPY FROM a file or a program on the server.
SELECT throws_ok($$ COPY contacts FROM '/etc/hostname' $$, '42501', NULL, 'COPY FROM a server file is refused');
SELECT throws_ok($$ COPY contacts FROM PROGRAM 'true' $$, '42501', NULL, 'COPY FROM PROGRAM is refused');

-- Turning row-level security off, or rewriting the policies.
SELECT throws_ok(format('ALTER TABLE %I DISABLE ROW LEVEL SECURITY', t), '42501', NULL,
                 'ALTER TABLE ' || t || ' DISABLE ROW LEVEL SECURITY is refused')
FROM unnest(ARRAY['tenants', 'users', 'memberships', 'refresh_tokens',
                  'companies', 'contacts', 'deals', 'deal_stage_changes',
                  'tenant_modules', 'properties', 'viewings', 'buyer_requirements',
                  'mail_outbox', 'invitations',
                  'webhook_endpoints', 'webhook_secrets', 'webhook_messages', 'webhook_attempts',
                  'notification_templates', 'notification_messages', 'notification_queue',
                  'contact_consents', 'notification_rules', 'notification_settings',
                  'clinic_locations', 'patients', 'patient_identifiers', 'practitioners',
                  'practitioner_hours', 'practitioner_time_off', 'appointment_types',
                  'appointments', 'treatment_notes', 'clinic_access_log',
                  'clinic_access_chain', 'clinic_rooms', 'patient_guardians',
                  'patient_consents', 'clinic_settings', 'patient_erasures',
                  'tags', 'contact_tags', 'company_tags', 'deal_tags',
                  'pipelines', 'pipeline_stages', 'pipeline_moves', 'lost_reasons']) AS t;
SELECT throws_ok(format('ALTER TABLE %I NO FORCE ROW LEVEL SECURITY', t), '42501', NULL,
                 'ALTER TABLE ' || t || ' NO FORCE ROW LEVEL SECURITY is refused')
FROM unnest(ARRAY['tenants', 'users', 'memberships', 'refresh_tokens',
                  'companies', 'contacts', 'deals', 'deal_stage_changes',
                  'tenant_modules', 'properties', 'viewings', 'buyer_requirements',
                  'mail_outbox', 'invitations',
                  'webhook_endpoints', 'webhook_secrets', 'webhook_messages', 'webhook_attempts',
                  'notification_templates', 'notification_messages', 'notification_queue',
                  'contact_consents', 'notification_rules', 'notification_settings',
                  'clinic_locations', 'patients', 'patient_identifiers', 'practitioners',
                  'practitioner_hours', 'practitioner_time_off', 'appointment_types',
                  'appointments', 'treatment_notes', 'clinic_access_log',
                  'clinic_access_chain', 'clinic_rooms', 'patient_guardians',
                  'patient_consents', 'clinic_settings', 'patient_erasures',
                  'tags', 'contact_tags', 'company_tags', 'deal_tags',
                  'pipelines', 'pipeline_stages', 'pipeline_moves', 'lost_reasons']) AS t;
SELECT throws_ok(format('DROP POLICY tenant_guard ON %I', t), '42501', NULL,
                 'DROP POLICY tenant_guard ON ' || t || ' is refused')
FROM unnest(ARRAY['tenants', 'users', 'memberships', 'refresh_tokens',
                  'companies', 'contacts', 'deals', 'deal_stage_changes',
                  'tenant_modules', 'properties', 'viewings', 'buyer_requirements',
                  'mail_outbox', 'invitations',
                  'webhook_endpoints', 'webhook_secrets', 'webhook_messages', 'webhook_attempts',
                  'notification_templates', 'notification_messages', 'notification_queue',
                  'contact_consents', 'notification_rules', 'notification_settings',
                  'clinic_locations', 'patients', 'patient_identifiers', 'practitioners',
                  'practitioner_hours', 'practitioner_time_off', 'appointment_types',
                  'appointments', 'treatment_notes', 'clinic_access_log',
                  'clinic_access_chain', 'clinic_rooms', 'patient_guardians',
                  'patient_consents', 'clinic_settings', 'patient_erasures',
                  'tags', 'contact_tags', 'company_tags', 'deal_tags',
                  'pipelines', 'pipeline_stages', 'pipeline_moves', 'lost_reasons']) AS t;
SELECT throws_ok($$ CREATE POLICY open ON contacts FOR SELECT TO crm_api USING (true) $$,
                 '42501', NULL, 'CREATE POLICY is refused');
SELECT throws_ok($$ ALTER POLICY tenant_guard ON contacts USING (true) $$,
                 '42501', NULL, 'ALTER POLICY is refused');
SELECT throws_ok($$ ALTER TABLE contacts ADD COLUMN note text $$,
                 '42501', NULL, 'ALTER TABLE ... ADD COLUMN is refused');
SELECT throws_ok($$ DROP TABLE contacts $$, '42501', NULL, 'DROP TABLE is refused');

-- New objects that could run with someone else's rights or outlive the transaction.
SELECT throws_ok($$ CREATE FUNCTION public.evil() RETURNS int LANGUAGE sql AS 'SELECT 1' $$,
                 '42501', NULL, 'CREATE FUNCTION in public is refused');
SELECT throws_ok($$ CREATE FUNCTION app.evil() RETURNS int LANGUAGE sql AS 'SELECT 1' $$,
                 '42501', NULL, 'CREATE FUNCTION in app is refused');
SELECT throws_ok($$ CREATE VIEW public.all_contacts AS SELECT * FROM contacts $$,
                 '42501', NULL, 'CREATE VIEW is refused');
SELECT throws_ok($$ CREATE TABLE public.stash (id int) $$, '42501', NULL, 'CREATE TABLE is refused');
SELECT throws_ok($$ CREATE TEMP TABLE stash (id int) $$, '42501', NULL, 'CREATE TEMP TABLE is refused');
SELECT throws_ok($$ CREATE SCHEMA evil $$, '42501', NULL, 'CREATE SCHEMA is refused');

-- Calling the owner-side helpers. (SET ROLE cannot be tested here: it is checked
-- against the session user, a superuser in this suite; tests/api/isolation_sql.rs
-- tries it logged in as crm_app.)
SELECT throws_ok($$ CALL app.enable_tenant_rls('contacts') $$, '42501', NULL,
                 'the migration helper app.enable_tenant_rls is not executable');
SELECT throws_ok($$ SELECT password_hash FROM users $$, '42501', NULL,
                 'password hashes are not readable');
-- The identity tables are out of reach altogether (no index side channel, V12), and so
-- are the keys that sign the tenant context (V8).
SELECT throws_ok(format('SELECT 1 FROM %s', t), '42501', NULL, t || ' is not readable')
FROM unnest(ARRAY['users', 'refresh_tokens', 'user_tenants', 'pending_signups', 'app.context_keys']) AS t;
SELECT throws_ok($$ SELECT app.mint_context(gen_random_uuid(), gen_random_uuid(), NULL, '1 day') $$,
                 '42501', NULL, 'app.mint_context is the owner''s alone');
SELECT throws_ok($$ SELECT secret_hash FROM invitations $$, '42501', NULL,
                 'the hashes of invitation links are not readable');
SELECT throws_ok($$ SELECT email FROM pending_signups $$, '42501', NULL,
                 'pending signups are not readable');
SELECT throws_ok($$ TRUNCATE pending_signups $$, '42501', NULL,
                 'TRUNCATE pending_signups is refused');

-- Side channels in the catalog.
SELECT is_empty($$
    SELECT tablename FROM pg_stats
    WHERE schemaname = 'public'
      AND tablename IN ('tenants', 'users', 'memberships', 'refresh_tokens',
                        'companies', 'contacts', 'deals', 'deal_stage_changes',
                        'tenant_modules', 'properties', 'viewings', 'buyer_requirements',
                        'invitations', 'pending_signups', 'notification_templates')
$$, 'pg_stats shows no planner statistics (most common values) of tenant tables');
SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname IN ('app', 'public')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
      AND has_function_privilege('public', p.oid, 'EXECUTE')
$$, 'no function of the schema is executable by PUBLIC (grants name crm_api)');

SELECT * FROM finish();
ROLLBACK;
