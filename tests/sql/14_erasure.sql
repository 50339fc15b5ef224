-- The erasure of a patient (migration V47) as a DBA sees it, acting as the application
-- role: app.erase_patient refuses without a context, to a member who is not an owner
-- or an admin, and for another tenant's patient; it anonymises the person, keeps the
-- notes the retention setting keeps, leaves the access log verifiable with its own
-- row, and runs once. The API role cannot use an erasure's transaction to delete or
-- change what the erasure kept, nor flag a patient erased by itself.
\set ON_ERROR_STOP 1
\set QUIET 1
BEGIN;
\ir fixtures/two_tenants.sql
\set A '00000000-0000-0000-0000-00000000000a'
\set B '00000000-0000-0000-0000-00000000000b'
\set A1 '00000000-0000-0000-0000-0000000000a1'
\set A2 '00000000-0000-0000-0000-0000000000a2'
\set A3 '00000000-0000-0000-0000-0000000000a3'
\set B1 '00000000-0000-0000-0000-0000000000b1'
\set N1 '00000000-0000-0000-0000-0000000000c1'
\set N2 '00000000-0000-0000-0000-0000000000c2'
\set N3 '00000000-0000-0000-0000-0000000000c3'
-- Tenant A keeps notes 5 years. Patient A1 (contact Alice, secret@a.example) has an
-- identifier, Anna (contact A2) as guardian who signed a consent, and three notes by
-- the owner: N1 signed now, N2 signed 6 years ago, N3 a draft. Patient A2 (contact
-- A2) is another patient. Rita (A3) is a member. B's patient B1 is contact B1.
INSERT INTO users (id, email, password_hash, full_name) VALUES (:'A3', 'rita@a.test', 'x', 'Rita');
INSERT INTO memberships (tenant_id, user_id, role) VALUES (:'A', :'A3', 'member');
INSERT INTO clinic_settings (tenant_id, notes_retention_years) VALUES (:'A', 5);
INSERT INTO patients (tenant_id, id, contact_id, date_of_birth, sex) VALUES
    (:'A', :'A1', :'A1', '1980-05-01', 'female'), (:'A', :'A2', :'A2', NULL, NULL),
    (:'B', :'B1', :'B1', '1975-02-03', 'male');
INSERT INTO patient_identifiers (tenant_id, patient_id, kind, value) VALUES
    (:'A', :'A1', 'ahv', '756.1111.2222.33');
INSERT INTO patient_guardians (tenant_id, patient_id, patient_contact_id, contact_id,
                               relationship, permissions)
VALUES (:'A', :'A1', :'A1', :'A2', 'parent', '{consent}');
INSERT INTO patient_consents (tenant_id, id, patient_id, scope, version, signed_at,
                              signed_by_contact_id, recorded_by)
VALUES (:'A', gen_random_uuid(), :'A1', 'treatment', 'v1', now(), :'A2', :'A1');
INSERT INTO treatment_notes (tenant_id, id, patient_id, author_id, body) VALUES
    (:'A', :'N1', :'A1', :'A1', 'Recent.'), (:'A', :'N2', :'A1', :'A1', 'Old.'),
    (:'A', :'N3', :'A1', :'A1', 'Draft.');
UPDATE treatment_notes SET status = 'signed' WHERE id IN (:'N1', :'N2');
ALTER TABLE treatment_notes DISABLE TRIGGER treatment_notes_before_write;
UPDATE treatment_notes SET signed_at = now() - interval '6 years' WHERE id = :'N2';
ALTER TABLE treatment_notes ENABLE TRIGGER treatment_notes_before_write;
SELECT app.mint_context(:'A', :'A3', NULL, interval '1 hour') AS claim_rita \gset
SELECT plan(26);
\ir fixtures/claims.sql
\ir fixtures/act_as_app_role.sql

SELECT throws_ok($$ SELECT * FROM app.erase_patient('00000000-0000-0000-0000-0000000000a1', NULL, NULL) $$,
                 '42501', 'only owners and admins erase a patient', 'without a context nothing is erased');
SELECT role FROM app.enter(:'claim_rita') \g /dev/null
SELECT throws_ok($$ SELECT * FROM app.erase_patient('00000000-0000-0000-0000-0000000000a1', NULL, NULL) $$,
                 '42501', 'only owners and admins erase a patient', 'a member does not erase');
SELECT role FROM app.enter(:'claim_b') \g /dev/null
SELECT throws_ok($$ SELECT * FROM app.erase_patient('00000000-0000-0000-0000-0000000000a1', NULL, NULL) $$,
                 '23503', 'no such patient', 'B cannot erase A''s patient: it is a patient that does not exist');
