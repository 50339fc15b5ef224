-- Guardians and consents (migration V46) as a DBA sees them, acting as the
-- application role: nothing without a tenant; a tenant links only its own contacts to
-- its own patients, never a patient to itself, with at most one emergency contact;
-- a consent is signed by the patient or a guardian who may consent, never changes
-- except by one revocation, and is never deleted.
\set ON_ERROR_STOP 1
\set QUIET 1
BEGIN;
\ir fixtures/two_tenants.sql
\set A '00000000-0000-0000-0000-00000000000a'
\set B '00000000-0000-0000-0000-00000000000b'
\set A1 '00000000-0000-0000-0000-0000000000a1'
\set A2 '00000000-0000-0000-0000-0000000000a2'
\set A3 '00000000-0000-0000-0000-0000000000a3'
\set A4 '00000000-0000-0000-0000-0000000000a4'
\set B1 '00000000-0000-0000-0000-0000000000b1'
\set C1 '00000000-0000-0000-0000-0000000000c1'
\set C2 '00000000-0000-0000-0000-0000000000c2'
-- Tenant A: patient A1 is contact A1 (Alice); Anna (contact A2) is her parent and may
-- consent, and signed consent C1; contact A3 (Ada) is not related. Ro (A4) is
-- read_only. Tenant B: patient B1 is contact B1, who signed consent C2.
INSERT INTO users (id, email, password_hash, full_name) VALUES (:'A4', 'ro@a.test', 'x', 'Ro');
INSERT INTO memberships (tenant_id, user_id, role) VALUES (:'A', :'A4', 'read_only');
INSERT INTO contacts (tenant_id, id, first_name, last_name) VALUES (:'A', :'A3', 'Ada', 'A');
INSERT INTO patients (tenant_id, id, contact_id) VALUES (:'A', :'A1', :'A1'), (:'B', :'B1', :'B1');
INSERT INTO patient_guardians (tenant_id, patient_id, patient_contact_id, contact_id,
                               relationship, permissions, emergency_contact)
VALUES (:'A', :'A1', :'A1', :'A2', 'parent', '{consent,book}', true);
INSERT INTO patient_consents (tenant_id, id, patient_id, scope, version, signed_at,
                              signed_by_contact_id, recorded_by)
VALUES (:'A', :'C1', :'A1', 'treatment', 'v1', now() - interval '1 day', :'A2', :'A1'),
       (:'B', :'C2', :'B1', 'treatment', 'v1', now() - interval '1 day', :'B1', :'B1');
SELECT app.mint_context(:'A', :'A4', NULL, interval '1 hour') AS claim_ro \gset
PREPARE consent(uuid, uuid, timestamptz) AS
    INSERT INTO patient_consents (id, patient_id, scope, version, signed_at, signed_by_contact_id)
    VALUES (gen_random_uuid(), $1, 'data_sharing', 'v2', $3, $2) RETURNING id;
PREPARE link(uuid, uuid, uuid, text[], boolean) AS
    INSERT INTO patient_guardians (patient_id, patient_contact_id, contact_id, relationship,
                                   permissions, emergency_contact)
    VALUES ($1, $2, $3, 'relative', $4, $5);
SELECT plan(37);
\ir fixtures/claims.sql
\ir fixtures/act_as_app_role.sql

-- Without a tenant: nothing visible, nothing written.
SELECT is((SELECT count(*) FROM patient_guardians) + (SELECT count(*) FROM patient_consents),
          0::bigint, 'without a context no guardian or consent is visible');
SELECT throws_ok($$ EXECUTE link('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000a1',
                                 '00000000-0000-0000-0000-0000000000a3', '{}', false) $$,
                 '42501', NULL, 'without a context no guardian is linked');
SELECT throws_ok($$ EXECUTE consent('00000000-0000-0000-0000-0000000000a1',
                                    '00000000-0000-0000-0000-0000000000a1', now()) $$,
                 '42501', NULL, 'without a context no consent is recorded');
SELECT is_empty($$ UPDATE patient_consents SET revoked_at = now() RETURNING id $$,
                'without a context no consent is revoked');

-- Tenant A.
SELECT role FROM app.enter(:'claim_a') \g /dev/null
SELECT is((SELECT array_agg(contact_id) FROM patient_guardians), ARRAY[:'A2'::uuid],
          'A sees its own guardians only');
SELECT is((SELECT array_agg(id) FROM patient_consents), ARRAY[:'C1'::uuid],
          'A sees its own consents only');
SELECT throws_ok($$ EXECUTE link('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000a1',
                                 '00000000-0000-0000-0000-0000000000a1', '{}', false) $$,
                 '23514', NULL, 'a patient is not its own guardian');
SELECT throws_ok($$ EXECUTE link('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000a2',
                                 '00000000-0000-0000-0000-0000000000a3', '{}', false) $$,
                 '23503', NULL, 'the patient''s own contact cannot be misstated to pass that check');
SELECT throws_ok($$ EXECUTE link('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000a1',
                                 '00000000-0000-0000-0000-0000000000b1', '{}', false) $$,
                 '23503', NULL, 'A cannot link B''s contact to its patient');
SELECT throws_ok($$ EXECUTE link('00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000b1',
                                 '00000000-0000-0000-0000-0000000000a3', '{}', false) $$,
                 '23503', NULL, 'nor its contact to B''s patient');
SELECT throws_ok($$ EXECUTE link('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000a1',
                                 '00000000-0000-0000-0000-0000000000a3', '{drive}', false) $$,
                 '23514', NULL, 'a permission outside the set is refused');
SELECT throws_ok($$ EXECUTE link('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000a1',
                                 '00000000-0000-0000-0000-0000000000a3', '{}', true) $$,
                 '23505', NULL, 'a patient has at most one emergency contact');

