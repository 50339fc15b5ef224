-- Notification rules and the viewings that apply them (migrations V25, V26), the
-- sending settings (V27) and unsubscribe links (V28), as a DBA sees them: a tenant reads and deletes only its own
-- rules and reads and writes only its own settings; quiet hours end and begin (V34) where
-- a DBA expects them; nothing of the application role
-- queues a message in a rule's name or calls the functions that apply them; and a
-- viewing moved, booked or cancelled by one tenant schedules, moves or cancels its own
-- reminders only, in the statement that changes it.
\set ON_ERROR_STOP 1
\set QUIET 1
BEGIN;
\ir fixtures/two_tenants.sql
\set A '00000000-0000-0000-0000-00000000000a'
\set B '00000000-0000-0000-0000-00000000000b'
\set RA '00000000-0000-0000-0000-0000000000d1'
\set RB '00000000-0000-0000-0000-0000000000d2'
INSERT INTO notification_rules (tenant_id, id, template_key, channel, offset_minutes) VALUES
    (:'A', :'RA', 'viewing_reminder', 'email', 60),
    (:'B', :'RB', 'viewing_reminder', 'email', 60);
INSERT INTO notification_settings (tenant_id, hourly_limit) VALUES (:'A', 100);
-- A's viewing, moved by its owner before the suite starts: its reminder is queued.
UPDATE viewings SET scheduled_at = '2030-01-05 10:00+00'
WHERE tenant_id = :'A' AND id = '00000000-0000-0000-0000-0000000000a1';
SELECT plan(40);

-- Quiet hours end where a DBA expects, overnight and by day, in the tenant's zone.
SELECT is(app.quiet_hours_end('2030-01-01 23:00 Europe/Zurich', '21:00', '08:00', 'Europe/Zurich'),
          '2030-01-02 08:00 Europe/Zurich'::timestamptz, 'at 23:00, overnight hours end tomorrow at 08:00');
SELECT is(app.quiet_hours_end('2030-01-02 07:59 Europe/Zurich', '21:00', '08:00', 'Europe/Zurich'),
          '2030-01-02 08:00 Europe/Zurich'::timestamptz, 'at 07:59, they end at 08:00 the same day');
SELECT is(app.quiet_hours_end('2030-01-02 08:00 Europe/Zurich', '21:00', '08:00', 'Europe/Zurich'),
          NULL, 'at 08:00 they are over');
SELECT is(app.quiet_hours_end('2030-01-02 13:00 Europe/Zurich', '12:00', '14:00', 'Europe/Zurich'),
          '2030-01-02 14:00 Europe/Zurich'::timestamptz, 'daytime hours end the same day');
-- And began where a DBA expects (V34: reminders go the minute before).
SELECT is(app.quiet_hours_start('2030-01-01 23:00 Europe/Zurich', '21:00', '08:00', 'Europe/Zurich'),
          '2030-01-01 21:00 Europe/Zurich'::timestamptz, 'at 23:00, overnight hours began at 21:00');
SELECT is(app.quiet_hours_start('2030-01-02 07:59 Europe/Zurich', '21:00', '08:00', 'Europe/Zurich'),
          '2030-01-01 21:00 Europe/Zurich'::timestamptz, 'at 07:59, they began the evening before');
SELECT is(app.quiet_hours_start('2030-01-02 20:59 Europe/Zurich', '21:00', '08:00', 'Europe/Zurich'),
          NULL, 'at 20:59 they have not begun');
SELECT is(app.quiet_hours_start('2030-01-02 13:00 Europe/Zurich', '12:00', '14:00', 'Europe/Zurich'),
          '2030-01-02 12:00 Europe/Zurich'::timestamptz, 'daytime hours began the same day');
-- A message of A's under review (its worker lost the provider's answer).
INSERT INTO notification_messages (tenant_id, id, channel, contact_id, subject, text_body)
VALUES (:'A', '00000000-0000-0000-0000-0000000000e9', 'email',
        '00000000-0000-0000-0000-0000000000a1', 'A', 'A''s lost message');
DELETE FROM notification_queue WHERE message_id = '00000000-0000-0000-0000-0000000000e9';
UPDATE notification_messages SET status = 'review' WHERE id = '00000000-0000-0000-0000-0000000000e9';
\ir fixtures/claims.sql
\ir fixtures/act_as_app_role.sql

SELECT is((SELECT count(*) FROM notification_rules), 0::bigint,
          'without a context no rule is visible');

SELECT role FROM app.enter(:'claim_b') \g /dev/null
SELECT is((SELECT array_agg(id) FROM notification_rules), ARRAY[:'RB'::uuid],
          'B sees only its own rule');
SELECT is((SELECT count(*) FROM notification_messages WHERE rule_id IS NOT NULL), 0::bigint,
          'B sees none of A''s reminders');
SELECT throws_ok($$ INSERT INTO notification_rules (tenant_id, id, template_key, channel, offset_minutes)
                    VALUES ('00000000-0000-0000-0000-00000000000a', gen_random_uuid(),
                            'viewing_reminder', 'sms', 30) $$,
                 '42501', NULL, 'B cannot add a rule in A''s name');
SELECT throws_ok($$ UPDATE notification_rules SET offset_minutes = 5 $$, '42501', NULL,
                 'nobody changes a rule: delete it and add another');
SELECT is_empty($$ DELETE FROM notification_rules WHERE id = '00000000-0000-0000-0000-0000000000d1'
                   RETURNING id $$, 'B cannot delete A''s rule');
