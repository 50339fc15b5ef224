-- The clinic's tables (migration V36) as a DBA sees them, acting as the application
-- role: a tenant sees and books only its own locations, patients, practitioners and
-- types; the database refuses a double booking (buffers included), a booking outside
-- working hours or in time off, and a status out of the lifecycle; and the
-- availability function answers for the context's tenant only.
\set ON_ERROR_STOP 1
\set QUIET 1
BEGIN;
\ir fixtures/two_tenants.sql
\set A '00000000-0000-0000-0000-00000000000a'
\set B '00000000-0000-0000-0000-00000000000b'
\set A1 '00000000-0000-0000-0000-0000000000a1'
\set B1 '00000000-0000-0000-0000-0000000000b1'
\set A2 '00000000-0000-0000-0000-0000000000a2'
-- Each tenant: a location in Zurich, its owner a practitioner there on Mondays from
-- 08:00 to 12:00, a 30-minute type with 10 minutes after it, and contact 1 a patient.
INSERT INTO clinic_locations (tenant_id, id, name, time_zone) VALUES
    (:'A', :'A1', 'A Praxis', 'Europe/Zurich'), (:'B', :'B1', 'B Praxis', 'Europe/Zurich');
INSERT INTO practitioners (tenant_id, user_id, title) VALUES
    (:'A', :'A1', 'Dr. Alice'), (:'B', :'B1', 'Dr. Bob');
INSERT INTO practitioner_hours (tenant_id, practitioner_id, location_id, weekday, starts, ends)
VALUES (:'A', :'A1', :'A1', 1, '08:00', '12:00'), (:'B', :'B1', :'B1', 1, '08:00', '12:00');
INSERT INTO appointment_types (tenant_id, id, name, duration_minutes, buffer_after_minutes)
VALUES (:'A', :'A1', 'Consultation', 30, 10), (:'B', :'B1', 'Consultation', 30, 10),
       (:'A', :'A2', 'Long treatment', 240, 0);
INSERT INTO patients (tenant_id, id, contact_id, date_of_birth) VALUES
    (:'A', :'A1', :'A1', '1980-05-01'), (:'B', :'B1', :'B1', '1975-02-03');
-- 2030-01-07 is a Monday; Zurich is UTC+1 then.
PREPARE book(uuid, timestamptz) AS
    INSERT INTO appointments (id, patient_id, practitioner_id, location_id,
                              appointment_type_id, starts_at)
    VALUES ($1, '00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000a1',
            '00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000a1', $2);
SELECT plan(34);
\ir fixtures/claims.sql
\ir fixtures/act_as_app_role.sql

SELECT is((SELECT count(*) FROM clinic_locations) + (SELECT count(*) FROM patients)
          + (SELECT count(*) FROM practitioners) + (SELECT count(*) FROM appointment_types),
          0::bigint, 'without a context no clinic row is visible');

SELECT role FROM app.enter(:'claim_a') \g /dev/null
SELECT is((SELECT array_agg(title) FROM practitioners), ARRAY['Dr. Alice'],
          'A sees its own practitioner only');
SELECT lives_ok($$ EXECUTE book('00000000-0000-0000-0000-0000000000c1', '2030-01-07 08:00 Europe/Zurich') $$,
                'A books 08:00');
SELECT is((SELECT blocked FROM appointments WHERE id = '00000000-0000-0000-0000-0000000000c1'),
          tstzrange('2030-01-07 08:00 Europe/Zurich', '2030-01-07 08:40 Europe/Zurich'),
          'the appointment blocks its 30 minutes and the 10 after');
SELECT throws_ok($$ EXECUTE book(gen_random_uuid(), '2030-01-07 08:15 Europe/Zurich') $$,
                 '23P01', NULL, 'an overlapping booking is refused');
SELECT throws_ok($$ EXECUTE book(gen_random_uuid(), '2030-01-07 08:30 Europe/Zurich') $$,
                 '23P01', NULL, 'so is one inside the buffer after it');