SELECT lives_ok($$ EXECUTE consent('00000000-0000-0000-0000-0000000000a1',
                                   '00000000-0000-0000-0000-0000000000a1', now()) $$,
                'the patient signs its own consent');
SELECT lives_ok($$ EXECUTE consent('00000000-0000-0000-0000-0000000000a1',
                                   '00000000-0000-0000-0000-0000000000a2', now()) $$,
                'a guardian who may consent signs for the patient');
SELECT throws_ok($$ EXECUTE consent('00000000-0000-0000-0000-0000000000a1',
                                    '00000000-0000-0000-0000-0000000000a3', now()) $$,
                 '23514', 'a consent is signed by the patient or by a guardian who may consent',
                 'an unrelated contact does not sign for the patient');
SELECT lives_ok($$ EXECUTE link('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000a1',
                                '00000000-0000-0000-0000-0000000000a3', '{book,view_records}', false) $$,
                'Ada is linked, without the permission to consent');
SELECT throws_ok($$ EXECUTE consent('00000000-0000-0000-0000-0000000000a1',
                                    '00000000-0000-0000-0000-0000000000a3', now()) $$,
                 '23514', 'a consent is signed by the patient or by a guardian who may consent',
                 'nor does a guardian who may not consent');
SELECT throws_ok($$ EXECUTE consent('00000000-0000-0000-0000-0000000000a1',
                                    '00000000-0000-0000-0000-0000000000a1', now() + interval '1 hour') $$,
                 '23514', NULL, 'a consent is not signed in the future');
SELECT is((SELECT count(*) FROM patient_consents
           WHERE scope = 'data_sharing' AND recorded_by = :'A1' AND recorded_at = now()
             AND revoked_at IS NULL),
          2::bigint, 'the consents recorded are the caller''s, at the transaction''s time');

-- Immutable, except one revocation; never deleted.
SELECT throws_ok($$ UPDATE patient_consents SET scope = 'research'
                    WHERE id = '00000000-0000-0000-0000-0000000000c1' $$,
                 '23514', 'a consent does not change except by its revocation',
                 'a consent''s scope does not change');
SELECT throws_ok($$ UPDATE patient_consents SET revoked_by = '00000000-0000-0000-0000-0000000000a1'
                    WHERE id = '00000000-0000-0000-0000-0000000000c1' $$,
                 '23514', 'a consent does not change except by its revocation',
                 'nor is a revoker set without a revocation');
SELECT throws_ok($$ UPDATE patient_consents SET revoked_at = now(), signed_at = now()
                    WHERE id = '00000000-0000-0000-0000-0000000000c1' $$,
                 '23514', 'a consent does not change except by its revocation',
                 'nor does a revocation carry another change');
SELECT throws_ok($$ DELETE FROM patient_consents WHERE id = '00000000-0000-0000-0000-0000000000c1' $$,
                 '42501', NULL, 'the app role cannot delete a consent');
WITH revoked AS (
    UPDATE patient_consents SET revoked_at = '2000-01-01', revoked_by = :'A4'
    WHERE id = :'C1' RETURNING revoked_at, revoked_by)
SELECT is((SELECT (revoked_at = now(), revoked_by)::text FROM revoked),
          (true, :'A1'::uuid)::text, 'a revocation is stamped with the time and the caller');
SELECT throws_ok($$ UPDATE patient_consents SET revoked_at = now()
                    WHERE id = '00000000-0000-0000-0000-0000000000c1' $$,
                 '23514', 'the consent is revoked already', 'a consent is revoked once');
SELECT throws_ok($$ UPDATE patient_consents SET revoked_at = NULL, revoked_by = NULL
                    WHERE id = '00000000-0000-0000-0000-0000000000c1' $$,
                 '23514', 'the consent is revoked already', 'and the revocation is not undone');

-- A read_only member reads and writes nothing.
SELECT role FROM app.enter(:'claim_ro') \g /dev/null
SELECT throws_ok($$ EXECUTE consent('00000000-0000-0000-0000-0000000000a1',
                                    '00000000-0000-0000-0000-0000000000a1', now()) $$,
                 '42501', NULL, 'read_only records no consent');
SELECT is_empty($$ DELETE FROM patient_guardians RETURNING contact_id $$,
                'read_only unlinks no guardian');

-- Tenant B.
SELECT role FROM app.enter(:'claim_b') \g /dev/null
SELECT is((SELECT array_agg(id) FROM patient_consents), ARRAY[:'C2'::uuid],
          'B sees its own consents only');
SELECT is_empty($$ SELECT 1 FROM patient_guardians $$, 'and none of A''s guardians');
SELECT throws_ok($$ EXECUTE consent('00000000-0000-0000-0000-0000000000a1',
                                    '00000000-0000-0000-0000-0000000000a1', now()) $$,
                 '23503', NULL, 'B cannot record a consent of A''s patient');
SELECT is_empty($$ UPDATE patient_consents SET revoked_at = now()
                   WHERE patient_id = '00000000-0000-0000-0000-0000000000a1' RETURNING id $$,
                'B cannot revoke A''s consents');
SELECT is_empty($$ DELETE FROM patient_guardians
                   WHERE patient_id = '00000000-0000-0000-0000-0000000000a1' RETURNING contact_id $$,
                'B cannot unlink A''s guardians');

-- The table's owner cannot delete a consent either.
RESET ROLE;
SELECT throws_ok($$ DELETE FROM patient_consents WHERE id = '00000000-0000-0000-0000-0000000000c2' $$,
                 '23514', 'a consent is kept; revoke it', 'a consent is kept, whoever asks');
SELECT * FROM finish();
ROLLBACK;
