-- Treatment notes and the access log (migration V40) as a DBA sees them, acting as the
-- application role: only clinicians (owners, admins, members with a practitioner
-- profile) read notes, never a member without a profile nor read_only, even one with
-- a profile; a signed note never changes; the access log is written only by
-- app.log_clinical_access, read only by managers, never edited by the app role, and a
-- row changed by hand breaks its chain.
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
\set N1 '00000000-0000-0000-0000-0000000000c1'
\set N2 '00000000-0000-0000-0000-0000000000c2'
-- Tenant A: Pat (member, practitioner), Rita (member, no profile), Ro (read_only, with a
-- profile). Pat sees patient 1 on Monday 2030-01-07; patient 2 has no appointment. Pat
-- has signed note N1 about patient 1; B's owner has note N2 about B's patient.
INSERT INTO users (id, email, password_hash, full_name) VALUES
    (:'A2', 'pat@a.test', 'x', 'Pat'), (:'A3', 'rita@a.test', 'x', 'Rita'),
    (:'A4', 'ro@a.test', 'x', 'Ro');
INSERT INTO memberships (tenant_id, user_id, role) VALUES
    (:'A', :'A2', 'member'), (:'A', :'A3', 'member'), (:'A', :'A4', 'read_only');
INSERT INTO clinic_locations (tenant_id, id, name, time_zone) VALUES
    (:'A', :'A1', 'A Praxis', 'Europe/Zurich');
INSERT INTO practitioners (tenant_id, user_id, title) VALUES
    (:'A', :'A2', 'Dr. Pat'), (:'A', :'A4', 'Dr. Ro'), (:'B', :'B1', 'Dr. Bob');
INSERT INTO practitioner_hours (tenant_id, practitioner_id, location_id, weekday, starts, ends)
VALUES (:'A', :'A2', :'A1', 1, '08:00', '12:00');
INSERT INTO appointment_types (tenant_id, id, name, duration_minutes) VALUES
    (:'A', :'A1', 'Consultation', 30);
INSERT INTO patients (tenant_id, id, contact_id) VALUES
    (:'A', :'A1', :'A1'), (:'A', :'A2', :'A2'), (:'B', :'B1', :'B1');
INSERT INTO appointments (tenant_id, id, patient_id, practitioner_id, location_id,
                          appointment_type_id, starts_at)
VALUES (:'A', :'A1', :'A1', :'A2', :'A1', :'A1', '2030-01-07 09:00 Europe/Zurich');
INSERT INTO treatment_notes (tenant_id, id, patient_id, appointment_id, author_id, body) VALUES
    (:'A', :'N1', :'A1', :'A1', :'A2', 'Persistent cough; chest clear.'),
    (:'B', :'N2', :'B1', NULL, :'B1', 'B''s patient only.');
UPDATE treatment_notes SET status = 'signed' WHERE id = :'N1';
SELECT app.mint_context(:'A', :'A2', NULL, interval '1 hour') AS claim_pat,
       app.mint_context(:'A', :'A3', NULL, interval '1 hour') AS claim_rita,
       app.mint_context(:'A', :'A4', NULL, interval '1 hour') AS claim_ro \gset
SELECT plan(29);
\ir fixtures/claims.sql
\ir fixtures/act_as_app_role.sql

SELECT is((SELECT count(*) FROM treatment_notes), 0::bigint, 'without a context no note is visible');

SELECT role FROM app.enter(:'claim_rita') \g /dev/null
SELECT is((SELECT count(*) FROM treatment_notes), 0::bigint,
          'a member without a practitioner profile reads no note');
SELECT throws_ok($$ INSERT INTO treatment_notes (id, patient_id, body)
                    VALUES (gen_random_uuid(), '00000000-0000-0000-0000-0000000000a1', 'x') $$,
                 '42501', NULL, 'nor writes one');
SELECT role FROM app.enter(:'claim_ro') \g /dev/null
SELECT is((SELECT count(*) FROM treatment_notes), 0::bigint,
          'read_only reads no note, even with a practitioner profile');

SELECT role FROM app.enter(:'claim_pat') \g /dev/null
SELECT is((SELECT array_agg(id) FROM treatment_notes), ARRAY[:'N1'::uuid],
          'a practitioner reads its tenant''s notes only');
SELECT throws_ok($$ UPDATE treatment_notes SET body = 'rewritten'
                    WHERE id = '00000000-0000-0000-0000-0000000000c1' $$,
                 '23514', 'a signed note is immutable; write an addendum',
                 'a signed note does not change, even for its author');
SELECT throws_ok($$ DELETE FROM treatment_notes WHERE id = '00000000-0000-0000-0000-0000000000c1' $$,
                 '23514', 'a signed note is immutable; write an addendum', 'nor goes');