SELECT throws_ok($$ INSERT INTO notification_messages (id, channel, contact_id, text_body, rule_id)
                    VALUES (gen_random_uuid(), 'email', '00000000-0000-0000-0000-0000000000b1', 'x',
                            '00000000-0000-0000-0000-0000000000d2') $$,
                 '42501', NULL, 'B cannot queue a message in a rule''s name');
SELECT throws_ok($$ SELECT app.cancel_rule_notifications('00000000-0000-0000-0000-00000000000a',
                        NULL, '00000000-0000-0000-0000-0000000000d1', NULL, 'x') $$,
                 '42501', NULL, 'B cannot call the function that cancels reminders');
SELECT throws_ok($$ SELECT app.queue_viewing_notifications(v, 'viewing_reminder', now(), -1, 'x', false)
                    FROM viewings v $$,
                 '42501', NULL, 'B cannot call the function that queues reminders');

-- B moves its viewing: its reminder is queued an hour ahead, in the same statement.
UPDATE viewings SET scheduled_at = '2030-01-03 10:00+00'
WHERE id = '00000000-0000-0000-0000-0000000000b1';
SELECT is((SELECT send_at FROM notification_messages WHERE rule_id = :'RB'),
          '2030-01-03 09:00+00'::timestamptz, 'B''s move queues B''s reminder an hour ahead');
UPDATE viewings SET scheduled_at = '2030-01-04 10:00+00'
WHERE id = '00000000-0000-0000-0000-0000000000b1';
SELECT is((SELECT array_agg(send_at) FROM notification_messages WHERE rule_id = :'RB'),
          ARRAY['2030-01-04 09:00+00'::timestamptz], 'moving it again moves that reminder');
UPDATE viewings SET status = 'CANCELLED' WHERE id = '00000000-0000-0000-0000-0000000000b1';
SELECT is((SELECT status || ' ' || split_part(reason, ':', 1) FROM notification_messages
           WHERE rule_id = :'RB'),
          'cancelled viewing_cancelled', 'cancelling it cancels the reminder');
UPDATE viewings SET status = 'SCHEDULED' WHERE id = '00000000-0000-0000-0000-0000000000b1';
SELECT is((SELECT array_agg(send_at) FROM notification_messages
           WHERE rule_id = :'RB' AND status = 'queued'),
          ARRAY['2030-01-04 09:00+00'::timestamptz], 'taking the cancellation back reminds again');
DELETE FROM notification_rules WHERE id = :'RB';
SELECT is((SELECT count(*) FROM notification_settings), 0::bigint, 'B sees none of A''s settings');
SELECT throws_ok($$ INSERT INTO notification_settings (tenant_id, hourly_limit)
                    VALUES ('00000000-0000-0000-0000-00000000000a', 1) $$,
                 '42501', NULL, 'B cannot write settings in A''s name');
INSERT INTO notification_settings (hourly_limit) VALUES (5)
ON CONFLICT (tenant_id) DO UPDATE SET hourly_limit = excluded.hourly_limit;
SELECT is((SELECT hourly_limit FROM notification_settings), 5, 'B sets its own limit');
SELECT is(app.resolve_notification('00000000-0000-0000-0000-0000000000e9', 'send_again', NULL),
          false, 'B cannot resolve A''s message under review');
SELECT throws_ok($$ SELECT app.hold_notifications() $$, '42501', NULL,
                 'B cannot call the function that holds messages back');
SELECT throws_ok($$ SELECT app.unsubscribe_token('00000000-0000-0000-0000-00000000000a',
                        '00000000-0000-0000-0000-0000000000e1') $$,
                 '42501', NULL, 'B cannot sign an unsubscribe link');
SELECT throws_ok($$ SELECT * FROM app.unsubscribe_message('1.a.b.c') $$, '42501', NULL,
                 'B cannot look a message up by its link');
SELECT is_empty($$ SELECT * FROM app.unsubscribe(
                       '1.00000000-0000-0000-0000-00000000000a.00000000-0000-0000-0000-0000000000e1.'
                       || repeat('0', 64)) $$,
                'a forged unsubscribe link opts nobody out');
SELECT is((SELECT count(*) FROM notification_rules), 0::bigint, 'B deletes its own rule');

SELECT role FROM app.enter(:'claim_a') \g /dev/null
SELECT is((SELECT array_agg(id) FROM notification_rules), ARRAY[:'RA'::uuid],
          'A''s rule is still there');
SELECT is((SELECT status || ' ' || send_at FROM notification_messages WHERE rule_id = :'RA'),
          'queued ' || '2030-01-05 09:00+00'::timestamptz,
          'A''s reminder is untouched by everything B did');
SELECT is((SELECT count(*) FROM notification_messages WHERE rule_id IS NOT NULL
           AND tenant_id = :'B'), 0::bigint, 'A sees none of B''s reminders');
SELECT is((SELECT status FROM notification_messages
           WHERE id = '00000000-0000-0000-0000-0000000000e9'), 'review',
          'A''s message is still under review after B tried');
SELECT is(app.resolve_notification('00000000-0000-0000-0000-0000000000e9', 'sent', 'x'), true,
          'A''s owner resolves it');
SELECT is((SELECT array_agg(hourly_limit) FROM notification_settings), ARRAY[100],
          'A''s limit is its own, whatever B set');
SELECT throws_ok($$ UPDATE notification_messages SET send_at = now() $$, '42501', NULL,
                 'A cannot move its reminder but by moving its viewing');
SELECT * FROM finish();
ROLLBACK;