SELECT lives_ok($$ EXECUTE book('00000000-0000-0000-0000-0000000000c2', '2030-01-07 08:40 Europe/Zurich') $$,
                'one right after the buffer is booked');
SELECT throws_ok($$ EXECUTE book(gen_random_uuid(), '2030-01-07 11:45 Europe/Zurich') $$,
                 '23514', 'the appointment is outside the practitioner''s working hours',
                 'one ending after the working hours is refused');
SELECT throws_ok($$ EXECUTE book(gen_random_uuid(), '2030-01-08 09:00 Europe/Zurich') $$,
                 '23514', 'the appointment is outside the practitioner''s working hours',
                 'so is one on a day without working hours');
INSERT INTO practitioner_time_off (id, practitioner_id, during) VALUES
    (gen_random_uuid(), :'A1', tstzrange('2030-01-07 10:00 Europe/Zurich', '2030-01-07 11:00 Europe/Zurich'));
SELECT throws_ok($$ EXECUTE book(gen_random_uuid(), '2030-01-07 10:15 Europe/Zurich') $$,
                 '23514', 'the practitioner is away then', 'one in time off is refused');
SELECT throws_ok($$ INSERT INTO practitioner_hours (practitioner_id, location_id, weekday, starts, ends)
                    VALUES ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000a1',
                            1, '11:00', '13:00') $$,
                 '23P01', NULL, 'working hours that overlap on a weekday are refused');

-- The lifecycle, enforced by the database.
SELECT throws_ok($$ UPDATE appointments SET status = 'completed'
                    WHERE id = '00000000-0000-0000-0000-0000000000c1' $$,
                 '23514', 'an appointment cannot go from booked to completed',
                 'booked cannot jump to completed');
SELECT lives_ok($$ UPDATE appointments SET status = 'confirmed' WHERE id = '00000000-0000-0000-0000-0000000000c1';
                   UPDATE appointments SET status = 'arrived' WHERE id = '00000000-0000-0000-0000-0000000000c1';
                   UPDATE appointments SET status = 'in_progress' WHERE id = '00000000-0000-0000-0000-0000000000c1';
                   UPDATE appointments SET status = 'completed' WHERE id = '00000000-0000-0000-0000-0000000000c1' $$,
                'booked, confirmed, arrived, in progress, completed');
SELECT throws_ok($$ UPDATE appointments SET status = 'booked'
                    WHERE id = '00000000-0000-0000-0000-0000000000c1' $$,
                 '23514', 'an appointment cannot go from completed to booked',
                 'a completed appointment stays completed');
SELECT throws_ok($$ UPDATE appointments SET starts_at = '2030-01-07 09:00 Europe/Zurich'
                    WHERE id = '00000000-0000-0000-0000-0000000000c1' $$,
                 '23514', 'only a booked or confirmed appointment moves',
                 'a completed appointment does not move');
SELECT throws_ok($$ UPDATE appointments SET status = 'cancelled'
                    WHERE id = '00000000-0000-0000-0000-0000000000c2' $$,
                 '23514', NULL, 'a cancellation needs a reason');
SELECT lives_ok($$ UPDATE appointments SET status = 'cancelled', cancel_reason = 'patient is ill'
                   WHERE id = '00000000-0000-0000-0000-0000000000c2' $$, 'cancelled with a reason');
SELECT lives_ok($$ EXECUTE book('00000000-0000-0000-0000-0000000000c3', '2030-01-07 08:45 Europe/Zurich') $$,
                'a cancelled appointment frees its time');
SELECT is((SELECT array_agg(starts_at ORDER BY starts_at)
           FROM app.clinic_availability(:'A1', :'A1', '2030-01-07 00:00 Europe/Zurich',
                                        '2030-01-08 00:00 Europe/Zurich', NULL, interval '15 minutes')
           WHERE starts_at < '2030-01-07 10:00 Europe/Zurich'),
          ARRAY['2030-01-07 09:30 Europe/Zurich']::timestamptz[],
          'before the time off only 09:30: 08:00 and 08:45 are booked with their buffers, 09:45 runs into it');