SELECT throws_ok($$ INSERT INTO patient_erasures (tenant_id, patient_id, erased_by, notes_retention_years)
                    VALUES ('00000000-0000-0000-0000-00000000000b', '00000000-0000-0000-0000-0000000000b1',
                            '00000000-0000-0000-0000-0000000000b1', 0) $$,
                 '42501', NULL, 'the app role does not write the erasures itself');

SELECT role FROM app.enter(:'claim_a') \g /dev/null
SELECT is((SELECT (first_name, email)::text FROM contacts WHERE id = :'A1'),
          '(Alice,secret@a.example)', 'B''s attempt changed nothing of A''s');
SELECT throws_ok($$ UPDATE patients SET erased_at = now() WHERE id = '00000000-0000-0000-0000-0000000000a2' $$,
                 '23514', 'the patient''s data was erased', 'only the erasure flags a patient erased');
SELECT is((SELECT (notes_retention_years, notes_kept, notes_deleted)::text
           FROM app.erase_patient(:'A1', 'patient''s request', '192.0.2.7')),
          '(5,1,2)', 'the erasure keeps the note signed within 5 years, deletes the older one and the draft');
SELECT is((SELECT array_agg(id) FROM treatment_notes WHERE patient_id = :'A1'), ARRAY[:'N1'::uuid],
          'the note kept is the recent one');
SELECT is((SELECT (first_name, last_name, email, phone)::text FROM contacts WHERE id = :'A1'),
          '(Erased,Patient,,)', 'the contact is anonymised');
SELECT is((SELECT (date_of_birth, sex, archived, erased_at = now())::text FROM patients WHERE id = :'A1'),
          '(,,t,t)', 'the patient''s data is cleared and the patient flagged');
SELECT is((SELECT count(*) FROM patient_identifiers WHERE patient_id = :'A1')
          + (SELECT count(*) FROM patient_guardians WHERE patient_id = :'A1'), 0::bigint,
          'its identifiers and guardians are gone');
SELECT is((SELECT array_agg(signed_by_contact_id) FROM patient_consents WHERE patient_id = :'A1'),
          ARRAY[NULL::uuid], 'its consent stays without its signer');
SELECT is((SELECT (erased_by, reason)::text FROM patient_erasures WHERE patient_id = :'A1'),
          (:'A1'::uuid, 'patient''s request')::text, 'the erasure is logged with who and why');
SELECT is((SELECT (action, reason, client_ip)::text FROM clinic_access_log ORDER BY seq DESC LIMIT 1),
          '(patient.erase,"patient''s request",192.0.2.7)', 'and in the access log');
SELECT is((SELECT (valid, rows)::text FROM app.verify_clinical_access_log()), '(t,1)',
          'whose chain verifies');

-- The erasure's transaction gives the API role no power over what it kept.
SELECT throws_ok($$ DELETE FROM treatment_notes WHERE id = '00000000-0000-0000-0000-0000000000c1' $$,
                 '23514', 'a signed note is immutable; write an addendum',
                 'a kept note stays, even for its author in the erasing transaction');
SELECT throws_ok($$ UPDATE patient_consents SET version = 'v9'
                    WHERE patient_id = '00000000-0000-0000-0000-0000000000a1' $$,
                 '23514', 'a consent does not change except by its revocation',
                 'and a consent stays as it is');
SELECT throws_ok($$ UPDATE patients SET date_of_birth = '2000-01-01'
                    WHERE id = '00000000-0000-0000-0000-0000000000a1' $$,
                 '23514', 'the patient''s data was erased', 'an erased patient''s data does not come back');
SELECT throws_ok($$ INSERT INTO patient_identifiers (patient_id, kind, value)
                    VALUES ('00000000-0000-0000-0000-0000000000a1', 'ahv', '756.0000.0000.00') $$,
                 '23514', 'the patient''s data was erased', 'nor does it take new records');
SELECT throws_ok($$ SELECT * FROM app.erase_patient('00000000-0000-0000-0000-0000000000a1', NULL, NULL) $$,
                 '23505', 'the patient is erased already', 'a patient is erased once');

SELECT role FROM app.enter(:'claim_rita') \g /dev/null
SELECT is_empty($$ SELECT 1 FROM patient_erasures $$, 'a member does not read the erasures');
SELECT role FROM app.enter(:'claim_b') \g /dev/null
SELECT is_empty($$ SELECT 1 FROM patient_erasures $$, 'B sees none of A''s erasures');
SELECT is((SELECT (first_name, email)::text FROM contacts WHERE id = :'B1'),
          '(Bob,bob@b.example)', 'B''s own contact is untouched');
SELECT * FROM finish();
ROLLBACK;