SELECT lives_ok($$ INSERT INTO treatment_notes (id, patient_id, amends_id, body)
                   VALUES ('00000000-0000-0000-0000-0000000000d1', '00000000-0000-0000-0000-0000000000a1',
                           '00000000-0000-0000-0000-0000000000c1', 'Addendum: also a mild fever.') $$,
                'a correction is an addendum that amends the signed note');
SELECT throws_ok($$ INSERT INTO treatment_notes (id, patient_id, amends_id, body)
                    VALUES (gen_random_uuid(), '00000000-0000-0000-0000-0000000000a1',
                            '00000000-0000-0000-0000-0000000000d1', 'x') $$,
                 '23514', 'only a signed note is amended', 'a draft is not amended');
SELECT throws_ok($$ INSERT INTO treatment_notes (id, patient_id, amends_id, body)
                    VALUES (gen_random_uuid(), '00000000-0000-0000-0000-0000000000a2',
                            '00000000-0000-0000-0000-0000000000c1', 'x') $$,
                 '23503', NULL, 'an addendum is about the amended note''s patient');
SELECT throws_ok($$ INSERT INTO treatment_notes (id, patient_id, author_id, body)
                    VALUES (gen_random_uuid(), '00000000-0000-0000-0000-0000000000a1',
                            '00000000-0000-0000-0000-0000000000a1', 'x') $$,
                 '42501', NULL, 'a note is written in the caller''s name only');
SELECT is(app.log_clinical_access(ARRAY[:'A1'::uuid], 'treatment_notes.read', NULL, '192.0.2.7'), 1,
          'reading the notes of a patient it sees is logged');
SELECT throws_ok($$ SELECT app.log_clinical_access(ARRAY['00000000-0000-0000-0000-0000000000a2'::uuid],
                                                   'treatment_notes.read', NULL, '192.0.2.7') $$,
                 '23514', 'a reason is required to read the notes of a patient without an appointment',
                 'break-glass: a patient without an appointment needs a reason');
SELECT is(app.log_clinical_access(ARRAY[:'A2'::uuid], 'treatment_notes.read', 'covering for Dr. Ro',
                                  '192.0.2.7'), 1, 'with one it is logged');
SELECT is((SELECT count(*) FROM clinic_access_log), 0::bigint, 'a member does not read the log');

SELECT role FROM app.enter(:'claim_a') \g /dev/null
SELECT is((SELECT count(*) FROM treatment_notes), 2::bigint, 'the owner reads the notes');
SELECT is_empty($$ UPDATE treatment_notes SET body = 'x'
                   WHERE id = '00000000-0000-0000-0000-0000000000d1' RETURNING id $$,
                'only its author edits a draft');
SELECT is((SELECT array_agg(ARRAY[seq::text, break_glass::text, reason] ORDER BY seq)
           FROM clinic_access_log),
          ARRAY[ARRAY['1', 'false', NULL], ARRAY['2', 'true', 'covering for Dr. Ro']],
          'the owner reads the log: the second read was break-glass, with its reason');
SELECT throws_ok($$ UPDATE clinic_access_log SET reason = 'nothing to see' $$,
                 '42501', NULL, 'the app role cannot edit the log');
SELECT throws_ok($$ DELETE FROM clinic_access_log $$, '42501', NULL, 'nor delete from it');
SELECT throws_ok($$ INSERT INTO clinic_access_log (tenant_id, seq, at, user_id, patient_id, action,
                                                   break_glass, previous_hash, hash)
                    VALUES ('00000000-0000-0000-0000-00000000000a', 3, now(),
                            '00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000a1',
                            'patient.read', false, '\x', '\x') $$,
                 '42501', NULL, 'nor write it except through app.log_clinical_access');
SELECT throws_ok($$ SELECT * FROM clinic_access_chain $$, '42501', NULL,
                 'nor read the chain''s head');
SELECT is((SELECT (valid, rows, first_broken_seq)::text FROM app.verify_clinical_access_log()),
          '(t,2,)', 'the chain verifies');

SELECT role FROM app.enter(:'claim_b') \g /dev/null
SELECT is((SELECT array_agg(id) FROM treatment_notes), ARRAY[:'N2'::uuid],
          'B reads only its own notes');
SELECT throws_ok($$ INSERT INTO treatment_notes (id, patient_id, body)
                    VALUES (gen_random_uuid(), '00000000-0000-0000-0000-0000000000a1', 'x') $$,
                 '23503', NULL, 'B cannot write a note about A''s patient');

-- Tampering by hand, as the owner of the tables, is detected.
RESET ROLE;
UPDATE clinic_access_log SET reason = 'routine check' WHERE tenant_id = :'A' AND seq = 2;
SET ROLE crm_app;
SELECT role FROM app.enter(:'claim_a') \g /dev/null
SELECT is((SELECT (valid, rows, first_broken_seq)::text FROM app.verify_clinical_access_log()),
          '(f,1,2)', 'a row edited by hand breaks the chain at that row');
SELECT * FROM finish();
ROLLBACK;