SELECT is((SELECT array_agg(starts_at ORDER BY starts_at)
           FROM app.clinic_availability(:'A1', :'A1', '2030-01-07 10:00 Europe/Zurich',
                                        '2030-01-08 00:00 Europe/Zurich', NULL, interval '15 minutes')),
          ARRAY['2030-01-07 11:00 Europe/Zurich', '2030-01-07 11:15 Europe/Zurich',
                '2030-01-07 11:30 Europe/Zurich']::timestamptz[],
          'after the time off, until 30 minutes before closing');
-- V39: a booking without a location is where the practitioner works at its start.
WITH booked AS (
    INSERT INTO appointments (id, patient_id, practitioner_id, appointment_type_id, starts_at)
    VALUES (gen_random_uuid(), :'A1', :'A1', :'A1', '2030-01-14 09:00 Europe/Zurich')
    RETURNING location_id)
SELECT is((SELECT location_id FROM booked), :'A1'::uuid,
          'a booking without a location is at the practitioner''s location then');
SELECT throws_ok($$ INSERT INTO appointments (id, patient_id, practitioner_id, appointment_type_id, starts_at)
                    VALUES (gen_random_uuid(), '00000000-0000-0000-0000-0000000000a1',
                            '00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000a1',
                            '2030-01-15 09:00 Europe/Zurich') $$,
                 '23514', 'the practitioner does not work at that time',
                 'without a location, a time the practitioner works nowhere is refused');
-- V45: a long slot that starts just before the window ends reaches far past it, so a
-- booking hours after the window stands in its way.
SELECT lives_ok($$ EXECUTE book(gen_random_uuid(), '2030-01-21 11:00 Europe/Zurich') $$,
                'A books 11:00 on Monday the 21st');
SELECT is((SELECT array_agg(starts_at)
           FROM app.clinic_availability(:'A1', :'A2', '2030-01-21 08:00 Europe/Zurich',
                                        '2030-01-21 08:05 Europe/Zurich', NULL, interval '15 minutes')),
          NULL, 'four hours from 08:00 would run into the 11:00 booking: not offered');
SELECT is((SELECT array_agg(starts_at)
           FROM app.clinic_availability(:'A1', :'A2', '2030-01-28 08:00 Europe/Zurich',
                                        '2030-01-28 08:05 Europe/Zurich', NULL, interval '15 minutes')),
          ARRAY['2030-01-28 08:00 Europe/Zurich']::timestamptz[],
          'on a free Monday four hours from 08:00 are offered');

SELECT role FROM app.enter(:'claim_b') \g /dev/null
SELECT is((SELECT count(*) FROM appointments), 0::bigint, 'B sees none of A''s appointments');
SELECT is(app.practitioner_location_at(:'A', :'A1', '2030-01-07 09:00 Europe/Zurich'), NULL,
          'naming A''s tenant, B learns nothing of where A''s practitioner works');
SELECT is_empty($$ SELECT * FROM app.clinic_availability('00000000-0000-0000-0000-0000000000a1',
                       '00000000-0000-0000-0000-0000000000a1', '2030-01-07', '2030-01-08', NULL,
                       interval '15 minutes') $$,
                'A''s practitioner has no availability for B');
SELECT throws_ok($$ EXECUTE book(gen_random_uuid(), '2030-01-07 09:00 Europe/Zurich') $$,
                 '23503', NULL, 'B cannot book A''s patient with A''s practitioner');
SELECT is_empty($$ UPDATE appointments SET status = 'cancelled', cancel_reason = 'x' RETURNING id $$,
                'B cannot cancel A''s appointments');
SELECT lives_ok($$ INSERT INTO appointments (id, patient_id, practitioner_id, location_id,
                                             appointment_type_id, starts_at)
                   VALUES (gen_random_uuid(), '00000000-0000-0000-0000-0000000000b1',
                           '00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000b1',
                           '00000000-0000-0000-0000-0000000000b1', '2030-01-07 08:00 Europe/Zurich') $$,
                'B books its own practitioner at the hour A''s is busy');
SELECT * FROM finish();
ROLLBACK;
